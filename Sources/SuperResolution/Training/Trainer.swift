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
    /// The single pixel loss of configs without `losses`.
    public var loss: Loss
    /// Weighted generator terms (`GeneratorObjective.termNames`), e.g. {"l1": 1, "perceptual": 0.1};
    /// replaces `loss` when given.
    public var losses: [String: Double]?
    /// The feature network of the `perceptual` term.
    public var perceptual: PerceptualConfig?
    /// A critic trained against the model (GAN training); nil for pixel losses only.
    public var adversarial: AdversarialConfig?
    /// Adam's betas for the model.
    public var betas: [Double]
    /// A model file whose weights start the run (fine-tuning); its architecture must be `model`'s.
    public var initialWeights: String?
    /// Parameter-name prefixes of the model kept fixed (e.g. "head", "body.0"): not optimized.
    public var freeze: [String]
    public var clipGradNorm: Double?
    public var logEvery: Int
    public var validateEvery: Int
    public var checkpointEvery: Int
    public var threads: Int?
    public var name: String

    public init(model: ModelSpec = ModelSpec(EDSRConfig()), task: ModelTask = ModelTask(), data: DataConfig = DataConfig(), seed: UInt64 = 0,
                steps: Int = 2000, batchSize: Int = 8, optimizer: String = "adam", learningRate: Double = 2e-4, weightDecay: Double = 0,
                schedule: LearningRateSchedule = .cosineWarmRestarts(t0: 500, tMult: 2, etaMin: 1e-6), warmupSteps: Int = 50,
                loss: Loss = .l1, losses: [String: Double]? = nil, perceptual: PerceptualConfig? = nil, adversarial: AdversarialConfig? = nil,
                betas: [Double] = [0.9, 0.999], initialWeights: String? = nil, freeze: [String] = [],
                clipGradNorm: Double? = 1, logEvery: Int = 10, validateEvery: Int = 200, checkpointEvery: Int = 100,
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
        self.losses = losses
        self.perceptual = perceptual
        self.adversarial = adversarial
        self.betas = betas
        self.initialWeights = initialWeights
        self.freeze = freeze
        self.clipGradNorm = clipGradNorm
        self.logEvery = logEvery
        self.validateEvery = validateEvery
        self.checkpointEvery = checkpointEvery
        self.threads = threads
        self.name = name
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case model, task, data, seed, steps, batchSize, optimizer, learningRate, weightDecay, schedule, warmupSteps, loss, losses,
             perceptual, adversarial, betas, initialWeights, freeze, clipGradNorm, logEvery, validateEvery, checkpointEvery, threads, name
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
        losses = try c.decodeIfPresent([String: Double].self, forKey: .losses)
        if losses != nil && c.contains(.loss) {
            throw DecodingError.dataCorruptedError(forKey: .losses, in: c, debugDescription: "give loss (one term) or losses (weighted terms), not both")
        }
        perceptual = try c.decodeIfPresent(PerceptualConfig.self, forKey: .perceptual)
        adversarial = try c.decodeIfPresent(AdversarialConfig.self, forKey: .adversarial)
        betas = try c.value(.betas, or: d.betas)
        initialWeights = try c.decodeIfPresent(String.self, forKey: .initialWeights)
        freeze = try c.value(.freeze, or: d.freeze)
        clipGradNorm = c.contains(.clipGradNorm) ? try c.decodeIfPresent(Double.self, forKey: .clipGradNorm) : d.clipGradNorm
        logEvery = try c.value(.logEvery, or: d.logEvery)
        validateEvery = try c.value(.validateEvery, or: d.validateEvery)
        checkpointEvery = try c.value(.checkpointEvery, or: d.checkpointEvery)
        threads = try c.decodeIfPresent(Int.self, forKey: .threads)
        name = try c.value(.name, or: d.name)
    }

    /// Every field, except `loss` when `losses` replaces it (a config that names both is refused).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(model, forKey: .model)
        try c.encode(task, forKey: .task)
        try c.encode(data, forKey: .data)
        try c.encode(seed, forKey: .seed)
        try c.encode(steps, forKey: .steps)
        try c.encode(batchSize, forKey: .batchSize)
        try c.encode(optimizer, forKey: .optimizer)
        try c.encode(learningRate, forKey: .learningRate)
        try c.encode(weightDecay, forKey: .weightDecay)
        try c.encode(schedule, forKey: .schedule)
        try c.encode(warmupSteps, forKey: .warmupSteps)
        if let losses { try c.encode(losses, forKey: .losses) } else { try c.encode(loss, forKey: .loss) }
        try c.encodeIfPresent(perceptual, forKey: .perceptual)
        try c.encodeIfPresent(adversarial, forKey: .adversarial)
        try c.encode(betas, forKey: .betas)
        try c.encodeIfPresent(initialWeights, forKey: .initialWeights)
        try c.encode(freeze, forKey: .freeze)
        try c.encode(clipGradNorm, forKey: .clipGradNorm)
        try c.encode(logEvery, forKey: .logEvery)
        try c.encode(validateEvery, forKey: .validateEvery)
        try c.encode(checkpointEvery, forKey: .checkpointEvery)
        try c.encodeIfPresent(threads, forKey: .threads)
        try c.encode(name, forKey: .name)
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
        guard betas.count == 2, betas.allSatisfy({ (0..<1).contains($0) }) else {
            throw ModelError.invalid("betas must be two numbers in [0, 1), got \(betas)")
        }
        try perceptual?.validate()
        try adversarial?.validate()
        if let adversarial, adversarial.startStep >= steps {
            throw ModelError.invalid("adversarial.startStep \(adversarial.startStep) is not before the last step (\(steps)): the critic would never train")
        }
        try GeneratorObjective.validate(weights: generatorTerms, hasPerceptual: perceptual != nil)
        guard generatorTerms.values.contains(where: { $0 > 0 }) || (adversarial?.weight ?? 0) > 0 else {
            throw ModelError.invalid("losses: every weight is 0 and there is no adversarial term: nothing to train on")
        }
        switch model.contract {
        case .thickSlices(_, let factor):
            guard Swift.abs(task.sliceSpacing / task.targetSpacing - Double(factor)) < 1e-6 else {
                throw ModelError.invalid("task: slice spacing \(task.sliceSpacing) / target \(task.targetSpacing) is not the model factor \(factor)")
            }
        case .volume:
            guard Swift.abs(task.sliceSpacing - task.targetSpacing) < 1e-6 else {
                throw ModelError.invalid("task: a 3-D model restores on one grid: sliceSpacing \(task.sliceSpacing) must equal targetSpacing \(task.targetSpacing)")
            }
        case .outputGrid where data.kernel != nil:
            break  // the kernel's factor, set in task.inPlane and task.factors when the pairs are made
        case .outputGrid:
            guard let f = task.factors, f.count == 2, f[0] >= 1, f[0] <= f[1] else {
                throw ModelError.invalid("task.factors must be [lowest, highest] (>= 1) for a model on the output grid")
            }
        }
    }
}

extension TrainConfig {
    /// The generator's weighted terms: `losses`, or `loss` with weight 1.
    public var generatorTerms: [String: Double] { losses ?? [loss.rawValue: 1] }

    /// This configuration with the task its pairs teach, as the run's model files and config.json
    /// state it: in-plane kernel pairs restore by their kernel's factor in-plane; 3-D patches
    /// simulated by k-space truncation (on the same grid) undo that truncation, which data
    /// consistency then enforces. Other pairs leave the configured task as it is.
    public func teaching(_ source: any BatchSource) -> TrainConfig {
        var c = self
        if let pairs = source as? KernelPairSampler, let inPlane = pairs.task {
            c.task = task.restoringInPlane(inPlane)
        } else if source is VolumePatchSampler, let simulation = data.simulation {
            c.task = task.restoring(simulation)
        }
        return c
    }
}

/// What the trainer reports (logs, TensorBoard, progress).
public protocol TrainingObserver: AnyObject {
    func scalars(step: Int, _ values: [String: Double])
    func images(step: Int, _ images: [String: Tensor])
    func progress(_ line: String)
}

/// A training run in a folder: config.json, log.jsonl, checkpoint.safetensors (resumable),
/// best.safetensors, and at the end model.safetensors (and critic.safetensors for adversarial
/// runs).
///
/// One training step may hold two networks with their own optimizers and schedules: the model
/// (generator) and, with `adversarial`, a critic that takes `criticSteps` updates on new batches
/// before each model update. The model's loss is the weighted sum of the configured terms; the
/// logs carry each term. Checkpoints hold both networks, both optimizers, the plateau schedules'
/// state and every random stream, so a resumed run continues bit for bit.
///
/// Data parallel (`distributed` with a world size above 1, libtorch's c10d over Gloo): every rank
/// holds the whole model, draws the same combined batch of `worldSize x batchSize` samples from the
/// same sampler stream and trains on its own rows `[rank x batchSize, (rank + 1) x batchSize)`;
/// after each backward pass the gradients of the model (and of the critic) are averaged over the
/// ranks, so the update is the one a single process would make on the combined batch (every loss
/// is a mean over the batch). Rank 0 alone validates (its validation loss is broadcast, so the
/// plateau schedules agree) and writes checkpoints, best and final files; every rank resumes from
/// the same checkpoint.
public final class Trainer {
    public let config: TrainConfig
    public let folder: URL
    public let model: any SuperResolutionModel
    /// The critic of an adversarial run.
    public let critic: (any CriticNetwork)?
    let optimizer: any Optimizer
    let criticOptimizer: Adam?
    let criticParameters: [Tensor]
    let objective: GeneratorObjective
    let generator: Generator
    /// The gradient penalty's mixing weights.
    let penaltyGenerator: Generator
    /// Every dropout mask of the model and the critic.
    let dropoutGenerator: Generator
    let sampler: any BatchSource
    let validation: [ConditionedBatch]
    /// The data-parallel group; nil for a single process.
    public let processGroup: ProcessGroup?
    /// This process's rank in the group (0 alone).
    public var rank: Int { processGroup?.rank ?? 0 }
    /// The number of processes training together (1 alone).
    public var worldSize: Int { processGroup?.worldSize ?? 1 }
    /// Whether this process writes the run's files (rank 0).
    public var writesFiles: Bool { rank == 0 }
    /// Data parallel: seconds spent drawing batches and in the step's exchanges (waiting for the
    /// slowest rank included) since the last log line.
    var samplingSeconds = 0.0, exchangeSeconds = 0.0
    var plateau: ReduceOnPlateau?
    var criticPlateau: ReduceOnPlateau?
    public private(set) var step = 0
    public private(set) var bestValidationLoss = Double.infinity
    /// The model's total loss per step.
    public private(set) var history: [(step: Int, loss: Double)] = []
    public weak var observer: TrainingObserver?
    /// Set from a signal handler (Ctrl-C): the loop saves a checkpoint and stops.
    nonisolated(unsafe) public static var stopRequested = false

    /// A run on thick-slice stacks (models with the thick-slice contract).
    public convenience init(config: TrainConfig, folder: URL, resume: Bool, stacks: (train: [TrainingStack], validation: [TrainingStack]),
                            distributed: ProcessGroup.Configuration? = nil) throws {
        try config.validate()
        guard case .thickSlices(let channels, let factor) = config.model.contract else {
            throw ModelError.invalid("thick-slice stacks train thick-slice models; \(config.model.architecture) works on the output grid")
        }
        let train = try PatchSampler(stacks: stacks.train, config: config.data, factor: factor, channels: channels)
        let validation = try PatchSampler(stacks: stacks.validation.isEmpty ? stacks.train : stacks.validation, config: config.data,
                                          factor: factor, channels: channels)
        try self.init(config: config, folder: folder, resume: resume, data: (train, validation), distributed: distributed)
    }

    /// Starts a run (the folder must not hold one) or resumes the run in `folder`.
    /// - Parameter distributed: where the ranks of a data-parallel run meet; the initializer
    ///   joins the group (waiting for every rank) before it writes anything.
    public init(config: TrainConfig, folder: URL, resume: Bool, data: (train: any BatchSource, validation: any BatchSource),
                distributed: ProcessGroup.Configuration? = nil) throws {
        try config.validate()
        let config = config.teaching(data.train)
        self.config = config
        self.folder = folder
        let fm = FileManager.default
        let checkpoint = folder.appendingPathComponent("checkpoint.safetensors")
        if !resume && fm.fileExists(atPath: checkpoint.path) {
            throw ModelError.invalid("\(folder.path) already holds a run; resume it with --resume or choose another folder")
        }
        if resume && !fm.fileExists(atPath: checkpoint.path) {
            throw ModelError.invalid("\(folder.path): no checkpoint.safetensors to resume from")
        }
        processGroup = try distributed.flatMap { try Self.join($0) }
        model = try config.model.makeModel(generator: try Generator(seed: config.seed))
        if let path = config.initialWeights, !resume {
            let start = try ModelFile.load(URL(fileURLWithPath: path))
            guard start.spec == config.model else {
                throw ModelError.invalid("initialWeights \(path): its architecture \(try start.spec.json()) is not the configured model's \(try config.model.json())")
            }
            try model.loadStateDict(Dictionary(uniqueKeysWithValues: start.model.namedTensors()), strict: true, source: path)
        }
        let named = model.namedParameters()
        for prefix in config.freeze {
            let matches = named.filter { $0.0 == prefix || $0.0.hasPrefix(prefix + ".") }
            guard !matches.isEmpty else {
                throw ModelError.invalid("freeze: '\(prefix)' names no parameter of \(config.model.architecture) (they are \(named.map(\.0).joined(separator: ", ")))")
            }
            for (_, p) in matches { try p.requiresGrad(false) }
        }
        let params = model.namedParameters()
        let (b1, b2) = (config.betas[0], config.betas[1])
        switch config.optimizer {
        case "sgd": optimizer = SGD(parameters: params, learningRate: config.learningRate, momentum: 0.9, weightDecay: config.weightDecay)
        case "adamw": optimizer = Adam.adamW(parameters: params, learningRate: config.learningRate, beta1: b1, beta2: b2, weightDecay: config.weightDecay)
        default: optimizer = Adam(parameters: params, learningRate: config.learningRate, beta1: b1, beta2: b2, weightDecay: config.weightDecay)
        }
        if let adversarial = config.adversarial {
            let c = try adversarial.critic.makeCritic(generator: try Generator(seed: config.seed &+ 4))
            critic = c
            criticOptimizer = Adam(parameters: c.namedParameters(), learningRate: adversarial.learningRate,
                                   beta1: adversarial.betas[0], beta2: adversarial.betas[1])
            criticParameters = c.parameters()
            criticPlateau = adversarial.schedule.plateauRule
        } else {
            critic = nil
            criticOptimizer = nil
            criticParameters = []
        }
        plateau = config.schedule.plateauRule
        let perceptual = try config.perceptual.map { try PerceptualLoss($0) }
        objective = try GeneratorObjective(weights: config.generatorTerms, perceptual: perceptual)
        generator = try Generator(seed: config.seed &+ 1)
        penaltyGenerator = try Generator(seed: config.seed &+ 5)
        dropoutGenerator = try Generator(seed: config.seed &+ 3)
        model.setDropoutGenerator(dropoutGenerator)
        critic?.setDropoutGenerator(dropoutGenerator)
        sampler = data.train
        // Rank 0 alone validates.
        validation = processGroup?.rank ?? 0 != 0 ? []
            : try data.validation.conditionedValidationBatches(count: config.data.validationPatches, generator: Generator(seed: config.seed &+ 2))
        if resume { try loadCheckpoint(checkpoint) }
        // Every rank starts from rank 0's networks (the same seed gives the same ones; this makes
        // it hold for any initialization).
        if let processGroup {
            try processGroup.broadcast(model.namedTensors().map(\.1) + (critic?.namedTensors().map(\.1) ?? []), from: 0)
        }
        if !resume && processGroup?.rank ?? 0 == 0 {
            try fm.createDirectory(at: folder, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write([Array(try encoder.encode(config))], to: folder.appendingPathComponent("config.json"), overwrite: true)
        }
    }

    /// Joins the data-parallel group of `configuration` (nil for a world of one).
    static func join(_ configuration: ProcessGroup.Configuration) throws -> ProcessGroup? {
        let problems = configuration.problems()
        guard problems.isEmpty else { throw ModelError.invalid("distributed training: " + problems.joined(separator: "; ")) }
        guard configuration.worldSize > 1 else { return nil }
        guard ProcessGroup.isAvailable else {
            throw ModelError.invalid("distributed training: this upres was built without Gloo headers (install libgloo-dev, or use a libtorch that ships include/gloo, and rebuild)")
        }
        do {
            return try ProcessGroup(configuration)
        } catch {
            let c = configuration
            throw ModelError.invalid("distributed training: rank \(c.rank) of \(c.worldSize) could not join the group at "
                                     + "\(c.masterAddress):\(c.masterPort) within \(Int(c.timeout)) s (\((error as? LocalizedError)?.errorDescription ?? "\(error)"))")
        }
    }

    /// This rank's share of the next combined batch: the same `worldSize x batchSize` samples are
    /// drawn on every rank from the same stream, and each keeps its own rows.
    func nextBatch() throws -> ConditionedBatch {
        let b = config.batchSize
        guard worldSize > 1 else { return try sampler.conditionedBatch(size: b, generator: generator, augment: true) }
        let started = Date()
        defer { samplingSeconds += Date().timeIntervalSince(started) }
        let full = try sampler.conditionedBatch(size: b * worldSize, generator: generator, augment: true)
        func rows(_ t: Tensor) throws -> Tensor { try t.narrow(0, start: rank * b, length: b) }
        return ConditionedBatch(input: try rows(full.input), target: try rows(full.target),
                                conditioning: Conditioning(features: try full.conditioning.features.map(rows),
                                                           position: try full.conditioning.position.map(rows)))
    }

    /// Averages the gradients of `parameters` over the ranks (nothing alone).
    func averageGradients(_ parameters: [Tensor]) throws {
        guard let processGroup else { return }
        let started = Date()
        defer { exchangeSeconds += Date().timeIntervalSince(started) }
        try processGroup.allReduce(parameters.compactMap(\.grad), average: true)
    }

    public func learningRate(at t: Int) -> Double {
        config.schedule.rate(base: config.learningRate, step: t) * Warmup(steps: config.warmupSteps).factor(step: t) * (plateau?.scale ?? 1)
    }

    /// The critic's rate at step t (its own schedule, no warm-up).
    public func criticLearningRate(at t: Int) -> Double {
        guard let a = config.adversarial else { return 0 }
        return a.schedule.rate(base: a.learningRate, step: t) * (criticPlateau?.scale ?? 1)
    }

    /// Whether the critic trains (and judges the model) at step t.
    func adversarialActive(at t: Int) -> Bool { config.adversarial.map { t >= $0.startStep } ?? false }

    /// Trains until `config.steps`, a time limit or a stop request; returns whether it finished.
    @discardableResult
    public func run(maxSteps: Int? = nil, maxMinutes: Double? = nil) throws -> Bool {
        do {
            return try loop(maxSteps: maxSteps, maxMinutes: maxMinutes)
        } catch let TorchError.libtorch(operation, message) where processGroup != nil && ["allreduce", "broadcast", "barrier"].contains(operation) {
            // A rank that failed or was stopped ends the exchanges of all the others.
            throw ModelError.invalid("distributed training: rank \(rank) lost the group at step \(step) (\(operation): \(message)); "
                                     + "another rank failed or was stopped: resume from the last checkpoint with --resume \(folder.path) on every rank")
        }
    }

    func loop(maxSteps: Int?, maxMinutes: Double?) throws -> Bool {
        let start = Date()
        let target = Swift.min(config.steps, maxSteps.map { step + $0 } ?? config.steps)
        model.train()
        critic?.train()
        var window: [String: [Double]] = [:]
        var windowSteps = 0
        var windowStart = Date(), windowSamples = 0
        func timeIsUp() -> Bool { maxMinutes.map { Date().timeIntervalSince(start) > $0 * 60 } ?? false }
        // Data parallel: the stop request and the time limit as every rank saw them at the last
        // exchange, so that all stop at the same step (one rank's Ctrl-C stops all, a step later).
        var agreed = (stop: false, timeUp: false)
        while step < target {
            let (stop, timeUp) = processGroup == nil ? (Trainer.stopRequested, timeIsUp()) : agreed
            if stop {
                try saveCheckpoint()
                try processGroup?.barrier()
                observer?.progress("stopped at step \(step); checkpoint saved (resume with --resume \(folder.path))")
                return false
            }
            if timeUp { break }
            var values = try trainingStep()
            step += 1
            if let processGroup {
                // One exchange per step besides the gradients: the logged values become the
                // combined batch's (the mean of the ranks' means), and the stop flags are shared.
                let keys = values.keys.sorted()
                let t = try Tensor(keys.map { values[$0]! } + [Trainer.stopRequested ? 1 : 0, timeIsUp() ? 1 : 0])
                let started = Date()
                try processGroup.allReduce([t])
                exchangeSeconds += Date().timeIntervalSince(started)
                let sums: [Double] = try t.toArray()
                for (i, k) in keys.enumerated() { values[k] = sums[i] / Double(worldSize) }
                agreed = (sums[keys.count] > 0, sums[keys.count + 1] > 0)
            }
            let total = values["loss"]!
            guard total.isFinite else {
                throw ModelError.invalid("the loss became \(total) at step \(step); lower the learning rate (now \(optimizer.learningRate))")
            }
            history.append((step, total))
            for (k, v) in values { window[k, default: []].append(v) }
            windowSteps += 1
            windowSamples += worldSize * config.batchSize * (adversarialActive(at: step - 1) ? 1 + config.adversarial!.criticSteps : 1)
            if step % config.logEvery == 0 || step == target {
                let means = window.mapValues { $0.reduce(0, +) / Double($0.count) }
                let elapsed = Date().timeIntervalSince(windowStart)
                let rate = Double(windowSamples) / Swift.max(elapsed, 1e-9)
                let eta = Double(target - step) * elapsed / Double(windowSteps)
                var scalars = Dictionary(uniqueKeysWithValues: means.map { ("train/\($0.key)", $0.value) })
                scalars["train/lr"] = optimizer.learningRate
                scalars["train/samples_per_s"] = rate
                if let c = criticOptimizer { scalars["train/critic/lr"] = c.learningRate }
                if worldSize > 1 {
                    // Where a data-parallel step's time goes besides the model: drawing the combined
                    // batch (every rank draws all of it) and the exchanges, per step.
                    scalars["train/sampling_ms"] = samplingSeconds * 1000 / Double(windowSteps)
                    scalars["train/exchange_ms"] = exchangeSeconds * 1000 / Double(windowSteps)
                    (samplingSeconds, exchangeSeconds) = (0, 0)
                }
                observer?.scalars(step: step, scalars)
                observer?.progress(String(format: "step %d/%d  loss %.5f%@  lr %.2e  %.1f samples/s  ETA %@", step, config.steps, means["loss"]!,
                                          Self.termSummary(means), optimizer.learningRate, rate, Self.duration(eta)))
                window.removeAll()
                windowSteps = 0
                windowStart = Date()
                windowSamples = 0
            }
            if step % config.validateEvery == 0 || step == config.steps { try validate() }
            if step % config.checkpointEvery == 0 || step == target { try saveCheckpoint() }
        }
        try saveCheckpoint()
        if step >= config.steps { try finish() }
        // The other ranks return once rank 0 has written its files.
        try processGroup?.barrier()
        return step >= config.steps
    }

    /// "  (l1 0.01234, adversarial 0.69; critic 1.386)" for runs with several terms.
    static func termSummary(_ means: [String: Double]) -> String {
        let terms = means.keys.filter { $0.hasPrefix("loss/") }.sorted()
        let critic = means["critic/loss"]
        guard terms.count > 1 || critic != nil else { return "" }
        let parts = terms.map { String(format: "%@ %.4g", String($0.dropFirst(5)), means[$0]!) }.joined(separator: ", ")
        return "  (" + parts + (critic.map { String(format: "; critic %.4g", $0) } ?? "") + ")"
    }

    /// One step: the critic's updates (adversarial runs), then the model's. Returns the values to
    /// log: `loss` (the model's total), `loss/<term>` (unweighted), `critic/...`.
    func trainingStep() throws -> [String: Double] {
        optimizer.learningRate = learningRate(at: step)
        var batch = try nextBatch()
        var values: [String: Double] = [:]
        let adversarial = adversarialActive(at: step) ? config.adversarial : nil
        if let adversarial, let critic, let criticOptimizer {
            criticOptimizer.learningRate = criticLearningRate(at: step)
            var sums: [String: Double] = [:]
            for i in 0..<adversarial.criticSteps {
                if i > 0 { batch = try nextBatch() }
                for (k, v) in try criticStep(critic: critic, optimizer: criticOptimizer, adversarial: adversarial, input: batch.input,
                                             real: batch.target, conditioning: batch.conditioning) {
                    sums[k, default: 0] += v
                }
            }
            for (k, v) in sums { values[k] = v / Double(adversarial.criticSteps) }
        }
        let (total, terms) = try Self.optimizationStep(model: model, optimizer: optimizer, input: batch.input, target: batch.target,
                                                       conditioning: batch.conditioning, clipGradNorm: config.clipGradNorm,
                                                       averageGradients: processGroup == nil ? nil : { try self.averageGradients($0) }) { prediction, target in
            var (loss, terms) = try self.objective(prediction, target)
            if let adversarial, let critic = self.critic, adversarial.weight > 0 {
                // The critic judges without learning here: its parameters stay out of this graph.
                for p in self.criticParameters { try p.requiresGrad(false) }
                defer { for p in self.criticParameters { _ = try? p.requiresGrad(true) } }
                let g = try adversarial.loss.generatorLoss(fake: critic(prediction))
                terms["adversarial"] = try g.item()
                loss = try loss + g * adversarial.weight
            }
            return (loss, terms)
        }
        values["loss"] = total
        for (k, v) in terms { values["loss/\(k)"] = v }
        return values
    }

    /// One critic update on a batch: real HR against the model's output (no gradient to the model).
    func criticStep(critic: any CriticNetwork, optimizer: Adam, adversarial: AdversarialConfig, input: Tensor, real: Tensor,
                    conditioning: Conditioning = Conditioning()) throws -> [String: Double] {
        let fake = try withNoGrad { try model(input, conditioning: conditioning) }
        let dReal = try critic(real), dFake = try critic(fake)
        var loss = try adversarial.loss.criticLoss(real: dReal, fake: dFake)
        var values = ["critic/real": try dReal.mean().item(), "critic/fake": try dFake.mean().item()]
        if adversarial.gradientPenalty > 0 {
            let penalty: Tensor
            if worldSize > 1 {
                // The mixing weights of the combined batch, this rank's rows (as for the samples).
                let n = real.shape[0]
                let e = try Tensor.rand([n * worldSize] + Array(repeating: 1, count: real.rank - 1), dtype: real.dtype, generator: penaltyGenerator)
                    .narrow(0, start: rank * n, length: n).to(real.device)
                penalty = try gradientPenalty(critic: { try critic($0) }, real: real, fake: fake, mixing: e)
            } else {
                penalty = try gradientPenalty(critic: { try critic($0) }, real: real, fake: fake, generator: penaltyGenerator)
            }
            values["critic/gradient_penalty"] = try penalty.item()
            loss = try loss + penalty * adversarial.gradientPenalty
        }
        try optimizer.zeroGrad()
        try loss.backward()
        try averageGradients(criticParameters)
        try optimizer.step()
        values["critic/loss"] = try loss.item()
        return values
    }

    /// L1, PSNR and SSIM on the fixed validation patches; keeps the best weights; feeds the
    /// plateau schedules. Data parallel: rank 0 validates and every rank takes its L1.
    public func validate() throws {
        var l1 = try writesFiles ? measureValidation() : 0
        if let processGroup {
            let shared = try Tensor([l1])
            try processGroup.broadcast([shared], from: 0)
            l1 = try shared.item()
        }
        if l1 < bestValidationLoss {
            bestValidationLoss = l1
            if writesFiles {
                try ModelFile.save(model, task: config.task, to: folder.appendingPathComponent("best.safetensors"),
                                   extra: ["upres.step": "\(step)", "upres.val_l1": "\(l1)"])
            }
        }
        if var p = plateau {
            let before = p.scale
            _ = p.record(l1, base: config.learningRate)
            plateau = p
            if p.scale < before { observer?.progress(String(format: "validation L1 on a plateau: learning rate x %.3g", p.scale)) }
        }
        if var p = criticPlateau, let a = config.adversarial {
            _ = p.record(l1, base: a.learningRate)
            criticPlateau = p
        }
    }

    /// Rank 0's side of ``validate()``: the metrics, logged; returns the L1.
    func measureValidation() throws -> Double {
        model.eval()
        defer { model.train() }
        // Pooled over the validation batches: mean absolute and squared errors per voxel, SSIM
        // per sample (it needs samples of at least its 11-pixel window).
        var absSum = 0.0, sqSum = 0.0, voxels = 0, ssimSum = 0.0, ssimCount = 0
        var images: [String: Tensor] = [:]
        for b in validation {
            let (lr, hr) = (b.input, b.target)
            let pred = try withNoGrad { try model(lr, conditioning: b.conditioning) }
            let n = hr.count
            absSum += try pred.l1Loss(hr).item() * Double(n)
            sqSum += try pred.mseLoss(hr).item() * Double(n)
            voxels += n
            // 3-D models' patches (N, 1, D, H, W): SSIM in 3-D, the middle plane as the image.
            let dims = pred.rank - 2
            if pred.shape.dropFirst(2).min()! >= 11 {
                ssimSum += try SSIM().compare(pred.squeeze(1), hr.squeeze(1), dims: dims, dataRange: .value(1)).mean * Double(hr.shape[0])
                ssimCount += hr.shape[0]
            }
            if images.isEmpty {
                func plane(_ t: Tensor) throws -> Tensor {
                    let x = try t.select(0, 0).select(0, 0)
                    return dims == 3 ? try x.select(0, x.shape[0] / 2) : x
                }
                images = ["val/sr": try plane(pred), "val/hr": try plane(hr)]
            }
        }
        let l1 = absSum / Double(voxels)
        let psnr = 10 * log10(1 / (sqSum / Double(voxels)))
        let ssim = ssimCount > 0 ? ssimSum / Double(ssimCount) : Double.nan
        observer?.scalars(step: step, ["val/l1": l1, "val/psnr": psnr, "val/ssim": ssim])
        observer?.images(step: step, images)
        observer?.progress(String(format: "validation at step %d: L1 %.5f  PSNR %.2f dB  SSIM %.4f%@", step, l1, psnr, ssim,
                                  l1 < bestValidationLoss ? "  (best)" : ""))
        return l1
    }

    // MARK: checkpoints

    /// Every network and optimizer, the step, the best loss, the plateau schedules and every
    /// random stream in one file, written atomically (a run killed at any moment resumes from
    /// the last complete checkpoint).
    public func saveCheckpoint() throws {
        guard writesFiles else { return }
        // Optimizer states are dictionaries: sorted, so that the same state is the same file.
        var tensors: [(String, Tensor)] = model.namedTensors().map { ("model.\($0.0)", $0.1) }
        for (k, v) in try optimizer.stateDict().sorted(by: { $0.key < $1.key }) { tensors.append(("optimizer.\(k)", v)) }
        if let critic, let criticOptimizer {
            tensors += critic.namedTensors().map { ("critic.\($0.0)", $0.1) }
            for (k, v) in try criticOptimizer.stateDict().sorted(by: { $0.key < $1.key }) { tensors.append(("critic_optimizer.\(k)", v)) }
        }
        if let plateau { tensors.append(("schedule.plateau", try Tensor(plateau.state))) }
        if let criticPlateau { tensors.append(("critic_schedule.plateau", try Tensor(criticPlateau.state))) }
        tensors.append(("rng.sampler", try generator.state()))
        tensors.append(("rng.penalty", try penaltyGenerator.state()))
        tensors.append(("rng.dropout", try dropoutGenerator.state()))
        tensors.append(("trainer.step", try Tensor([Int64(step)])))
        tensors.append(("trainer.best", try Tensor([bestValidationLoss.isFinite ? bestValidationLoss : -1])))
        try Safetensors.write(tensors, metadata: ["upres.checkpoint": "2"], to: folder.appendingPathComponent("checkpoint.safetensors"))
    }

    func loadCheckpoint(_ url: URL) throws {
        let c = try Safetensors.read(url)
        func group(_ prefix: String) -> [String: Tensor] {
            var out: [String: Tensor] = [:]
            for (k, v) in c.tensors where k.hasPrefix(prefix) { out[String(k.dropFirst(prefix.count))] = v }
            return out
        }
        func required(_ name: String) throws -> Tensor {
            guard let t = c.tensors[name] else { throw ModelError.invalid("\(url.path): not a complete upres checkpoint (no \(name))") }
            return t
        }
        try model.loadStateDict(group("model."), source: url.path)
        try optimizer.loadStateDict(group("optimizer."))
        if let critic, let criticOptimizer {
            let state = group("critic.")
            guard !state.isEmpty else { throw ModelError.invalid("\(url.path): the configuration trains a critic, but the checkpoint holds none") }
            try critic.loadStateDict(state, source: url.path)
            try criticOptimizer.loadStateDict(group("critic_optimizer."))
        }
        if plateau != nil { try plateau!.restore(try required("schedule.plateau").to(.float64).toArray()) }
        if criticPlateau != nil { try criticPlateau!.restore(try required("critic_schedule.plateau").to(.float64).toArray()) }
        try generator.setState(try required("rng.sampler"))
        if let p = c.tensors["rng.penalty"] { try penaltyGenerator.setState(p) }
        if let d = c.tensors["rng.dropout"] { try dropoutGenerator.setState(d) }
        step = try required("trainer.step").itemInt()
        let best = try required("trainer.best").item()
        bestValidationLoss = best < 0 ? .infinity : best
    }

    /// The final model: best weights (or the last), config and a model card; the critic too.
    func finish() throws {
        guard writesFiles else { return }
        let best = folder.appendingPathComponent("best.safetensors")
        let final = folder.appendingPathComponent("model.safetensors")
        if FileManager.default.fileExists(atPath: best.path) {
            let data = try Data(contentsOf: best)
            try AtomicFile.write([Array(data)], to: final, overwrite: true)
        } else {
            try ModelFile.save(model, task: config.task, to: final)
        }
        if let critic { try CriticFile.save(critic, to: folder.appendingPathComponent("critic.safetensors"), extra: ["upres.step": "\(step)"]) }
    }

    /// One model update: the objective's total, gradients, clipping, the step; returns the
    /// total and the objective's per-term values.
    static func optimizationStep(model: any SuperResolutionModel, optimizer: any Optimizer, input: Tensor, target: Tensor,
                                 conditioning: Conditioning = Conditioning(), clipGradNorm clip: Double?,
                                 averageGradients: (([Tensor]) throws -> Void)? = nil,
                                 objective: (Tensor, Tensor) throws -> (Tensor, [String: Double])) throws -> (Double, [String: Double]) {
        let (value, terms) = try objective(model(input, conditioning: conditioning), target)
        try optimizer.zeroGrad()
        try value.backward()
        // Data parallel: the gradient of the combined batch, before clipping and the step.
        try averageGradients?(model.parameters())
        if let clip { try clipGradNorm(model.parameters(), maxNorm: clip) }
        try optimizer.step()
        return (try value.item(), terms)
    }

    /// One update with a single pixel loss.
    static func optimizationStep(model: any SuperResolutionModel, optimizer: any Optimizer, loss: Loss, input: Tensor, target: Tensor,
                                 clipGradNorm clip: Double?) throws -> Double {
        try optimizationStep(model: model, optimizer: optimizer, input: input, target: target, clipGradNorm: clip) { (try loss($0, $1), [:]) }.0
    }

    static func duration(_ s: Double) -> String {
        guard s.isFinite else { return "?" }
        let t = Int(s.rounded())
        return t >= 3600 ? "\(t / 3600)h\(String(format: "%02d", t % 3600 / 60))m" : "\(t / 60)m\(String(format: "%02d", t % 60))s"
    }
}
