#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Reading and writing the safetensors format (huggingface/safetensors), written from its
/// specification:
///
///     [8 bytes: N, little-endian u64] [N bytes: UTF-8 JSON header] [byte buffer]
///
/// The header maps each tensor name to `{"dtype": "F32", "shape": [...], "data_offsets": [b, e]}`
/// (offsets into the buffer) and may hold `"__metadata__": {string: string}`. Data is little-endian,
/// row-major. The reader is strict: it rejects a header that is too large, not JSON, with unknown
/// dtypes, negative or inconsistent shapes, offsets that overlap, leave holes, or run past the
/// end, and a buffer with bytes no tensor owns.
public enum Safetensors {
    /// The largest header accepted (the reference implementation's limit).
    public static let maxHeaderSize = 100_000_000

    /// The contents of a safetensors file.
    public struct Contents: @unchecked Sendable {
        /// Tensor names in the order of their data in the file.
        public var names: [String]
        public var tensors: [String: Tensor]
        public var metadata: [String: String]
    }

    // MARK: dtypes

    static func code(for dtype: DType) -> String? {
        switch dtype {
        case .float32: "F32"
        case .float64: "F64"
        case .float16: "F16"
        case .bfloat16: "BF16"
        case .int64: "I64"
        case .int32: "I32"
        case .int16: "I16"
        case .int8: "I8"
        case .uint8: "U8"
        case .bool: "BOOL"
        case .complex64, .complex128: nil
        }
    }

    static func dtype(for code: String) -> DType? {
        switch code {
        case "F32": .float32
        case "F64": .float64
        case "F16": .float16
        case "BF16": .bfloat16
        case "I64": .int64
        case "I32": .int32
        case "I16": .int16
        case "I8": .int8
        case "U8": .uint8
        case "BOOL": .bool
        default: nil
        }
    }

    // MARK: reading

    /// Reads a safetensors file.
    /// - Throws: `TorchError.safetensors` naming the file and the field at fault.
    public static func read(_ url: URL) throws -> Contents {
        let path = url.path
        guard FileManager.default.fileExists(atPath: path) else {
            throw TorchError.safetensors(path: path, field: "file", message: "no such file")
        }
        let type = (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType
        guard type != .typeDirectory else {
            throw TorchError.safetensors(path: path, field: "file", message: "is a directory, expected a .safetensors file")
        }
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw TorchError.safetensors(path: path, field: "file", message: "cannot be read (\(error))")
        }
        return try decode(data, source: path)
    }

    private struct Entry: Decodable {
        let dtype: String
        let shape: [Int]
        let data_offsets: [Int]
    }

    /// Decodes the bytes of a safetensors file; `source` names it in errors.
    public static func decode(_ data: Data, source: String = "<memory>") throws -> Contents {
        func fail(_ field: String, _ message: String) -> TorchError {
            .safetensors(path: source, field: field, message: message)
        }
        guard data.count >= 8 else {
            throw fail("header size", "the file has \(data.count) bytes; at least 8 are needed for the header size")
        }
        let headerSize64: UInt64 = data.withUnsafeBytes { raw in
            var v: UInt64 = 0
            for i in (0..<8).reversed() { v = (v << 8) | UInt64(raw[i]) }
            return v
        }
        guard headerSize64 <= UInt64(maxHeaderSize) else {
            throw fail("header size", "\(headerSize64) bytes exceeds the limit of \(maxHeaderSize)")
        }
        let headerSize = Int(headerSize64)
        guard headerSize >= 2 else { throw fail("header size", "\(headerSize) bytes is too small for a JSON object") }
        guard 8 + headerSize <= data.count else {
            throw fail("header size", "declares \(headerSize) bytes but only \(data.count - 8) follow (truncated file?)")
        }
        let headerBytes = data.subdata(in: 8..<(8 + headerSize))
        guard headerBytes.first == UInt8(ascii: "{") else {
            throw fail("header", "does not start with '{'")
        }
        guard String(data: headerBytes, encoding: .utf8) != nil else {
            throw fail("header", "is not valid UTF-8")
        }
        let object: [String: JSONValue]
        do {
            object = try JSONDecoder().decode([String: JSONValue].self, from: headerBytes)
        } catch {
            throw fail("header", "is not a valid JSON object (\(error))")
        }

        var metadata: [String: String] = [:]
        var entries: [(name: String, entry: Entry)] = []
        for (name, value) in object {
            if name == "__metadata__" {
                guard case .object(let fields) = value else { throw fail("__metadata__", "must be an object of strings") }
                for (k, v) in fields {
                    guard case .string(let s) = v else { throw fail("__metadata__.\(k)", "must be a string") }
                    metadata[k] = s
                }
                continue
            }
            guard case .object(let fields) = value else { throw fail(name, "must be an object") }
            let allowed: Set<String> = ["dtype", "shape", "data_offsets"]
            if let extra = fields.keys.first(where: { !allowed.contains($0) }) {
                throw fail("\(name).\(extra)", "unknown field; expected dtype, shape and data_offsets")
            }
            guard case .string(let dtype)? = fields["dtype"] else { throw fail("\(name).dtype", "missing or not a string") }
            guard case .array(let shapeValues)? = fields["shape"] else {
                throw fail("\(name).shape", "missing or not an array")
            }
            guard case .array(let offsetValues)? = fields["data_offsets"] else {
                throw fail("\(name).data_offsets", "missing or not an array")
            }
            let shape = try shapeValues.map { v -> Int in
                guard case .integer(let i) = v, i >= 0 else {
                    throw fail("\(name).shape", "entries must be non-negative integers, got \(v)")
                }
                return i
            }
            let offsets = try offsetValues.map { v -> Int in
                guard case .integer(let i) = v, i >= 0 else {
                    throw fail("\(name).data_offsets", "entries must be non-negative integers, got \(v)")
                }
                return i
            }
            entries.append((name, Entry(dtype: dtype, shape: shape, data_offsets: offsets)))
        }

        let buffer = data.count - 8 - headerSize
        // Validate each entry, then that the entries tile the buffer exactly.
        var spans: [(begin: Int, end: Int, name: String)] = []
        for (name, e) in entries {
            guard let dt = dtype(for: e.dtype) else {
                throw fail("\(name).dtype", "'\(e.dtype)' is not supported; expected one of F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL")
            }
            guard e.data_offsets.count == 2 else {
                throw fail("\(name).data_offsets", "has \(e.data_offsets.count) entries, expected [begin, end]")
            }
            let (b, en) = (e.data_offsets[0], e.data_offsets[1])
            guard b <= en else { throw fail("\(name).data_offsets", "begin \(b) is after end \(en)") }
            guard en <= buffer else {
                throw fail("\(name).data_offsets", "end \(en) runs past the data buffer (\(buffer) bytes)")
            }
            var elements = 1
            for s in e.shape {
                let (p, overflow) = elements.multipliedReportingOverflow(by: s)
                guard !overflow else { throw fail("\(name).shape", "\(e.shape) overflows") }
                elements = p
            }
            let (bytes, overflow) = elements.multipliedReportingOverflow(by: dt.byteSize)
            guard !overflow, bytes == en - b else {
                throw fail("\(name).data_offsets",
                           "span of \(en - b) bytes does not match shape \(e.shape) of \(e.dtype) (\(bytes) bytes)")
            }
            spans.append((b, en, name))
        }
        spans.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var cursor = 0
        for s in spans {
            guard s.begin == cursor else {
                throw fail("\(s.name).data_offsets",
                           s.begin < cursor ? "overlaps the previous tensor (begins at \(s.begin), previous ends at \(cursor))"
                                            : "leaves a hole: begins at \(s.begin), previous data ends at \(cursor)")
            }
            cursor = s.end
        }
        guard cursor == buffer else {
            throw fail("data", "the buffer has \(buffer) bytes but the tensors cover \(cursor)")
        }

        var tensors: [String: Tensor] = [:]
        let dataStart = 8 + headerSize
        try data.withUnsafeBytes { raw in
            for (name, e) in entries {
                let dt = dtype(for: e.dtype)!
                let b = dataStart + e.data_offsets[0], en = dataStart + e.data_offsets[1]
                let slice = UnsafeRawBufferPointer(rebasing: raw[b..<en])
                tensors[name] = try Tensor(copying: slice, shape: e.shape, dtype: dt)
            }
        }
        return Contents(names: spans.map(\.name), tensors: tensors, metadata: metadata)
    }

    // MARK: writing

    /// Encodes named tensors (in the given order) with optional metadata.
    public static func encode(_ tensors: [(String, Tensor)], metadata: [String: String] = [:]) throws -> Data {
        var seen = Set<String>()
        var header = "{"
        var parts: [String] = []
        if !metadata.isEmpty {
            let fields = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            parts.append("\"__metadata__\":{\(fields.joined(separator: ","))}")
        }
        var blobs: [Tensor] = []
        var offset = 0
        for (name, tensor) in tensors {
            guard name != "__metadata__" else {
                throw TorchError.invalidArgument(operation: "safetensors", message: "'__metadata__' cannot name a tensor")
            }
            guard seen.insert(name).inserted else {
                throw TorchError.invalidArgument(operation: "safetensors", message: "tensor name '\(name)' appears twice")
            }
            guard let code = code(for: tensor.dtype) else {
                throw TorchError.invalidArgument(
                    operation: "safetensors", message: "tensor '\(name)' has dtype \(tensor.dtype), which safetensors cannot hold")
            }
            let cpu = try tensor.detach().to(.cpu).contiguous()
            let bytes = cpu.count * cpu.dtype.byteSize
            parts.append(
                "\(jsonString(name)):{\"dtype\":\"\(code)\",\"shape\":[\(cpu.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
            blobs.append(cpu)
        }
        header += parts.joined(separator: ",") + "}"
        // Pad the header with spaces so the data starts 8-byte aligned, as the reference writer does.
        var headerData = Data(header.utf8)
        while (8 + headerData.count) % 8 != 0 { headerData.append(UInt8(ascii: " ")) }

        var out = Data(capacity: 8 + headerData.count + offset)
        var n = UInt64(headerData.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(headerData)
        for t in blobs {
            try t.withUnsafeBytes { out.append(contentsOf: $0) }
        }
        return out
    }

    /// Writes named tensors to `url` atomically (a temporary file in the same folder, then a rename).
    public static func write(_ tensors: [(String, Tensor)], metadata: [String: String] = [:], to url: URL) throws {
        let data = try encode(tensors, metadata: metadata)
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw TorchError.safetensors(path: url.path, field: "file", message: "cannot be written (\(error))")
        }
    }

    /// Writes a dictionary of tensors, sorted by name.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to url: URL) throws {
        try write(tensors.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, metadata: metadata, to: url)
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// A parsed JSON value, enough to check a safetensors header field by field.
enum JSONValue: Decodable, CustomStringConvertible {
    case object([String: JSONValue])
    case array([JSONValue])
    case string(String)
    case integer(Int)
    case number(Double)
    case bool(Bool)
    case null

    init(from decoder: Decoder) throws {
        if let keyed = try? decoder.container(keyedBy: AnyKey.self) {
            var o: [String: JSONValue] = [:]
            for k in keyed.allKeys { o[k.stringValue] = try keyed.decode(JSONValue.self, forKey: k) }
            self = .object(o)
            return
        }
        if var list = try? decoder.unkeyedContainer() {
            var a: [JSONValue] = []
            while !list.isAtEnd { a.append(try list.decode(JSONValue.self)) }
            self = .array(a)
            return
        }
        let single = try decoder.singleValueContainer()
        if single.decodeNil() { self = .null; return }
        if let b = try? single.decode(Bool.self) { self = .bool(b); return }
        if let i = try? single.decode(Int.self) { self = .integer(i); return }
        if let d = try? single.decode(Double.self) { self = .number(d); return }
        self = .string(try single.decode(String.self))
    }

    var description: String {
        switch self {
        case .object: "an object"
        case .array: "an array"
        case .string(let s): "\"\(s)\""
        case .integer(let i): "\(i)"
        case .number(let d): "\(d)"
        case .bool(let b): "\(b)"
        case .null: "null"
        }
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
