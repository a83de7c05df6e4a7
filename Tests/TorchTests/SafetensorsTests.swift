import Foundation
import Testing
@testable import Torch

/// A fresh temporary folder per test.
func temporaryDirectory(_ name: String = #function) throws -> URL {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("upres-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")

@Suite struct SafetensorsTests {
    /// A file written by the reference implementation (Tests/Fixtures/make_safetensors_fixture.py,
    /// safetensors 0.8.0) reads back with the exact values.
    @Test func readsTheReferenceImplementationsFile() throws {
        let c = try Safetensors.read(fixtures.appendingPathComponent("reference.safetensors"))
        #expect(c.metadata == ["format": "pt", "model": "edsr"])
        #expect(Set(c.names) == ["body.0.conv1.weight", "body.0.conv1.bias", "head.scale", "steps", "counts",
                                 "codes", "signed", "short", "mask", "empty"])
        let w = try #require(c.tensors["body.0.conv1.weight"])
        #expect(w.dtype == .float32 && w.shape == [2, 3, 2, 2])
        #expect(try w.toArray(Float.self) == (0..<24).map { Float($0) / 8 })
        let b = try #require(c.tensors["body.0.conv1.bias"])
        #expect(b.dtype == .float64)
        #expect(try b.toArray(Double.self) == [-1.5, 2.25])
        let s = try #require(c.tensors["head.scale"])
        #expect(s.dtype == .float16 && s.shape == [])
        #expect(try s.item() == 0.5)
        #expect(try c.tensors["steps"]!.toArray(Int64.self) == [1, -2, 3])
        #expect(c.tensors["steps"]!.shape == [1, 3])
        #expect(try c.tensors["counts"]!.toArray(Int32.self) == [7, -8])
        #expect(try c.tensors["codes"]!.toArray(UInt8.self) == [0, 255, 17])
        #expect(try c.tensors["signed"]!.toArray(Int8.self) == [-128, 127])
        #expect(try c.tensors["short"]!.toArray(Int16.self) == [-300, 300])
        #expect(try c.tensors["mask"]!.toArray(Bool.self) == [true, false, true])
        #expect(c.tensors["empty"]!.shape == [0, 3])
    }

    @Test(arguments: [DType.float32, .float64, .float16, .bfloat16, .int64, .int32, .int16, .int8, .uint8, .bool])
    func roundTripsEveryDType(_ dtype: DType) throws {
        let values = try (Tensor.arange(0, 12, dtype: .int64) % 7).to(dtype).reshape([3, 4])
        let strided = try values.transpose(0, 1)  // not contiguous: must be written in row-major order
        let dir = try temporaryDirectory()
        let url = dir.appendingPathComponent("t.safetensors")
        try Safetensors.write([("a", values), ("b.t", strided)], metadata: ["k": "v \"quoted\"\n"], to: url)
        let back = try Safetensors.read(url)
        #expect(back.names == ["a", "b.t"])
        #expect(back.metadata == ["k": "v \"quoted\"\n"])
        #expect(back.tensors["a"]!.dtype == dtype)
        #expect(try back.tensors["a"]!.equal(values))
        #expect(try back.tensors["b.t"]!.equal(strided))
        #expect(back.tensors["b.t"]!.shape == [4, 3])
        // The header is padded so that the data starts 8-byte aligned.
        let bytes = try Data(contentsOf: url)
        let n = bytes.prefix(8).enumerated().reduce(0) { $0 | (Int($1.element) << (8 * $1.offset)) }
        #expect((8 + n) % 8 == 0)
    }

    @Test func writesWhatItReadsByteForByte() throws {
        let original = try Data(contentsOf: fixtures.appendingPathComponent("reference.safetensors"))
        let c = try Safetensors.decode(original)
        let again = try Safetensors.decode(try Safetensors.encode(c.names.map { ($0, c.tensors[$0]!) }, metadata: c.metadata))
        #expect(again.names == c.names)
        for name in c.names { #expect(try again.tensors[name]!.equal(c.tensors[name]!)) }
    }

    /// Builds a file from a header string and a data buffer.
    func file(_ header: String, data: [UInt8] = [], declaredSize: UInt64? = nil) -> Data {
        var d = Data()
        var n = (declaredSize ?? UInt64(header.utf8.count)).littleEndian
        withUnsafeBytes(of: &n) { d.append(contentsOf: $0) }
        d.append(contentsOf: Array(header.utf8))
        d.append(contentsOf: data)
        return d
    }

    @Test func rejectsCorruptFiles() throws {
        let ok = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        #expect(throws: Never.self) { try Safetensors.decode(file(ok, data: Array(repeating: 0, count: 8))) }
        let cases: [(String, Data, String)] = [
            ("empty file", Data(), "header size"),
            ("truncated size", Data([1, 0, 0]), "header size"),
            ("header past the end", file(ok, data: [], declaredSize: 500), "header size"),
            ("huge header", file(ok, declaredSize: 1 << 40), "header size"),
            ("not JSON", file("{not json}", data: []), "header"),
            ("not an object", file("[1,2]"), "header"),
            ("unknown dtype", file(#"{"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}"#, data: Array(repeating: 0, count: 16)), "a.dtype"),
            ("negative shape", file(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]), "a.shape"),
            ("span mismatch", file(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8)), "a.data_offsets"),
            ("truncated data", file(ok, data: [0, 0, 0, 0]), "a.data_offsets"),
            ("trailing bytes", file(ok, data: Array(repeating: 0, count: 12)), "data"),
            ("hole", file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: Array(repeating: 0, count: 8)), "a.data_offsets"),
            ("overlap", file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: Array(repeating: 0, count: 8)), "data_offsets"),
            ("missing field", file(#"{"a":{"dtype":"F32","shape":[2]}}"#, data: Array(repeating: 0, count: 8)), "a.data_offsets"),
            ("extra field", file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}"#, data: Array(repeating: 0, count: 8)), "a.x"),
            ("bad metadata", file(#"{"__metadata__":{"k":1}}"#), "__metadata__.k"),
            ("begin after end", file(#"{"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}"#, data: []), "a.data_offsets"),
        ]
        for (label, data, field) in cases {
            do {
                _ = try Safetensors.decode(data, source: "case.safetensors")
                Issue.record("\(label): accepted a corrupt file")
            } catch let TorchError.safetensors(path, f, message) {
                #expect(path == "case.safetensors", "\(label)")
                #expect(f.hasSuffix(field) || f == field, "\(label): field \(f), expected \(field) (\(message))")
                #expect(!message.isEmpty)
            } catch {
                Issue.record("\(label): unexpected error \(error)")
            }
        }
    }

    @Test func namesTheFileWhenItCannotBeRead() throws {
        let dir = try temporaryDirectory()
        #expect(throws: TorchError.safetensors(path: dir.path + "/missing.safetensors", field: "file", message: "no such file")) {
            try Safetensors.read(dir.appendingPathComponent("missing.safetensors"))
        }
        do {
            _ = try Safetensors.read(dir)
            Issue.record("read a directory")
        } catch let TorchError.safetensors(_, field, message) {
            #expect(field == "file" && message.contains("directory"))
        }
    }

    @Test func refusesWhatItCannotWrite() throws {
        let t = try Tensor.zeros([2])
        #expect(throws: TorchError.self) { try Safetensors.encode([("a", t), ("a", t)]) }
        #expect(throws: TorchError.self) { try Safetensors.encode([("__metadata__", t)]) }
        let c = try Tensor.complex(real: t, imag: t)
        #expect(throws: TorchError.self) { try Safetensors.encode([("c", c)]) }
    }

    @Test func writesAtomicallyAndLeavesNothingOnFailure() throws {
        let dir = try temporaryDirectory()
        let url = dir.appendingPathComponent("w.safetensors")
        try Safetensors.write(["x": try Tensor.ones([3])], to: url)
        // A failing write (a complex tensor) leaves the earlier file untouched and no temporary behind.
        let c = try Tensor.complex(real: Tensor.ones([1]), imag: Tensor.ones([1]))
        #expect(throws: TorchError.self) { try Safetensors.write(["x": c], to: url) }
        #expect(try Safetensors.read(url).tensors["x"]!.toArray(Float.self) == [1, 1, 1])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["w.safetensors"])
    }
}
