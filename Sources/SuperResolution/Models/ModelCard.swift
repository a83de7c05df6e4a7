import Foundation
import Imaging

/// A model card in Markdown for a model upres made itself (a per-scan adaptation saved with
/// `upres upsample --save-model`): architecture, task, how it was trained, and its hash.
public enum ModelCard {
    public static func markdown(name: String, spec: ModelSpec, task: ModelTask, parameters: Int, sha256: String) -> String {
        var lines = ["# \(name)", ""]
        lines.append("Made by upres \(task.adaptation.map { $0.mode == "adapt" ? "adapting a pretrained model to" : "training from scratch (self-supervised) on" } ?? "for") one scan; it serves scans of the same protocol (slice spacing, thickness, contrast).")
        lines.append("")
        lines.append("| | |")
        lines.append("| --- | --- |")
        lines.append("| Architecture | \(spec.architecture): `\((try? spec.json()) ?? "?")` |")
        lines.append("| Input | \(spec.contract) |")
        lines.append("| Parameters | \(parameters) |")
        lines.append("| Weights SHA-256 | `\(sha256)` |")
        let assumed = task.adaptation?.thicknessAssumed == true ? " (assumed: the thickness is unknown)" : ""
        lines.append("| Task | slices \(fmt(task.sliceSpacing)) mm apart\(task.sliceThickness.map { ", \(fmt($0)) mm thick\(assumed)" } ?? "") to \(fmt(task.targetSpacing)) mm; contrast \(task.contrast) |")
        lines.append("| Normalization | min-max on the \(task.normalizationPercentiles.map { fmt($0) }.joined(separator: " / ")) percentiles\(task.clips ? ", clipped" : ", not clipped") |")
        if let a = task.adaptation {
            let thickness: String
            if let r = a.sliceThicknessRange, r.count == 2 {
                thickness = "\(fmt(r[0])) to \(fmt(r[1])) mm thick (the thickness unknown: not given, no plausible estimate)"
            } else {
                thickness = "\(fmt(a.sliceThickness)) mm thick\(a.thicknessAssumed == true ? " (assumed: no plausible estimate)" : a.thicknessEstimated ? " (estimated from the scan)" : "")"
            }
            lines.append("| Training pairs | the scan's own in-plane slices, acquired again along an in-plane axis: \(a.profile.rawValue) profile, \(thickness), \(fmt(a.sliceSpacing)) mm apart, cubic interpolation back; flips and both in-plane axes |")
            lines.append("| Training | \(a.mode)\(a.baseModel.map { " from \($0) (`\(a.baseModelSHA256 ?? "")`)" } ?? ""): \(a.steps) steps of \(a.batchSize) patches of \(a.patch) px, Adam lr \(a.learningRate) (cosine), L1, seed \(a.seed), \(String(format: "%.0f", a.seconds)) s |")
            lines.append("| Loss (L1, normalized) | \(String(format: "%.5f", a.initialLoss)) over the first 10% of the steps, \(String(format: "%.5f", a.finalLoss)) over the last 10% |")
            if let s = a.scanSHA256 { lines.append("| Scan SHA-256 | `\(s)` |") }
        }
        lines += ["", "Use it with `upres upsample IN OUT --model PATH` (add `--adapt` to adapt it again to each scan).", ""]
        return lines.joined(separator: "\n")
    }

    static func fmt(_ x: Double) -> String { String(format: "%.3g", x) }
}

extension ModelFile {
    /// Refuses a folder that already holds a model unless `overwrite` (checked before a
    /// per-scan training, not only after it).
    public static func checkFolderIsFree(_ folder: URL, overwrite: Bool) throws {
        if !overwrite && FileManager.default.fileExists(atPath: folder.appendingPathComponent("model.safetensors").path) {
            throw ModelError.invalid("\(folder.path) already holds a model; choose another folder or add --force")
        }
    }

    /// Writes a model folder: model.safetensors and MODEL_CARD.md. Refuses an existing folder
    /// that already holds a model unless `overwrite`.
    public static func saveFolder(_ model: any SuperResolutionModel, task: ModelTask, to folder: URL, overwrite: Bool) throws -> ModelFile {
        try checkFolderIsFree(folder, overwrite: overwrite)
        let weights = folder.appendingPathComponent("model.safetensors")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try save(model, task: task, to: weights)
        let file = try load(weights)
        let card = ModelCard.markdown(name: folder.lastPathComponent, spec: file.spec, task: task, parameters: model.parameterCount,
                                      sha256: file.sha256)
        try AtomicFile.write([Array(card.utf8)], to: folder.appendingPathComponent("MODEL_CARD.md"), overwrite: true)
        return file
    }
}
