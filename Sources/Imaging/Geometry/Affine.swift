/// A 4x4 homogeneous transform from voxel indices (i, j, k) to world coordinates (x, y, z) in mm,
/// RAS+ as in NIfTI and nibabel. Stored row-major in Double: affine math is 4x4 and stays in Swift;
/// voxel math runs on tensors.
public struct Affine: Equatable, Sendable, CustomStringConvertible {
    /// Row-major entries.
    public var m: [Double]

    public init(rows: [[Double]]) {
        precondition(rows.count == 4 && rows.allSatisfy { $0.count == 4 }, "an affine has 4 rows of 4")
        m = rows.flatMap { $0 }
    }

    public init(_ entries: [Double]) {
        precondition(entries.count == 16, "an affine has 16 entries")
        m = entries
    }

    public static let identity = Affine([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1])

    /// Scaling by the voxel sizes with the origin at voxel 0 (NIfTI's pixdim-only fallback has its own
    /// centring; see `NIfTIHeader`).
    public static func scaling(_ s: [Double], translation t: [Double] = [0, 0, 0]) -> Affine {
        Affine([s[0], 0, 0, t[0], 0, s[1], 0, t[1], 0, 0, s[2], t[2], 0, 0, 0, 1])
    }

    public subscript(row: Int, column: Int) -> Double {
        get { m[row * 4 + column] }
        set { m[row * 4 + column] = newValue }
    }

    public var rows: [[Double]] { (0..<4).map { r in Array(m[(r * 4)..<(r * 4 + 4)]) } }

    public static func * (a: Affine, b: Affine) -> Affine {
        var out = [Double](repeating: 0, count: 16)
        for r in 0..<4 {
            for c in 0..<4 {
                var s = 0.0
                for k in 0..<4 { s += a.m[r * 4 + k] * b.m[k * 4 + c] }
                out[r * 4 + c] = s
            }
        }
        return Affine(out)
    }

    /// Maps a point (voxel indices to world, for a voxel-to-world affine).
    public func apply(_ p: [Double]) -> [Double] {
        (0..<3).map { r in m[r * 4] * p[0] + m[r * 4 + 1] * p[1] + m[r * 4 + 2] * p[2] + m[r * 4 + 3] }
    }

    /// The upper-left 3x3 block.
    public var linear: [[Double]] { (0..<3).map { r in (0..<3).map { c in self[r, c] } } }

    public var translation: [Double] { [self[0, 3], self[1, 3], self[2, 3]] }

    /// The determinant of the 3x3 block (negative for a left-handed voxel order).
    public var determinant3: Double {
        let a = linear
        return a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
            - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
            + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])
    }

    /// Voxel sizes: the lengths of the three columns (nibabel's `voxel_sizes`).
    public var spacing: [Double] {
        (0..<3).map { c in (0..<3).reduce(0.0) { $0 + self[$1, c] * self[$1, c] }.squareRoot() }
    }

    /// Whether the 3x3 block cannot be inverted (or holds a NaN).
    public var isSingular: Bool {
        let d = determinant3
        let scale = spacing.reduce(1, *)
        return !d.isFinite || scale == 0 || Swift.abs(d) <= 1e-12 * Swift.max(scale, 1e-300)
    }

    /// The inverse transform; nil when singular.
    public func inverse() -> Affine? {
        var a = rows
        var inv = Affine.identity.rows
        for col in 0..<4 {
            var pivot = col
            for r in (col + 1)..<4 where Swift.abs(a[r][col]) > Swift.abs(a[pivot][col]) { pivot = r }
            guard Swift.abs(a[pivot][col]) > 1e-300, a[pivot][col].isFinite else { return nil }
            a.swapAt(col, pivot)
            inv.swapAt(col, pivot)
            let p = a[col][col]
            for c in 0..<4 { a[col][c] /= p; inv[col][c] /= p }
            for r in 0..<4 where r != col {
                let f = a[r][col]
                if f == 0 { continue }
                for c in 0..<4 { a[r][c] -= f * a[col][c]; inv[r][c] -= f * inv[col][c] }
            }
        }
        return Affine(rows: inv)
    }

    /// For each voxel axis, the world axis it runs closest to and its direction (+1 or -1):
    /// nibabel's `io_orientation`, from the orthogonal factor of the polar decomposition of the
    /// 3x3 block with the voxel sizes divided out.
    public var axisOrientation: [(worldAxis: Int, sign: Int)] {
        let z = spacing.map { $0 == 0 ? 1 : $0 }
        var r = (0..<3).map { i in (0..<3).map { j in self[i, j] / z[j] } }
        r = Affine.nearestOrthogonal(r)
        var out: [(Int, Int)] = []
        for inAxis in 0..<3 {
            let col = (0..<3).map { r[$0][inAxis] }
            var best = 0
            for k in 1..<3 where Swift.abs(col[k]) > Swift.abs(col[best]) { best = k }
            out.append((best, col[best] < 0 ? -1 : 1))
            for c in 0..<3 { r[best][c] = 0 }
        }
        return out
    }

    /// Orientation codes such as "RAS" or "LPI": the world direction each voxel axis increases toward.
    public var orientationCode: String {
        let positive = ["R", "A", "S"], negative = ["L", "P", "I"]
        return axisOrientation.map { $0.sign > 0 ? positive[$0.worldAxis] : negative[$0.worldAxis] }.joined()
    }

    /// The orthogonal factor of a 3x3 matrix by Newton's iteration X <- (X + X^-T) / 2.
    static func nearestOrthogonal(_ a: [[Double]]) -> [[Double]] {
        var x = a
        for _ in 0..<100 {
            guard let inv = invert3(x) else { return x }
            var next = x
            var delta = 0.0
            for i in 0..<3 {
                for j in 0..<3 {
                    next[i][j] = 0.5 * (x[i][j] + inv[j][i])
                    delta = Swift.max(delta, Swift.abs(next[i][j] - x[i][j]))
                }
            }
            x = next
            if delta < 1e-15 { break }
        }
        return x
    }

    static func invert3(_ a: [[Double]]) -> [[Double]]? {
        let det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
            - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
            + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])
        guard Swift.abs(det) > 1e-300, det.isFinite else { return nil }
        let c: [[Double]] = [
            [a[1][1] * a[2][2] - a[1][2] * a[2][1], a[0][2] * a[2][1] - a[0][1] * a[2][2], a[0][1] * a[1][2] - a[0][2] * a[1][1]],
            [a[1][2] * a[2][0] - a[1][0] * a[2][2], a[0][0] * a[2][2] - a[0][2] * a[2][0], a[0][2] * a[1][0] - a[0][0] * a[1][2]],
            [a[1][0] * a[2][1] - a[1][1] * a[2][0], a[0][1] * a[2][0] - a[0][0] * a[2][1], a[0][0] * a[1][1] - a[0][1] * a[1][0]],
        ]
        return c.map { $0.map { $0 / det } }
    }

    /// Largest absolute difference between entries.
    public func maxDifference(_ other: Affine) -> Double {
        zip(m, other.m).map { Swift.abs($0 - $1) }.max() ?? 0
    }

    public var description: String {
        rows.map { r in r.map { v in
            let s = String(v)
            return String(repeating: " ", count: Swift.max(0, 12 - s.count)) + s
        }.joined(separator: " ") }.joined(separator: "\n")
    }
}
