import ArgumentParser
import Imaging
import Report
import SuperResolution

import Foundation

/// `upres bids BIDS_DIR OUT_DIR participant|group`: the main job over a BIDS dataset, as a BIDS app.
struct BIDSApp: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bids",
        abstract: "A BIDS app: reconstruct every thick-slice anatomical scan of a dataset, with reports (participant), and the group report (group).",
        discussion: """
            participant: for each subject (--participant-label, or all; --shard I/N takes every N-th \
            from the I-th for a Slurm job array), each anatomical scan in anat/ (every session) whose \
            suffix is one of --suffix and whose slices are thick (largest voxel spacing at least \
            --min-slice-ratio times the smallest and above the target spacing) becomes a BIDS \
            derivative in OUT_DIR: sub-X[/ses-Y]/anat/sub-X[_ses-Y]..._desc-upres_<suffix>.nii.gz with a \
            JSON sidecar (Sources, GeneratedBy and upsample's provenance), plus \
            dataset_description.json, a report per subject (sub-X.html) and each scan's summary under \
            sub-X/figures/. Finished scans are skipped unless --force, so a stopped run resumes. A scan \
            that fails is reported and the others go on; the exit status is non-zero if any failed.

            group: the group report OUT_DIR/group_report.html from every subject's summaries.

            Reconstruction options after --, as for upres upsample (e.g. -- --adapt-steps 200 \
            --interp cubic); --model NAME is taken directly.
            """)

    enum Level: String, ExpressibleByArgument, CaseIterable { case participant, group }

    @Argument(help: "The BIDS dataset (raw).") var bidsDir: String
    @Argument(help: "The derivatives folder.") var outputDir: String
    @Argument(help: "participant or group.") var level: Level
    @Option(name: .customLong("participant-label"), parsing: .upToNextOption, help: "Subjects to process (with or without sub-); default all.")
    var participantLabel: [String] = []
    @Option(parsing: .upToNextOption, help: "Suffixes of the anatomical scans to reconstruct.") var suffix: [String] = ["T1w", "T2w", "FLAIR"]
    @Option(help: "Model for upsample (name or path); default: upsample's default mode.") var model: String?
    @Option(help: "I/N: process the I-th of N shares of the subjects (sorted; every N-th from the I-th).") var shard: String?
    @Option(name: .customLong("min-slice-ratio"), help: "A scan is thick-slice when its largest voxel spacing is at least this times its smallest.")
    var minSliceRatio: Double = 1.5
    @Flag(help: "Redo finished scans and reports.") var force = false
    @Flag(name: .customLong("no-report"), help: "No HTML reports.") var noReport = false
    @Argument(parsing: .postTerminator, help: "Options for upsample, after --.") var upsampleOptions: [String] = []

    @OptionGroup var global: GlobalOptions

    static let desc = "upres"

    func validate() throws {
        if let shard { do { _ = try BIDS.Shard(parsing: shard) } catch { throw ValidationError("\(error.localizedDescription)") } }
        guard minSliceRatio >= 1 else { throw ValidationError("--min-slice-ratio \(minSliceRatio) must be >= 1") }
        guard !suffix.isEmpty else { throw ValidationError("--suffix needs at least one suffix, e.g. T1w") }
        for s in suffix where s.isEmpty || !s.allSatisfy({ $0.isLetter || $0.isNumber }) {
            throw ValidationError("--suffix \(s): a BIDS suffix is letters and digits, e.g. T1w, T2w, FLAIR")
        }
        if level == .group && (model != nil || !upsampleOptions.isEmpty || shard != nil) {
            throw ValidationError("the group level reads the participants' summaries; --model, --shard and upsample options apply to participant")
        }
        for o in upsampleOptions where ["-o", "--output-template", "--inputs", "--save-model"].contains(o) {
            throw ValidationError("\(o): the BIDS app names the outputs itself; leave it out of the upsample options")
        }
    }

    var outRoot: URL { URL(fileURLWithPath: outputDir).standardizedFileURL }

    func run() throws {
        try global.apply()
        let dataset: BIDS.Dataset
        do { dataset = try BIDS.Dataset(URL(fileURLWithPath: bidsDir)) } catch { throw CLIError(error.localizedDescription) }
        var subjects = try dataset.subjects()
        if !participantLabel.isEmpty {
            let wanted = participantLabel.map { $0.hasPrefix("sub-") ? String($0.dropFirst(4)) : $0 }
            if let missing = wanted.first(where: { !subjects.contains($0) }) {
                throw CLIError("--participant-label \(missing): no sub-\(missing) in \(bidsDir) (subjects: \(subjects.map { "sub-\($0)" }.joined(separator: ", ")))")
            }
            subjects = subjects.filter { wanted.contains($0) }
        }
        guard !subjects.isEmpty else { throw CLIError("\(bidsDir): no sub-* folders") }
        switch level {
        case .participant: try participant(dataset, subjects: shard.map { try BIDS.Shard(parsing: $0).select(subjects) } ?? subjects)
        case .group: try group(subjects: subjects)
        }
    }

    // MARK: participant

    func participant(_ dataset: BIDS.Dataset, subjects: [String]) throws {
        // The upsample settings, checked once; the model loads once.
        var template: Upsample
        do { template = try Upsample.parse(["in.nii.gz", "out.nii.gz"] + (model.map { ["--model", $0] } ?? []) + upsampleOptions) } catch {
            throw CLIError("upsample options \(upsampleOptions.joined(separator: " ")): \(Upsample.message(for: error))")
        }
        let shared: ModelFile?
        do { shared = try template.model.map { try ModelFile.load(ModelFile.resolve($0)) } } catch let e as ModelError {
            throw CLIError("--model \(template.model!): \(e)")
        }
        try FileManager.default.createDirectory(at: outRoot, withIntermediateDirectories: true)
        try writeDatasetDescription(dataset)
        Console.err("bids: \(subjects.count) subject(s)\(shard.map { " (shard \($0))" } ?? ""): \(subjects.map { "sub-\($0)" }.joined(separator: " "))")
        var failed: [String] = [], made = 0, skipped = 0
        for subject in subjects {
            let (scans, invalid) = try dataset.anatomicalScans(subject: subject, suffixes: suffix)
            for f in invalid { Console.warn("\(f): not a BIDS file name of sub-\(subject); skipped") }
            var reports: [(scan: BIDS.Scan, output: String, summary: String)] = []
            var redone = false
            for scan in scans {
                let input = dataset.root.appendingPathComponent(scan.relativePath).path
                let output = outRoot.appendingPathComponent(scan.derivative(desc: Self.desc)).path
                let summary = summaryPath(scan)
                do {
                    guard try isThickSlice(input, target: template.spacing, scan: scan) else { continue }
                    let fm = FileManager.default
                    let finished = [output, Sidecar.path(for: output)] + (noReport ? [] : [summary])
                    if !force && finished.allSatisfy({ fm.fileExists(atPath: $0) }) {
                        Console.err("bids: \(scan.label): done (skipped; --force redoes it)")
                        skipped += 1
                        reports.append((scan, output, summary))
                        continue
                    }
                    try fm.createDirectory(at: URL(fileURLWithPath: output).deletingLastPathComponent(), withIntermediateDirectories: true)
                    // A partial earlier run may have left the volume without its summary: redo it.
                    let overwrite = force || fm.fileExists(atPath: output) || fm.fileExists(atPath: Sidecar.path(for: output))
                    let up = try Upsample.parse([input, output] + (model.map { ["--model", $0] } ?? []) + upsampleOptions + (overwrite ? ["--force"] : []) + (upsampleOptions.contains("--quiet") ? [] : ["--quiet"]))
                    Console.err("bids: \(scan.label): reconstructing \(scan.relativePath)")
                    let record = try up.reconstruct(input, to: output, shared: shared)
                    try writeBIDSSidecar(for: output, scan: scan, record: record)
                    reports.append((scan, output, summary))
                    made += 1
                    redone = true
                } catch {
                    failed.append(scan.relativePath)
                    Console.err("bids: \(scan.label): FAILED: \(Upsample.message(error))")
                }
            }
            let page = outRoot.appendingPathComponent("sub-\(subject).html").path
            if !noReport && !reports.isEmpty && (redone || force || !FileManager.default.fileExists(atPath: page)) {
                do { try writeSubjectReport(subject: subject, reports, dataset: dataset, page: page) } catch {
                    failed.append("sub-\(subject) report")
                    Console.err("bids: sub-\(subject): the report failed: \(Upsample.message(error))")
                }
            }
        }
        Console.err("bids: \(made) reconstructed, \(skipped) already done, \(failed.count) failed")
        if !failed.isEmpty {
            Console.err("bids: failed: \(failed.joined(separator: ", "))")
            throw ExitCode(1)
        }
    }

    /// sub-X/figures/<derivative stem>_report.json
    func summaryPath(_ scan: BIDS.Scan) -> String {
        let name = URL(fileURLWithPath: scan.derivative(desc: Self.desc, extension: "")).lastPathComponent
        return outRoot.appendingPathComponent("sub-\(scan.subject)/figures/\(name)_report.json").path
    }

    func isThickSlice(_ path: String, target: Double, scan: BIDS.Scan) throws -> Bool {
        let spacing = try BIDS.voxelSizes(of: URL(fileURLWithPath: path))
        guard BIDS.isThickSlice(spacing: spacing, target: target, minimumRatio: minSliceRatio) else {
            Console.err("bids: \(scan.label): \(spacing.map { String(format: "%.3g", $0) }.joined(separator: " x ")) mm voxels, not thick-slice; left as it is")
            return false
        }
        return true
    }

    func writeDatasetDescription(_ dataset: BIDS.Dataset) throws {
        let url = outRoot.appendingPathComponent("dataset_description.json")
        let description = BIDS.derivativeDescription(of: dataset, name: "upres super-resolution", generatedBy: Self.generatedBy)
        if let data = FileManager.default.contents(atPath: url.path) {
            let existing = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            let by = (existing?["GeneratedBy"] as? [[String: Any]])?.first?["Name"] as? String
            guard by == "upres" else {
                throw CLIError("\(url.path): a dataset description not written by upres; give an empty or upres derivatives folder")
            }
            return
        }
        try writeJSON(description, to: url.path)
    }

    static var generatedBy: [String: Any] {
        ["Name": "upres", "Version": UpresVersion.string,
         "Description": "Deep-learning super-resolution of thick-slice brain MRI (upres upsample)"]
    }

    /// upsample's sidecar with the BIDS fields added: Sources (BIDS URIs into the raw dataset) and GeneratedBy.
    func writeBIDSSidecar(for output: String, scan: BIDS.Scan, record: UpsampleRecord) throws {
        let path = Sidecar.path(for: output)
        guard let data = FileManager.default.contents(atPath: path), var json = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CLIError("\(path): cannot read the sidecar upsample wrote")
        }
        json["Sources"] = ["bids:raw:\(scan.relativePath)"]
        json["GeneratedBy"] = [Self.generatedBy]
        json["Description"] = "\(scan.name.suffix) reconstructed at \(String(format: "%g", record.targetSpacing)) mm by upres (\(record.method)\(record.model.map { ", model \($0)" } ?? ""))"
        try writeJSON(json, to: path)
    }

    func writeJSON(_ object: Any, to path: String) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) + Data("\n".utf8)
        try AtomicFile.write([Array(data)], to: URL(fileURLWithPath: path), overwrite: true)
    }

    /// One page for the subject, a part per scan; one summary per scan for the group report.
    func writeSubjectReport(subject: String, _ scans: [(scan: BIDS.Scan, output: String, summary: String)], dataset: BIDS.Dataset, page: String) throws {
        var full = HTMLPage(title: "upres report: sub-\(subject)")
        var summaries: [(String, SubjectReport.Summary)] = []
        for (scan, output, summaryPath) in scans {
            let recon = try VolumeIO.read(output).volume
            var inputs = SubjectReport.Inputs(subject: scan.label, reconstruction: recon, reconstructionPath: scan.derivative(desc: Self.desc))
            let input = try VolumeIO.read(dataset.root.appendingPathComponent(scan.relativePath).path).volume
            inputs.input = input
            inputs.inputPath = scan.relativePath
            inputs.sidecar = FileManager.default.contents(atPath: Sidecar.path(for: output))
            let sidecar = inputs.sidecar.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
            let spacing = (sidecar?["targetSpacing"] as? Double) ?? recon.spacing.min()!
            inputs.baseline = try Reconstruction.interpolate(input, method: .cubic, targetSpacing: spacing)
            inputs.sectionPrefix = scans.count > 1 ? scan.label.replacingOccurrences(of: "sub-\(subject) ", with: "") : nil
            inputs.modelCard = ReportCommand.modelCard(sidecar)
            let built = try SubjectReport(inputs).build(page: "../../sub-\(subject).html")
            full.append(built.page)
            summaries.append((summaryPath, built.summary))
        }
        try FileManager.default.createDirectory(at: outRoot.appendingPathComponent("sub-\(subject)/figures"), withIntermediateDirectories: true)
        try full.write(to: URL(fileURLWithPath: page), generator: "upres \(UpresVersion.string)", overwrite: true)
        for (path, summary) in summaries { try Sidecar.write(summary, to: path, overwrite: true) }
        Console.err("bids: sub-\(subject): report \(page)")
    }

    // MARK: group

    func group(subjects: [String]) throws {
        var entries: [GroupReport.Subject] = []
        for subject in subjects {
            let figures = outRoot.appendingPathComponent("sub-\(subject)/figures")
            let files = (try? FileManager.default.contentsOfDirectory(atPath: figures.path)) ?? []
            for f in files.sorted() where f.hasSuffix("_report.json") {
                let path = figures.appendingPathComponent(f).path
                guard let data = FileManager.default.contents(atPath: path),
                      let summary = try? JSONDecoder().decode(SubjectReport.Summary.self, from: data) else {
                    throw CLIError("\(path): not a summary written by upres bids participant")
                }
                entries.append(GroupReport.Subject(summary: summary, link: "sub-\(subject).html"))
            }
        }
        guard !entries.isEmpty else {
            throw CLIError("\(outputDir): no participant summaries (sub-*/figures/*_report.json); run the participant level first")
        }
        let page = GroupReport(title: "upres group report: \(entries.count) scans of \(Set(entries.map { $0.summary.subject.split(separator: " ")[0] }).count) subjects",
                               subjects: entries).build()
        let out = outRoot.appendingPathComponent("group_report.html")
        try page.write(to: out, generator: "upres \(UpresVersion.string)", overwrite: true)
        print("\(out.path): group report of \(entries.count) scans")
    }
}
