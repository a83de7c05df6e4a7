import ArgumentParser
import Imaging
import NN
import Report
import SuperResolution
import Torch

import Foundation
import Yams

/// `upres train --config FILE [overrides] --out RUN_DIR` and `upres train --resume RUN_DIR`.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a super-resolution model on simulated or paired data.",
        discussion: """
            The run folder gets config.json, log.jsonl (one JSON object per log line), TensorBoard \
            events under tb/ (tensorboard --logdir RUN_DIR/tb), checkpoint.safetensors (resumable: \
            model, optimizer, step, random state), best.safetensors, and at the end model.safetensors. \
            Ctrl-C saves a checkpoint and stops; --resume continues exactly where it stopped.

            Data parallel (libtorch's c10d over Gloo): start one process per rank with --world-size, \
            --rank, --master-addr and --master-port, or under torchrun (or anything that sets \
            WORLD_SIZE, RANK, MASTER_ADDR and MASTER_PORT). Each rank trains on --batch-size samples \
            of a combined batch of world-size x batch-size; rank 0 writes the run folder, and the \
            other ranks read it only to resume.
            """)

    @Option(help: "A configuration in JSON or YAML (.yaml/.yml); see models/*/train.json. Fields left out take their defaults.") var config: String?
    @Option(help: "Continue the run in this folder.") var resume: String?
    @Option(help: "The run folder for a new run.") var out: String?
    @Option(help: "Override: total steps.") var steps: Int?
    @Option(name: .customLong("batch-size"), help: "Override: batch size.") var batchSize: Int?
    @Option(help: "Override: learning rate.") var lr: Double?
    @Option(help: "Override: seed.") var seed: UInt64?
    @Option(name: .customLong("max-steps"), help: "Stop after this many steps in this invocation (a checkpoint is kept).")
    var maxSteps: Int?
    @Option(name: .customLong("max-minutes"), help: "Stop after this many minutes (a checkpoint is kept).")
    var maxMinutes: Double?
    @Option(name: .customLong("train-volume"), help: "Override: HR volumes to simulate training data from.")
    var trainVolume: [String] = []
    @Option(name: .customLong("validation-volume"), help: "Override: HR volumes for validation.")
    var validationVolume: [String] = []
    @Option(name: .customLong("set"), parsing: .singleValue,
            help: "Override any configuration field: KEY=VALUE, KEY a dotted path (adversarial.criticSteps), VALUE JSON (5, [0, 0.9], true, {...}) or a plain string. Repeatable.")
    var overrides: [String] = []
    @Flag(help: "Print less.") var quiet = false
    @Option(name: .customLong("world-size"), help: "Data parallel: the number of processes (default: WORLD_SIZE, else 1).")
    var worldSize: Int?
    @Option(help: "Data parallel: this process's rank, 0 to world size - 1 (default: RANK, else 0).")
    var rank: Int?
    @Option(name: .customLong("master-addr"), help: "Data parallel: rank 0's host name or address (default: MASTER_ADDR, else 127.0.0.1).")
    var masterAddr: String?
    @Option(name: .customLong("master-port"), help: "Data parallel: the TCP port rank 0 listens on (default: MASTER_PORT, else 29500).")
    var masterPort: Int?
    @Option(name: .customLong("dist-timeout"), help: "Data parallel: seconds to wait for every rank to join, and for each exchange (default 300).")
    var distTimeout: Double?

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard (config == nil) != (resume == nil) else { throw ValidationError("give either --config FILE (with --out) or --resume RUN_DIR") }
        if resume != nil && !overrides.isEmpty { throw ValidationError("--set changes a new run's configuration; a resumed run keeps its config.json") }
        for o in overrides {
            guard let eq = o.firstIndex(of: "="), eq != o.startIndex, !o[o.startIndex..<eq].split(separator: ".", omittingEmptySubsequences: false).contains("") else {
                throw ValidationError("--set \(o): expected KEY=VALUE with a dotted KEY, e.g. --set adversarial.criticSteps=1")
            }
        }
        if config != nil && out == nil { throw ValidationError("--config needs --out RUN_DIR for the new run") }
        if let s = steps, s < 1 { throw ValidationError("--steps \(s) must be >= 1") }
        if let b = batchSize, b < 1 { throw ValidationError("--batch-size \(b) must be >= 1") }
        if let l = lr, !(l > 0) { throw ValidationError("--lr \(l) must be > 0") }
        if let problems = try distributed()?.problems(), !problems.isEmpty {
            throw ValidationError("data parallel: " + problems.joined(separator: "; "))
        }
    }

    /// The data-parallel group from the flags, else the torchrun environment; nil alone.
    func distributed() throws -> ProcessGroup.Configuration? {
        do {
            return try ProcessGroup.Configuration.resolve(worldSize: worldSize, rank: rank, masterAddress: masterAddr, masterPort: masterPort,
                                                          timeout: distTimeout, environment: ProcessInfo.processInfo.environment)
        } catch let TorchError.invalidArgument(_, message) {
            throw ValidationError("data parallel: \(message)")
        }
    }

    func run() throws {
        try global.apply()
        let folder: URL
        var cfg: TrainConfig
        if let resume {
            folder = URL(fileURLWithPath: resume)
            cfg = try Self.readConfig(folder.appendingPathComponent("config.json").path)
        } else {
            folder = URL(fileURLWithPath: out!)
            cfg = try Self.readConfig(config!, overrides: overrides)
            if let steps { cfg.steps = steps }
            if let batchSize { cfg.batchSize = batchSize }
            if let lr { cfg.learningRate = lr }
            if let seed { cfg.seed = seed }
            if !trainVolume.isEmpty { cfg.data.trainVolumes = trainVolume }
            if !validationVolume.isEmpty { cfg.data.validationVolumes = validationVolume }
        }
        if let t = cfg.threads, global.threads == nil { try TorchRuntime.setThreads(t) }
        try manualSeed(cfg.seed)
        do { try cfg.validate() } catch { throw CLIError("\(config ?? resume!): \(error)") }
        let trainer: Trainer
        let data: String
        let distributed = try distributed()
        switch cfg.model.contract {
        case .thickSlices where cfg.data.degradation == nil:
            let stacks = try Self.stacks(cfg)
            trainer = try Trainer(config: cfg, folder: folder, resume: resume != nil, stacks: stacks, distributed: distributed)
            data = "\(stacks.train.count) training stacks, \(stacks.validation.count) validation stacks"
        case .volume:
            let (train, validation): (VolumePatchSampler, VolumePatchSampler)
            do { (train, validation) = try VolumePatchSampler.samplers(cfg, read: Self.trainingVolume) } catch let e as ModelError { throw CLIError("\(e)") }
            trainer = try Trainer(config: cfg, folder: folder, resume: resume != nil, data: (train, validation), distributed: distributed)
            data = "3-D patches of \(train.sources.count) training and \(validation.sources.count) validation volumes"
                + (cfg.data.balance.map { String(format: ", %.0f%% centred in %@", 100 * $0.fraction, $0.mask) } ?? "")
        case .outputGrid where cfg.data.kernel != nil:
            let samplers: (train: KernelPairSampler, validation: KernelPairSampler, task: InPlaneTask)
            do { samplers = try KernelPairSampler.samplers(cfg, read: Self.trainingVolume) } catch let e as ModelError { throw CLIError("\(config ?? resume!): \(e)") }
            trainer = try Trainer(config: cfg, folder: folder, resume: resume != nil, data: (samplers.train, samplers.validation),
                                  distributed: distributed)
            data = "planes of \(samplers.train.sources.count) training and \(samplers.validation.sources.count) validation volumes "
                + "degraded in-plane by \(samplers.task.kernel) (x\(samplers.task.factor))"
        case .outputGrid, .thickSlices:
            let (train, validation): (DegradedSliceSampler, DegradedSliceSampler)
            do { (train, validation) = try DegradedSliceSampler.samplers(cfg, read: Self.trainingVolume) } catch let e as ModelError { throw CLIError("\(e)") }
            trainer = try Trainer(config: cfg, folder: folder, resume: resume != nil, data: (train, validation), distributed: distributed)
            data = "planes of \(train.sources.count) training and \(validation.sources.count) validation volumes"
        }
        let parallel = trainer.worldSize > 1
            ? "; data parallel: rank \(trainer.rank) of \(trainer.worldSize), \(trainer.worldSize) x batch \(cfg.batchSize)" : ""
        // Ctrl-C, and the SIGTERM that Slurm sends before a job's time limit, stop the run at the
        // next step with a checkpoint. Unblocked as well: a parent that blocks them (launchers and
        // test runners spawn children with their own signal mask) would leave the run deaf to both.
        signal(SIGINT) { _ in Trainer.stopRequested = true }
        signal(SIGTERM) { _ in Trainer.stopRequested = true }
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGINT)
        sigaddset(&stopSignals, SIGTERM)
        sigprocmask(SIG_UNBLOCK, &stopSignals, nil)
        guard trainer.writesFiles else {
            // Ranks other than 0 write nothing: no log, no files, one line at each end.
            if !quiet { Console.err("\(cfg.name): from step \(trainer.step)\(parallel)") }
            let done = try trainer.run(maxSteps: maxSteps, maxMinutes: maxMinutes)
            print("rank \(trainer.rank) of \(trainer.worldSize): \(done ? "finished" : "stopped") at step \(trainer.step) (rank 0 writes \(folder.path))")
            return
        }
        let log = try RunLog(folder: folder, quiet: quiet)
        trainer.observer = log
        log.progress("\(resume != nil ? "resuming" : "training") \(cfg.name): \(cfg.model.architecture), "
                     + "\(trainer.model.parameterCount) parameters, \(cfg.model.contract); \(data); from step \(trainer.step)\(parallel)")
        let done = try trainer.run(maxSteps: maxSteps, maxMinutes: maxMinutes)
        if done {
            print("\(folder.path)/model.safetensors: best validation L1 \(trainer.bestValidationLoss)")
        } else {
            print("\(folder.path): stopped at step \(trainer.step) of \(cfg.steps); continue with upres train --resume \(folder.path)")
        }
    }

    /// A training configuration in JSON, or in YAML when the name ends in .yaml or .yml; every
    /// field may be left out (defaults), unknown fields are errors naming them.
    static func readConfig(_ path: String, overrides: [String] = []) throws -> TrainConfig {
        var data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch { throw CLIError("\(path): cannot read the configuration") }
        let yaml = path.hasSuffix(".yaml") || path.hasSuffix(".yml")
        func field(_ path: [CodingKey]) -> String { path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") }
        do {
            if !overrides.isEmpty { data = try applying(overrides, to: data, yaml: yaml, path: path) }
            if yaml && overrides.isEmpty {
                guard let text = String(data: data, encoding: .utf8) else { throw CLIError("\(path): not UTF-8 text") }
                return try YAMLDecoder().decode(TrainConfig.self, from: text)
            }
            return try JSONDecoder().decode(TrainConfig.self, from: data)
        } catch let e as CLIError {
            throw e
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw CLIError("\(path): missing field \(field(ctx.codingPath + [key]))")
        } catch let DecodingError.typeMismatch(type, ctx) {
            throw CLIError("\(path): field \(field(ctx.codingPath)) should be \(type) (\(ctx.debugDescription))")
        } catch let DecodingError.valueNotFound(type, ctx) {
            throw CLIError("\(path): field \(field(ctx.codingPath)) is null; expected \(type)")
        } catch let DecodingError.dataCorrupted(ctx) {
            let at = field(ctx.codingPath)
            throw CLIError("\(path): \(at.isEmpty ? "" : "field \(at): ")\(ctx.debugDescription)")
        } catch {
            throw CLIError("\(path): not a \(yaml ? "YAML" : "JSON") training configuration (\(error))")
        }
    }

    /// The configuration with `--set KEY=VALUE` overrides applied, as JSON.
    static func applying(_ overrides: [String], to data: Data, yaml: Bool, path: String) throws -> Data {
        var tree: Any
        if yaml {
            guard let text = String(data: data, encoding: .utf8) else { throw CLIError("\(path): not UTF-8 text") }
            tree = try Yams.load(yaml: text) ?? [String: Any]()
        } else {
            tree = try JSONSerialization.jsonObject(with: data)
        }
        for o in overrides {
            let eq = o.firstIndex(of: "=")!
            let keys = o[o.startIndex..<eq].split(separator: ".").map(String.init)
            let text = String(o[o.index(after: eq)...])
            // JSON when it parses (numbers, booleans, lists, objects, quoted strings), else a string.
            let value = (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) ?? text
            func set(_ node: Any, _ keys: ArraySlice<String>) throws -> Any {
                var dict = node as? [String: Any] ?? [:]
                let k = keys.first!
                if keys.count == 1 {
                    dict[k] = value
                } else {
                    if let child = dict[k], !(child is [String: Any]) {
                        throw CLIError("--set \(o): \(k) is not a section of the configuration")
                    }
                    dict[k] = try set(dict[k] ?? [String: Any](), keys.dropFirst())
                }
                return dict
            }
            guard tree is [String: Any] else { throw CLIError("\(path): the configuration is not a mapping of fields") }
            tree = try set(tree, keys[...])
        }
        return try JSONSerialization.data(withJSONObject: tree)
    }

    /// Training and validation stacks: simulated on the fly from HR volumes.
    static func stacks(_ cfg: TrainConfig) throws -> (train: [TrainingStack], validation: [TrainingStack]) {
        func load(_ paths: [String], seed: UInt64) throws -> [TrainingStack] {
            var out: [TrainingStack] = []
            for (i, p) in paths.enumerated() {
                let v = try Self.trainingVolume(p)
                guard v.shape.count == 3 else { throw CLIError("\(p): training needs 3-D volumes, got shape \(v.shape)") }
                out += try StackBuilder.simulate(hr: v, name: p, config: cfg.data, task: cfg.task, factor: cfg.model.contract.fixedFactor!,
                                                 seed: seed &+ UInt64(i) &* 1000)
            }
            return out
        }
        if let manifest = cfg.data.manifest {
            let (train, validation) = try paired(manifest: manifest, cfg)
            guard !train.isEmpty else { throw CLIError("\(manifest): the dataset has no pairs in its train split") }
            return (train, validation + (try load(cfg.data.validationVolumes, seed: cfg.seed &+ 20)))
        }
        guard !cfg.data.trainVolumes.isEmpty else { throw CLIError("the configuration gives neither data.manifest nor data.trainVolumes") }
        return (try load(cfg.data.trainVolumes, seed: cfg.seed &+ 10), try load(cfg.data.validationVolumes, seed: cfg.seed &+ 20))
    }

    /// A volume a training config names, read and checked to hold one scalar per voxel.
    static func trainingVolume(_ path: String) throws -> Volume {
        let v = try VolumeIO.read(path).volume
        try VolumeIO.requireScalar(v, path)
        return v
    }

    /// Stacks from a paired dataset (`upres simulate --dataset`): its train and validation splits
    /// (the test split is never read); every HR volume is read once.
    static func paired(manifest path: String, _ cfg: TrainConfig) throws -> (train: [TrainingStack], validation: [TrainingStack]) {
        let url = URL(fileURLWithPath: path)
        let manifest: DatasetManifest
        do { manifest = try DatasetManifest.load(url) } catch { throw CLIError("\(error)") }
        guard manifest.complete else {
            throw CLIError("\(path): the dataset is incomplete (its build was interrupted); run the same upres simulate --dataset again to finish it")
        }
        let subjects = Dictionary(uniqueKeysWithValues: manifest.subjects.map { ($0.id, $0) })
        var hrCache: [String: Volume] = [:]
        func stacks(_ split: DatasetManifest.Split) throws -> [TrainingStack] {
            try manifest.pairs(in: split).map { pair in
                let subject = subjects[pair.subject]!
                let hrPath = DatasetManifest.url(of: subject.hr, relativeTo: url).path
                let lrPath = DatasetManifest.url(of: pair.lr, relativeTo: url).path
                if hrCache[hrPath] == nil { hrCache[hrPath] = try VolumeIO.read(hrPath).volume }
                let lr = try VolumeIO.read(lrPath).volume
                do {
                    return try StackBuilder.paired(hr: hrCache[hrPath]!, lr: lr, name: lrPath, task: cfg.task, factor: cfg.model.contract.fixedFactor!)
                } catch let e as ModelError { throw CLIError("\(path): pair \(pair.lr) (setting \(pair.setting)): \(e)") }
            }
        }
        return (try stacks(.train), try stacks(.validation))
    }
}

/// log.jsonl + TensorBoard + progress on stderr.
final class RunLog: TrainingObserver {
    let jsonl: FileHandle
    let tensorboard: TensorBoardWriter
    let quiet: Bool

    init(folder: URL, quiet: Bool) throws {
        let path = folder.appendingPathComponent("log.jsonl").path
        if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        jsonl = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try jsonl.seekToEnd()
        tensorboard = try TensorBoardWriter(folder: folder.appendingPathComponent("tb"))
        self.quiet = quiet
    }

    func scalars(step: Int, _ values: [String: Double]) {
        var fields = ["\"step\": \(step)", "\"time\": \(Date().timeIntervalSince1970)"]
        for (k, v) in values.sorted(by: { $0.key < $1.key }) { fields.append("\(JSONText.string(k)): \(JSONText.number(v))") }
        try? jsonl.write(contentsOf: Data(("{" + fields.joined(separator: ", ") + "}\n").utf8))
        try? tensorboard.scalars(step: step, values)
    }

    func images(step: Int, _ images: [String: Tensor]) {
        for (tag, t) in images.sorted(by: { $0.key < $1.key }) { try? tensorboard.image(step: step, tag: tag, t) }
    }

    func progress(_ line: String) { if !quiet { Console.err(line) } }
}
