import Foundation

/// JSON sidecars: `x.nii.gz` -> `x.json` (BIDS style), written atomically.
public enum Sidecar {
    public static func path(for output: String) -> String {
        var base = output
        for ext in [".nii.gz", ".nii"] where base.hasSuffix(ext) { base = String(base.dropLast(ext.count)); break }
        return base + ".json"
    }

    public static func write<T: Encodable>(_ value: T, to path: String, overwrite: Bool) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value) + Data("\n".utf8)
        try AtomicFile.write([Array(data)], to: URL(fileURLWithPath: path), overwrite: overwrite)
    }
}
