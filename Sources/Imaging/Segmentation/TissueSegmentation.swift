import Foundation
import Torch

/// CSF, grey and white matter by a Gaussian mixture fitted with EM over one or several co-registered
/// contrasts (seed 000's multispectral clustering), inside a brain mask, with spatial priors: the
/// MNI152 tissue maps carried onto the scan by an affine registration weight each voxel's classes
/// (unified-segmentation style), blended with a flat prior so that a registration error cannot
/// forbid a class.
public enum TissueSegmentation {
    public static let classes = ["csf", "gm", "wm"]

    public struct Settings: Codable, Equatable, Sendable {
        /// EM iterations at most; it stops earlier when the log-likelihood gains less than `tolerance` per voxel.
        public var iterations = 50
        public var tolerance = 1e-6
        /// Weight of the flat prior (1/3 each) blended with the atlas: 0 trusts the atlas fully.
        public var flatPrior = 0.2
        public init() {}
    }

    public struct Result {
        /// Probability maps (float32, 0 outside the mask) in `classes` order.
        public var probabilities: [Volume]
        /// 0 outside the mask, 1 CSF, 2 GM, 3 WM (the most probable class).
        public var labels: Volume
        /// Per class: the mean of each contrast (in the contrasts' units) and the voxel count.
        public var means: [[Double]]
        public var iterations: Int
        public var logLikelihood: Double
    }

    /// Segments `contrasts` (same grid) inside `mask` with `priors` (CSF, GM, WM maps on the same
    /// grid; nil: flat priors, plain EM).
    public static func segment(_ contrasts: [Volume], mask: Volume, priors: [Volume]?, settings: Settings = Settings()) throws -> Result {
        guard let first = contrasts.first else { throw ITKError("segmentation: no contrast given") }
        for v in contrasts + [mask] + (priors ?? []) {
            guard v.shape == first.shape, v.affine.maxDifference(first.affine) < 1e-3 else {
                throw ITKError("segmentation: every contrast, the mask and the priors must share the first contrast's grid (\(first.shape)); got \(v.shape)")
            }
        }
        if let priors, priors.count != 3 { throw ITKError("segmentation: three priors (CSF, GM, WM), got \(priors.count)") }
        let inside = try mask.data.ne(.double(0)).flatten()
        let n = try inside.sum().item()
        guard n >= 100 else { throw ITKError("segmentation: the mask holds \(Int(n)) voxels; a brain needs many more") }
        // Voxels x contrasts, each contrast scaled by its 99th percentile inside the mask.
        var scales: [Double] = []
        var columns: [Tensor] = []
        for v in contrasts {
            let values = try v.data.to(.float64).flatten().maskedSelect(inside)
            guard try values.isFinite().all().itemBool() else { throw ITKError("segmentation: a contrast has NaN or infinite voxels in the mask") }
            let p99 = try Percentiles.compute(values, [99])[0]
            let s = p99 > 0 ? p99 : 1
            scales.append(s)
            columns.append(try values / s)
        }
        let y = try Tensor.stack(columns, dim: 1)  // N x D
        let d = contrasts.count
        // Prior weights N x 3.
        var logPrior: Tensor
        if let priors {
            let p = try Tensor.stack(priors.map { try $0.data.to(.float64).flatten().maskedSelect(inside).clamp(min: 0, max: 1) }, dim: 1)
            let total = try p.sum(dims: [1], keepdim: true).clamp(min: 1e-6, max: nil)
            let atlas = try p / total
            logPrior = try (atlas * (1 - settings.flatPrior) + settings.flatPrior / 3).log()
        } else {
            logPrior = try Tensor.full([Int(n), 3], .double(Foundation.log(1.0 / 3)), dtype: .float64)
        }
        // Start: responsibilities from the priors, or from intensity terciles of the first contrast.
        var w: Tensor
        if priors != nil {
            w = try logPrior.softmax(dim: 1)
        } else {
            let q = try Percentiles.compute(columns[0], [33.3, 66.7])
            let c = columns[0]
            w = try Tensor.stack([c.lt(.double(q[0])), c.ge(.double(q[0])).logicalAnd(c.lt(.double(q[1]))), c.ge(.double(q[1]))].map { try $0.to(.float64) }, dim: 1)
        }
        var previous = -Double.infinity, logLikelihood = -Double.infinity, done = 0
        var mu = try Tensor.zeros([3, d], dtype: .float64)
        for iteration in 1...settings.iterations {
            // M-step.
            let nk = try w.sum(dims: [0]).clamp(min: 1e-9, max: nil)  // 3
            mu = try w.transpose(0, 1).mm(y) / nk.unsqueeze(1)  // 3 x D
            var logN: [Tensor] = []
            for k in 0..<3 {
                let diff = try y - mu.select(0, k).unsqueeze(0)
                let wk = try w.select(1, k).unsqueeze(1)
                var cov = try (diff * wk).transpose(0, 1).mm(diff) / nk.select(0, k)
                cov = try cov + Tensor.eye(d, dtype: .float64) * 1e-6
                let inv = try cov.inverse()
                let logDet = try Foundation.log(Swift.max(cov.determinant().item(), 1e-300))
                let quad = try (diff.mm(inv) * diff).sum(dims: [1])
                logN.append(try quad * -0.5 - 0.5 * (logDet + Double(d) * Foundation.log(2 * Double.pi)))
            }
            // E-step.
            let joint = try Tensor.stack(logN, dim: 1) + logPrior
            let norm = try joint.logsumexp(dims: [1], keepdim: true)
            w = try (joint - norm).exp()
            logLikelihood = try norm.sum().item() / n
            done = iteration
            if logLikelihood - previous < settings.tolerance { break }
            previous = logLikelihood
        }
        // Classes ordered by the first contrast's mean are not assumed: the priors name them. Without
        // priors, order by the first contrast (T1: CSF darkest, WM brightest).
        var order = [0, 1, 2]
        if priors == nil {
            let m0 = try mu.select(1, 0).toArray(Double.self)
            order = order.sorted { m0[$0] < m0[$1] }
        }
        let shape = first.shape
        let total = shape.reduce(1, *)
        let index = try inside.nonzero().flatten()
        var probabilities: [Volume] = []
        for k in order {
            let full = try Tensor.zeros([total], dtype: .float32).scatter(0, index, w.select(1, k).to(.float32))
            probabilities.append(Volume(data: try full.reshape(shape), affine: first.affine))
        }
        let ordered = try Tensor.stack(order.map { try w.select(1, $0) }, dim: 1)
        let best = try ordered.argmax(dim: 1) + 1
        let labels = try Tensor.zeros([total], dtype: .int64).scatter(0, index, best.to(.int64)).reshape(shape).to(.uint8)
        let means = try order.map { k in try (mu.select(0, k).toArray(Double.self)).enumerated().map { $0.element * scales[$0.offset] } }
        return Result(probabilities: probabilities, labels: Volume(data: labels, affine: first.affine), means: means,
                      iterations: done, logLikelihood: logLikelihood)
    }

    /// A template head with its tissue maps (MNI152 2009a: brain-extracted T1, GM, WM).
    public struct Atlas {
        public var t1: Volume
        public var gm: Volume
        public var wm: Volume
        public init(t1: Volume, gm: Volume, wm: Volume) {
            self.t1 = t1
            self.gm = gm
            self.wm = wm
        }
    }

    public struct Outcome {
        public var segmentation: Result
        public var mask: Volume
        /// WMH (uint8), when asked for.
        public var lesions: Volume?
    }

    /// The whole chain of `upres segment`: the brain mask (`mask`, or `BrainExtraction` on the first
    /// scan), N4 of every scan inside it (unless `n4` is false), the atlas's priors carried by the
    /// template's registration, EM, and WMH on the scan at `flair` when given.
    public static func run(_ scans: [Volume], mask: Volume?, atlas: Atlas, n4: Bool = true, flair: Int? = nil,
                           settings: Settings = Settings()) throws -> Outcome {
        guard let first = scans.first else { throw ITKError("segmentation: no scan given") }
        let brain: Volume, transform: SpatialTransform
        if let mask {
            guard mask.shape == first.shape, mask.affine.maxDifference(first.affine) < 1e-3 else {
                throw ITKError("segmentation: the mask's grid (\(mask.shape)) differs from the scans' (\(first.shape))")
            }
            brain = mask
            transform = try BrainExtraction.templateTransform(first, template: atlas.t1, brain: mask)
        } else {
            let r = try BrainExtraction.mask(first, template: atlas.t1, templateMask: atlas.t1)
            (brain, transform) = (r.mask, r.transform)
        }
        let corrected = n4 ? try scans.map { try BiasCorrection.n4($0, mask: brain).corrected } : scans
        let priors = try atlasPriors(gm: atlas.gm, wm: atlas.wm, brain: atlas.t1, transform: transform, onto: first)
        let result = try segment(corrected, mask: brain, priors: priors, settings: settings)
        let lesions = try flair.map { try hyperintensities(flair: corrected[$0], mask: brain, wm: result.probabilities[2]) }
        return Outcome(segmentation: result, mask: Volume(data: try brain.data.ne(.double(0)).to(.uint8), affine: brain.affine), lesions: lesions)
    }

    /// The atlas's CSF, GM and WM maps on the scan's grid: GM and WM carried through `transform`
    /// (template to scan, as `BrainExtraction` returns it), CSF the rest of the template's brain
    /// mask (1 - GM - WM inside it). Maps stored as integers (nilearn's MNI152 maps are uint8,
    /// 255 for certainty) are scaled by their maximum to probabilities.
    public static func atlasPriors(gm: Volume, wm: Volume, brain: Volume, transform: SpatialTransform, onto scan: Volume) throws -> [Volume] {
        let g = try probability(gm), w = try probability(wm)
        let inside = try brain.data.ne(.double(0)).to(.float32)
        let csf = try ((inside - g - w).clamp(min: 0, max: 1)) * inside
        return try [csf, g, w].map { map in
            try Registration.apply(transform, to: Volume(data: map, affine: gm.affine), like: scan, interpolation: .linear)
        }
    }

    /// A tissue map as probabilities: scaled by its maximum when that exceeds 1 (a uint8 map).
    public static func probability(_ map: Volume) throws -> Tensor {
        let d = try map.data.to(.float32)
        let top = try d.max().item()
        return try (top > 1.0001 ? d / top : d).clamp(min: 0, max: 1)
    }

    /// White-matter hyperintensities on FLAIR by seed 000's rule: z = (FLAIR - mean) / SD over the
    /// brain mask; candidates z > 1.3 inside white matter (`wm`, dilated by one voxel to reach
    /// periventricular caps); the candidate map smoothed (Gaussian, sigma 1 voxel); voxels whose
    /// smoothed value is below 0.1 or whose z is below 0.95 removed; clusters smaller than
    /// `minimumVoxels` removed.
    public static func hyperintensities(flair: Volume, mask: Volume, wm: Volume, minimumVoxels: Int = 3) throws -> Volume {
        guard flair.shape == mask.shape, wm.shape == mask.shape else { throw ITKError("WMH: FLAIR, mask and WM map must share a grid") }
        let inside = try mask.data.ne(.double(0))
        let f = try flair.data.to(.float64)
        let values = try f.maskedSelect(inside)
        guard values.size(0) > 10 else { throw ITKError("WMH: the brain mask is (nearly) empty") }
        let mean = try values.mean().item()
        let sd = try values.std().item()
        guard sd > 0 else { throw ITKError("WMH: the FLAIR is constant inside the brain") }
        let z = try (f - mean) / sd
        let wmRegion = try Morphology.dilate(wm.data.gt(.double(0.5)), radius: 1).logicalAnd(inside)
        let candidates = try z.gt(.double(1.3)).logicalAnd(wmRegion).to(.float32)
        let smooth = try gaussian(candidates, sigma: 1)
        var lesions = try smooth.ge(.double(0.1)).logicalAnd(z.ge(.double(0.95))).logicalAnd(wmRegion)
        lesions = try removeSmallClusters(lesions, minimum: minimumVoxels)
        return Volume(data: try lesions.to(.uint8), affine: flair.affine)
    }

    /// A separable Gaussian blur (sigma in voxels, truncated at 3 sigma, zero outside).
    static func gaussian(_ x: Tensor, sigma: Double) throws -> Tensor {
        let r = Int((3 * sigma).rounded(.up))
        let taps = (-r...r).map { Foundation.exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let sum = taps.reduce(0, +)
        let kernel = try Tensor(taps.map { Float($0 / sum) })
        var v = try x.to(.float32).unsqueeze(0).unsqueeze(0)
        for axis in 0..<3 {
            var shape = [1, 1, 1, 1, 1]
            shape[2 + axis] = 2 * r + 1
            var padding = [0, 0, 0]
            padding[axis] = r
            v = try v.conv3d(kernel.reshape(shape), padding: padding)
        }
        return try v.squeeze(0).squeeze(0)
    }

    /// Removes 26-connected clusters of fewer than `minimum` voxels (label propagation by max pooling).
    static func removeSmallClusters(_ m: Tensor, minimum: Int) throws -> Tensor {
        guard minimum > 1, try m.any().itemBool() else { return m }
        let total = m.shape.reduce(1, *)
        let ids = try Tensor.arange(.double(1), .double(Double(total + 1)), dtype: .float64).reshape(m.shape)
        var labels = try ids * m.to(.float64)
        let mf = try m.to(.float64)
        for _ in 0..<512 {
            let grown = try labels.unsqueeze(0).unsqueeze(0).maxPool3d(kernelSize: [3, 3, 3], stride: [1, 1, 1], padding: [1, 1, 1]).squeeze(0).squeeze(0) * mf
            if try grown.eq(labels).all().itemBool() { break }
            labels = grown
        }
        let flat = try labels.flatten().to(.int64)
        let counts = try Tensor.zeros([total + 1], dtype: .float32).scatterAdd(0, flat, Tensor.ones([total], dtype: .float32))
        let size = try counts.indexSelect(0, flat).reshape(m.shape)
        return try m.logicalAnd(size.ge(.double(Double(minimum))))
    }
}
