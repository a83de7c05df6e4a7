import Foundation
import Imaging

/// What `upres evaluate` compares for one subject: the reference, its optional mask, label map,
/// tissue masks (CSF, GM, WM) and segmentation, and the tests with their optional segmentations.
struct EvaluationInputs {
    struct Test {
        var name: String
        var path: String
        var segmentation: String?
    }

    var subject: String
    var reference: String
    var mask: String?
    var labels: String?
    /// CSF, GM and WM masks, in that order.
    var tissues: [String]?
    var segmentation: String?
    var tests: [Test]
}

/// The CSV of `upres evaluate --subjects`: a header with 'subject' and 'reference', optional
/// 'mask', 'labels', 'csf', 'gm', 'wm' and 'segmentation' (the reference's), optional
/// 'segmentation:TEST' per test, and one column per test (its header names it). Relative paths
/// are relative to the CSV's folder.
enum SubjectList {
    static let known = ["subject", "reference", "mask", "labels", "csf", "gm", "wm", "segmentation"]

    static func read(_ path: String) throws -> [EvaluationInputs] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw CLIError("\(path): cannot read the subject list") }
        let lines = text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty && !$0.hasPrefix("#") }
        guard let header = lines.first?.split(separator: ",", omittingEmptySubsequences: false).map({ $0.trimmingCharacters(in: .whitespaces) }) else {
            throw CLIError("\(path): the subject list is empty")
        }
        guard let si = header.firstIndex(of: "subject"), let ri = header.firstIndex(of: "reference") else {
            throw CLIError("\(path): the header needs columns 'subject' and 'reference' (got \(header.joined(separator: ",")))")
        }
        func column(_ name: String) -> Int? { header.firstIndex(of: name) }
        let tissueColumns = ["csf", "gm", "wm"].map(column)
        if tissueColumns.contains(where: { $0 != nil }) && tissueColumns.contains(where: { $0 == nil }) {
            throw CLIError("\(path): tissue masks need all three columns csf, gm and wm (got \(zip(["csf", "gm", "wm"], tissueColumns).filter { $0.1 != nil }.map(\.0).joined(separator: ", ")))")
        }
        let testColumns = header.indices.filter { !known.contains(header[$0]) && !header[$0].hasPrefix("segmentation:") }
        guard !testColumns.isEmpty else {
            throw CLIError("\(path): no test columns (every column other than \(known.joined(separator: ", ")) and segmentation:TEST is a test)")
        }
        for c in header.indices where header[c].hasPrefix("segmentation:") {
            let name = String(header[c].dropFirst("segmentation:".count))
            guard testColumns.contains(where: { header[$0] == name }) else {
                throw CLIError("\(path): column '\(header[c])' names no test column '\(name)'")
            }
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        func resolve(_ p: String) -> String { p.hasPrefix("/") ? p : folder.appendingPathComponent(p).path }
        guard lines.count > 1 else { throw CLIError("\(path): no subject rows after the header") }
        return try lines.dropFirst().enumerated().map { n, line in
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == header.count else {
                throw CLIError("\(path): line \(n + 2) has \(cells.count) fields, the header \(header.count)")
            }
            for c in [si, ri] + testColumns where cells[c].isEmpty {
                throw CLIError("\(path): line \(n + 2): column '\(header[c])' is empty")
            }
            func optional(_ c: Int?) -> String? { c.flatMap { cells[$0].isEmpty ? nil : resolve(cells[$0]) } }
            let tissues = tissueColumns.compactMap(optional)
            return EvaluationInputs(
                subject: cells[si], reference: resolve(cells[ri]), mask: optional(column("mask")), labels: optional(column("labels")),
                tissues: tissues.count == 3 ? tissues : nil, segmentation: optional(column("segmentation")),
                tests: testColumns.map { .init(name: header[$0], path: resolve(cells[$0]), segmentation: optional(column("segmentation:" + header[$0]))) })
        }
    }
}

/// `upres evaluate --dataset manifest.json --test NAME=TEMPLATE`: the subjects of one split of a
/// dataset written by `upres simulate --dataset`, with each subject's HR volume as the reference
/// and its mask. A template names each test's file with {subject}, and, to evaluate every
/// simulated pair, {setting}, {direction} and {lr} (the pair's LR file).
enum DatasetSubjects {
    static let pairFields = ["{setting}", "{direction}", "{lr}"]

    static func read(_ manifestPath: String, split: DatasetManifest.Split, templates: [String]) throws -> [EvaluationInputs] {
        let url = URL(fileURLWithPath: manifestPath)
        let manifest: DatasetManifest
        do { manifest = try DatasetManifest.load(url) } catch { throw CLIError("\(error)") }
        let tests = try templates.map { t -> (String, String) in
            guard let eq = t.firstIndex(of: "="), eq != t.startIndex, t.index(after: eq) != t.endIndex else {
                throw CLIError("--test \(t): with --dataset, a test is NAME=TEMPLATE, for example sr=out/{subject}_{setting}_{direction}.nii.gz")
            }
            return (String(t[..<eq]), String(t[t.index(after: eq)...]))
        }
        guard !tests.isEmpty else { throw CLIError("--dataset needs at least one --test NAME=TEMPLATE") }
        let perPair = tests.contains { _, t in pairFields.contains { t.contains($0) } }
        let subjects = manifest.subjects(in: split)
        guard !subjects.isEmpty else { throw CLIError("\(manifestPath): the \(split.rawValue) split has no subjects") }
        func path(_ p: String) -> String { DatasetManifest.url(of: p, relativeTo: url).path }
        var out: [EvaluationInputs] = []
        for s in subjects {
            let pairs: [DatasetManifest.Pair?] = perPair ? manifest.pairs.filter { $0.subject == s.id } : [nil]
            for p in pairs {
                func fill(_ template: String) -> String {
                    var t = template.replacingOccurrences(of: "{subject}", with: s.id)
                    if let p {
                        t = t.replacingOccurrences(of: "{setting}", with: p.setting)
                            .replacingOccurrences(of: "{direction}", with: p.direction ?? "none")
                            .replacingOccurrences(of: "{lr}", with: path(p.lr))
                    }
                    return t
                }
                let name = p.map { "\(s.id) \($0.setting)" + ($0.direction.map { " \($0)" } ?? "") } ?? s.id
                out.append(EvaluationInputs(subject: name, reference: path(s.hr), mask: s.mask.map(path), labels: nil, tissues: nil,
                                            segmentation: nil, tests: tests.map { .init(name: $0.0, path: fill($0.1), segmentation: nil) }))
            }
        }
        return out
    }
}
