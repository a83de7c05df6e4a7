import Foundation

/// Brain Imaging Data Structure datasets: the raw anatomical scans of a dataset, and the names of
/// the derivatives upres writes for them (BIDS 1.9: `sub-<label>[_ses-<label>]..._desc-<label>_<suffix>`).
public enum BIDS {
    /// BIDS version of the derivatives upres writes.
    public static let version = "1.9.0"

    /// The order of the entities in a file name (BIDS specification, appendix "Entity table").
    public static let entityOrder = ["sub", "ses", "sample", "task", "tracksys", "acq", "nuc", "voi", "ce", "trc", "stain", "rec", "dir", "run",
                                     "mod", "echo", "flip", "inv", "mt", "part", "proc", "hemi", "space", "split", "recording", "chunk",
                                     "seg", "res", "den", "label", "desc"]

    public enum Failure: Error, LocalizedError, Equatable {
        case notADataset(String)
        case badName(String)
        case badShard(String)

        public var errorDescription: String? {
            switch self {
            case .notADataset(let m), .badName(let m), .badShard(let m): m
            }
        }
    }

    /// A file name's entities and suffix: `sub-01_ses-2_acq-thick_T1w.nii.gz` -> sub 01, ses 2,
    /// acq thick; suffix T1w; extension .nii.gz.
    public struct Name: Equatable, Sendable {
        public var entities: [(key: String, value: String)]
        public var suffix: String
        public var `extension`: String

        public static func == (a: Name, b: Name) -> Bool {
            a.suffix == b.suffix && a.extension == b.extension && a.entities.map(\.key) == b.entities.map(\.key) && a.entities.map(\.value) == b.entities.map(\.value)
        }

        public init(entities: [(key: String, value: String)], suffix: String, extension ext: String) {
            self.entities = entities
            self.suffix = suffix
            self.extension = ext
        }

        public init(parsing fileName: String) throws {
            var stem = fileName, ext = ""
            for e in [".nii.gz", ".nii", ".json"] where stem.hasSuffix(e) {
                stem = String(stem.dropLast(e.count))
                ext = e
                break
            }
            let parts = stem.split(separator: "_", omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 2, let suffix = parts.last, !suffix.isEmpty, !suffix.contains("-") else {
                throw Failure.badName("\(fileName): not a BIDS file name (expected sub-<label>[_<key>-<value>...]_<suffix>\(ext))")
            }
            var entities: [(String, String)] = []
            for p in parts.dropLast() {
                let kv = p.split(separator: "-", maxSplits: 1).map(String.init)
                guard kv.count == 2, !kv[0].isEmpty, !kv[1].isEmpty, kv[1].allSatisfy({ $0.isLetter || $0.isNumber }) else {
                    throw Failure.badName("\(fileName): '\(p)' is not a <key>-<value> entity")
                }
                entities.append((kv[0], kv[1]))
            }
            guard entities.first?.0 == "sub" else { throw Failure.badName("\(fileName): a BIDS file name starts with sub-<label>") }
            self.init(entities: entities, suffix: suffix, extension: ext)
        }

        public subscript(_ key: String) -> String? { entities.first { $0.key == key }?.value }

        /// The name with `key` set (added in the specification's order, or replaced).
        public func setting(_ key: String, _ value: String) -> Name {
            var e = entities.filter { $0.key != key }
            e.append((key, value))
            let rank = { (k: String) in BIDS.entityOrder.firstIndex(of: k) ?? BIDS.entityOrder.count }
            e = e.enumerated().sorted { (rank($0.element.key), $0.offset) < (rank($1.element.key), $1.offset) }.map(\.element)
            return Name(entities: e, suffix: suffix, extension: self.extension)
        }

        public var fileName: String { (entities.map { "\($0.key)-\($0.value)" } + [suffix]).joined(separator: "_") + self.extension }
    }

    /// One anatomical scan of a raw dataset.
    public struct Scan: Sendable, Equatable {
        public var subject: String
        public var session: String?
        /// The path relative to the dataset's root (`sub-01/ses-1/anat/sub-01_ses-1_T1w.nii.gz`).
        public var relativePath: String
        public var name: Name

        /// The folder of its derivatives relative to a derivatives root (`sub-01/ses-1/anat`).
        public var folder: String { URL(fileURLWithPath: relativePath).deletingLastPathComponent().relativePath }

        /// The derivative's relative path for a `desc` label (`.../sub-01_ses-1_desc-upres_T1w.nii.gz`).
        public func derivative(desc: String, extension ext: String = ".nii.gz") -> String {
            var n = name.setting("desc", desc)
            n.extension = ext
            return folder + "/" + n.fileName
        }

        /// `sub-01 ses-1 T1w` (with acq and run when present).
        public var label: String {
            (["sub-\(subject)"] + (session.map { ["ses-\($0)"] } ?? []) + ["acq", "run"].compactMap { k in name[k].map { "\(k)-\($0)" } } + [name.suffix])
                .joined(separator: " ")
        }
    }

    /// A raw BIDS dataset on disk.
    public struct Dataset {
        public let root: URL
        public let description: [String: Any]

        /// Opens a dataset: its root must hold `dataset_description.json` with a Name and a BIDSVersion.
        public init(_ root: URL) throws {
            self.root = root.standardizedFileURL
            let d = root.appendingPathComponent("dataset_description.json")
            guard let data = FileManager.default.contents(atPath: d.path) else {
                throw Failure.notADataset("\(root.path): not a BIDS dataset (no dataset_description.json)")
            }
            guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw Failure.notADataset("\(d.path): not a JSON object")
            }
            guard json["Name"] is String, json["BIDSVersion"] is String else {
                throw Failure.notADataset("\(d.path): a BIDS dataset description needs \"Name\" and \"BIDSVersion\"")
            }
            description = json
        }

        /// The subject labels (without `sub-`), sorted.
        public func subjects() throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: root.path)
                .filter { $0.hasPrefix("sub-") && isDirectory(root.appendingPathComponent($0)) }
                .map { String($0.dropFirst(4)) }.sorted()
        }

        /// The NIfTI scans in `anat/` of a subject (every session) whose suffix is one of `suffixes`,
        /// sorted by path. A file whose name does not parse is returned in `invalid`.
        public func anatomicalScans(subject: String, suffixes: [String]) throws -> (scans: [Scan], invalid: [String]) {
            let subjectDir = root.appendingPathComponent("sub-\(subject)")
            var folders: [(session: String?, path: String)] = [(nil, "sub-\(subject)/anat")]
            for s in try FileManager.default.contentsOfDirectory(atPath: subjectDir.path).sorted() where s.hasPrefix("ses-") {
                folders.append((String(s.dropFirst(4)), "sub-\(subject)/\(s)/anat"))
            }
            var scans: [Scan] = [], invalid: [String] = []
            for (session, folder) in folders {
                let dir = root.appendingPathComponent(folder)
                guard isDirectory(dir) else { continue }
                for file in try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() where file.hasSuffix(".nii") || file.hasSuffix(".nii.gz") {
                    guard let name = try? Name(parsing: file), name["sub"] == subject, name["ses"] == session else {
                        invalid.append("\(folder)/\(file)")
                        continue
                    }
                    guard suffixes.contains(name.suffix) else { continue }
                    scans.append(Scan(subject: subject, session: session, relativePath: "\(folder)/\(file)", name: name))
                }
            }
            return (scans, invalid)
        }

        func isDirectory(_ url: URL) -> Bool {
            var d: ObjCBool = false
            return FileManager.default.fileExists(atPath: url.path, isDirectory: &d) && d.boolValue
        }
    }

    /// Whether a scan of these voxel sizes has thick slices worth reconstructing at `target` mm:
    /// its largest spacing at least `minimumRatio` times its smallest, and above the target (5%).
    public static func isThickSlice(spacing: [Double], target: Double, minimumRatio: Double) -> Bool {
        guard let lo = spacing.min(), let hi = spacing.max(), lo > 0 else { return false }
        return hi >= minimumRatio * lo && hi > target * 1.05
    }

    /// The voxel sizes a NIfTI header states (|pixdim[1...3]|), refused unless positive and 3-D.
    public static func voxelSizes(of url: URL) throws -> [Double] {
        let header = try NIfTI.readHeader(url).header
        let spacing = (1...3).map { Swift.abs(header.pixdim[$0]) }
        guard header.dim[0] >= 3, spacing.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw Failure.badName("\(url.path): pixdim[1...3] = \(spacing); expected positive voxel sizes of a 3-D volume")
        }
        return spacing
    }

    /// The dataset_description.json of derivatives made from `raw` by `generatedBy`.
    public static func derivativeDescription(of raw: Dataset, name: String, generatedBy: [String: Any]) -> [String: Any] {
        ["Name": "\(name) of \(raw.description["Name"] as? String ?? "a BIDS dataset")",
         "BIDSVersion": version,
         "DatasetType": "derivative",
         "GeneratedBy": [generatedBy],
         "SourceDatasets": [["URL": raw.root.absoluteString]],
         "DatasetLinks": ["raw": raw.root.absoluteString]]
    }

    /// `I/N`: the I-th of N shards (1-based).
    public struct Shard: Equatable, Sendable {
        public var index: Int
        public var count: Int

        public init(index: Int, count: Int) {
            self.index = index
            self.count = count
        }

        public init(parsing text: String) throws {
            let p = text.split(separator: "/").map { Int($0) }
            guard p.count == 2, let i = p[0], let n = p[1], n >= 1, (1...n).contains(i) else {
                throw Failure.badShard("--shard \(text): expected I/N with 1 <= I <= N, e.g. 2/8")
            }
            self.init(index: i, count: n)
        }

        /// This shard's share of `items` (sorted first): every N-th, starting at the I-th. Every
        /// item falls in exactly one shard, and the split depends only on the sorted list.
        public func select<T: Comparable>(_ items: [T]) -> [T] {
            items.sorted().enumerated().filter { $0.offset % count == index - 1 }.map(\.element)
        }
    }
}
