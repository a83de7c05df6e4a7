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
    /// What a training sample is: a patch (patchWidth x patchRows LR rows) or a whole slice
    /// (every row and column; a batch then holds slices of one stack and direction).
    public var sampling: Sampling = .patches
    /// On the fly: each variant first gets one of the 8 dihedral transforms (rotations by 90
    /// degrees and reflections) of the acquisition plane, so that every in-plane orientation
    /// of the anatomy is seen with thick slices across it.
    public var dihedral: Bool = true
    /// Training on planes of thin-voxel volumes (models on the output grid, and one-channel
    /// thick-slice models): the through-plane degradations drawn for each pair (slice spacing
    /// range in mm, thickness / spacing, profiles). Thick-slice models need the spacing to be
    /// their factor times the voxel size.
    public var degradation: DegradationRange?
    /// Models on the output grid: seed 004's Gaussian-mixture contrast change on each pair, so
    /// that one model serves T1-, T2-, FLAIR- and PD-like scans.
    public var contrastAugmentation: Bool = false
    /// Conditioned models (seed 004): each training or validation volume's subject features
    /// (age, sex, diagnosis ..., as numbers), keyed by the volume's path as the config names it.
    public var context: [String: [Double]]?
    /// Models fusing contrasts (`task.inputContrasts`): one volume per contrast and subject,
    /// e.g. [{T1w: a_t1.nii.gz, T2w: a_t2.nii.gz, FLAIR: a_flair.nii.gz}]; the subject's
    /// contrasts must share one grid (co-registered). Used instead of trainVolumes.
    public var subjects: [[String: String]]?
    public var validationSubjects: [[String: String]]?
    /// 3-D models (restoration on one grid, seed 002): how each HR volume is degraded into the
    /// model's input, e.g. {"model": {"kspace": {"factor": 4, "axes": [0, 1, 2], "mode": "3d", ...}}}
    /// (the JSON of `upres simulate`'s sidecar `settings`); the output must stay on the HR grid.
    /// `patchWidth` is then the side of the cubic patches.
    public var simulation: SimulationSettings?
    /// Region-balanced sampling (seed 002): this fraction of the patches is centred in a region
    /// mask (the cerebellum), the rest drawn as usual. Planes (data.degradation) and 3-D models.
    public var balance: RegionBalance?
    /// Seed 003's rotations: each training plane turned by n x 45 degrees (n = 0 ... 7) before it
    /// is degraded. Planes (data.degradation or data.kernel) only; the thick-stack path has `dihedral`.
    public var rotations: Bool = false
    /// Seed 003's second stage: models on the output grid trained to undo an in-plane degradation
    /// (a learned kernel from `upres degrade learn`, or a textbook one): every plane degraded by
    /// the kernel, subsampled, and interpolated back (`KernelPairSampler`). Instead of
    /// data.degradation; the model then restores in-plane (`ModelTask.inPlane`).
    public var kernel: KernelChoice?

    /// A region mask and the fraction of patches drawn from it.
    public struct RegionBalance: Codable, Sendable, Equatable {
        /// A NIfTI mask (non-zero inside), carried onto each training volume's grid through world
        /// coordinates (nearest neighbour): one mask in template space serves every volume there.
        public var mask: String
        public var fraction: Double

        public init(mask: String, fraction: Double = 0.5) {
            self.mask = mask
            self.fraction = fraction
        }

        public func validate() throws {
            guard (0...1).contains(fraction) else { throw ModelError.invalid("data.balance.fraction \(fraction) must be in [0, 1]") }
            guard !mask.isEmpty else { throw ModelError.invalid("data.balance.mask: give the region mask's path") }
        }
    }

    public enum Sampling: String, Codable, Sendable, CaseIterable { case patches, slices }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case manifest, trainVolumes, validationVolumes, variants, directions, thickness, thicknessJitter, patchWidth, patchRows,
             foregroundFraction, flips, intensityScale, noise, validationPatches, simulateBias, simulateNoise, sampling, dihedral,
             degradation, contrastAugmentation, context, subjects, validationSubjects, simulation, balance, rotations, kernel
    }

    /// Checks the fields the model's contract needs.
    public func validate(for contract: InputContract) throws {
        try balance?.validate()
        if let k = kernel {
            try k.validate()
            guard contract == .outputGrid(channels: 1) else {
                throw ModelError.invalid("data.kernel trains a one-channel model on the output grid (an in-plane restoration); this model takes \(contract)")
            }
            guard degradation == nil, manifest == nil, simulation == nil, subjects == nil else {
                throw ModelError.invalid("data.kernel makes the pairs itself: leave out data.degradation, data.manifest, data.simulation and data.subjects")
            }
            guard balance == nil else { throw ModelError.invalid("data.balance is not available with data.kernel") }
            return
        }
        if simulation != nil, contract.isVolume == false {
            throw ModelError.invalid("data.simulation makes pairs for 3-D models; 2-D models take data.degradation or data.manifest")
        }
        switch contract {
        case .thickSlices where degradation == nil:
            guard !rotations else {
                throw ModelError.invalid("data.rotations turns the planes trained on: give data.degradation (planes); simulated stacks have data.dihedral")
            }
            guard balance == nil else {
                throw ModelError.invalid("data.balance draws patches from a region of the volumes trained on: give data.degradation (planes), not simulated stacks")
            }
            guard !contrastAugmentation else {
                throw ModelError.invalid("data.contrastAugmentation applies to training on planes (data.degradation); give data.degradation too")
            }
        case .thickSlices(let channels, _):
            guard channels == 1 else {
                throw ModelError.invalid("data.degradation trains on single planes: the model must take 1 channel, not \(channels)")
            }
            guard manifest == nil else {
                throw ModelError.invalid("data.manifest and data.degradation exclude each other: pairs come from the dataset or from planes")
            }
            try degradation!.validate()
        case .outputGrid:
            guard manifest == nil else {
                throw ModelError.invalid("data.manifest: models on the output grid train on planes of thin-voxel volumes (data.trainVolumes), not on simulated pairs")
            }
            guard let d = degradation else {
                throw ModelError.invalid("data.degradation (spacing, thicknessRatio, profiles) is needed to train a model on the output grid")
            }
            try d.validate()
        case .volume:
            guard manifest == nil, degradation == nil else {
                throw ModelError.invalid("3-D models train on pairs made by data.simulation from data.trainVolumes, not on data.manifest or data.degradation")
            }
            guard let sim = simulation else {
                throw ModelError.invalid("data.simulation is needed to train a 3-D model (e.g. {\"model\": {\"kspace\": {\"factor\": 4, \"axes\": [0, 1, 2], \"mode\": \"3d\"}}})")
            }
            guard case .kspace(let k) = sim.model, !k.reducedMatrix else {
                throw ModelError.invalid("data.simulation: a 3-D model restores on one grid, so its pairs must stay on the HR grid: k-space truncation, zero-filled (not \(sim.model.name)\(sim.model.name == "kspace" ? " on the reduced matrix" : ""))")
            }
            guard !rotations else { throw ModelError.invalid("data.rotations turns 2-D planes; 3-D patches are flipped along each axis") }
            guard patchWidth >= 8 else { throw ModelError.invalid("data.patchWidth \(patchWidth): 3-D patches need a side of at least 8") }
        }
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = DataConfig()
        manifest = try c.decodeIfPresent(String.self, forKey: .manifest)
        trainVolumes = try c.value(.trainVolumes, or: d.trainVolumes)
        validationVolumes = try c.value(.validationVolumes, or: d.validationVolumes)
        variants = try c.value(.variants, or: d.variants)
        directions = try c.value(.directions, or: d.directions)
        thickness = try c.value(.thickness, or: d.thickness)
        thicknessJitter = try c.value(.thicknessJitter, or: d.thicknessJitter)
        patchWidth = try c.value(.patchWidth, or: d.patchWidth)
        patchRows = try c.value(.patchRows, or: d.patchRows)
        foregroundFraction = try c.value(.foregroundFraction, or: d.foregroundFraction)
        flips = try c.value(.flips, or: d.flips)
        intensityScale = try c.value(.intensityScale, or: d.intensityScale)
        noise = try c.value(.noise, or: d.noise)
        validationPatches = try c.value(.validationPatches, or: d.validationPatches)
        simulateBias = try c.value(.simulateBias, or: d.simulateBias)
        simulateNoise = try c.value(.simulateNoise, or: d.simulateNoise)
        sampling = try c.value(.sampling, or: d.sampling)
        dihedral = try c.value(.dihedral, or: d.dihedral)
        degradation = try c.decodeIfPresent(DegradationRange.self, forKey: .degradation)
        contrastAugmentation = try c.value(.contrastAugmentation, or: d.contrastAugmentation)
        context = try c.decodeIfPresent([String: [Double]].self, forKey: .context)
        subjects = try c.decodeIfPresent([[String: String]].self, forKey: .subjects)
        validationSubjects = try c.decodeIfPresent([[String: String]].self, forKey: .validationSubjects)
        simulation = try c.decodeIfPresent(SimulationSettings.self, forKey: .simulation)
        balance = try c.decodeIfPresent(RegionBalance.self, forKey: .balance)
        rotations = try c.value(.rotations, or: d.rotations)
        kernel = try c.decodeIfPresent(KernelChoice.self, forKey: .kernel)
    }

    /// Each subject's volumes in the order of `contrasts` (the task's input contrasts),
    /// refusing a subject that lacks one.
    public func subjectVolumes(_ list: [[String: String]], contrasts: [String]) throws -> [[String]] {
        try list.enumerated().map { i, subject in
            try contrasts.map { c in
                guard let path = subject[c] else {
                    throw ModelError.invalid("data.subjects[\(i)] has no \(c) volume; the model takes \(contrasts.joined(separator: ", ")) (it has \(subject.keys.sorted().joined(separator: ", ")))")
                }
                return path
            }
        }
    }

    /// The subject features of `volume` for a model expecting `count` of them: nil when it
    /// expects none, else the config's, which must exist and have that length.
    public func contextFeatures(of volume: String, count: Int) throws -> [Double]? {
        guard count > 0 else { return nil }
        guard let f = context?[volume] else {
            throw ModelError.invalid("data.context has no subject features for \(volume); the model takes \(count) (give data.context: {\"\(volume)\": [...]})")
        }
        guard f.count == count, f.allSatisfy(\.isFinite) else {
            throw ModelError.invalid("data.context[\(volume)]: \(f.count) features; the model takes \(count) finite numbers")
        }
        return f
    }

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
        for s in stacks where Swift.min(s.lr.shape[0], s.lr.shape[1]) < channels {
            throw ModelError.invalid("\(s.name): LR \(s.lr.shape) has fewer slices across than the model's \(channels) input channels")
        }
        if config.sampling == .patches {
            for s in stacks where s.lr.shape[2] < config.patchRows || Swift.min(s.lr.shape[0], s.lr.shape[1]) < config.patchWidth {
                throw ModelError.invalid("\(s.name): LR \(s.lr.shape) is smaller than a patch (\(config.patchWidth) x \(config.patchRows) rows)")
            }
        }
    }

    /// Fixed validation samples (no augmentation): one batch of patches, or whole slices in
    /// batches of one stack and direction each.
    public func validationBatches(count: Int, generator: Generator) throws -> [(Tensor, Tensor)] {
        guard config.sampling == .slices else { return [try batch(size: count, generator: generator, augment: false)] }
        return try (0..<count).map { _ in try batch(size: 1, generator: generator, augment: false) }
    }

    /// A batch of whole slices from one stack, sliced across one of its two in-plane axes.
    func sliceBatch(size: Int, generator: Generator, augment: Bool) throws -> (Tensor, Tensor) {
        func draw(_ n: Int) throws -> Int { try Tensor.randint(0, Swift.max(n, 1), [1], generator: generator).itemInt() }
        let stack = stacks[try draw(stacks.count)]
        let acrossA = try draw(2) == 0
        let depth = stack.lr.shape[acrossA ? 0 : 1]
        let half = channels / 2
        let lrView = acrossA ? stack.lr : try stack.lr.transpose(0, 1)
        let hrView = acrossA ? stack.hr : try stack.hr.transpose(0, 1)
        var lrs: [Tensor] = [], hrs: [Tensor] = []
        for _ in 0..<size {
            var d: Int
            let u = try Tensor.rand([1], dtype: .float64, generator: generator).item()
            if u < config.foregroundFraction && stack.foreground.shape[0] > 0 {
                d = try stack.foreground.select(0, draw(stack.foreground.shape[0])).select(0, acrossA ? 0 : 1).itemInt()
            } else {
                d = try draw(depth)
            }
            d = Swift.min(Swift.max(d, half), depth - 1 - half)
            let lr = try lrView.narrow(0, start: d - half, length: channels).transpose(1, 2)  // C, K, W
            let hr = try hrView.narrow(0, start: d, length: 1).transpose(1, 2)  // 1, fK, W
            let (a, b) = augment ? try augmented(lr, hr, generator: generator) : (lr, hr)
            lrs.append(try a.contiguous())
            hrs.append(try b.contiguous())
        }
        return (try Tensor.stack(lrs), try Tensor.stack(hrs))
    }

    /// Flips that keep the geometry, intensity scaling and noise, on one (C, rows, width) LR
    /// sample and its (1, factor rows, width) HR target.
    func augmented(_ lrIn: Tensor, _ hrIn: Tensor, generator: Generator) throws -> (Tensor, Tensor) {
        func draw(_ n: Int) throws -> Int { try Tensor.randint(0, Swift.max(n, 1), [1], generator: generator).itemInt() }
        var lr = lrIn, hr = hrIn
        if config.flips {
            // Across the width, across the slicing direction (the neighbours' order), and along
            // the slice axis when the factor is odd (for even factors the output rows are not
            // symmetric about the acquired slice, so that flip would misalign LR and HR by a row).
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
        return (lr, hr)
    }

    /// A batch: LR (N, C, rows, width), HR (N, 1, factor rows, width).
    public func batch(size: Int, generator: Generator, augment: Bool = true) throws -> (Tensor, Tensor) {
        if config.sampling == .slices { return try sliceBatch(size: size, generator: generator, augment: augment) }
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
            if augment { (lr, hr) = try augmented(lr, hr, generator: generator) }
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
                if config.dihedral {
                    hrData = try dihedralTransform(base, axis: axis, index: Int(try uniform() * 8) % 8,
                                                   squarePixels: Swift.abs(volume.spacing[(axis + 1) % 3] - volume.spacing[(axis + 2) % 3]) < 1e-6)
                }
                if try uniform() < 0.5 && config.simulateBias {
                    let field = try BiasField(strength: 0.15 * (try uniform())).field(shape: hrData.shape, generator: g)
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

    /// The dihedral transform `index` (0..<8) of the plane across `axis`: bit 0 flips the first
    /// in-plane axis, bit 1 the second, bit 2 swaps them (a transpose; with the flips, the 90
    /// degree rotations), skipped when the in-plane voxels are not square.
    public static func dihedralTransform(_ x: Tensor, axis: Int, index: Int, squarePixels: Bool = true) throws -> Tensor {
        let (p, q) = ((0..<3).filter { $0 != axis }[0], (0..<3).filter { $0 != axis }[1])
        var y = x
        if index & 1 != 0 { y = try y.flip([p]) }
        if index & 2 != 0 { y = try y.flip([q]) }
        if index & 4 != 0 && squarePixels { y = try y.transpose(p, q) }
        return y
    }

    /// A stack from a simulated pair (`upres simulate --dataset`): the LR on its native thick
    /// grid, whose slice axis is an HR voxel axis with `factor` HR voxels per slice and whose
    /// slice centres fall on HR voxels; the other axes share the HR grid. HR rows are taken at
    /// each slice centre + (r - floor(factor / 2)), as the model's output rows are laid out;
    /// slices whose rows leave the HR volume are dropped.
    public static func paired(hr: Volume, lr: Volume, name: String, task: ModelTask, factor: Int) throws -> TrainingStack {
        guard hr.shape.count == 3, lr.shape.count == 3 else {
            throw ModelError.invalid("\(name): training pairs must be 3-D volumes (HR \(hr.shape), LR \(lr.shape))")
        }
        guard let inverse = hr.affine.inverse() else { throw ModelError.invalid("\(name): the HR affine is singular") }
        let m = inverse * lr.affine  // LR voxel -> HR voxel
        let spacing = lr.spacing
        let t = (0..<3).max { spacing[$0] < spacing[$1] }!
        let tol = 1e-3
        for r in 0..<3 {
            for c in 0..<3 {
                let expected = r == c ? (r == t ? Double(factor) : 1) : 0
                guard Swift.abs(m[r, c] - expected) < tol else {
                    throw ModelError.invalid("\(name): the LR grid is not the HR grid made \(factor)x thicker along one voxel axis "
                        + "(LR voxel -> HR voxel matrix row \(r) = \((0..<4).map { String(format: "%.4g", m[r, $0]) })); "
                        + "training needs pairs on the native thick grid (simulate without --hr-grid, with slice spacing = \(factor) HR voxels)")
                }
            }
            if r != t {
                guard Swift.abs(m[r, 3]) < tol, lr.shape[r] == hr.shape[r] else {
                    throw ModelError.invalid("\(name): LR axis \(r) (\(lr.shape[r]) voxels, offset \(m[r, 3])) does not match the HR grid (\(hr.shape[r]) voxels)")
                }
            }
        }
        // HR rows at slice centre + (r - floor(f/2)); centres between HR voxels (a field of view
        // whose slices cannot be centred on voxels) take their rows by linear interpolation.
        let first = m[t, 3]
        var lower: [Int64] = [], upper: [Int64] = [], weights: [Float] = []
        var keep: [Int64] = []
        for k in 0..<lr.shape[t] {
            let positions = (0..<factor).map { first + Double(k * factor + $0 - factor / 2) }
            guard positions.first! > -tol, positions.last! < Double(hr.shape[t] - 1) + tol else { continue }
            keep.append(Int64(k))
            for p in positions {
                let i0 = Swift.min(Swift.max(Int((p + tol).rounded(.down)), 0), hr.shape[t] - 1)
                let w = Swift.max(0, p - Double(i0))
                lower.append(Int64(i0))
                upper.append(Int64(Swift.min(i0 + 1, hr.shape[t] - 1)))
                weights.append(w < tol ? 0 : Float(w))
            }
        }
        guard keep.count >= 2 else { throw ModelError.invalid("\(name): fewer than two LR slices lie inside the HR volume") }
        let lrData = try lr.data.to(.float32).indexSelect(t, Tensor(keep))
        let hrFloat = try hr.data.to(.float32)
        var wShape = [1, 1, 1]
        wShape[t] = weights.count
        let w = try Tensor(weights, shape: wShape)
        let hrData = try hrFloat.indexSelect(t, Tensor(lower)) * (1 - w) + hrFloat.indexSelect(t, Tensor(upper)) * w
        let perm = (0..<3).filter { $0 != t } + [t]
        return try makeStack(lr: lrData.permute(perm), hr: hrData.permute(perm), percentiles: task.normalizationPercentiles, name: name)
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
