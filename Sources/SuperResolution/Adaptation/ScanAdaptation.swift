import Foundation
import Imaging
import NN
import Torch

/// How a per-scan model came to be, stored in its sidecar and in a saved model's task.
public struct AdaptationRecord: Codable, Sendable, Equatable {
    /// "adapt" (a pretrained model fine-tuned on the scan) or "self-supervised" (trained from
    /// scratch on the scan).
    public var mode: String
    /// The pretrained model's name and SHA-256 ("adapt").
    public var baseModel: String?
    public var baseModelSHA256: String?
    /// The through-plane acquisition the pairs were made with, and whether its thickness was
    /// estimated from the scan.
    public var sliceSpacing: Double
    public var sliceThickness: Double
    public var thicknessEstimated: Bool
    public var profile: SliceProfile
    public var steps: Int
    public var seconds: Double
    /// Mean L1 over the first and the last 10% of the steps (normalized intensities).
    public var initialLoss: Double
    public var finalLoss: Double
    public var learningRate: Double
    public var batchSize: Int
    public var patch: Int
    public var seed: UInt64
    /// The scan's noise standard deviation that the pairs' inputs were brought to (`ScanAdaptation`:
    /// in the units of the tensor it trained on; `Reconstruction`: the scan's intensity units); nil
    /// when not matched (older records, grid models, `--noise-sigma 0`).
    public var noiseSigma: Double?
    /// The scan's SHA-256, when known.
    public var scanSHA256: String?
    /// True when the thickness estimate was not plausible and contiguous slices were assumed
    /// (data consistency then leaves the output alone unless asked); nil in older records.
    public var thicknessAssumed: Bool? = nil
    /// The thinnest and thickest slices (mm) the pairs were acquired with when the thickness was
    /// only assumed (each pair draws one between them); nil when the pairs had one thickness.
    public var sliceThicknessRange: [Double]? = nil
}

/// How to adapt (or train from scratch) a model on one scan.
public struct AdaptationSettings: Sendable {
    public enum Mode: String, Sendable, CaseIterable { case adapt, selfSupervised = "self-supervised" }
    public var mode: Mode
    /// The slice thickness (mm); nil: estimated from the scan.
    public var sliceThickness: Double?
    public var profile: SliceProfile
    /// Step and time bounds: whichever comes first.
    public var steps: Int
    public var minutes: Double?
    public var batchSize: Int
    public var patch: Int
    /// nil: 3e-4 to adapt, 2e-3 from scratch (bench/quality, 2026-12-06: 2e-3 against 1e-3 gained
    /// 0.05 to 0.32 dB in the brain on all six test scans, +0.13 on axial 5/6 mm; earlier, 1e-3
    /// beat 4e-4 by 0.3 dB).
    public var learningRate: Double?
    public var seed: UInt64
    /// The network trained from scratch ("self-supervised"); nil: `defaultArchitecture(factor:)`.
    public var architecture: ModelSpec?
    /// The noise the pairs' inputs are brought to (`DegradedSliceSampler.inputNoise`); thick-slice
    /// models only.
    public var noise: NoiseMatching
    /// When the thickness is neither given nor estimated plausibly: the pairs draw it uniformly
    /// between these fractions of the slice spacing (every common gap up to contiguous slices),
    /// instead of assuming contiguous slices. bench/quality, 2026-12-08, deterministic runs
    /// against the contiguous assumption: +0.26 dB in the brain on axial 5/6 mm (as good as being
    /// told the thickness), +0.10 on the T2-like 5/6 mm scan, -0.09 on sagittal 3/3 mm (README).
    public var assumedThicknessRatios: [Double] = [0.8, 1.0]

    public enum NoiseMatching: Sendable, Equatable {
        /// Estimated from the background of the intensities trained on (`NoiseModel.backgroundSigma`;
        /// air must be at 0, so `Reconstruction` estimates on the scan before normalizing).
        case estimate
        /// This standard deviation, in the units of the intensities trained on (0: none).
        case sigma(Double)
    }

    public init(mode: Mode, sliceThickness: Double? = nil, profile: SliceProfile = .rectangular, steps: Int = 4000, minutes: Double? = 2.5,
                batchSize: Int = 8, patch: Int = 48, learningRate: Double? = nil, seed: UInt64 = 0,
                architecture: ModelSpec? = nil, noise: NoiseMatching = .estimate) {
        self.mode = mode
        self.sliceThickness = sliceThickness
        self.profile = profile
        self.steps = steps
        self.minutes = minutes
        self.batchSize = batchSize
        self.patch = patch
        self.learningRate = learningRate
        self.seed = seed
        self.architecture = architecture
        self.noise = noise
    }

    /// One-channel EDSR, 32 features, 6 blocks: on thick rows with a pixel shuffle for integer
    /// factors (the network runs at the acquired rows: about factor times less work per patch and
    /// per reconstructed slice), on the output grid for other factors. Residual blocks unscaled
    /// (scale 1, as EDSR's baseline network: the 0.1 of its wide model slows a small network's
    /// learning; axial 5/6 mm with the thickness given and the step bound alone, 7000 steps: 25.67
    /// against 25.50 dB in the brain; bench/quality's default rows gained 0.05 to 0.23 dB on all
    /// six test scans, README).
    public static func defaultArchitecture(factor: Double) -> ModelSpec {
        let n = Int(factor.rounded())
        let integer = Swift.abs(factor - Double(n)) < 1e-3 && n >= 2
        return ModelSpec(EDSRConfig(inChannels: 1, features: 32, blocks: 6, residualScale: 1, factor: integer ? n : 1, upsampleFeatures: 8))
    }

    public func validate() throws {
        guard steps >= 1 else { throw ModelError.invalid("adaptation steps \(steps) must be >= 1") }
        if let m = minutes { guard m > 0, m.isFinite else { throw ModelError.invalid("adaptation minutes \(m) must be > 0") } }
        guard batchSize >= 1, patch >= 16 else { throw ModelError.invalid("adaptation batch \(batchSize) must be >= 1 and patch \(patch) >= 16") }
        if let t = sliceThickness { guard t > 0, t.isFinite else { throw ModelError.invalid("slice thickness \(t) mm must be > 0") } }
        if let l = learningRate { guard l > 0, l.isFinite else { throw ModelError.invalid("learning rate \(l) must be > 0") } }
        if case .sigma(let s) = noise { guard s >= 0, s.isFinite else { throw ModelError.invalid("noise sigma \(s) must be >= 0") } }
        let r = assumedThicknessRatios
        guard (1...2).contains(r.count), r.allSatisfy({ $0 > 0 && $0 <= 1.3 }), r.first! <= r.last! else {
            throw ModelError.invalid("assumed thickness ratios \(r) must be one value or [lowest, highest], each in (0, 1.3]")
        }
    }

    /// The slices the pairs are acquired with: the given or plausibly estimated thickness alone;
    /// when the thickness is only `assumed`, every thickness between `assumedThicknessRatios`
    /// times the spacing.
    public func trainingDegradations(_ acquisition: SliceAcquisition, assumed: Bool) -> DegradationRange {
        guard assumed else { return DegradationRange(acquisition) }
        return DegradationRange(spacing: [acquisition.spacing], thicknessRatio: assumedThicknessRatios, profiles: [acquisition.profile])
    }
}

/// Per-scan self-supervision (SMORE / ECLARE's idea, DESIGN.md `Adaptation/`): the scan's own
/// in-plane slices, acquired again along an in-plane axis with the scan's slice profile and
/// spacing, are the training pairs; the model learns to undo exactly this scan's degradation.
public enum ScanAdaptation {
    /// Progress: step, total steps, mean recent loss, seconds elapsed, estimated seconds left.
    public typealias Progress = (_ step: Int, _ total: Int, _ loss: Double, _ elapsed: Double, _ eta: Double) -> Void

    /// Trains `model` (fine-tuning, or from its fresh initialization) on pairs from `scan`.
    /// - Parameters:
    ///   - scan: the normalized scan, in-plane voxels square at `voxelSize` mm; `axis` its
    ///     through-plane axis (never read for training).
    ///   - acquisition: the through-plane slice spacing, thickness and profile.
    ///   - thicknessAssumed: the thickness is a guess (no plausible estimate): the pairs span
    ///     `settings.assumedThicknessRatios` of the spacing, and the record says so.
    /// - Returns: the training record (mode and base filled in by the caller).
    public static func train(_ model: any SuperResolutionModel, scan: Tensor, axis: Int, voxelSize: Double,
                             acquisition: SliceAcquisition, thicknessAssumed: Bool = false, settings: AdaptationSettings,
                             progress: Progress = { _, _, _, _, _ in }) throws -> AdaptationRecord {
        try settings.validate()
        guard model.contract.channels == 1 else {
            throw ModelError.invalid("per-scan training needs a one-channel model; \(model.architecture) takes \(model.contract)")
        }
        if let f = model.contract.fixedFactor, Swift.abs(acquisition.spacing / voxelSize - Double(f)) > 1e-3 {
            throw ModelError.invalid("the model reconstructs factor \(f), but the slices are \(acquisition.spacing / voxelSize) voxels apart")
        }
        let start = Date()
        let volume = try scan.to(.float32).contiguous()
        let foreground = try DegradedSliceSampler.Source.foregroundPositions(of: volume, above: 0.1)
        var source = DegradedSliceSampler.Source(volume: volume, acrossAxes: [axis], voxelSize: voxelSize, foreground: foreground,
                                                 name: "the scan")
        try source.weightByGradient(planeAxes: (0..<3).filter { $0 != axis })
        var noise: Double? = nil
        if model.contract.fixedFactor != nil {
            switch settings.noise {
            case .estimate: noise = try NoiseModel.backgroundSigma(of: volume)
            case .sigma(let s): noise = s
            }
            if noise == 0 { noise = nil }
        }
        let degradations = settings.trainingDegradations(acquisition, assumed: thicknessAssumed)
        let sampler = try DegradedSliceSampler(
            sources: [source],
            degradations: degradations, patch: settings.patch, contract: model.contract, inputNoise: noise ?? 0)
        let rate = settings.learningRate ?? (settings.mode == .adapt ? 3e-4 : 2e-3)
        let optimizer = Adam(parameters: model.namedParameters(), learningRate: rate)
        let generator = try Generator(seed: settings.seed)
        let warmup = Warmup(steps: Swift.min(50, settings.steps / 10))
        let schedule = LearningRateSchedule.cosineWarmRestarts(t0: settings.steps, tMult: 1, etaMin: rate * 0.05)
        model.train()
        defer { model.eval() }
        var losses: [Double] = []
        var window: [Double] = []
        let limit = settings.minutes.map { $0 * 60 }
        var step = 0
        while step < settings.steps {
            let elapsed = Date().timeIntervalSince(start)
            if let limit, elapsed > limit { break }
            optimizer.learningRate = schedule.rate(base: rate, step: step) * warmup.factor(step: step)
            let (x, y) = try sampler.batch(size: settings.batchSize, generator: generator, augment: true)
            let loss = try Trainer.optimizationStep(model: model, optimizer: optimizer, loss: .l1, input: x, target: y, clipGradNorm: 1)
            guard loss.isFinite else {
                throw ModelError.invalid("per-scan training diverged (loss \(loss) at step \(step + 1)); lower --adapt-lr")
            }
            step += 1
            losses.append(loss)
            window.append(loss)
            if step % 25 == 0 || step == settings.steps {
                let now = Date().timeIntervalSince(start)
                let perStep = now / Double(step)
                var eta = Double(settings.steps - step) * perStep
                if let limit { eta = Swift.min(eta, Swift.max(0, limit - now)) }
                progress(step, settings.steps, window.reduce(0, +) / Double(window.count), now, eta)
                window.removeAll()
            }
        }
        let tenth = Swift.max(1, losses.count / 10)
        func mean(_ s: ArraySlice<Double>) -> Double { s.isEmpty ? .nan : s.reduce(0, +) / Double(s.count) }
        return AdaptationRecord(
            mode: settings.mode.rawValue, baseModel: nil, baseModelSHA256: nil, sliceSpacing: acquisition.spacing,
            sliceThickness: acquisition.thickness, thicknessEstimated: settings.sliceThickness == nil, profile: acquisition.profile,
            steps: step, seconds: Date().timeIntervalSince(start), initialLoss: mean(losses.prefix(tenth)),
            finalLoss: mean(losses.suffix(tenth)), learningRate: rate, batchSize: settings.batchSize, patch: settings.patch,
            seed: settings.seed, noiseSigma: noise, scanSHA256: nil, thicknessAssumed: thicknessAssumed ? true : nil,
            sliceThicknessRange: thicknessAssumed ? degradations.thicknessRatio.map { ($0 * acquisition.spacing * 1e6).rounded() / 1e6 } : nil)
    }
}
