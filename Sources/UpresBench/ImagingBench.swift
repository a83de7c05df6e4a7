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
