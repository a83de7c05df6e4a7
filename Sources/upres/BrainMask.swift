import ArgumentParser
import Imaging
import Torch

import Foundation

/// `upres brain-mask IN OUT [--template T1 --template-mask M] [--brain B]`.
struct BrainMask: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "brain-mask",
        abstract: "Skull stripping of a T1 or T2 scan by registering MNI152 and carrying its brain mask, then refining it.",
        discussion: """
            MNI152 2009a's brain-extracted T1 (the sample data's, or --template with --template-mask) \
            is registered to the scan affinely by Mattes mutual information (contrast-independent) at 2 mm, \
            its brain mask carried over, the registration repeated inside that mask dilated by 8 mm, and \
            the mask refined in a 3 mm band at its border from the scan's own intensities (--no-refine: \
            the carried mask as it is). Writes a uint8 mask on the scan's grid, the template-to-scan \
            transform (OUT with .transform.json) and a sidecar; --brain also writes the masked scan.
            """)

    @Argument(help: "The scan (NIfTI or DICOM folder).") var input: String
    @Argument(help: "The mask to write (.nii or .nii.gz).") var output: String
    @Option(help: "A brain-extracted template T1 (default: MNI152 2009a from the sample data).") var template: String?
    @Option(name: .customLong("template-mask"), help: "The template's brain mask (default: the template's non-zero voxels).") var templateMask: String?
    @Option(help: "Also write the scan with everything outside the mask set to 0.") var brain: String?
    @Flag(name: .customLong("no-refine"), help: "Keep the carried mask without the intensity refinement.") var noRefine = false
    @Flag(help: "Overwrite the outputs.") var force = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        for o in [output] + (brain.map { [$0] } ?? []) where !(o.hasSuffix(".nii") || o.hasSuffix(".nii.gz")) {
            throw ValidationError("\(o): expected a .nii or .nii.gz file name")
        }
        if templateMask != nil && template == nil { throw ValidationError("--template-mask goes with --template") }
    }

    /// MNI152's T1 from the sample data, where `upres doctor` looks for it.
    static func defaultTemplate() throws -> String {
        for root in DoctorReport.sampleCandidates() {
            let p = root + "/mni152/mni152_2009a_t1_1mm.nii.gz"
            if FileManager.default.fileExists(atPath: p) { return p }
        }
        throw CLIError("no template: MNI152 is not in the sample data (run scripts/bootstrap, set UPRES_DATA, or give --template and --template-mask)")
    }

    func run() throws {
        try global.apply()
        let start = Date()
        let transformPath = VolumeIO.stem(output) + ".transform.json"
        let sidecar = Sidecar.path(for: output)
        for o in [output, transformPath, sidecar] + (brain.map { [$0] } ?? []) { try VolumeIO.checkOutput(o, force: force) }
        let scan = try VolumeIO.read(input).volume
        try VolumeIO.requireScalar(scan, input)
        let templatePath = try template ?? Self.defaultTemplate()
        let t1 = try VolumeIO.read(templatePath).volume
        let tmask = try templateMask.map { try VolumeIO.read($0).volume } ?? t1
        var settings = BrainExtraction.Settings()
        if noRefine { settings.refineMM = 0 }
        let result: BrainExtraction.Result
        do { result = try BrainExtraction.mask(scan, template: t1, templateMask: tmask, settings: settings) } catch let e as ITKError {
            throw CLIError("\(input): \(e.message)")
        }
        var written: [String] = []
        do {
            try NIfTI.write(result.mask, to: URL(fileURLWithPath: output), options: NIfTIWriteOptions(dtype: .uint8, overwrite: force))
            written.append(output)
            var t = result.transform
            t.fixed = input
            t.moving = templatePath
            try Sidecar.write(t, to: transformPath, overwrite: force)
            written.append(transformPath)
            if let brain {
                let values = try scan.data.to(.float32), keep = try result.mask.data.to(.float32)
                let masked = Volume(data: try values * keep, affine: scan.affine, metadata: scan.metadata)
                try NIfTI.write(masked, to: URL(fileURLWithPath: brain), options: NIfTIWriteOptions(overwrite: force))
                written.append(brain)
            }
            let volumeML = try result.mask.data.to(.float64).sum().item() * scan.spacing.reduce(1, *) / 1000
            try Sidecar.write(BrainMaskRecord(tool: "upres \(UpresVersion.string)", command: "brain-mask", input: input, template: templatePath,
                                              templateMask: templateMask, output: output, transform: transformPath, refined: !noRefine,
                                              refinementRemoved: result.removed, volumeML: volumeML,
                                              seconds: Date().timeIntervalSince(start)),
                              to: sidecar, overwrite: force)
            print(String(format: "%@: brain mask of %.0f ml (%.1f s)", output, volumeML, Date().timeIntervalSince(start)))
        } catch {
            for w in written { try? FileManager.default.removeItem(atPath: w) }
            throw error
        }
    }
}

struct BrainMaskRecord: Codable {
    var tool: String
    var command: String
    var input: String
    var template: String
    var templateMask: String?
    var output: String
    var transform: String
    var refined: Bool
    var refinementRemoved: Int
    var volumeML: Double
    var seconds: Double
}
