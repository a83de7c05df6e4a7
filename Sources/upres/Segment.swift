import ArgumentParser
import Imaging
import Torch

import Foundation

/// `upres segment IN... OUT_DIR [--contrasts T1 T2 FLAIR] [--mask M] [--wmh]`.
struct Segment: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "CSF, grey and white matter probability maps (Gaussian-mixture EM over one or several contrasts, MNI152 tissue priors); white-matter hyperintensities on FLAIR.",
        discussion: """
            The inputs are co-registered scans of one subject on one grid (upres register puts them \
            there), named by --contrasts (default T1w, T2w, FLAIR in order). The brain mask is --mask or \
            made as upres brain-mask does from the first scan; each scan is bias-corrected by N4 inside \
            it (--no-n4: not); MNI152 2009a's GM and WM maps (and CSF, the rest of its brain) are carried \
            onto the scan by the template's affine registration and weight each voxel's classes (blended \
            with a flat prior of 0.2). EM fits one Gaussian per class over the contrasts together. \
            OUT_DIR gets csf.nii.gz, gm.nii.gz, wm.nii.gz (probabilities), labels.nii.gz (1 CSF, 2 GM, \
            3 WM), mask.nii.gz, and segment.json (class means, volumes in ml, the settings). With a \
            FLAIR (or --wmh) also wmh.nii.gz by seed 000's rule (FLAIR z > 1.3 inside white matter, \
            smoothed, voxels under 0.1 or z 0.95 removed, clusters under 3 voxels removed). \
            `upres evaluate --segmentation` compares the labels with another segmentation.
            """)

    @Argument(help: "The scans (same grid), then the output folder.") var paths: [String]
    @Option(parsing: .upToNextOption, help: "The contrast of each scan, in order (T1w, T2w, FLAIR, PD...).") var contrasts: [String] = []
    @Option(help: "A brain mask on the scans' grid (default: made from the first scan).") var mask: String?
    @Flag(name: .customLong("no-n4"), help: "No bias correction.") var noN4 = false
    @Flag(help: "White-matter hyperintensities on the FLAIR (default when a FLAIR is given).") var wmh = false
    @Option(parsing: .upToNextOption, help: "Template T1 (brain-extracted) and its GM and WM maps: three files (default: MNI152 2009a of the sample data).")
    var atlas: [String] = []
    @Flag(help: "Overwrite the outputs.") var force = false

    @OptionGroup var global: GlobalOptions

    var scans: [String] { Array(paths.dropLast()) }
    var folder: String { paths.last! }

    var names: [String] {
        contrasts.isEmpty ? Array(["T1w", "T2w", "FLAIR"].prefix(scans.count)) + (scans.count > 3 ? (3..<scans.count).map { "contrast\($0 + 1)" } : []) : contrasts
    }

    func validate() throws {
        guard paths.count >= 2 else { throw ValidationError("give the scans and then the output folder") }
        if !contrasts.isEmpty && contrasts.count != scans.count {
            throw ValidationError("--contrasts names \(contrasts.count) contrasts for \(scans.count) scans")
        }
        if Set(names).count != names.count { throw ValidationError("--contrasts \(names.joined(separator: " ")): each contrast once") }
        if wmh && !names.contains("FLAIR") { throw ValidationError("--wmh needs a FLAIR among the scans (--contrasts ... FLAIR)") }
        guard atlas.isEmpty || atlas.count == 3 else { throw ValidationError("--atlas takes three files: T1, GM map, WM map") }
    }

    func atlasFiles() throws -> [String] {
        if !atlas.isEmpty { return atlas }
        for root in DoctorReport.sampleCandidates() {
            let files = ["t1", "gm", "wm"].map { "\(root)/mni152/mni152_2009a_\($0)_1mm.nii.gz" }
            if files.allSatisfy({ FileManager.default.fileExists(atPath: $0) }) { return files }
        }
        throw CLIError("no atlas: MNI152's T1, GM and WM maps are not in the sample data (run scripts/bootstrap, set UPRES_DATA, or give --atlas T1 GM WM)")
    }

    func run() throws {
        try global.apply()
        let start = Date()
        let out = URL(fileURLWithPath: folder)
        let wantWMH = wmh || names.contains("FLAIR")
        let files = ["csf", "gm", "wm", "labels", "mask"].map { out.appendingPathComponent("\($0).nii.gz").path }
            + (wantWMH ? [out.appendingPathComponent("wmh.nii.gz").path] : []) + [out.appendingPathComponent("segment.json").path]
        if FileManager.default.fileExists(atPath: folder) {
            for f in files { try VolumeIO.checkOutput(f, force: force) }
        }
        var volumes = try scans.map { p -> Volume in
            let v = try VolumeIO.read(p).volume
            try VolumeIO.requireScalar(v, p)
            return v
        }
        for (p, v) in zip(scans, volumes).dropFirst() where v.shape != volumes[0].shape || v.affine.maxDifference(volumes[0].affine) > 1e-3 {
            throw CLIError("\(p): not on \(scans[0])'s grid (\(v.shape) vs \(volumes[0].shape)); put it there with upres register \(p) \(scans[0]) OUT")
        }
        let atlasPaths = try atlasFiles()
        let atlas = try TissueSegmentation.Atlas(t1: VolumeIO.read(atlasPaths[0]).volume, gm: VolumeIO.read(atlasPaths[1]).volume,
                                                 wm: VolumeIO.read(atlasPaths[2]).volume)
        let given = try mask.map { path -> Volume in
            let m = try VolumeIO.read(path).volume
            guard m.shape == volumes[0].shape else { throw CLIError("\(path): not on the scans' grid (\(m.shape) vs \(volumes[0].shape))") }
            guard try m.data.ne(.double(0)).any().itemBool() else { throw CLIError("\(path): the mask is empty (no non-zero voxel)") }
            return m
        }
        let outcome: TissueSegmentation.Outcome
        do {
            outcome = try TissueSegmentation.run(volumes, mask: given, atlas: atlas, n4: !noN4, flair: wantWMH ? names.firstIndex(of: "FLAIR") : nil)
        } catch let e as ITKError {
            throw CLIError("\(scans[0]): \(e.message)")
        }
        let result = outcome.segmentation
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let voxelML = volumes[0].spacing.reduce(1, *) / 1000
        var volumesML: [String: Double] = [:]
        var written: [String] = []
        func write(_ v: Volume, _ name: String, _ dtype: NIfTIDataType = .float32) throws {
            let url = out.appendingPathComponent(name)
            try NIfTI.write(v, to: url, options: NIfTIWriteOptions(dtype: dtype, overwrite: force))
            written.append(url.path)
        }
        do {
            for (k, name) in TissueSegmentation.classes.enumerated() {
                try write(result.probabilities[k], "\(name).nii.gz")
                volumesML[name] = try result.labels.data.eq(.double(Double(k + 1))).sum().item() * voxelML
            }
            try write(result.labels, "labels.nii.gz", .uint8)
            try write(outcome.mask, "mask.nii.gz", .uint8)
            if let lesions = outcome.lesions {
                try write(lesions, "wmh.nii.gz", .uint8)
                volumesML["wmh"] = try lesions.data.to(.float64).sum().item() * voxelML
            }
            let means = Dictionary(uniqueKeysWithValues: TissueSegmentation.classes.enumerated().map { k, name in
                (name, Dictionary(uniqueKeysWithValues: zip(names, result.means[k])))
            })
            try Sidecar.write(SegmentRecord(tool: "upres \(UpresVersion.string)", command: "segment", inputs: scans, contrasts: names, mask: mask,
                                            atlas: atlasPaths, n4: !noN4, iterations: result.iterations, logLikelihood: result.logLikelihood,
                                            means: means, volumesML: volumesML, seconds: Date().timeIntervalSince(start)),
                              to: out.appendingPathComponent("segment.json").path, overwrite: force)
        } catch {
            for w in written { try? FileManager.default.removeItem(atPath: w) }
            throw error
        }
        print(String(format: "%@: CSF %.0f ml, GM %.0f ml, WM %.0f ml%@ (EM %d iterations, %.1f s)", folder, volumesML["csf"]!, volumesML["gm"]!,
                     volumesML["wm"]!, volumesML["wmh"].map { String(format: ", WMH %.2f ml", $0) } ?? "", result.iterations, Date().timeIntervalSince(start)))
    }
}

struct SegmentRecord: Codable {
    var tool: String
    var command: String
    var inputs: [String]
    var contrasts: [String]
    var mask: String?
    var atlas: [String]
    var n4: Bool
    var iterations: Int
    var logLikelihood: Double
    var means: [String: [String: Double]]
    var volumesML: [String: Double]
    var seconds: Double
}
