import Torch

/// Percentiles with numpy's default ('linear') interpolation, on tensors of any size
/// (libtorch's `quantile` refuses inputs over 16M elements, so larger ones go through a sort).
public enum Percentiles {
    public static func compute(_ t: Tensor, _ percentiles: [Double]) throws -> [Double] {
        for p in percentiles where !(0...100).contains(p) {
            throw NormalizationError.invalid("percentile \(p) outside 0...100")
        }
        let flat = try t.to(.float64).flatten()
        let n = flat.count
        guard n > 0 else { throw NormalizationError.invalid("no values to take percentiles of") }
        if n <= 16_000_000 {
            return try flat.quantile(percentiles.map { $0 / 100 }).toArray(Double.self)
        }
        let sorted = try flat.sort().values
        return try percentiles.map { p in
            let pos = p / 100 * Double(n - 1)
            let lo = Int(pos.rounded(.down)), hi = Swift.min(lo + 1, n - 1)
            let vlo = try sorted.select(0, lo).item(), vhi = try sorted.select(0, hi).item()
            return vlo + (vhi - vlo) * (pos - Double(lo))
        }
    }
}
