import Torch

extension Volume {
    /// The voxels from `lower` (inclusive) to `upper` (exclusive) on each axis; the affine moves so
    /// that every kept voxel stays where it was in world space.
    public func cropped(lower: [Int], upper: [Int]) throws -> Volume {
        guard lower.count == 3, upper.count == 3, (0..<3).allSatisfy({ 0 <= lower[$0] && lower[$0] < upper[$0] && upper[$0] <= shape[$0] }) else {
            throw ResamplingError.invalid("crop \(lower)..<\(upper) is empty or outside the volume \(shape)")
        }
        var d = data
        for a in 0..<3 { d = try d.narrow(a, start: lower[a], length: upper[a] - lower[a]) }
        var t = Affine.identity
        for a in 0..<3 { t[a, 3] = Double(lower[a]) }
        return Volume(data: try d.contiguous(), affine: affine * t, metadata: metadata)
    }

    /// Adds `before[a]` and `after[a]` voxels of `value` on each axis; the affine moves so that the
    /// original voxels keep their world positions.
    public func padded(before: [Int], after: [Int], value: Double = 0) throws -> Volume {
        guard before.count == 3, after.count == 3, (before + after).allSatisfy({ $0 >= 0 }) else {
            throw ResamplingError.invalid("padding \(before), \(after) must be 3 non-negative counts each")
        }
        // torch's pad lists the last dimension first; extra (4-D) axes are not padded.
        var pads: [Int] = Array(repeating: 0, count: 2 * (data.rank - 3))
        for a in (0..<3).reversed() { pads += [before[a], after[a]] }
        let d = try data.pad(pads, value: value)
        var t = Affine.identity
        for a in 0..<3 { t[a, 3] = -Double(before[a]) }
        return Volume(data: d, affine: affine * t, metadata: metadata)
    }

    /// The smallest box holding every non-zero voxel of this (mask) volume, widened by `margin`
    /// voxels and kept inside the grid: (lower inclusive, upper exclusive); nil for an empty mask.
    public func boundingBox(margin: Int = 0) throws -> (lower: [Int], upper: [Int])? {
        let nz = try data.ne(0)
        let m = data.rank > 3 ? try nz.flatten(startDim: 3).any(dim: 3) : nz
        var lower: [Int] = [], upper: [Int] = []
        for a in 0..<3 {
            let others = (0..<3).filter { $0 != a }
            let profile = try m.to(.int64).sum(dims: others).gt(0)
            let idx = try profile.nonzero().flatten().toArray(Int.self)
            guard let first = idx.first, let last = idx.last else { return nil }
            lower.append(Swift.max(0, first - margin))
            upper.append(Swift.min(shape[a], last + 1 + margin))
        }
        return (lower, upper)
    }
}

extension Tensor {
    /// Whether any element along `dim` is non-zero.
    func any(dim: Int) throws -> Tensor { try self.to(.int64).sum(dim: dim).gt(0) }
}
