/// A metric that `Evaluation` computes, by the name the command line uses.
///
/// Full-reference metrics compare each test with the reference over a region: whole-volume ones
/// (PSNR, 3-D SSIM, MAE, MSE, RMSE, NMSE and the NRMSEs, as `FullReference` and `SSIM` define
/// them) and slice ones, computed on 2-D slices across the slice axis and averaged (2-D SSIM,
/// the perceptual metrics of `Perceptual`, LPIPS and DISTS). BRISQUE is a no-reference score,
/// `clinical` the measures of `ClinicalQuality` inside tissue masks, `segmentation` the agreement
/// of segmentations (`SegmentationAgreement`).
public enum Metric: String, CaseIterable, Codable, Sendable {
    case psnr, ssim, ssim2d, mae, mse, rmse, nmse, nrmse
    case nrmseMinMax = "nrmse_min_max"
    case nrmseMean = "nrmse_mean"
    case vifp, haarpsi, fsim, vsi
    case lpips, dists
    case brisque, clinical, segmentation

    /// The metrics that compare a test with the reference over a region, in their table order.
    public static let fullReference: [Metric] = [.psnr, .ssim, .ssim2d, .mae, .mse, .rmse, .nmse, .nrmse, .nrmseMinMax, .nrmseMean,
                                                  .vifp, .haarpsi, .fsim, .vsi, .lpips, .dists]

    /// The metrics computed without inputs beyond the reference and the tests.
    public static let standard: [Metric] = [.psnr, .ssim, .ssim2d, .mae, .mse, .rmse, .nmse, .nrmse]

    /// The default choice: the standard metrics, plus each metric whose inputs are at hand
    /// (tissue masks, segmentations, a BRISQUE model, LPIPS or DISTS weights), in that order.
    public static func defaults(tissues: Bool = false, segmentations: Bool = false, brisqueModel: Bool = false,
                                lpips: Bool = false, dists: Bool = false) -> [Metric] {
        var m = standard
        if tissues { m.append(.clinical) }
        if segmentations { m.append(.segmentation) }
        if brisqueModel { m.append(.brisque) }
        if lpips { m.append(.lpips) }
        if dists { m.append(.dists) }
        return m
    }

    /// Whether the metric compares a test with the reference over a region (a row per region).
    public var isFullReference: Bool { Self.fullReference.contains(self) }

    /// Whether the metric is computed on 2-D slices across the slice axis and averaged over them.
    public var isSliceMetric: Bool { perceptual != nil || [.ssim2d, .lpips, .dists].contains(self) }

    /// The metric of `Perceptual` with this name, if any.
    public var perceptual: Perceptual.Metric? { Perceptual.Metric(rawValue: rawValue) }

    /// The whole-volume voxel-wise metrics of `FullReference` (all but SSIM and the slice metrics).
    var isVoxelwise: Bool { [.psnr, .mae, .mse, .rmse, .nmse, .nrmse, .nrmseMinMax, .nrmseMean].contains(self) }
}
