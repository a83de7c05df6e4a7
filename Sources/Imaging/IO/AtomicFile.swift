#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Writes files so that no half-written output is ever left: the bytes go to a temporary file in
/// the target's folder, which is renamed over the target only when complete; on any failure the
/// temporary is removed. An existing target is replaced only with `overwrite`.
public enum AtomicFile {
    public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        case exists(String)
        case cannotWrite(String, String)

        public var description: String {
            switch self {
            case .exists(let p): "\(p): already exists; pass --force to overwrite it"
            case let .cannotWrite(p, why): "\(p): cannot be written (\(why))"
            }
        }
    }

    /// Writes `parts` one after another to `url`.
    public static func write(_ parts: [[UInt8]], to url: URL, overwrite: Bool) throws {
        let path = url.path
        let fm = FileManager.default
        if !overwrite && fm.fileExists(atPath: path) { throw Failure.exists(path) }
        let dir = url.deletingLastPathComponent().path
        var isDir: Bool = false
        if let type = (try? fm.attributesOfItem(atPath: dir.isEmpty ? "." : dir))?[.type] as? FileAttributeType {
            isDir = type == .typeDirectory
        }
        guard isDir else { throw Failure.cannotWrite(path, "the folder \(dir) does not exist") }
        let tmp = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).upres-\(UInt32.random(in: 0...UInt32.max)).tmp").path
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw Failure.cannotWrite(path, String(cString: strerror(errno))) }
        var ok = false
        defer {
            if !ok { unlink(tmp) }
        }
        do {
            for part in parts {
                var offset = 0
                while offset < part.count {
                    let n = part.withUnsafeBytes { raw in
                        Glibc.write(fd, raw.baseAddress!.advanced(by: offset), part.count - offset)
                    }
                    guard n > 0 else { throw Failure.cannotWrite(path, String(cString: strerror(errno))) }
                    offset += n
                }
            }
            guard fsync(fd) == 0 || errno == EINVAL else { throw Failure.cannotWrite(path, String(cString: strerror(errno))) }
            close(fd)
        } catch {
            close(fd)
            throw error
        }
        if !overwrite && fm.fileExists(atPath: path) { throw Failure.exists(path) }
        guard rename(tmp, path) == 0 else { throw Failure.cannotWrite(path, String(cString: strerror(errno))) }
        ok = true
    }
}
