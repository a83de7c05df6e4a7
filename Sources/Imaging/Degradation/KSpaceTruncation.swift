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

    /// The k-space weights of the whole volume (on the FFT's layout, frequency 0 first), float64,
    /// broadcastable: size 1 along the axes that are not truncated.
    public func weights(shape: [Int], axes: [Int]) throws -> Tensor {
        var w = try Tensor.ones(Array(repeating: 1, count: shape.count), dtype: .float64)
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

    /// The kept frequencies of an axis of n, in the FFT's order: 0, 1, ..., then the negatives.
    static func keptIndices(n: Int, factor: Double) -> [Int] {
        let r = keptRange(m: keptCount(n: n, factor: factor))
        return Array(0...r.upperBound) + (r.lowerBound < 0 ? Array((n + r.lowerBound)..<n) : [])
    }

    /// The truncated volume: on the original matrix, or on the reduced one.
    ///
    /// Only the kept band is computed: along each truncated axis the forward transform is the
    /// (m x n) DFT matrix of the kept frequencies and the inverse its (n x m) conjugate, applied as
    /// real matrix products on the real and imaginary parts (float32). The result equals FFT,
    /// mask and inverse FFT of the whole volume (checked against that in the tests), at
    /// O(n m) per line instead of O(n log n) on every frequency. The axes that are not truncated
    /// are not transformed (their transforms cancel), so 2-D per slice and 3-D give the same
    /// image and differ in the window's shape: a radial Fermi window is circular over two
    /// truncated axes and spherical over three.
    public func apply(to volume: Volume) throws -> Volume {
        try validate(for: volume)
        let axes = resolvedAxes(for: volume)
        let shape = Array(volume.shape.prefix(3))
        var re = try volume.data.to(.float32)
        var im: Tensor? = nil
        var outShape = shape
        var kept: [Int: [Int]] = [:]
        for a in axes {
            let idx = Self.keptIndices(n: shape[a], factor: factor)
            kept[a] = idx
            outShape[a] = idx.count
            let (c, s) = try Self.dft(frequencies: idx, n: shape[a], inverse: false)
            (re, im) = try Self.complexProduct(c, s, re, im, axis: a)
        }
        if window != .none {
            var w = try weights(shape: shape, axes: axes)
            for a in axes where outShape[a] < shape[a] {
                w = try w.indexSelect(a, Tensor(kept[a]!.map { Int64($0) }))
            }
            let w32 = try w.to(.float32)
            re = try re * w32
            im = try im.map { try $0 * w32 }
        }
        var affine = volume.affine
        let out: Tensor
        if reducedMatrix {
            // Reduced sample j sits at input index j n / m (the band-limited interpolant).
            var index = Affine.identity
            for a in axes { index[a, a] = Double(shape[a]) / Double(outShape[a]) }
            affine = affine * index
            let band = try Tensor.complex(real: re, imag: im ?? Tensor.zeros(like: re))
            let scale = axes.map { Double(outShape[$0]) / Double(shape[$0]) }.reduce(1, *)
            out = try band.ifftn(dims: axes).abs() * scale
        } else {
            for a in axes.reversed() {
                let (c, s) = try Self.dft(frequencies: kept[a]!, n: shape[a], inverse: true)
                (re, im) = try Self.complexProduct(c, s, re, im, axis: a)
            }
            out = try im.map { try (re * re + $0 * $0).sqrt() } ?? re.abs()
        }
        return Volume(data: try out.to(.float32).contiguous(), affine: affine, metadata: volume.metadata)
    }

    /// The DFT restricted to `frequencies` (integers in FFT order) as its real and imaginary
    /// parts: forward (m x n) exp(-2 pi i q j / n), or inverse (n x m) exp(+2 pi i q j / n) / n.
    static func dft(frequencies: [Int], n: Int, inverse: Bool) throws -> (Tensor, Tensor) {
        let m = frequencies.count
        var c = [Double](repeating: 0, count: m * n), s = c
        for (r, k) in frequencies.enumerated() {
            for j in 0..<n {
                // Reduce q j mod n first so that the angle stays small and exact.
                let angle = 2 * Double.pi * Double((k * j) % n) / Double(n)
                if inverse {
                    c[j * m + r] = cos(angle) / Double(n)
                    s[j * m + r] = sin(angle) / Double(n)
                } else {
                    c[r * n + j] = cos(angle)
                    s[r * n + j] = -sin(angle)
                }
            }
        }
        let shape = inverse ? [n, m] : [m, n]
        return (try Tensor(c, shape: shape).to(.float32), try Tensor(s, shape: shape).to(.float32))
    }

    /// (C + i S)(re + i im) along `axis` as one real matrix product: [[C, -S], [S, C]] applied to
    /// re and im stacked along the axis ([C; S] to re alone when im is nil, i.e. 0).
    static func complexProduct(_ c: Tensor, _ s: Tensor, _ re: Tensor, _ im: Tensor?, axis: Int) throws -> (Tensor, Tensor?) {
        let rows = c.shape[0]
        let y: Tensor
        if let im {
            let w = try Tensor.cat([Tensor.cat([c, s.neg()], dim: 1), Tensor.cat([s, c], dim: 1)], dim: 0)
            y = try Tensor.cat([re, im], dim: axis).applyingAxisOperator(w, axis: axis)
        } else {
            y = try re.applyingAxisOperator(Tensor.cat([c, s], dim: 0), axis: axis)
        }
        return (try y.narrow(axis, start: 0, length: rows), try y.narrow(axis, start: rows, length: rows))
    }
}
