import ArgumentParser
import Imaging
import Torch

import Foundation

/// `upres resample IN OUT (--spacing | --shape | --like)`.
struct Resample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Resample a volume to a new spacing, a new shape, or another volume's grid.",
        discussion: """
            --spacing and --shape keep the field of view (voxel centres laid symmetrically about its \
            centre); --like takes the reference's grid through world coordinates, so the output \
            overlays the reference. Downsampling blurs first (anti-aliasing) unless --no-antialias. \
            --transform T.json (from upres register) moves the input through the transform first: with \
            --like FIXED, an image of the moving image's space lands on the fixed grid.
            """)

    @Argument(help: "Input NIfTI file.") var input: String
    @Argument(help: "Output .nii or .nii.gz.") var output: String

    @Option(parsing: .upToNextOption, help: "Voxel size in mm: one value for all axes, or three.")
    var spacing: [Double] = []

    @Option(parsing: .upToNextOption, help: "Grid size: three voxel counts.")
    var shape: [Int] = []

    @Option(help: "A NIfTI file whose grid the output takes.")
    var like: String?

    @Option(help: "A transform from upres register (fixed to moving, world mm); needs --like FIXED.")
    var transform: String?

    @Option(help: "Interpolation: nearest, linear, cubic (B-spline) or sinc (Lanczos).")
    var interp: Interpolation = .linear

    @Flag(name: .customLong("no-antialias"), help: "Do not blur before downsampling.")
    var noAntialias = false

    @Option(help: "Element type on disk (default float32; nearest keeps integer labels if you ask for an integer type).")
    var dtype: NIfTIDataType = .float32

    @Flag(help: "Overwrite the output if it exists.")
    var force = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        let given = [!spacing.isEmpty, !shape.isEmpty, like != nil].filter { $0 }.count
        guard given == 1 else { throw ValidationError("give exactly one of --spacing, --shape and --like") }
        if transform != nil && like == nil { throw ValidationError("--transform needs --like FIXED: the grid of the image the transform was made for") }
        if !spacing.isEmpty {
            guard spacing.count == 1 || spacing.count == 3 else { throw ValidationError("--spacing takes 1 or 3 values, got \(spacing.count)") }
            guard spacing.allSatisfy({ $0 > 0 && $0.isFinite }) else { throw ValidationError("--spacing \(spacing): every size must be positive") }
        }
        if !shape.isEmpty {
            guard shape.count == 3, shape.allSatisfy({ $0 > 0 }) else { throw ValidationError("--shape takes 3 positive voxel counts, got \(shape)") }
        }
        guard output.hasSuffix(".nii") || output.hasSuffix(".nii.gz") else {
            throw ValidationError("output \(output): expected a .nii or .nii.gz file name")
        }
    }

    func run() throws {
        try global.apply()
        try VolumeIO.checkOutput(output, force: force)
        let v = try VolumeIO.read(input).volume
        try VolumeIO.requireScalar(v, input)
        if let transform, let like {
            let t: SpatialTransform
            do { t = try SpatialTransform.read(URL(fileURLWithPath: transform)) } catch let e as ITKError { throw CLIError(e.message) }
            let out = try Registration.apply(t, to: v, like: try VolumeIO.read(like).volume, interpolation: interp)
            try NIfTI.write(out, to: URL(fileURLWithPath: output), options: NIfTIWriteOptions(dtype: dtype, overwrite: force))
            print("\(output): \(out.shape.map(String.init).joined(separator: "x")) on the grid of \(like) through \(transform) (\(interp))")
            return
        }
        let grid: Grid
        if let like {
            grid = try VolumeIO.read(like).volume.grid
        } else if !spacing.isEmpty {
            grid = try v.grid(spacing: spacing)
        } else {
            grid = try v.grid(shape: shape)
        }
        let out = try v.resampled(onto: grid, interpolation: interp, antiAlias: !noAntialias)
        try NIfTI.write(out, to: URL(fileURLWithPath: output), options: NIfTIWriteOptions(dtype: dtype, overwrite: force))
        print("\(output): \(out.shape.map(String.init).joined(separator: "x")) at \(out.spacing.map { String(format: "%.4g", $0) }.joined(separator: "x")) mm (\(interp))")
    }
}
