import Foundation
import Torch

/// A one-dimensional Gaussian mixture of intensities (seed 004: CSF, GM and WM as three
/// components), fitted by expectation-maximization, and the contrast remapping built on it.
public struct GaussianMixture: Codable, Sendable, Equatable {
    public var weights: [Double]
    public var means: [Double]
    public var deviations: [Double]

    public init(weights: [Double], means: [Double], deviations: [Double]) {
        self.weights = weights
        self.means = means
        self.deviations = deviations
    }

    /// Fits `components` Gaussians to `values` (a 1-D sample) by EM, started at the quantiles
    /// (components + 1)-tiles; components sorted by mean.
    public static func fit(_ values: Tensor, components: Int = 3, iterations: Int = 60) throws -> GaussianMixture {
        let x = try values.to(.float64).reshape([-1, 1])
        let n = x.shape[0]
        guard n >= 10 * components, components >= 1 else {
            throw NormalizationError.invalid("a \(components)-component mixture needs at least \(10 * components) values, got \(n)")
        }
        let sorted = try x.reshape([-1]).toArray(Double.self).sorted()
        var mu = (1...components).map { sorted[Swift.min(n - 1, $0 * n / (components + 1))] }
        let spread = Swift.max((sorted[n - 1] - sorted[0]) / Double(4 * components), 1e-6)
        var sd = [Double](repeating: spread, count: components)
        var w = [Double](repeating: 1 / Double(components), count: components)
        for _ in 0..<iterations {
            let (muT, sdT, wT) = (try Tensor(mu, shape: [1, components]), try Tensor(sd, shape: [1, components]),
                                  try Tensor(w, shape: [1, components]))
            // log N(x; mu, sd) + log w, responsibilities by a stable softmax.
            let z = try (x - muT) / sdT
            let logp = try z * z * (-0.5) - sdT.log() + wT.log()
            let r = try logp.softmax(dim: 1)
            let nk = try r.sum(dim: 0) + 1e-12
            let newMu = try (r * x).sum(dim: 0) / nk
            let d = try x - newMu.reshape([1, components])
            let newVar = try (r * d * d).sum(dim: 0) / nk
            mu = try newMu.toArray(Double.self)
            sd = try newVar.toArray(Double.self).map { Swift.max(Foundation.sqrt($0), 1e-3 * spread) }
            w = try (nk / Double(n)).toArray(Double.self)
        }
        let order = (0..<components).sorted { mu[$0] < mu[$1] }
        return GaussianMixture(weights: order.map { w[$0] }, means: order.map { mu[$0] }, deviations: order.map { sd[$0] })
    }

    /// The posterior probability of each component at each value: (..., components).
    public func responsibilities(_ values: Tensor) throws -> Tensor {
        let k = means.count
        let x = try values.to(.float32).unsqueeze(-1)
        let muT = try Tensor(means.map(Float.init), shape: [k]), sdT = try Tensor(deviations.map(Float.init), shape: [k])
        let z = try (x - muT) / sdT
        return try (z * z * (-0.5) - sdT.log() + Tensor(weights.map { Float(Foundation.log(Swift.max($0, 1e-12))) }, shape: [k])).softmax(dim: -1)
    }

    /// Seed 004's contrast change: a voxel of component k moves to mu'_k + (v - mu_k) / sd_k * sd'_k,
    /// weighted by its responsibilities. Values at or below `background` stay as they are.
    public func remap(_ values: Tensor, means newMeans: [Double], deviations newDeviations: [Double], background: Double) throws -> Tensor {
        let k = means.count
        let x = try values.to(.float32)
        let r = try responsibilities(x)
        let muT = try Tensor(means.map(Float.init), shape: [k]), sdT = try Tensor(deviations.map(Float.init), shape: [k])
        let newMu = try Tensor(newMeans.map(Float.init), shape: [k]), newSd = try Tensor(newDeviations.map(Float.init), shape: [k])
        let mapped = try ((x.unsqueeze(-1) - muT) / sdT * newSd + newMu) * r
        let y = try mapped.sum(dim: -1)
        let keep = try x.gt(background).to(.float32)
        return try y * keep + x * (1 - keep)
    }
}
