#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Torch

/// The direction slices are stacked along: an anatomical plane's normal or a voxel axis.
public enum SliceDirection: Sendable, Equatable, Codable, CustomStringConvertible {
    case plane(Plane)
    case voxelAxis(Int)

    /// Parses "axial", "coronal", "sagittal", or "0", "1", "2" (also "i", "j", "k").
    public init?(_ text: String) {
        let t = text.lowercased()
        if let p = Plane(rawValue: t) { self = .plane(p); return }
        switch t {
        case "0", "i": self = .voxelAxis(0)
        case "1", "j": self = .voxelAxis(1)
        case "2", "k": self = .voxelAxis(2)
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .plane(let p): p.rawValue
        case .voxelAxis(let a): "\(a)"
        }
    }

    /// The voxel axis of `volume` the slices are stacked along.
    public func axis(in volume: Volume) -> Int {
        switch self {
        case .plane(let p): volume.axis(normalTo: p)
        case .voxelAxis(let a): a
        }
    }

    public init(from decoder: Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        guard let d = SliceDirection(s) else {
            throw DegradationError.invalid("slice direction '\(s)' is not axial, coronal, sagittal, 0, 1 or 2")
        }
        self = d
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// The slice-selection profile: how much of the tissue at distance z from a slice's centre
/// contributes to it.
public enum SliceProfile: String, Sendable, Codable, CaseIterable {
    /// A box of width = thickness (ideal slice selection).
    case rectangular
    /// A Gaussian whose FWHM is the thickness.
    case gaussian
    /// The profile excited by a Hann-windowed sinc RF pulse (time-bandwidth product 4): flat in
    /// the slice with smooth edges and small side lobes; its FWHM is the thickness.
    case sinc

    /// The relative sensitivity at distance `z` (in units of the thickness) from the centre.
    func value(_ z: Double) -> Double {
        switch self {
        case .rectangular:
            return Swift.abs(z) < 0.5 ? 1 : (Swift.abs(z) == 0.5 ? 0.5 : 0)
        case .gaussian:
            let sigma = 1 / (2 * (2 * log(2.0)).squareRoot())
            return exp(-0.5 * z * z / (sigma * sigma))
        case .sinc:
            return SliceProfile.sincProfile(z)
        }
    }

    /// How far (in thicknesses) from the centre the profile is taken into account.
    var support: Double {
        switch self {
        case .rectangular: 0.5
        case .gaussian: 1.5  // 3.5 sigma
        case .sinc: 1.0
        }
    }

    /// The Fourier transform of a Hann-windowed sinc pulse with 4 zero crossings (time-bandwidth
    /// product 4), evaluated at z thicknesses, normalized to 1 at the centre. The pulse's nominal
    /// passband |f| < N/2 maps to |z| < 1/2.
    static func sincProfile(_ z: Double) -> Double {
        let n = 4.0, samples = 256
        var total = 0.0, centre = 0.0
        for s in 0..<samples {
            let u = (Double(s) + 0.5) / Double(samples) - 0.5
            let x = Double.pi * n * u
            let pulse = (x == 0 ? 1 : sin(x) / x) * 0.5 * (1 + cos(2 * Double.pi * u))
            total += pulse * cos(2 * Double.pi * z * n * u)
            centre += pulse
        }
        return total / centre
    }

    /// The integral of the profile over [a, b] (thickness units).
    func integral(from a: Double, to b: Double) -> Double {
        switch self {
        case .rectangular:
            return Swift.max(0, Swift.min(b, 0.5) - Swift.max(a, -0.5))
        case .gaussian:
            let sigma = 1 / (2 * (2 * log(2.0)).squareRoot())
            let s = sigma * 2.0.squareRoot()
            return sigma * (Double.pi / 2).squareRoot() * (erf(b / s) - erf(a / s))
        case .sinc:
            let lo = Swift.max(a, -support), hi = Swift.min(b, support)
            guard hi > lo else { return 0 }
            let steps = Swift.max(8, Int((hi - lo) * 128))
            let h = (hi - lo) / Double(steps)
            var sum = 0.0
            for i in 0..<steps { sum += SliceProfile.sincProfile(lo + (Double(i) + 0.5) * h) }
            return sum * h
        }
    }
}

/// The multi-slice acquisition model y = D B R(x) of seed 001: slices of `thickness` mm every
/// `spacing` mm along `direction`, each the profile-weighted average of the tissue it covers.
public struct SliceAcquisition: Sendable, Equatable, Codable {
    public var direction: SliceDirection
    /// Slice thickness in mm (the profile's width).
    public var thickness: Double
    /// Distance between slice centres in mm; gap = spacing - thickness (negative: overlap).
    public var spacing: Double
    public var profile: SliceProfile
    /// An optional in-plane voxel size in mm (both in-plane axes), reached by anti-aliased
    /// linear resampling over the same field of view.
    public var inPlaneSpacing: Double?

    public init(direction: SliceDirection = .plane(.axial), thickness: Double = 5, spacing: Double = 6,
                profile: SliceProfile = .rectangular, inPlaneSpacing: Double? = nil) {
        self.direction = direction
        self.thickness = thickness
        self.spacing = spacing
        self.profile = profile
        self.inPlaneSpacing = inPlaneSpacing
    }

    public var gap: Double { spacing - thickness }

    /// Refuses impossible settings for `volume`, naming the setting.
    public func validate(for volume: Volume) throws {
        guard thickness > 0, thickness.isFinite else {
            throw DegradationError.invalid("slice thickness \(fmt(thickness)) mm must be > 0")
        }
        guard spacing > 0, spacing.isFinite else {
            throw DegradationError.invalid("slice spacing \(fmt(spacing)) mm must be > 0")
        }
        if case .voxelAxis(let a) = direction, !(0..<3).contains(a) {
            throw DegradationError.invalid("slice axis \(a) is not a voxel axis (0, 1 or 2)")
        }
        let axis = direction.axis(in: volume)
        let h = volume.spacing[axis]
        guard spacing >= h - 1e-6 else {
            throw DegradationError.invalid(
                "slice spacing \(fmt(spacing)) mm is below the input's voxel size \(fmt(h)) mm along the slice axis")
        }
        guard thickness <= Double(volume.shape[axis]) * h + 1e-6 else {
            throw DegradationError.invalid(
                "slice thickness \(fmt(thickness)) mm is larger than the field of view (\(fmt(Double(volume.shape[axis]) * h)) mm)")
        }
        if let s = inPlaneSpacing {
            guard s > 0, s.isFinite else { throw DegradationError.invalid("in-plane spacing \(s) mm must be > 0") }
        }
    }

    /// The slice centres, in voxel index units of the input along the slice axis, laid
    /// symmetrically in the field of view: as many slices as fit entirely inside it.
    public func sliceCentres(n: Int, voxelSize h: Double) -> [Double] {
        let extent = Double(n) * h
        let count = Swift.max(1, Int(((extent - thickness) / spacing + 1e-9).rounded(.down)) + 1)
        let first = Double(n - 1) / 2 - Double(count - 1) / 2 * spacing / h
        return (0..<count).map { first + Double($0) * spacing / h }
    }

    /// The (slices x n) operator: row i holds the profile's integral over each input voxel,
    /// normalized to sum 1 over the voxels of the field of view.
    public func operatorMatrix(n: Int, voxelSize h: Double) -> [Double] {
        operatorMatrix(centres: sliceCentres(n: n, voxelSize: h), n: n, voxelSize: h)
    }

    /// The operator for slices centred at `centres` (input voxel index units), e.g. another
    /// slice phase than the symmetric one.
    public func operatorMatrix(centres: [Double], n: Int, voxelSize h: Double) -> [Double] {
        var w = [Double](repeating: 0, count: centres.count * n)
        let t = thickness / h  // thickness in voxels
        for (i, c) in centres.enumerated() {
            let lo = Swift.max(0, Int((c - profile.support * t - 1).rounded(.down)))
            let hi = Swift.min(n - 1, Int((c + profile.support * t + 1).rounded(.up)))
            var total = 0.0
            if lo <= hi {
                for j in lo...hi {
                    let a = (Double(j) - 0.5 - c) / t, b = (Double(j) + 0.5 - c) / t
                    let v = profile.integral(from: a, to: b)
                    w[i * n + j] = v
                    total += v
                }
            }
            if total > 0 { for j in 0..<n { w[i * n + j] /= total } }
        }
        return w
    }

    /// The thick-slice volume on its native grid: the affine places every slice centre at its
    /// world position, so the result overlays `volume` in a viewer.
    public func apply(to volume: Volume) throws -> Volume {
        try validate(for: volume)
        let axis = direction.axis(in: volume)
        let n = volume.shape[axis], h = volume.spacing[axis]
        let centres = sliceCentres(n: n, voxelSize: h)
        let op = try Tensor(operatorMatrix(n: n, voxelSize: h), shape: [centres.count, n])
        let data = try volume.data.to(.float32).applyingAxisOperator(op, axis: axis)
        var index = Affine.identity
        index[axis, axis] = spacing / h
        index[axis, 3] = centres[0]
        var out = Volume(data: data, affine: volume.affine * index, metadata: volume.metadata)
        if let s = inPlaneSpacing {
            var target = out.spacing
            for a in 0..<3 where a != axis { target[a] = s }
            out = try out.resampled(toSpacing: target, interpolation: .linear, antiAlias: true)
        }
        out.data = try out.data.to(.float32)
        return out
    }
}

extension Tensor {
    /// Applies a (m x n) matrix along `axis` (of size n): the axis becomes m long. One matrix
    /// product on the data as laid out (no transposed copies), in the data's precision.
    public func applyingAxisOperator(_ op: Tensor, axis: Int) throws -> Tensor {
        // A permuted view of contiguous memory (a NIfTI file's Fortran order, a transposed
        // result) is multiplied in its memory order, without a transposing copy.
        if !isContiguous {
            let order = (0..<rank).sorted { strides[$0] > strides[$1] }
            let memory = try permute(order)
            if memory.isContiguous, order != Array(0..<rank) {
                let inverse = (0..<rank).map { order.firstIndex(of: $0)! }
                return try memory.applyingAxisOperator(op, axis: order.firstIndex(of: axis)!).permute(inverse)
            }
        }
        let x = try contiguous()
        let n = shape[axis], m = op.shape[0]
        let prefix = shape[..<axis].reduce(1, *), suffix = shape[(axis + 1)...].reduce(1, *)
        let w = try op.to(dtype)
        let out: Tensor
        if suffix == 1 {
            out = try x.reshape([prefix, n]).matmul(w.transpose(0, 1))
        } else if prefix == 1 {
            out = try w.matmul(x.reshape([n, suffix]))
        } else {
            out = try w.matmul(x.reshape([prefix, n, suffix]))
        }
        var newShape = shape
        newShape[axis] = m
        return try out.reshape(newShape)
    }
}

/// An impossible or unknown degradation setting.
public enum DegradationError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(String)
    public var description: String {
        switch self { case .invalid(let m): m }
    }
}

func fmt(_ x: Double) -> String {
    let r = (x * 1000).rounded() / 1000
    return r == r.rounded() ? String(Int(r)) : String(r)
}
