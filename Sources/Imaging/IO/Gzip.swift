import CZlib

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// gzip through zlib: whole-buffer inflate with strict checks (zlib verifies each member's CRC-32
/// and ISIZE; a missing or corrupt trailer is an error) and deflate into a gzip member.
public enum Gzip {
    public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        case truncated
        case corrupt(String)
        case corruptTrailer
        case tooLarge(limit: Int)

        public var description: String {
            switch self {
            case .truncated: "truncated gzip stream (the file ends before the compressed data does)"
            case .corrupt(let m): "corrupt gzip data (\(m))"
            case .corruptTrailer: "corrupt gzip trailer (CRC-32 or length check failed)"
            case .tooLarge(let limit): "decompresses to more than \(limit) bytes"
            }
        }
    }

    /// Whether bytes start with the gzip magic (1f 8b), whatever the file name says.
    public static func isGzip(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B
    }

    /// Inflates every gzip member of `input`, stopping with `.tooLarge` past `limit` bytes.
    /// `prefix` > 0 inflates only that many bytes of output (for reading a header first).
    public static func inflate(_ input: UnsafeRawBufferPointer, limit: Int, prefix: Int? = nil) throws -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(Swift.min(limit, prefix ?? Swift.max(input.count * 4, 1 << 16)))
        var stream = z_stream()
        guard inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Failure.corrupt("zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var consumed = 0
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        while consumed < input.count {
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress!.advanced(by: consumed).assumingMemoryBound(to: UInt8.self))
            stream.avail_in = UInt32(Swift.min(input.count - consumed, Int(UInt32.max)))
            var memberEnded = false
            while true {
                let status: Int32 = buffer.withUnsafeMutableBufferPointer { b in
                    stream.next_out = b.baseAddress
                    stream.avail_out = UInt32(chunk)
                    return CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk - Int(stream.avail_out)
                out.append(contentsOf: buffer[0..<produced])
                if let prefix, out.count >= prefix { return Array(out.prefix(prefix)) }
                if out.count > limit { throw Failure.tooLarge(limit: limit) }
                switch status {
                case Z_STREAM_END:
                    memberEnded = true
                case Z_OK:
                    if stream.avail_in == 0 && produced < chunk { break }
                    continue
                case Z_BUF_ERROR:
                    if stream.avail_in == 0 { break }
                    continue
                case Z_DATA_ERROR:
                    let msg = stream.msg.map { String(cString: $0) } ?? "bad data"
                    if msg.contains("check") || msg.contains("length") { throw Failure.corruptTrailer }
                    throw Failure.corrupt(msg)
                case Z_MEM_ERROR:
                    throw Failure.corrupt("out of memory")
                default:
                    throw Failure.corrupt("zlib status \(status)")
                }
                break
            }
            consumed = input.count - Int(stream.avail_in)
            guard memberEnded else { throw Failure.truncated }
            // Another member may follow (concatenated gzip); trailing zero padding is tolerated.
            let rest = UnsafeRawBufferPointer(rebasing: input[consumed...])
            if rest.isEmpty || rest.allSatisfy({ $0 == 0 }) { break }
            guard isGzip(rest) else { throw Failure.corrupt("\(rest.count) bytes of non-gzip data after the stream") }
            inflateReset(&stream)
        }
        return out
    }

    /// Compresses `input` as one gzip member (level 1, like nibabel's default; 0-9).
    public static func deflate(_ input: UnsafeRawBufferPointer, level: Int = 1) throws -> [UInt8] {
        try deflate(parts: [input], level: level)
    }

    /// Compresses the concatenation of `parts` as one gzip member, without joining them first.
    public static func deflate(parts: [UnsafeRawBufferPointer], level: Int = 1) throws -> [UInt8] {
        var stream = z_stream()
        guard deflateInit2_(&stream, Int32(level), Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                            Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Failure.corrupt("zlib could not start compressing")
        }
        defer { deflateEnd(&stream) }
        let total = parts.reduce(0) { $0 + $1.count }
        let capacity = Int(deflateBound(&stream, UInt(total))) + 64
        var written = 0
        var out = try [UInt8](unsafeUninitializedCapacity: capacity) { o, count in
            defer { count = written }
            for (k, part) in parts.enumerated() {
                var consumed = 0
                let last = k == parts.count - 1
                repeat {
                    let step = Swift.min(part.count - consumed, Int(UInt32.max))
                    stream.next_in = part.baseAddress.map { UnsafeMutablePointer(mutating: $0.advanced(by: consumed).assumingMemoryBound(to: UInt8.self)) }
                    stream.avail_in = UInt32(step)
                    let finishing = last && consumed + step == part.count
                    var status: Int32
                    repeat {
                        stream.next_out = o.baseAddress!.advanced(by: written)
                        let room = Swift.min(o.count - written, Int(UInt32.max))
                        stream.avail_out = UInt32(room)
                        status = CZlib.deflate(&stream, finishing ? Z_FINISH : Z_NO_FLUSH)
                        guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                            throw Failure.corrupt("deflate status \(status)")
                        }
                        written += room - Int(stream.avail_out)
                    } while stream.avail_in > 0 || (finishing && status != Z_STREAM_END)
                    consumed += step
                } while consumed < part.count
            }
        }
        out.reserveCapacity(0)
        return out
    }
}

extension Gzip {
    /// Streaming decompression of every gzip member of a buffer, straight into caller memory
    /// (a tensor's storage), so that large volumes are never copied after inflating.
    public final class Inflater {
        private var stream = z_stream()
        private let input: UnsafeRawBufferPointer
        private var ended = false
        /// Bytes produced so far.
        public private(set) var produced = 0

        /// `input` must outlive the inflater.
        public init(_ input: UnsafeRawBufferPointer) throws {
            self.input = input
            guard inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                throw Failure.corrupt("zlib could not start")
            }
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self))
            stream.avail_in = UInt32(Swift.min(input.count, Int(UInt32.max)))
        }

        deinit { inflateEnd(&stream) }

        private var consumed: Int { input.count - Int(stream.avail_in) }

        /// Fills `buffer`; returns the bytes written, fewer only when the compressed data ends.
        public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
            var written = 0
            while written < buffer.count && !ended {
                stream.next_out = buffer.baseAddress!.advanced(by: written).assumingMemoryBound(to: UInt8.self)
                let room = Swift.min(buffer.count - written, Int(UInt32.max))
                stream.avail_out = UInt32(room)
                let status = CZlib.inflate(&stream, Z_NO_FLUSH)
                let n = room - Int(stream.avail_out)
                written += n
                produced += n
                switch status {
                case Z_OK:
                    if n == 0 && stream.avail_in == 0 { throw Failure.truncated }
                case Z_STREAM_END:
                    try nextMember()
                case Z_BUF_ERROR:
                    if stream.avail_in == 0 { throw Failure.truncated }
                case Z_DATA_ERROR:
                    let msg = stream.msg.map { String(cString: $0) } ?? "bad data"
                    if msg.contains("check") || msg.contains("length") { throw Failure.corruptTrailer }
                    throw Failure.corrupt(msg)
                default:
                    throw Failure.corrupt("zlib status \(status)")
                }
            }
            return written
        }

        /// After a member ends: start the next one, or mark the end (zero padding tolerated).
        private func nextMember() throws {
            let rest = UnsafeRawBufferPointer(rebasing: input[consumed...])
            if rest.isEmpty || rest.allSatisfy({ $0 == 0 }) {
                ended = true
                return
            }
            guard Gzip.isGzip(rest) else { throw Failure.corrupt("\(rest.count) bytes of non-gzip data after the stream") }
            inflateReset(&stream)
        }

        /// Reads the rest of the stream (discarding up to `limit` bytes) so that every member's
        /// CRC-32 and length are verified; returns the bytes discarded.
        @discardableResult
        public func finish(limit: Int = 64 << 20) throws -> Int {
            var scratch = [UInt8](repeating: 0, count: 1 << 16)
            var extra = 0
            while !ended {
                let n = try scratch.withUnsafeMutableBytes { try read(into: $0) }
                extra += n
                if extra > limit { throw Failure.tooLarge(limit: limit) }
            }
            return extra
        }
    }
}

import CDeflate
import Torch

extension Gzip {
    /// Decompresses a whole single-member gzip file with libdeflate (about 3x faster than zlib) into
    /// a new uint8 tensor, when the member's ISIZE says how large the result is. Returns nil when the
    /// fast route does not apply or the data is bad, so that the zlib route can take over (and
    /// diagnose a damaged file precisely: truncated stream, bad trailer, ...).
    public static func decompressWhole(_ input: UnsafeRawBufferPointer, limit: Int) throws -> Tensor? {
        guard isGzip(input), input.count >= 18 else { return nil }
        let n = input.count
        let isize = Int(input[n - 4]) | Int(input[n - 3]) << 8 | Int(input[n - 2]) << 16 | Int(input[n - 1]) << 24
        guard isize > 0, isize <= limit else { return nil }
        guard let d = libdeflate_alloc_decompressor() else { return nil }
        defer { libdeflate_free_decompressor(d) }
        let out = try Tensor.empty([isize], dtype: .uint8)
        var usedIn = 0, produced = 0
        let result = try out.withUnsafeMutableBytes { o in
            libdeflate_gzip_decompress_ex(d, input.baseAddress, n, o.baseAddress, isize, &usedIn, &produced)
        }
        // Anything but one complete member filling exactly ISIZE bytes goes the zlib way.
        guard result == LIBDEFLATE_SUCCESS, produced == isize, usedIn == n else { return nil }
        return out
    }

    /// Compresses the concatenation of `parts` as one gzip member with libdeflate (levels 1-12;
    /// level 1 is about 2x faster than zlib's level 1 and compresses a little better).
    public static func compress(parts: [UnsafeRawBufferPointer], level: Int = 1) throws -> [UInt8] {
        guard let c = libdeflate_alloc_compressor(Int32(Swift.min(Swift.max(level, 0), 12))) else {
            throw Failure.corrupt("libdeflate could not start compressing at level \(level)")
        }
        defer { libdeflate_free_compressor(c) }
        let total = parts.reduce(0) { $0 + $1.count }
        // libdeflate works on one buffer: join the parts (a memcpy, small next to compressing).
        let joined = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(total, 1), alignment: 16)
        defer { joined.deallocate() }
        var at = 0
        for p in parts where p.count > 0 {
            joined.baseAddress!.advanced(by: at).copyMemory(from: p.baseAddress!, byteCount: p.count)
            at += p.count
        }
        let bound = libdeflate_gzip_compress_bound(c, total)
        var size = 0
        let out = [UInt8](unsafeUninitializedCapacity: bound) { buffer, count in
            size = libdeflate_gzip_compress(c, joined.baseAddress, total, buffer.baseAddress, bound)
            count = size
        }
        guard size > 0 else { throw Failure.corrupt("libdeflate could not compress \(total) bytes") }
        return out
    }
}
