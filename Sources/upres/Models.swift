import ArgumentParser
import Imaging
import SuperResolution
import Torch

import Foundation

/// `upres models [--json]`: the shipped and user models with their task, size and hash.
struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the models upres finds (shipped and user models) with their task, parameters and SHA-256.",
        discussion: "Searched in $UPRES_MODELS (colon-separated folders), the models/ folder of the checkout, and /usr/local/share/upres/models. Architectures: \(ModelRegistry.architectures.joined(separator: ", ")).")

    @Flag(help: "Machine-readable output.") var json = false

    struct Entry: Codable {
        var name: String
        var path: String
        var architecture: String
        var input: String
        var contrast: String
        /// A fusing model's input contrasts (channel groups), in order.
        var inputContrasts: [String]? = nil
        /// Models trained on in-plane kernel pairs: the in-plane restoration they do.
        var inPlane: InPlaneTask? = nil
        /// 3-D models trained on k-space pairs: the truncation they undo.
        var kspace: KSpaceTruncation? = nil
        var factors: [Double]
        var sliceSpacing: Double
        var sliceThickness: Double?
        /// Per-scan models trained with the thickness unknown: the thinnest and thickest slices
        /// their pairs spanned.
        var sliceThicknessRange: [Double]? = nil
        var targetSpacing: Double
        var parameters: Int
        var sha256: String
        var error: String?
    }

    /// What slices a model was trained on, for its task line.
    private func trainedOn(_ e: Entry) -> String {
        if let r = e.sliceThicknessRange, r.count == 2 {
            return String(format: " (trained across %.3g to %.3g mm slices: thickness unknown)", r[0], r[1])
        }
        return e.sliceThickness.map { String(format: " (trained around %.3g mm slices)", $0) } ?? ""
    }

    func run() throws {
        var entries: [Entry] = []
        for (name, url) in ModelFile.availableModelFolders() {
            do {
                let f = try ModelFile.load(url)
                // 3-D models restore on their own grid: factor 1.
                let factors = f.contract.isVolume ? [1, 1] : f.contract.fixedFactor.map { [Double($0), Double($0)] } ?? f.task.factors ?? []
                entries.append(Entry(name: name, path: f.url.path, architecture: f.spec.architecture, input: "\(f.contract)",
                                     contrast: f.task.contrast, factors: factors, sliceSpacing: f.task.sliceSpacing,
                                     sliceThickness: f.task.sliceThickness, targetSpacing: f.task.targetSpacing,
                                     parameters: f.model.parameterCount, sha256: f.sha256))
                entries[entries.count - 1].inputContrasts = f.task.inputContrasts
                entries[entries.count - 1].inPlane = f.task.inPlane
                entries[entries.count - 1].kspace = f.task.kspace
                entries[entries.count - 1].sliceThicknessRange = f.task.adaptation?.sliceThicknessRange
            } catch {
                entries.append(Entry(name: name, path: url.path, architecture: "?", input: "?", contrast: "?", factors: [], sliceSpacing: 0,
                                     targetSpacing: 0, parameters: 0, sha256: "", error: "\(error)"))
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(entries), as: UTF8.self))
            return
        }
        if entries.isEmpty { print("no models found in \(ModelFile.searchDirectories().map(\.path).joined(separator: ", "))"); return }
        for e in entries {
            if let err = e.error { print("\(e.name)  (unreadable: \(err))"); continue }
            let factors = e.factors.count == 2 ? (e.factors[0] == e.factors[1] ? String(format: "x%.3g", e.factors[0]) : String(format: "x%.3g-%.3g", e.factors[0], e.factors[1])) : "?"
            print("\(e.name)")
            print("  \(e.architecture), \(e.parameters) parameters; \(e.input)")
            if let p = e.inPlane {
                print("  task: \(e.contrast), in-plane x\(p.factor) to \(String(format: "%.3g", e.targetSpacing)) mm (slices degraded by \(p.kernel))")
            } else if e.factors == [1, 1] {
                let undoes = e.kspace.map { k in
                    let axes = k.axes.map { "along axes " + $0.map(String.init).joined(separator: ", ") } ?? "in-plane"
                    return String(format: " of k-space truncated to 1/%.3g %@ (zero-filled)", k.factor, axes)
                } ?? ""
                print("  task: \(e.contrast), restoration\(undoes) on the input's own \(String(format: "%.3g", e.targetSpacing)) mm grid")
            } else {
                print("  task: \(e.contrast)\(e.inputContrasts.map { " from " + $0.joined(separator: " + ") } ?? ""), factors \(factors) to \(String(format: "%.3g", e.targetSpacing)) mm\(trainedOn(e))")
            }
            print("  \(e.path)")
            print("  sha256 \(e.sha256)")
        }
    }
}
