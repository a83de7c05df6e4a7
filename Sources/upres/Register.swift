import ArgumentParser
import Imaging

import Foundation

/// `upres register MOVING FIXED OUT [--rigid|--affine] [--transform T.json]`.
struct Register: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rigid or affine registration by Mattes mutual information (ITK), multi-resolution.",
        discussion: """
            Aligns MOVING to FIXED: a centre-of-mass start, then 3 resolution levels (shrink 4, 2, 1; \
            smoothing 2, 1, 0 voxels) of regular step gradient descent on Mattes mutual information \
            (50 bins, 25% of the fixed voxels sampled at random with --seed), rigid (6 parameters) or \
            affine (12, started from the rigid result). Writes MOVING resampled onto FIXED's grid and \
            the transform as JSON (--transform, default OUT's name with .transform.json): a 4 x 4 \
            matrix in world (RAS) mm that maps a point of FIXED to MOVING. `upres resample IN OUT \
            --like FIXED --transform T.json` applies it to another image of MOVING's space (a mask, a \
            segmentation with --interp nearest).
            """)

    @Argument(help: "The image to move.") var moving: String
    @Argument(help: "The image that stays (its grid is the output's).") var fixed: String
    @Argument(help: "MOVING resampled onto FIXED's grid (.nii or .nii.gz).") var output: String
    @Flag(help: "Rigid (default) or affine.") var kind: Kind = .rigid
    @Option(help: "Where to write the transform (default: OUT with .transform.json).") var transform: String?
    @Option(name: .customLong("fixed-mask"), help: "Only FIXED's voxels inside this mask count.") var fixedMask: String?
    @Option(help: "Resolution levels.") var levels: Int = 3
    @Option(help: "Iterations per level at most.") var iterations: Int = 200
    @Option(help: "Fraction of FIXED's voxels sampled for the metric.") var sampling: Double = 0.25
    @Option(help: "Histogram bins of the mutual information.") var bins: Int = 50
    @Option(help: "Seed of the sampling.") var seed: Int = 7
    @Option(help: "Interpolation of the output: nearest, linear, cubic, sinc.") var interp: Interpolation = .linear
    @Flag(help: "Overwrite the outputs.") var force = false

    @OptionGroup var global: GlobalOptions

    enum Kind: String, EnumerableFlag {
        case rigid, affine
    }

    var settings: RegistrationSettings {
        var s = RegistrationSettings()
        s.affine = kind == .affine
        s.levels = levels
        s.iterations = iterations
        s.sampling = sampling
        s.bins = bins
        s.seed = seed
        return s
    }

    var transformPath: String { transform ?? VolumeIO.stem(output) + ".transform.json" }

    func validate() throws {
        guard output.hasSuffix(".nii") || output.hasSuffix(".nii.gz") else { throw ValidationError("output \(output): expected a .nii or .nii.gz file name") }
        guard transformPath.hasSuffix(".json") else { throw ValidationError("--transform \(transformPath): expected a .json file name") }
        do { try settings.validate() } catch { throw ValidationError(error.localizedDescription) }
    }

    func run() throws {
        try global.apply()
        let start = Date()
        for o in [output, transformPath] { try VolumeIO.checkOutput(o, force: force) }
        let m = try VolumeIO.read(moving).volume, f = try VolumeIO.read(fixed).volume
        try VolumeIO.requireScalar(m, moving)
        try VolumeIO.requireScalar(f, fixed)
        let mask = try fixedMask.map { try VolumeIO.read($0).volume }
        let result: Registration.Result
        do { result = try Registration.register(moving: m, fixed: f, fixedMask: mask, settings: settings, interpolation: interp) } catch let e as ITKError {
            throw CLIError("\(moving) to \(fixed): \(e.message)")
        }
        var t = result.transform
        t.moving = moving
        t.fixed = fixed
        try NIfTI.write(result.resampled, to: URL(fileURLWithPath: output), options: NIfTIWriteOptions(overwrite: force))
        do { try Sidecar.write(t, to: transformPath, overwrite: force) } catch {
            try? FileManager.default.removeItem(atPath: output)
            throw error
        }
        let shift = t.matrix.translation.map { String(format: "%.2f", $0) }.joined(separator: " ")
        print("\(output): \(t.kind) registration, rotation \(String(format: "%.2f", t.rotationDegrees)) deg, translation \(shift) mm, metric \(String(format: "%.4f", t.metric ?? .nan)), \(String(format: "%.1f", Date().timeIntervalSince(start))) s; transform \(transformPath)")
    }
}
