import Torch

/// How intensities are mapped before a model sees them.
public enum NormalizationMethod: Sendable, Equatable {
    /// (x - min) / (max - min): [0, 1].
    case minMax
    /// Clip at two percentiles, then map them to [0, 1] (seed 004: 1 and 99).
    case clippedMinMax(lower: Double = 1, upper: Double = 99)
    /// (x - mean) / std over the voxels of a mask (the whole image without one).
    case zScore
}

/// What a normalization did, so that its inverse maps model outputs back to the input's units;
/// written into sidecars.
public struct NormalizationParameters: Codable, Sendable, Equatable {
    /// "min-max", "clipped-min-max" or "z-score".
    public var method: String
    /// normalized = (x - offset) / scale.
    public var offset: Double
    public var scale: Double
    /// The clipping bounds (in input units) of the clipped method.
    public var clipLow: Double?
    public var clipHigh: Double?
    /// The percentiles the bounds came from.
    public var percentiles: [Double]?

    public init(method: String, offset: Double, scale: Double, clipLow: Double? = nil, clipHigh: Double? = nil,
                percentiles: [Double]? = nil) {
        self.method = method
        self.offset = offset
        self.scale = scale
        self.clipLow = clipLow
        self.clipHigh = clipHigh
        self.percentiles = percentiles
    }

    /// Applies the mapping to new data (clipping first when the method clips).
    public func apply(_ t: Tensor) throws -> Tensor {
        var x = try t.to(.float64)
        if let lo = clipLow, let hi = clipHigh { x = try x.clamp(min: .double(lo), max: .double(hi)) }
        return try ((x - offset) / scale).to(t.dtype.isFloatingPoint ? t.dtype : .float32)
    }

    /// The exact inverse of the affine part: x = y * scale + offset. Values clipped on the way in
    /// are not restored (they come back at the clipping bounds).
    public func invert(_ t: Tensor) throws -> Tensor {
        try (t.to(.float64) * scale + offset).to(t.dtype.isFloatingPoint ? t.dtype : .float32)
    }
}

public enum NormalizationError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(String)
    public var description: String {
        switch self { case .invalid(let m): m }
    }
}

extension Volume {
    /// The normalized volume and the parameters that invert it.
    /// - Parameter mask: the voxels the statistics come from (z-score; also honoured by the others).
    /// - Throws: for a constant image, an empty mask, or a mask of another shape.
    public func normalized(_ method: NormalizationMethod, mask: Tensor? = nil) throws -> (Volume, NormalizationParameters) {
        guard data.dtype.isFloatingPoint || data.dtype.isInteger else {
            throw NormalizationError.invalid("cannot normalize \(data.dtype) voxels; they must be real scalars")
        }
        var values = try data.to(.float64)
        if let mask {
            guard Array(mask.shape.prefix(3)) == Array(shape.prefix(3)) else {
                throw NormalizationError.invalid("mask shape \(mask.shape) differs from the volume's \(shape)")
            }
            let m = try mask.ne(0)
            guard try m.any().itemBool() else { throw NormalizationError.invalid("the mask selects no voxel") }
            values = try values.maskedSelect(m.rank < values.rank ? m.reshape(m.shape + Array(repeating: 1, count: values.rank - m.rank)).expand(values.shape) : m)
        }
        let p: NormalizationParameters
        switch method {
        case .minMax:
            let lo = try values.min().item(), hi = try values.max().item()
            guard hi > lo else { throw NormalizationError.invalid("the image is constant (\(lo)); min-max normalization is undefined") }
            p = NormalizationParameters(method: "min-max", offset: lo, scale: hi - lo)
        case let .clippedMinMax(lower, upper):
            guard lower < upper else { throw NormalizationError.invalid("percentiles \(lower) and \(upper) must increase") }
            let q = try Percentiles.compute(values, [lower, upper])
            guard q[1] > q[0] else {
                throw NormalizationError.invalid("the \(lower)th and \(upper)th percentiles are equal (\(q[0])); clipped min-max is undefined")
            }
            p = NormalizationParameters(method: "clipped-min-max", offset: q[0], scale: q[1] - q[0], clipLow: q[0], clipHigh: q[1],
                                        percentiles: [lower, upper])
        case .zScore:
            let mean = try values.mean().item(), std = try values.std(unbiased: false).item()
            guard std > 0 else { throw NormalizationError.invalid("the image is constant inside the mask; z-score is undefined") }
            p = NormalizationParameters(method: "z-score", offset: mean, scale: std)
        }
        return (Volume(data: try p.apply(data.dtype.isFloatingPoint ? data : data.to(.float32)), affine: affine, metadata: metadata), p)
    }
}
