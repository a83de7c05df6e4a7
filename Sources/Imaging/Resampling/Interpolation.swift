import Torch

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How values between voxel centres are computed.
public enum Interpolation: String, Sendable, CaseIterable, CustomStringConvertible {
    /// The nearest voxel (masks and labels).
    case nearest
    /// Linear in each axis (scipy.ndimage order 1).
    case linear
    /// Cubic B-spline with its prefilter, so the spline passes through the samples
    /// (scipy.ndimage order 3).
    case cubic
    /// Windowed sinc (Lanczos, a = 3), weights normalised to sum 1.
    case sinc

    public var description: String { rawValue }

    /// Taps on each side of the sample (support radius).
    var radius: Int {
        switch self {
        case .nearest: 0
        case .linear: 1
        case .cubic: 2
        case .sinc: 3
        }
    }
}

/// One-dimensional resampling operators as dense matrices: every step along an axis (anti-alias
/// blur, B-spline prefilter, interpolation at the new positions) is linear, so the whole axis is
/// one (m x n) matrix applied with a matmul.
///
/// Boundary rules, matching scipy.ndimage's `mode='constant'` inside the grid: coefficients are
/// extended by mirroring about the edge samples (scipy's 'mirror', used by its spline prefilter),
/// positions inside [0, n - 1] are interpolated, positions farther than half a voxel outside the
/// grid are 0. Positions within half a voxel outside (the edge voxels' own extent) are
/// interpolated with the mirrored extension instead of scipy's 0, so resampled grids that keep the
/// field of view do not get dark borders.
enum AxisOperator {
    /// Mirror index into 0..<n (scipy 'mirror': d c b | a b c d | c b a).
    static func mirror(_ i: Int, _ n: Int) -> Int {
        if n == 1 { return 0 }
        let p = 2 * (n - 1)
        var k = abs(i) % p
        if k >= n { k = p - k }
        return k
    }

    /// The cubic B-spline basis.
    static func bspline3(_ t: Double) -> Double {
        let a = abs(t)
        if a < 1 { return 2.0 / 3 - a * a + a * a * a / 2 }
        if a < 2 { let b = 2 - a; return b * b * b / 6 }
        return 0
    }

    static func lanczos(_ t: Double, _ a: Double = 3) -> Double {
        if t == 0 { return 1 }
        if abs(t) >= a { return 0 }
        let x = Double.pi * t
        return a * sin(x) * sin(x / a) / (x * x)
    }

    /// The interpolation matrix: row j holds the weights of the source samples for position x[j].
    static func interpolation(positions x: [Double], n: Int, method: Interpolation) -> [Double] {
        let m = x.count
        var w = [Double](repeating: 0, count: m * n)
        for (j, p) in x.enumerated() {
            guard p >= -0.5 - 1e-9, p <= Double(n) - 0.5 + 1e-9 else { continue }
            switch method {
            case .nearest:
                let i = Int((p + 0.5).rounded(.down))
                w[j * n + Swift.min(Swift.max(i, 0), n - 1)] = 1
            case .linear:
                let f = p.rounded(.down), t = p - f
                let i = Int(f)
                w[j * n + mirror(i, n)] += 1 - t
                if t > 0 { w[j * n + mirror(i + 1, n)] += t }
            case .cubic:
                let f = p.rounded(.down)
                for k in -1...2 {
                    let i = Int(f) + k
                    w[j * n + mirror(i, n)] += bspline3(p - Double(i))
                }
            case .sinc:
                let f = p.rounded(.down)
                var row = [(Int, Double)]()
                var total = 0.0
                for k in -2...3 {
                    let i = Int(f) + k
                    let v = lanczos(p - Double(i))
                    row.append((mirror(i, n), v))
                    total += v
                }
                for (i, v) in row { w[j * n + i] += v / total }
            }
        }
        return w
    }

    /// The B-spline prefilter: the inverse of the (n x n) matrix of the cubic B-spline at the
    /// samples, [1, 4, 1] / 6 with mirrored ends (exactly scipy's `spline_filter1d(mode='mirror')`).
    static func bsplinePrefilter(n: Int) throws -> Tensor {
        if n == 1 { return try Tensor.ones([1, 1], dtype: .float64) }
        var b = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            b[i * n + i] += 4.0 / 6
            b[i * n + mirror(i - 1, n)] += 1.0 / 6
            b[i * n + mirror(i + 1, n)] += 1.0 / 6
        }
        return try Tensor(b, shape: [n, n]).inverse()
    }

    /// A Gaussian blur (n x n), scipy's kernel (truncate 4) with mirrored ends: the anti-aliasing
    /// before downsampling (sigma = (factor - 1) / 2, as scikit-image's `resize`).
    static func gaussian(n: Int, sigma: Double) -> [Double] {
        let r = Int(4 * sigma + 0.5)
        var k = (-r...r).map { exp(-0.5 * Double($0 * $0) / (sigma * sigma)) }
        let s = k.reduce(0, +)
        k = k.map { $0 / s }
        var g = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for (o, v) in k.enumerated() { g[i * n + mirror(i + o - r, n)] += v }
        }
        return g
    }

    /// The whole operator for one axis: interpolation x prefilter x anti-alias blur.
    static func matrix(positions: [Double], n: Int, method: Interpolation, antiAliasSigma: Double) throws -> Tensor {
        var op = try Tensor(interpolation(positions: positions, n: n, method: method), shape: [positions.count, n])
        if method == .cubic { op = try op.matmul(bsplinePrefilter(n: n)) }
        if antiAliasSigma > 0 && method != .nearest {
            op = try op.matmul(Tensor(gaussian(n: n, sigma: antiAliasSigma), shape: [n, n]))
        }
        return op
    }
}

extension Interpolation {
    /// The (positions.count x n) matrix that samples n values at `positions` (index units), as
    /// resampling does along one axis (cubic includes its B-spline prefilter; no anti-aliasing).
    public func axisMatrix(positions: [Double], n: Int) throws -> Tensor {
        try AxisOperator.matrix(positions: positions, n: n, method: self, antiAliasSigma: 0)
    }
}
