import ArgumentParser
import Imaging

import Foundation

/// `upres n4 IN OUT [--mask M] [--shrink 4] [--iterations 50 50 50 50] [--bias-field B]`.
struct N4: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "N4 bias field correction (ITK's N4BiasFieldCorrectionImageFilter).",
        discussion: """
            The field is fitted on the image shrunk by --shrink inside --mask (every voxel without one; \
            non-positive voxels never take part), then evaluated on the full grid from the fitted \
            B-spline and divided out of every voxel. Defaults are ITK's (and SimpleITK's): 4 levels of \
            50 iterations, convergence 0.001, 4 control points, spline order 3, bias FWHM 0.15, Wiener \
            noise 0.01, 200 histogram bins. A JSON sidecar records the settings and the run.
            """)

    @Argument(help: "Input NIfTI.") var input: String
    @Argument(help: "Output .nii or .nii.gz.") var output: String
    @Option(help: "A mask on the input's grid: the fit uses its non-zero voxels.") var mask: String?
    @Option(help: "Shrink factor for the fit.") var shrink: Int = 4
    @Option(parsing: .upToNextOption, help: "Iterations per fitting level (their count is the number of levels).")
    var iterations: [Int] = [50, 50, 50, 50]
    @Option(help: "Convergence threshold.") var convergence: Double = 0.001
    @Option(name: .customLong("control-points"), help: "B-spline control points per axis at the first level.") var controlPoints: Int = 4
    @Option(name: .customLong("spline-order"), help: "B-spline order.") var splineOrder: Int = 3
    @Option(name: .customLong("bias-fwhm"), help: "Full width at half maximum of the bias field's Gaussian (histogram sharpening).") var biasFWHM: Double = 0.15
    @Option(name: .customLong("wiener-noise"), help: "Wiener filter noise (histogram sharpening).") var wienerNoise: Double = 0.01
    @Option(name: .customLong("histogram-bins"), help: "Histogram bins.") var histogramBins: Int = 200
    @Option(name: .customLong("bias-field"), help: "Also write the bias field (not its log) to this file.") var biasField: String?
    @Flag(help: "Overwrite the outputs if they exist.") var force = false

    @OptionGroup var global: GlobalOptions

    var settings: N4Settings {
        var s = N4Settings()
        s.shrink = shrink
        s.iterations = iterations
        s.convergence = convergence
        s.controlPoints = controlPoints
        s.splineOrder = splineOrder
        s.biasFWHM = biasFWHM
        s.wienerNoise = wienerNoise
        s.histogramBins = histogramBins
        return s
    }

    func validate() throws {
        for o in [output] + (biasField.map { [$0] } ?? []) where !(o.hasSuffix(".nii") || o.hasSuffix(".nii.gz")) {
            throw ValidationError("\(o): expected a .nii or .nii.gz file name")
        }
        do { try settings.validate() } catch { throw ValidationError(error.localizedDescription) }
    }

    func run() throws {
        try global.apply()
        let start = Date()
        let sidecar = Sidecar.path(for: output)
        for o in [output, sidecar] + (biasField.map { [$0] } ?? []) { try VolumeIO.checkOutput(o, force: force) }
        let v = try VolumeIO.read(input).volume
        try VolumeIO.requireScalar(v, input)
        let m = try mask.map { path -> Volume in
            let volume = try VolumeIO.read(path).volume
            guard try volume.data.ne(.double(0)).any().itemBool() else { throw CLIError("\(path): the mask is empty (no non-zero voxel)") }
            return volume
        }
        let result: BiasCorrection.Result
        do { result = try BiasCorrection.n4(v, mask: m, settings: settings) } catch let e as ITKError {
            throw CLIError("\(input): \(e.message)")
        }
        var written: [String] = []
        do {
            try NIfTI.write(result.corrected, to: URL(fileURLWithPath: output), options: NIfTIWriteOptions(overwrite: force))
            written.append(output)
            if let biasField {
                let field = Volume(data: try result.logBias.data.exp(), affine: v.affine)
                try NIfTI.write(field, to: URL(fileURLWithPath: biasField), options: NIfTIWriteOptions(overwrite: force))
                written.append(biasField)
            }
            try Sidecar.write(N4Record(tool: "upres \(UpresVersion.string)", command: "n4", itk: ITK.version, input: input,
                                       inputSHA256: try Digest.sha256(file: URL(fileURLWithPath: input)), mask: mask, output: output,
                                       biasField: biasField, settings: settings, iterationsAtLastLevel: result.iterations,
                                       convergence: result.convergence, seconds: Date().timeIntervalSince(start)),
                              to: sidecar, overwrite: force)
        } catch {
            for w in written { try? FileManager.default.removeItem(atPath: w) }
            throw error
        }
        print("\(output): bias corrected (\(settings.iterations.count) levels, \(String(format: "%.1f", Date().timeIntervalSince(start))) s)")
    }
}

struct N4Record: Codable {
    var tool: String
    var command: String
    var itk: String
    var input: String
    var inputSHA256: String
    var mask: String?
    var output: String
    var biasField: String?
    var settings: N4Settings
    var iterationsAtLastLevel: Int
    var convergence: Double
    var seconds: Double
}
