import Torch

/// An anatomical viewing plane.
public enum Plane: String, Sendable, CaseIterable {
    case axial, coronal, sagittal

    /// The world axis normal to the plane: S (2) for axial, A (1) for coronal, R (0) for sagittal.
    public var worldAxis: Int {
        switch self {
        case .axial: 2
        case .coronal: 1
        case .sagittal: 0
        }
    }
}

extension Volume {
    /// The same voxels reordered by permutations and flips only so that the voxel axes run toward
    /// R, A and S (nibabel's `as_closest_canonical`). Every voxel keeps its world position; no value
    /// is interpolated. A volume already RAS comes back unchanged.
    public func canonical() throws -> Volume { try reoriented(to: "RAS") }

    /// Reorders and flips the voxel axes to the orientation code `code` (such as "LPI" or "RAS"),
    /// exactly, keeping every voxel's world position.
    public func reoriented(to code: String) throws -> Volume {
        let letters = Array(code.uppercased())
        let axisOf: [Character: (Int, Int)] = ["R": (0, 1), "L": (0, -1), "A": (1, 1), "P": (1, -1), "S": (2, 1), "I": (2, -1)]
        guard letters.count == 3, let target = Optional(letters.compactMap { axisOf[$0] }), target.count == 3,
              Set(target.map(\.0)).count == 3 else {
            throw ResamplingError.invalid("orientation '\(code)' is not a code of three letters from R/L, A/P, S/I on different axes")
        }
        let current = affine.axisOrientation
        // For each target axis, the source voxel axis along the same world axis, and whether to flip.
        var perm: [Int] = []
        var flips: [Int] = []
        for (t, (world, sign)) in target.enumerated() {
            guard let src = current.firstIndex(where: { $0.worldAxis == world }) else {
                throw ResamplingError.invalid("the affine has no voxel axis along world axis \(world)")
            }
            perm.append(src)
            if current[src].sign != sign { flips.append(t) }
        }
        if perm == [0, 1, 2] && flips.isEmpty { return self }
        let extra = Array(3..<data.rank)
        var d = try data.permute(perm + extra)
        if !flips.isEmpty { d = try d.flip(flips) }
        // New index n -> old index: old[perm[t]] = flipped ? N - 1 - n[t] : n[t].
        var m = Affine([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
        for (t, src) in perm.enumerated() {
            let flip = flips.contains(t)
            m[src, t] = flip ? -1 : 1
            m[src, 3] = flip ? Double(shape[src] - 1) : 0
        }
        return Volume(data: try d.contiguous(), affine: affine * m, metadata: metadata)
    }

    /// The voxel axis closest to the world axis normal to `plane`.
    public func axis(normalTo plane: Plane) -> Int {
        affine.axisOrientation.firstIndex { $0.worldAxis == plane.worldAxis } ?? 2
    }

    /// The voxel axes whose spacing is the volume's coarsest, within `tolerance` of it: one for a
    /// stack of thick slices (the slices lie across it), two for slices degraded in-plane (2 x 2 x
    /// 1 mm: the third axis runs across the slices), three for an isotropic grid.
    public func coarsestAxes(tolerance: Double = 0.02) -> [Int] {
        let s = spacing
        let top = s.prefix(3).max() ?? 0
        return (0..<Swift.min(3, s.count)).filter { Swift.abs(s[$0] - top) <= tolerance * top }
    }

    /// One 2-d slice: index `index` along voxel axis `axis` (a view of the data).
    public func slice(axis: Int, index: Int) throws -> Tensor {
        guard (0..<3).contains(axis), (0..<shape[axis]).contains(index) else {
            throw ResamplingError.invalid("slice \(index) along axis \(axis) is outside the volume \(shape)")
        }
        return try data.select(axis, index)
    }

    /// The voxel coordinates of many points at once: world (..., 3) -> voxel (..., 3).
    public func voxelCoordinates(ofWorld points: Tensor) throws -> Tensor {
        guard let inv = affine.inverse() else { throw ResamplingError.invalid("the affine is singular") }
        let r = try Tensor((0..<3).flatMap { i in (0..<3).map { inv[i, $0] } }, shape: [3, 3])
        return try points.to(.float64).matmul(r.transpose(0, 1)) + Tensor(inv.translation)
    }

    /// The world coordinates of many voxels at once: voxel (..., 3) -> world (..., 3).
    public func worldCoordinates(ofVoxel points: Tensor) throws -> Tensor {
        let r = try Tensor((0..<3).flatMap { i in (0..<3).map { affine[i, $0] } }, shape: [3, 3])
        return try points.to(.float64).matmul(r.transpose(0, 1)) + Tensor(affine.translation)
    }
}
