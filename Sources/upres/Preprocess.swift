import ArgumentParser
import Imaging

import Foundation

/// `upres preprocess IN OUT [--reference REF] [--affine] [--skull-strip]`.
struct Preprocess: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Seed 004's preprocessing in one command: N4, brain mask, N4 inside it, registration to a reference, clipped min-max.",
        discussion: """
            N4 on the whole scan; a brain mask as upres brain-mask makes it; N4 again inside the mask; \
            with --reference, a rigid (--affine: affine) registration onto the reference's grid; then \
            clipped min-max normalization to 0..1 from the brain's 0.5th and 99.5th percentiles \
            (--clip LO HI). Writes the scan, its mask (OUT_mask.nii.gz) and one sidecar with every step's \
            settings, time, the transform and the normalization (to invert it).
            """)

    @Argument(help: "The scan (NIfTI or DICOM folder).") var input: String
    @Argument(help: "The preprocessed scan (.nii or .nii.gz).") var output: String
    @Option(help: "Register to this scan (its grid becomes the output's).") var reference: String?
    @Flag(help: "Affine instead of rigid registration.") var affine = false
    @Option(parsing: .upToNextOption, help: "Clipped min-max percentiles inside the brain.") var clip: [Double] = [0.5, 99.5]
    @Flag(name: .customLong("skull-strip"), help: "Set the voxels outside the brain mask to 0.") var skullStrip = false
    @Option(help: "The brain-extracted template for the mask (default: MNI152 of the sample data).") var template: String?
    @Flag(help: "Overwrite the outputs.") var force = false

    @OptionGroup var global: GlobalOptions

    var maskPath: String { VolumeIO.stem(output) + "_mask.nii.gz" }

    func validate() throws {
        guard output.hasSuffix(".nii") || output.hasSuffix(".nii.gz") else { throw ValidationError("output \(output): expected a .nii or .nii.gz file name") }
        guard clip.count == 2, clip[0] >= 0, clip[1] <= 100, clip[0] < clip[1] else { throw ValidationError("--clip takes two increasing percentiles in 0...100") }
        if affine && reference == nil { throw ValidationError("--affine applies to the registration to --reference") }
    }

    func run() throws {
        try global.apply()
        let start = Date()
        let sidecar = Sidecar.path(for: output)
        for o in [output, maskPath, sidecar] { try VolumeIO.checkOutput(o, force: force) }
        let scan = try VolumeIO.read(input).volume
        try VolumeIO.requireScalar(scan, input)
        let templatePath = try template ?? BrainMask.defaultTemplate()
        let tmpl = try VolumeIO.read(templatePath).volume
        let ref = try reference.map { try VolumeIO.read($0).volume }
        var settings = Preprocessing.Settings()
        settings.affine = affine
        settings.clipPercentiles = clip
        settings.skullStrip = skullStrip
        let result: Preprocessing.Result
        do { result = try Preprocessing.run(scan, template: tmpl, reference: ref, settings: settings) } catch let e as ITKError {
            throw CLIError("\(input): \(e.message)")
        } catch let e as NormalizationError {
            throw CLIError("\(input): \(e)")
        }
        var written: [String] = []
        do {
            try NIfTI.write(result.volume, to: URL(fileURLWithPath: output), options: NIfTIWriteOptions(overwrite: force))
            written.append(output)
            try NIfTI.write(result.mask, to: URL(fileURLWithPath: maskPath), options: NIfTIWriteOptions(dtype: .uint8, overwrite: force))
            written.append(maskPath)
            try Sidecar.write(PreprocessRecord(tool: "upres \(UpresVersion.string)", command: "preprocess", itk: ITK.version, input: input,
                                               inputSHA256: try Digest.sha256(file: URL(fileURLWithPath: input)), reference: reference,
                                               template: templatePath, output: output, mask: maskPath, settings: settings,
                                               transform: result.transform, normalization: result.normalization,
                                               steps: result.steps.map { StepRecord(step: $0.name, seconds: $0.seconds) },
                                               seconds: Date().timeIntervalSince(start)),
                              to: sidecar, overwrite: force)
        } catch {
            for w in written { try? FileManager.default.removeItem(atPath: w) }
            throw error
        }
        print("\(output): \(result.steps.map(\.name).joined(separator: " -> ")) (clipped min-max \(clip[0])-\(clip[1]) %; \(String(format: "%.1f", Date().timeIntervalSince(start))) s)")
    }
}

struct StepRecord: Codable {
    var step: String
    var seconds: Double
}

struct PreprocessRecord: Codable {
    var tool: String
    var command: String
    var itk: String
    var input: String
    var inputSHA256: String
    var reference: String?
    var template: String
    var output: String
    var mask: String
    var settings: Preprocessing.Settings
    var transform: SpatialTransform?
    var normalization: NormalizationParameters
    var steps: [StepRecord]
    var seconds: Double
}
