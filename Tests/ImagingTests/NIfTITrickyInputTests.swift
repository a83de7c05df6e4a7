import Foundation
import Testing
@testable import Imaging
import Torch

/// Every row of the table of tricky inputs in NIFTI-NOTES.md, each file built here, with upres's
/// answer: an error naming the field, or a read with a warning naming it.
@Suite struct NIfTITrickyInputTests {
    let dir: URL
    init() throws { dir = try scratchDirectory() }

    /// Reads `bytes` as a file and expects an error whose text contains `field` and `text`.
    func expectError(_ name: String, _ bytes: [UInt8], field: String, _ text: String = "",
                     options: NIfTIReadOptions = NIfTIReadOptions(), sourceLocation: SourceLocation = #_sourceLocation) throws {
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        do {
            _ = try NIfTI.read(url, options: options)
            Issue.record("\(name): read without an error", sourceLocation: sourceLocation)
        } catch let e as NIfTIError {
            #expect(e.path == url.path, sourceLocation: sourceLocation)
            #expect(field.isEmpty || e.description.contains(field), "\(e)", sourceLocation: sourceLocation)
            #expect(text.isEmpty || e.description.contains(text), "\(e)", sourceLocation: sourceLocation)
        }
    }

    /// Reads `bytes` and expects success with a warning naming `field`.
    @discardableResult
    func expectWarning(_ name: String, _ bytes: [UInt8], field: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> NIfTIImage {
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        let image = try NIfTI.read(url)
        #expect(image.warnings.contains { $0.field.contains(field) }, "\(image.warnings)", sourceLocation: sourceLocation)
        return image
    }

    @Test func sizesAndTruncation() throws {
        try expectError("empty.nii", [], field: "", "empty (0 bytes)")
        try expectError("short.nii", Array(FileBuilder().bytes().prefix(200)), field: "", "200 bytes long")
        try expectError("shortdata.nii", Array(FileBuilder().bytes().dropLast(10)), field: "dim", "the file has only 38")
        var far = FileBuilder()
        far.header.voxOffset = 100_000
        try expectError("far.nii", Array(far.header.encodeNIfTI1() + far.data), field: "vox_offset", "past the end")
        var huge = FileBuilder()
        huge.header.dim = [3, 32767, 32767, 32767, 1, 1, 1, 1]
        try expectError("huge.nii", huge.bytes(), field: "dim", "over the memory limit")
        let gz = try FileBuilder().bytes().withUnsafeBytes { try Gzip.deflate($0) }
        try expectError("truncated.nii.gz", Array(gz.dropLast(30)), field: "", "truncated gzip")
        var badCRC = gz
        badCRC[badCRC.count - 6] ^= 0xFF
        try expectError("crc.nii.gz", badCRC, field: "", "corrupt gzip trailer")
        try expectError("notrailer.nii.gz", Array(gz.dropLast(8)), field: "", "gzip")
    }

    @Test func voxOffsetInsideTheHeaderIsReadFrom352() throws {
        var b = FileBuilder()
        b.header.voxOffset = 0
        let image = try expectWarning("off0.nii", Array(b.header.encodeNIfTI1() + b.data), field: "vox_offset")
        #expect(try image.volume.data.sum().item() == 276)
    }

    @Test func headerFields() throws {
        var bytes = FileBuilder().bytes()
        bytes[0] = 94; bytes[1] = 1  // 350
        try expectError("sizeof.nii", bytes, field: "sizeof_hdr", "= 350")
        for d0 in [0, 8, -1] {
            var b = FileBuilder()
            b.header.dim[0] = d0
            try expectError("dim0-\(d0).nii", b.bytes(), field: "dim[0]", "= \(d0); expected 1..7")
        }
        for v in [0, -3] {
            var b = FileBuilder()
            b.header.dim[2] = v
            try expectError("dimk\(v).nii", b.bytes(), field: "dim[2]", "= \(v)")
        }
        for code in [0, 1, 3, 255] {
            var b = FileBuilder()
            b.header.datatypeCode = code
            try expectError("dt\(code).nii", b.bytes(), field: "datatype", "= \(code)")
        }
        for code in [1536, 2048] {
            var b = FileBuilder()
            b.header.datatypeCode = code
            try expectError("dt\(code).nii", b.bytes(), field: "datatype", "not supported")
        }
        var bp = FileBuilder()
        bp.header.bitpix = 8
        let image = try expectWarning("bitpix.nii", bp.bytes(), field: "bitpix")
        #expect(try image.volume.data.sum().item() == 276)
        var magic = FileBuilder().bytes()
        magic[344] = UInt8(ascii: "x")
        try expectError("magic.nii", magic, field: "magic", "expected 'n+1'")
    }

    @Test func colourAndComplexData() throws {
        var rgb = FileBuilder()
        rgb.header.datatypeCode = 128
        rgb.header.bitpix = 24
        rgb.data = (0..<72).map { UInt8($0) }
        let v = try NIfTI.readVolume(try rgb.write("rgb.nii", in: dir))
        #expect(v.shape == [4, 3, 2, 3] && v.data.dtype == .uint8)
        #expect(try v.data.select(0, 1).select(0, 0).select(0, 0).toArray(UInt8.self) == [3, 4, 5])
        var c = FileBuilder()
        c.header.datatypeCode = 32
        c.header.bitpix = 64
        c.header.dim = [3, 2, 1, 1, 1, 1, 1, 1]
        c.data = [Float(3), 4, 0, -2].flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian) { Array($0) } }
        let url = try c.write("complex.nii", in: dir)
        #expect(throws: NIfTIError.self) { try NIfTI.read(url) }
        let mag = try NIfTI.readVolume(url, options: NIfTIReadOptions(complex: .magnitude))
        #expect(try mag.data.flatten().toArray(Float.self) == [5, 2])
        c.bigEndian = true
        let be = try NIfTI.readVolume(try c.write("complex-be.nii", in: dir), options: NIfTIReadOptions(complex: .magnitude))
        #expect(try be.data.flatten().toArray(Float.self) == [5, 2])
    }

    @Test func nonFiniteVoxelsAndScaling() throws {
        var f = FileBuilder()
        f.header.datatypeCode = 16
        f.header.bitpix = 32
        f.header.dim = [3, 3, 1, 1, 1, 1, 1, 1]
        f.data = [Float.nan, .infinity, 2].flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian) { Array($0) } }
        let image = try expectWarning("nan.nii", f.bytes(), field: "data")
        #expect(try image.volume.data.isNaN().sum().itemInt() == 1)
        let url = dir.appendingPathComponent("nan.nii")
        #expect(try NIfTI.readVolume(url, options: NIfTIReadOptions(nonFinite: .zero)).data.flatten().toArray(Float.self) == [0, 0, 2])
        #expect(throws: NIfTIError.self) { try NIfTI.readVolume(url, options: NIfTIReadOptions(nonFinite: .error)) }
        // Slope 0, NaN or Inf: no scaling.
        for slope in [0, Double.nan, .infinity] {
            var b = FileBuilder()
            b.header.sclSlope = slope
            b.header.sclInter = 100
            #expect(try NIfTI.readVolume(try b.write("slope\(slope).nii", in: dir)).data.sum().item() == 276)
        }
        var s = FileBuilder()
        s.header.sclSlope = 2
        s.header.sclInter = 1
        #expect(try NIfTI.readVolume(try s.write("scaled.nii", in: dir)).data.sum().item() == 276 * 2 + 24)
        var nanInter = FileBuilder()
        nanInter.header.sclSlope = 2
        nanInter.header.sclInter = .nan
        let ni = try expectWarning("naninter.nii", nanInter.bytes(), field: "scl_inter")
        #expect(try ni.volume.data.sum().item() == 552)
    }

    @Test func affineFallbacks() throws {
        func qformFile(_ configure: (inout NIfTIHeader) -> Void) -> FileBuilder {
            var b = FileBuilder()
            b.header.sformCode = 0
            b.header.qformCode = 1
            configure(&b.header)
            return b
        }
        // qfac: the sign of pixdim[0], 0 -> +1.
        for (qfac, sign) in [(0.0, 1.0), (0.5, 1), (-2, -1)] {
            let b = qformFile { $0.pixdim[0] = qfac }
            let image = try expectWarning("qfac\(qfac).nii", b.bytes(), field: "pixdim[0]")
            #expect(image.volume.affine[2, 2] == 2 * sign)
        }
        let neg = qformFile { $0.pixdim[2] = -2 }
        let negImage = try expectWarning("negpix.nii", neg.bytes(), field: "pixdim[2]")
        #expect(negImage.volume.affine[1, 1] == 2)
        for bad in [0.0, .nan] {
            try expectError("pix\(bad).nii", qformFile { $0.pixdim[1] = bad }.bytes(), field: "pixdim[1]")
        }
        // ... unless a valid sform gives the geometry.
        var withSform = FileBuilder()
        withSform.header.pixdim[1] = 0
        #expect(try NIfTI.read(try withSform.write("pix0-sform.nii", in: dir)).affineSource == .sform)
        // Quaternions slightly off the unit sphere are normalised; far off is an error.
        let slight = qformFile { $0.quatern = [0, 0, 1.0000003] }
        try expectWarning("quat-slight.nii", slight.bytes(), field: "quatern")
        try expectError("quat-far.nii", qformFile { $0.quatern = [0.9, 0.9, 0] }.bytes(), field: "quatern_b/c/d", "not a rotation")
        // A singular sform falls back to the qform, or fails without one.
        var singular = FileBuilder()
        singular.header.srow = [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
        singular.header.qformCode = 1
        let sImage = try expectWarning("singular.nii", singular.bytes(), field: "srow")
        #expect(sImage.affineSource == .qform)
        singular.header.qformCode = 0
        try expectError("singular-noq.nii", singular.bytes(), field: "srow_x/y/z", "no qform")
        // A sheared sform is used as it is.
        var shear = FileBuilder()
        shear.header.srow = [[2, 0.5, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0]]
        #expect(try NIfTI.readVolume(try shear.write("shear.nii", in: dir)).affine[0, 1] == 0.5)
        // Codes outside 0...5 are treated as 0.
        var codes = FileBuilder()
        codes.header.sformCode = 7
        codes.header.qformCode = -1
        let cImage = try expectWarning("codes.nii", codes.bytes(), field: "sform_code")
        #expect(cImage.affineSource == .fallback)
        // Unknown units: mm, with a warning; metres are converted to mm.
        var units = FileBuilder()
        units.header.xyztUnits = 0xFF
        try expectWarning("units.nii", units.bytes(), field: "xyzt_units")
        var metres = FileBuilder()
        metres.header.xyztUnits = 1
        metres.header.srow = [[0.002, 0, 0, 0.01], [0, 0.002, 0, 0], [0, 0, 0.002, 0]]
        let m = try NIfTI.readVolume(try metres.write("metres.nii", in: dir))
        expectClose(m.spacing + [m.affine[0, 3]], [2, 2, 2, 10], rtol: 1e-6)
    }

    @Test func extensions() throws {
        // Flag set but no extension: ignored.
        var flag = FileBuilder()
        flag.header.extender = [1, 0, 0, 0]
        #expect(try NIfTI.read(try flag.write("flag.nii", in: dir)).volume.metadata.extensions.isEmpty)
        // A valid comment extension, then malformed ones dropped whole.
        func withExtension(esize: Int32) -> FileBuilder {
            var b = FileBuilder()
            var rec = [UInt8](repeating: 0, count: 32)
            withUnsafeBytes(of: esize.littleEndian) { for i in 0..<4 { rec[i] = $0[i] } }
            rec[4] = 6
            for (i, ch) in "hello".utf8.enumerated() { rec[8 + i] = ch }
            b.extensions = rec
            b.header.voxOffset = 384
            return b
        }
        let ok = try NIfTI.read(try withExtension(esize: 32).write("ext.nii", in: dir))
        #expect(ok.volume.metadata.extensions.count == 1)
        #expect(ok.volume.metadata.extensions.first?.code == 6)
        for esize: Int32 in [24, 0, -16, 64] {
            let image = try expectWarning("ext\(esize).nii", withExtension(esize: esize).bytes(), field: "extension")
            #expect(image.volume.metadata.extensions.isEmpty)
        }
    }

    @Test func nifti2EndOfLineCheck() throws {
        let url = try sample("nibabel-corpus/example_nifti2.nii.gz")
        let plain = try NIfTI.plainBytes(try Data(contentsOf: url), path: url.path, limit: 1 << 26)
        var broken = plain
        broken[8] = 0x0A  // \r\n -> \n\n, as a text-mode transfer would
        try expectError("eol.nii", broken, field: "magic", "end-of-line")
        #expect(try NIfTI.read(try { let u = dir.appendingPathComponent("n2.nii"); try Data(plain).write(to: u); return u }()).header.version == 2)
    }

    @Test func otherDimensionCounts() throws {
        for n in [2, 5, 7] {
            var b = FileBuilder()
            b.header.dim = [n] + Array(repeating: 1, count: 7)
            b.header.dim[1] = 4
            b.header.dim[2] = n == 2 ? 6 : 3
            if n > 2 { b.header.dim[n] = 2 }
            let count = b.header.shape.reduce(1, *)
            b.data = (0..<count).flatMap { v -> [UInt8] in [UInt8(v & 0xFF), UInt8(v >> 8)] }
            let v = try NIfTI.readVolume(try b.write("d\(n).nii", in: dir))
            #expect(v.shape == b.header.shape)
        }
    }

    @Test func filesThatAreNotThere() throws {
        do {
            _ = try NIfTI.read(dir.appendingPathComponent("missing.nii"))
            Issue.record("read a missing file")
        } catch let e as NIfTIError { #expect(e.description.hasSuffix("does not exist")) }
        do {
            _ = try NIfTI.read(dir)
            Issue.record("read a directory")
        } catch let e as NIfTIError { #expect(e.description.contains("is a directory")) }
    }
}

/// Seeded mutations of real headers: every outcome is a volume or a NIfTIError, never a crash.
@Suite struct NIfTIFuzzTests {
    struct SplitMix {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    @Test func mutatedHeadersNeverCrash() throws {
        let dir = try scratchDirectory()
        let seeds: [[UInt8]] = [
            FileBuilder().bytes(),
            { var b = FileBuilder(); b.bigEndian = true; b.header.qformCode = 1; b.header.quatern = [0, 0.6, 0]; return b.bytes() }(),
            Array(try Data(contentsOf: try sample("nibabel-corpus/anatomical.nii"))),
        ]
        let interesting: [UInt8] = [0, 1, 0x7F, 0x80, 0xFF, 0xFE, 8, 7]
        var rng = SplitMix(state: 20261122)
        var outcomes = (ok: 0, errors: 0)
        let url = dir.appendingPathComponent("fuzz.nii")
        let options = NIfTIReadOptions(complex: .keep, memoryLimit: 32 << 20)
        for i in 0..<3000 {
            var bytes = seeds[i % seeds.count]
            for _ in 0..<(1 + rng.int(4)) {
                let at = rng.int(Swift.min(bytes.count, 360))
                switch rng.int(3) {
                case 0: bytes[at] ^= UInt8(1 << rng.int(8))
                case 1: bytes[at] = interesting[rng.int(interesting.count)]
                default: bytes[at] = UInt8(truncatingIfNeeded: rng.next())
                }
            }
            if rng.int(10) == 0 { bytes = Array(bytes.prefix(rng.int(bytes.count + 1))) }
            try Data(bytes).write(to: url)
            do {
                _ = try NIfTI.read(url, options: options)
                outcomes.ok += 1
            } catch is NIfTIError {
                outcomes.errors += 1
            } catch {
                Issue.record("mutation \(i): \(type(of: error)) \(error) instead of a NIfTIError")
            }
        }
        #expect(outcomes.ok > 100 && outcomes.errors > 100, "\(outcomes)")
    }
}
