import Torch

/// Agreement between a segmentation and a reference, per label (seed 000, seed 001): overlap,
/// error rates and volumes.
public struct SegmentationAgreement: Sendable, Equatable, Codable {
    public var label: Int
    /// 2 |A and B| / (|A| + |B|).
    public var dice: Double
    /// |A and B| / |A or B|.
    public var jaccard: Double
    /// True-positive fraction (sensitivity): |A and B| / |B|.
    public var sensitivity: Double
    /// True-negative fraction (specificity): |not A and not B| / |not B|.
    public var specificity: Double
    /// Positive predictive value (precision): |A and B| / |A|.
    public var precision: Double
    /// Volumes in ml of the test (A) and the reference (B).
    public var testVolumeML: Double
    public var referenceVolumeML: Double
    /// test - reference, in ml and in % of the reference.
    public var volumeDifferenceML: Double
    public var volumeDifferencePercent: Double

    /// Agreement for each label present in either map (0, the background, excluded unless listed).
    /// - Parameters:
    ///   - voxelVolumeML: the volume of one voxel in ml (mm^3 / 1000).
    public static func compute(test: Tensor, reference: Tensor, labels: [Int]? = nil, voxelVolumeML: Double) throws -> [SegmentationAgreement] {
        guard test.shape == reference.shape else {
            throw MetricError.shapeMismatch("segmentation shape \(test.shape) differs from the reference's \(reference.shape)")
        }
        let a = try test.round().to(.int64), b = try reference.round().to(.int64)
        let found = try labels ?? Set(try Tensor.cat([a.flatten(), b.flatten()]).sort().values.toArray(Int.self)).filter { $0 != 0 }.sorted()
        let total = Double(test.count)
        return try found.map { l in
            let ta = try a.eq(l), tb = try b.eq(l)
            let na = Double(try ta.sum().itemInt()), nb = Double(try tb.sum().itemInt())
            let both = Double(try ta.logicalAnd(tb).sum().itemInt())
            let either = na + nb - both
            let neither = total - either
            func ratio(_ x: Double, _ y: Double) -> Double { y > 0 ? x / y : .nan }
            let va = na * voxelVolumeML, vb = nb * voxelVolumeML
            return SegmentationAgreement(
                label: l, dice: ratio(2 * both, na + nb), jaccard: ratio(both, either),
                sensitivity: ratio(both, nb), specificity: ratio(neither, total - nb), precision: ratio(both, na),
                testVolumeML: va, referenceVolumeML: vb, volumeDifferenceML: va - vb,
                volumeDifferencePercent: vb > 0 ? (va - vb) / vb * 100 : .nan)
        }
    }
}

/// Bland-Altman agreement of paired measurements across subjects (volumes, for instance).
public struct BlandAltman: Sendable, Equatable, Codable {
    /// Mean of (test - reference).
    public var meanDifference: Double
    /// Standard deviation of the differences (n - 1).
    public var sdDifference: Double
    /// meanDifference -+ 1.96 sd.
    public var lowerLimit: Double
    public var upperLimit: Double
    public var count: Int

    public static func compute(test: [Double], reference: [Double]) throws -> BlandAltman {
        guard test.count == reference.count, test.count >= 2 else {
            throw MetricError.invalidArgument("Bland-Altman needs two lists of the same length, at least 2 pairs (got \(test.count) and \(reference.count))")
        }
        let d = zip(test, reference).map { $0 - $1 }
        let m = d.reduce(0, +) / Double(d.count)
        let sd = (d.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(d.count - 1)).squareRoot()
        return BlandAltman(meanDifference: m, sdDifference: sd, lowerLimit: m - 1.96 * sd, upperLimit: m + 1.96 * sd, count: d.count)
    }
}
