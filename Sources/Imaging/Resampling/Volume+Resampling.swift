import Torch

/// A voxel grid in world space: a shape and its voxel-to-world affine.
public struct Grid: Sendable, Equatable {
    public var shape: [Int]
    public var affine: Affine

    public init(shape: [Int], affine: Affine) {
        self.shape = shape
        self.affine = affine
    }
}

extension Volume {
    /// The grid of this volume.
    public var grid: Grid { Grid(shape: Array(shape.prefix(3)), affine: affine) }

    /// A grid over the same field of view with voxels of `spacing` mm: the new voxel centres are
    /// laid symmetrically about the centre of the old field of view (scikit-image's `resize`
    /// convention), so the volumes overlay in world space.
    public func grid(spacing: [Double]) throws -> Grid {
        let spacing = spacing.count == 1 ? Array(repeating: spacing[0], count: 3) : spacing
        guard spacing.count == 3, spacing.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw ResamplingError.invalid("spacing \(spacing) must be 1 or 3 positive sizes in mm")
        }
        let old = self.spacing
        let n = Array(shape.prefix(3))
        let m = (0..<3).map { Swift.max(1, Int((Double(n[$0]) * old[$0] / spacing[$0]).rounded())) }
        return fieldOfViewGrid(newShape: m, factors: (0..<3).map { spacing[$0] / old[$0] })
    }

    /// A grid over the same field of view with `shape` voxels.
    public func grid(shape newShape: [Int]) throws -> Grid {
        guard newShape.count == 3, newShape.allSatisfy({ $0 > 0 }) else {
            throw ResamplingError.invalid("shape \(newShape) must be 3 positive sizes")
        }
        let n = Array(shape.prefix(3))
        return fieldOfViewGrid(newShape: newShape, factors: (0..<3).map { Double(n[$0]) / Double(newShape[$0]) })
    }

    func fieldOfViewGrid(newShape m: [Int], factors r: [Double]) -> Grid {
        let n = Array(shape.prefix(3))
        // Target index j -> source index (n - 1)/2 + (j - (m - 1)/2) r.
        var t = Affine.identity
        for a in 0..<3 {
            t[a, a] = r[a]
            t[a, 3] = Double(n[a] - 1) / 2 - Double(m[a] - 1) / 2 * r[a]
        }
        return Grid(shape: m, affine: affine * t)
    }

    /// Resamples onto voxels of `spacing` mm over the same field of view.
    public func resampled(toSpacing spacing: [Double], interpolation: Interpolation = .linear, antiAlias: Bool = true) throws -> Volume {
        try resampled(onto: grid(spacing: spacing), interpolation: interpolation, antiAlias: antiAlias)
    }

    /// Resamples onto `shape` voxels over the same field of view.
    public func resampled(toShape shape: [Int], interpolation: Interpolation = .linear, antiAlias: Bool = true) throws -> Volume {
        try resampled(onto: grid(shape: shape), interpolation: interpolation, antiAlias: antiAlias)
    }

    /// Resamples onto another volume's grid, through world coordinates.
    public func resampled(like reference: Volume, interpolation: Interpolation = .linear, antiAlias: Bool = true) throws -> Volume {
        try resampled(onto: reference.grid, interpolation: interpolation, antiAlias: antiAlias)
    }

    /// Resamples onto any grid: each target voxel takes the value at its world position.
    ///
    /// When the grids are axis-aligned (only scaling, flips, permutations and shifts between them)
    /// each axis is one matrix product (see `AxisOperator`); otherwise the source coordinates of all
    /// target voxels are computed with one affine product and sampled (`gridSample` for nearest and
    /// linear, eight trilinear fetches of the B-spline coefficients for cubic, gathers for sinc).
    /// Leading axes beyond the third (4-D) are resampled alike. Anti-aliasing blurs an axis before
    /// it is downsampled (sigma = (factor - 1) / 2 source voxels); it does not apply to nearest.
    /// `diskOrder`: an axis-aligned result is laid out with its first axis fastest (NIfTI's order,
    /// a permuted view), so that writing a large result makes no transposed copy of it.
    public func resampled(onto target: Grid, interpolation: Interpolation = .linear, antiAlias: Bool = true,
                          diskOrder: Bool = false) throws -> Volume {
        guard shape.count >= 3 else { throw ResamplingError.invalid("resampling needs a 3-D (or 4-D) volume, got shape \(shape)") }
        guard data.dtype.isFloatingPoint || data.dtype.isInteger || data.dtype == .bool else {
            throw ResamplingError.invalid("cannot resample \(data.dtype) voxels (complex or colour); convert to real scalars first")
        }
        guard let inverse = affine.inverse() else { throw ResamplingError.invalid("the source affine is singular") }
        let m = inverse * target.affine  // target index -> source index
        let sourceType = data.dtype
        var out: Tensor
        if let axes = Self.axisAlignment(m) {
            // Computed in float64, stored as the result type straight away (float32 unless the
            // source is float64, or integer labels resampled by nearest neighbour).
            let keep64 = sourceType == .float64 || (interpolation == .nearest && !sourceType.isFloatingPoint)
            out = try separable(m, axes: axes, target: target.shape, interpolation: interpolation, antiAlias: antiAlias,
                                result: keep64 ? .float64 : .float32, diskOrder: diskOrder)
        } else {
            out = try general(m, target: target.shape, interpolation: interpolation, antiAlias: antiAlias)
        }
        // Nearest keeps the type of labels and masks; other methods give floating point.
        if interpolation == .nearest && !sourceType.isFloatingPoint { out = try out.round().to(sourceType) }
        else if sourceType.isFloatingPoint { out = try out.to(sourceType) }
        else { out = try out.to(.float32) }
        return Volume(data: out, affine: target.affine, metadata: metadata)
    }

    /// For an axis-aligned transform, the source axis of each target axis.
    static func axisAlignment(_ m: Affine) -> [Int]? {
        var axes: [Int] = []
        for c in 0..<3 {
            let col = (0..<3).map { Swift.abs(m[$0, c]) }
            let big = col.max() ?? 0
            guard big > 0 else { return nil }
            let nonzero = (0..<3).filter { col[$0] > 1e-9 * big }
            guard nonzero.count == 1 else { return nil }
            axes.append(nonzero[0])
        }
        return Set(axes).count == 3 ? axes : nil
    }

    /// The axis-aligned case: one 1-D operator per axis that moves. The last one runs slab by slab
    /// (`slabElements` float64 values at a time, 64 MB) into the result, so that a large upsampled
    /// volume exists once, in `result`'s type, rather than as a float64 volume and its copies.
    func separable(_ m: Affine, axes: [Int], target: [Int], interpolation: Interpolation, antiAlias: Bool,
                   result: DType, slabElements: Int = 8 << 20, diskOrder: Bool = false) throws -> Tensor {
        let extra = Array(3..<data.rank)
        var x = try data.to(.float64).permute(axes + extra)
        var passes: [(axis: Int, op: Tensor)] = []
        for c in 0..<3 {
            let r = axes[c]
            let n = shape[r]
            let scale = m[r, c], offset = m[r, 3]
            let positions = (0..<target[c]).map { scale * Double($0) + offset }
            if target[c] == n && positions.enumerated().allSatisfy({ Swift.abs($0.element - Double($0.offset)) < 1e-9 }) {
                continue
            }
            let factor = Swift.abs(scale)
            let sigma = antiAlias && factor > 1 + 1e-9 ? (factor - 1) / 2 : 0
            passes.append((c, try AxisOperator.matrix(positions: positions, n: n, method: interpolation, antiAliasSigma: sigma)))
        }
        // Apply along axis c: move it last, multiply by the operator's transpose, move it back.
        func apply(_ x: Tensor, _ c: Int, _ op: Tensor) throws -> Tensor {
            try x.transpose(c, x.rank - 1).matmul(op.transpose(0, 1)).transpose(c, x.rank - 1)
        }
        guard let last = passes.popLast() else { return try x.to(result).contiguous() }
        for (c, op) in passes { x = try apply(x, c, op) }
        var shape = x.shape
        shape[last.axis] = last.op.shape[0]
        let reversed = Array((0..<shape.count).reversed())
        let out = diskOrder ? try Tensor.empty(shape.reversed(), dtype: result).permute(reversed) : try Tensor.empty(shape, dtype: result)
        let slabAxis = last.axis == 0 ? 1 : 0
        let perSlab = shape.reduce(1, *) / shape[slabAxis]
        let step = Swift.max(1, slabElements / Swift.max(perSlab, 1))
        for start in Swift.stride(from: 0, to: shape[slabAxis], by: step) {
            let n = Swift.min(step, shape[slabAxis] - start)
            _ = try out.narrow(slabAxis, start: start, length: n).copy_(apply(x.narrow(slabAxis, start: start, length: n), last.axis, last.op))
        }
        return out
    }

    func general(_ m: Affine, target: [Int], interpolation: Interpolation, antiAlias: Bool) throws -> Tensor {
        let n = Array(shape.prefix(3))
        var source = try data.to(.float64)
        // Anti-aliasing: blur each source axis by how far the target steps along it.
        if antiAlias && interpolation != .nearest {
            for a in 0..<3 {
                let step = (0..<3).map { m[a, $0] * m[a, $0] }.reduce(0, +).squareRoot()
                if step > 1 + 1e-9 {
                    let g = try Tensor(AxisOperator.gaussian(n: n[a], sigma: (step - 1) / 2), shape: [n[a], n[a]])
                    source = try source.transpose(a, source.rank - 1).matmul(g.transpose(0, 1)).transpose(a, source.rank - 1)
                }
            }
        }
        let vol = try Self.prepared(source, n: n, interpolation: interpolation)
        let extraShape = Array(shape.dropFirst(3))
        // Source coordinates of target slabs along the first target axis (bounded memory).
        let slab = Swift.max(1, 4_000_000 / Swift.max(target[1] * target[2], 1))
        var pieces: [Tensor] = []
        var start = 0
        let mt = try Tensor([m[0, 0], m[0, 1], m[0, 2], m[1, 0], m[1, 1], m[1, 2], m[2, 0], m[2, 1], m[2, 2]], shape: [3, 3])
        let offset = try Tensor([m[0, 3], m[1, 3], m[2, 3]])
        while start < target[0] {
            let len = Swift.min(slab, target[0] - start)
            let idx = try Tensor.meshgrid([
                Tensor.arange(.int(Int64(start)), .int(Int64(start + len)), dtype: .float64),
                Tensor.arange(0, .int(Int64(target[1])), dtype: .float64),
                Tensor.arange(0, .int(Int64(target[2])), dtype: .float64),
            ])
            let coords = try Tensor.stack(idx, dim: -1).matmul(mt.transpose(0, 1)) + offset  // len, Y, Z, 3 (i, j, k)
            pieces.append(try Self.sampleAt(vol, coords: coords, n: n, interpolation: interpolation))
            start += len
        }
        let sampled = try Tensor.cat(pieces, dim: 1)  // C, X', Y', Z'
        return try sampled.permute([1, 2, 3, 0]).reshape(target + extraShape)
    }

    /// The values at voxel coordinates `coords` (..., 3) of (i, j, k), fractional: the result has the
    /// shape of `coords` without its last axis, followed by any axes beyond the third. Zero farther
    /// than half a voxel outside the grid (see `AxisOperator` for the boundary rules).
    public func sample(atVoxel coords: Tensor, interpolation: Interpolation = .linear) throws -> Tensor {
        guard shape.count >= 3, coords.shape.last == 3 else {
            throw ResamplingError.invalid("sampling needs a 3-D volume and coordinates shaped (..., 3); got \(shape) and \(coords.shape)")
        }
        let n = Array(shape.prefix(3))
        let vol = try Self.prepared(data.to(.float64), n: n, interpolation: interpolation)
        let values = try Self.sampleAt(vol, coords: coords.to(.float64), n: n, interpolation: interpolation)
        let extra = Array(shape.dropFirst(3))
        let spatial = Array(coords.shape.dropLast())
        return try values.reshape([-1, spatial.reduce(1, *)]).transpose(0, 1).reshape(spatial + extra)
    }

    /// The values at world positions (mm), shaped like `sample(atVoxel:)`.
    public func sample(atWorld points: Tensor, interpolation: Interpolation = .linear) throws -> Tensor {
        guard let inv = affine.inverse() else { throw ResamplingError.invalid("the affine is singular") }
        let r = try Tensor((0..<3).flatMap { i in (0..<3).map { inv[i, $0] } }, shape: [3, 3])
        let t = try Tensor(inv.translation)
        return try sample(atVoxel: points.to(.float64).matmul(r.transpose(0, 1)) + t, interpolation: interpolation)
    }

    /// The source as (1, C, X, Y, Z) float64, B-spline coefficients for cubic.
    static func prepared(_ source: Tensor, n: [Int], interpolation: Interpolation) throws -> Tensor {
        var s = source
        if interpolation == .cubic {
            for a in 0..<3 {
                let p = try AxisOperator.bsplinePrefilter(n: n[a])
                s = try s.transpose(a, s.rank - 1).matmul(p.transpose(0, 1)).transpose(a, s.rank - 1)
            }
        }
        let channels = Array(s.shape.dropFirst(3)).reduce(1, *)
        return try s.reshape(n + [channels]).permute([3, 0, 1, 2]).unsqueeze(0).contiguous()
    }

    /// Values of a (1, C, X, Y, Z) volume at source coordinates (..., 3); zero farther than half a
    /// voxel outside the grid.
    static func sampleAt(_ vol: Tensor, coords: Tensor, n: [Int], interpolation: Interpolation) throws -> Tensor {
        let spatial = Array(coords.shape.dropLast())
        let c = try coords.reshape([-1, 3])
        var inside = try Tensor.ones([c.size(0)], dtype: .bool)
        for a in 0..<3 {
            let p = try c.select(1, a)
            let lo = Scalar(-0.5 - 1e-9), hi = Scalar(Double(n[a]) - 0.5 + 1e-9)
            inside = try inside.logicalAnd(p.ge(lo)).logicalAnd(p.le(hi))
        }
        func normalized(_ p: Tensor, _ a: Int) throws -> Tensor {
            guard n[a] > 1 else { return try p * 0 }
            let scale = Scalar(2.0 / Double(n[a] - 1))
            return try p * scale - 1
        }
        /// Trilinear (or nearest) fetch at source coordinates, mirrored at the edges.
        func fetch(_ pts: Tensor, mode: GridSampleMode) throws -> Tensor {
            let g = try Tensor.stack([normalized(pts.select(1, 2), 2), normalized(pts.select(1, 1), 1), normalized(pts.select(1, 0), 0)], dim: -1)
            let grid = try g.reshape([1, 1, 1, -1, 3])
            return try vol.gridSample(grid, mode: mode, paddingMode: .reflection, alignCorners: true).reshape([vol.size(1), -1])
        }
        var values: Tensor
        switch interpolation {
        case .nearest:
            // floor(x + 0.5), as the matrix path (gridSample alone rounds halves to even).
            values = try fetch((c + 0.5).floor(), mode: .nearest)
        case .linear:
            values = try fetch(c, mode: .bilinear)
        case .cubic:
            // Cubic B-spline as 8 trilinear fetches (Sigg and Hadwiger 2005).
            let f = try c.floor(), t = try c - f
            let omt = try 1 - t
            let twoThirds = Scalar(2.0 / 3)
            let w0 = try omt.pow(3) / 6
            let w1 = try t.pow(3) / 2 - t.square() + twoThirds
            let w2 = try omt.pow(3) / 2 - omt.square() + twoThirds
            let w3 = try t.pow(3) / 6
            let g0 = try w0 + w1, g1 = try w2 + w3
            let h0 = try f - 1 + w1 / g0, h1 = try f + 1 + w3 / g1
            values = try Tensor.zeros([vol.size(1), c.size(0)], dtype: .float64)
            for corner in 0..<8 {
                var weight = try Tensor.ones([c.size(0)], dtype: .float64)
                var cols: [Tensor] = []
                for a in 0..<3 {
                    let high = (corner >> a) & 1 == 1
                    weight = try weight * (high ? g1 : g0).select(1, a)
                    cols.append(try (high ? h1 : h0).select(1, a))
                }
                try values.add_(fetch(Tensor.stack(cols, dim: 1), mode: .bilinear) * weight)
            }
        case .sinc:
            values = try Self.sincGather(vol, c, n: n)
        }
        values = try values * inside.to(.float64)
        return try values.reshape([vol.size(1)] + spatial)
    }

    /// Lanczos (a = 3) by gathering the 6 x 6 x 6 neighbours, weights normalised per axis.
    static func sincGather(_ vol: Tensor, _ c: Tensor, n: [Int]) throws -> Tensor {
        let flat = try vol.reshape([vol.size(1), -1])
        let f = try c.floor()
        var perAxis: [[(Tensor, Tensor)]] = []  // axis -> taps of (index, weight)
        for a in 0..<3 {
            let p = try c.select(1, a), fa = try f.select(1, a)
            var taps: [(Tensor, Tensor)] = []
            var total = try Tensor.zeros([c.size(0)], dtype: .float64)
            for k in -2...3 {
                let i = try fa + Scalar(Double(k))
                let x = try (p - i) * Double.pi
                let safe = try Tensor.where(x.eq(0), Tensor.ones([1], dtype: .float64), x)
                var w = try safe.sin() * (safe / 3).sin() * 3 / safe.square()
                w = try Tensor.where(x.eq(0), Tensor.ones([1], dtype: .float64), w)
                total = try total + w
                // Mirror the index into 0..<n.
                let len = Double(Swift.max(n[a] - 1, 1))
                var mi = try i.abs() % Scalar(2 * len)
                mi = try Tensor.where(mi.gt(Scalar(len)), Scalar(2 * len) - mi, mi)
                if n[a] == 1 { mi = try mi * 0 }
                taps.append((try mi.to(.int64), w))
            }
            perAxis.append(try taps.map { ($0.0, try $0.1 / total) })
        }
        var out = try Tensor.zeros([vol.size(1), c.size(0)], dtype: .float64)
        for (ix, wx) in perAxis[0] {
            for (iy, wy) in perAxis[1] {
                let wxy = try wx * wy
                let base = try ix * (n[1] * n[2]) + iy * n[2]
                for (iz, wz) in perAxis[2] {
                    let index = try (base + iz).unsqueeze(0).expand([vol.size(1), -1])
                    try out.add_(flat.gather(1, index) * (wxy * wz))
                }
            }
        }
        return out
    }
}

/// A resampling request that cannot be carried out.
public enum ResamplingError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(String)
    public var description: String {
        switch self { case .invalid(let m): m }
    }
}
