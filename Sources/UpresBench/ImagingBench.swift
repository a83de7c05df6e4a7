import Foundation
import Imaging
import Torch

/// NIfTI I/O and resampling on the sample data (the imaging side of bench/; bench/imaging_reference.py
/// does the same with nibabel and scipy).
enum ImagingBench {
    static let samples = ProcessInfo.processInfo.environment["UPRES_DATA"] ?? "data/samples"

    static func nifti(_ o: Options) throws {
        let files = ["colin27/colin27_t1_1mm.nii.gz", "mni152/mni152_2009a_t1_1mm.nii.gz", "colin27/colin27_t1_05mm.nii.gz"]
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("upres-bench-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for f in files {
            let url = URL(fileURLWithPath: "\(samples)/\(f)")
            let name = URL(fileURLWithPath: f).lastPathComponent.replacingOccurrences(of: ".nii.gz", with: "")
            let v = try NIfTI.readVolume(url)
            let read = try timed(o.repeats) { _ = try NIfTI.readVolume(url) }
            print("nifti.read_gz.\(name)", read)
            let out = dir.appendingPathComponent("w.nii.gz")
            let write = try timed(o.repeats) {
                try NIfTI.write(v, to: out, options: NIfTIWriteOptions(overwrite: true))
            }
            print("nifti.write_gz_float32.\(name)", write)
        }
    }

    static func resample(_ o: Options) throws {
        let colin = try NIfTI.readVolume(URL(fileURLWithPath: "\(samples)/colin27/colin27_t1_1mm.nii.gz"))
        // Every 6th axial slice: 181 x 217 x 31, then back to 181 slices, corner samples aligned
        // like scipy.ndimage.zoom (grid_mode False).
        let thick = Volume(data: try colin.data.slice(2, step: 6).contiguous(), affine: colin.affine * Affine.scaling([1, 1, 6]))
        var t = Affine.identity
        t[2, 2] = 30.0 / 180
        let grid = Grid(shape: [181, 217, 181], affine: thick.affine * t)
        for method in [Interpolation.cubic, .linear] {
            let s = try timed(o.repeats) { _ = try thick.resampled(onto: grid, interpolation: method, antiAlias: false) }
            print("resample.\(method).181x217x31_to_181x217x181", s)
        }
    }

    /// The simulations of `upres simulate` on Colin 27 (181 x 217 x 181, float32 in memory):
    /// 5 mm / 6 mm axial thick slices with the rectangular profile, and k-space truncation
    /// keeping 1/4 of each axial in-plane axis (the kspace-x4 preset).
    static func simulate(_ o: Options) throws {
        let colin = try NIfTI.readVolume(URL(fileURLWithPath: "\(samples)/colin27/colin27_t1_1mm.nii.gz"))
        let thick = SliceAcquisition(direction: .voxelAxis(2), thickness: 5, spacing: 6)
        // The result is computed in the input's memory order (Fortran, as NIfTI stores it);
        // it is not copied into C order, which a NIfTI writer would undo.
        let s1 = try timed(o.repeats) { _ = try thick.apply(to: colin) }
        print("simulate.thick-5-6.181x217x181", s1)
        let kspace = KSpaceTruncation(factor: 4, axes: [0, 1])
        let s2 = try timed(o.repeats) { _ = try kspace.apply(to: colin) }
        print("simulate.kspace-x4.181x217x181", s2)
    }

    static func timed(_ repeats: Int, _ body: () throws -> Void) throws -> Double {
        try body()  // warm-up
        var samples: [Double] = []
        for _ in 0..<repeats {
            let t0 = now()
            try body()
            samples.append(now() - t0)
        }
        return median(samples)
    }
}


extension ImagingBench {
    /// 3-D SSIM on a 181 x 217 x 181 pair (Colin 27 and a blurred copy), scikit-image's settings.
    static func ssim(_ o: Options) throws {
        let ref = try NIfTI.readVolume(URL(fileURLWithPath: "\(samples)/colin27/colin27_t1_1mm.nii.gz")).data.contiguous()
        let blurred = try GaussianFilter(sigma: 1).reflect(ref.unsqueeze(0), spatialDims: 3).squeeze(0)
        let s = try timed(o.repeats) { _ = try SSIM().compare(blurred, ref, dims: 3, dataRange: .value(254)) }
        print("ssim3d.181x217x181", s)
    }
}

extension ImagingBench {
    /// piq's 2-D metrics on 8 axial slices (80 to 87) of Colin 27 against a copy at 0.9 x + 10, scaled by
    /// the reference's range to [0, 1]: VIFp, HaarPSI, FSIM and VSI in float64, and LPIPS and DISTS
    /// (VGG16 in float32) with random He-initialized weights (the timing does not depend on them);
    /// then VGG16's features alone at three batch sizes.
    static func perceptual(_ o: Options) throws {
        let ref = try NIfTI.readVolume(URL(fileURLWithPath: "\(samples)/colin27/colin27_t1_1mm.nii.gz")).data.to(.float64)
        let test = try ref * 0.9 + 10
        let lo = try ref.min().item(), range = try ref.max().item() - lo
        func slices(_ v: Tensor) throws -> Tensor { try ((v.narrow(2, start: 80, length: 8) - lo) / range).permute([2, 0, 1]).contiguous() }
        let x = try slices(test), y = try slices(ref)
        for metric in Perceptual.Metric.allCases {
            print("perceptual.\(metric.rawValue).8x181x217", try timed(o.repeats) { _ = try Perceptual.compute(metric, x, y) })
        }
        let g = try Generator(seed: 0)
        var vgg: [String: Tensor] = [:]
        var inputs = 3
        for (i, out) in zip(VGGFeatures.convolutionIndices, [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]) {
            vgg["features.\(i).weight"] = try Tensor.randn([out, inputs, 3, 3], generator: g) * (2.0 / Double(9 * inputs)).squareRoot()
            vgg["features.\(i).bias"] = try Tensor.zeros([out])
            inputs = out
        }
        let backbone = try VGGFeatures(tensors: vgg, file: "random")
        let lin = Dictionary(uniqueKeysWithValues: try VGGFeatures.featureChannels.enumerated().map { i, c in ("lin\(i)", try Tensor.rand([1, c, 1, 1], generator: g)) })
        let lpips = try LPIPS(backbone: backbone, tensors: lin, file: "random")
        let dists = try DISTS(backbone: backbone, tensors: ["alpha": Tensor.rand([1475], generator: g), "beta": Tensor.rand([1475], generator: g)], file: "random")
        print("perceptual.lpips.8x181x217", try timed(o.repeats) { _ = try lpips.compute(x, y) })
        print("perceptual.dists.8x181x217", try timed(o.repeats) { _ = try dists.compute(x, y) })
        // VGG16's features of 16 images of 181 x 217 in batches of 2, 8 and 16 (LPIPS and DISTS send
        // one test/reference pair, a batch of 2, at a time).
        let images = try Tensor.rand([16, 3, 181, 217], generator: g)
        for b in [2, 8, 16] {
            let batch = try images.narrow(0, start: 0, length: b).contiguous()
            print("perceptual.vgg16_16x181x217.batch\(b)", try timed(o.repeats) {
                for _ in 0..<(16 / b) { _ = try backbone.features(batch, pooling: .max) }
            })
        }
    }
}
