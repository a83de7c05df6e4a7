import Torch

/// The metrics of one test against the reference over one region, whole-volume and per slice.
extension Evaluation {
    /// A full-reference metric over the region (for the slice metrics, the mean of `perSlice`).
    /// - Parameters:
    ///   - test, reference: float64 volumes on the same grid.
    ///   - region: a boolean mask on that grid, or nil for the whole volume.
    public func compute(_ metric: Metric, _ test: Tensor, _ reference: Tensor, _ region: Tensor?) throws -> Double {
        if metric.isSliceMetric { return Self.mean(try perSlice(metric, test, reference, region)) }
        if metric == .ssim { return try SSIM().compare(test, reference, dims: 3, dataRange: options.dataRange, mask: region).mean }
        return try Self.voxelwise(metric, test, reference, region, dataRange: options.dataRange)
    }

    /// PSNR, MAE, MSE, RMSE, NMSE and the NRMSEs over the region's voxels (`FullReference`).
    static func voxelwise(_ metric: Metric, _ t: Tensor, _ r: Tensor, _ region: Tensor?, dataRange: DataRange) throws -> Double {
        switch metric {
        case .psnr: return try FullReference.psnr(t, r, mask: region, dataRange: dataRange)
        case .mae: return try FullReference.mae(t, r, mask: region)
        case .mse: return try FullReference.mse(t, r, mask: region)
        case .rmse: return try FullReference.rmse(t, r, mask: region)
        case .nmse: return try FullReference.nmse(t, r, mask: region)
        case .nrmse: return try FullReference.nrmse(t, r, mask: region, normalization: .euclidean)
        case .nrmseMinMax: return try FullReference.nrmse(t, r, mask: region, normalization: .minMax)
        case .nrmseMean: return try FullReference.nrmse(t, r, mask: region, normalization: .mean)
        default: throw MetricError.invalidArgument("\(metric.rawValue) is not a voxel-wise metric")
        }
    }

    /// A full-reference metric on each slice across the slice axis: (slice index, value).
    /// - ssim2d (and ssim): every slice the region touches, each over its whole cropped slice, with
    ///   the data range of the volume (in the region).
    /// - the perceptual and deep-feature metrics: the slices the region touches where the reference
    ///   is not constant, scaled to [0, 1] by the reference's range in the region (piq's convention).
    /// - the others: the same slices, over the region's voxels in each, PSNR with the volume's data
    ///   range; NaN for a slice where a normalization is undefined (a constant reference there).
    public func perSlice(_ metric: Metric, _ t: Tensor, _ r: Tensor, _ region: Tensor?) throws -> [(slice: Int, value: Double)] {
        let a = options.sliceAxis
        switch metric {
        case .ssim2d, .ssim:
            let rr = try options.dataRange.resolve(region.map { try r.maskedSelect($0) } ?? r)
            let s = try SSIM().perSlice(t, r, axis: a, dataRange: .value(rr))
            let touched = try region.map { try $0.to(.int64).sum(dims: (0..<3).filter { $0 != a }).gt(0).toArray(Bool.self) }
            return s.enumerated().filter { touched?[$0.offset] ?? true }.map { ($0.offset, $0.element) }
        case .vifp, .haarpsi, .fsim, .vsi:
            let m = metric.perceptual!
            return try overSlices(t, r, region, batch: 8, progress: nil) { try Perceptual.compute(m, $0, $1) }
        case .lpips:
            guard let lpips = networks.lpips else { throw EvaluationError.missingNetwork(.lpips) }
            return try overSlices(t, r, region, batch: 4, progress: metric) { try lpips.compute($0, $1) }
        case .dists:
            guard let dists = networks.dists else { throw EvaluationError.missingNetwork(.dists) }
            return try overSlices(t, r, region, batch: 4, progress: metric) { try dists.compute($0, $1) }
        case .psnr, .mae, .mse, .rmse, .nmse, .nrmse, .nrmseMinMax, .nrmseMean:
            let rr = try options.dataRange.resolve(region.map { try r.maskedSelect($0) } ?? r)
            return try qualifyingSlices(r, region).map { s in
                let ts = try t.select(a, s), rs = try r.select(a, s), ms = try region?.select(a, s)
                do { return (s, try Self.voxelwise(metric, ts, rs, ms, dataRange: .value(rr))) } catch is MetricError { return (s, .nan) }
            }
        case .brisque, .clinical, .segmentation:
            throw MetricError.invalidArgument("\(metric.rawValue) is not a full-reference metric")
        }
    }

    /// The slices across the slice axis where the reference varies and which the region touches.
    public func qualifyingSlices(_ r: Tensor, _ region: Tensor?) throws -> [Int] {
        let axis = options.sliceAxis
        let others = (0..<3).filter { $0 != axis }
        let varies = try r.max(dims: others).gt(r.min(dims: others)).toArray(Bool.self)
        let touched = try region.map { try $0.to(.int64).sum(dims: others).gt(0).toArray(Bool.self) } ?? varies
        return (0..<r.size(axis)).filter { varies[$0] && touched[$0] }
    }

    /// A 2-D metric of scaled slices (`scaledSlices`), `batch` slices at a time, reporting
    /// `progress` when it names the metric (those that run VGG16 on every slice).
    func overSlices(_ t: Tensor, _ r: Tensor, _ region: Tensor?, batch: Int, progress metric: Metric?,
                    _ compute: (Tensor, Tensor) throws -> [Double]) throws -> [(slice: Int, value: Double)] {
        guard let (keep, s) = try scaledSlices([t, r], r, region) else { return [] }
        var scores: [Double] = []
        for start in stride(from: 0, to: keep.count, by: batch) {
            let n = Swift.min(batch, keep.count - start)
            scores += try compute(s[0].narrow(0, start: start, length: n), s[1].narrow(0, start: start, length: n))
            if let metric { progress?(metric, start + n, keep.count) }
        }
        return Array(zip(keep, scores))
    }

    /// The slices across the slice axis where the reference varies (and which the region touches),
    /// and each image's slices there moved first and scaled by the reference's range in the
    /// region: (v - min) / range (piq's [0, 1] convention). Nil when no slice qualifies.
    func scaledSlices(_ images: [Tensor], _ r: Tensor, _ region: Tensor?) throws -> ([Int], [Tensor])? {
        let inRegion = try region.map { try r.maskedSelect($0) } ?? r
        let lo = try inRegion.min().item()
        let rr = try options.dataRange.resolve(inRegion)
        let a = options.sliceAxis
        let keep = try qualifyingSlices(r, region)
        guard !keep.isEmpty else { return nil }
        let index = try Tensor(keep.map(Int64.init))
        return (keep, try images.map { try (($0.indexSelect(a, index) - lo) / rr).movedAxisFirst(a) })
    }

    /// BRISQUE features of the slices across the slice axis that the region touches and where the
    /// reference varies, each scaled by the reference's range to [0, 1] (clipped).
    func brisque(_ image: Tensor, _ r: Tensor, _ region: Tensor?, input: EvaluationError.Input) throws -> ([Int], [[Double]]) {
        guard let (keep, xs) = try scaledSlices([image], r, region).map({ ($0.0, $0.1[0]) }) else { return ([], []) }
        var out: [[Double]] = []
        for start in stride(from: 0, to: keep.count, by: 16) {
            let n = Swift.min(16, keep.count - start)
            do {
                out += try BRISQUE.features(xs.narrow(0, start: start, length: n).clamp(min: .double(0), max: .double(1)))
            } catch let e as MetricError {
                throw EvaluationError.brisque(input, e)
            }
        }
        return (keep, out)
    }
}
