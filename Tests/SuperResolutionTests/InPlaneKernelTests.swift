import Foundation
import Imaging
@testable import SuperResolution
import Testing
import Torch

/// Seed 003's second stage: training pairs made with an in-plane kernel, and the restoration of
/// scans degraded that way.
@Suite struct InPlaneKernelTests {
    /// A smooth phantom with edges (a few ellipsoids of different intensities), isotropic 1 mm.
    static func phantom(_ shape: [Int] = [40, 44, 36]) throws -> Volume {
        var values = [Float](repeating: 0, count: shape.reduce(1, *))
        for i in 0..<shape[0] {
            for j in 0..<shape[1] {
                for k in 0..<shape[2] {
                    let (x, y, z) = (Double(i) - 19.5, Double(j) - 21.5, Double(k) - 17.5)
                    var v = 0.0
                    if x * x / 300 + y * y / 380 + z * z / 250 < 1 { v = 60 }
                    if x * x / 120 + (y - 4) * (y - 4) / 90 + z * z / 100 < 1 { v = 100 }
                    if (x - 5) * (x - 5) / 15 + y * y / 30 + (z + 3) * (z + 3) / 20 < 1 { v = 20 }
                    values[(i * shape[1] + j) * shape[2] + k] = Float(v + 3 * sin(Double(i + 2 * j + 3 * k)))
                }
            }
        }
        let affine = Affine(rows: [[1, 0, 0, -20], [0, 1, 0, -22], [0, 0, 1, -18], [0, 0, 0, 1]])
        return Volume(data: try Tensor(values, shape: shape), affine: affine)
    }

    static let kernel = { () -> DegradationKernel in try! DegradationKernel.gaussian(sigma: [1.6, 0.9], size: 9, factor: 2) }()

    @Test func kernelChoicesResolveAndWrongOnesNameTheField() throws {
        let cubic = try KernelChoice(cubic: 3).resolve()
        #expect(cubic.kernel.factor == 3 && cubic.kernel.size == 13 && cubic.sha256 == nil)
        #expect(cubic.kernel == (try DegradationKernel.cubic(factor: 3)))
        let gauss = try KernelChoice(gaussian: [1.5, 1.5], factor: 2, size: 9).resolve()
        #expect(gauss.kernel == (try DegradationKernel.gaussian(sigma: [1.5, 1.5], size: 9, factor: 2)))
        let folder = try scratchFolder()
        let path = folder.appendingPathComponent("k.safetensors")
        try Self.kernel.write(to: path)
        let file = try KernelChoice(file: path.path).resolve()
        #expect(file.kernel.weights == Self.kernel.weights && file.kernel.factor == 2)
        #expect(file.sha256 == (try Digest.sha256(file: path)))
        for (bad, field) in [(KernelChoice(), "exactly one"), (KernelChoice(file: path.path, cubic: 2), "exactly one"),
                             (KernelChoice(cubic: 1), "data.kernel.cubic"), (KernelChoice(gaussian: [1.5]), "data.kernel.gaussian"),
                             (KernelChoice(gaussian: [1, 1]), "data.kernel.factor"), (KernelChoice(cubic: 2, size: 4), "data.kernel.size"),
                             (KernelChoice(file: folder.appendingPathComponent("missing").path), "data.kernel.file")] {
            #expect { try bad.resolve() } throws: { "\($0)".contains(field) }
        }
    }

    /// The pairs are the plane degraded as `upres simulate --kernel` degrades it, put back on the
    /// plane's grid with cubic interpolation; the target is the plane itself, both normalized on
    /// the degraded volume's percentiles.
    @Test func pairsAreTheKernelDegradationInterpolatedBack() throws {
        let hr = try Self.phantom()
        let source = try KernelPairSampler.Source.degraded(hr: hr, kernel: Self.kernel, axes: [0, 2], percentiles: [1, 99], name: "phantom")
        #expect(source.inputs.keys.sorted() == [0, 2])
        // Normalized on the percentiles of the volume degraded across the first axis.
        let bounds = try Percentiles.compute(KernelDownsampling(kernel: Self.kernel, direction: .voxelAxis(0)).apply(to: hr).data, [1, 99])
        for a in [0, 2] {
            let lr = try KernelDownsampling(kernel: Self.kernel, direction: .voxelAxis(a)).apply(to: hr)
            #expect(lr.shape.enumerated().allSatisfy { $0.offset == a ? $0.element == hr.shape[a] : $0.element == (hr.shape[$0.offset] + 1) / 2 })
            let back = try KernelPairSampler.interpolated(lr, onto: hr.grid)
            let expected = try (back.data.to(.float64) - bounds[0]) / (bounds[1] - bounds[0])
            #expect(try (source.inputs[a]!.to(.float64) - expected).abs().max().item() < 1e-5)
        }
        let target = try (hr.data.to(.float64) - bounds[0]) / (bounds[1] - bounds[0])
        #expect(try (source.target.to(.float64) - target).abs().max().item() < 1e-5)
        // The degradation removed detail along both in-plane axes: the input is not the target.
        #expect(try (source.inputs[2]! - source.target).abs().mean().item() > 0.01)

        // Batches: planes across the drawn axis, rows along the lower in-plane axis, crops of the
        // same place in input and target; without augmentation, exactly the volumes' voxels.
        let sampler = try KernelPairSampler(sources: [source], patch: 16, centres: CentreSampling(foregroundFraction: 0.9), flips: true, intensityScale: 0)
        let (x, y) = try sampler.batch(size: 6, generator: Generator(seed: 3), augment: false)
        #expect(x.shape == [6, 1, 16, 16] && y.shape == [6, 1, 16, 16])
        for n in 0..<6 {
            // Find the crop in the target, then check the input holds the same place.
            var found = false
            for a in [0, 2] where !found {
                let planes = (0..<3).filter { $0 != a }
                for p in 0..<hr.shape[a] where !found {
                    let plane = try source.target.select(a, p)
                    for r in 0...(hr.shape[planes[0]] - 16) where !found {
                        for c in 0...(hr.shape[planes[1]] - 16) {
                            let crop = try plane.narrow(0, start: r, length: 16).narrow(1, start: c, length: 16)
                            if try (crop - y.select(0, n).select(0, 0)).abs().max().item() == 0 {
                                let inputCrop = try source.inputs[a]!.select(a, p).narrow(0, start: r, length: 16).narrow(1, start: c, length: 16)
                                #expect(try (inputCrop - x.select(0, n).select(0, 0)).abs().max().item() == 0)
                                found = true
                                break
                            }
                        }
                    }
                }
            }
            #expect(found, "patch \(n) is a crop of a plane")
        }
        // One plane degraded on its own (the rotations' path) is the same as in the volume.
        for (a, p) in [(0, 9), (2, 17)] {
            let plane = try KernelPairSampler.degradedPlane(source.target.select(a, p), kernel: Self.kernel)
            #expect(try (plane - source.inputs[a]!.select(a, p)).abs().max().item() < 1e-5, "axis \(a)")
        }
        // Seed 003's rotations: seeded, and turned planes give pairs of the same kind.
        sampler.rotations = true
        sampler.kernel = Self.kernel
        let (xr, yr) = try sampler.batch(size: 8, generator: Generator(seed: 4), augment: true)
        let (xr2, yr2) = try sampler.batch(size: 8, generator: Generator(seed: 4), augment: true)
        #expect(xr.shape == [8, 1, 16, 16] && yr.shape == [8, 1, 16, 16])
        #expect(try (xr - xr2).abs().max().item() == 0 && (yr - yr2).abs().max().item() == 0)
        #expect(try (xr - yr).abs().mean().item() < 0.2)
        #expect(throws: ModelError.self) { try KernelPairSampler(sources: [source], patch: 50, centres: CentreSampling(foregroundFraction: 0.9)) }
        var anisotropic = hr
        anisotropic.affine = Affine(rows: [[1, 0, 0, 0], [0, 2, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
        #expect { try KernelPairSampler.Source.degraded(hr: anisotropic, kernel: Self.kernel, axes: [0], percentiles: [1, 99], name: "aniso") }
            throws: { "\($0)".contains("isotropic") }
    }

    /// An in-plane model whose correction is zeroed returns the cubic interpolation of the scan
    /// onto the refined grid, where every acquired voxel is an output voxel, in the scan's units.
    @Test func aZeroedModelRestoresToTheInterpolationOnTheRefinedGrid() throws {
        let hr = try Self.phantom()
        let scan = try KernelDownsampling(kernel: Self.kernel, direction: .voxelAxis(2)).apply(to: hr)
        // An empty background: the first 4 acquired rows along axis 0 are exactly 0.
        _ = try scan.data.narrow(0, start: 0, length: 4).zero_()
        #expect(scan.spacing.map { ($0 * 1000).rounded() / 1000 } == [2, 2, 1])
        let net = try AttentionUNet(AttentionUNetConfig(features: 4, depth: 2, finalActivation: "identity", residualChannel: 0), generator: Generator(seed: 1))
        try withNoGrad { _ = try net.head.weight.zero_(); _ = try net.head.bias!.zero_() }
        let url = try scratchFolder().appendingPathComponent("inplane.safetensors")
        var task = ModelTask(sliceSpacing: 1, targetSpacing: 1, sliceThickness: nil, contrast: "any", clipsIntensities: false, factors: [2, 2])
        task.inPlane = InPlaneTask(factor: 2, kernel: "test kernel")
        try ModelFile.save(net, task: task, to: url)
        let file = try ModelFile.load(url)
        #expect(file.task.inPlane == task.inPlane)
        let (out, report) = try Reconstruction.restoreInPlane(scan, model: file)
        #expect(report.throughPlaneAxis == 2 && report.factor == 2)
        let grid = Reconstruction.inPlaneGrid(of: scan, sliceAxis: 2, factor: 2)
        #expect(out.grid == grid && out.shape == [scan.shape[0] * 2, scan.shape[1] * 2, scan.shape[2]])
        // Acquired voxel (i, j, k) is output voxel (2i + 1, 2j + 1, k), at the same world position.
        let world = scan.affine.apply([3, 5, 7]), there = out.affine.apply([7, 11, 7])
        #expect(zip(world, there).allSatisfy { Swift.abs($0 - $1) < 1e-9 })
        let cubic = try KernelPairSampler.interpolated(scan, onto: grid).data.clamp(min: .double(try scan.data.min().item()))
        let scale = try scan.data.abs().max().item()
        // Beyond the empty rows' reach (2 acquired rows: output rows from 2 x 2 + 1 on), the interpolation.
        #expect(try (out.data.narrow(0, start: 6, length: out.shape[0] - 6) - cubic.narrow(0, start: 6, length: out.shape[0] - 6)).abs().max().item() < 1e-5 * scale)
        // The empty background stays exactly 0 (cubic rings into it; the restoration does not).
        #expect(try out.data.narrow(0, start: 0, length: 3).abs().max().item() == 0)
        #expect(try cubic.narrow(0, start: 0, length: 3).abs().max().item() > 0)
        // The acquired values come back at their voxels (the B-spline passes through its samples).
        for (i, j, k) in [(5, 5, 7), (10, 11, 4), (8, 8, 20)] {
            let a = try scan.data.select(0, i).select(0, j).select(0, k).to(.float64).item()
            let b = try out.data.select(0, 2 * i + 1).select(0, 2 * j + 1).select(0, k).to(.float64).item()
            #expect(Swift.abs(a - b) < 1e-4 * scale, "voxel \((i, j, k)): \(a) against \(b)")
        }
        // Wrong scans are refused, naming the spacing.
        #expect { try Reconstruction.restoreInPlane(hr, model: file) } throws: { "\($0)".contains("1 x 1 x 1") }
        var plain = file
        plain.task.inPlane = nil
        #expect { try Reconstruction.restoreInPlane(scan, model: plain) } throws: { "\($0)".contains("in-plane kernel pairs") }
    }

    /// `upres explain` on an in-plane model: the reconstruction is the restoration, the flips map
    /// is |plain - mirrored| computed apart, the attention map sits on the restored slices, and the
    /// thick-slice job refuses the model and scans with no one slice axis.
    @Test func explanationsOfAnInPlaneModel() throws {
        let hr = try Self.phantom()
        let scan = try KernelDownsampling(kernel: Self.kernel, direction: .voxelAxis(2)).apply(to: hr)
        let net = try AttentionUNet(AttentionUNetConfig(features: 4, depth: 2, finalActivation: "identity", residualChannel: 0), generator: Generator(seed: 3))
        let url = try scratchFolder().appendingPathComponent("inplane-explain.safetensors")
        var task = ModelTask(sliceSpacing: 1, targetSpacing: 1, sliceThickness: nil, contrast: "any", clipsIntensities: false, factors: [2, 2])
        task.inPlane = InPlaneTask(factor: 2, kernel: "test kernel")
        try ModelFile.save(net, task: task, to: url)
        let file = try ModelFile.load(url)
        let (restored, _) = try Reconstruction.restoreInPlane(scan, model: file)
        let flips = try Explanation.flips(scan, model: file)
        let flipsOff = try (flips.reconstruction.data - restored.data).abs().max().item()
        #expect(flips.kind == "flips" && flipsOff == 0)
        // explain's comparison picks the flips for in-plane models, and refuses mixing jobs or spacings.
        let (first, others) = try Explanation.compare(scan, models: [file, file], targetSpacing: 1)
        let otherOff = try (others[0].data - restored.data).abs().max().item()
        #expect(first.kind == "flips" && others.count == 1 && otherOff == 0)
        var thick = file
        thick.task.inPlane = nil
        #expect { try Explanation.compare(scan, models: [file, thick], targetSpacing: 1) } throws: { "\($0)".contains("do different jobs") }
        #expect { try Explanation.compare(scan, models: [file], targetSpacing: 0.5) } throws: { "\($0)".contains("restores to 1.0 mm") }
        // The mirrored restoration computed apart: the model on slices flipped across their width.
        let prepared = try Reconstruction.inPlaneInput(scan, model: file)
        #expect(prepared.grid == restored.grid && prepared.sliceAxis == 2)
        let slices = try prepared.slices.unsqueeze(1).contiguous()
        let (plain, mirrored) = try withNoGrad {
            (try file.model(slices, conditioning: Conditioning()), try file.model(slices.flip([3]), conditioning: Conditioning()).flip([3]))
        }
        let expected = try (plain - mirrored).abs().squeeze(1).permute([1, 2, 0]) * prepared.normalization.scale
        // Compared where neither restoration meets the clamp at the input's minimum and the
        // empty-background mask has not zeroed the voxel.
        let floor = try scan.data.min().item()
        let inside = try restored.data.ne(0).logicalAnd((restored.data - expected).gt(.double(floor))).to(.float32)
        #expect(try inside.mean().item() > 0.5)
        let scale = try expected.abs().max().item()
        #expect(scale > 0)
        #expect(try ((flips.disagreement.data - expected) * inside).abs().max().item() < 1e-4 * scale)
        // Attention on the restored slices: slice k of the map is the gate on input slice k.
        let attention = try Explanation.attention(scan, model: file, level: 0, targetSpacing: 1)
        #expect(attention.grid == restored.grid)
        let gate = try withNoGrad { try net.attentionMaps(slices.narrow(0, start: 5, length: 1))[0] }
        #expect(try (attention.data.select(2, 5) - gate.squeeze(0).squeeze(0)).abs().max().item() < 1e-5)
        // The thick-slice job refuses the in-plane model, and the scan (two axes at 2 mm) itself.
        #expect { try Reconstruction.upsample(scan, model: file, targetSpacing: 1) } throws: { "\($0)".contains("restoreInPlane") }
        #expect { try Reconstruction.check(scan, targetSpacing: 1) } throws: { "\($0)".contains("axes 0 and 1") && "\($0)".contains("2 x 2 x 1") }
        let isotropic = Volume(data: try Tensor.zeros([8, 8, 8]), affine: .scaling([2, 2, 2]))
        #expect { try Reconstruction.check(isotropic, targetSpacing: 1) } throws: { "\($0)".contains("all three axes (isotropic voxels)") }
        // Interpolation takes any grid.
        #expect(try Reconstruction.interpolate(scan, method: .cubic, targetSpacing: 1).spacing.allSatisfy { Swift.abs($0 - 1) < 1e-6 })
    }
}
