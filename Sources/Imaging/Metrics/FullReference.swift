import Torch

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The intensity span R that PSNR and SSIM divide by.
public enum DataRange: Sendable, Equatable {
    /// max - min of the reference (inside the mask when one is given).
    case reference
    /// A value the user states.
    case value(Double)
    /// The range of the reference clipped at two percentiles (seed 004: p99 - p1 by default).
    case clippedReference(lower: Double = 1, upper: Double = 99)

    /// The range for a reference tensor (its selected voxels).
    public func resolve(_ reference: Tensor) throws -> Double {
        switch self {
        case .value(let v):
            guard v > 0, v.isFinite else { throw MetricError.invalidArgument("data range \(v) must be positive and finite") }
            return v
        case .reference:
            let r = try reference.max().item() - reference.min().item()
            guard r > 0 else { throw MetricError.constantImage("the reference is constant (range 0); give --data-range") }
            return r
        case let .clippedReference(lo, hi):
            let q = try Percentiles.compute(reference, [lo, hi])
            guard q[1] > q[0] else { throw MetricError.constantImage("the reference's p\(lo)..p\(hi) range is 0") }
            return q[1] - q[0]
        }
    }
}

/// How NRMSE normalises the RMSE (scikit-image's `normalized_root_mse`).
public enum NRMSENormalization: String, Sendable, CaseIterable {
    /// sqrt(mean(reference^2)).
    case euclidean
    /// max(reference) - min(reference).
    case minMax = "min-max"
    /// mean(reference).
    case mean
}

/// Errors of the metrics.
public enum MetricError: Error, Equatable, Sendable, CustomStringConvertible {
    case shapeMismatch(String)
    case emptyMask(String)
    case constantImage(String)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .shapeMismatch(let m), .emptyMask(let m), .constantImage(let m), .invalidArgument(let m): m
        }
    }
}

/// Full-reference image-quality metrics, as scikit-image defines them, over whole tensors or the
/// voxels a mask selects. All computed in float64 from tensor reductions.
public enum FullReference {
    /// The voxels to compare: both tensors flattened, restricted to the mask when given.
    static func select(_ test: Tensor, _ reference: Tensor, mask: Tensor?) throws -> (Tensor, Tensor) {
        guard test.shape == reference.shape else {
            throw MetricError.shapeMismatch("test shape \(test.shape) differs from reference shape \(reference.shape)")
        }
        for (name, t) in [("test", test), ("reference", reference)] where t.dtype.isComplex {
            throw MetricError.invalidArgument("the \(name) image is complex; metrics need real values")
        }
        var a = try test.to(.float64), b = try reference.to(.float64)
        if let mask {
            guard mask.shape == reference.shape else {
                throw MetricError.shapeMismatch("mask shape \(mask.shape) differs from image shape \(reference.shape)")
            }
            let m = try mask.to(.bool)
            guard try m.any().itemBool() else { throw MetricError.emptyMask("the mask selects no voxel") }
            a = try a.maskedSelect(m)
            b = try b.maskedSelect(m)
        } else {
            a = try a.flatten()
            b = try b.flatten()
        }
        return (a, b)
    }

    /// Mean absolute error.
    public static func mae(_ test: Tensor, _ reference: Tensor, mask: Tensor? = nil) throws -> Double {
        let (a, b) = try select(test, reference, mask: mask)
        return try (a - b).abs().mean().item()
    }

    /// Mean squared error (`skimage.metrics.mean_squared_error`).
    public static func mse(_ test: Tensor, _ reference: Tensor, mask: Tensor? = nil) throws -> Double {
        let (a, b) = try select(test, reference, mask: mask)
        return try (a - b).square().mean().item()
    }

    public static func rmse(_ test: Tensor, _ reference: Tensor, mask: Tensor? = nil) throws -> Double {
        try mse(test, reference, mask: mask).squareRoot()
    }

    /// ||test - reference||^2 / ||reference||^2 (seed 000).
    public static func nmse(_ test: Tensor, _ reference: Tensor, mask: Tensor? = nil) throws -> Double {
        let (a, b) = try select(test, reference, mask: mask)
        let den = try b.square().sum().item()
        guard den > 0 else { throw MetricError.constantImage("the reference is zero everywhere; NMSE is undefined") }
        return try (a - b).square().sum().item() / den
    }

    /// RMSE divided by a property of the reference (`skimage.metrics.normalized_root_mse`).
    public static func nrmse(_ test: Tensor, _ reference: Tensor, mask: Tensor? = nil,
                             normalization: NRMSENormalization = .euclidean) throws -> Double {
        let (a, b) = try select(test, reference, mask: mask)
        let rmse = try (a - b).square().mean().item().squareRoot()
        let den: Double
        switch normalization {
        case .euclidean: den = try b.square().mean().item().squareRoot()
        case .minMax: den = try b.max().item() - b.min().item()
        case .mean: den = try b.mean().item()
        }
        guard den != 0 else { throw MetricError.constantImage("NRMSE (\(normalization.rawValue)): the reference's normaliser is 0") }
        return rmse / den
    }

    /// Peak signal-to-noise ratio in dB, 10 log10(R^2 / MSE) (`skimage.metrics.peak_signal_noise_ratio`
    /// with `data_range=R`). Infinite for identical images.
    public static func psnr(_ test: Tensor, _ reference: Tensor, mask: Tensor? = nil,
                            dataRange: DataRange = .reference) throws -> Double {
        let (a, b) = try select(test, reference, mask: mask)
        let r = try dataRange.resolve(b)
        let mse = try (a - b).square().mean().item()
        return 10 * log10(r * r / mse)
    }
}

