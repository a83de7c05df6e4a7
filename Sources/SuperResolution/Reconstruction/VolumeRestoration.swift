import Foundation
import Imaging
import NN
import Torch

/// 3-D models (the `.volume` contract, seed 002's mDCSRN): restoration of a volume on its own grid,
/// run on overlapping patches so that memory stays bounded for any volume size.
///
/// Each patch's output is kept only where the patch held the voxel's whole receptive field (its
/// core: the patch less the model's receptive radius, except where the patch meets the volume's
/// border, whose zero padding is the same as the whole volume's), so the result equals the
/// network run on the whole volume at once; neighbouring cores overlap and are blended with raised
/// cosine weights, so that any difference (a model whose far context matters) leaves no seam.
extension Reconstruction {
    /// How a volume is cut into patches.
    public struct PatchPlan: Sendable, Equatable {
        /// Patch side (voxels; shorter along an axis that is shorter than it).
        public var patch: Int
        /// Voxels dropped at a patch's inner faces (the receptive radius).
        public var margin: Int
        /// Voxels over which neighbouring cores are cross-faded.
        public var taper: Int

        public init(patch: Int, margin: Int, taper: Int = 4) {
            self.patch = patch
            self.margin = margin
            self.taper = taper
        }

        /// The largest patch whose activations fit `budget` bytes, between the smallest useful one
        /// and 128.
        public static func fitting(_ model: any VolumetricModel, budget: Int, taper: Int = 4) -> PatchPlan {
            let m = model.receptiveRadius
            let side = Int(Foundation.cbrt(Double(budget) / Double(Swift.max(model.bytesPerVoxel, 1))))
            return PatchPlan(patch: Swift.min(128, Swift.max(side, 2 * m + taper + 8)), margin: m, taper: taper)
        }

        /// Along an axis of `n` voxels: each patch's start, and the part of it kept [lo, hi) in
        /// volume coordinates. Consecutive kept parts overlap by at least `taper` voxels.
        public func tiles(_ n: Int) throws -> [(start: Int, length: Int, lo: Int, hi: Int)] {
            let p = Swift.min(patch, n)
            if p == n { return [(0, n, 0, n)] }
            let step = p - 2 * margin - taper
            guard step >= 1 else {
                throw ModelError.invalid("patch \(patch) is too small for the model's receptive radius \(margin) (needs more than \(2 * margin + taper) voxels)")
            }
            var out: [(Int, Int, Int, Int)] = []
            var s = 0
            while true {
                let start = Swift.min(s, n - p)
                let last = start == n - p
                out.append((start, p, start == 0 ? 0 : start + margin, last ? n : start + p - margin))
                if last { break }
                s += step
            }
            return out
        }
    }

    /// Raised cosine weights over [lo, hi) (length hi - lo) rising over `taper` voxels at a face
    /// that meets another patch's kept part, flat at the volume's border.
    static func blendWeights(lo: Int, hi: Int, n: Int, taper: Int) -> [Float] {
        (lo..<hi).map { j in
            var w = 1.0
            if lo > 0, j - lo < taper { w *= 0.5 - 0.5 * cos(Double.pi * (Double(j - lo) + 0.5) / Double(taper)) }
            if hi < n, hi - 1 - j < taper { w *= 0.5 - 0.5 * cos(Double.pi * (Double(hi - 1 - j) + 0.5) / Double(taper)) }
            return Float(w)
        }
    }

    /// The model on `x` (C, D, H, W), patch by patch; (D, H, W) float32 on the CPU.
    /// `progress(done, total)` counts patches.
    public static func patchwise(_ x: Tensor, model: any VolumetricModel, plan: PatchPlan, device: Device = .cpu,
                                 progress: (Int, Int) -> Void = { _, _ in }) throws -> Tensor {
        guard x.rank == 4 else { throw ModelError.invalid("patch-wise inference takes (channels, D, H, W), got \(x.shape)") }
        let shape = Array(x.shape.dropFirst())
        let tiles = try shape.map { try plan.tiles($0) }
        let out = try Tensor.zeros(shape, dtype: .float32)
        let weight = try Tensor.zeros(shape, dtype: .float32)
        let total = tiles.map(\.count).reduce(1, *)
        var done = 0
        try withNoGrad {
            for a in tiles[0] {
                for b in tiles[1] {
                    for c in tiles[2] {
                        let patch = try x.narrow(1, start: a.start, length: a.length).narrow(2, start: b.start, length: b.length)
                            .narrow(3, start: c.start, length: c.length).unsqueeze(0).contiguous().to(device)
                        let y = try model(patch).select(0, 0).select(0, 0).to(.cpu).to(.float32)
                        let kept = try y.narrow(0, start: a.lo - a.start, length: a.hi - a.lo).narrow(1, start: b.lo - b.start, length: b.hi - b.lo)
                            .narrow(2, start: c.lo - c.start, length: c.hi - c.lo)
                        let w = try Tensor(blendWeights(lo: a.lo, hi: a.hi, n: shape[0], taper: plan.taper), shape: [a.hi - a.lo, 1, 1])
                            * Tensor(blendWeights(lo: b.lo, hi: b.hi, n: shape[1], taper: plan.taper), shape: [1, b.hi - b.lo, 1])
                            * Tensor(blendWeights(lo: c.lo, hi: c.hi, n: shape[2], taper: plan.taper), shape: [1, 1, c.hi - c.lo])
                        let region = { (t: Tensor) throws -> Tensor in
                            try t.narrow(0, start: a.lo, length: a.hi - a.lo).narrow(1, start: b.lo, length: b.hi - b.lo).narrow(2, start: c.lo, length: c.hi - c.lo)
                        }
                        _ = try region(out).add_(kept * w)
                        _ = try region(weight).add_(w)
                        done += 1
                        progress(done, total)
                    }
                }
            }
        }
        _ = try out.div_(weight)
        return out
    }

    /// Restores `input` with a 3-D model on the input's own grid: the model's normalization (the
    /// part beyond its percentiles kept, never clipped), patch-wise inference, the inverse
    /// normalization; k-space data consistency when the model's task states a k-space truncation
    /// (`options.consistency` 0 turns it off); voxels whose 3 x 3 x 3 neighbourhood is exactly 0
    /// in the input stay 0.
    public static func restore(_ input: Volume, model file: ModelFile, options: Options = Options(), patch: Int? = nil,
                               progress: (Int, Int) -> Void = { _, _ in }) throws -> (Volume, Report) {
        guard case .volume(let channels) = file.contract, let model = file.model as? any VolumetricModel else {
            throw ModelError.invalid("model \(file.name) is not a 3-D model (\(file.contract))")
        }
        guard channels == 1 else {
            throw ModelError.invalid("model \(file.name) takes \(channels) channels; upsample gives 3-D models one volume")
        }
        try requireIntensities(input)
        let target = file.task.targetSpacing
        guard input.spacing.allSatisfy({ Swift.abs($0 - target) <= 0.01 * target }) else {
            throw ModelError.invalid(String(format: "model %@ restores volumes of %.3g mm voxels on their own grid; the input's are %@ mm: resample it first (upres resample IN OUT --spacing %.3g)",
                                            file.name, target, input.spacing.map { String(format: "%.3g", $0) }.joined(separator: " x "), target))
        }
        model.eval()
        let (normalized, params) = try normalize(input, percentiles: file.task.normalizationPercentiles)
        let x = file.task.clips ? try normalized.clamp(min: .double(0), max: .double(1)) : normalized
        var plan = PatchPlan.fitting(model, budget: options.memoryBudget)
        if let patch { plan.patch = patch }
        let y = try patchwise(x.unsqueeze(0), model: model, plan: plan, device: options.device, progress: progress)
        var out = try params.invert(y.to(.float64)).to(.float32)
        // The acquired band of k-space is the input's own (models trained on k-space truncation,
        // unless --consistency 0); nothing goes below the input's minimum.
        try requireConsistencyIterations(options)
        if let c = options.consistency, c > 0, file.task.kspace == nil {
            throw ModelError.invalid("data consistency: model \(file.name) states no k-space truncation for its output to agree with (3-D models trained by upres on k-space pairs do)")
        }
        var kspace: KSpaceConsistencyRecord? = nil
        if let truncation = file.task.kspace, options.consistency != 0 {
            try truncation.validate(for: input)
            (out, kspace) = try enforceKSpaceConsistency(out, acquired: input.data, truncation: truncation,
                                                         axes: truncation.resolvedAxes(for: input))
            let floor: Double = try input.data.min().item()
            out = try out.clamp(min: .double(floor))
        }
        // Zero stays zero: a skull-stripped or masked input keeps its empty background.
        let occupied = try input.data.to(.float32).ne(0).to(.float32).unsqueeze(0).unsqueeze(0)
            .maxPool3d(kernelSize: [3, 3, 3], stride: [1, 1, 1], padding: [1, 1, 1]).select(0, 0).select(0, 0)
        out = try out * occupied
        var volume = input
        volume.data = try out.contiguous()
        volume.metadata.description = "upres upsample --model \(file.name)"
        let tiles = try input.shape.map { try plan.tiles($0).count }.reduce(1, *)
        var report = Report(throughPlaneAxis: -1, factor: 1, inPlaneResampled: false, normalization: params, batch: 1, slices: tiles,
                            adaptation: nil, thicknessEstimate: nil, workingSpacing: nil, patch: plan.patch)
        report.kspaceConsistency = kspace
        return (volume, report)
    }
}
