import Foundation
import Torch

/// An in-plane degradation: a 2-D point spread function on the high-resolution voxel grid, then
/// every `factor`-th voxel kept along both in-plane axes (seed 003's "downsampling kernel").
///
/// Convention (also written into kernel files): the kernel sees a slice as an image whose rows run
/// along the lower-numbered of the two in-plane voxel axes and whose columns run along the other
/// (for slices normal to voxel axis 2, rows = axis 0, columns = axis 1). `weights` is row-major,
/// `size` x `size`, odd, centred: entry (r, c) weighs the voxel at offset (r - h, c - h),
/// h = (size - 1) / 2. Applying it is a true convolution, y(p) = sum_d k(d) x(p - d), evaluated at
/// p = offset + factor * j; k is the response of the degradation to a single bright voxel.
public struct DegradationKernel: Sendable, Equatable, Codable {
    public var size: Int
    public var factor: Int
    public var weights: [Double]
    /// Where the kernel came from (nil for kernels built by formula).
    public var provenance: KernelProvenance?

    public init(weights: [Double], size: Int, factor: Int, provenance: KernelProvenance? = nil) throws {
        guard size >= 1, size % 2 == 1 else { throw DegradationError.invalid("kernel size \(size) must be odd and >= 1") }
        guard weights.count == size * size else {
            throw DegradationError.invalid("kernel of size \(size) needs \(size * size) weights, got \(weights.count)")
        }
        guard weights.allSatisfy(\.isFinite) else { throw DegradationError.invalid("kernel weights must be finite") }
        guard factor >= 1 else { throw DegradationError.invalid("kernel downsampling factor \(factor) must be >= 1") }
        self.size = size
        self.factor = factor
        self.weights = weights
        self.provenance = provenance
    }

    /// The weights as a (size, size) float64 tensor.
    public func tensor() throws -> Tensor { try Tensor(weights, shape: [size, size]) }

    public var sum: Double { weights.reduce(0, +) }

    /// The centre of mass, as (row, column) offsets from the central entry, in high-resolution voxels.
    public var centroidOffset: [Double] {
        let h = Double(size - 1) / 2, s = sum
        guard s != 0 else { return [0, 0] }
        var r = 0.0, c = 0.0
        for i in 0..<size { for j in 0..<size { r += weights[i * size + j] * Double(i); c += weights[i * size + j] * Double(j) } }
        return [r / s - h, c / s - h]
    }

    /// The spread along rows and columns: the square roots of the second central moments (in
    /// voxels; a sampled Gaussian's sigma, slightly less for sigma near the kernel's half-size).
    /// NaN where negative lobes make a moment negative.
    public var standardDeviations: [Double] {
        let s = sum, c = centroidOffset, h = Double(size - 1) / 2
        guard s != 0 else { return [.nan, .nan] }
        var vr = 0.0, vc = 0.0
        for i in 0..<size {
            for j in 0..<size {
                let w = weights[i * size + j] / s
                vr += w * (Double(i) - h - c[0]) * (Double(i) - h - c[0])
                vc += w * (Double(j) - h - c[1]) * (Double(j) - h - c[1])
            }
        }
        return [vr, vc].map { $0 >= 0 ? $0.squareRoot() : .nan }
    }

    /// The same kernel scaled to sum to one.
    public func normalized() throws -> DegradationKernel {
        let s = sum
        guard s.isFinite, abs(s) > 1e-12 else { throw DegradationError.invalid("the kernel sums to \(s); it cannot be normalized") }
        var k = self
        k.weights = weights.map { $0 / s }
        return k
    }

    /// The L2 (Frobenius) distance between two kernels of the same size.
    public func distance(to other: DegradationKernel) throws -> Double {
        guard other.size == size else { throw DegradationError.invalid("kernels of sizes \(size) and \(other.size) cannot be compared") }
        return zip(weights, other.weights).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
    }

    /// A sampled 2-D Gaussian (standard deviations in voxels along rows and columns), normalized to sum to one.
    public static func gaussian(sigma: [Double], size: Int = 13, factor: Int = 2) throws -> DegradationKernel {
        guard sigma.count == 2, sigma.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw DegradationError.invalid("a Gaussian kernel needs two standard deviations > 0, got \(sigma)")
        }
        let h = (size - 1) / 2
        var w = [Double](repeating: 0, count: size * size)
        for i in 0..<size {
            for j in 0..<size {
                let y = Double(i - h) / sigma[0], x = Double(j - h) / sigma[1]
                w[i * size + j] = Foundation.exp(-0.5 * (y * y + x * x))
            }
        }
        return try DegradationKernel(weights: w, size: size, factor: factor).normalized()
    }

    /// Cubic (Keys, a = -0.5) downscaling by `factor` as a centred kernel: the separable weights
    /// cubic(d / factor), d = -h..h, normalized; seed 003's bicubic reference, on the same grid
    /// as the learned kernel so that the two can be compared voxel for voxel.
    public static func cubic(factor: Int, size: Int = 13) throws -> DegradationKernel {
        func keys(_ t: Double) -> Double {
            let a = -0.5, x = abs(t)
            if x <= 1 { return (a + 2) * x * x * x - (a + 3) * x * x + 1 }
            if x < 2 { return a * x * x * x - 5 * a * x * x + 8 * a * x - 4 * a }
            return 0
        }
        let h = (size - 1) / 2
        let line = (0..<size).map { keys(Double($0 - h) / Double(factor)) }
        var w = [Double](repeating: 0, count: size * size)
        for i in 0..<size { for j in 0..<size { w[i * size + j] = line[i] * line[j] } }
        return try DegradationKernel(weights: w, size: size, factor: factor).normalized()
    }

    /// The number of low-resolution voxels and the first sampled high-resolution index along an
    /// axis of `n` voxels: ceil(n / factor) samples, centred in the field of view as far as
    /// whole voxels allow.
    public func sampling(n: Int) -> (count: Int, offset: Int) {
        let m = (n + factor - 1) / factor
        return (m, ((n - 1) - factor * (m - 1)) / 2)
    }

    /// Degrades (N, C, H, W) images: reflect padding of (size - 1) / 2, convolution with the
    /// kernel (`conv2d` with the flipped weights), and every `factor`-th voxel from `sampling(n:)`'s
    /// offsets. Keeps the input's dtype.
    public func apply(toImages x: Tensor) throws -> Tensor {
        guard x.rank == 4 else { throw DegradationError.invalid("kernel degradation expects (N, C, H, W) images, got \(x.shape)") }
        let h = (size - 1) / 2, (hh, ww) = (x.shape[2], x.shape[3])
        guard hh > h, ww > h else {
            throw DegradationError.invalid("a \(hh)x\(ww) image is too small for a \(size)x\(size) kernel (each side must exceed \(h) voxels)")
        }
        let c = x.shape[1]
        let (rows, cols) = (sampling(n: hh), sampling(n: ww))
        let k = try tensor().flip([0, 1]).to(x.dtype).reshape([1, 1, size, size]).expand([c, 1, size, size]).contiguous()
        let padded = try x.pad([h, h, h, h], mode: .reflect)
        let cropped = try padded.narrow(2, start: rows.offset, length: hh + 2 * h - rows.offset)
            .narrow(3, start: cols.offset, length: ww + 2 * h - cols.offset)
        let y = try cropped.conv2d(k, stride: [factor, factor], groups: c)
        return try y.narrow(2, start: 0, length: rows.count).narrow(3, start: 0, length: cols.count)
    }
}

/// Where a learned kernel came from: the scans (with their SHA-256), the plane, the settings and
/// the final losses, so that a kernel file can be traced and its learning rerun.
public struct KernelProvenance: Sendable, Equatable, Codable {
    public struct Scan: Sendable, Equatable, Codable {
        public var path: String
        public var sha256: String
        public var shape: [Int]
        public var spacing: [Double]
        /// The voxel axis the slices were stacked along (the kernel acts in the other two).
        public var sliceAxis: Int
        public init(path: String, sha256: String, shape: [Int], spacing: [Double], sliceAxis: Int) {
            self.path = path
            self.sha256 = sha256
            self.shape = shape
            self.spacing = spacing
            self.sliceAxis = sliceAxis
        }
    }

    public var tool: String
    public var method: String
    /// The real low-resolution scans the discriminator learned from.
    public var scans: [Scan]
    /// The high-resolution scans the generator degraded (empty: the scans themselves).
    public var highResolutionScans: [Scan]
    public var iterations: Int
    public var seed: UInt64
    /// The learning settings as JSON.
    public var settings: String
    /// The last iteration's loss terms (and their averages over the last 100 iterations).
    public var finalLosses: [String: Double]
    /// The kernel's sum before it was normalized to one.
    public var rawSum: Double
    public var seconds: Double

    public init(tool: String, method: String, scans: [Scan], highResolutionScans: [Scan], iterations: Int, seed: UInt64,
                settings: String, finalLosses: [String: Double], rawSum: Double, seconds: Double) {
        self.tool = tool
        self.method = method
        self.scans = scans
        self.highResolutionScans = highResolutionScans
        self.iterations = iterations
        self.seed = seed
        self.settings = settings
        self.finalLosses = finalLosses
        self.rawSum = rawSum
        self.seconds = seconds
    }
}
