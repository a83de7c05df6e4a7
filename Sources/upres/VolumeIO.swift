import ArgumentParser
import Imaging
import Torch

import Foundation

/// Reading and writing volumes for the commands: warnings go to stderr, once, naming the file.
enum VolumeIO {
    /// A NIfTI file, or a DICOM series folder (its only series).
    static func read(_ path: String, options: NIfTIReadOptions = NIfTIReadOptions()) throws -> (volume: Volume, dicom: DICOM.Info?) {
        let url = URL(fileURLWithPath: path)
        if DICOM.isFolder(url) {
            do {
                let (volume, info) = try DICOM.read(url)
                return (volume, info)
            } catch let e as DICOM.Failure { throw CLIError(e.message) }
        }
        let image = try NIfTI.read(url, options: options)
        for w in image.warnings { Console.warn("\(path): \(w)") }
        var volume = image.volume
        // A BIDS/dcm2niix sidecar states the acquired slice thickness, which NIfTI cannot.
        if let data = FileManager.default.contents(atPath: Sidecar.path(for: path)),
           let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let t = json["SliceThickness"] as? Double, t > 0, t.isFinite {
            volume.metadata.sliceThickness = t
        }
        return (volume, nil)
    }

    /// The path without its .nii or .nii.gz extension (where the tool puts a file's companions).
    static func stem(_ path: String) -> String {
        for ext in [".nii.gz", ".nii"] where path.hasSuffix(ext) { return String(path.dropLast(ext.count)) }
        return path
    }

    /// Refuses before any work when the output exists (without --force) or its folder is missing.
    static func checkOutput(_ path: String, force: Bool) throws {
        let url = URL(fileURLWithPath: path)
        if !force && FileManager.default.fileExists(atPath: path) {
            throw CLIError("\(path) already exists; pass --force to overwrite it")
        }
        let dir = url.deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: dir.isEmpty ? "." : dir) else {
            throw CLIError("\(path): the folder \(dir) does not exist")
        }
    }

    /// A volume of real scalars (not colour, not complex), else a clear error.
    static func requireScalar(_ v: Volume, _ path: String) throws {
        guard v.data.dtype.isFloatingPoint || v.data.dtype.isInteger, !(v.metadata.sourceDType ?? "").hasPrefix("rgb") else {
            throw CLIError("\(path): \(v.metadata.sourceDType ?? "\(v.data.dtype)") voxels are not real scalars; this command needs intensities")
        }
    }
}

/// A failure at run time (not a misuse of the flags): one line, exit code 1, no usage text.
struct CLIError: Error, LocalizedError {
    let message: String
    init(_ message: String) { self.message = message }
    var errorDescription: String? { message }
}

/// Progress and warnings on stderr, results on stdout.
enum Console {
    static func warn(_ message: String) { err("warning: \(message)") }

    static func err(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}

extension NIfTIDataType: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public static var allValueStrings: [String] {
        allCases.filter { $0.isRealScalar && $0.isSupported }.map(\.description)
    }
}

extension Interpolation: ExpressibleByArgument {}
extension Plane: ExpressibleByArgument {}
extension NonFinitePolicy: ExpressibleByArgument {}

/// JSON text for the commands' `--json` output: strings escaped by Foundation's encoder,
/// non-finite numbers as null.
enum JSONText {
    static func string(_ s: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return (try? encoder.encode(s)).flatMap { String(data: $0, encoding: .utf8) } ?? "\"\""
    }

    static func number(_ x: Double) -> String { x.isFinite ? "\(x)" : "null" }
}
