import Foundation
import Testing
@testable import Imaging
import Torch

/// Builds NIfTI files byte by byte for the tests.
struct FileBuilder {
    var header = NIfTIHeader()
    var data: [UInt8]
    var bigEndian = false
    var extensions: [UInt8] = []

    /// A 4x3x2 int16 volume holding 0..23, little-endian, sform = 2 mm voxels shifted by (10, 20, 30).
    init() {
        header.dim = [3, 4, 3, 2, 1, 1, 1, 1]
        header.datatypeCode = NIfTIDataType.int16.rawValue
        header.bitpix = 16
        header.pixdim = [1, 2, 2, 2, 1, 1, 1, 1]
        header.sformCode = 2
        header.srow = [[2, 0, 0, 10], [0, 2, 0, 20], [0, 0, 2, 30]]
        header.voxOffset = 352
        data = (0..<24).flatMap { v -> [UInt8] in [UInt8(v & 0xFF), UInt8(v >> 8)] }
    }

    func bytes() -> [UInt8] {
        var d = data
        if bigEndian {
            let size = (header.dataType?.bytesPerVoxel ?? 2)
            let component = [32, 1792].contains(header.datatypeCode) ? size / 2 : ([128, 2304].contains(header.datatypeCode) ? 1 : size)
            if component > 1 {
                d = stride(from: 0, to: d.count, by: component).flatMap { d[$0..<Swift.min($0 + component, d.count)].reversed() }
            }
        }
        var h = header.encodeNIfTI1(bigEndian: bigEndian)
        if !extensions.isEmpty { h[348] = 1 }
        let pad = Swift.max(0, Int(header.voxOffset) - 352 - extensions.count)
        return h + extensions + [UInt8](repeating: 0, count: pad) + d
    }

    func write(_ name: String, in dir: URL, gzip: Bool = false) throws -> URL {
        let url = dir.appendingPathComponent(name)
        let b = bytes()
        let out = gzip ? try b.withUnsafeBytes { try Gzip.deflate($0) } : b
        try Data(out).write(to: url)
        return url
    }
}

@Suite struct NIfTIRoundTripTests {
    @Test(arguments: NIfTIDataType.allCases.filter { $0.isRealScalar && $0.isSupported })
    func everyDTypeRoundTrips(_ type: NIfTIDataType) throws {
        let dir = try scratchDirectory()
        // Values inside every type's range; the writer scales when they do not fit.
        let values = try Tensor([0, 1, 2, 3, 100, 127, 5, 7, 9, 11, 13, 17] as [Double], shape: [2, 3, 2]).to(.float32)
        let affine = Affine(rows: [[0, -1.5, 0, 10], [2, 0, 0, -5], [0, 0, 3, 7], [0, 0, 0, 1]])
        let v = Volume(data: values, affine: affine)
        for ext in ["nii", "nii.gz"] {
            let url = dir.appendingPathComponent("v-\(type).\(ext)")
            try NIfTI.write(v, to: url, options: NIfTIWriteOptions(dtype: type))
            let back = try NIfTI.read(url)
            #expect(back.header.dataType == type)
            #expect(back.volume.shape == [2, 3, 2])
            expectClose(back.volume.affine.m, affine.m, rtol: 0, atol: 1e-5, "\(type) affine")
            expectClose(try back.volume.data.to(.float64).flatten().toArray(Double.self),
                        try values.to(.float64).flatten().toArray(Double.self), rtol: 1e-6, atol: 1e-6, "\(type) \(ext)")
            #expect(back.volume.metadata.sformCode == 2 && back.volume.metadata.qformCode == 0)
        }
    }

    @Test func integerTypesScaleValuesThatDoNotFit() throws {
        let dir = try scratchDirectory()
        let values = try Tensor([-1.5, 0.25, 1000.75, 3.125] as [Double], shape: [2, 2, 1])
        let url = dir.appendingPathComponent("scaled.nii")
        try NIfTI.write(Volume(data: values, affine: .identity), to: url, options: NIfTIWriteOptions(dtype: .int16))
        let back = try NIfTI.read(url)
        #expect(back.header.sclSlope != 1)
        let span = 1002.25 / 65535
        expectClose(try back.volume.data.to(.float64).flatten().toArray(Double.self), [-1.5, 0.25, 1000.75, 3.125],
                    rtol: 0, atol: span, "quantised within one step")
        // Integral values that fit are stored exactly, unscaled.
        try NIfTI.write(Volume(data: try Tensor([1, 2, 3, 4] as [Double], shape: [2, 2, 1]), affine: .identity),
                        to: dir.appendingPathComponent("exact.nii"), options: NIfTIWriteOptions(dtype: .uint8))
        #expect(try NIfTI.read(dir.appendingPathComponent("exact.nii")).header.sclSlope == 1)
    }

    @Test func qformAndSformAreBothSetAsNibabelDoes() throws {
        let dir = try scratchDirectory()
        // A rotation about z by 30 degrees with voxel sizes 1, 2, 3 and a left-handed voxel order
        // (k runs toward inferior). (Rotations of nearly 180 degrees put the quaternion's a near 0,
        // which NIfTI's float32 b, c, d cannot recover to better than ~1e-3: a limit of the format.)
        let c = cos(Double.pi / 6), s = sin(Double.pi / 6)
        let affine = Affine(rows: [[c, -2 * s, 0, 1], [s, 2 * c, 0, 2], [0, 0, -3, 3], [0, 0, 0, 1]])
        let url = dir.appendingPathComponent("rot.nii")
        try NIfTI.write(Volume(data: try Tensor.zeros([2, 2, 2]), affine: affine), to: url)
        let h = try NIfTI.read(url).header
        #expect(h.sformCode == 2 && h.qformCode == 0)
        #expect(h.pixdim[0] == -1)  // qfac: negative determinant
        expectClose(Array(h.pixdim[1...3]), [1, 2, 3], rtol: 1e-6)
        // The qform, read as the qform, reproduces the same affine.
        var q = h
        q.sformCode = 0
        q.qformCode = 1
        expectClose(try q.affine(path: "q").affine.m, affine.m, rtol: 0, atol: 1e-5, "qform")
    }

    @Test func quaternionByHandFromTheSpecification() throws {
        // b = c = 0, d = sin(45 deg): a 90-degree rotation about z; a = cos(45 deg).
        var h = NIfTIHeader()
        h.dim = [3, 2, 2, 2, 1, 1, 1, 1]
        h.qformCode = 1
        h.quatern = [0, 0, (0.5).squareRoot()]
        h.qoffset = [5, 6, 7]
        h.pixdim = [-1, 2, 3, 4, 1, 1, 1, 1]
        let a = try h.affine(path: "x").affine
        // R = [[0, -1, 0], [1, 0, 0], [0, 0, 1]] times diag(2, 3, -4).
        expectClose(a.m, [0, -3, 0, 5, 2, 0, 0, 6, 0, 0, -4, 7, 0, 0, 0, 1], rtol: 0, atol: 1e-6)
        // The pixdim-only fallback: x flipped, centred (nibabel's get_base_affine).
        h.qformCode = 0
        let f = try h.affine(path: "x")
        #expect(f.source == .fallback)
        expectClose(f.affine.m, [-2, 0, 0, 1, 0, 3, 0, -1.5, 0, 0, 4, -2, 0, 0, 0, 1], rtol: 0, atol: 1e-12)
    }

    @Test func bothByteOrdersAndPairsAndGzipByContent() throws {
        let dir = try scratchDirectory()
        var b = FileBuilder()
        let expected = (0..<24).map(Double.init)
        func values(_ url: URL) throws -> [Double] {
            try NIfTI.readVolume(url).data.permute([2, 1, 0]).contiguous().flatten().to(.float64).toArray(Double.self)
        }
        #expect(try values(b.write("le.nii", in: dir)) == expected)
        b.bigEndian = true
        #expect(try values(b.write("be.nii", in: dir)) == expected)
        // gzip bytes named .nii and plain bytes named .nii.gz both read (detected by content).
        #expect(try values(b.write("gz-named.nii", in: dir, gzip: true)) == expected)
        #expect(try values(b.write("plain-named.nii.gz", in: dir)) == expected)
        // A .hdr/.img pair, opened through either file.
        var pair = FileBuilder()
        pair.header.magic = "ni1"
        pair.header.voxOffset = 0
        let hb = Array(pair.header.encodeNIfTI1())
        try Data(hb).write(to: dir.appendingPathComponent("p.hdr"))
        try Data(pair.data).write(to: dir.appendingPathComponent("p.img"))
        #expect(try values(dir.appendingPathComponent("p.hdr")) == expected)
        #expect(try values(dir.appendingPathComponent("p.img")) == expected)
        // The corpus' NIfTI-2 pair header (with no .img) names what is missing.
        #expect(throws: NIfTIError.self) { try NIfTI.read(try sample("nibabel-corpus/nifti2.hdr")) }
    }

    @Test func extensionsAndMetadataSurviveACopy() throws {
        let dir = try scratchDirectory()
        let src = try NIfTI.read(try sample("nibabel-corpus/example4d.nii.gz"))
        let out = dir.appendingPathComponent("copy.nii.gz")
        try NIfTI.write(src.volume, to: out)
        let back = try NIfTI.read(out)
        #expect(back.volume.metadata.extensions == src.volume.metadata.extensions)
        #expect(back.volume.metadata.description == src.volume.metadata.description)
        #expect(back.volume.shape == src.volume.shape)
        #expect(back.volume.metadata.timeStep == src.volume.metadata.timeStep)
        #expect(try back.volume.data.equal(src.volume.data))
        #expect(back.volume.metadata.qformCode == src.volume.metadata.qformCode)
    }

    @Test func writesNeverOverwriteOrLeavePartialFiles() throws {
        let dir = try scratchDirectory()
        let url = dir.appendingPathComponent("out.nii.gz")
        let v = Volume(data: try Tensor.ones([3, 3, 3]), affine: .identity)
        try NIfTI.write(v, to: url)
        do {
            try NIfTI.write(v, to: url)
            Issue.record("overwrote without overwrite")
        } catch let e as NIfTIError {
            #expect(e.description.contains("already exists; pass --force"))
        }
        try NIfTI.write(v, to: url, options: NIfTIWriteOptions(overwrite: true))
        // NaN cannot be stored as int16: an error, and nothing new on disk.
        let bad = Volume(data: try Tensor([.nan, 1] as [Double], shape: [2, 1, 1]), affine: .identity)
        #expect(throws: NIfTIError.self) { try NIfTI.write(bad, to: dir.appendingPathComponent("bad.nii"), options: NIfTIWriteOptions(dtype: .int16)) }
        #expect(throws: NIfTIError.self) { try NIfTI.write(v, to: dir.appendingPathComponent("nope/out.nii")) }
        #expect(throws: NIfTIError.self) { try NIfTI.write(v, to: dir.appendingPathComponent("out.mgz")) }
        let singular = Volume(data: try Tensor.ones([2, 2, 2]), affine: Affine([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]))
        #expect(throws: NIfTIError.self) { try NIfTI.write(singular, to: dir.appendingPathComponent("s.nii")) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["out.nii.gz"])
    }
}

@Suite struct GzipRouteTests {
    /// libdeflate takes whole single-member files; concatenated members (allowed by gzip, written
    /// by some tools) go the zlib route and read the same.
    @Test func multiMemberFilesReadLikeSingleMemberOnes() throws {
        let dir = try scratchDirectory()
        let bytes = FileBuilder().bytes()
        let single = try bytes.withUnsafeBytes { try Gzip.compress(parts: [$0]) }
        let first = try Array(bytes.prefix(100)).withUnsafeBytes { try Gzip.deflate($0) }
        let second = try Array(bytes.dropFirst(100)).withUnsafeBytes { try Gzip.deflate($0) }
        try Data(single).write(to: dir.appendingPathComponent("one.nii.gz"))
        try Data(first + second).write(to: dir.appendingPathComponent("two.nii.gz"))
        let a = try NIfTI.readVolume(dir.appendingPathComponent("one.nii.gz"))
        let b = try NIfTI.readVolume(dir.appendingPathComponent("two.nii.gz"))
        #expect(try a.data.equal(b.data))
        #expect(try a.data.sum().item() == 276)
        // Both compressors' output inflates with zlib back to the bytes.
        #expect(try single.withUnsafeBytes { try Gzip.inflate($0, limit: 1 << 20) } == bytes)
        #expect(try single.withUnsafeBytes { try Gzip.decompressWhole($0, limit: 1 << 20) }?.toArray(UInt8.self) == bytes)
    }
}
