import Foundation
import Imaging
import NN
import Torch

extension Reconstruction {
    /// The grid an in-plane restoration writes: both in-plane axes refined by `factor` with the
    /// through-plane convention of `outputGrid(of:axis:factor:)` (every acquired voxel is an output
    /// voxel, at index factor j + floor(factor / 2)); the slice axis `axis` kept.
    public static func inPlaneGrid(of volume: Volume, sliceAxis axis: Int, factor: Int) -> Grid {
        var index = Affine.identity
        var shape = Array(volume.shape.prefix(3))
        for a in 0..<3 where a != axis {
            index[a, a] = 1 / Double(factor)
            index[a, 3] = -Double(factor / 2) / Double(factor)
            shape[a] *= factor
        }
        return Grid(shape: shape, affine: volume.affine * index)
    }

    /// The slice axis of a scan whose in-plane voxels are `factor` times `target` and whose
    /// through-plane voxels are at `target` (2 % tolerance), or an error naming the spacing found.
    public static func inPlaneSliceAxis(of volume: Volume, factor: Int, target: Double, model: String) throws -> Int {
        let s = volume.spacing
        let axis = (0..<3).min { s[$0] < s[$1] }!
        let inPlane = (0..<3).filter { $0 != axis }
        let close = { (a: Double, b: Double) in Swift.abs(a - b) <= 0.02 * b }
        guard close(s[axis], target), inPlane.allSatisfy({ close(s[$0], Double(factor) * target) }) else {
            throw ModelError.invalid(String(format: "model %@ restores slices of %.3g mm in-plane voxels (x%d) to %.3g mm, with %.3g mm between slices; the input's voxels are %@ mm",
                                            model, Double(factor) * target, factor, target, target,
                                            s.map { String(format: "%.3g", $0) }.joined(separator: " x ")))
        }
        return axis
    }

    /// What an in-plane model sees of a scan: the scan normalized on the model's percentiles
    /// (clipped when the model clips), interpolated (cubic) onto `inPlaneGrid`.
    public struct InPlaneInput {
        /// The model's input on `grid`; `sliceAxis` the axis its slices are taken across.
        public var data: Tensor
        public var grid: Grid
        public var sliceAxis: Int
        public var factor: Int
        public var normalization: NormalizationParameters
        /// (D, H, W): the slices across `sliceAxis`, rows along the lower-numbered in-plane axis,
        /// as the model was trained (a view of `data`).
        public var slices: Tensor { get throws { try data.permute([sliceAxis] + (0..<3).filter { $0 != sliceAxis }) } }
    }

    /// The input `restoreInPlane` gives the model (`upres explain` draws its maps on the same).
    public static func inPlaneInput(_ input: Volume, model file: ModelFile) throws -> InPlaneInput {
        guard let task = file.task.inPlane else {
            throw ModelError.invalid("model \(file.name) was not trained on in-plane kernel pairs (its task has no inPlane)")
        }
        guard file.contract == .outputGrid(channels: 1) else {
            throw ModelError.invalid("model \(file.name) takes \(file.contract); in-plane restoration gives one-channel models slices on the output grid")
        }
        try requireIntensities(input)
        let t = try inPlaneSliceAxis(of: input, factor: task.factor, target: file.task.targetSpacing, model: file.name)
        let (normalized, params) = try normalize(input, percentiles: file.task.normalizationPercentiles)
        var scan = input
        scan.data = file.task.clips ? try normalized.clamp(min: .double(0), max: .double(1)) : normalized
        let grid = inPlaneGrid(of: input, sliceAxis: t, factor: task.factor)
        return InPlaneInput(data: try KernelPairSampler.interpolated(scan, onto: grid).data, grid: grid, sliceAxis: t,
                            factor: task.factor, normalization: params)
    }

    /// Restores a scan degraded in-plane (seed 003's setting: each slice blurred by the scanner's
    /// kernel and subsampled) with a model trained on `data.kernel` pairs: the scan normalized on
    /// the model's percentiles (unclipped), interpolated (cubic) onto `inPlaneGrid`, the model on
    /// every slice (rows along the lower-numbered in-plane axis, as it was trained), the inverse
    /// normalization; nothing below the input's minimum, and voxels with no non-zero acquired
    /// voxel within two in-plane voxels stay 0 (an empty background stays empty).
    public static func restoreInPlane(_ input: Volume, model file: ModelFile, options: Options = Options(),
                                      progress: (Int, Int) -> Void = { _, _ in }) throws -> (Volume, Report) {
        try restoreInPlane(input, model: file, options: options, pass: options.testTimeFlips ? .both : .plain, progress: progress)
    }

    /// Which slices an in-plane restoration gives the model: as they are, mirrored across their
    /// width (and mirrored back after), or both averaged (test-time flips).
    enum InPlanePass {
        case plain, mirrored, both
    }

    static func restoreInPlane(_ input: Volume, model file: ModelFile, options: Options, pass: InPlanePass,
                               progress: (Int, Int) -> Void = { _, _ in }) throws -> (Volume, Report) {
        let prepared = try inPlaneInput(input, model: file)
        let (t, grid, params) = (prepared.sliceAxis, prepared.grid, prepared.normalization)
        let planes = (0..<3).filter { $0 != t }
        let model = file.model
        model.eval()
        let stack = try prepared.slices
        let depth = stack.shape[0]
        let perSlice = model.memoryPerSlice(rows: stack.shape[1], width: stack.shape[2])
        let batch = Swift.max(1, options.batch ?? Swift.min(16, (96 << 20) / Swift.max(perSlice, 1), options.memoryBudget / Swift.max(perSlice, 1)))
        let out = try Tensor.zeros(grid.shape, dtype: .float32)
        let target = try out.permute([t] + planes)
        var start = 0
        try withNoGrad {
            while start < depth {
                let n = Swift.min(batch, depth - start)
                let slices = try stack.narrow(0, start: start, length: n).unsqueeze(1).contiguous().to(options.device)
                let y: Tensor
                switch pass {
                case .plain:
                    y = try model(slices, conditioning: Conditioning())
                case .mirrored:
                    let mirrored: Tensor = try model(slices.flip([3]), conditioning: Conditioning())
                    y = try mirrored.flip([3])
                case .both:
                    let plain: Tensor = try model(slices, conditioning: Conditioning())
                    let mirrored: Tensor = try model(slices.flip([3]), conditioning: Conditioning())
                    let back: Tensor = try mirrored.flip([3])
                    let sum: Tensor = try plain + back
                    y = try sum * 0.5
                }
                _ = try target.narrow(0, start: start, length: n).copy_(y.squeeze(1).to(.cpu))
                start += n
                progress(start, depth)
            }
        }
        // y = mean * scale + offset, in place (no second output-sized buffer), then nothing below
        // the input's minimum.
        _ = try out.mul_(.double(params.scale))
        _ = try out.add_(Tensor.full([], .double(params.offset), dtype: .float32))
        _ = try out.clamp_(min: .double(try input.data.min().item()))
        // Zero where no acquired voxel within 2 in-plane voxels (the cubic B-spline's reach) is
        // non-zero: the scan's empty background stays exactly 0.
        var occupied = Volume(data: try input.data.ne(0).to(.float32), affine: input.affine)
        var window = [5, 5, 5], padding = [2, 2, 2]
        window[t] = 1
        padding[t] = 0
        occupied.data = try occupied.data.unsqueeze(0).unsqueeze(0).maxPool3d(kernelSize: window, stride: [1, 1, 1], padding: padding)
            .select(0, 0).select(0, 0)
        _ = try out.mul_(occupied.resampled(onto: grid, interpolation: .nearest, antiAlias: false).data.to(.float32))
        var volume = Volume(data: out, affine: grid.affine, metadata: input.metadata)
        volume.metadata.description = "upres upsample --model \(file.name)"
        let report = Report(throughPlaneAxis: t, factor: Double(prepared.factor), inPlaneResampled: true, normalization: params, batch: batch,
                            slices: depth, adaptation: nil, thicknessEstimate: nil, workingSpacing: nil)
        return (volume, report)
    }
}
