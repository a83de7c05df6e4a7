#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Torch

/// A paired training set on disk: HR volumes, their simulated LR versions under several settings
/// and orientations, masks, and `manifest.json` describing all of it (files relative to the
/// manifest's folder, settings, seeds, the split by subject). Training reads the manifest.
public struct DatasetManifest: Codable, Sendable, Equatable {
    public enum Split: String, Codable, Sendable, CaseIterable { case train, validation, test }

    public struct Subject: Codable, Sendable, Equatable {
        public var id: String
        public var source: String
        public var sourceSHA256: String
        public var hr: String
        public var mask: String?
        public var split: Split
    }

    public struct Pair: Codable, Sendable, Equatable {
        public var subject: String
        public var setting: String
        /// The slice direction (slices) or the plane whose axes were truncated (k-space); nil
        /// for models without a direction.
        public var direction: String?
        public var lr: String
        public var seed: UInt64
        public var settings: SimulationSettings
        public var noiseSigma: Double?
    }

    public var format: String = "upres-paired-dataset"
    public var formatVersion: Int = 1
    public var tool: String
    public var seed: UInt64
    public var splitFractions: [Double]
    public var settings: [String: SimulationSettings]
    public var directions: [String]
    public var subjects: [Subject]
    public var pairs: [Pair]
    /// False while a run is under way or was interrupted (a rerun resumes it).
    public var complete: Bool

    /// Reads and checks a manifest; file names stay relative (see `url(of:)`).
    public static func load(_ url: URL) throws -> DatasetManifest {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw DegradationError.invalid("\(url.path): cannot read the dataset manifest (\(error))")
        }
        let m: DatasetManifest
        do { m = try JSONDecoder().decode(DatasetManifest.self, from: data) } catch {
            throw DegradationError.invalid("\(url.path): not an upres dataset manifest (\(error))")
        }
        guard m.format == "upres-paired-dataset" else {
            throw DegradationError.invalid("\(url.path): format '\(m.format)' is not upres-paired-dataset")
        }
        guard m.formatVersion == 1 else {
            throw DegradationError.invalid("\(url.path): manifest version \(m.formatVersion) is not supported (expected 1)")
        }
        let ids = Set(m.subjects.map(\.id))
        for p in m.pairs where !ids.contains(p.subject) {
            throw DegradationError.invalid("\(url.path): pair \(p.lr) names unknown subject \(p.subject)")
        }
        return m
    }

    public func subjects(in split: Split) -> [Subject] { subjects.filter { $0.split == split } }

    public func pairs(in split: Split) -> [Pair] {
        let ids = Set(subjects(in: split).map(\.id))
        return pairs.filter { ids.contains($0.subject) }
    }

    /// A manifest-relative file name as a URL.
    public static func url(of file: String, relativeTo manifest: URL) -> URL {
        file.hasPrefix("/") ? URL(fileURLWithPath: file) : manifest.deletingLastPathComponent().appendingPathComponent(file)
    }
}

/// Builds a paired dataset, resumably and deterministically for a seed.
public struct PairedDatasetBuilder {
    public struct Input: Sendable {
        public var hr: URL
        public var mask: URL?
        public init(hr: URL, mask: URL? = nil) {
            self.hr = hr
            self.mask = mask
        }
    }

    public var inputs: [Input]
    /// Named settings (preset names or user names).
    public var settings: [(name: String, settings: SimulationSettings)]
    /// Directions applied to the models that have one (slices, k-space).
    public var directions: [SliceDirection]
    public var seed: UInt64
    /// Train / validation / test fractions (sum 1).
    public var split: [Double]
    public var tool: String

    public init(inputs: [Input], settings: [(name: String, settings: SimulationSettings)], directions: [SliceDirection],
                seed: UInt64, split: [Double] = [0.8, 0.1, 0.1], tool: String) {
        self.inputs = inputs
        self.settings = settings
        self.directions = directions
        self.seed = seed
        self.split = split
        self.tool = tool
    }

    /// A subject id from a file name: the BIDS entities sub-X[_ses-Y] when present, else the
    /// name without its NIfTI extension.
    public static func subjectID(_ url: URL) -> String {
        var name = url.lastPathComponent
        for ext in [".nii.gz", ".nii", ".hdr", ".img.gz", ".img"] where name.hasSuffix(ext) {
            name = String(name.dropLast(ext.count))
            break
        }
        let entities = name.split(separator: "_").filter { $0.hasPrefix("sub-") || $0.hasPrefix("ses-") }
        return entities.first?.hasPrefix("sub-") == true ? entities.joined(separator: "_") : name
    }

    /// Subjects assigned to splits: a seeded shuffle, then validation and test take their
    /// rounded shares (at least one each when the fraction is positive and subjects remain),
    /// train keeps the rest.
    public static func assignSplits(ids: [String], fractions: [Double], seed: UInt64) throws -> [String: DatasetManifest.Split] {
        let n = ids.count
        let perm = try Tensor.randperm(n, generator: Generator(seed: seed)).toArray(Int64.self).map(Int.init)
        var nVal = Int((Double(n) * fractions[1]).rounded()), nTest = Int((Double(n) * fractions[2]).rounded())
        if fractions[1] > 0 && nVal == 0 && n >= 3 { nVal = 1 }
        if fractions[2] > 0 && nTest == 0 && n >= 3 { nTest = 1 }
        while nVal + nTest >= n && (nVal > 0 || nTest > 0) { if nTest >= nVal { nTest -= 1 } else { nVal -= 1 } }
        var out: [String: DatasetManifest.Split] = [:]
        for (rank, i) in perm.enumerated() {
            out[ids[i]] = rank < nVal ? .validation : (rank < nVal + nTest ? .test : .train)
        }
        return out
    }

    /// The seed of one pair, fixed by the dataset seed and the pair's position.
    static func pairSeed(_ seed: UInt64, subject: Int, setting: Int, direction: Int) -> UInt64 {
        var h: UInt64 = seed &+ 0x9E37_79B9_7F4A_7C15
        for v in [subject, setting, direction] {
            h ^= UInt64(v) &+ 0x9E37_79B9_7F4A_7C15 &+ (h << 6) &+ (h >> 2)
            h = (h ^ (h >> 31)) &* 0xBF58_476D_1CE4_E5B9
        }
        return h >> 1
    }

    /// Writes everything under `folder` (created if needed); files that the manifest of an
    /// interrupted run lists as done are kept. `progress` gets (done, total, file).
    @discardableResult
    public func build(into folder: URL, progress: (Int, Int, String) -> Void = { _, _, _ in }) throws -> DatasetManifest {
        guard !inputs.isEmpty else { throw DegradationError.invalid("a dataset needs at least one HR volume") }
        guard !settings.isEmpty else { throw DegradationError.invalid("a dataset needs at least one simulation setting") }
        guard split.count == 3, split.allSatisfy({ $0 >= 0 }), Swift.abs(split.reduce(0, +) - 1) < 1e-6 else {
            throw DegradationError.invalid("split \(split) must be three fractions (train, validation, test) summing to 1")
        }
        let fm = FileManager.default
        let manifestURL = folder.appendingPathComponent("manifest.json")
        for sub in ["hr", "lr", "masks"] {
            try fm.createDirectory(at: folder.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        let ids = inputs.map { Self.subjectID($0.hr) }
        if let dup = Dictionary(grouping: ids, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
            throw DegradationError.invalid("two inputs give the subject id '\(dup)'; subject ids must be unique")
        }
        let splits = try Self.assignSplits(ids: ids, fractions: split, seed: seed)
        let settingsMap = Dictionary(settings.map { ($0.name, $0.settings) }, uniquingKeysWith: { a, _ in a })
        var manifest = DatasetManifest(
            tool: tool, seed: seed, splitFractions: split, settings: settingsMap,
            directions: directions.map(\.description), subjects: [], pairs: [], complete: false)

        // Resume: an earlier manifest for the same recipe keeps its finished work.
        var done: [String: DatasetManifest.Pair] = [:]
        var doneSubjects: [String: DatasetManifest.Subject] = [:]
        if fm.fileExists(atPath: manifestURL.path) {
            let old = try DatasetManifest.load(manifestURL)
            guard old.seed == seed, old.settings == settingsMap, old.directions == manifest.directions,
                  old.splitFractions == split else {
                throw DegradationError.invalid(
                    "\(manifestURL.path) was made with other settings, directions, split or seed; use another folder")
            }
            for p in old.pairs { done[p.lr] = p }
            for s in old.subjects { doneSubjects[s.id] = s }
        }

        let total = inputs.count * settings.reduce(0) { acc, s in acc + (Self.hasDirection(s.settings.model) ? directions.count : 1) }
        var count = 0
        for (si, input) in inputs.enumerated() {
            let id = ids[si]
            let hrName = "hr/\(id).nii.gz"
            let maskName = input.mask.map { _ in "masks/\(id)_mask.nii.gz" }
            let sourceHash = try Digest.sha256(file: input.hr)
            var hrVolume: Volume? = nil
            func loadHR() throws -> Volume {
                if let v = hrVolume { return v }
                let v = try NIfTI.readVolume(input.hr)
                guard v.shape.count == 3 else {
                    throw DegradationError.invalid("\(input.hr.path): a dataset needs 3-D volumes, got shape \(v.shape)")
                }
                hrVolume = v
                return v
            }
            var mask: Tensor? = nil
            func loadMask() throws -> Tensor? {
                guard let m = input.mask else { return nil }
                if let mask { return mask }
                let mv = try NIfTI.readVolume(m)
                let hr = try loadHR()
                guard mv.shape == hr.shape, mv.affine.maxDifference(hr.affine) < 1e-3 else {
                    throw DegradationError.invalid("\(m.path): the mask's grid \(mv.shape) differs from \(input.hr.path)'s \(hr.shape)")
                }
                mask = try mv.data.ne(0)
                return mask
            }
            let subject = DatasetManifest.Subject(id: id, source: input.hr.path, sourceSHA256: sourceHash, hr: hrName,
                                                  mask: maskName, split: splits[id]!)
            if let old = doneSubjects[id], old == subject,
               fm.fileExists(atPath: folder.appendingPathComponent(hrName).path) {
                // HR (and mask) already written by the interrupted run.
            } else {
                try NIfTI.write(loadHR(), to: folder.appendingPathComponent(hrName), options: NIfTIWriteOptions(overwrite: true))
                if let maskName, let m = try loadMask() {
                    var mv = try loadHR()
                    mv.data = try m.to(.uint8)
                    try NIfTI.write(mv, to: folder.appendingPathComponent(maskName),
                                    options: NIfTIWriteOptions(dtype: .uint8, overwrite: true))
                }
            }
            manifest.subjects.append(subject)

            for (ki, entry) in settings.enumerated() {
                let dirs: [SliceDirection?] = Self.hasDirection(entry.settings.model) ? directions.map { $0 } : [nil]
                for (di, dir) in dirs.enumerated() {
                    count += 1
                    var s = entry.settings
                    s.seed = Self.pairSeed(seed, subject: si, setting: ki, direction: di)
                    if let dir { s.model = Self.directed(s.model, dir) }
                    let lrName = "lr/\(id)_\(entry.name)" + (dir.map { "_\($0)" } ?? "") + ".nii.gz"
                    if let old = done[lrName], old.settings == s, old.subject == id,
                       fm.fileExists(atPath: folder.appendingPathComponent(lrName).path) {
                        manifest.pairs.append(old)
                        progress(count, total, lrName + " (kept)")
                        continue
                    }
                    let result = try loadHR().simulated(s, mask: loadMask())
                    try NIfTI.write(result.lowResolution, to: folder.appendingPathComponent(lrName),
                                    options: NIfTIWriteOptions(overwrite: true))
                    manifest.pairs.append(DatasetManifest.Pair(
                        subject: id, setting: entry.name, direction: dir?.description, lr: lrName, seed: s.seed,
                        settings: s, noiseSigma: result.noiseSigma))
                    try Self.save(manifest, to: manifestURL, merging: done)
                    progress(count, total, lrName)
                }
            }
        }
        manifest.complete = true
        try Self.save(manifest, to: manifestURL, merging: [:])
        return manifest
    }

    static func hasDirection(_ model: SimulationSettings.Model) -> Bool {
        if case .gaussian = model { return false }
        return true
    }

    /// The model with its direction set: the slice direction, or for k-space the two axes of
    /// the plane normal to the direction.
    static func directed(_ model: SimulationSettings.Model, _ dir: SliceDirection) -> SimulationSettings.Model {
        switch model {
        case .slices(var s):
            s.direction = dir
            return .slices(s)
        case .kspace(var k):
            k.axes = nil
            k.planeNormal = dir
            return .kspace(k)
        case .gaussian:
            return model
        case .kernel(var k):
            k.direction = dir
            return .kernel(k)
        }
    }

    /// Writes the manifest atomically; pairs finished by an earlier run but not yet reached by
    /// this one stay listed, so an interruption never loses them.
    static func save(_ manifest: DatasetManifest, to url: URL, merging earlier: [String: DatasetManifest.Pair]) throws {
        var m = manifest
        let listed = Set(m.pairs.map(\.lr))
        m.pairs += earlier.values.filter { !listed.contains($0.lr) }.sorted { $0.lr < $1.lr }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write([Array(try encoder.encode(m))], to: url, overwrite: true)
    }
}
