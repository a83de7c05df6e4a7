import Torch

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The structural similarity index of Wang et al. (2004) with scikit-image's conventions
/// (`structural_similarity(..., gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
/// data_range=R)`): Gaussian window (sigma 1.5, truncated at 3.5 sigma: 11 taps), K1 0.01, K2 0.03,
///
///     SSIM = (2 ux uy + C1)(2 vxy + C2) / ((ux^2 + uy^2 + C1)(vx + vy + C2)),  C1 = (K1 R)^2, C2 = (K2 R)^2,
///
/// local statistics filtered with scipy's mode 'reflect'. The mean SSIM is the mean of the map with
/// a border of 5 voxels cropped on every side (as scikit-image); with a mask, the mean of the full
/// map over the masked voxels.
public struct SSIM: Sendable {
    public var sigma: Double = 1.5
    public var k1: Double = 0.01
    public var k2: Double = 0.03
    /// scikit-image's `use_sample_covariance` (N / (N - 1) correction); Wang's definition is false.
    public var sampleCovariance = false
    /// Compute in float64 (exactly scikit-image's arithmetic) or float32 (faster, within ~1e-6).
    public var precision: DType = .float32

    public init(sigma: Double = 1.5, k1: Double = 0.01, k2: Double = 0.03, sampleCovariance: Bool = false,
                precision: DType = .float32) {
        self.sigma = sigma
        self.k1 = k1
        self.k2 = k2
        self.sampleCovariance = sampleCovariance
        self.precision = precision
    }

    var filter: GaussianFilter { GaussianFilter(sigma: sigma, truncate: 3.5) }

    /// The result of one comparison.
    public struct Result: @unchecked Sendable {
        /// Mean SSIM (cropped border, or inside the mask).
        public var mean: Double
        /// The full-size SSIM map, when asked for.
        public var map: Tensor?
    }

    /// SSIM over the last `dims` dimensions (2 or 3) of two images of the same shape; leading
    /// dimensions are a batch (a stack of slices gives one value per slice with `perItem`).
    /// - Parameters:
    ///   - dataRange: R, the intensity span (see `DataRange`); resolved on the reference.
    ///   - mask: averages the map over these voxels instead of the cropped image.
    ///   - wantMap: also return the full-size map (reflect-padded like scikit-image's `full=True`).
    public func compare(_ test: Tensor, _ reference: Tensor, dims: Int, dataRange: DataRange = .reference,
                        mask: Tensor? = nil, wantMap: Bool = false) throws -> Result {
        let values = try perItem(test, reference, dims: dims, dataRange: dataRange, mask: mask, wantMap: wantMap, batched: false)
        return Result(mean: values.means[0], map: values.map)
    }

    /// SSIM of each 2-d slice along `axis` of two volumes (the leading axis after moving `axis` first).
    public func perSlice(_ test: Tensor, _ reference: Tensor, axis: Int, dataRange: DataRange = .reference) throws -> [Double] {
        guard test.rank == 3 else { throw MetricError.invalidArgument("per-slice SSIM needs 3-d volumes, got shape \(test.shape)") }
        let r = try dataRange.resolve(reference)
        let a = try test.movedAxisFirst(axis), b = try reference.movedAxisFirst(axis)
        return try perItem(a, b, dims: 2, dataRange: .value(r), mask: nil, wantMap: false, batched: true).means
    }

    func perItem(_ test: Tensor, _ reference: Tensor, dims: Int, dataRange: DataRange, mask: Tensor?,
                 wantMap: Bool, batched: Bool) throws -> (means: [Double], map: Tensor?) {
        guard test.shape == reference.shape else {
            throw MetricError.shapeMismatch("test shape \(test.shape) differs from reference shape \(reference.shape)")
        }
        guard dims == 2 || dims == 3, test.rank >= dims else {
            throw MetricError.invalidArgument("SSIM runs over 2 or 3 dimensions of the images (shape \(test.shape))")
        }
        let win = 2 * filter.radius + 1
        for d in (test.rank - dims)..<test.rank where test.size(d) < win {
            throw MetricError.invalidArgument("SSIM's \(win)-voxel window exceeds the image extent \(test.shape)")
        }
        let range: Double
        if let mask {
            guard mask.shape == reference.shape else {
                throw MetricError.shapeMismatch("mask shape \(mask.shape) differs from image shape \(reference.shape)")
            }
            range = try dataRange.resolve(reference.maskedSelect(mask.to(.bool)))
        } else {
            range = try dataRange.resolve(reference)
        }
        // Scale by 1/R: SSIM is invariant to a joint scaling of the images and R, and values near 1
        // keep float32's cancellation in the variances small.
        let x = try (test.to(precision) / Scalar(range))
        let y = try (reference.to(precision) / Scalar(range))
        let c1 = k1 * k1, c2 = k2 * k2
        let np = Double(Int(pow(Double(win), Double(dims))))
        let covNorm = sampleCovariance ? np / (np - 1) : 1.0

        // The local statistics of x, y, x^2 + y^2 and x y, filtered together as a leading batch
        // of 4 (vx + vy is all the formula needs of the two variances).
        func statistics(_ x: Tensor, _ y: Tensor) throws -> Tensor {
            let sumOfSquares = try x * x
            try sumOfSquares.addcmul_(y, y)
            return try Tensor.stack([x, y, sumOfSquares, x * y], dim: 0)
        }
        func ssimMap(_ f: Tensor) throws -> Tensor {
            let ux = try f.select(0, 0), uy = try f.select(0, 1), s = try f.select(0, 2), uxy = try f.select(0, 3)
            let uxuy = try ux * uy
            let uu = try ux * ux
            try uu.addcmul_(uy, uy)
            let a1 = try uxuy * 2 + Scalar(c1)
            let a2 = try (uxy - uxuy) * Scalar(2 * covNorm) + Scalar(c2)
            let b1 = try uu + Scalar(c1)
            let b2 = try (s - uu) * Scalar(covNorm) + Scalar(c2)
            return try a1.mul_(a2).div_(b1.mul_(b2))
        }

        var map: Tensor?
        if wantMap || mask != nil { map = try ssimMap(filter.reflect(statistics(x, y), spatialDims: dims)) }
        let spatial = Array((test.rank - dims)..<test.rank)
        var means: [Double]
        if let mask {
            let m = try mask.to(.bool)
            guard try m.any().itemBool() else { throw MetricError.emptyMask("the mask selects no voxel") }
            means = [try map!.to(.float64).maskedSelect(m).mean().item()]
        } else {
            // The valid-filtered statistics equal the map with the border cropped. In 3-D, slabs
            // of a few output planes along the first spatial axis go from the images to the sum
            // of their map while their statistics stay in cache.
            let first = test.rank - dims, r = filter.radius
            let outFirst = test.size(first) - 2 * r
            let slab = dims == 3 ? 16 : outFirst
            var sums: Tensor?
            for start in stride(from: 0, to: outFirst, by: slab) {
                let n = Swift.min(slab, outFirst - start)
                let f = try filter.valid(statistics(x.narrow(first, start: start, length: n + 2 * r),
                                                    y.narrow(first, start: start, length: n + 2 * r)), spatialDims: dims)
                let part = try ssimMap(f).sum(dims: batched ? spatial : nil, dtype: .float64)
                sums = try sums.map { try $0 + part } ?? part
            }
            let leading = batched ? 1 : (0..<first).map { test.size($0) }.reduce(1, *)
            let count = Double(leading * spatial.map { test.size($0) - 2 * r }.reduce(1, *))
            means = try (sums! / count).flatten().toArray(Double.self)
        }
        return (means, map)
    }
}

extension Tensor {
    /// Moves `axis` to the front (a view).
    public func movedAxisFirst(_ axis: Int) throws -> Tensor {
        let a = axis < 0 ? axis + rank : axis
        var order = [a]
        for d in 0..<rank where d != a { order.append(d) }
        return try permute(order)
    }
}
