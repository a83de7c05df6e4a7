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
        try withBuffers(parts) { try write(raw: $0, to: url, overwrite: overwrite) }
    }

    /// Runs `body` with raw views of several arrays at once.
    static func withBuffers<R>(_ parts: [[UInt8]], _ body: ([UnsafeRawBufferPointer]) throws -> R) rethrows -> R {
        func go(_ i: Int, _ acc: [UnsafeRawBufferPointer]) throws -> R {
            if i == parts.count { return try body(acc) }
            return try parts[i].withUnsafeBytes { try go(i + 1, acc + [$0]) }
        }
        return try go(0, [])
    }

    /// Writes raw `parts` one after another to `url`.
    public static func write(raw parts: [UnsafeRawBufferPointer], to url: URL, overwrite: Bool) throws {
        try write(to: url, overwrite: overwrite) { emit in
            for part in parts { try emit(part) }
        }
    }

    /// Writes what `produce` emits, in order, to `url`: for outputs made piece by piece (a
    /// compressed volume, member by member), so that the whole file never sits in memory.
    public static func write(to url: URL, overwrite: Bool,
                             _ produce: (_ emit: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
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
            try produce { part in
                var offset = 0
                while offset < part.count {
                    let n = Glibc.write(fd, part.baseAddress!.advanced(by: offset), part.count - offset)
                    guard n > 0 else { throw Failure.cannotWrite(path, String(cString: strerror(errno))) }
                    offset += n
                }
            }
            // No fsync: the rename makes the result all-or-nothing for readers and after a crash of
            // this process; flushing to the disk is left to the system (as nibabel and FSL do).
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
