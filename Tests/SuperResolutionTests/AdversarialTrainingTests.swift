import Foundation
import Testing
@testable import Imaging
@testable import NN
@testable import SuperResolution
import Torch

private func ramp(_ shape: [Int]) throws -> Volume {
    var v = [Double]()
    for i in 0..<shape[0] { for j in 0..<shape[1] { for k in 0..<shape[2] {
        v.append(100 + 40 * sin(Double(i) / 2) * cos(Double(j) / 3) + 30 * sin(Double(k) * 1.3) + Double((i * 7 + j * 3 + k * 5) % 11))
    } } }
    return Volume(data: try Tensor(v, shape: shape).to(.float32), affine: .identity)
}

private let task = ModelTask(sliceSpacing: 3, targetSpacing: 1, sliceThickness: 3)

/// Records what the trainer logs.
private final class Recorder: TrainingObserver {
    var logged: [Int: [String: Double]] = [:]
    var lines: [String] = []
    func scalars(step: Int, _ values: [String: Double]) { logged[step, default: [:]].merge(values) { $1 } }
    func images(step: Int, _ images: [String: Tensor]) {}
    func progress(_ line: String) { lines.append(line) }
}

@Suite struct AdversarialLossTests {
    @Test func theAdversarialLossesAreTheirDefinitions() throws {
        let real: [Double] = [1.5, -0.3, 0.2], fake: [Double] = [-1.2, 0.4, 2.0]
        let r = try Tensor(real, shape: [3, 1]), f = try Tensor(fake, shape: [3, 1])
        func mean(_ x: [Double]) -> Double { x.reduce(0, +) / Double(x.count) }
        func logSigmoid(_ x: Double) -> Double { -log(1 + exp(-x)) }
        let bceCritic = mean(real.map { -logSigmoid($0) }) + mean(fake.map { -logSigmoid(-$0) })
        let expected: [(AdversarialLoss, Double, Double)] = [
            (.bce, bceCritic, mean(fake.map { -logSigmoid($0) })),
            (.criticGuided, bceCritic, 1 - mean(fake.map { 1 / (1 + exp(-$0)) })),
            (.hinge, mean(real.map { max(0, 1 - $0) }) + mean(fake.map { max(0, 1 + $0) }), -mean(fake)),
            (.wasserstein, mean(fake) - mean(real), -mean(fake)),
        ]
        for (loss, critic, generator) in expected {
            #expect(abs(try loss.criticLoss(real: r, fake: f).item() - critic) < 1e-12, "\(loss) critic")
            #expect(abs(try loss.generatorLoss(fake: f).item() - generator) < 1e-12, "\(loss) generator")
        }
    }

    /// A linear critic D(x) = <w, x> has the gradient w everywhere: the penalty is (|w| - 1)^2,
    /// and its gradient in w is 2 (|w| - 1) w / |w| (only reachable through the double backward).
    @Test func theGradientPenaltyOfALinearCriticIsKnown() throws {
        let w = try Tensor([0.3, -1.2, 0.5, 2.0, 0.1, -0.4], shape: [1, 6]).requiresGrad(true)
        let critic: (Tensor) throws -> Tensor = { x in try (x.flatten(startDim: 1) * w).sum(dim: 1) }
        let real = try Tensor.rand([4, 1, 2, 3], dtype: .float64, generator: Generator(seed: 1))
        let fake = try Tensor.rand([4, 1, 2, 3], dtype: .float64, generator: Generator(seed: 2))
        let gp = try gradientPenalty(critic: critic, real: real, fake: fake, generator: Generator(seed: 3))
        let values: [Double] = try w.detach().toArray()
        let norm = values.map { $0 * $0 }.reduce(0, +).squareRoot()
        #expect(abs(try gp.item() - (norm - 1) * (norm - 1)) < 1e-12)
        try gp.backward()
        let grad: [Double] = try w.grad!.toArray()
        for (g, v) in zip(grad, values) { #expect(abs(g - 2 * (norm - 1) * v / norm) < 1e-12) }
    }
}

@Suite struct CriticTests {
    /// Both critics against their PyTorch twins (bench/critic_reference.py; fixture from
    /// Tests/Fixtures/critics/make_reference.py): the same state dict loads by name, the scores
    /// agree, and so do WGAN-GP's penalty and its gradient in every critic parameter.
    @Test func criticsEqualTheirPyTorchTwins() throws {
        let fixture = try Safetensors.read(packageRoot.appendingPathComponent("Tests/Fixtures/critics/critics.safetensors")).tensors
        let critics: [(String, any CriticNetwork)] = [
            ("dcgan", try DCGANCritic(DCGANCriticConfig(features: 4, blocks: 2, patch: [12, 8]), generator: nil)),
            ("patchgan", try PatchGANCritic(PatchGANCriticConfig(features: 4, layers: 2), generator: nil)),
        ]
        for (name, critic) in critics {
            var state: [String: Tensor] = [:]
            for (k, v) in fixture where k.hasPrefix("\(name).state.") { state[String(k.dropFirst("\(name).state.".count))] = v }
            try critic.loadStateDict(state, strict: true, source: name)  // float64 -> the critic's float32
            critic.eval()
            let real = try fixture["\(name).real"]!.to(.float32), fake = try fixture["\(name).fake"]!.to(.float32)
            let expected = try fixture["\(name).output"]!
            let out = try critic(real).to(.float64)
            #expect(out.shape == expected.shape)
            #expect(try (out - expected).abs().max().item() < 1e-5, "\(name) scores")
            let gp = try gradientPenalty(critic: { try critic($0) }, real: real, fake: fake, mixing: fixture["\(name).eps"]!.to(.float32))
            let penalty = try fixture["\(name).penalty"]!.item(), value = try gp.item()
            #expect(abs(value - penalty) < 1e-5 * max(1, penalty), "\(name) penalty \(value) vs \(penalty)")
            for p in critic.parameters() { try p.zeroGrad() }
            try gp.backward()
            for (k, p) in critic.namedParameters() {
                let reference = fixture["\(name).penalty_grad.\(k)"]!
                let g = try (p.grad ?? (try Tensor.zeros(like: p))).to(.float64)
                let scale = max(1e-3, try reference.abs().max().item())
                #expect(try (g - reference).abs().max().item() < 1e-4 * scale, "\(name) penalty gradient \(k)")
            }
        }
    }

    @Test func criticsRefuseImagesTheyCannotJudge() throws {
        let dcgan = try DCGANCritic(DCGANCriticConfig(features: 4, blocks: 2, patch: [12, 8]), generator: nil)
        #expect(throws: ModelError.self) { try dcgan(Tensor.zeros([1, 1, 16, 8])) }
        let patch = try PatchGANCritic(PatchGANCriticConfig(features: 4, layers: 3), generator: nil)
        #expect(throws: ModelError.self) { try patch(Tensor.zeros([1, 1, 23, 40])) }
        #expect(try patch(Tensor.zeros([1, 1, 24, 40])).shape == [1, 1, 1, 3])
        #expect(throws: ModelError.self) { try DCGANCriticConfig(blocks: 3, patch: [4, 64]).validate() }
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(CriticSpec.self, from: Data(#"{"architecture": "unet-gan"}"#.utf8))
        }
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(CriticSpec.self, from: Data(#"{"architecture": "patchgan", "layer": 2}"#.utf8))
        }
    }
}

@Suite struct AdversarialTrainerTests {
    /// A tiny EDSR against seed 000's critic (with dropout: the global random stream matters)
    /// under WGAN-GP (the penalty's random stream matters), two critic steps per model step, a
    /// plateau schedule and two pixel terms.
    func config(steps: Int) throws -> TrainConfig {
        var data = DataConfig(variants: 1, directions: [2], thickness: 3, thicknessJitter: 0.2, patchWidth: 8, patchRows: 4, validationPatches: 4)
        data.noise = 0.01
        let critic = DCGANCriticConfig(features: 4, blocks: 2, dropout: 0.5, patch: [12, 8])
        return TrainConfig(model: ModelSpec(EDSRConfig(inChannels: 3, outChannels: 1, features: 4, blocks: 1, residualScale: 0.1, factor: 3, upsampleFeatures: 2)),
                           task: task, data: data, seed: 5, steps: steps, batchSize: 2, learningRate: 1e-3,
                           schedule: .plateau(factor: 0.5, patience: 0, threshold: 0, cooldown: 0, minRate: 0), warmupSteps: 0,
                           losses: ["l1": 1, "charbonnier": 0.5],
                           adversarial: AdversarialConfig(critic: CriticSpec(critic), loss: .wasserstein, weight: 0.01, criticSteps: 2,
                                                          gradientPenalty: 10, learningRate: 1e-4, betas: [0, 0.9], startStep: 1),
                           logEvery: 1, validateEvery: 2, checkpointEvery: 2)
    }

    func stacks() throws -> [TrainingStack] {
        try StackBuilder.simulate(hr: ramp([12, 14, 30]), name: "phantom", config: config(steps: 1).data, task: task, factor: 3, seed: 4)
    }

    @Test func anAdversarialRunKilledAndResumedFollowsTheSameCurve() throws {
        let s = try stacks()
        let whole = try scratchFolder().appendingPathComponent("run")
        let a = try Trainer(config: config(steps: 7), folder: whole, resume: false, stacks: (s, s))
        let recorder = Recorder()
        a.observer = recorder
        try a.run()
        let split = try scratchFolder().appendingPathComponent("run")
        let b1 = try Trainer(config: config(steps: 7), folder: split, resume: false, stacks: (s, s))
        try b1.run(maxSteps: 3)
        // A new process (the global random stream elsewhere: dropout draws from the run's own stream).
        try manualSeed(99)
        let b2 = try Trainer(config: config(steps: 7), folder: split, resume: true, stacks: (s, s))
        #expect(b2.step == 3)
        try b2.run()
        #expect(b2.history.map(\.loss) == Array(a.history.suffix(4).map(\.loss)), "\(b2.history) vs \(a.history)")
        for (network, other) in [(a.model as Module, b2.model as Module), (a.critic! as Module, b2.critic! as Module)] {
            for ((n1, t1), (_, t2)) in zip(network.namedTensors(), other.namedTensors()) {
                #expect(try (t1 - t2).abs().max().item() == 0, "\(n1) differs")
            }
        }
        #expect(a.learningRate(at: 7) == b2.learningRate(at: 7))
        // The critic trained twice per model step from step 1 on; the model every step.
        #expect(a.criticOptimizer!.stepCount == 2 * 6 && (a.optimizer as! Adam).stepCount == 7)
        // One scalar per term, and the critic's.
        let first = recorder.logged[1]!, later = recorder.logged[2]!
        #expect(first["train/loss/l1"] != nil && first["train/loss/charbonnier"] != nil && first["train/loss/adversarial"] == nil)
        for key in ["train/loss", "train/loss/l1", "train/loss/charbonnier", "train/loss/adversarial", "train/critic/loss",
                    "train/critic/gradient_penalty", "train/critic/real", "train/critic/fake", "train/critic/lr"] {
            #expect(later[key]?.isFinite == true, "\(key) logged")
        }
        let total = later["train/loss/l1"]! + 0.5 * later["train/loss/charbonnier"]! + 0.01 * later["train/loss/adversarial"]!
        #expect(abs(later["train/loss"]! - total) < 1e-6 * max(1, abs(total)))
        #expect(FileManager.default.fileExists(atPath: split.appendingPathComponent("critic.safetensors").path))
    }

    /// The critic learns: on real images made easy to tell apart (shifted by 1), its BCE falls
    /// to under half its start within 40 updates (Adam, lr 1e-2), and its weights leave their initialization.
    @Test func theCriticLearnsToTellRealFromGenerated() throws {
        let s = try stacks()
        var c = try config(steps: 10)
        c.adversarial?.loss = .bce
        c.adversarial?.learningRate = 1e-2
        c.adversarial?.gradientPenalty = 0
        c.adversarial?.critic = CriticSpec(DCGANCriticConfig(features: 4, blocks: 2, dropout: 0, patch: [12, 8]))
        let t = try Trainer(config: c, folder: try scratchFolder().appendingPathComponent("run"), resume: false, stacks: (s, s))
        let fresh = try c.adversarial!.critic.makeCritic(generator: Generator(seed: c.seed &+ 4))
        let (lr, hr) = try PatchSampler(stacks: s, config: c.data, factor: 3, channels: 3).batch(size: 4, generator: Generator(seed: 1), augment: false)
        var losses: [Double] = []
        for _ in 0..<40 {
            losses.append(try t.criticStep(critic: t.critic!, optimizer: t.criticOptimizer!, adversarial: c.adversarial!, input: lr, real: hr + 1)["critic/loss"]!)
        }
        #expect(losses.suffix(5).reduce(0, +) / 5 < 0.5 * losses[0], "\(losses)")
        let moved = try zip(t.critic!.namedTensors(), fresh.namedTensors()).map { try ($0.1 - $1.1).abs().max().item() }.max()!
        #expect(moved > 1e-4)
    }

    /// Validation L1 that stops improving halves the rate (patience 0, factor 0.5), and the
    /// plateau's state survives a checkpoint.
    @Test func thePlateauScheduleLowersTheRateAndResumes() throws {
        let s = try stacks()
        var c = try config(steps: 10)
        c.adversarial = nil
        let folder = try scratchFolder().appendingPathComponent("run")
        let t = try Trainer(config: c, folder: folder, resume: false, stacks: (s, s))
        try t.validate()  // the first value is the best so far
        #expect(t.learningRate(at: 5) == 1e-3)
        try t.validate()  // the same weights: no improvement
        #expect(t.learningRate(at: 5) == 5e-4)
        try t.validate()
        #expect(t.learningRate(at: 5) == 2.5e-4)
        try t.saveCheckpoint()
        let resumed = try Trainer(config: c, folder: folder, resume: true, stacks: (s, s))
        #expect(resumed.learningRate(at: 5) == 2.5e-4)
        // From a config file.
        let json = #"{"schedule": {"plateau": {"factor": 0.2, "patience": 3, "threshold": 0.001, "cooldown": 1, "minRate": 1e-6}}}"#
        let decoded = try JSONDecoder().decode(TrainConfig.self, from: Data(json.utf8))
        #expect(decoded.schedule == .plateau(factor: 0.2, patience: 3, threshold: 0.001, cooldown: 1, minRate: 1e-6))
    }

    /// Frozen modules keep the weights they started from (here: a model file's).
    @Test func frozenModulesStayWhereTheyStarted() throws {
        let s = try stacks()
        var c = try config(steps: 3)
        c.adversarial = nil
        let first = try scratchFolder().appendingPathComponent("run")
        try Trainer(config: c, folder: first, resume: false, stacks: (s, s)).run()
        let start = try ModelFile.load(first.appendingPathComponent("model.safetensors"))
        c.initialWeights = first.appendingPathComponent("model.safetensors").path
        c.freeze = ["head", "body.0"]
        let t = try Trainer(config: c, folder: try scratchFolder().appendingPathComponent("run"), resume: false, stacks: (s, s))
        try t.run()
        let before = Dictionary(uniqueKeysWithValues: start.model.namedTensors())
        var moved = 0
        for (name, tensor) in t.model.namedTensors() {
            let same = try (tensor - before[name]!).abs().max().item() == 0
            if name.hasPrefix("head.") || name.hasPrefix("body.0.") { #expect(same, "\(name) is frozen") } else if !same { moved += 1 }
        }
        #expect(moved > 0)
        c.freeze = ["neck"]
        #expect(throws: ModelError.self) { try Trainer(config: c, folder: try scratchFolder().appendingPathComponent("run"), resume: false, stacks: (s, s)) }
    }

    /// A finished run's critic serves as the feature network of a perceptual loss.
    @Test func aFinishedCriticIsAPerceptualFeatureNetwork() throws {
        let s = try stacks()
        let gan = try scratchFolder().appendingPathComponent("run")
        try Trainer(config: config(steps: 2), folder: gan, resume: false, stacks: (s, s)).run()
        let file = gan.appendingPathComponent("critic.safetensors").path
        let loss = try PerceptualLoss(PerceptualConfig(critic: file))
        #expect(loss.layerWeights == [1, 1])
        let x = try Tensor.rand([2, 1, 12, 8], generator: Generator(seed: 1))
        #expect(try loss(x, x).item() == 0)
        #expect(try loss(x, x * 0.5).item() > 0)
        var c = try config(steps: 2)
        c.adversarial = nil
        c.losses = ["l1": 1, "perceptual": 0.1]
        c.perceptual = PerceptualConfig(critic: file)
        let recorder = Recorder()
        let t = try Trainer(config: c, folder: try scratchFolder().appendingPathComponent("run"), resume: false, stacks: (s, s))
        t.observer = recorder
        try t.run()
        #expect((recorder.logged[1]?["train/loss/perceptual"] ?? 0) > 0)
    }

    /// VGG16 and VGG19 features (random weights of torchvision's shapes; the variant read from
    /// the weights): zero for equal images, and the gradient reaches the prediction, not the
    /// target. LPIPS refuses a VGG19 backbone.
    @Test func theVGGPerceptualLossIsDifferentiableInThePrediction() throws {
        for (variant, indices, channels) in [(VGGFeatures.Variant.vgg16, VGGFeatures.convolutionIndices, VGGFeatures.outputChannels),
                                             (.vgg19, VGGFeatures.vgg19ConvolutionIndices, VGGFeatures.vgg19OutputChannels)] {
            var tensors: [(String, Tensor)] = []
            var inputs = 3
            let g = try Generator(seed: 4)
            for (i, out) in zip(indices, channels) {
                tensors.append(("features.\(i).weight", try Tensor.randn([out, inputs, 3, 3], generator: g) * (2 / Double(9 * inputs)).squareRoot()))
                tensors.append(("features.\(i).bias", try Tensor.zeros([out])))
                inputs = out
            }
            let file = try scratchFolder().appendingPathComponent("\(variant).safetensors")
            try Safetensors.write(tensors, metadata: [:], to: file)
            #expect(try VGGFeatures(contentsOf: file).variant == variant)
            let loss = try PerceptualLoss(PerceptualConfig(vggWeights: file.path))
            #expect(loss.layerWeights == [0.1, 0.1, 1, 1, 1] && loss.description.hasPrefix(variant.rawValue.uppercased()))
            let target = try Tensor.rand([2, 1, 32, 32], generator: Generator(seed: 1))
            #expect(try loss(target, target).item() == 0)
            let prediction = try (target * 0.9).detach().requiresGrad(true)
            let value = try loss(prediction, target)
            #expect(try value.item() > 0)
            try value.backward()
            #expect(try prediction.grad!.abs().sum().item() > 0)
            #expect(throws: ModelError.self) { try PerceptualLoss(PerceptualConfig(vggWeights: file.path, layerWeights: [1, 1])) }
            if variant == .vgg19 {
                let lin = Dictionary(uniqueKeysWithValues: VGGFeatures.featureChannels.enumerated().map { ("lin\($0.0)", try! Tensor.ones([1, $0.1, 1, 1])) })
                #expect(throws: MetricError.self) { try LPIPS(backbone: VGGFeatures(contentsOf: file), tensors: lin, file: "lin") }
            }
        }
    }

    @Test func badAdversarialConfigurationsAreRefused() throws {
        func decode(_ json: String) throws -> TrainConfig { try JSONDecoder().decode(TrainConfig.self, from: Data(json.utf8)) }
        #expect(throws: DecodingError.self) { try decode(#"{"loss": "l1", "losses": {"l1": 1}}"#) }
        #expect(throws: DecodingError.self) { try decode(#"{"adversarial": {"loss": "bce"}}"#) }
        #expect(throws: DecodingError.self) { try decode(#"{"adversarial": {"critic": {"architecture": "patchgan"}, "nCritic": 5}}"#) }
        #expect(throws: ModelError.self) { try decode(#"{"losses": {"l1": 1, "vgg": 1}}"#).validate() }
        #expect(throws: ModelError.self) { try decode(#"{"losses": {"l1": 1, "perceptual": 1}}"#).validate() }
        #expect(throws: ModelError.self) { try decode(#"{"losses": {"l1": 0}}"#).validate() }
        #expect(throws: ModelError.self) { try decode(#"{"steps": 10, "adversarial": {"critic": {"architecture": "patchgan"}, "startStep": 10}}"#).validate() }
        #expect(throws: ModelError.self) { try decode(#"{"adversarial": {"critic": {"architecture": "patchgan"}, "betas": [0.5]}}"#).validate() }
        #expect(throws: ModelError.self) {
            try decode(#"{"perceptual": {"vggWeights": "a.safetensors", "critic": "b.safetensors"}, "losses": {"perceptual": 1}}"#).validate()
        }
        // A complete seed-004-style section reads back.
        let c = try decode(#"{"losses": {"l1": 1}, "adversarial": {"critic": {"architecture": "patchgan", "features": 16}, "loss": "wasserstein", "criticSteps": 5, "gradientPenalty": 10, "betas": [0, 0.9], "weight": 0.02}}"#)
        try c.validate()
        #expect(c.adversarial?.criticSteps == 5 && c.adversarial?.critic.architecture == "patchgan")
        // What the run folder's config.json holds reads back as the same configuration (resume).
        #expect(try JSONDecoder().decode(TrainConfig.self, from: JSONEncoder().encode(c)) == c)
        var noClip = try config(steps: 3)
        noClip.clipGradNorm = nil
        #expect(try JSONDecoder().decode(TrainConfig.self, from: JSONEncoder().encode(noClip)) == noClip)
    }
}
