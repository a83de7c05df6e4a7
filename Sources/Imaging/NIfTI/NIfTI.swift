import Torch

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What to do with NaN or infinite voxels.
public enum NonFinitePolicy: String, Sendable, CaseIterable {
    /// Keep them (and warn).
    case keep
    /// Replace them by 0 (and warn).
    case zero
    /// Refuse the file.
    case error
}

/// What to do with complex voxels.
public enum ComplexPolicy: String, Sendable {
    /// Refuse: operations need real scalars.
    case error
    /// Take the magnitude.
    case magnitude
    /// Keep the complex values (for inspection and copies).
    case keep
}

public struct NIfTIReadOptions: Sendable {
    /// For 4-D (and higher) files, the volume to read along the 4th axis; nil reads all.
    public var volumeIndex: Int?
    /// Keep the element type on disk (scaled files still become floating point).
    public var keepDType = false
    public var nonFinite: NonFinitePolicy = .keep
    public var complex: ComplexPolicy = .error
    /// The largest data size accepted before anything is allocated.
    public var memoryLimit = 8 << 30

    public init(volumeIndex: Int? = nil, keepDType: Bool = false, nonFinite: NonFinitePolicy = .keep,
                complex: ComplexPolicy = .error, memoryLimit: Int = 8 << 30) {
        self.volumeIndex = volumeIndex
        self.keepDType = keepDType
        self.nonFinite = nonFinite
        self.complex = complex
        self.memoryLimit = memoryLimit
    }
}

public struct NIfTIWriteOptions: Sendable {
    /// The element type on disk; integer types get scl_slope/scl_inter spanning the data.
    public var dtype: NIfTIDataType = .float32
    public var overwrite = false
    /// gzip level for .nii.gz (libdeflate's 1-12; 1 is the fastest, like nibabel's default).
    public var compressionLevel = 1

    public init(dtype: NIfTIDataType = .float32, overwrite: Bool = false, compressionLevel: Int = 1) {
        self.dtype = dtype
        self.overwrite = overwrite
        self.compressionLevel = compressionLevel
    }
}

/// A NIfTI file read: the volume, the header it came from and what was odd about it.
public struct NIfTIImage: @unchecked Sendable {
    public var volume: Volume
    public var header: NIfTIHeader
    public var affineSource: NIfTIHeader.AffineSource
    public var warnings: [NIfTIWarning]
}

/// Reading and writing NIfTI-1 and NIfTI-2 (`.nii`, `.nii.gz`, `.hdr`/`.img` pairs).
public enum NIfTI {
    // MARK: files

    /// The header and data files of a path (a pair's .hdr and .img, or one file).
    static func locate(_ url: URL) -> (header: URL, data: URL?) {
        let p = url.path
        func swapExt(_ from: String, _ to: String) -> URL? {
            guard p.hasSuffix(from) else { return nil }
            let base = String(p.dropLast(from.count))
            for cand in [base + to, base + to + ".gz"] where FileManager.default.fileExists(atPath: cand) {
                return URL(fileURLWithPath: cand)
            }
            return URL(fileURLWithPath: base + to)
        }
        if let img = swapExt(".hdr", ".img") ?? swapExt(".hdr.gz", ".img") { return (url, img) }
        if let hdr = swapExt(".img", ".hdr") ?? swapExt(".img.gz", ".hdr") { return (hdr, url) }
        return (url, nil)
    }

    /// The bytes of a file, failing with the file's name and what is wrong.
    static func load(_ url: URL) throws -> Data {
        let path = url.path
        let fm = FileManager.default
        guard fm.fileExists(atPath: path) else { throw NIfTIError(path, "", "does not exist") }
        if let type = (try? fm.attributesOfItem(atPath: path))?[.type] as? FileAttributeType, type == .typeDirectory {
            throw NIfTIError(path, "", "is a directory; expected a .nii, .nii.gz or .hdr/.img file")
        }
        guard fm.isReadableFile(atPath: path) else { throw NIfTIError(path, "", "cannot be read (permission denied)") }
        do {
            return try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw NIfTIError(path, "", "cannot be read (\(error))")
        }
    }

    /// Decompresses when the bytes are gzip (by content, not by name); with `prefix`, only that many
    /// leading bytes (fewer when the file is shorter).
    static func plainBytes(_ data: Data, path: String, limit: Int, prefix: Int? = nil) throws -> [UInt8] {
        try data.withUnsafeBytes { raw in
            guard Gzip.isGzip(raw) else {
                return prefix.map { Array(raw.prefix($0)) } ?? Array(raw)
            }
            do {
                guard let prefix else { return try Gzip.inflate(raw, limit: limit) }
                let inflater = try Gzip.Inflater(raw)
                var out = [UInt8](repeating: 0, count: prefix)
                let got = try out.withUnsafeMutableBytes { try inflater.read(into: $0) }
                return Array(out.prefix(got))
            } catch let f as Gzip.Failure {
                throw NIfTIError(path, "", "\(f)")
            }
        }
    }

    // MARK: reading

    /// Reads only the header (and its extensions), without the data: for `upres info`.
    public static func readHeader(_ url: URL) throws -> (header: NIfTIHeader, extensions: [NIfTIExtension], warnings: [NIfTIWarning]) {
        let (headerURL, _) = locate(url)
        let data = try load(headerURL)
        guard !data.isEmpty else { throw NIfTIError(headerURL.path, "", "is empty (0 bytes); a NIfTI header needs at least 348") }
        let bytes = try headerBytes(data, path: headerURL.path)
        let h = try NIfTIHeader.parse(bytes, path: headerURL.path)
        var warnings: [NIfTIWarning] = []
        for p in h.validate() {
            if p.level == .error { throw NIfTIError(headerURL.path, p.field, p.message) }
            warnings.append(NIfTIWarning(field: p.field, message: p.message))
        }
        let (ext, extWarnings) = extensions(of: h, bytes: bytes)
        return (h, ext, warnings + extWarnings)
    }

    /// The leading bytes of a (possibly gzip) file: enough for the header and its extensions.
    static func headerBytes(_ data: Data, path: String) throws -> [UInt8] {
        var bytes = try plainBytes(data, path: path, limit: 1 << 26, prefix: 544)
        guard bytes.count >= 4 else {
            throw NIfTIError(path, "", "is \(bytes.count) bytes long; a NIfTI header needs at least 348")
        }
        // Extensions sit between the header and vox_offset: fetch up to that offset.
        if let h = try? NIfTIHeader.parse(bytes, path: path), h.extender.first != 0 {
            let end = h.isSingleFile ? Swift.min(Swift.max(h.dataOffset, h.headerSize + 4), 1 << 24) : 1 << 24
            bytes = try plainBytes(data, path: path, limit: 1 << 26, prefix: end)
        }
        return bytes
    }

    /// The extension records after the header; a malformed section is dropped whole (with a warning).
    static func extensions(of h: NIfTIHeader, bytes: [UInt8]) -> ([NIfTIExtension], [NIfTIWarning]) {
        guard h.extender.first != 0 else { return ([], []) }
        let start = h.headerSize + 4
        let end = h.isSingleFile ? Swift.min(h.dataOffset, bytes.count) : bytes.count
        guard start < end else { return ([], []) }
        let r = ByteReader(bytes: bytes, littleEndian: h.littleEndian)
        var out: [NIfTIExtension] = []
        var o = start
        while o + 8 <= end {
            let esize = Int(r.i32(o)), ecode = Int(r.i32(o + 4))
            guard esize >= 16, esize % 16 == 0, o + esize <= end else {
                return ([], [NIfTIWarning(field: "extension", message: "record at byte \(o) has esize \(esize) (expected a positive multiple of 16 within the header); all extensions dropped")])
            }
            out.append(NIfTIExtension(code: ecode, content: Array(bytes[(o + 8)..<(o + esize)])))
            o += esize
        }
        return (out, [])
    }

    /// Reads a NIfTI file into a volume.
    /// - Throws: `NIfTIError` naming the file and the field for every kind of bad input.
    public static func read(_ url: URL, options: NIfTIReadOptions = NIfTIReadOptions()) throws -> NIfTIImage {
        let (headerURL, dataURL) = locate(url)
        let hpath = headerURL.path
        let headerData = try load(headerURL)
        guard !headerData.isEmpty else { throw NIfTIError(hpath, "", "is empty (0 bytes); a NIfTI header needs at least 348") }
        let prefix = try headerBytes(headerData, path: hpath)
        let h = try NIfTIHeader.parse(prefix, path: hpath)
        var warnings: [NIfTIWarning] = []
        for p in h.validate() {
            if p.level == .error { throw NIfTIError(hpath, p.field, p.message) }
            warnings.append(NIfTIWarning(field: p.field, message: p.message))
        }
        let (ext, extWarnings) = extensions(of: h, bytes: prefix)
        warnings += extWarnings
        let (affine, source, affineWarnings) = try h.affine(path: hpath)
        warnings += affineWarnings
        guard let type = h.dataType, let storage = type.storageDType else {
            throw NIfTIError(hpath, "datatype", "= \(h.datatypeCode) is not supported")
        }
        let (_, nbytes) = try h.dataSize(path: hpath)
        guard nbytes <= options.memoryLimit else {
            throw NIfTIError(hpath, "dim", "= \(h.shape) declares \(nbytes) bytes of \(type), over the memory limit of \(options.memoryLimit)")
        }
        if let v = options.volumeIndex {
            guard h.dim[0] >= 4, v >= 0, v < h.dim[4] else {
                throw NIfTIError(hpath, "dim[4]", "= \(h.dim[0] >= 4 ? h.dim[4] : 1); volume \(v) does not exist")
            }
        }

        // The data bytes: after vox_offset in a single file, or in the .img of a pair.
        let offset = h.dataOffset
        let (needed, overflow) = offset.addingReportingOverflow(nbytes)
        guard !overflow else { throw NIfTIError(hpath, "vox_offset", "= \(h.voxOffset) plus the data size overflows") }
        let dataPath: String
        let dataFile: Data
        if h.isSingleFile {
            dataPath = hpath
            dataFile = headerData
        } else {
            guard let dataURL else { throw NIfTIError(hpath, "magic", "'\(h.magic)' needs a .img file beside the .hdr") }
            dataPath = dataURL.path
            dataFile = try load(dataURL)
        }
        guard needed <= Int.max / 2 else { throw NIfTIError(hpath, "vox_offset", "= \(h.voxOffset) lies past any file") }
        let slope = h.sclSlope, inter = h.sclInter.isFinite ? h.sclInter : 0
        let scaled = slope.isFinite && slope != 0 && !(slope == 1 && inter == 0) && type != .rgb24 && type != .rgba32
        // Compressed files: libdeflate decompresses the whole file at once when its gzip trailer
        // gives the size; damaged or unusual files go the zlib routes below, which diagnose them.
        let whole = try dataFile.withUnsafeBytes { try Gzip.decompressWhole($0, limit: needed + (64 << 20)) }
        let fast: Tensor? = try whole.flatMap { w in w.count >= needed ? try w.narrow(0, start: offset, length: nbytes) : nil }
        // Otherwise, compressed real scalars in this machine's byte order, read as float32:
        // inflate, convert and scale chunk by chunk, so no full-size intermediate is ever made.
        let streamed: Tensor? = fast == nil && !options.keepDType && type.isRealScalar && h.littleEndian && ![.uint16, .uint32, .uint64].contains(type)
            ? try streamFloat32(dataFile, path: dataPath, headerPath: hpath, offset: offset, count: nbytes, storage: storage,
                                scale: scaled ? (slope, inter) : nil, pair: !h.isSingleFile, voxOffset: h.voxOffset)
            : nil
        let raw = try fast ?? (streamed == nil ? dataBytes(dataFile, path: dataPath, headerPath: hpath, offset: offset, count: nbytes,
                                                           pair: !h.isSingleFile, voxOffset: h.voxOffset) : Tensor.empty([0], dtype: .uint8))

        var data = try streamed.map { try layout($0, shape: h.shape) } ?? tensor(from: raw, header: h, type: type, storage: storage)
        if let v = options.volumeIndex { data = try data.select(3, v) }

        // Scaling (not for colour data): value = slope * x + inter.
        if streamed != nil {
            // Already float32 and scaled.
        } else if type.isRealScalar {
            if scaled {
                data = try data.to(.float64) * Scalar(slope) + Scalar(inter)
                if !options.keepDType || type != .float64 { data = try data.to(.float32) }
            } else if !options.keepDType {
                data = try data.to(.float32)
            }
        } else if type == .complex64 || type == .complex128 {
            if scaled { data = try (data.viewAsReal() * Scalar(slope) + Scalar(inter)).viewAsComplex() }
            switch options.complex {
            case .error:
                throw NIfTIError(dataPath, "datatype", "= \(type): complex voxels; upres needs real values (use the magnitude option to read |z|)")
            case .magnitude: data = try data.abs().to(.float32)
            case .keep: break
            }
        }
        // Only floating-point data can hold NaN or Inf (integers scaled by a finite slope cannot).
        if data.dtype.isFloatingPoint && (storage.isFloatingPoint || storage.isComplex) {
            let bad = try data.isFinite().logicalNot().sum().itemInt()
            if bad > 0 {
                switch options.nonFinite {
                case .keep:
                    warnings.append(NIfTIWarning(field: "data", message: "holds \(bad) NaN or infinite voxel(s), kept"))
                case .zero:
                    data = try data.nanToNum(nan: 0, posinf: 0, neginf: 0)
                    warnings.append(NIfTIWarning(field: "data", message: "held \(bad) NaN or infinite voxel(s), set to 0"))
                case .error:
                    throw NIfTIError(dataPath, "data", "holds \(bad) NaN or infinite voxel(s)")
                }
            }
        }

        var meta = VolumeMetadata()
        meta.sourcePath = url.path
        meta.sourceDType = type.description
        meta.qformCode = NIfTIHeader.validCode(h.qformCode) ? h.qformCode : 0
        meta.sformCode = NIfTIHeader.validCode(h.sformCode) ? h.sformCode : 0
        meta.description = h.descrip
        meta.intentCode = h.intentCode
        meta.intentName = h.intentName
        meta.dimInfo = h.dimInfo
        meta.sliceCode = h.sliceCode
        meta.sliceStart = h.sliceStart
        meta.sliceEnd = h.sliceEnd
        meta.sliceDuration = h.sliceDuration
        meta.calMin = h.calMin
        meta.calMax = h.calMax
        if h.dim[0] >= 4 && h.pixdim[4].isFinite && h.pixdim[4] > 0 {
            let t = h.xyztUnits & 0x38
            meta.timeStep = h.pixdim[4] * (t == 16 ? 0.001 : t == 24 ? 1e-6 : 1)
        }
        meta.extensions = ext
        return NIfTIImage(volume: Volume(data: data, affine: affine, metadata: meta), header: h, affineSource: source,
                          warnings: warnings)
    }

    /// Convenience: the volume of a file (warnings dropped).
    public static func readVolume(_ url: URL, options: NIfTIReadOptions = NIfTIReadOptions()) throws -> Volume {
        try read(url, options: options).volume
    }

    /// `count` data bytes from `offset` of a file's contents (inflated straight into the tensor
    /// when compressed), as a 1-d uint8 tensor; errors name the file and what is short.
    static func dataBytes(_ source: Data, path: String, headerPath: String, offset: Int, count: Int, pair: Bool,
                          voxOffset: Double) throws -> Tensor {
        let short = { (have: Int) -> NIfTIError in
            if pair {
                return NIfTIError(path, "", "holds \(have) bytes; the header (\(headerPath)) declares \(count) bytes of data from byte \(offset)")
            }
            if offset > have {
                return NIfTIError(path, "vox_offset", "= \(voxOffset) lies past the end of the file (\(have) bytes)")
            }
            return NIfTIError(path, "dim", "declare \(count) bytes of data from byte \(offset), but the file has only \(have - offset)")
        }
        return try source.withUnsafeBytes { raw -> Tensor in
            guard Gzip.isGzip(raw) else {
                guard raw.count >= offset + count else { throw short(raw.count) }
                return try Tensor(copying: UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + count)]), shape: [count], dtype: .uint8)
            }
            do {
                let inflater = try Gzip.Inflater(raw)
                var skip = [UInt8](repeating: 0, count: Swift.min(offset, 1 << 20))
                var skipped = 0
                while skipped < offset {
                    let want = Swift.min(skip.count, offset - skipped)
                    let got = try skip.withUnsafeMutableBytes { try inflater.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<want])) }
                    skipped += got
                    if got < want { throw short(skipped) }
                }
                let t = try Tensor.empty([count], dtype: .uint8)
                let got = try t.withUnsafeMutableBytes { try inflater.read(into: $0) }
                guard got == count else { throw short(offset + got) }
                try inflater.finish()
                return t
            } catch let f as Gzip.Failure {
                throw NIfTIError(path, "", "\(f)")
            }
        }
    }

    /// Inflates compressed data of a real scalar type straight into float32 (scaled when asked), in
    /// cache-sized chunks. Returns nil for uncompressed files (they take the plain route).
    static func streamFloat32(_ source: Data, path: String, headerPath: String, offset: Int, count: Int, storage: DType,
                              scale: (Double, Double)?, pair: Bool, voxOffset: Double) throws -> Tensor? {
        try source.withUnsafeBytes { raw -> Tensor? in
            guard Gzip.isGzip(raw) else { return nil }
            let size = storage.byteSize
            let out = try Tensor.empty([count / size], dtype: .float32)
            do {
                let inflater = try Gzip.Inflater(raw)
                var skip = [UInt8](repeating: 0, count: Swift.min(Swift.max(offset, 1), 1 << 20))
                var skipped = 0
                while skipped < offset {
                    let want = Swift.min(skip.count, offset - skipped)
                    let got = try skip.withUnsafeMutableBytes { try inflater.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<want])) }
                    skipped += got
                    if got < want { throw NIfTIError(path, "vox_offset", "= \(voxOffset) lies past the end of the data") }
                }
                let chunk = (1 << 18) / size * size
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
                defer { buffer.deallocate() }
                var done = 0
                while done < count {
                    let want = Swift.min(chunk, count - done)
                    let got = try inflater.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]))
                    guard got == want else {
                        throw pair ? NIfTIError(path, "", "holds \(offset + done + got) bytes; the header (\(headerPath)) declares \(count) bytes of data from byte \(offset)")
                                   : NIfTIError(path, "dim", "declare \(count) bytes of data from byte \(offset), but the decompressed file has only \(done + got)")
                    }
                    let piece = try Tensor(borrowing: buffer.baseAddress!, shape: [want / size], dtype: storage) { _ in }
                    let target = try out.narrow(0, start: done / size, length: want / size)
                    if let (slope, inter) = scale {
                        try target.copy_(piece.to(.float32) * slope + inter)
                    } else {
                        try target.copy_(piece)
                    }
                    done += want
                }
                try inflater.finish()
            } catch let f as Gzip.Failure {
                throw NIfTIError(path, "", "\(f)")
            }
            return out
        }
    }

    /// A flat array of voxels in file order, as [i, j, k, ...].
    static func layout(_ flat: Tensor, shape: [Int]) throws -> Tensor {
        try flat.reshape(shape.reversed()).permute(Array((0..<shape.count).reversed()))
    }

    /// The data bytes as a tensor indexed [i, j, k, ...] (and a trailing colour axis for RGB).
    static func tensor(from raw: Tensor, header h: NIfTIHeader, type: NIfTIDataType, storage: DType) throws -> Tensor {
        var t = raw
        // Byte order: swap each scalar component (the two halves of a complex separately).
        let component = type == .complex64 || type == .complex128 ? type.bytesPerVoxel / 2
            : (type == .rgb24 || type == .rgba32 ? 1 : type.bytesPerVoxel)
        if !h.littleEndian && component > 1 {
            t = try t.reshape([-1, component]).flip([1]).contiguous().reshape([-1])
        }
        t = try t.view(as: storage)
        let shape = h.shape
        var reversed = Array(shape.reversed())
        if type == .rgb24 { reversed.append(3) }
        if type == .rgba32 { reversed.append(4) }
        t = try t.reshape(reversed)
        let n = shape.count
        var order = Array((0..<n).reversed())
        if type == .rgb24 || type == .rgba32 { order.append(n) }
        t = try t.permute(order)
        switch type {
        case .uint16:
            let w = try t.to(.int32)
            t = try Tensor.where(w.lt(0), w + 65536, w)
        case .uint32:
            let w = try t.to(.int64)
            t = try Tensor.where(w.lt(0), w + 4_294_967_296, w)
        case .uint64:
            if try t.lt(0).any().itemBool() {
                let w = try t.to(.float64)
                t = try Tensor.where(w.lt(0), w + 18_446_744_073_709_551_616.0, w)
            }
        default:
            break
        }
        return t
    }

    // MARK: writing

    /// Writes a volume as a single-file NIfTI-1 (`.nii`, or `.nii.gz` compressed through zlib),
    /// atomically, never replacing an existing file unless `options.overwrite`.
    public static func write(_ volume: Volume, to url: URL, options: NIfTIWriteOptions = NIfTIWriteOptions()) throws {
        let path = url.path
        let gz = path.hasSuffix(".nii.gz")
        guard gz || path.hasSuffix(".nii") else {
            throw NIfTIError(path, "", "has an extension upres does not write; expected .nii or .nii.gz (single-file NIfTI-1)")
        }
        if !options.overwrite && FileManager.default.fileExists(atPath: path) {
            throw NIfTIError(path, "", "already exists; pass --force to overwrite it")
        }
        let type = options.dtype
        guard type.isRealScalar, type.isSupported else {
            throw NIfTIError(path, "datatype", "\(type) cannot be written; expected uint8, int8, int16, uint16, int32, uint32, int64, uint64, float32 or float64")
        }
        guard volume.affine.m.allSatisfy(\.isFinite), !volume.affine.isSingular else {
            throw NIfTIError(path, "affine", "is singular or not finite; cannot be written")
        }
        var data = volume.data
        guard !data.dtype.isComplex else {
            throw NIfTIError(path, "data", "is complex; take the magnitude before writing")
        }
        let shape = data.shape
        guard (1...7).contains(shape.count), shape.allSatisfy({ $0 > 0 && $0 <= Int(Int16.max) }) else {
            throw NIfTIError(path, "dim", "= \(shape); NIfTI-1 needs 1..7 dimensions of 1..32767 voxels")
        }

        var h = NIfTIHeader()
        h.dim = [shape.count] + shape + Array(repeating: 1, count: 7 - shape.count)
        h.datatypeCode = type.rawValue
        h.bitpix = type.bitsPerVoxel
        let m = volume.metadata
        var sform = m.sformCode, qform = m.qformCode
        if sform == 0 && qform == 0 { sform = 2 }
        h.setAffine(volume.affine, sformCode: sform, qformCode: qform)
        if let dt = m.timeStep, shape.count >= 4 {
            h.pixdim[4] = dt
            h.xyztUnits = (h.xyztUnits & 0x07) | 8
        }
        h.descrip = m.description
        h.intentCode = m.intentCode
        h.intentName = m.intentName
        h.dimInfo = m.dimInfo
        h.sliceCode = m.sliceCode
        h.sliceStart = m.sliceStart
        h.sliceEnd = m.sliceEnd
        h.sliceDuration = m.sliceDuration
        h.calMin = m.calMin
        h.calMax = m.calMax

        // Extensions: records padded to multiples of 16.
        var extBytes: [UInt8] = []
        for e in m.extensions {
            let size = (8 + e.content.count + 15) / 16 * 16
            var w = ByteWriter(count: size)
            w.i32(0, Int32(size))
            w.i32(4, Int32(e.code))
            for (i, b) in e.content.enumerated() { w.u8(8 + i, b) }
            extBytes += w.bytes
        }
        h.extender = [extBytes.isEmpty ? 0 : 1, 0, 0, 0]
        h.voxOffset = Double(352 + extBytes.count)

        // Values on disk: floats as they are; integers scaled to span the data (like nibabel).
        if type.isInteger {
            data = try data.to(.float64)
            let (lo, hi) = type.integerRange!
            let dmin = try data.min().item(), dmax = try data.max().item()
            guard dmin.isFinite, dmax.isFinite else {
                throw NIfTIError(path, "data", "holds NaN or infinite values, which \(type) cannot store")
            }
            let integral = try data.eq(data.round()).all().itemBool()
            if integral && dmin >= lo && dmax <= hi {
                h.sclSlope = 1
                h.sclInter = 0
            } else {
                let slope = dmax > dmin ? (dmax - dmin) / (hi - lo) : 1
                let inter = dmax > dmin ? dmin - slope * lo : dmin - lo
                h.sclSlope = slope
                h.sclInter = inter
                data = try ((data - Scalar(inter)) / Scalar(slope)).round().clamp(min: .double(lo), max: .double(hi))
            }
        } else {
            h.sclSlope = 1
            h.sclInter = 0
        }
        // [i, j, k, ...] -> i fastest on disk.
        let order = Array((0..<shape.count).reversed())
        var disk = try data.permute(order).contiguous()
        switch type {
        case .uint16: disk = try disk.to(.int32).view(as: .uint8).reshape([-1, 4]).narrow(1, start: 0, length: 2)
        case .uint32: disk = try disk.to(.int64).view(as: .uint8).reshape([-1, 8]).narrow(1, start: 0, length: 4)
        case .uint64:
            // Values above Int64.max wrap to their two's complement bit pattern.
            let big = try disk.ge(9.223372036854775807e18)
            disk = try Tensor.where(big, disk - 18_446_744_073_709_551_616.0, disk).to(.int64)
        default: disk = try disk.to(type.storageDType!)
        }
        let body = try disk.contiguous()
        let head = h.encodeNIfTI1() + extBytes
        try body.withUnsafeBytes { bodyBytes in
            try head.withUnsafeBytes { headBytes in
                if gz {
                    // One gzip member per 64 MB of voxels (RFC 1952 files may hold several; zlib,
                    // Python's gzip, nibabel and FSL read them all): a large volume is compressed
                    // and written piece by piece, never whole in memory a second time.
                    let member = 64 << 20
                    try writeAtomically(path: path, overwrite: options.overwrite) { emit in
                        var start = 0
                        repeat {
                            let n = Swift.min(member, bodyBytes.count - start)
                            let piece = UnsafeRawBufferPointer(rebasing: bodyBytes[start..<(start + n)])
                            let compressed = try Gzip.compress(parts: start == 0 ? [headBytes, piece] : [piece], level: options.compressionLevel)
                            try compressed.withUnsafeBytes { try emit($0) }
                            start += n
                        } while start < bodyBytes.count
                    }
                } else {
                    try writeAtomically([headBytes, bodyBytes], path: path, overwrite: options.overwrite)
                }
            }
        }
    }

    static func writeAtomically(_ parts: [UnsafeRawBufferPointer], path: String, overwrite: Bool) throws {
        try writeAtomically(path: path, overwrite: overwrite) { emit in
            for part in parts { try emit(part) }
        }
    }

    static func writeAtomically(path: String, overwrite: Bool,
                                _ produce: (_ emit: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        do {
            try AtomicFile.write(to: URL(fileURLWithPath: path), overwrite: overwrite, produce)
        } catch let f as AtomicFile.Failure {
            switch f {
            case .exists: throw NIfTIError(path, "", "already exists; pass --force to overwrite it")
            case .cannotWrite(_, let why): throw NIfTIError(path, "", "cannot be written (\(why))")
            }
        }
    }
}
