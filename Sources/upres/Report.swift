import ArgumentParser
import Imaging
import Report
import SuperResolution

import Foundation

/// `upres report RECON -o report.html [...]` and `upres report --group SUMMARY.json... -o group.html`.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "An HTML report of a reconstruction, or of many (--group): one self-contained file that opens from disk.",
        discussion: """
            A subject's report shows the input, the baseline, the reconstruction and the reference in three \
            planes with one window, signed difference maps, PSNR and SSIM per slice across the input's slice \
            direction (the acquired slices marked), PSNR/SSIM/MAE on the head and inside --mask beside the \
            baseline, the tables of `upres evaluate --json` (--evaluation), segmentations with their Dice \
            to the reference's, the sidecar's provenance and the model card, and warnings. The input comes \
            from the reconstruction's sidecar unless --input is given; the baseline is cubic interpolation \
            of the input on the same grid unless --baseline gives one (or --no-baseline). Beside the page, \
            a summary (NAME.summary.json) feeds the group report.

            --group takes those summaries: a table of every subject linking to its page, the \
            distributions, and the outliers (Tukey's fences) flagged.
            """)

    @Argument(help: "The reconstruction (subject report), or the subjects' summary .json files (with --group).")
    var paths: [String]
    @Option(name: [.customShort("o"), .long], help: "The report to write (.html).") var output: String
    @Flag(help: "A group report from the subjects' summaries.") var group = false
    @Option(help: "The thick-slice input (default: the one named in the reconstruction's sidecar).") var input: String?
    @Option(help: "The ground truth, when there is one.") var reference: String?
    @Option(help: "A baseline on the reconstruction's grid (default: cubic interpolation of the input, computed).") var baseline: String?
    @Flag(name: .customLong("no-baseline"), help: "No baseline.") var noBaseline = false
    @Option(help: "A mask (a brain mask): metrics inside it as well.") var mask: String?
    @Option(name: .customLong("segmentation"), help: "A label map NAME=FILE (NAME reference, upres, cubic or any); the others get a Dice to 'reference'. Repeatable.")
    var segmentations: [String] = []
    @Option(help: "The output of `upres evaluate --json`, shown as a table.") var evaluation: String?
    @Option(help: "The subject's name (default: the reconstruction's file name).") var subject: String?
    @Option(help: "The group report's title.") var title: String = "upres group report"
    @Flag(help: "Overwrite the report and its summary.") var force = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard output.hasSuffix(".html") else { throw ValidationError("-o \(output): expected a .html file name") }
        if group {
            guard !paths.isEmpty else { throw ValidationError("--group needs the subjects' summary .json files") }
            for p in paths where !p.hasSuffix(".json") { throw ValidationError("--group takes the subjects' summaries (.json, written beside each report), not \(p)") }
            if input != nil || reference != nil || baseline != nil || mask != nil || !segmentations.isEmpty || evaluation != nil || subject != nil {
                throw ValidationError("--group reads everything from the summaries; --input, --reference, --baseline, --mask, --segmentation, --evaluation and --subject apply to a subject's report")
            }
        } else {
            guard paths.count == 1 else { throw ValidationError("a subject's report takes one reconstruction (got \(paths.count)); many: write one report each, then --group") }
            if baseline != nil && noBaseline { throw ValidationError("--baseline and --no-baseline exclude each other") }
            for s in segmentations where s.split(separator: "=", maxSplits: 1).count != 2 {
                throw ValidationError("--segmentation \(s): expected NAME=FILE, e.g. --segmentation reference=ref_seg.nii.gz")
            }
        }
    }

    /// The summary written beside a page: `report.html` -> `report.summary.json` (not `report.json`,
    /// which may be a reconstruction's sidecar).
    static func summaryPath(_ html: String) -> String { String(html.dropLast(".html".count)) + ".summary.json" }

    func run() throws {
        try global.apply()
        try VolumeIO.checkOutput(output, force: force)
        if group { return try runGroup() }
        let summaryPath = Self.summaryPath(output)
        try VolumeIO.checkOutput(summaryPath, force: force)
        let path = paths[0]
        let recon = try VolumeIO.read(path).volume
        try VolumeIO.requireScalar(recon, path)
        var inputs = SubjectReport.Inputs(subject: subject ?? URL(fileURLWithPath: VolumeIO.stem(path)).lastPathComponent, reconstruction: recon, reconstructionPath: path)

        let sidecarPath = Sidecar.path(for: path)
        var sidecar: [String: Any]? = nil
        if let data = FileManager.default.contents(atPath: sidecarPath) {
            inputs.sidecar = data
            sidecar = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        } else {
            inputs.warnings.append("no sidecar \(sidecarPath): the reconstruction's provenance is unknown")
        }
        // The input: given, or the sidecar's.
        var inputPath = input
        if inputPath == nil, let p = sidecar?["input"] as? String {
            if FileManager.default.fileExists(atPath: p) { inputPath = p } else { inputs.warnings.append("the sidecar's input \(p) is not found; the input is not shown") }
        }
        if let inputPath {
            let v = try VolumeIO.read(inputPath).volume
            try VolumeIO.requireScalar(v, inputPath)
            inputs.input = v
            inputs.inputPath = inputPath
        }
        if let reference {
            inputs.reference = try VolumeIO.read(reference).volume
            try VolumeIO.requireScalar(inputs.reference!, reference)
            inputs.referencePath = reference
        }
        if let baseline {
            inputs.baseline = try VolumeIO.read(baseline).volume
            inputs.baselineLabel = "baseline"
        } else if !noBaseline, let v = inputs.input {
            let spacing = (sidecar?["targetSpacing"] as? Double) ?? recon.spacing.min()!
            do {
                inputs.baseline = try Reconstruction.interpolate(v, method: .cubic, targetSpacing: spacing)
            } catch let e as Reconstruction.AlreadyAtTarget {
                inputs.warnings.append("no cubic baseline: \(e)")
            }
        }
        if let mask {
            inputs.mask = try VolumeIO.read(mask).volume
            inputs.maskPath = mask
        }
        for s in segmentations {
            let p = s.split(separator: "=", maxSplits: 1).map(String.init)
            inputs.segmentations.append((p[0], try VolumeIO.read(p[1]).volume))
        }
        if let evaluation {
            guard let data = FileManager.default.contents(atPath: evaluation) else { throw CLIError("\(evaluation): cannot read the evaluation") }
            inputs.evaluation = data
            inputs.evaluationPath = evaluation
        }
        inputs.modelCard = Self.modelCard(sidecar)
        let built: (page: HTMLPage, summary: SubjectReport.Summary)
        do {
            built = try SubjectReport(inputs).build(page: URL(fileURLWithPath: output).lastPathComponent)
        } catch let e as ReportError {
            throw CLIError(e.localizedDescription)
        }
        try built.page.write(to: URL(fileURLWithPath: output), generator: "upres \(UpresVersion.string)", overwrite: force)
        do { try Sidecar.write(built.summary, to: summaryPath, overwrite: force) } catch {
            try? FileManager.default.removeItem(atPath: output)
            throw error
        }
        for w in built.summary.warnings { Console.warn(w) }
        print("\(output): report of \(inputs.subject) (\(built.summary.warnings.count) warnings; summary \(summaryPath))")
    }

    func runGroup() throws {
        let decoder = JSONDecoder()
        let outFolder = URL(fileURLWithPath: output).deletingLastPathComponent().standardizedFileURL
        let subjects = try paths.map { p -> GroupReport.Subject in
            guard let data = FileManager.default.contents(atPath: p) else { throw CLIError("\(p): cannot read the summary") }
            let summary: SubjectReport.Summary
            do { summary = try decoder.decode(SubjectReport.Summary.self, from: data) } catch {
                throw CLIError("\(p): not a subject summary written by `upres report` (\(error))")
            }
            let page = URL(fileURLWithPath: p).deletingLastPathComponent().appendingPathComponent(summary.page).standardizedFileURL
            return GroupReport.Subject(summary: summary, link: Self.relativePath(page, from: outFolder))
        }
        let page = GroupReport(title: title, subjects: subjects).build()
        try page.write(to: URL(fileURLWithPath: output), generator: "upres \(UpresVersion.string)", overwrite: force)
        print("\(output): group report of \(subjects.count) subjects")
    }

    /// The model card beside the model file a reconstruction's sidecar names (its folder's MODEL_CARD.md).
    static func modelCard(_ sidecar: [String: Any]?) -> String? {
        guard let modelFile = sidecar?["modelFile"] as? String else { return nil }
        let url = URL(fileURLWithPath: modelFile)
        let folder = modelFile.hasSuffix(".safetensors") ? url.deletingLastPathComponent() : url
        return try? String(contentsOf: folder.appendingPathComponent("MODEL_CARD.md"), encoding: .utf8)
    }


    /// `target` relative to the folder `base` (both absolute, standardized).
    static func relativePath(_ target: URL, from base: URL) -> String {
        let t = target.pathComponents, b = base.pathComponents
        var i = 0
        while i < t.count && i < b.count && t[i] == b[i] { i += 1 }
        return (Array(repeating: "..", count: b.count - i) + t[i...]).joined(separator: "/")
    }
}
