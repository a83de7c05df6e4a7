import Foundation
import Torch

/// Gaussian blur followed by downsampling (the seed 003 baseline: sigma 1.5).
public struct GaussianDownsampling: Sendable, Equatable, Codable {
    public enum Unit: String, Sendable, Codable, CaseIterable { case mm, voxels }

    /// The blur's standard deviation (per axis, or one for all).
    public var sigma: [Double]
    public var unit: Unit
    /// Downsampling factor per axis (or one for all); 1 keeps the axis.
    public var factor: [Double]

    public init(sigma: [Double] = [1.5], unit: Unit = .voxels, factor: [Double] = [2]) {
        self.sigma = sigma
        self.unit = unit
        self.factor = factor
    }

    func expand(_ v: [Double], _ what: String) throws -> [Double] {
        if v.count == 1 { return Array(repeating: v[0], count: 3) }
        guard v.count == 3 else { throw DegradationError.invalid("\(what) needs 1 or 3 values, got \(v.count)") }
        return v
    }

    public func validate(for volume: Volume) throws {
        let s = try expand(sigma, "sigma"), f = try expand(factor, "factor")
        guard s.allSatisfy({ $0 >= 0 && $0.isFinite }) else { throw DegradationError.invalid("sigma \(sigma) must be >= 0") }
        guard f.allSatisfy({ $0 >= 1 && $0.isFinite }) else {
            throw DegradationError.invalid("downsampling factor \(factor) must be >= 1")
        }
    }

    public func apply(to volume: Volume) throws -> Volume {
        try validate(for: volume)
        let s = try expand(sigma, "sigma"), f = try expand(factor, "factor")
        let spacing = volume.spacing
        let n = Array(volume.shape.prefix(3))
        let m = (0..<3).map { Swift.max(1, Int((Double(n[$0]) / f[$0]).rounded())) }
        let grid = volume.fieldOfViewGrid(newShape: m, factors: (0..<3).map { Double(n[$0]) / Double(m[$0]) })
        var x = try volume.data.to(.float64)
        for a in 0..<3 {
            let sv = unit == .mm ? s[a] / spacing[a] : s[a]
            var op: Tensor? = nil
            if sv > 0 { op = try Tensor(AxisOperator.gaussian(n: n[a], sigma: sv), shape: [n[a], n[a]]) }
            if m[a] != n[a] {
                let r = Double(n[a]) / Double(m[a])
                let positions = (0..<m[a]).map { Double(n[a] - 1) / 2 + (Double($0) - Double(m[a] - 1) / 2) * r }
                let sample = try Tensor(AxisOperator.interpolation(positions: positions, n: n[a], method: .linear), shape: [m[a], n[a]])
                op = try op.map { try sample.matmul($0) } ?? sample
            }
            if let op { x = try x.applyingAxisOperator(op, axis: a) }
        }
        return Volume(data: try x.to(.float32), affine: grid.affine, metadata: volume.metadata)
    }
}

/// Additive noise at a target signal-to-noise ratio: SNR = mean signal / sigma, the mean taken
/// inside a mask when one is given, else over the voxels above 10% of the maximum (the head).
public struct NoiseModel: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// x + n, n ~ N(0, sigma^2).
        case gaussian
        /// |x + n1 + i n2|: the magnitude of complex Gaussian noise (what MRI magnitude images carry).
        case rician
    }

    public var kind: Kind
    public var snr: Double

    public init(kind: Kind = .rician, snr: Double = 30) {
        self.kind = kind
        self.snr = snr
    }

    public func validate() throws {
        guard snr > 0, snr.isFinite else { throw DegradationError.invalid("SNR \(snr) must be > 0") }
    }

    /// The noise standard deviation for `data` (in its units).
    public func sigma(for data: Tensor, mask: Tensor?) throws -> Double {
        let x = try data.to(.float64)
        let signal: Double
        if let mask {
            guard Array(mask.shape.prefix(3)) == Array(data.shape.prefix(3)) else {
                throw DegradationError.invalid("noise mask shape \(mask.shape) differs from the image's \(data.shape)")
            }
            let m = try mask.ne(0)
            let count = try m.sum().item()
            guard count > 0 else { throw DegradationError.invalid("the noise mask is empty") }
            signal = try x.maskedSelect(m).mean().item()
        } else {
            let top = try x.max().item()
            let m = try x.gt(0.1 * top)
            signal = try m.sum().item() > 0 ? x.maskedSelect(m).mean().item() : top
        }
        guard signal > 0 else { throw DegradationError.invalid("the mean signal is \(signal); SNR needs a positive signal") }
        return signal / snr
    }

    /// The noise standard deviation of a magnitude image, estimated from its background: in air an
    /// MR magnitude image is Rayleigh-distributed (median sigma sqrt(2 ln 2), coefficient of
    /// variation 0.52). The volume's eight corner blocks (an eighth of each dimension, at least 2
    /// voxels) that look like air (median below a tenth of the image's 99th percentile and a
    /// coefficient of variation between 0.3 and 0.8) are pooled, and sigma is their median over
    /// sqrt(2 ln 2). 0 when no corner is noisy air: a zero-filled background (masked,
    /// skull-stripped, simulated without noise), or a field of view tight around the anatomy.
    public static func backgroundSigma(of data: Tensor) throws -> Double {
        guard data.rank == 3 else { throw DegradationError.invalid("background noise needs a 3-D volume, got shape \(data.shape)") }
        let shape = data.shape
        // The image's bright end from about a million voxels (no full-volume float64 copy).
        let flat = try data.flatten()
        let sample = try flat.indexSelect(0, Tensor.arange(Scalar(0), Scalar(flat.count), step: Scalar(Swift.max(1, flat.count / 1_000_000))))
        let bright = try Percentiles.compute(sample.to(.float64), [99])[0]
        var air: [Tensor] = []
        for corner in 0..<8 {
            var block = data
            for a in 0..<3 {
                let b = Swift.min(shape[a], Swift.max(2, shape[a] / 8))
                block = try block.narrow(a, start: (corner >> a) & 1 == 0 ? 0 : shape[a] - b, length: b)
            }
            let values = try block.to(.float64).flatten()
            let median = try values.quantile(0.5).item(), mean = try values.mean().item()
            guard median > 0, median < 0.1 * bright, mean > 0 else { continue }
            let variation = try values.std().item() / mean
            if (0.3...0.8).contains(variation) { air.append(values) }
        }
        guard !air.isEmpty else { return 0 }
        return try Tensor.cat(air, dim: 0).quantile(0.5).item() / (2 * log(2.0)).squareRoot()
    }

    /// `data` with noise of standard deviation `sigma` (see `sigma(for:mask:)`).
    public func apply(to data: Tensor, sigma: Double, generator: Generator) throws -> Tensor {
        try validate()
        let x = try data.to(.float64)
        let n1 = try Tensor.randn(x.shape, dtype: .float64, generator: generator) * sigma
        let out: Tensor
        switch kind {
        case .gaussian:
            out = try x + n1
        case .rician:
            let n2 = try Tensor.randn(x.shape, dtype: .float64, generator: generator) * sigma
            let re = try x + n1
            out = try (re * re + n2 * n2).sqrt()
        }
        return try out.to(data.dtype.isFloatingPoint ? data.dtype : .float32)
    }
}

/// A smooth random multiplicative bias field: exp(strength * u), u a random field on a coarse
/// 4 x 4 x 4 lattice, trilinearly interpolated over the volume, smoothed by a Gaussian of a
/// quarter of the lattice step... (sigma = extent / (2 x control points)) and scaled to [-1, 1].
/// A strength of 0.2 gives a field between 0.82 and 1.22.
public struct BiasField: Sendable, Equatable, Codable {
    public var strength: Double
    /// Control points per axis of the coarse lattice (more: less smooth).
    public var controlPoints: Int

    public init(strength: Double = 0.2, controlPoints: Int = 4) {
        self.strength = strength
        self.controlPoints = controlPoints
    }

    public func validate() throws {
        guard strength >= 0, strength.isFinite else { throw DegradationError.invalid("bias strength \(strength) must be >= 0") }
        guard (2...32).contains(controlPoints) else {
            throw DegradationError.invalid("bias control points \(controlPoints) must be in 2...32")
        }
    }

    /// The field for a volume of `shape` (3-D), float64.
    public func field(shape: [Int], generator: Generator) throws -> Tensor {
        try validate()
        let c = controlPoints
        let coarse = try Tensor.rand([1, 1, c, c, c], dtype: .float64, generator: generator) * 2 - 1
        let n = Array(shape.prefix(3))
        var u = try coarse.interpolate(size: n, mode: .trilinear, alignCorners: true).reshape(n)
        for a in 0..<3 {
            let g = try Tensor(AxisOperator.gaussian(n: n[a], sigma: Double(n[a]) / Double(2 * c)), shape: [n[a], n[a]])
            u = try u.applyingAxisOperator(g, axis: a)
        }
        u = try u - u.mean()
        let peak = try u.abs().max().item()
        if peak > 0 { u = try u / peak }
        return try (u * strength).exp()
    }
}
