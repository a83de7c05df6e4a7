#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Torch

/// The window applied to the kept centre of k-space (against Gibbs ringing).
public enum KSpaceWindow: Sendable, Equatable, Codable {
    case none
    /// 1 / (1 + exp((r - radius) / width)) with r the radial distance in units of the kept
    /// half-width (so radius 1 is the truncation edge).
    case fermi(radius: Double, width: Double)
    /// A separable Hann window over the kept band (0 at its edges).
    case hann
    /// A separable Tukey window: flat over 1 - alpha of the band, cosine tapers on the rest.
    case tukey(alpha: Double)

    public var name: String {
        switch self {
        case .none: "none"
        case .fermi: "fermi"
        case .hann: "hann"
        case .tukey: "tukey"
        }
    }
}

/// k-space truncation (seeds 002 and 003): Fourier transform, keep the central 1/factor of the
/// frequencies along each chosen axis (windowed), inverse transform, magnitude.
public struct KSpaceTruncation: Sendable, Equatable, Codable {
    public enum Mode: String, Sendable, Codable, CaseIterable {
        /// A 2-D transform of each slice (the slice axis is the one not truncated); a radial
        /// window is circular.
        case slice2D = "2d"
        /// A 3-D transform of the volume; a radial window is spherical.
        case volume3D = "3d"
    }

    /// Scale factor f: 1/f of the frequencies kept along each axis in `axes`.
    public var factor: Double
    /// Voxel axes to truncate; nil: the two in-plane axes of the slices normal to `planeNormal`.
    public var axes: [Int]?
    /// The slice direction whose in-plane axes are truncated when `axes` is nil (axial: the
    /// phase- and frequency-encoding axes of an axial 2-D acquisition).
    public var planeNormal: SliceDirection
    public var mode: Mode
    public var window: KSpaceWindow
    /// Output on the reduced matrix (fewer, larger voxels; affine adjusted) instead of the
    /// original matrix (zero-filled k-space).
    public var reducedMatrix: Bool

    public init(factor: Double = 4, axes: [Int]? = nil, planeNormal: SliceDirection = .plane(.axial), mode: Mode = .slice2D,
                window: KSpaceWindow = .none, reducedMatrix: Bool = false) {
        self.factor = factor
        self.axes = axes
        self.planeNormal = planeNormal
        self.mode = mode
        self.window = window
        self.reducedMatrix = reducedMatrix
    }

    /// The fraction of frequencies kept along each truncated axis.
    public var fraction: Double { 1 / factor }

    /// The truncated axes for `volume`.
    public func resolvedAxes(for volume: Volume) -> [Int] {
        if let axes { return axes.sorted() }
        let slice = planeNormal.axis(in: volume)
        return (0..<3).filter { $0 != slice }
    }

    public func validate(for volume: Volume) throws {
        guard factor.isFinite, factor >= 1 else {
            throw DegradationError.invalid(
                "k-space fraction \(fmt(fraction)) (factor \(fmt(factor))) must be in (0, 1]: the factor must be >= 1")
        }
        let axes = resolvedAxes(for: volume)
        guard !axes.isEmpty, axes.allSatisfy({ (0..<3).contains($0) }), Set(axes).count == axes.count else {
            throw DegradationError.invalid("k-space axes \(axes) must be distinct voxel axes 0, 1 or 2")
        }
        if mode == .slice2D && axes.count == 3 {
            throw DegradationError.invalid("2d k-space truncation works in slices: give at most two axes, or use 3d")
        }
        switch window {
        case .fermi(let r, let w):
            guard r > 0, w > 0, r.isFinite, w.isFinite else {
                throw DegradationError.invalid("Fermi window radius \(r) and width \(w) must be > 0")
            }
        case .tukey(let a):
            guard (0...1).contains(a) else { throw DegradationError.invalid("Tukey alpha \(a) must be in [0, 1]") }
        default: break
        }
    }

    /// The number of frequencies kept along an axis of n.
    public static func keptCount(n: Int, factor: Double) -> Int {
        Swift.max(1, Swift.min(n, Int((Double(n) / factor).rounded())))
    }

    /// The integer frequencies kept: -floor(m/2) ... m - 1 - floor(m/2).
    public static func keptRange(m: Int) -> ClosedRange<Int> { (-(m / 2))...(m - 1 - m / 2) }

    /// The k-space weights of the whole volume (on the FFT's layout, frequency 0 first), float64.
    public func weights(shape: [Int], axes: [Int]) throws -> Tensor {
        var w = try Tensor.ones(shape, dtype: .float64)
        // Per-axis normalized coordinate q / (m / 2) over the kept band, and the band mask.
        var radial: Tensor? = nil
        for a in axes {
            let n = shape[a]
            let m = Self.keptCount(n: n, factor: factor)
            let range = Self.keptRange(m: m)
            var mask = [Double](repeating: 0, count: n)
            var coord = [Double](repeating: 0, count: n)
            var sep = [Double](repeating: 0, count: n)
            for k in 0..<n {
                let q = k <= (n - 1) / 2 ? k : k - n  // fftfreq * n
                guard range.contains(q) else { continue }
                mask[k] = 1
                let half = Swift.max(Double(m) / 2, 0.5)
                let u = Double(q) / half  // -1 ... 1
                coord[k] = u
                switch window {
                case .hann: sep[k] = 0.5 * (1 + cos(Double.pi * u))
                case .tukey(let alpha):
                    let t = Swift.abs(u)
                    if alpha == 0 || t <= 1 - alpha { sep[k] = 1 }
                    else { sep[k] = 0.5 * (1 + cos(Double.pi * (t - 1 + alpha) / alpha)) }
                default: sep[k] = 1
                }
            }
            if m == n { for k in 0..<n { mask[k] = 1 } }
            var viewShape = [Int](repeating: 1, count: shape.count)
            viewShape[a] = n
            w = try w * Tensor(zip(mask, sep).map { $0 * $1 }, shape: viewShape)
            if case .fermi = window {
                let c = try Tensor(coord.map { $0 * $0 }, shape: viewShape)
                radial = try radial.map { try $0 + c } ?? c
            }
        }
        if case .fermi(let radius, let width) = window, let r2 = radial {
            let fermi = try ((r2.sqrt() - radius) / width).exp() + 1
            w = try w / fermi
        }
        return w
    }

    /// The truncated volume: on the original matrix, or on the reduced one.
    public func apply(to volume: Volume) throws -> Volume {
        try validate(for: volume)
        let axes = resolvedAxes(for: volume)
        let shape = Array(volume.shape.prefix(3))
        // 2-D per slice and 3-D differ only in the transform's axes (and the radial window).
        let dims: [Int] = mode == .slice2D ? axes : [0, 1, 2]
        let x = try volume.data.to(.float64)
        var k = try x.fftn(dims: dims)
        k = try k * weights(shape: shape, axes: axes)
        var outShape = shape
        var affine = volume.affine
        if reducedMatrix {
            // Keep only the band, in FFT order (positive frequencies then negative ones).
            for a in axes {
                let n = shape[a]
                let m = Self.keptCount(n: n, factor: factor)
                let r = Self.keptRange(m: m)
                let positive = Array(0...r.upperBound), negative = r.lowerBound < 0 ? Array((n + r.lowerBound)..<n) : []
                let index = try Tensor((positive + negative).map { Int64($0) })
                k = try k.indexSelect(a, index)
                outShape[a] = m
            }
            // Reduced sample j sits at input index j n / m (the band-limited interpolant).
            var index = Affine.identity
            for a in axes { index[a, a] = Double(shape[a]) / Double(outShape[a]) }
            affine = affine * index
        }
        var image = try k.ifftn(dims: dims).abs()
        if reducedMatrix {
            let scale = axes.map { Double(outShape[$0]) / Double(shape[$0]) }.reduce(1, *)
            image = try image * scale
        }
        return Volume(data: try image.to(.float32).contiguous(), affine: affine, metadata: volume.metadata)
    }
}
