import Foundation
import Imaging
import NN
import Torch

/// Volume reconstruction, the main job (DESIGN.md): slices that contain the through-plane axis,
/// with their neighbours as channels, go through the model in batches; the two in-plane
/// directions are averaged; the result lands on the high-resolution grid in the input's world
/// space and in its intensity units.
public enum Reconstruction {
    /// The axis with the largest voxel size, when it is clearly the slice axis (at least 1.5
    /// times the others).
    public static func throughPlaneAxis(spacing: [Double]) -> Int? {
        let t = (0..<3).max { spacing[$0] < spacing[$1] }!
        let others = (0..<3).filter { $0 != t }.map { spacing[$0] }
        return spacing[t] >= 1.5 * (others.max() ?? 0) ? t : nil
    }

    /// The output grid: in-plane voxels resampled to `target` mm (field of view kept), and the
    /// slice axis refined by `factor`, output row factor k + r at slice k + (r - floor(f/2)) / f,
    /// so every acquired slice is an output slice.
    public static func outputGrid(of volume: Volume, axis t: Int, factor: Int) -> Grid {
        var index = Affine.identity
        index[t, t] = 1 / Double(factor)
        index[t, 3] = -Double(factor / 2) / Double(factor)
        var shape = Array(volume.shape.prefix(3))
        shape[t] *= factor
        return Grid(shape: shape, affine: volume.affine * index)
    }

    /// The output grid for any factor: integer factors use `outputGrid(of:axis:factor:)` (the
    /// acquired slices are output slices); other factors a grid of `target` mm over the same
    /// field of view (voxel centres laid symmetrically, as `Volume.grid(spacing:)`).
    public static func outputGrid(of volume: Volume, axis t: Int, factor f: Double, target: Double) throws -> Grid {
        let n = Int(f.rounded())
        if Swift.abs(f - Double(n)) < 1e-3 { return outputGrid(of: volume, axis: t, factor: n) }
        var spacing = volume.spacing
        spacing[t] = target
        return try volume.grid(spacing: spacing)
    }

    public struct Options: Sendable {
        public var batch: Int?
        /// Memory for activations (bytes) when `batch` is nil.
        public var memoryBudget: Int
        public var device: Device
        /// The in-plane directions whose slices the model reconstructs (0: the slices across the
        /// first in-plane axis, 1: across the second), averaged; both by default. One alone gives
        /// that direction's reconstruction (`upres explain` compares them).
        public var directions: [Int]
        /// The subject's features for conditioned models (seed 004: age, sex, diagnosis ... as
        /// the model was trained with them); nil: zeros. Each slice's position in the volume
        /// is given to such models always.
        public var context: [Double]?
        /// Models fusing contrasts (seed 000): the scan's other contrasts, in the order of the
        /// model's `task.inputContrasts` after the first, on the input's grid (co-registered).
        public var contrasts: [Volume]
        /// Test-time augmentation: each batch also reconstructed mirrored across the slices' width
        /// and the two averaged (twice the model's work).
        public var testTimeFlips: Bool
        /// Data consistency (`enforceConsistency`): back-projection iterations after the model.
        /// nil: `defaultConsistencyIterations` when the acquisition is known (the per-scan
        /// training's, `sliceThickness`, or the thickness the model's task states), else none;
        /// 0: none.
        public var consistency: Int?
        /// The scan's slice thickness (mm) and profile, for a model applied as it is (per-scan
        /// training uses its own): the acquisition data consistency acquires the output with.
        public var sliceThickness: Double?
        public var profile: SliceProfile?
        public init(batch: Int? = nil, memoryBudget: Int = 512 << 20, device: Device = .cpu, directions: [Int] = [0, 1],
                    context: [Double]? = nil, contrasts: [Volume] = [], testTimeFlips: Bool = false,
                    consistency: Int? = nil, sliceThickness: Double? = nil, profile: SliceProfile? = nil) {
            self.testTimeFlips = testTimeFlips
            self.consistency = consistency
            self.sliceThickness = sliceThickness
            self.profile = profile
            self.batch = batch
            self.memoryBudget = memoryBudget
            self.device = device
            self.directions = directions
            self.context = context
            self.contrasts = contrasts
        }
    }

    /// What one reconstruction did (for sidecars).
    public struct Report: Codable, Sendable {
        /// The through-plane axis; -1 for 3-D models restoring the input's own grid.
        public var throughPlaneAxis: Int
        public var factor: Double
        public var inPlaneResampled: Bool
        public var normalization: NormalizationParameters
        public var batch: Int
        public var slices: Int
        /// Per-scan training, when it ran.
        public var adaptation: AdaptationRecord?
        /// The slice thickness estimate, when the thickness was not given.
        public var thicknessEstimate: SliceThicknessEstimator.Estimate?
        /// The isotropic voxel size the model worked at before the result was resampled to the
        /// target (scan-trained models for non-integer factors).
        public var workingSpacing: Double?
        /// 3-D models: the patch side (voxels); `slices` then counts the patches.
        public var patch: Int? = nil
        /// Data consistency, when it ran.
        public var consistency: ConsistencyRecord? = nil
        /// 3-D models restoring k-space truncation: k-space data consistency, when it ran.
        public var kspaceConsistency: KSpaceConsistencyRecord? = nil
    }

    /// Checks an input for the main job; the error names the problem. `sliceAxisRequired`: the
    /// coarsest spacing must belong to one axis (the slices'); interpolation takes any grid.
    public static func check(_ volume: Volume, targetSpacing: Double, sliceAxisRequired: Bool = true) throws -> (axis: Int, factor: Double) {
        try requireIntensities(volume)
        let spacing = volume.spacing
        let t = throughPlaneAxis(spacing: spacing) ?? (0..<3).max { spacing[$0] < spacing[$1] }!
        guard spacing[t] > targetSpacing * 1.01 else {
            throw AlreadyAtTarget(spacing: spacing, target: targetSpacing)
        }
        let tied = volume.coarsestAxes()
        if sliceAxisRequired && tied.count > 1 {
            let which = tied.count == 3 ? "all three axes (isotropic voxels)" : "axes \(tied[0]) and \(tied[1])"
            throw ModelError.invalid(String(format: "the input's voxels are %@ mm: the coarsest spacing (%.3g mm) belongs to %@, so no one axis holds thick slices. upres upsample reconstructs multi-slice scans (in-plane voxels finer than the slice spacing); a scan blurred in-plane needs an in-plane model (--model, trained with data.kernel), and --interp resamples any grid",
                                            spacing.map { String(format: "%.3g", $0) }.joined(separator: " x "), spacing[t], which))
        }
        return (t, spacing[t] / targetSpacing)
    }

    /// A 3-D volume of finite real intensities, or an error naming what is wrong.
    static func requireIntensities(_ volume: Volume) throws {
        guard volume.shape.count == 3 else {
            throw ModelError.invalid("the input must be a 3-D volume, got shape \(volume.shape)")
        }
        guard volume.data.dtype.isFloatingPoint || volume.data.dtype.isInteger else {
            throw ModelError.invalid("the input voxels are \(volume.data.dtype), not intensities")
        }
        if volume.data.dtype.isFloatingPoint {
            // x - x is NaN exactly where x is NaN or infinite.
            let bad = try (volume.data - volume.data).ne(0).sum().itemInt()
            guard bad == 0 else { throw ModelError.invalid("the input has \(bad) NaN or infinite voxels; fix or mask them first") }
        }
    }

    /// Thrown when nothing needs to be done.
    public struct AlreadyAtTarget: Error, CustomStringConvertible {
        public var spacing: [Double]
        public var target: Double
        public var description: String {
            "the input's voxels (\(spacing.map { String(format: "%.3g", $0) }.joined(separator: " x ")) mm) are already at or below the target spacing \(target) mm; nothing to do"
        }
    }

    /// The input resampled in-plane to the target spacing (when it differs), keeping the slices.
    static func inPlane(_ volume: Volume, axis t: Int, target: Double) throws -> (Volume, Bool) {
        var spacing = volume.spacing
        let needs = (0..<3).contains { $0 != t && Swift.abs(spacing[$0] - target) > 1e-3 * target }
        guard needs else { return (volume, false) }
        for a in 0..<3 where a != t { spacing[a] = target }
        var v = volume
        v.data = try v.data.to(.float32)
        return (try v.resampled(toSpacing: spacing, interpolation: .cubic), true)
    }

    /// How the main job gets its model.
    public enum Method {
        /// A trained model as it is.
        case pretrained(ModelFile)
        /// A pretrained one-channel model, fine-tuned on the scan first (a copy: the file is untouched).
        case adapt(ModelFile, AdaptationSettings)
        /// A model trained from scratch on the scan alone.
        case selfSupervised(AdaptationSettings)
    }

    /// The result of the main job: the volume, what was done, and the per-scan model when one
    /// was trained (to save with `--save-model`).
    public struct Result {
        public var volume: Volume
        public var report: Report
        public var model: any SuperResolutionModel
        public var task: ModelTask
    }

    /// Upsamples with a model. `progress(done, total)` counts slices.
    public static func upsample(_ input: Volume, model file: ModelFile, targetSpacing: Double, options: Options = Options(),
                                progress: (Int, Int) -> Void = { _, _ in }) throws -> (Volume, Report) {
        let r = try run(input, method: .pretrained(file), targetSpacing: targetSpacing, options: options, progress: progress)
        return (r.volume, r.report)
    }

    /// The main job (DESIGN.md "as data flows"): through-plane axis and factor from the spacing,
    /// in-plane resampling to the target, min-max normalization on the model's percentiles (the
    /// part beyond them restored afterwards), per-scan training when asked, the model on the
    /// slices of both in-plane directions, averaged, and the inverse normalization; voxels whose
    /// input neighbourhood is exactly 0 stay 0, and nothing goes below the input's minimum.
    public static func run(_ input: Volume, method: Method, targetSpacing: Double, options: Options = Options(),
                           adaptationProgress: ScanAdaptation.Progress = { _, _, _, _, _ in },
                           progress: (Int, Int) -> Void = { _, _ in }) throws -> Result {
        var given: ModelFile? = nil
        switch method {
        case .pretrained(let file), .adapt(let file, _): given = file
        case .selfSupervised: break
        }
        if let file = given, file.contract.isVolume {
            throw ModelError.invalid("model \(file.name) is a 3-D model restoring volumes on their own grid; run it with Reconstruction.restore (upres upsample --model does)")
        }
        if let file = given, let task = file.task.inPlane {
            throw ModelError.invalid("model \(file.name) restores slices blurred in-plane (x\(task.factor), data.kernel), not thick slices; run it with Reconstruction.restoreInPlane (upres upsample --model does)")
        }
        let (t, f) = try check(input, targetSpacing: targetSpacing)
        // Before any training: a bad setting for after it.
        try requireConsistencyIterations(options)
        // A scan-trained model for a non-integer factor (4.4 mm to 1 mm): the thick-row network at
        // the next integer factor, on voxels of spacing / that factor (0.88 mm), then the result
        // resampled (cubic) onto the target grid, every slice at its world position.
        if Swift.abs(f - f.rounded()) >= 1e-3, let n = Self.workingFactor(for: method, factor: f, spacing: input.spacing[t]) {
            let work = input.spacing[t] / Double(n)
            var inner = method
            if case .selfSupervised(var settings) = method {
                settings.architecture = AdaptationSettings.defaultArchitecture(factor: Double(n))
                inner = .selfSupervised(settings)
            }
            var r = try run(input, method: inner, targetSpacing: work, options: options,
                            adaptationProgress: adaptationProgress, progress: progress)
            let (atTarget, _) = try inPlane(input, axis: t, target: targetSpacing)
            let grid = try outputGrid(of: atTarget, axis: t, factor: f, target: targetSpacing)
            r.volume = try r.volume.resampled(onto: grid, interpolation: .cubic, antiAlias: true, diskOrder: true)
            r.volume.data = try r.volume.data.clamp(min: .double(try input.data.min().item()))
            try zeroBackground(r.volume.data, of: atTarget, positions: try slicePositions(of: atTarget, on: grid, axis: t), axis: t)
            r.report.factor = f
            r.report.inPlaneResampled = true
            r.report.workingSpacing = work
            return r
        }
        var model: any SuperResolutionModel
        var task: ModelTask
        switch method {
        case .pretrained(let file), .adapt(let file, _):
            model = file.model
            task = file.task
            var adapting = false
            if case .adapt = method { adapting = true }
            try accepts(file, factor: f, spacing: input.spacing[t], target: targetSpacing, adapting: adapting)
        case .selfSupervised(let settings):
            model = try (settings.architecture ?? AdaptationSettings.defaultArchitecture(factor: f)).makeModel(generator: Generator(seed: settings.seed))
            task = ModelTask(sliceSpacing: input.spacing[t], targetSpacing: targetSpacing, sliceThickness: nil, contrast: "any",
                             clipsIntensities: false, factors: [f, f])
        }
        let (volume, resampledInPlane) = try inPlane(input, axis: t, target: targetSpacing)
        // A clipping model's normalized input; what clipping takes away is recomputed after the
        // model ran (one volume-sized copy fewer while it runs).
        let (normalized, params) = try normalize(volume, percentiles: task.normalizationPercentiles)
        let clipped = task.clips ? try normalized.clamp(min: .double(0), max: .double(1)) : normalized
        var record: AdaptationRecord? = nil
        var estimate: SliceThicknessEstimator.Estimate? = nil
        func adaptModel(_ m: inout any SuperResolutionModel, _ settings: AdaptationSettings) throws
            -> (AdaptationRecord, SliceThicknessEstimator.Estimate?) {
            if case .adapt(let file, _) = method {
                // Fine-tune a copy: the loaded model file stays as it was.
                let copy = try file.spec.makeModel()
                try copy.loadStateDict(file.model.stateDict(), source: file.url.path)
                m = copy
            }
            var est: SliceThicknessEstimator.Estimate? = nil
            let thickness: Double
            if let given = settings.sliceThickness {
                thickness = given
            } else {
                est = try SliceThicknessEstimator.estimate(clipped, axis: t, spacing: input.spacing[t], inPlaneVoxel: targetSpacing,
                                                          profile: settings.profile)
                thickness = est!.thickness
            }
            let acquisition = SliceAcquisition(direction: .voxelAxis(t), thickness: thickness, spacing: input.spacing[t], profile: settings.profile)
            // The noise level in the scan's units (given, or estimated from the scan's background
            // before normalization shifts it), in the normalized units trained on; the record
            // keeps the scan's units.
            var trainingSettings = settings
            switch settings.noise {
            case .sigma(let s): trainingSettings.noise = .sigma(s / params.scale)
            case .estimate where m.contract.fixedFactor != nil:
                trainingSettings.noise = .sigma(try NoiseModel.backgroundSigma(of: volume.data) / params.scale)
            case .estimate: trainingSettings.noise = .sigma(0)  // grid models take no matched noise
            }
            var rec = try ScanAdaptation.train(m, scan: clipped, axis: t, voxelSize: targetSpacing, acquisition: acquisition,
                                               thicknessAssumed: est.map { !$0.plausible } ?? false,
                                               settings: trainingSettings, progress: adaptationProgress)
            rec.noiseSigma = rec.noiseSigma.map { $0 * params.scale }
            if case .adapt(let file, _) = method {
                rec.baseModel = file.name
                rec.baseModelSHA256 = file.sha256
            }
            task.sliceThickness = thickness
            task.sliceSpacing = input.spacing[t]
            task.factors = [f, f]
            task.adaptation = rec
            return (rec, est)
        }
        switch method {
        case .adapt(_, let s), .selfSupervised(let s): (record, estimate) = try adaptModel(&model, s)
        case .pretrained: break
        }

        // Data consistency's acquisition, refused before the model runs when asked for and unknown.
        let plan = try consistencyPlan(task: task, record: record, options: options)

        model.eval()
        let grid = try outputGrid(of: volume, axis: t, factor: f, target: targetSpacing)
        let channels = model.contract.channels
        // The other contrasts of a fusing model, each normalized on its own percentiles.
        let names = task.inputContrasts ?? [task.contrast]
        guard options.contrasts.count == task.contrastCount - 1 else {
            throw ModelError.invalid(task.contrastCount > 1
                ? "the model fuses \(names.joined(separator: ", ")): give the scan's \(names.dropFirst().joined(separator: ", ")) too (\(options.contrasts.count) given)"
                : "the model takes one contrast (\(task.contrast)); \(options.contrasts.count) other contrasts were given")
        }
        var extras: [Tensor] = []
        for (c, name) in zip(options.contrasts, names.dropFirst()) {
            guard c.shape == input.shape, c.affine.maxDifference(input.affine) < 1e-3 else {
                throw ModelError.invalid("the \(name) volume (shape \(c.shape)) is not on the scan's grid (\(input.shape)); co-register and resample it first")
            }
            let n = try normalize(try inPlane(c, axis: t, target: targetSpacing).0, percentiles: task.normalizationPercentiles).0
            extras.append(task.clips ? try n.clamp(min: .double(0), max: .double(1)) : n)
        }
        // The model's input: thick slices, or the slices interpolated (cubic) onto the output grid.
        let xs: [Tensor] = try ([clipped] + extras).map { data in
            if case .thickSlices = model.contract { return try data.to(.float32).to(options.device) }
            var v = volume
            v.data = data
            return try v.resampled(onto: grid, interpolation: .cubic, antiAlias: false).data.to(.float32).to(options.device)
        }
        let x = xs[0]
        let inPlaneAxes = (0..<3).filter { $0 != t }
        let rows = x.shape[t]
        let widest = inPlaneAxes.map { volume.shape[$0] }.max()!
        let perSlice = model.memoryPerSlice(rows: rows, width: widest)
        // Batches small enough that one call's activations stay near the cache (96 MB by the
        // model's estimate): 16 slices of Colin 27 (6.3 s against 11.7 s with 64), one slice of
        // 512 x 200 rows (37.7 s against 55.2 s with 11 on a 64 x 512 x 200 scan).
        let batch = Swift.max(1, options.batch ?? Swift.min(16, (96 << 20) / Swift.max(perSlice, 1),
                                                            options.memoryBudget / Swift.max(perSlice, 1)))
        guard !options.directions.isEmpty, Set(options.directions).isSubset(of: [0, 1]), Set(options.directions).count == options.directions.count else {
            throw ModelError.invalid("directions \(options.directions) must be 0, 1 or both")
        }
        let total = options.directions.map { volume.shape[inPlaneAxes[$0]] }.reduce(0, +)
        let contextCount = model.configuration.contextFeatures
        if let c = options.context {
            guard c.count == contextCount, c.allSatisfy(\.isFinite) else {
                throw ModelError.invalid("the context has \(c.count) subject features; \(model.architecture) takes \(contextCount)")
            }
        }
        /// Conditioned models see each slice's position along the axis it is cut across (0 to 1).
        func conditioning(start: Int, count n: Int, depth: Int) throws -> Conditioning {
            guard model is any ConditionedModel else { return Conditioning() }
            let positions = (0..<n).map { Double(start + $0) / Double(Swift.max(depth - 1, 1)) }
            let features = try options.context.map { f in try Tensor(Array((0..<n).map { _ in f }.joined()), shape: [n, f.count]).to(.float32).to(options.device) }
            return Conditioning(features: features, position: try Tensor(positions, shape: [n]).to(.float32).to(options.device))
        }
        var done = 0
        // One output buffer in NIfTI's disk order (i fastest), so that neither the fusion nor the
        // writer copies the high-resolution volume: each batch is added into its place, then the
        // buffer is scaled in place.
        let outShape = grid.shape
        let buffer = try Tensor.zeros([outShape[2], outShape[1], outShape[0]], dtype: .float32, device: options.device)
        let sum = try buffer.permute([2, 1, 0])  // (i, j, k) view
        let neighbours = channels / xs.count
        // Columns of a slice that are 0 in the input all along the slice axis come out exactly 0
        // (`zeroBackground`), so the model runs only on the columns between the first and last
        // non-zero ones of each batch, with its receptive radius as margin: air around the head
        // costs nothing, and the output is the same.
        let hasZeros = try volume.data.eq(0).any().itemBool()
        let margin = model.receptiveRadius + 1
        var lastRelease = Date()
        try withNoGrad {
            for (i, a) in inPlaneAxes.enumerated() where options.directions.contains(i) {
                let other = inPlaneAxes[1 - i]
                // (D, W, R) with D the slicing axis, W the other in-plane axis, R the rows.
                // A view: each batch gathers its own slices, so no volume-sized copy is made.
                let stacks = try xs.map { try $0.permute([a, other, t]) }
                let stack = stacks[0]
                let target = try sum.permute([a, other, t])
                let raw = try volume.data.permute([a, other, t])
                let depth = stack.shape[0]
                var start = 0
                while start < depth {
                    let n = Swift.min(batch, depth - start)
                    // The batch's occupied columns, widened by the margin; none: nothing to do.
                    var (w0, width) = (0, stack.shape[1])
                    if hasZeros {
                        // Columns with a non-zero input voxel in any of the batch's slices.
                        let columns = try raw.narrow(0, start: start, length: n).ne(0).sum(dims: [0, 2]).gt(0).nonzero().reshape([-1]).toArray(Int64.self)
                        if let first = columns.first, let last = columns.last {
                            w0 = Swift.max(0, Int(first) - margin)
                            width = Swift.min(stack.shape[1], Int(last) + 1 + margin) - w0
                        } else {
                            width = 0
                        }
                    }
                    if width > 0 {
                        let input = try sliceBatch(stacks.map { try $0.narrow(1, start: w0, length: width) }, start: start, count: n,
                                                   neighbours: neighbours)
                        var out = try model(input, conditioning: conditioning(start: start, count: n, depth: depth))  // n, 1, R', w
                        if options.testTimeFlips {
                            // The slices mirrored across their width, reconstructed and mirrored back.
                            let mirrored = try model(input.flip([3]), conditioning: conditioning(start: start, count: n, depth: depth)).flip([3])
                            out = try (out + mirrored) * 0.5
                        }
                        _ = try target.narrow(0, start: start, length: n).narrow(1, start: w0, length: width).add_(out.squeeze(1).transpose(1, 2))
                    }
                    start += n
                    done += n
                    // Freed activations go back to the system every 2 s: a 512 x 512 x 200 scan
                    // peaked at 2.52 GiB in 249 s, against 3.29 GiB in 237 s without and 2.29
                    // GiB in 287 s after every batch (bench/upsample-large's input).
                    if Date().timeIntervalSince(lastRelease) > 2 {
                        TorchRuntime.releaseFreedMemory()
                        lastRelease = Date()
                    }
                    progress(done, total)
                }
            }
        }
        _ = try buffer.mul_(.double(1 / Double(options.directions.count)))
        // The rest works through the output slab by slab (a few tens of MB at a time), so that a
        // large scan's output is the only volume-sized buffer: every output slice's input
        // position along the slice axis (the grids differ only there), and input-sized tensors
        // lifted onto each slab by 1-D operators along that axis.
        let positions = try slicePositions(of: volume, on: grid, axis: t)
        // What clipping took away comes back through the model's own base interpolation.
        if task.clips {
            // The part of the normalized input outside [0, 1], made slab by slab from the input.
            func excess(_ x: Tensor) throws -> Tensor {
                let n = try params.apply(x.to(.float32))
                return try n - n.clamp(min: .double(0), max: .double(1))
            }
            if try volume.data.lt(params.offset).any().itemBool() || volume.data.gt(params.offset + params.scale).any().itemBool() {
                let op: Tensor
                if case .thickSlices = model.contract {
                    let last = Double(volume.shape[t] - 1)
                    op = try Interpolation.linear.axisMatrix(positions: positions.map { Swift.min(Swift.max($0, 0), last) }, n: volume.shape[t])
                } else {
                    op = try Interpolation.cubic.axisMatrix(positions: positions, n: volume.shape[t])
                }
                let o = try op.to(.float32)
                try forEachSlab(of: sum) { slab, range in
                    _ = try slab.add_(try lifted(volume.data, o, axis: t, slab: range, excess).to(options.device))
                }
            }
        }
        // y = mean * scale + offset, in place.
        _ = try buffer.mul_(.double(params.scale))
        _ = try buffer.add_(Tensor.full([], .double(params.offset), dtype: .float32, device: options.device))
        // The output acquired again equals the scan (data consistency), when the acquisition is known.
        var consistency: ConsistencyRecord? = nil
        if let plan {
            // The scan's noise: what per-scan training matched (given or estimated), else estimated
            // from the background air as it would have been.
            let noise = try record?.noiseSigma ?? NoiseModel.backgroundSigma(of: volume.data)
            consistency = try enforceConsistency(sum, observed: volume.data, positions: positions, axis: t, thickness: plan.thickness,
                                                 profile: plan.profile, outputSpacing: grid.affine.spacing[t], iterations: plan.iterations,
                                                 noise: noise, headAbove: params.offset + 0.1 * params.scale)
        }
        // Nothing below the input's minimum (MRI magnitudes: no negative values), and exact zeros
        // where every input voxel around is 0 (the background stays 0).
        let lowest = try volume.data.min().item()
        _ = try buffer.clamp_(min: .double(lowest))
        try zeroBackground(sum, of: volume, positions: positions, axis: t)
        let data = try sum.to(.cpu)
        var out = Volume(data: data, affine: grid.affine, metadata: input.metadata)
        out.metadata.description = "upres upsample"
        var report = Report(throughPlaneAxis: t, factor: f, inPlaneResampled: resampledInPlane, normalization: params, batch: batch,
                            slices: total, adaptation: record, thicknessEstimate: estimate)
        report.consistency = consistency
        return Result(volume: out, report: report, model: model, task: task)
    }

    /// The model's input for slices start ..< start + count of (D, W, R) stacks (one per
    /// contrast; D the slicing axis, R the rows along the slice axis): (count, C, R, W) with, for
    /// each contrast in turn, `neighbours` channels, channel c being slice start + j + c -
    /// neighbours / 2; neighbours beyond the edges repeat the edge slice.
    static func sliceBatch(_ stacks: [Tensor], start: Int, count n: Int, neighbours: Int) throws -> Tensor {
        let half = neighbours / 2
        let channels = try stacks.flatMap { s -> [Tensor] in
            let depth = s.shape[0]
            return try (0..<neighbours).map { c -> Tensor in
                if c == half { return try s.narrow(0, start: start, length: n) }
                let slices = (0..<n).map { Int64(Swift.min(Swift.max(start + $0 + c - half, 0), depth - 1)) }
                return try s.indexSelect(0, Tensor(slices, shape: [n]))
            }
        }
        return try Tensor.stack(channels, dim: 1).transpose(2, 3).contiguous()
    }

    /// The input voxel position along the slice axis `t` of every output slice of `grid` (which
    /// differs from the volume's grid only along `t`).
    static func slicePositions(of volume: Volume, on grid: Grid, axis t: Int) throws -> [Double] {
        guard let inverse = volume.affine.inverse() else { throw ModelError.invalid("the input's affine is singular") }
        let m = inverse * grid.affine
        return (0..<grid.shape[t]).map { m[t, t] * Double($0) + m[t, 3] }
    }

    /// `body` on consecutive slabs of an (i, j, k) output along k (contiguous in NIfTI's disk
    /// order), about 32 MB each.
    static func forEachSlab(of out: Tensor, _ body: (Tensor, Range<Int>) throws -> Void) throws {
        let depth = out.shape[2]
        let step = Swift.max(1, (8 << 20) / Swift.max(1, out.shape[0] * out.shape[1]))
        var k = 0
        while k < depth {
            let n = Swift.min(step, depth - k)
            try body(try out.narrow(2, start: k, length: n), k..<(k + n))
            k += n
        }
    }

    /// `transform` of the input-sized (i, j, k) tensor `x`, taken along the slice axis `t` through
    /// `op` (output slices x input slices), for the output slab `slab` along k only: the transform
    /// runs on the input voxels that slab needs, never on the whole volume.
    static func lifted(_ x: Tensor, _ op: Tensor, axis t: Int, slab: Range<Int>, _ transform: (Tensor) throws -> Tensor) throws -> Tensor {
        guard t == 2 else {
            return try transform(x.narrow(2, start: slab.lowerBound, length: slab.count)).applyingAxisOperator(op, axis: t)
        }
        // The input slices the slab's rows of the operator touch.
        let rows = try op.narrow(0, start: slab.lowerBound, length: slab.count)
        let used = try rows.ne(0).sum(dim: 0).gt(0).nonzero().reshape([-1]).toArray(Int64.self)
        guard let first = used.first.map(Int.init), let last = used.last.map(Int.init) else {
            var shape = x.shape
            shape[2] = slab.count
            return try Tensor.zeros(shape, dtype: .float32)
        }
        return try transform(x.narrow(2, start: first, length: last - first + 1))
            .applyingAxisOperator(rows.narrow(1, start: first, length: last - first + 1), axis: 2)
    }

    /// Sets to exactly 0 the voxels of `out` (on the output grid, slices at input `positions` along
    /// `t`) where every input voxel around is 0: where the linear interpolation of the input's
    /// zero indicator is 1. Nothing to do when the input has no zero voxel.
    static func zeroBackground(_ out: Tensor, of volume: Volume, positions: [Double], axis t: Int) throws {
        guard try volume.data.eq(0).any().itemBool() else { return }
        let op = try Interpolation.linear.axisMatrix(positions: positions, n: volume.shape[t]).to(.float32)
        try forEachSlab(of: out) { slab, range in
            let keep = try lifted(volume.data, op, axis: t, slab: range) { try $0.eq(0).to(.float32) }.lt(1 - 1e-5).to(.float32)
            _ = try slab.mul_(keep.to(slab.device))
        }
    }

    /// Refuses a model that cannot serve this factor or target, naming both.
    static func accepts(_ file: ModelFile, factor f: Double, spacing: Double, target: Double, adapting: Bool = false) throws {
        // A model being adapted is a starting point: the scan's own pairs fit it to this voxel size.
        guard adapting || Swift.abs(file.task.targetSpacing - target) < 1e-3 else {
            throw ModelError.invalid("model \(file.name) reconstructs \(file.task.targetSpacing) mm voxels, not \(target) mm; use --spacing \(file.task.targetSpacing), another model, --self-supervised or --interp")
        }
        let groups = file.task.contrastCount
        guard file.contract.channels % groups == 0, (file.contract.channels / groups) % 2 == 1 else {
            throw ModelError.invalid("\(file.url.path): the model takes \(file.contract.channels) channels for \(groups) contrast\(groups == 1 ? "" : "s"); upsample needs an odd number per contrast (a slice and its neighbours)")
        }
        switch file.contract {
        case .thickSlices(_, let factor):
            guard Swift.abs(f - Double(factor)) < 1e-3 else {
                throw ModelError.invalid(String(format: "the slice spacing %.3g mm / target %.3g mm = factor %.3g, but model %@ reconstructs factor %d (%.3g mm -> %.3g mm); use a model for any factor, --self-supervised, or --interp",
                                                spacing, target, f, file.name, factor, file.task.sliceSpacing, file.task.targetSpacing))
            }
        case .volume:
            throw ModelError.invalid("model \(file.name) is a 3-D model restoring volumes on their own grid (\(file.task.targetSpacing) mm voxels), not a thick-slice reconstruction; give it an input already at \(file.task.targetSpacing) mm")
        case .outputGrid:
            if !adapting, let range = file.task.factors, range.count == 2, !(range[0] - 1e-3...range[1] + 1e-3).contains(f) {
                throw ModelError.invalid(String(format: "the slice spacing %.3g mm / target %.3g mm = factor %.3g is outside the factors %.3g to %.3g model %@ was trained for; use --adapt, --self-supervised or --interp",
                                                spacing, target, f, range[0], range[1], file.name))
            }
        }
    }

    /// Min-max on the model's percentiles, without clipping (the caller clips a copy when the
    /// model wants it); an image without contrast there (a constant image) is shifted to 0.5
    /// instead, in its own units.
    static func normalize(_ volume: Volume, percentiles p: [Double]) throws -> (Tensor, NormalizationParameters) {
        let bounds = try Percentiles.compute(volume.data, [p[0], p[1]])
        let params: NormalizationParameters
        if bounds[1] > bounds[0] {
            params = NormalizationParameters(method: "percentile-min-max", offset: bounds[0], scale: bounds[1] - bounds[0], percentiles: p)
        } else {
            params = NormalizationParameters(method: "shift", offset: bounds[0] - 0.5, scale: 1, percentiles: p)
        }
        return (try params.apply(volume.data.to(.float32)), params)
    }

    /// The interpolation baseline on the same output grid as the model.
    public static func interpolate(_ input: Volume, method: Interpolation, targetSpacing: Double) throws -> Volume {
        let (t, f) = try check(input, targetSpacing: targetSpacing, sliceAxisRequired: false)
        let (volume, _) = try inPlane(input, axis: t, target: targetSpacing)
        let grid = try outputGrid(of: volume, axis: t, factor: f, target: targetSpacing)
        var v = volume
        v.data = try v.data.to(.float32)
        var out = try v.resampled(onto: grid, interpolation: method, antiAlias: false, diskOrder: true)
        out.metadata.description = "upres upsample --interp \(method)"
        return out
    }
}

extension Reconstruction {
    /// The shipped one-channel model for integer factor `factor`, trained on MNI152 with random
    /// tissue contrasts: the starting point of `--adapt` without `--model`.
    public static func defaultModelName(factor: Int) -> String { "any-contrast-x\(factor)" }
    /// The default mode's bounds on the scan: steps, and minutes as a safety stop.
    public static let defaultAdaptationSteps = 7000
    public static let defaultAdaptationMinutes = 2.75

    /// The default mode (no --model, no mode flag): a model trained from scratch on the scan.
    /// Measured on the project's test scans (bench/quality), it matched or beat adapting the
    /// MNI152-trained models at the same time budget, and it needs no model for the factor.
    public static func defaultMethod(_ input: Volume, targetSpacing: Double, settings: AdaptationSettings) throws -> Method {
        _ = try check(input, targetSpacing: targetSpacing)
        var s = settings
        s.mode = .selfSupervised
        return .selfSupervised(s)
    }

    /// The shipped model `--adapt` starts from when no `--model` is given: the one for the scan's
    /// factor (the next integer factor above a non-integer one).
    public static func adaptationModel(for input: Volume, targetSpacing: Double) throws -> ModelFile {
        let (_, f) = try check(input, targetSpacing: targetSpacing)
        let n = Int((f - 1e-3).rounded(.up))
        let name = defaultModelName(factor: n)
        guard let url = try? ModelFile.resolve(name) else {
            throw ModelError.invalid("no shipped model for factor \(n) (\(name)) to adapt; give --model, or use --self-supervised")
        }
        return try ModelFile.load(url)
    }

    /// For a non-integer factor, the integer factor a thick-slice network works at (on voxels of
    /// spacing / n), or nil when the method's model works on the output grid.
    static func workingFactor(for method: Method, factor f: Double, spacing: Double) -> Int? {
        let n = Int(f.rounded(.up))
        switch method {
        case .selfSupervised(let s):
            if let a = s.architecture { return a.contract.fixedFactor }
            return n
        case .adapt(let file, _):
            return file.contract.fixedFactor
        case .pretrained(let file):
            // Applied as trained: a model saved from a scan of this protocol (4.4 mm slices, factor
            // 5 on 0.88 mm voxels) works this way again; any other is refused by its own checks.
            guard let m = file.contract.fixedFactor, m == n, Swift.abs(file.task.sliceSpacing - spacing) < 1e-3,
                  Swift.abs(file.task.targetSpacing - spacing / Double(n)) < 1e-3 else { return nil }
            return m
        }
    }
}
