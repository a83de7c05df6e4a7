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

    public struct Options: Sendable {
        public var batch: Int?
        /// Memory for activations (bytes) when `batch` is nil.
        public var memoryBudget: Int
        public var device: Device
        public init(batch: Int? = nil, memoryBudget: Int = 1 << 30, device: Device = .cpu) {
            self.batch = batch
            self.memoryBudget = memoryBudget
            self.device = device
        }
    }

    /// What one reconstruction did (for sidecars).
    public struct Report: Codable, Sendable {
        public var throughPlaneAxis: Int
        public var factor: Int
        public var inPlaneResampled: Bool
        public var normalization: NormalizationParameters
        public var batch: Int
        public var slices: Int
    }

    /// Checks an input for the main job; the error names the problem.
    public static func check(_ volume: Volume, targetSpacing: Double) throws -> (axis: Int, factor: Double) {
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
        let spacing = volume.spacing
        let t = throughPlaneAxis(spacing: spacing) ?? (0..<3).max { spacing[$0] < spacing[$1] }!
        guard spacing[t] > targetSpacing * 1.01 else {
            throw AlreadyAtTarget(spacing: spacing, target: targetSpacing)
        }
        return (t, spacing[t] / targetSpacing)
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

    /// Upsamples with a model. `progress(done, total)` counts slices.
    public static func upsample(_ input: Volume, model file: ModelFile, targetSpacing: Double, options: Options = Options(),
                                progress: (Int, Int) -> Void = { _, _ in }) throws -> (Volume, Report) {
        let (t, f) = try check(input, targetSpacing: targetSpacing)
        let factor = Int(f.rounded())
        guard Swift.abs(f - Double(factor)) < 1e-3, factor == file.config.factor else {
            throw ModelError.invalid(String(format: "the slice spacing %.3g mm / target %.3g mm = factor %.3g, but model %@ reconstructs factor %d (%.3g mm -> %.3g mm); use --interp for other factors",
                                            input.spacing[t], targetSpacing, f, file.url.deletingLastPathComponent().lastPathComponent,
                                            file.config.factor, file.task.sliceSpacing, file.task.targetSpacing))
        }
        guard Swift.abs(file.task.targetSpacing - targetSpacing) < 1e-3 else {
            throw ModelError.invalid("the model reconstructs \(file.task.targetSpacing) mm voxels, not \(targetSpacing) mm; use --spacing \(file.task.targetSpacing) or --interp")
        }
        guard file.config.outChannels == 1, file.config.inChannels % 2 == 1 else {
            throw ModelError.invalid("\(file.url.path): the model takes \(file.config.inChannels) channels and gives \(file.config.outChannels); upsample needs one contrast in and out")
        }
        let (volume, resampledInPlane) = try inPlane(input, axis: t, target: targetSpacing)
        let p = file.task.normalizationPercentiles
        let (normalized, params) = try normalize(volume, percentiles: p)
        let x = try normalized.data.to(.float32).to(options.device)
        let model = file.model
        model.eval()
        let inPlaneAxes = (0..<3).filter { $0 != t }
        let k = volume.shape[t]
        // Activations per slice: about 4 feature maps of features x rows x width, plus the
        // upsampler's output at factor x rows.
        let widest = inPlaneAxes.map { volume.shape[$0] }.max()!
        let perSlice = 4 * (4 * file.config.features * k * widest + 2 * file.config.upsampleFeatures * factor * k * widest)
        // Batches of 16 slices keep the working set in cache (6.3 s against 11.7 s with 64 for Colin 27).
        let batch = Swift.max(1, options.batch ?? Swift.min(16, options.memoryBudget / Swift.max(perSlice, 1)))
        let total = volume.shape[inPlaneAxes[0]] + volume.shape[inPlaneAxes[1]]
        var done = 0
        // One output buffer, laid out in NIfTI's disk order (i fastest), so that neither the
        // fusion nor the writer copies the high-resolution volume: each batch is added into its
        // place, then scaled in place (average of the two directions, inverse normalization).
        var outShape = volume.shape
        outShape[t] *= factor
        let buffer = try Tensor.zeros([outShape[2], outShape[1], outShape[0]], dtype: .float32, device: options.device)
        let sum = try buffer.permute([2, 1, 0])  // (i, j, k) view
        let half = file.config.inChannels / 2
        try withNoGrad {
            for (i, a) in inPlaneAxes.enumerated() {
                let other = inPlaneAxes[1 - i]
                // (D, W, K) with D the slicing axis, W the other in-plane axis, K the slices.
                let stack = try x.permute([a, other, t]).contiguous()
                let target = try sum.permute([a, other, t])  // D, W, fK view of the buffer
                let depth = stack.shape[0]
                // Neighbours beyond the edges repeat the edge slice.
                let padded = try Tensor.cat([stack.narrow(0, start: 0, length: 1).expand([half, stack.shape[1], k]), stack,
                                             stack.narrow(0, start: depth - 1, length: 1).expand([half, stack.shape[1], k])], dim: 0)
                var start = 0
                while start < depth {
                    let n = Swift.min(batch, depth - start)
                    // (n, C, K, W): channel c is slice start + j + c - half.
                    let channels = try (0...(2 * half)).map { c in try padded.narrow(0, start: start + c, length: n) }
                    let input = try Tensor.stack(channels, dim: 1).transpose(2, 3).contiguous()  // n, C, K, W
                    let out = try model(input)  // n, 1, fK, W
                    _ = try target.narrow(0, start: start, length: n).add_(out.squeeze(1).transpose(1, 2))  // n, W, fK
                    start += n
                    done += n
                    progress(done, total)
                }
            }
        }
        // y = (sum / 2) * scale + offset, in place.
        _ = try buffer.mul_(.double(params.scale / 2))
        _ = try buffer.add_(Tensor.full([], .double(params.offset), dtype: .float32, device: options.device))
        let data = try sum.to(.cpu)
        let grid = outputGrid(of: volume, axis: t, factor: factor)
        var out = Volume(data: data, affine: grid.affine, metadata: input.metadata)
        out.metadata.description = "upres upsample"
        return (out, Report(throughPlaneAxis: t, factor: factor, inPlaneResampled: resampledInPlane, normalization: params,
                            batch: batch, slices: total))
    }

    /// Clipped min-max on the model's percentiles; an image without contrast there (a
    /// constant image) is shifted to 0.5 instead, in its own units.
    static func normalize(_ volume: Volume, percentiles p: [Double]) throws -> (Volume, NormalizationParameters) {
        let bounds = try Percentiles.compute(volume.data, [p[0], p[1]])
        if bounds[1] > bounds[0] { return try volume.normalized(.clippedMinMax(lower: p[0], upper: p[1])) }
        let params = NormalizationParameters(method: "shift", offset: bounds[0] - 0.5, scale: 1, clipLow: nil, clipHigh: nil,
                                             percentiles: p)
        var v = volume
        v.data = try params.apply(volume.data)
        return (v, params)
    }

    /// The interpolation baseline on the same output grid as the model.
    public static func interpolate(_ input: Volume, method: Interpolation, targetSpacing: Double) throws -> Volume {
        let (t, f) = try check(input, targetSpacing: targetSpacing)
        let (volume, _) = try inPlane(input, axis: t, target: targetSpacing)
        let factor = Int(f.rounded())
        let grid: Grid
        if Swift.abs(f - Double(factor)) < 1e-3 {
            grid = outputGrid(of: volume, axis: t, factor: factor)
        } else {
            var spacing = volume.spacing
            spacing[t] = targetSpacing
            grid = try volume.grid(spacing: spacing)
        }
        var v = volume
        v.data = try v.data.to(.float32)
        var out = try v.resampled(onto: grid, interpolation: method, antiAlias: false)
        out.metadata.description = "upres upsample --interp \(method)"
        return out
    }
}
