#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A NIfTI-1 or NIfTI-2 header, fields widened to one representation (dims Int, floats Double).
///
/// `parse` reads bytes in either byte order (decided by sizeof_hdr, 348 or 540); `validate` lists
/// every problem separately from parsing, like nibabel's header checks; `encode` writes NIfTI-1.
public struct NIfTIHeader: Sendable, Equatable {
    public var version = 1
    public var littleEndian = true
    /// "n+1", "ni1", "n+2" or "ni2" (single file or .hdr/.img pair).
    public var magic = "n+1"
    public var dimInfo: UInt8 = 0
    /// dim[0...7]: dim[0] is the number of dimensions.
    public var dim: [Int] = [3, 1, 1, 1, 1, 1, 1, 1]
    public var intentP: [Double] = [0, 0, 0]
    public var intentCode = 0
    public var datatypeCode = 16
    public var bitpix = 32
    public var sliceStart = 0
    /// pixdim[0] is qfac; pixdim[1...] the voxel sizes.
    public var pixdim: [Double] = [1, 1, 1, 1, 1, 1, 1, 1]
    public var voxOffset: Double = 352
    public var sclSlope: Double = 0
    public var sclInter: Double = 0
    public var sliceEnd = 0
    public var sliceCode = 0
    public var xyztUnits = 10
    public var calMax: Double = 0
    public var calMin: Double = 0
    public var sliceDuration: Double = 0
    public var toffset: Double = 0
    public var descrip = ""
    public var auxFile = ""
    public var qformCode = 0
    public var sformCode = 0
    public var quatern: [Double] = [0, 0, 0]
    public var qoffset: [Double] = [0, 0, 0]
    public var srow: [[Double]] = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]
    public var intentName = ""
    /// The 4 bytes after the header: extension[0] != 0 means extensions follow.
    public var extender: [UInt8] = [0, 0, 0, 0]
    /// True when the NIfTI-2 end-of-line check bytes of the magic were intact.
    var eolIntact = true

    public init() {}

    /// The size in bytes of the fixed header of this version.
    public var headerSize: Int { version == 2 ? 540 : 348 }

    /// Whether data lives in this file (`n+1`/`n+2`) or in a separate .img (`ni1`/`ni2`).
    public var isSingleFile: Bool { magic.hasPrefix("n+") }

    public var dataType: NIfTIDataType? { NIfTIDataType(rawValue: datatypeCode) }

    /// The shape: dim[1...dim[0]].
    public var shape: [Int] {
        let n = Swift.max(0, Swift.min(dim[0], 7))
        return Array(dim[1..<(1 + n)])
    }

    // MARK: parsing

    /// Parses a header from at least 348 (NIfTI-1) or 540 (NIfTI-2) bytes.
    /// - Throws: `NIfTIError` when the bytes are not a NIfTI header (size, sizeof_hdr, magic).
    public static func parse(_ bytes: [UInt8], path: String) throws -> NIfTIHeader {
        guard bytes.count >= 4 else {
            throw NIfTIError(path, "", "is \(bytes.count) bytes long; a NIfTI header needs at least 348")
        }
        let le = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16 | Int(bytes[3]) << 24
        let be = Int(bytes[3]) | Int(bytes[2]) << 8 | Int(bytes[1]) << 16 | Int(bytes[0]) << 24
        var h = NIfTIHeader()
        switch (le, be) {
        case (348, _): h.version = 1; h.littleEndian = true
        case (_, 348): h.version = 1; h.littleEndian = false
        case (540, _): h.version = 2; h.littleEndian = true
        case (_, 540): h.version = 2; h.littleEndian = false
        default:
            throw NIfTIError(path, "sizeof_hdr", "= \(Int32(truncatingIfNeeded: le)); expected 348 (NIfTI-1) or 540 (NIfTI-2) in either byte order")
        }
        guard bytes.count >= h.headerSize else {
            throw NIfTIError(path, "", "is \(bytes.count) bytes long; a NIfTI-\(h.version) header needs \(h.headerSize)")
        }
        let r = ByteReader(bytes: bytes, littleEndian: h.littleEndian)
        if h.version == 1 {
            let magic = r.string(344, 4)
            guard magic == "n+1" || magic == "ni1" else {
                throw NIfTIError(path, "magic", "= \(Self.printable(bytes[344..<348])); expected 'n+1' (single file) or 'ni1' (.hdr/.img pair)")
            }
            h.magic = magic
            h.dimInfo = bytes[39]
            h.dim = (0..<8).map { Int(r.i16(40 + 2 * $0)) }
            h.intentP = [Double(r.f32(56)), Double(r.f32(60)), Double(r.f32(64))]
            h.intentCode = Int(r.i16(68))
            h.datatypeCode = Int(r.i16(70))
            h.bitpix = Int(r.i16(72))
            h.sliceStart = Int(r.i16(74))
            h.pixdim = (0..<8).map { Double(r.f32(76 + 4 * $0)) }
            h.voxOffset = Double(r.f32(108))
            h.sclSlope = Double(r.f32(112))
            h.sclInter = Double(r.f32(116))
            h.sliceEnd = Int(r.i16(120))
            h.sliceCode = Int(bytes[122])
            h.xyztUnits = Int(bytes[123])
            h.calMax = Double(r.f32(124))
            h.calMin = Double(r.f32(128))
            h.sliceDuration = Double(r.f32(132))
            h.toffset = Double(r.f32(136))
            h.descrip = r.string(148, 80)
            h.auxFile = r.string(228, 24)
            h.qformCode = Int(r.i16(252))
            h.sformCode = Int(r.i16(254))
            h.quatern = [Double(r.f32(256)), Double(r.f32(260)), Double(r.f32(264))]
            h.qoffset = [Double(r.f32(268)), Double(r.f32(272)), Double(r.f32(276))]
            h.srow = (0..<3).map { row in (0..<4).map { Double(r.f32(280 + 16 * row + 4 * $0)) } }
            h.intentName = r.string(328, 16)
        } else {
            let magic = r.string(4, 3)
            guard (magic == "n+2" || magic == "ni2") && bytes[7] == 0 else {
                throw NIfTIError(path, "magic", "= \(Self.printable(bytes[4..<12])); expected 'n+2' or 'ni2' followed by \\0\\r\\n\\032\\n")
            }
            h.magic = magic
            h.eolIntact = Array(bytes[8..<12]) == [0x0D, 0x0A, 0x1A, 0x0A]
            h.datatypeCode = Int(r.i16(12))
            h.bitpix = Int(r.i16(14))
            h.dim = (0..<8).map { Int(r.i64(16 + 8 * $0)) }
            h.intentP = [r.f64(80), r.f64(88), r.f64(96)]
            h.pixdim = (0..<8).map { r.f64(104 + 8 * $0) }
            h.voxOffset = Double(r.i64(168))
            h.sclSlope = r.f64(176)
            h.sclInter = r.f64(184)
            h.calMax = r.f64(192)
            h.calMin = r.f64(200)
            h.sliceDuration = r.f64(208)
            h.toffset = r.f64(216)
            h.sliceStart = Int(r.i64(224))
            h.sliceEnd = Int(r.i64(232))
            h.descrip = r.string(240, 80)
            h.auxFile = r.string(320, 24)
            h.qformCode = Int(r.i32(344))
            h.sformCode = Int(r.i32(348))
            h.quatern = [r.f64(352), r.f64(360), r.f64(368)]
            h.qoffset = [r.f64(376), r.f64(384), r.f64(392)]
            h.srow = (0..<3).map { row in (0..<4).map { r.f64(400 + 32 * row + 8 * $0) } }
            h.sliceCode = Int(r.i32(496))
            h.xyztUnits = Int(r.i32(500))
            h.intentCode = Int(r.i32(504))
            h.intentName = r.string(508, 16)
            h.dimInfo = bytes[524]
        }
        if bytes.count >= h.headerSize + 4 {
            h.extender = Array(bytes[h.headerSize..<(h.headerSize + 4)])
        }
        return h
    }

    static func printable(_ b: ArraySlice<UInt8>) -> String {
        "'" + b.map { (32...126).contains($0) ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16) }.joined() + "'"
    }

    // MARK: encoding

    /// The NIfTI-1 header bytes (348) plus the 4 extender bytes, little-endian unless asked
    /// (big-endian output exists for tests of the reader).
    public func encodeNIfTI1(bigEndian: Bool = false) -> [UInt8] {
        var w = ByteWriter(count: 352, bigEndian: bigEndian)
        w.i32(0, 348)
        w.u8(39, dimInfo)
        for (i, d) in dim.prefix(8).enumerated() { w.i16(40 + 2 * i, Int16(clamping: d)) }
        for (i, p) in intentP.prefix(3).enumerated() { w.f32(56 + 4 * i, Float(p)) }
        w.i16(68, Int16(clamping: intentCode))
        w.i16(70, Int16(clamping: datatypeCode))
        w.i16(72, Int16(clamping: bitpix))
        w.i16(74, Int16(clamping: sliceStart))
        for (i, p) in pixdim.prefix(8).enumerated() { w.f32(76 + 4 * i, Float(p)) }
        w.f32(108, Float(voxOffset))
        w.f32(112, Float(sclSlope))
        w.f32(116, Float(sclInter))
        w.i16(120, Int16(clamping: sliceEnd))
        w.u8(122, UInt8(clamping: sliceCode))
        w.u8(123, UInt8(clamping: xyztUnits))
        w.f32(124, Float(calMax))
        w.f32(128, Float(calMin))
        w.f32(132, Float(sliceDuration))
        w.f32(136, Float(toffset))
        w.string(148, descrip, 80)
        w.string(228, auxFile, 24)
        w.i16(252, Int16(clamping: qformCode))
        w.i16(254, Int16(clamping: sformCode))
        for i in 0..<3 { w.f32(256 + 4 * i, Float(quatern[i])) }
        for i in 0..<3 { w.f32(268 + 4 * i, Float(qoffset[i])) }
        for row in 0..<3 { for c in 0..<4 { w.f32(280 + 16 * row + 4 * c, Float(srow[row][c])) } }
        w.string(328, intentName, 16)
        w.string(344, isSingleFile ? "n+1" : "ni1", 4)
        for i in 0..<4 { w.u8(348 + i, extender[i]) }
        return w.bytes
    }
}

/// Reads fixed-offset fields in one byte order.
struct ByteReader {
    let bytes: [UInt8]
    let littleEndian: Bool

    func raw(_ offset: Int, _ n: Int) -> UInt64 {
        var v: UInt64 = 0
        if littleEndian {
            for i in (0..<n).reversed() { v = v << 8 | UInt64(bytes[offset + i]) }
        } else {
            for i in 0..<n { v = v << 8 | UInt64(bytes[offset + i]) }
        }
        return v
    }

    func i16(_ o: Int) -> Int16 { Int16(bitPattern: UInt16(raw(o, 2))) }
    func i32(_ o: Int) -> Int32 { Int32(bitPattern: UInt32(raw(o, 4))) }
    func i64(_ o: Int) -> Int64 { Int64(bitPattern: raw(o, 8)) }
    func f32(_ o: Int) -> Float { Float(bitPattern: UInt32(raw(o, 4))) }
    func f64(_ o: Int) -> Double { Double(bitPattern: raw(o, 8)) }

    /// A NUL-terminated string of at most n bytes (invalid UTF-8 replaced).
    func string(_ o: Int, _ n: Int) -> String {
        let slice = bytes[o..<(o + n)].prefix { $0 != 0 }
        return String(decoding: slice, as: UTF8.self)
    }
}

/// Writes fields at fixed offsets (little-endian by default).
struct ByteWriter {
    var bytes: [UInt8]
    var bigEndian = false

    init(count: Int, bigEndian: Bool = false) {
        bytes = [UInt8](repeating: 0, count: count)
        self.bigEndian = bigEndian
    }

    mutating func put(_ o: Int, _ v: UInt64, _ n: Int) {
        for i in 0..<n {
            bytes[o + (bigEndian ? n - 1 - i : i)] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))
        }
    }

    mutating func u8(_ o: Int, _ v: UInt8) { bytes[o] = v }
    mutating func i16(_ o: Int, _ v: Int16) { put(o, UInt64(UInt16(bitPattern: v)), 2) }
    mutating func i32(_ o: Int, _ v: Int32) { put(o, UInt64(UInt32(bitPattern: v)), 4) }
    mutating func f32(_ o: Int, _ v: Float) { put(o, UInt64(v.bitPattern), 4) }

    mutating func string(_ o: Int, _ s: String, _ n: Int) {
        let utf8 = Array(s.utf8.prefix(n - 1))
        for (i, b) in utf8.enumerated() { bytes[o + i] = b }
    }
}
