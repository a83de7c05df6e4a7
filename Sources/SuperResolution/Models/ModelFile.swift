import Foundation
import Imaging
import NN
import Torch

/// What a model was made for, stored with it: the acquisition it reconstructs.
public struct ModelTask: Codable, Sendable, Equatable {
    /// Slice spacing of the LR scans (mm) and the HR voxel size it reconstructs (mm).
    public var sliceSpacing: Double
    public var targetSpacing: Double
    /// Slice thickness it was trained for (mm), for the model card.
    public var sliceThickness: Double?
    public var contrast: String
    /// The intensity normalization its inputs get: min-max on these percentiles.
    public var normalizationPercentiles: [Double]
    /// Whether intensities beyond the percentiles are clipped before the model (true for models
    /// saved before this field existed). Reconstruction restores the clipped part either way.
    public var clipsIntensities: Bool?
    /// Models on the output grid: the through-plane factors (slice spacing / target spacing)
    /// they were trained for, [lowest, highest].
    public var factors: [Double]?
    /// Per-scan models: what they were adapted on (the scan's SHA-256, mode, steps).
    public var adaptation: AdaptationRecord?
    /// Models fusing several contrasts (seed 000): the contrasts they take as channel groups, in
    /// order; the first is the one they reconstruct. nil: one contrast.
    public var inputContrasts: [String]?
    /// Models trained on in-plane kernel pairs (`data.kernel`, seed 003): they restore scans whose
    /// in-plane voxels are `inPlane.factor` times the target (`Reconstruction.restoreInPlane`).
    public var inPlane: InPlaneTask?
    /// 3-D models restoring on one grid (seed 002): the k-space truncation (zero-filled) their
    /// training pairs were made with. Reconstruction then makes the output agree with the input's
    /// acquired band (`Reconstruction.enforceKSpaceConsistency`); nil for older files and other
    /// degradations.
    public var kspace: KSpaceTruncation?

    public init(sliceSpacing: Double = 6, targetSpacing: Double = 1, sliceThickness: Double? = 5, contrast: String = "T1w",
                normalizationPercentiles: [Double] = [1, 99], clipsIntensities: Bool? = nil, factors: [Double]? = nil,
                adaptation: AdaptationRecord? = nil, inputContrasts: [String]? = nil) {
        self.sliceSpacing = sliceSpacing
        self.targetSpacing = targetSpacing
        self.sliceThickness = sliceThickness
        self.contrast = contrast
        self.normalizationPercentiles = normalizationPercentiles
        self.clipsIntensities = clipsIntensities
        self.factors = factors
        self.adaptation = adaptation
        self.inputContrasts = inputContrasts
    }

    public var clips: Bool { clipsIntensities ?? true }

    /// The task of a model trained on in-plane kernel pairs: it restores by the kernel's factor
    /// in-plane (its only factor), with slices already at the target spacing.
    public func restoringInPlane(_ inPlane: InPlaneTask) -> ModelTask {
        var t = self
        t.inPlane = inPlane
        t.factors = [Double(inPlane.factor), Double(inPlane.factor)]
        t.sliceSpacing = targetSpacing
        return t
    }

    /// The task of a 3-D model trained on pairs simulated by `simulation`: the k-space
    /// truncation it undoes, when that is what made the pairs (on the same grid).
    public func restoring(_ simulation: SimulationSettings) -> ModelTask {
        var t = self
        if case .kspace(let k) = simulation.model, !k.reducedMatrix { t.kspace = k }
        return t
    }
    /// How many contrasts the model's channels hold.
    public var contrastCount: Int { Swift.max(1, inputContrasts?.count ?? 1) }
}

/// A model on disk: one safetensors file whose metadata holds the architecture config and the
/// task as JSON ("upres.config", "upres.task"), next to a model card. Loading checks the format,
/// the architecture, names and shapes, and says which file and field is wrong.
public struct ModelFile {
    public var spec: ModelSpec
    public var task: ModelTask
    public var model: any SuperResolutionModel
    /// SHA-256 of the weights file.
    public var sha256: String
    public var url: URL

    /// The model's name: its folder's, or the file's without extension when it lies elsewhere.
    public var name: String {
        url.lastPathComponent == "model.safetensors" ? url.deletingLastPathComponent().lastPathComponent
            : url.deletingPathExtension().lastPathComponent
    }

    public var contract: InputContract { spec.contract }

    /// Writes the weights with the configuration and task in the metadata, atomically.
    public static func save(_ model: any SuperResolutionModel, task: ModelTask, to url: URL, extra: [String: String] = [:]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var meta = extra
        meta["format"] = "pt"
        meta["upres.config"] = try ModelSpec(model.configuration).json()
        meta["upres.task"] = String(decoding: try encoder.encode(task), as: UTF8.self)
        try model.save(to: url, metadata: meta)
    }

    /// Loads a model file (a .safetensors file, or a folder holding model.safetensors).
    public static func load(_ url: URL) throws -> ModelFile {
        var file = url
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue {
            file = url.appendingPathComponent("model.safetensors")
        }
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw ModelError.invalid("\(file.path): no such model file")
        }
        let contents: Safetensors.Contents
        do { contents = try Safetensors.read(file) } catch {
            throw ModelError.invalid("\(file.path): not a valid safetensors model (\(error))")
        }
        guard let configText = contents.metadata["upres.config"] else {
            throw ModelError.invalid("\(file.path): the metadata has no upres.config (the architecture); was it saved by upres?")
        }
        let spec: ModelSpec, task: ModelTask
        do { spec = try JSONDecoder().decode(ModelSpec.self, from: Data(configText.utf8)) } catch {
            throw ModelError.invalid("\(file.path): upres.config is not a model configuration upres knows (\(describe(error)))")
        }
        do { task = try JSONDecoder().decode(ModelTask.self, from: Data((contents.metadata["upres.task"] ?? "{}").utf8)) } catch {
            throw ModelError.invalid("\(file.path): upres.task is missing or malformed (\(error))")
        }
        let model: any SuperResolutionModel
        do { model = try spec.makeModel() } catch {
            throw ModelError.invalid("\(file.path): upres.config: \(error)")
        }
        try model.loadStateDict(contents.tensors, strict: true, source: file.path)
        model.eval()
        return ModelFile(spec: spec, task: task, model: model, sha256: try Digest.sha256(file: file), url: file)
    }

    /// Finds a model by name (a folder under the models directories) or path.
    public static func resolve(_ nameOrPath: String) throws -> URL {
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".safetensors") {
            return URL(fileURLWithPath: nameOrPath)
        }
        for dir in searchDirectories() {
            let candidate = dir.appendingPathComponent(nameOrPath)
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("model.safetensors").path) { return candidate }
        }
        let known = availableModels().joined(separator: ", ")
        throw ModelError.invalid("model '\(nameOrPath)' not found in \(searchDirectories().map(\.path).joined(separator: ", "))"
                                 + (known.isEmpty ? "" : "; available: \(known)"))
    }

    /// UPRES_MODELS, then the models/ folder of the source tree the binary was built in, then
    /// /usr/local/share/upres/models.
    public static func searchDirectories() -> [URL] {
        var out: [URL] = []
        if let env = ProcessInfo.processInfo.environment["UPRES_MODELS"], !env.isEmpty {
            out += env.split(separator: ":").map { URL(fileURLWithPath: String($0)) }
        }
        let exe = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        for _ in 0..<4 {
            let m = dir.appendingPathComponent("models")
            if FileManager.default.fileExists(atPath: m.path) { out.append(m); break }
            dir = dir.deletingLastPathComponent()
        }
        out.append(URL(fileURLWithPath: "/usr/local/share/upres/models"))
        return out
    }

    /// Every model folder found, first occurrence of each name.
    public static func availableModelFolders() -> [(String, URL)] {
        var out: [(String, URL)] = []
        for dir in searchDirectories() {
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
            where !out.contains(where: { $0.0 == name })
                && FileManager.default.fileExists(atPath: dir.appendingPathComponent(name).appendingPathComponent("model.safetensors").path) {
                out.append((name, dir.appendingPathComponent(name)))
            }
        }
        return out
    }

    public static func availableModels() -> [String] {
        var names: [String] = []
        for dir in searchDirectories() {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            where FileManager.default.fileExists(atPath: dir.appendingPathComponent(name).appendingPathComponent("model.safetensors").path) {
                names.append(name)
            }
        }
        return names.sorted()
    }
}

/// A decoding error as one line: the field's path and what was wrong.
func describe(_ error: Error) -> String {
    guard let e = error as? DecodingError else { return "\(error)" }
    func path(_ c: DecodingError.Context) -> String {
        let p = c.codingPath.map(\.stringValue).joined(separator: ".")
        return p.isEmpty ? c.debugDescription : "field \(p): \(c.debugDescription)"
    }
    switch e {
    case .keyNotFound(let key, let c): return "missing field \((c.codingPath + [key]).map(\.stringValue).joined(separator: "."))"
    case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): return path(c)
    @unknown default: return "\(error)"
    }
}

/// A missing, corrupt or unsuitable model, or a bad training setting.
public enum ModelError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    case invalid(String)
    public var description: String {
        switch self { case .invalid(let m): m }
    }
    public var errorDescription: String? { description }
}
