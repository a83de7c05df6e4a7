import Foundation
import Imaging
import Torch

/// The in-plane degradation that makes a model's training pairs (`data.kernel`, seed 003): a
/// learned kernel file from `upres degrade learn`, or a textbook kernel built by formula (cubic
/// downscaling, seed 003's bicubic baseline, or a Gaussian blur) with its factor. Exactly one of
/// `file`, `cubic` and `gaussian` is given.
public struct KernelChoice: Codable, Sendable, Equatable {
    /// A kernel file (`upres degrade learn -o FILE`); its factor is the file's.
    public var file: String?
    /// Cubic (Keys) downscaling by this integer factor.
    public var cubic: Int?
    /// A Gaussian of these standard deviations (voxels, along rows and columns), subsampled by `factor`.
    public var gaussian: [Double]?
    public var factor: Int?
    /// The side of a kernel built by formula (odd; the learned kernels' is 13).
    public var size: Int?

    public init(file: String? = nil, cubic: Int? = nil, gaussian: [Double]? = nil, factor: Int? = nil, size: Int? = nil) {
        self.file = file
        self.cubic = cubic
        self.gaussian = gaussian
        self.factor = factor
        self.size = size
    }

    public func validate() throws {
        let given = [file != nil, cubic != nil, gaussian != nil].filter { $0 }.count
        guard given == 1 else {
            throw ModelError.invalid("data.kernel: give exactly one of file (a kernel from upres degrade learn), cubic (a factor) or gaussian (two standard deviations, with factor)")
        }
        if let c = cubic, c < 2 { throw ModelError.invalid("data.kernel.cubic \(c): the downscaling factor must be an integer >= 2") }
        if let g = gaussian {
            guard g.count == 2, g.allSatisfy({ $0 > 0 && $0.isFinite }) else {
                throw ModelError.invalid("data.kernel.gaussian \(g): expected two standard deviations > 0 (voxels, along rows and columns)")
            }
            guard let f = factor, f >= 2 else { throw ModelError.invalid("data.kernel.gaussian needs data.kernel.factor, an integer >= 2") }
        }
        if file != nil, factor != nil { throw ModelError.invalid("data.kernel.factor: a kernel file states its own factor; leave factor out") }
        if cubic != nil, factor != nil { throw ModelError.invalid("data.kernel.factor: cubic gives the factor itself; leave factor out") }
        if let s = size, s < 3 || s % 2 == 0 { throw ModelError.invalid("data.kernel.size \(s) must be odd and >= 3") }
        if file != nil, size != nil { throw ModelError.invalid("data.kernel.size: a kernel file has its own size; leave size out") }
    }

    /// The kernel, with a description and (for files) the file's SHA-256.
    public func resolve() throws -> (kernel: DegradationKernel, description: String, sha256: String?) {
        try validate()
        if let path = file {
            let url = URL(fileURLWithPath: path)
            let k: DegradationKernel
            do { k = try DegradationKernel(contentsOf: url) } catch { throw ModelError.invalid("data.kernel.file \(path): \(error)") }
            return (k, "learned kernel \(url.lastPathComponent)", try Digest.sha256(file: url))
        }
        let side = size ?? 13
        if let c = cubic { return (try DegradationKernel.cubic(factor: c, size: side), "cubic downscaling x\(c)", nil) }
        let g = gaussian!
        return (try DegradationKernel.gaussian(sigma: g, size: side, factor: factor!),
                String(format: "Gaussian blur (sigma %.3g x %.3g voxels) then x%d", g[0], g[1], factor!), nil)
    }
}

/// What a model trained on in-plane kernel pairs restores (stored in its task): slices whose
/// in-plane voxels are `factor` times the target, through-plane voxels at the target.
public struct InPlaneTask: Codable, Sendable, Equatable {
    public var factor: Int
    /// The degradation trained on, and the kernel file's SHA-256 when it came from one.
    public var kernel: String
    public var kernelSHA256: String?

    public init(factor: Int, kernel: String, kernelSHA256: String? = nil) {
        self.factor = factor
        self.kernel = kernel
        self.kernelSHA256 = kernelSHA256
    }
}

/// Training pairs for in-plane restoration (seed 003's second stage): every plane of a thin-voxel
/// volume degraded by an in-plane kernel and subsampled (`KernelDownsampling`, as `upres simulate
/// --kernel` does), then interpolated back onto the plane's grid with cubic interpolation, as
/// `upres upsample` interpolates such a scan before the model. The pair is that input and the
/// plane itself. Each volume is degraded once per slice axis when the sampler is made, so a batch
/// costs only its crops.
///
/// The kernel acts on a plane's rows and columns in a fixed order (rows along the lower-numbered
/// in-plane axis), so pairs are never transposed or turned after the degradation: the kernel's
/// anisotropy keeps its orientation. Seed 003's rotations (`rotations`) turn the anatomy instead:
/// the plane is turned by n x 45 degrees first and then degraded (on the fly, one plane). Flips and
/// intensity scaling are the other augmentation; contrast augmentation works through
/// random-contrast copies of each volume, each degraded alike.
public final class KernelPairSampler: BatchSource {
    public struct Source {
        /// For each axis the planes are cut across (0, 1, 2): the degraded volume interpolated
        /// back onto the grid, normalized (float32).
        public var inputs: [Int: Tensor]
        /// The volume itself, normalized like its inputs.
        public var target: Tensor
        public var foreground: Tensor
        public var name: String

        /// A source from an isotropic HR volume: for each axis in `axes`, the planes across it
        /// degraded by `kernel` and interpolated back (cubic), all normalized min-max on
        /// `percentiles` of the volume degraded across the first of them (as reconstruction
        /// normalizes the scan), unclipped.
        public static func degraded(hr: Volume, kernel: DegradationKernel, axes: [Int], percentiles: [Double], name: String) throws -> Source {
            guard hr.shape.count == 3 else { throw ModelError.invalid("\(name): training needs 3-D volumes, got shape \(hr.shape)") }
            guard !axes.isEmpty, axes.allSatisfy({ (0..<3).contains($0) }) else {
                throw ModelError.invalid("\(name): the axes planes are cut across must be some of 0, 1, 2, not \(axes)")
            }
            let s = hr.spacing
            guard s.max()! - s.min()! <= 1e-3 * s.max()! else {
                throw ModelError.invalid("\(name): in-plane kernel pairs need isotropic voxels, got \(s.map { String(format: "%.3g", $0) }.joined(separator: " x ")) mm; resample it first")
            }
            var v = hr
            v.data = try hr.data.to(.float32)
            var inputs: [Int: Tensor] = [:]
            var params: NormalizationParameters? = nil
            for a in axes {
                let lr = try KernelDownsampling(kernel: kernel, direction: .voxelAxis(a)).apply(to: v)
                if params == nil { params = try Reconstruction.normalize(lr, percentiles: percentiles).1 }
                let back = try KernelPairSampler.interpolated(lr, onto: hr.grid)
                inputs[a] = try params!.apply(back.data).to(.float32).contiguous()
            }
            let target = try params!.apply(v.data).to(.float32).contiguous()
            return Source(inputs: inputs, target: target, foreground: try target.gt(0.1).nonzero(), name: name)
        }
    }

    public let sources: [Source]
    public let patch: Int
    public let centres: CentreSampling
    public let flips: Bool
    public let intensityScale: Double
    /// Seed 003's rotations: with augmentation, each plane turned by n x 45 degrees (n = 0 ... 7,
    /// bilinear for the odd ones, zero where it has no data) before `kernel` degrades it.
    public var rotations: Bool = false
    /// The kernel the sources were degraded with (needed for `rotations`).
    public var kernel: DegradationKernel?
    /// The in-plane task the pairs teach (`samplers` sets it; a trainer's model files state it).
    public var task: InPlaneTask?

    public init(sources: [Source], patch: Int, centres: CentreSampling, flips: Bool = true, intensityScale: Double = 0.1) throws {
        guard !sources.isEmpty else { throw ModelError.invalid("no training data: no volumes to cut planes from") }
        guard patch >= 8 else { throw ModelError.invalid("data.patchWidth \(patch): in-plane patches need a side of at least 8") }
        for s in sources {
            guard !s.inputs.isEmpty, s.inputs.values.allSatisfy({ $0.shape == s.target.shape }), s.target.rank == 3 else {
                throw ModelError.invalid("\(s.name): inputs and target must be 3-D volumes on one grid")
            }
            for a in s.inputs.keys {
                let plane = (0..<3).filter { $0 != a }.map { s.target.shape[$0] }
                guard plane.min()! >= patch else {
                    throw ModelError.invalid("\(s.name): planes across axis \(a) are \(plane[0]) x \(plane[1]) voxels, smaller than the \(patch)-pixel training patch")
                }
            }
        }
        self.sources = sources
        self.patch = patch
        self.centres = centres
        self.flips = flips
        self.intensityScale = intensityScale
    }

    /// One plane (H, W) degraded by `kernel` and interpolated back onto its grid: the 2-D case of
    /// what `Source.degraded` does to every plane of a volume.
    public static func degradedPlane(_ plane: Tensor, kernel: DegradationKernel) throws -> Tensor {
        let v = Volume(data: try plane.to(.float32).unsqueeze(2).contiguous(), affine: .identity)
        let lr = try KernelDownsampling(kernel: kernel, direction: .voxelAxis(2)).apply(to: v)
        return try interpolated(lr, onto: v.grid).data.select(2, 0)
    }

    /// How a kernel-degraded volume is put back on a fine grid, at training and in
    /// `Reconstruction.restoreInPlane` alike: cubic, no anti-aliasing (the grid is finer).
    public static func interpolated(_ lr: Volume, onto grid: Grid) throws -> Volume {
        var v = lr
        v.data = try lr.data.to(.float32)
        return try v.resampled(onto: grid, interpolation: .cubic, antiAlias: false)
    }

    /// A batch: input and target (N, 1, P, P), planes with rows along the lower-numbered in-plane
    /// axis. Augmentation: a flip of each axis (probability 1/2 each) and one intensity scale.
    public func batch(size: Int, generator g: Generator, augment: Bool) throws -> (Tensor, Tensor) {
        func draw(_ n: Int) throws -> Int { try Tensor.randint(0, Swift.max(n, 1), [1], generator: g).itemInt() }
        var xs: [Tensor] = [], ys: [Tensor] = []
        for _ in 0..<size {
            let s = sources[try draw(sources.count)]
            let axes = s.inputs.keys.sorted()
            let across = axes[try draw(axes.count)]
            var p = try centres.draw(shape: s.target.shape, foreground: s.foreground, cumulativeWeights: nil, region: nil, generator: g).position
            var x: Tensor, y: Tensor
            guard !(augment && rotations) || kernel != nil else {
                throw ModelError.invalid("rotations need the sampler's kernel: turned planes are degraded on the fly")
            }
            let turn = augment && rotations ? try draw(8) : 0
            if turn != 0, let kernel {
                // The plane turned, then degraded and interpolated back as the sources were.
                y = try DegradedSliceSampler.rotated(s.target.select(across, p[across]), turn: turn)
                x = try Self.degradedPlane(y, kernel: kernel)
                p = DegradedSliceSampler.rotated(p, across: across, shape: s.target.shape, turn: turn)
            } else {
                x = try s.inputs[across]!.select(across, p[across])
                y = try s.target.select(across, p[across])
            }
            for (d, a) in (0..<3).filter({ $0 != across }).enumerated() {
                let start = Swift.min(Swift.max(p[a] - patch / 2, 0), s.target.shape[a] - patch)
                x = try x.narrow(d, start: start, length: patch)
                y = try y.narrow(d, start: start, length: patch)
            }
            if augment { (x, y) = try VolumePatchSampler.augmented(x, y, flips: flips, intensityScale: intensityScale, generator: g) }
            xs.append(try x.unsqueeze(0).contiguous())
            ys.append(try y.unsqueeze(0).contiguous())
        }
        return (try Tensor.stack(xs), try Tensor.stack(ys))
    }

    /// Fixed validation batches of at most 16 patches (no augmentation).
    public func validationBatches(count: Int, generator: Generator) throws -> [(Tensor, Tensor)] {
        var out: [(Tensor, Tensor)] = []
        var left = count
        while left > 0 {
            let n = Swift.min(16, left)
            out.append(try batch(size: n, generator: generator, augment: false))
            left -= n
        }
        return out
    }
}

extension KernelPairSampler {
    /// The training and validation samplers of a run on `data.kernel` pairs, and the task they
    /// teach: each of `data.trainVolumes` (and `data.validationVolumes`, else the training ones
    /// with their own draws) degraded across each of `data.directions`, turned first by
    /// `data.rotations`; with
    /// `data.contrastAugmentation`, `data.variants - 1` random-contrast copies of each too (seed
    /// 004's Gaussian mixture), degraded alike. `read` loads a volume by its path as the config
    /// names it.
    public static func samplers(_ config: TrainConfig, read: (String) throws -> Volume) throws
        -> (train: KernelPairSampler, validation: KernelPairSampler, task: InPlaneTask) {
        let data = config.data
        guard let choice = data.kernel else { throw ModelError.invalid("data.kernel is needed to train on in-plane kernel pairs") }
        guard !data.trainVolumes.isEmpty else { throw ModelError.invalid("the configuration gives no data.trainVolumes") }
        let (kernel, description, sha) = try choice.resolve()
        let axes = data.directions
        guard !axes.isEmpty, axes.allSatisfy({ (0..<3).contains($0) }), Set(axes).count == axes.count else {
            throw ModelError.invalid("data.directions \(axes): the axes planes are cut across, each of 0, 1, 2 at most once")
        }
        let percentiles = config.task.normalizationPercentiles
        let g = try Generator(seed: config.seed &+ 40)
        func sources(_ p: String) throws -> [Source] {
            let v = try read(p)
            var out = [try Source.degraded(hr: v, kernel: kernel, axes: axes, percentiles: percentiles, name: p)]
            guard data.contrastAugmentation else { return out }
            let base = try DegradedSliceSampler.Source.volume(v, name: p, percentiles: percentiles, mixture: true)
            for k in 1..<Swift.max(data.variants, 1) {
                var changed = v
                changed.data = try DegradedSliceSampler.randomContrast(base.volume, mixture: base.mixture!, generator: g)
                out.append(try Source.degraded(hr: changed, kernel: kernel, axes: axes, percentiles: percentiles, name: "\(p) (contrast \(k))"))
            }
            return out
        }
        let centres = CentreSampling(foregroundFraction: data.foregroundFraction)
        let task = InPlaneTask(factor: kernel.factor, kernel: description, kernelSHA256: sha)
        func make(_ paths: [String]) throws -> KernelPairSampler {
            let sampler = try KernelPairSampler(sources: try paths.flatMap { try sources($0) }, patch: data.patchWidth, centres: centres,
                                                flips: data.flips, intensityScale: data.intensityScale)
            sampler.rotations = data.rotations
            sampler.kernel = kernel
            sampler.task = task
            return sampler
        }
        let train = try make(data.trainVolumes)
        let validation = data.validationVolumes.isEmpty ? train : try make(data.validationVolumes)
        return (train, validation, task)
    }
}
