import Foundation
import Torch

/// A learned (or any) in-plane kernel applied to every slice normal to `direction`, then every
/// `kernel.factor`-th voxel kept in the plane (`upres simulate --kernel`). The through-plane axis
/// is left as it is.
///
/// Geometry: low-resolution voxel j along an in-plane axis sits where the kernel's mass is, at
/// high-resolution index offset + factor * j - centroid (the kernel's centre of mass, in voxels,
/// relative to its central entry; about 0 for a learned kernel under the centring loss), so the
/// new affine is the old one times that index map and anatomy keeps its world position.
public struct KernelDownsampling: Sendable, Equatable, Codable {
    public var kernel: DegradationKernel
    /// The slices the kernel acts in are normal to this direction.
    public var direction: SliceDirection
    /// The kernel file, and its SHA-256, when it came from one.
    public var source: String?
    public var sourceSHA256: String?

    public init(kernel: DegradationKernel, direction: SliceDirection = .plane(.axial), source: String? = nil, sourceSHA256: String? = nil) {
        self.kernel = kernel
        self.direction = direction
        self.source = source
        self.sourceSHA256 = sourceSHA256
    }

    /// Reads a kernel file (recording its path and SHA-256).
    public init(contentsOf url: URL, direction: SliceDirection = .plane(.axial)) throws {
        let k = try DegradationKernel(contentsOf: url)
        self.init(kernel: k, direction: direction, source: url.path, sourceSHA256: try Digest.sha256(file: url))
    }

    /// The in-plane voxel axes (ascending) for slices normal to `axis`.
    public static func inPlaneAxes(sliceAxis axis: Int) -> [Int] { (0..<3).filter { $0 != axis } }

    public func validate(for volume: Volume) throws {
        guard volume.shape.count == 3 else { throw DegradationError.invalid("kernel degradation needs a 3-D volume, got shape \(volume.shape)") }
        let a = direction.axis(in: volume)
        guard (0..<3).contains(a) else { throw DegradationError.invalid("slice axis \(a) is not 0, 1 or 2") }
        let h = (kernel.size - 1) / 2
        for p in Self.inPlaneAxes(sliceAxis: a) where volume.shape[p] <= h {
            throw DegradationError.invalid("in-plane axis \(p) has \(volume.shape[p]) voxels; a \(kernel.size)x\(kernel.size) kernel needs more than \(h)")
        }
    }

    /// The low-resolution grid: the voxel index map described above.
    public func grid(for volume: Volume) -> Grid {
        let a = direction.axis(in: volume), planes = Self.inPlaneAxes(sliceAxis: a)
        let centroid = kernel.centroidOffset
        var t = Affine.identity
        var shape = Array(volume.shape.prefix(3))
        for (i, p) in planes.enumerated() {
            let s = kernel.sampling(n: volume.shape[p])
            shape[p] = s.count
            t[p, p] = Double(kernel.factor)
            t[p, 3] = Double(s.offset) - centroid[i]
        }
        return Grid(shape: shape, affine: volume.affine * t)
    }

    public func apply(to volume: Volume) throws -> Volume {
        try validate(for: volume)
        let a = direction.axis(in: volume), planes = Self.inPlaneAxes(sliceAxis: a)
        let order = [a] + planes
        var inverse = [0, 0, 0]
        for (i, d) in order.enumerated() { inverse[d] = i }
        let slices = try volume.data.to(.float64).permute(order).unsqueeze(1).contiguous()
        let y = try kernel.apply(toImages: slices).squeeze(1).permute(inverse).contiguous()
        let g = grid(for: volume)
        precondition(y.shape == g.shape, "kernel degradation: shape \(y.shape) differs from its grid's \(g.shape)")
        return Volume(data: try y.to(.float32), affine: g.affine, metadata: volume.metadata)
    }
}
