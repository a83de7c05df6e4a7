import Foundation
import Imaging
import Torch

/// One LR volume and its HR target, both normalized, with the slice axis last: LR (A, B, K)
/// and HR rows aligned to the model's output rows, (A, B, factor K). HR row factor k + r is the
/// HR slice at LR slice k's centre + (r - floor(factor / 2)) HR voxels.
public struct TrainingStack: @unchecked Sendable {
    public var lr: Tensor
    public var hr: Tensor
    /// Foreground LR positions (M, 3) for brain-biased sampling.
    public var foreground: Tensor
    public var name: String
}

/// How training pairs are made and sampled.
public struct DataConfig: Codable, Sendable, Equatable {
    /// A paired-dataset manifest (upres simulate --dataset); or nil to simulate on the fly.
    public var manifest: String?
    /// HR volumes to simulate from on the fly (train split), and for validation.
    public var trainVolumes: [String]
    public var validationVolumes: [String]
    /// On the fly: LR variants per HR volume and slice direction (random profile, thickness
    /// jitter, slice phase, noise, bias).
    public var variants: Int
    /// The voxel axes of the HR volumes made thick (all three: more anatomy seen through-plane).
    public var directions: [Int]
    /// Slice thickness (mm) and its random jitter.
    public var thickness: Double
    public var thicknessJitter: Double
    /// Patch size: in-plane width (HR = LR) and LR rows.
    public var patchWidth: Int
    public var patchRows: Int
    /// Fraction of patches centred on the foreground.
    public var foregroundFraction: Double
    /// Augmentation: random flips (the in-plane dihedral transforms that keep the slice axis),
    /// intensity scaling by U(1 - s, 1 + s), Gaussian noise of SD up to this (normalized units).
    public var flips: Bool
    public var intensityScale: Double
    public var noise: Double
    /// Validation: patches drawn once, with their own seed.
    public var validationPatches: Int
    /// On the fly: a random bias field (strength up to 0.15) and Rician noise (SNR 15 to 60),
    /// each on half of the variants.
    public var simulateBias: Bool = true
    public var simulateNoise: Bool = true

    public init(manifest: String? = nil, trainVolumes: [String] = [], validationVolumes: [String] = [], variants: Int = 4,
                directions: [Int] = [0, 1, 2], thickness: Double = 5, thicknessJitter: Double = 0.5, patchWidth: Int = 48,
                patchRows: Int = 8, foregroundFraction: Double = 0.9, flips: Bool = true, intensityScale: Double = 0.1,
                noise: Double = 0.01, validationPatches: Int = 32) {
        self.manifest = manifest
        self.trainVolumes = trainVolumes
        self.validationVolumes = validationVolumes
        self.variants = variants
        self.directions = directions
        self.thickness = thickness
        self.thicknessJitter = thicknessJitter
        self.patchWidth = patchWidth
        self.patchRows = patchRows
        self.foregroundFraction = foregroundFraction
        self.flips = flips
        self.intensityScale = intensityScale
        self.noise = noise
        self.validationPatches = validationPatches
    }
}

/// Builds stacks and samples batches from them, every draw from one seeded generator.
public final class PatchSampler {
    public let stacks: [TrainingStack]
    let config: DataConfig
    let factor: Int
    let channels: Int

    public init(stacks: [TrainingStack], config: DataConfig, factor: Int, channels: Int) throws {
        guard !stacks.isEmpty else { throw ModelError.invalid("no training data: the data configuration gives no volumes") }
        self.stacks = stacks
        self.config = config
        self.factor = factor
        self.channels = channels
        for s in stacks where s.lr.shape[2] < config.patchRows || Swift.min(s.lr.shape[0], s.lr.shape[1]) < config.patchWidth {
            throw ModelError.invalid("\(s.name): LR \(s.lr.shape) is smaller than a patch (\(config.patchWidth) x \(config.patchRows) rows)")
        }
    }

    /// A batch: LR (N, C, rows, width), HR (N, 1, factor rows, width).
    public func batch(size: Int, generator: Generator, augment: Bool = true) throws -> (Tensor, Tensor) {
        var lrs: [Tensor] = [], hrs: [Tensor] = []
        let half = channels / 2
        for _ in 0..<size {
            func draw(_ n: Int) throws -> Int { try Tensor.randint(0, Swift.max(n, 1), [1], generator: generator).itemInt() }
            let stack = stacks[try draw(stacks.count)]
            let (a, b, k) = (stack.lr.shape[0], stack.lr.shape[1], stack.lr.shape[2])
            // Slice across A (planes B x K) or across B (planes A x K).
            let acrossA = try draw(2) == 0
            let (depth, width) = acrossA ? (a, b) : (b, a)
            var pos: [Int]
            let u = try Tensor.rand([1], dtype: .float64, generator: generator).item()
            if u < config.foregroundFraction && stack.foreground.shape[0] > 0 {
                let row = try stack.foreground.select(0, draw(stack.foreground.shape[0])).toArray(Int64.self).map(Int.init)
                pos = acrossA ? [row[0], row[1], row[2]] : [row[1], row[0], row[2]]
            } else {
                pos = [try draw(depth), try draw(width), try draw(k)]
            }
            let d = Swift.min(Swift.max(pos[0], half), depth - 1 - half)
            let w0 = Swift.min(Swift.max(pos[1] - config.patchWidth / 2, 0), width - config.patchWidth)
            let k0 = Swift.min(Swift.max(pos[2] - config.patchRows / 2, 0), k - config.patchRows)
            // (C, rows, width) LR and (1, factor rows, width) HR.
            let lrView = acrossA ? stack.lr : try stack.lr.transpose(0, 1)
            let hrView = acrossA ? stack.hr : try stack.hr.transpose(0, 1)
            var lr = try lrView.narrow(0, start: d - half, length: channels).narrow(1, start: w0, length: config.patchWidth)
                .narrow(2, start: k0, length: config.patchRows).transpose(1, 2)
            var hr = try hrView.narrow(0, start: d, length: 1).narrow(1, start: w0, length: config.patchWidth)
                .narrow(2, start: k0 * factor, length: config.patchRows * factor).transpose(1, 2)
            if augment {
                if config.flips {
                    // The flips that keep the geometry: across the width, across the slicing
                    // direction (the neighbours' order), and along the slice axis when the
                    // factor is odd (for even factors the output rows are not symmetric about
                    // the acquired slice, so that flip would misalign LR and HR by one row).
                    if try draw(2) == 1 { lr = try lr.flip([2]); hr = try hr.flip([2]) }
                    if try draw(2) == 1 { lr = try lr.flip([0]) }
                    if factor % 2 == 1, try draw(2) == 1 { lr = try lr.flip([1]); hr = try hr.flip([1]) }
                }
                if config.intensityScale > 0 {
                    let s = 1 + config.intensityScale * (2 * (try Tensor.rand([1], dtype: .float64, generator: generator).item()) - 1)
                    lr = try lr * s
                    hr = try hr * s
                }
                if config.noise > 0 {
                    let sd = config.noise * (try Tensor.rand([1], dtype: .float64, generator: generator).item())
                    lr = try lr + Tensor.randn(lr.shape, generator: generator) * sd
                }
            }
            lrs.append(try lr.contiguous())
            hrs.append(try hr.contiguous())
        }
        return (try Tensor.stack(lrs), try Tensor.stack(hrs))
    }
}

/// Simulation of training stacks on the fly (seed 001's y = D B R(x) with random variations).
public enum StackBuilder {
    /// Stacks from one HR volume: for each direction and variant, an LR volume thick along that
    /// axis, normalized with clipped min-max (p1, p99) of the LR as inference does.
    public static func simulate(hr volume: Volume, name: String, config: DataConfig, task: ModelTask, factor: Int,
                                seed: UInt64) throws -> [TrainingStack] {
        let g = try Generator(seed: seed)
        func uniform() throws -> Double { try Tensor.rand([1], dtype: .float64, generator: g).item() }
        var out: [TrainingStack] = []
        let base = try volume.data.to(.float32)
        for axis in config.directions {
            let h = volume.spacing[axis]
            guard Swift.abs(task.sliceSpacing / h - Double(factor)) < 1e-3 else {
                throw ModelError.invalid("\(name): slice spacing \(task.sliceSpacing) mm / voxel size \(h) mm along axis \(axis) is not the model's factor \(factor)")
            }
            let n = volume.shape[axis]
            for v in 0..<config.variants {
                let profiles: [SliceProfile] = [.rectangular, .rectangular, .gaussian, .sinc]
                let profile = profiles[Int(try uniform() * Double(profiles.count)) % profiles.count]
                let thickness = config.thickness + config.thicknessJitter * (2 * (try uniform()) - 1)
                let phase = Int(try uniform() * Double(factor)) % factor
                let first = factor / 2 + phase
                let count = (n - 1 - first - (factor - 1 - factor / 2)) / factor + 1
                guard count >= 2 else { continue }
                let centres = (0..<count).map { Double(first + $0 * factor) }
                let acquisition = SliceAcquisition(direction: .voxelAxis(axis), thickness: thickness, spacing: task.sliceSpacing,
                                                   profile: profile)
                var hrData = base
                if try uniform() < 0.5 && config.simulateBias {
                    let field = try BiasField(strength: 0.15 * (try uniform())).field(shape: volume.shape, generator: g)
                    hrData = try (hrData * field.to(.float32))
                }
                let op = try Tensor(acquisition.operatorMatrix(centres: centres, n: n, voxelSize: h), shape: [count, n])
                var lr = try hrData.applyingAxisOperator(op, axis: axis)
                if try uniform() < 0.5 && config.simulateNoise {
                    let noise = NoiseModel(kind: .rician, snr: 15 + 45 * (try uniform()))
                    lr = try noise.apply(to: lr, sigma: noise.sigma(for: hrData, mask: nil), generator: g)
                }
                // HR rows aligned with the output rows.
                let rows = (0..<(count * factor)).map { Int64(first + ($0 / factor) * factor + $0 % factor - factor / 2) }
                let hrRows = try hrData.indexSelect(axis, Tensor(rows))
                let perm = (0..<3).filter { $0 != axis } + [axis]
                out.append(try makeStack(lr: lr.permute(perm), hr: hrRows.permute(perm), percentiles: task.normalizationPercentiles,
                                         name: "\(name) axis \(axis) variant \(v)"))
            }
        }
        return out
    }

    /// Normalizes both with the LR's clipped min-max parameters and finds the foreground.
    public static func makeStack(lr: Tensor, hr: Tensor, percentiles: [Double], name: String) throws -> TrainingStack {
        let lrV = Volume(data: try lr.contiguous(), affine: .identity)
        let (normLR, params) = try lrV.normalized(.clippedMinMax(lower: percentiles[0], upper: percentiles[1]))
        let hrN = try ((hr.to(.float64) - params.offset) / params.scale).to(.float32).contiguous()
        let fg = try normLR.data.gt(0.1).nonzero()
        return TrainingStack(lr: try normLR.data.to(.float32).contiguous(), hr: hrN, foreground: fg, name: name)
    }
}
