import CITK
import Foundation
import Torch

/// Failures of the ITK layer: ITK's own message, with what upres was doing.
public struct ITKError: Error, LocalizedError, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var errorDescription: String? { message }
}

/// Volumes to and from ITK images: voxels reordered to ITK's memory order (first axis fastest)
/// and the NIfTI affine (RAS) turned into ITK's geometry (LPS: origin, spacing, direction).
enum ITKBridge {
    /// ITK's version (the one CITK was built against).
    static var version: String { String(cString: citk_version()) }

    static func call(_ what: String, _ body: () -> Int32) throws {
        if body() != 0 { throw ITKError("\(what): \(String(cString: citk_last_error()))") }
    }

    /// The voxels as float32 in ITK's order (x fastest).
    static func buffer(_ v: Volume) throws -> [Float] {
        guard v.shape.count == 3 else { throw ITKError("expected a 3-D volume, got shape \(v.shape)") }
        return try v.data.to(.float32).permute([2, 1, 0]).contiguous().toArray(Float.self)
    }

    static func maskBuffer(_ v: Volume) throws -> [UInt8] {
        guard v.shape.count == 3 else { throw ITKError("expected a 3-D mask, got shape \(v.shape)") }
        return try v.data.ne(.double(0)).to(.uint8).permute([2, 1, 0]).contiguous().toArray(UInt8.self)
    }

    /// A volume from ITK-ordered voxels of `shape` (x, y, z).
    static func volume(_ values: [Float], geometry g: citk_geometry, metadata: VolumeMetadata = VolumeMetadata()) throws -> Volume {
        let s = [Int(g.size.0), Int(g.size.1), Int(g.size.2)]
        let data = try Tensor(values, shape: [s[2], s[1], s[0]]).permute([2, 1, 0]).contiguous()
        return Volume(data: data, affine: affine(g), metadata: metadata)
    }

    /// RAS affine -> LPS geometry.
    static func geometry(_ v: Volume) throws -> citk_geometry {
        var g = citk_geometry()
        let a = v.affine
        var size = [Int64](repeating: 1, count: 3), spacing = [Double](repeating: 1, count: 3)
        var origin = [Double](repeating: 0, count: 3), direction = [Double](repeating: 0, count: 9)
        let flip = [-1.0, -1, 1]
        for c in 0..<3 {
            size[c] = Int64(v.shape[c])
            let column = (0..<3).map { flip[$0] * a[$0, c] }
            let norm = (column.map { $0 * $0 }.reduce(0, +)).squareRoot()
            guard norm > 0 else { throw ITKError("the affine's column \(c) is zero: no geometry") }
            spacing[c] = norm
            for r in 0..<3 { direction[r * 3 + c] = column[r] / norm }
        }
        for r in 0..<3 { origin[r] = flip[r] * a[r, 3] }
        g.size = (size[0], size[1], size[2])
        g.spacing = (spacing[0], spacing[1], spacing[2])
        g.origin = (origin[0], origin[1], origin[2])
        let d = direction
        g.direction = (d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8])
        return g
    }

    /// LPS geometry -> RAS affine.
    static func affine(_ g: citk_geometry) -> Affine {
        let spacing = withUnsafeBytes(of: g.spacing) { Array($0.bindMemory(to: Double.self)) }
        let origin = withUnsafeBytes(of: g.origin) { Array($0.bindMemory(to: Double.self)) }
        let direction = withUnsafeBytes(of: g.direction) { Array($0.bindMemory(to: Double.self)) }
        let flip = [-1.0, -1, 1]
        var rows: [[Double]] = []
        for r in 0..<3 {
            rows.append((0..<3).map { c in flip[r] * direction[r * 3 + c] * spacing[c] } + [flip[r] * origin[r]])
        }
        rows.append([0, 0, 0, 1])
        return Affine(rows: rows)
    }

    /// A point transform between LPS and RAS spaces (conjugation by diag(-1, -1, 1)).
    static func lpsToRAS(_ m: [Double]) -> Affine {
        let flip = [-1.0, -1, 1, 1]
        return Affine((0..<16).map { flip[$0 / 4] * m[$0] * flip[$0 % 4] })
    }
}

/// The ITK library upres uses (through CITK).
public enum ITK {
    /// Its version, e.g. "5.2.1".
    public static var version: String { ITKBridge.version }
}
