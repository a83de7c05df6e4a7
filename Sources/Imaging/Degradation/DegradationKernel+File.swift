import Foundation
import Torch

/// A kernel file that cannot be used, naming the file, the field and what was expected.
public struct KernelFileError: Error, LocalizedError, Equatable {
    public var path: String
    public var field: String
    public var problem: String
    public init(path: String, field: String, problem: String) {
        self.path = path
        self.field = field
        self.problem = problem
    }
    public var errorDescription: String? { "\(path): \(field): \(problem)" }
}

extension DegradationKernel {
    /// The `format` metadata value of upres kernel files.
    public static let fileFormat = "upres.degradation-kernel"
    public static let fileFormatVersion = 1
    /// The axis convention, written into every file.
    public static let convention = """
        in-plane point spread function on the high-resolution voxel grid; rows run along the lower-numbered \
        in-plane voxel axis, columns along the other; entry (r, c) weighs the voxel at offset (r - h, c - h), \
        h = (size - 1) / 2; y(p) = sum_d k(d) x(p - d) at p = offset + factor * j
        """

    /// Writes the kernel as safetensors: the tensor `kernel` (float64, size x size) and metadata
    /// `format`, `format_version`, `factor`, `size`, `convention`, `provenance` (JSON). Atomic;
    /// refuses to replace a file unless `overwrite`.
    public func write(to url: URL, overwrite: Bool = false) throws {
        if !overwrite && FileManager.default.fileExists(atPath: url.path) {
            throw KernelFileError(path: url.path, field: "file", problem: "already exists")
        }
        var metadata = [
            "format": Self.fileFormat, "format_version": "\(Self.fileFormatVersion)", "factor": "\(factor)",
            "size": "\(size)", "convention": Self.convention,
        ]
        if let provenance {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            metadata["provenance"] = String(decoding: try encoder.encode(provenance), as: UTF8.self)
        }
        let data = try Safetensors.encode([("kernel", tensor())], metadata: metadata)
        try data.write(to: url, options: .atomic)
    }

    /// Reads a kernel file written by `write(to:)`, checking every field.
    public init(contentsOf url: URL) throws {
        let path = url.path
        guard FileManager.default.fileExists(atPath: path) else {
            throw KernelFileError(path: path, field: "file", problem: "no such file")
        }
        let contents: Safetensors.Contents
        do { contents = try Safetensors.read(url) } catch {
            throw KernelFileError(path: path, field: "file", problem: "not a safetensors file (\(error.localizedDescription))")
        }
        let m = contents.metadata
        guard m["format"] == Self.fileFormat else {
            throw KernelFileError(path: path, field: "metadata.format",
                                  problem: "expected '\(Self.fileFormat)', found \(m["format"].map { "'\($0)'" } ?? "none"); is this a kernel from `upres degrade learn`?")
        }
        guard let v = m["format_version"].flatMap(Int.init), v == Self.fileFormatVersion else {
            throw KernelFileError(path: path, field: "metadata.format_version",
                                  problem: "expected \(Self.fileFormatVersion), found \(m["format_version"] ?? "none")")
        }
        guard let factor = m["factor"].flatMap(Int.init), factor >= 1 else {
            throw KernelFileError(path: path, field: "metadata.factor", problem: "expected an integer >= 1, found \(m["factor"] ?? "none")")
        }
        guard let size = m["size"].flatMap(Int.init), size >= 1, size % 2 == 1 else {
            throw KernelFileError(path: path, field: "metadata.size", problem: "expected an odd integer >= 1, found \(m["size"] ?? "none")")
        }
        guard let t = contents.tensors["kernel"] else {
            throw KernelFileError(path: path, field: "kernel", problem: "no tensor named 'kernel' (found \(contents.names.joined(separator: ", ")))")
        }
        guard t.shape == [size, size] else {
            throw KernelFileError(path: path, field: "kernel", problem: "shape \(t.shape), expected [\(size), \(size)] (metadata.size)")
        }
        let w = try t.to(.float64).contiguous().toArray(Double.self)
        guard w.allSatisfy(\.isFinite) else { throw KernelFileError(path: path, field: "kernel", problem: "holds NaN or infinite weights") }
        var provenance: KernelProvenance? = nil
        if let p = m["provenance"] {
            do { provenance = try JSONDecoder().decode(KernelProvenance.self, from: Data(p.utf8)) } catch {
                throw KernelFileError(path: path, field: "metadata.provenance", problem: "not valid provenance JSON (\(error))")
            }
        }
        try self.init(weights: w, size: size, factor: factor, provenance: provenance)
    }
}
