import Foundation
import Imaging
import NN
import Torch

/// Learning a scan set's in-plane degradation (`upres degrade learn`): scans -> in-plane slices
/// (intensity-normalized) -> seed 003's downsampling GAN -> the generator's kernel, normalized to
/// sum to one, with its provenance.
///
/// The real low-resolution images are the scans' slices. The images the generator degrades are the
/// slices of the high-resolution scans when some are given (seed 003: unpaired HR and LR
/// acquisitions), else the scans' own slices (KernelGAN's assumption, the seed's source: the kernel
/// that makes a scan look like itself one scale down is its acquisition's).
public enum DegradationLearning {
    public struct Input {
        public var volume: Volume
        /// The file, recorded with its SHA-256 (nil: not from a file, e.g. in tests).
        public var path: String?
        public init(volume: Volume, path: String? = nil) {
            self.volume = volume
            self.path = path
        }
        var name: String { path ?? "scan" }
    }

    public struct Result {
        /// Normalized to sum to one, with its provenance.
        public var kernel: DegradationKernel
        /// The generator's kernel as learned.
        public var rawKernel: DegradationKernel
        public var finalLosses: [String: Double]
    }

    /// The slice axis for a scan: its thick axis when it has one (spacing >= 1.5 x the others),
    /// else the axis normal to the axial plane.
    public static func sliceAxis(of volume: Volume, direction: SliceDirection?) -> Int {
        if let direction { return direction.axis(in: volume) }
        return Reconstruction.throughPlaneAxis(spacing: volume.spacing) ?? volume.axis(normalTo: .axial)
    }

    /// Checks a scan and returns its in-plane slices (H, W) float32, rows along the lower in-plane
    /// axis (`DegradationKernel`'s convention), divided by the mean of the voxels above a tenth of
    /// the maximum (so the HR and LR scans share a scale), keeping the slices with signal
    /// (maximum above a tenth of the scan's).
    public static func slices(of input: Input, axis: Int, minimumSide: Int) throws -> [Tensor] {
        let v = input.volume, name = input.name
        guard v.shape.count == 3 else {
            throw DegradationError.invalid("\(name): expected a 3-D volume, got shape \(v.shape)")
        }
        guard v.data.dtype.isFloatingPoint || v.data.dtype.isInteger else {
            throw DegradationError.invalid("\(name): \(v.data.dtype) voxels are not real scalars")
        }
        let x = try v.data.to(.float32)
        let bad = try x.isFinite().logicalNot().sum().itemInt()
        guard bad == 0 else { throw DegradationError.invalid("\(name): \(bad) voxels are NaN or infinite; fix or mask them first") }
        let planes = KernelDownsampling.inPlaneAxes(sliceAxis: axis)
        let (h, w) = (v.shape[planes[0]], v.shape[planes[1]])
        guard h >= minimumSide, w >= minimumSide else {
            throw DegradationError.invalid("\(name): its \(h)x\(w) slices (normal to voxel axis \(axis)) are smaller than the \(minimumSide)x\(minimumSide) patches; use a smaller --patch or larger scans")
        }
        let top = try x.max().item()
        guard top > 0 else { throw DegradationError.invalid("\(name): holds no signal (its maximum is \(top))") }
        let scale = try x.maskedSelect(x.gt(0.1 * top)).mean().item()
        let stack = try (x / scale).permute([axis] + planes).contiguous()
        let peaks = try stack.reshape([v.shape[axis], -1]).max(dim: 1).values.toArray(Float.self)
        let limit = Float(0.1 * top / scale)
        return try (0..<v.shape[axis]).filter { peaks[$0] > limit }.map { try stack.select(0, $0) }
    }

    public static func record(_ input: Input, axis: Int) throws -> KernelProvenance.Scan {
        let sha = try input.path.map { try Digest.sha256(file: URL(fileURLWithPath: $0)) } ?? ""
        return KernelProvenance.Scan(path: input.path ?? "", sha256: sha, shape: input.volume.shape, spacing: input.volume.spacing,
                                     sliceAxis: axis)
    }

    /// Runs the GAN; `progress(iteration, losses)` after every iteration.
    public static func learn(scans: [Input], highResolution: [Input] = [], direction: SliceDirection? = nil,
                             settings: KernelLearningSettings, tool: String = "upres",
                             progress: (Int, [String: Double]) throws -> Void = { _, _ in }) throws -> Result {
        try settings.validate()
        guard !scans.isEmpty else { throw DegradationError.invalid("no scans to learn a kernel from") }
        let start = Date()
        var lowImages: [Tensor] = [], highImages: [Tensor] = []
        var scanRecords: [KernelProvenance.Scan] = [], highRecords: [KernelProvenance.Scan] = []
        for s in scans {
            let axis = sliceAxis(of: s.volume, direction: direction)
            lowImages += try slices(of: s, axis: axis, minimumSide: highResolution.isEmpty ? settings.patch : settings.lowResolutionPatch)
            scanRecords.append(try record(s, axis: axis))
        }
        for s in highResolution {
            let axis = sliceAxis(of: s.volume, direction: direction)
            highImages += try slices(of: s, axis: axis, minimumSide: settings.patch)
            highRecords.append(try record(s, axis: axis))
        }
        if highResolution.isEmpty { highImages = lowImages }
        guard !lowImages.isEmpty, !highImages.isEmpty else { throw DegradationError.invalid("no slice with signal in the scans") }
        let learner = try KernelLearner(lowResolution: lowImages, highResolution: highImages, settings: settings)
        var last: [String: Double] = [:], recent: [[String: Double]] = []
        for i in 1...settings.iterations {
            last = try learner.step()
            recent.append(last)
            if recent.count > 100 { recent.removeFirst() }
            try progress(i, last)
        }
        var losses = last
        for key in last.keys { losses["mean100." + key] = recent.map { $0[key] ?? 0 }.reduce(0, +) / Double(recent.count) }
        let raw = try learner.generator.degradationKernel()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let provenance = KernelProvenance(
            tool: tool, method: "seed 003 downsampling GAN (deep linear generator, Sobel-edge PatchGAN)", scans: scanRecords,
            highResolutionScans: highRecords, iterations: settings.iterations, seed: settings.seed,
            settings: String(decoding: try encoder.encode(settings), as: UTF8.self), finalLosses: losses, rawSum: raw.sum,
            seconds: Date().timeIntervalSince(start))
        var kernel = try raw.normalized()
        kernel.provenance = provenance
        return Result(kernel: kernel, rawKernel: raw, finalLosses: losses)
    }
}
