import Foundation
import Imaging
import NN
import Torch

/// Everything a training run needs; saved as config.json in the run folder.
public struct TrainConfig: Codable, Sendable, Equatable {
    public var model: ModelSpec
    public var task: ModelTask
    public var data: DataConfig
    public var seed: UInt64
    public var steps: Int
    public var batchSize: Int
    public var optimizer: String  // adam, adamw, sgd
    public var learningRate: Double
    public var weightDecay: Double
    public var schedule: LearningRateSchedule
    public var warmupSteps: Int
    public var loss: Loss
    public var clipGradNorm: Double?
    public var logEvery: Int
    public var validateEvery: Int
    public var checkpointEvery: Int
    public var threads: Int?
    public var name: String

    public init(model: ModelSpec = ModelSpec(EDSRConfig()), task: ModelTask = ModelTask(), data: DataConfig = DataConfig(), seed: UInt64 = 0,
                steps: Int = 2000, batchSize: Int = 8, optimizer: String = "adam", learningRate: Double = 2e-4, weightDecay: Double = 0,
                schedule: LearningRateSchedule = .cosineWarmRestarts(t0: 500, tMult: 2, etaMin: 1e-6), warmupSteps: Int = 50,
                loss: Loss = .l1, clipGradNorm: Double? = 1, logEvery: Int = 10, validateEvery: Int = 200, checkpointEvery: Int = 100,
                threads: Int? = nil, name: String = "edsr") {
        self.model = model
        self.task = task
        self.data = data
        self.seed = seed
        self.steps = steps
        self.batchSize = batchSize
        self.optimizer = optimizer
        self.learningRate = learningRate
        self.weightDecay = weightDecay
        self.schedule = schedule
        self.warmupSteps = warmupSteps
        self.loss = loss
        self.clipGradNorm = clipGradNorm
        self.logEvery = logEvery
        self.validateEvery = validateEvery
        self.checkpointEvery = checkpointEvery
        self.threads = threads
        self.name = name
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case model, task, data, seed, steps, batchSize, optimizer, learningRate, weightDecay, schedule, warmupSteps, loss,
             clipGradNorm, logEvery, validateEvery, checkpointEvery, threads, name
    }

    /// Every field may be left out (its default is used); unknown fields are errors.
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = TrainConfig()
        model = try c.value(.model, or: d.model)
        task = try c.value(.task, or: d.task)
        data = try c.value(.data, or: d.data)
        seed = try c.value(.seed, or: d.seed)
        steps = try c.value(.steps, or: d.steps)
        batchSize = try c.value(.batchSize, or: d.batchSize)
        optimizer = try c.value(.optimizer, or: d.optimizer)
        learningRate = try c.value(.learningRate, or: d.learningRate)
        weightDecay = try c.value(.weightDecay, or: d.weightDecay)
        schedule = try c.value(.schedule, or: d.schedule)
        warmupSteps = try c.value(.warmupSteps, or: d.warmupSteps)
        loss = try c.value(.loss, or: d.loss)
        clipGradNorm = c.contains(.clipGradNorm) ? try c.decodeIfPresent(Double.self, forKey: .clipGradNorm) : d.clipGradNorm
        logEvery = try c.value(.logEvery, or: d.logEvery)
        validateEvery = try c.value(.validateEvery, or: d.validateEvery)
        checkpointEvery = try c.value(.checkpointEvery, or: d.checkpointEvery)
        threads = try c.decodeIfPresent(Int.self, forKey: .threads)
        name = try c.value(.name, or: d.name)
    }

    public func validate() throws {
        try model.validate()
        try data.validate(for: model.contract)
        guard steps > 0, batchSize > 0, learningRate > 0, logEvery > 0, validateEvery > 0, checkpointEvery > 0 else {
            throw ModelError.invalid("steps, batchSize, learningRate, logEvery, validateEvery and checkpointEvery must be > 0")
        }
        guard ["adam", "adamw", "sgd"].contains(optimizer) else {
            throw ModelError.invalid("optimizer '\(optimizer)' must be adam, adamw or sgd")
        }
        switch model.contract {
        case .thickSlices(_, let factor):
            guard Swift.abs(task.sliceSpacing / task.targetSpacing - Double(factor)) < 1e-6 else {
                throw ModelError.invalid("task: slice spacing \(task.sliceSpacing) / target \(task.targetSpacing) is not the model factor \(factor)")
            }
        case .outputGrid:
            guard let f = task.factors, f.count == 2, f[0] >= 1, f[0] <= f[1] else {
                throw ModelError.invalid("task.factors must be [lowest, highest] (>= 1) for a model on the output grid")
            }
        }
    }
}

/// What the trainer reports (logs, TensorBoard, progress).
public protocol TrainingObserver: AnyObject {
    func scalars(step: Int, _ values: [String: Double])
    func images(step: Int, _ images: [String: Tensor])
    func progress(_ line: String)
}

/// A training run in a folder: config.json, log.jsonl, checkpoint.safetensors (resumable),
/// best.safetensors, and at the end model.safetensors with MODEL_CARD.md.
public final class Trainer {
    public let config: TrainConfig
    public let folder: URL
    public let model: any SuperResolutionModel
    let optimizer: any Optimizer
    let generator: Generator
    let sampler: any BatchSource
    let validation: [(Tensor, Tensor)]
    public private(set) var step = 0
    public private(set) var bestValidationLoss = Double.infinity
    public private(set) var history: [(step: Int, loss: Double)] = []
    public weak var observer: TrainingObserver?
    /// Set from a signal handler (Ctrl-C): the loop saves a checkpoint and stops.
    nonisolated(unsafe) public static var stopRequested = false

    /// A run on thick-slice stacks (models with the thick-slice contract).
    public convenience init(config: TrainConfig, folder: URL, resume: Bool, stacks: (train: [TrainingStack], validation: [TrainingStack])) throws {
        try config.validate()
        guard case .thickSlices(let channels, let factor) = config.model.contract else {
            throw ModelError.invalid("thick-slice stacks train thick-slice models; \(config.model.architecture) works on the output grid")
        }
        let train = try PatchSampler(stacks: stacks.train, config: config.data, factor: factor, channels: channels)
        let validation = try PatchSampler(stacks: stacks.validation.isEmpty ? stacks.train : stacks.validation, config: config.data,
                                          factor: factor, channels: channels)
        try self.init(config: config, folder: folder, resume: resume, data: (train, validation))
    }

    /// Starts a run (the folder must not hold one) or resumes the run in `folder`.
    public init(config: TrainConfig, folder: URL, resume: Bool, data: (train: any BatchSource, validation: any BatchSource)) throws {
        try config.validate()
        self.config = config
        self.folder = folder
        let fm = FileManager.default
        let checkpoint = folder.appendingPathComponent("checkpoint.safetensors")
        if !resume && fm.fileExists(atPath: checkpoint.path) {
            throw ModelError.invalid("\(folder.path) already holds a run; resume it with --resume or choose another folder")
        }
        try fm.createDirectory(at: folder, withIntermediateDirectories: true)
        let modelGenerator = try Generator(seed: config.seed)
        model = try config.model.makeModel(generator: modelGenerator)
        let params = model.namedParameters()
        switch config.optimizer {
        case "sgd": optimizer = SGD(parameters: params, learningRate: config.learningRate, momentum: 0.9, weightDecay: config.weightDecay)
        case "adamw": optimizer = Adam.adamW(parameters: params, learningRate: config.learningRate, weightDecay: config.weightDecay)
        default: optimizer = Adam(parameters: params, learningRate: config.learningRate, weightDecay: config.weightDecay)
        }
        generator = try Generator(seed: config.seed &+ 1)
        sampler = data.train
        validation = try data.validation.validationBatches(count: config.data.validationPatches, generator: Generator(seed: config.seed &+ 2))
        if resume {
            guard fm.fileExists(atPath: checkpoint.path) else {
                throw ModelError.invalid("\(folder.path): no checkpoint.safetensors to resume from")
            }
            try loadCheckpoint(checkpoint)
        } else {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write([Array(try encoder.encode(config))], to: folder.appendingPathComponent("config.json"), overwrite: true)
        }
    }

    public func learningRate(at t: Int) -> Double {
        config.schedule.rate(base: config.learningRate, step: t) * Warmup(steps: config.warmupSteps).factor(step: t)
    }

    /// Trains until `config.steps`, a time limit or a stop request; returns whether it finished.
    @discardableResult
    public func run(maxSteps: Int? = nil, maxMinutes: Double? = nil) throws -> Bool {
        let start = Date()
        let target = Swift.min(config.steps, maxSteps.map { step + $0 } ?? config.steps)
        model.train()
        var window: [Double] = []
        var windowStart = Date(), windowSamples = 0
        while step < target {
            if Trainer.stopRequested {
                try saveCheckpoint()
                observer?.progress("stopped at step \(step); checkpoint saved (resume with --resume \(folder.path))")
                return false
            }
            if let m = maxMinutes, Date().timeIntervalSince(start) > m * 60 { break }
            optimizer.learningRate = learningRate(at: step)
            let (lr, hr) = try sampler.batch(size: config.batchSize, generator: generator, augment: true)
            let value = try Self.optimizationStep(model: model, optimizer: optimizer, loss: config.loss, input: lr, target: hr,
                                                  clipGradNorm: config.clipGradNorm)
            step += 1
            guard value.isFinite else {
                throw ModelError.invalid("the loss became \(value) at step \(step); lower the learning rate (now \(optimizer.learningRate))")
            }
            history.append((step, value))
            window.append(value)
            windowSamples += config.batchSize
            if step % config.logEvery == 0 || step == target {
                let mean = window.reduce(0, +) / Double(window.count)
                let elapsed = Date().timeIntervalSince(windowStart)
                let rate = Double(windowSamples) / Swift.max(elapsed, 1e-9)
                let eta = Double(target - step) * elapsed / Double(window.count)
                observer?.scalars(step: step, ["train/loss": mean, "train/lr": optimizer.learningRate, "train/samples_per_s": rate])
                observer?.progress(String(format: "step %d/%d  loss %.5f  lr %.2e  %.1f samples/s  ETA %@", step, config.steps, mean,
                                          optimizer.learningRate, rate, Self.duration(eta)))
                window.removeAll()
                windowStart = Date()
                windowSamples = 0
            }
            if step % config.validateEvery == 0 || step == config.steps { try validate() }
            if step % config.checkpointEvery == 0 || step == target { try saveCheckpoint() }
        }
        try saveCheckpoint()
        if step >= config.steps { try finish() }
        return step >= config.steps
    }

    /// L1, PSNR and SSIM on the fixed validation patches; keeps the best weights.
    public func validate() throws {
        model.eval()
        defer { model.train() }
        // Pooled over the validation batches: mean absolute and squared errors per voxel, SSIM
        // per sample (it needs samples of at least its 11-pixel window).
        var absSum = 0.0, sqSum = 0.0, voxels = 0, ssimSum = 0.0, ssimCount = 0
        var images: [String: Tensor] = [:]
        for (lr, hr) in validation {
            let pred = try withNoGrad { try model(lr) }
            let n = hr.count
            absSum += try pred.l1Loss(hr).item() * Double(n)
            sqSum += try pred.mseLoss(hr).item() * Double(n)
            voxels += n
            if Swift.min(pred.shape[2], pred.shape[3]) >= 11 {
                ssimSum += try SSIM().compare(pred.squeeze(1), hr.squeeze(1), dims: 2, dataRange: .value(1)).mean * Double(hr.shape[0])
                ssimCount += hr.shape[0]
            }
            if images.isEmpty { images = ["val/sr": try pred.select(0, 0).select(0, 0), "val/hr": try hr.select(0, 0).select(0, 0)] }
        }
        let l1 = absSum / Double(voxels)
        let psnr = 10 * log10(1 / (sqSum / Double(voxels)))
        let ssim = ssimCount > 0 ? ssimSum / Double(ssimCount) : Double.nan
        observer?.scalars(step: step, ["val/l1": l1, "val/psnr": psnr, "val/ssim": ssim])
        observer?.images(step: step, images)
        observer?.progress(String(format: "validation at step %d: L1 %.5f  PSNR %.2f dB  SSIM %.4f%@", step, l1, psnr, ssim,
                                  l1 < bestValidationLoss ? "  (best)" : ""))
        if l1 < bestValidationLoss {
            bestValidationLoss = l1
            try ModelFile.save(model, task: config.task, to: folder.appendingPathComponent("best.safetensors"),
                               extra: ["upres.step": "\(step)", "upres.val_l1": "\(l1)"])
        }
    }

    // MARK: checkpoints

    /// Model, optimizer state, step, best loss and the sampler's RNG state in one file, written
    /// atomically (a run killed at any moment resumes from the last complete checkpoint).
    public func saveCheckpoint() throws {
        var tensors: [(String, Tensor)] = model.namedTensors().map { ("model.\($0.0)", $0.1) }
        for (k, v) in try optimizer.stateDict() { tensors.append(("optimizer.\(k)", v)) }
        tensors.append(("rng.sampler", try generator.state()))
        tensors.append(("trainer.step", try Tensor([Int64(step)])))
        tensors.append(("trainer.best", try Tensor([bestValidationLoss.isFinite ? bestValidationLoss : -1])))
        try Safetensors.write(tensors, metadata: ["upres.checkpoint": "1"], to: folder.appendingPathComponent("checkpoint.safetensors"))
    }

    func loadCheckpoint(_ url: URL) throws {
        let c = try Safetensors.read(url)
        var modelState: [String: Tensor] = [:], optState: [String: Tensor] = [:]
        for (k, v) in c.tensors {
            if k.hasPrefix("model.") { modelState[String(k.dropFirst(6))] = v }
            if k.hasPrefix("optimizer.") { optState[String(k.dropFirst(10))] = v }
        }
        try model.loadStateDict(modelState, source: url.path)
        try optimizer.loadStateDict(optState)
        guard let rng = c.tensors["rng.sampler"], let s = c.tensors["trainer.step"], let b = c.tensors["trainer.best"] else {
            throw ModelError.invalid("\(url.path): not a complete upres checkpoint (rng.sampler, trainer.step, trainer.best)")
        }
        try generator.setState(rng)
        step = try s.itemInt()
        let best = try b.item()
        bestValidationLoss = best < 0 ? .infinity : best
    }

    /// The final model: best weights (or the last), config and a model card.
    func finish() throws {
        let best = folder.appendingPathComponent("best.safetensors")
        let final = folder.appendingPathComponent("model.safetensors")
        if FileManager.default.fileExists(atPath: best.path) {
            let data = try Data(contentsOf: best)
            try AtomicFile.write([Array(data)], to: final, overwrite: true)
        } else {
            try ModelFile.save(model, task: config.task, to: final)
        }
    }

    /// One step: loss, gradients, clipping, update; returns the loss.
    static func optimizationStep(model: any SuperResolutionModel, optimizer: any Optimizer, loss: Loss, input: Tensor, target: Tensor,
                                 clipGradNorm clip: Double?) throws -> Double {
        let value = try loss(model(input), target)
        try optimizer.zeroGrad()
        try value.backward()
        if let clip { try clipGradNorm(model.parameters(), maxNorm: clip) }
        try optimizer.step()
        return try value.item()
    }

    static func duration(_ s: Double) -> String {
        guard s.isFinite else { return "?" }
        let t = Int(s.rounded())
        return t >= 3600 ? "\(t / 3600)h\(String(format: "%02d", t % 3600 / 60))m" : "\(t / 60)m\(String(format: "%02d", t % 60))s"
    }
}
