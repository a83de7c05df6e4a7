import Foundation
import Imaging
import NN
import Torch

/// What a network did, as volumes on the reconstruction's grid (`upres explain`): where seed
/// 000's attention gates let the skip features through, where a critic finds the output
/// unrealistic (GradCAM), and where reconstructions disagree (a first uncertainty signal).
public enum Explanation {
    /// A model's two in-plane directions reconstructed apart: their mean, and |a - b| (`kind`
    /// "directions"); or an in-plane model's slices restored as they are and mirrored (`kind`
    /// "flips").
    public struct DirectionComparison {
        public var reconstruction: Volume
        public var disagreement: Volume
        public var report: Reconstruction.Report
        public var kind: String
    }

    /// What `upres explain` compares: the first model's reconstruction with its own disagreement
    /// map (`directions`, or `flips` for an in-plane model), and each other model's reconstruction
    /// of the same scan. The models must do one job: all restore slices blurred in-plane
    /// (`data.kernel`), at their own target spacing, or all reconstruct thick slices.
    public static func compare(_ input: Volume, models: [ModelFile], targetSpacing: Double,
                               progress: (String) -> Void = { _ in }) throws -> (first: DirectionComparison, others: [Volume]) {
        guard let head = models.first else { throw ModelError.invalid("explain needs at least one model") }
        let inPlane = head.task.inPlane != nil
        if let other = models.first(where: { ($0.task.inPlane != nil) != inPlane }) {
            throw ModelError.invalid("\(head.name) and \(other.name) do different jobs (one restores slices blurred in-plane, the other thick slices); explain models of one kind together")
        }
        if inPlane, let other = models.first(where: { Swift.abs($0.task.targetSpacing - targetSpacing) > 1e-3 }) {
            throw ModelError.invalid("in-plane model \(other.name) restores to \(other.task.targetSpacing) mm, not the \(targetSpacing) mm asked for")
        }
        progress(inPlane ? "restoring with \(head.name), as it is and mirrored" : "reconstructing with \(head.name), one in-plane direction at a time")
        let first = inPlane ? try flips(input, model: head) : try directions(input, model: head, targetSpacing: targetSpacing)
        var others: [Volume] = []
        for m in models.dropFirst() {
            progress("reconstructing with \(m.name)")
            others.append(inPlane ? try Reconstruction.restoreInPlane(input, model: m).0
                                  : try Reconstruction.upsample(input, model: m, targetSpacing: targetSpacing).0)
        }
        return (first, others)
    }

    /// The reconstructions from the slices across each in-plane axis alone (the main job averages
    /// them), their mean, and their absolute difference per voxel, in the image's units. When the
    /// main job would make its output consistent with the scan (`Reconstruction.consistencyPlan`),
    /// the directions are compared before it, and the reconstruction is the main job's own (a
    /// third pass of the model: the consistency step depends on the residual's size, so it does
    /// not commute with the average).
    public static func directions(_ input: Volume, model: ModelFile, targetSpacing: Double,
                                  options: Reconstruction.Options = Reconstruction.Options()) throws -> DirectionComparison {
        var o = options
        o.consistency = 0
        o.directions = [0]
        var (a, report) = try Reconstruction.upsample(input, model: model, targetSpacing: targetSpacing, options: o)
        o.directions = [1]
        let (b, _) = try Reconstruction.upsample(input, model: model, targetSpacing: targetSpacing, options: o)
        var mean = a, difference = a
        if try Reconstruction.consistencyPlan(task: model.task, record: nil, options: options) != nil {
            var both = options
            both.directions = [0, 1]
            (mean, report) = try Reconstruction.upsample(input, model: model, targetSpacing: targetSpacing, options: both)
        } else {
            mean.data = try (a.data + b.data) * 0.5
        }
        mean.metadata.description = "upres explain: mean of the two directions"
        difference.data = try (a.data - b.data).abs()
        difference.metadata.description = "upres explain: |direction 1 - direction 2|"
        return DirectionComparison(reconstruction: mean, disagreement: difference, report: report, kind: "directions")
    }

    /// An in-plane model's restoration (`Reconstruction.restoreInPlane`, what `upres upsample
    /// --model` gives) and how far it moves when the slices are mirrored across their width
    /// before the model and back after: |plain - mirrored| per voxel, in the image's units (up to
    /// the clamp at the input's minimum), from two passes of the model. The model trained on
    /// flipped pairs, so both are its answer; where they differ, the answer depends on the side
    /// the anatomy came from. An in-plane model restores each slice once, so it has no second
    /// direction to compare.
    public static func flips(_ input: Volume, model: ModelFile,
                             options: Reconstruction.Options = Reconstruction.Options()) throws -> DirectionComparison {
        let (plain, report) = try Reconstruction.restoreInPlane(input, model: model, options: options, pass: .plain)
        let (mirrored, _) = try Reconstruction.restoreInPlane(input, model: model, options: options, pass: .mirrored)
        var difference = plain
        difference.data = try (plain.data - mirrored.data).abs()
        difference.metadata.description = "upres explain: |plain - mirrored slices|"
        return DirectionComparison(reconstruction: plain, disagreement: difference, report: report, kind: "flips")
    }

    /// The per-voxel standard deviation (population) across reconstructions of one scan on one
    /// grid, e.g. by different models.
    public static func disagreement(_ outputs: [Volume]) throws -> Volume {
        guard outputs.count >= 2 else { throw ModelError.invalid("disagreement needs at least two reconstructions, got \(outputs.count)") }
        for o in outputs.dropFirst() where o.shape != outputs[0].shape || o.affine.maxDifference(outputs[0].affine) > 1e-4 {
            throw ModelError.invalid("the reconstructions are on different grids (\(outputs[0].shape) and \(o.shape)); compare reconstructions of one scan at one spacing")
        }
        let stack = try Tensor.stack(outputs.map { try $0.data.to(.float32) }, dim: 0)
        let mean = try stack.mean(dim: 0, keepdim: true)
        var out = outputs[0]
        out.data = try (stack - mean).square().mean(dim: 0).sqrt()
        out.metadata.description = "upres explain: SD across \(outputs.count) reconstructions"
        return out
    }

    /// Whether a model has attention gates to draw (`attention(_:model:level:...)`).
    public static func hasAttentionGates(_ file: ModelFile) -> Bool { file.model is AttentionUNet }

    /// Seed 000's attention coefficients at gate `level` (0: full resolution, the last gate
    /// before the output; coarser levels are upsampled bilinearly), for the through-plane slices
    /// of both directions, averaged, on the reconstruction's grid (for an in-plane model, its
    /// slices across the slice axis, on `Reconstruction.inPlaneGrid`). 1 lets the skip features
    /// through, 0 suppresses them. The model's input is made as the main job makes it.
    public static func attention(_ input: Volume, model file: ModelFile, level: Int, targetSpacing: Double, contrasts: [Volume] = [],
                                 batch: Int = 8) throws -> Volume {
        guard let unet = file.model as? AttentionUNet else {
            throw ModelError.invalid("\(file.name) is an \(file.spec.architecture) model, which has no attention gates; attention maps need an attention-unet model")
        }
        guard (0..<unet.config.depth).contains(level) else {
            throw ModelError.invalid("attention level \(level) does not exist: \(file.name) has gates at levels 0 to \(unet.config.depth - 1)")
        }
        func gate(_ slices: Tensor) throws -> Tensor {
            let alpha = try unet.attentionMaps(slices)[level]
            return level == 0 ? alpha : try alpha.interpolate(size: [slices.shape[2], slices.shape[3]], mode: .bilinear)
        }
        if file.task.inPlane != nil {
            guard contrasts.isEmpty else { throw ModelError.invalid("\(file.name) restores one contrast in-plane; \(contrasts.count + 1) given") }
            let prepared = try Reconstruction.inPlaneInput(input, model: file)
            let map = try withNoGrad { try inPlaneMap(prepared.data, axis: prepared.sliceAxis, batch: batch, gate) }
            var out = Volume(data: map, affine: prepared.grid.affine, metadata: input.metadata)
            out.metadata.description = "upres explain: attention coefficients, gate level \(level)"
            return out
        }
        let (t, f) = try Reconstruction.check(input, targetSpacing: targetSpacing)
        try Reconstruction.accepts(file, factor: f, spacing: input.spacing[t], target: targetSpacing)
        guard contrasts.count == file.task.contrastCount - 1 else {
            throw ModelError.invalid("\(file.name) takes \(file.task.contrastCount) contrasts (\((file.task.inputContrasts ?? [file.task.contrast]).joined(separator: ", "))); \(contrasts.count + 1) given")
        }
        let (volume, _) = try Reconstruction.inPlane(input, axis: t, target: targetSpacing)
        let grid = try Reconstruction.outputGrid(of: volume, axis: t, factor: f, target: targetSpacing)
        // The model's input as the main job makes it: each contrast normalized on its own
        // percentiles, interpolated onto the output grid.
        let xs = try ([input] + contrasts).map { c -> Tensor in
            guard c.shape == input.shape, c.affine.maxDifference(input.affine) < 1e-3 else {
                throw ModelError.invalid("a contrast (shape \(c.shape)) is not on the scan's grid (\(input.shape))")
            }
            var v = try Reconstruction.inPlane(c, axis: t, target: targetSpacing).0
            var (normalized, _) = try Reconstruction.normalize(v, percentiles: file.task.normalizationPercentiles)
            if file.task.clips { normalized = try normalized.clamp(min: .double(0), max: .double(1)) }
            v.data = normalized
            return try v.resampled(onto: grid, interpolation: .cubic, antiAlias: false).data.to(.float32)
        }
        let map = try withNoGrad {
            try throughPlaneMap(xs, axis: t, channels: unet.config.inChannels, batch: batch, gate)
        }
        var out = Volume(data: map, affine: grid.affine, metadata: input.metadata)
        out.metadata.description = "upres explain: attention coefficients, gate level \(level)"
        return out
    }

    /// GradCAM (Selvaraju 2017) of a critic on a reconstruction: for each through-plane slice
    /// (both directions, averaged), the critic's last block's activations weighted by the mean
    /// gradient of minus its score (evidence that the image is generated), summed over channels,
    /// rectified and upsampled to the slice. High where the critic finds the output unrealistic.
    /// Critics with a fixed input size (dcgan) see overlapping tiles of that size, blended with
    /// Hann weights.
    /// `normalization`: the reconstruction's (its report's), so the critic sees the intensities
    /// it was trained on. `inPlane`: the slices across `t` instead (an in-plane model's output,
    /// judged on the slices it restored).
    public static func criticGradCAM(_ output: Volume, critic: any CriticNetwork, axis t: Int, normalization: NormalizationParameters,
                                     inPlane: Bool = false, batch: Int = 8) throws -> Volume {
        guard critic.configuration.inChannels == 1 else {
            throw ModelError.invalid("the critic judges \(critic.configuration.inChannels)-channel images; GradCAM of a reconstruction needs a one-channel critic")
        }
        critic.eval()
        let x = try normalization.apply(output.data.to(.float32))
        let tile = critic.configuration.smallestInputShape
        let fixed = critic.configuration.fixedInputSize, multiple = critic.configuration.sideMultiple
        func cam(_ slices: Tensor) throws -> Tensor {
            let (r, w) = (slices.shape[2], slices.shape[3])
            // Pad to at least the critic's smallest input, and to the multiple of its side it takes
            // without padding inside (which would shift its map against the image).
            var (pr, pw) = (Swift.max(0, tile[2] - r), Swift.max(0, tile[3] - w))
            (pr, pw) = (pr + (multiple - (r + pr) % multiple) % multiple, pw + (multiple - (w + pw) % multiple) % multiple)
            let padded = pr + pw > 0 ? try slices.pad([0, pw, 0, pr]) : slices
            let (R, W) = (padded.shape[2], padded.shape[3])
            guard fixed else { return try gradCAM(critic, padded).narrow(2, start: 0, length: r).narrow(3, start: 0, length: w) }
            // Overlapping tiles (half a tile apart, the last flush with the edge).
            func starts(_ n: Int, _ size: Int) -> [Int] {
                var s = Array(stride(from: 0, through: n - size, by: Swift.max(1, size / 2)))
                if s.last! != n - size { s.append(n - size) }
                return s
            }
            // Each tile's map weighted by a Hann window (sin^2, never 0), so that no tile edge shows.
            func hann(_ n: Int) throws -> Tensor { try Tensor((0..<n).map { pow(sin(Double.pi * (Double($0) + 0.5) / Double(n)), 2) }, shape: [n]).to(.float32) }
            let window = try hann(tile[2]).reshape([1, 1, tile[2], 1]) * hann(tile[3]).reshape([1, 1, 1, tile[3]])
            let sum = try Tensor.zeros([padded.shape[0], 1, R, W]), weight = try Tensor.zeros([1, 1, R, W])
            for i in starts(R, tile[2]) {
                for j in starts(W, tile[3]) {
                    let cam = try gradCAM(critic, padded.narrow(2, start: i, length: tile[2]).narrow(3, start: j, length: tile[3]))
                    _ = try sum.narrow(2, start: i, length: tile[2]).narrow(3, start: j, length: tile[3]).add_(cam * window)
                    _ = try weight.narrow(2, start: i, length: tile[2]).narrow(3, start: j, length: tile[3]).add_(window)
                }
            }
            return try (sum / weight).narrow(2, start: 0, length: r).narrow(3, start: 0, length: w)
        }
        let map = inPlane ? try inPlaneMap(x, axis: t, batch: batch, cam) : try throughPlaneMap([x], axis: t, channels: 1, batch: batch, cam)
        var out = output
        out.data = map
        out.metadata.description = "upres explain: GradCAM of the critic (evidence of a generated image)"
        return out
    }

    /// GradCAM of minus the critic's summed scores on (N, 1, H, W) images: (N, 1, H, W).
    static func gradCAM(_ critic: any CriticNetwork, _ images: Tensor) throws -> Tensor {
        let activations = try critic.features(images).last!
        let evidence = try -critic.scores(fromLastFeatures: activations).sum()
        guard let g = try gradients(of: [evidence], withRespectTo: [activations]).first ?? nil else {
            throw ModelError.invalid("the critic's score does not depend on its last block")
        }
        let weights = try g.mean(dims: [2, 3], keepdim: true)
        let cam = try (activations * weights).sum(dim: 1, keepdim: true).relu()
        return try cam.detach().interpolate(size: [images.shape[2], images.shape[3]], mode: .bilinear)
    }

    /// `body` on batches of the through-plane slices of `xs` (contrasts of one (i, j, k) grid,
    /// slice axis `t`) in both in-plane directions, each batch made as the main job makes it
    /// (`Reconstruction.sliceBatch`); its output (n, 1, R, W) lands on the slices' voxels, and
    /// the two directions are averaged.
    static func throughPlaneMap(_ xs: [Tensor], axis t: Int, channels: Int, batch: Int, _ body: (Tensor) throws -> Tensor) throws -> Tensor {
        let sum = try Tensor.zeros(xs[0].shape, dtype: .float32)
        let inPlaneAxes = (0..<3).filter { $0 != t }
        let neighbours = channels / xs.count
        for (i, a) in inPlaneAxes.enumerated() {
            let stacks = try xs.map { try $0.permute([a, inPlaneAxes[1 - i], t]) }  // (D, W, R)
            let target = try sum.permute([a, inPlaneAxes[1 - i], t])
            let depth = stacks[0].shape[0]
            var start = 0
            while start < depth {
                let n = Swift.min(batch, depth - start)
                let out = try body(Reconstruction.sliceBatch(stacks, start: start, count: n, neighbours: neighbours))
                _ = try target.narrow(0, start: start, length: n).add_(out.detach().squeeze(1).transpose(1, 2))
                start += n
            }
        }
        return try sum * 0.5
    }

    /// `body` on batches of the slices across axis `t` of `x` (rows along the lower-numbered
    /// in-plane axis, as `Reconstruction.restoreInPlane` gives them to the model); its output
    /// (n, 1, H, W) lands on the slices' voxels.
    static func inPlaneMap(_ x: Tensor, axis t: Int, batch: Int, _ body: (Tensor) throws -> Tensor) throws -> Tensor {
        let order = [t] + (0..<3).filter { $0 != t }
        let stack = try x.permute(order)
        let out = try Tensor.zeros(x.shape, dtype: .float32)
        let target = try out.permute(order)
        var start = 0
        while start < stack.shape[0] {
            let n = Swift.min(batch, stack.shape[0] - start)
            let y = try body(stack.narrow(0, start: start, length: n).unsqueeze(1).contiguous())
            _ = try target.narrow(0, start: start, length: n).copy_(y.detach().squeeze(1))
            start += n
        }
        return out
    }
}

extension Explanation {
    /// A map's summary over the head (voxels where `region` is not 0).
    public struct MapSummary: Codable, Sendable {
        public var mean: Double
        public var p95: Double
        public var max: Double
        public var voxels: Int
    }

    public static func summarize(_ map: Volume, region: Volume) throws -> MapSummary {
        guard map.shape == region.shape else { throw ModelError.invalid("map \(map.shape) and region \(region.shape) differ in shape") }
        let values = try map.data.to(.float32).reshape([-1]).maskedSelect(region.data.ne(0).reshape([-1]))
        guard values.count > 0 else { return MapSummary(mean: .nan, p95: .nan, max: .nan, voxels: 0) }
        return MapSummary(mean: try values.mean().item(), p95: try Percentiles.compute(values, [95])[0], max: try values.max().item(), voxels: values.count)
    }
}
