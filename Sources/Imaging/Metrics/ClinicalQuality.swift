import Torch

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Image-quality measures of the clinical literature computed from tissue masks (seed 000; the
/// definitions of MRIQC): intensity statistics per tissue and their ratios, the coefficient of
/// joint variation, the entropy focus criterion, the smoothness (FWHM) and WM2max.
public struct ClinicalQuality: Sendable, Equatable, Codable {
    public struct TissueStatistics: Sendable, Equatable, Codable {
        public var mean: Double
        public var sd: Double
        public var p5: Double
        public var p95: Double
        public var voxels: Int
    }

    public var csf: TissueStatistics
    public var gm: TissueStatistics
    public var wm: TissueStatistics
    /// mean(GM) / mean(WM), mean(CSF) / mean(WM), mean(CSF) / (mean(GM) + mean(WM)).
    public var gmOverWM: Double
    public var csfOverWM: Double
    public var csfOverGMWM: Double
    /// Coefficient of joint variation of GM and WM: (sd_WM + sd_GM) / |mean_WM - mean_GM|. Lower is better.
    public var cjv: Double
    /// Entropy focus criterion: the Shannon entropy of the voxel intensities normalised by the
    /// total "energy" sqrt(sum x^2), relative to its maximum (all voxels equal). Lower is sharper.
    public var efc: Double
    /// Median WM intensity over the 99.95th percentile of the image (WM2max).
    public var wm2max: Double
    /// Smoothness: the full width at half maximum (mm) along each axis, from the autocorrelation
    /// of the intensity gradient inside the tissue masks (AFNI's 3dFWHMx classic estimate).
    public var fwhm: [Double]

    /// - Parameters: `image` and the three masks share a grid; `spacing` is in mm.
    public static func compute(image: Tensor, csf: Tensor, gm: Tensor, wm: Tensor, spacing: [Double]) throws -> ClinicalQuality {
        for (name, m) in [("CSF", csf), ("GM", gm), ("WM", wm)] where m.shape != image.shape {
            throw MetricError.shapeMismatch("\(name) mask shape \(m.shape) differs from the image's \(image.shape)")
        }
        let x = try image.to(.float64)
        func stats(_ mask: Tensor, _ name: String) throws -> TissueStatistics {
            let m = try mask.gt(0.5)
            let v = try x.maskedSelect(m)
            guard v.count > 1 else { throw MetricError.emptyMask("the \(name) mask selects \(v.count) voxel(s)") }
            let q = try Percentiles.compute(v, [5, 95])
            return TissueStatistics(mean: try v.mean().item(), sd: try v.std().item(), p5: q[0], p95: q[1], voxels: v.count)
        }
        let c = try stats(csf, "CSF"), g = try stats(gm, "GM"), w = try stats(wm, "WM")
        guard w.mean != g.mean, w.mean != 0 else {
            throw MetricError.constantImage("WM and GM have the same mean intensity; CJV and the ratios are undefined")
        }
        // EFC (MRIQC): E = -sum (x/b) ln(x/b), b = sqrt(sum x^2), normalised by E_max = -N/sqrt(N) ln(1/sqrt(N)).
        let pos = try x.clamp(min: 0)
        let b = try pos.square().sum().item().squareRoot()
        let n = Double(x.count)
        let p = try pos / b
        let nonzero = try p.maskedSelect(p.gt(0))
        let entropy = try -(nonzero * nonzero.log()).sum().item()
        let emax = -(n / n.squareRoot()) * log(1 / n.squareRoot())
        let wmMedian = try Percentiles.compute(x.maskedSelect(wm.gt(0.5)), [50])[0]
        let top = try Percentiles.compute(x, [99.95])[0]
        // FWHM from the lag-1 autocorrelation of first differences inside the tissues (the union of
        // the three masks; the non-zero voxels would take in the faint ringing an interpolator
        // leaves in the background, whose near-zero differences inflate the estimate).
        let head = try csf.gt(0.5).logicalOr(gm.gt(0.5)).logicalOr(wm.gt(0.5)).to(.float64)
        var fwhm: [Double] = []
        for a in 0..<Swift.min(3, x.rank) {
            let len = x.size(a)
            guard len > 2 else { fwhm.append(.nan); continue }
            let d = try x.narrow(a, start: 1, length: len - 1) - x.narrow(a, start: 0, length: len - 1)
            let inside = try head.narrow(a, start: 1, length: len - 1) * head.narrow(a, start: 0, length: len - 1)
            let varAll = try (x * head).square().sum().item() / Swift.max(try head.sum().item(), 1)
                - pow(try (x * head).sum().item() / Swift.max(try head.sum().item(), 1), 2)
            let varDiff = try (d * inside).square().sum().item() / Swift.max(try inside.sum().item(), 1)
            // For a Gaussian-smoothed field: var(diff) = 2 var (1 - rho), rho = exp(-d^2 / (4 s^2)).
            let rho = 1 - varDiff / (2 * varAll)
            if rho > 0 && rho < 1 {
                let s = spacing[a] / (-4 * log(rho)).squareRoot()
                fwhm.append(s * (8 * log(2.0)).squareRoot())
            } else {
                fwhm.append(.nan)
            }
        }
        return ClinicalQuality(
            csf: c, gm: g, wm: w, gmOverWM: g.mean / w.mean, csfOverWM: c.mean / w.mean,
            csfOverGMWM: c.mean / (g.mean + w.mean), cjv: (w.sd + g.sd) / Swift.abs(w.mean - g.mean),
            efc: entropy / emax, wm2max: top > 0 ? wmMedian / top : .nan, fwhm: fwhm)
    }
}
