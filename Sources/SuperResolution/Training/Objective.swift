import Foundation
import Imaging
import NN
import Torch

/// The feature network of a perceptual loss: torchvision's VGG16 or VGG19 (seed 001's) from
/// user-supplied safetensors weights (VGG16: the file `upres evaluate --lpips` reads), or the critic of a finished adversarial run
/// (`critic.safetensors`), which has seen MRI rather than photographs.
public struct PerceptualConfig: Codable, Sendable, Equatable {
    /// torchvision VGG16 or VGG19 weights (safetensors; the variant is read from the weights).
    public var vggWeights: String?
    /// A critic saved by `upres train` (`RUN/critic.safetensors`).
    public var critic: String?
    /// One weight per feature map (VGG: the end of each of its five blocks; a critic: one per
    /// block). Default: VGG 0.1, 0.1, 1, 1, 1 (Real-ESRGAN's choice for VGG19), a critic 1 each.
    public var layerWeights: [Double]?

    public init(vggWeights: String? = nil, critic: String? = nil, layerWeights: [Double]? = nil) {
        self.vggWeights = vggWeights
        self.critic = critic
        self.layerWeights = layerWeights
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case vggWeights, critic, layerWeights }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vggWeights = try c.decodeIfPresent(String.self, forKey: .vggWeights)
        critic = try c.decodeIfPresent(String.self, forKey: .critic)
        layerWeights = try c.decodeIfPresent([Double].self, forKey: .layerWeights)
    }

    public func validate() throws {
        guard (vggWeights == nil) != (critic == nil) else {
            throw ModelError.invalid("perceptual: give exactly one of vggWeights (torchvision VGG16 safetensors) or critic (RUN/critic.safetensors)")
        }
        if let w = layerWeights, w.isEmpty || w.contains(where: { !($0 >= 0) }) {
            throw ModelError.invalid("perceptual.layerWeights must be non-empty and >= 0")
        }
    }
}

/// The frozen feature network and the weighted L1 distance between feature maps
/// (Johnson 2016; seed 001's content loss).
public final class PerceptualLoss {
    enum Network {
        case vgg(VGGFeatures)
        case critic(any CriticNetwork)
    }
    let network: Network
    public let layerWeights: [Double]
    public let description: String

    public init(_ config: PerceptualConfig) throws {
        try config.validate()
        let layers: Int, defaultWeights: [Double]
        if let path = config.vggWeights {
            let vgg = try VGGFeatures(contentsOf: URL(fileURLWithPath: path))
            network = .vgg(vgg)
            layers = VGGFeatures.featureChannels.count
            defaultWeights = [0.1, 0.1, 1, 1, 1]
            description = "\(vgg.variant.rawValue.uppercased()) (\(path))"
        } else {
            let critic = try CriticFile.load(URL(fileURLWithPath: config.critic!))
            for p in critic.parameters() { try p.requiresGrad(false) }
            critic.eval()
            network = .critic(critic)
            layers = try withNoGrad { try critic.features(Tensor.zeros(critic.configuration.smallestInputShape)).count }
            defaultWeights = Array(repeating: 1, count: layers)
            description = "the critic \(config.critic!) (\(type(of: critic.configuration).architecture))"
        }
        let weights = config.layerWeights ?? defaultWeights
        guard weights.count == layers else {
            throw ModelError.invalid("perceptual.layerWeights has \(weights.count) weights for the \(layers) feature maps of \(description)")
        }
        layerWeights = weights
    }

    /// Sum over feature maps of weight x mean |phi(prediction) - phi(target)|; (N, 1, H, W)
    /// images in [0, 1]. Gradients reach the prediction only.
    public func callAsFunction(_ prediction: Tensor, _ target: Tensor) throws -> Tensor {
        let both = try Tensor.cat([prediction, target.detach()], dim: 0)
        let features: [Tensor]
        switch network {
        case .vgg(let vgg):
            features = try vgg.features(VGGFeatures.standardize(both.expand([-1, 3, -1, -1])), pooling: .max)
        case .critic(let critic):
            features = try critic.features(both)
        }
        let n = prediction.shape[0]
        var total: Tensor?
        for (f, w) in zip(features, layerWeights) where w > 0 {
            let term = try f.narrow(0, start: 0, length: n).l1Loss(f.narrow(0, start: n, length: n)) * w
            total = try total.map { try $0 + term } ?? term
        }
        return try total ?? Tensor.zeros([]).to(prediction.dtype)
    }
}

/// Adversarial training: the critic, its optimizer and schedule, the losses, and when it starts.
public struct AdversarialConfig: Codable, Sendable, Equatable {
    public var critic: CriticSpec
    public var loss: AdversarialLoss
    /// The adversarial term's weight in the generator's loss (seed 001: 0.05; seed 000's
    /// lambda_critic in [0, 1]; seed 004: 1e-2 to 0.2).
    public var weight: Double
    /// Critic updates per generator update (n_critic; seeds 000 and 004: 5), each on a new batch.
    public var criticSteps: Int
    /// WGAN-GP's lambda (seed 004: 10); 0 for none.
    public var gradientPenalty: Double
    public var learningRate: Double
    /// Adam's betas for the critic (seed 004: 0, 0.9).
    public var betas: [Double]
    public var schedule: LearningRateSchedule
    /// Generator steps with the pixel (and perceptual) losses only before the critic joins
    /// (seed 001's two stages).
    public var startStep: Int

    public init(critic: CriticSpec = CriticSpec(PatchGANCriticConfig()), loss: AdversarialLoss = .bce, weight: Double = 0.05,
                criticSteps: Int = 1, gradientPenalty: Double = 0, learningRate: Double = 1e-4, betas: [Double] = [0.9, 0.999],
                schedule: LearningRateSchedule = .constant, startStep: Int = 0) {
        self.critic = critic
        self.loss = loss
        self.weight = weight
        self.criticSteps = criticSteps
        self.gradientPenalty = gradientPenalty
        self.learningRate = learningRate
        self.betas = betas
        self.schedule = schedule
        self.startStep = startStep
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case critic, loss, weight, criticSteps, gradientPenalty, learningRate, betas, schedule, startStep
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = AdversarialConfig()
        critic = try c.decode(CriticSpec.self, forKey: .critic)
        loss = try c.value(.loss, or: d.loss)
        weight = try c.value(.weight, or: d.weight)
        criticSteps = try c.value(.criticSteps, or: d.criticSteps)
        gradientPenalty = try c.value(.gradientPenalty, or: d.gradientPenalty)
        learningRate = try c.value(.learningRate, or: d.learningRate)
        betas = try c.value(.betas, or: d.betas)
        schedule = try c.value(.schedule, or: d.schedule)
        startStep = try c.value(.startStep, or: d.startStep)
    }

    public func validate() throws {
        try critic.configuration.validate()
        guard weight >= 0, weight.isFinite, criticSteps >= 1, gradientPenalty >= 0, learningRate > 0, startStep >= 0 else {
            throw ModelError.invalid("adversarial: weight and gradientPenalty must be >= 0, criticSteps >= 1, learningRate > 0, startStep >= 0")
        }
        guard betas.count == 2, betas.allSatisfy({ (0..<1).contains($0) }) else {
            throw ModelError.invalid("adversarial.betas must be two numbers in [0, 1), got \(betas)")
        }
        guard critic.configuration.inChannels == 1 else {
            throw ModelError.invalid("adversarial.critic judges the model's one-channel output: inChannels must be 1")
        }
    }
}

/// The generator's objective: weighted pixel, perceptual and adversarial terms.
public struct GeneratorObjective {
    /// The names a config's `losses` may use.
    public static let termNames = ["charbonnier", "l1", "l2", "mse", "perceptual", "ssim"]

    public let weights: [(String, Double)]
    let perceptual: PerceptualLoss?

    /// `weights`: term name -> weight (see `termNames`; l2 and mse are one term).
    public init(weights: [String: Double], perceptual: PerceptualLoss?) throws {
        try Self.validate(weights: weights, hasPerceptual: perceptual != nil)
        self.weights = weights.sorted { $0.key < $1.key }.filter { $0.value > 0 }
        self.perceptual = perceptual
    }

    /// Refuses unknown terms, negative weights, and a perceptual term without its network.
    public static func validate(weights: [String: Double], hasPerceptual: Bool) throws {
        for name in weights.keys.sorted() {
            guard termNames.contains(name) else {
                throw ModelError.invalid("losses: unknown term '\(name)'; expected \(termNames.joined(separator: ", ")) (the adversarial term is weighted in adversarial.weight)")
            }
            guard let w = weights[name], w >= 0, w.isFinite else { throw ModelError.invalid("losses.\(name): weight \(weights[name]!) must be >= 0") }
        }
        if (weights["perceptual"] ?? 0) > 0 && !hasPerceptual {
            throw ModelError.invalid("losses.perceptual needs a perceptual section (vggWeights or critic)")
        }
    }

    /// The weighted sum of the pixel and perceptual terms, and each term's unweighted value.
    public func callAsFunction(_ prediction: Tensor, _ target: Tensor) throws -> (Tensor, [String: Double]) {
        var total: Tensor?
        var values: [String: Double] = [:]
        for (name, w) in weights {
            let term: Tensor
            switch name {
            case "l1": term = try Loss.l1(prediction, target)
            case "l2", "mse": term = try Loss.mse(prediction, target)
            case "charbonnier": term = try Loss.charbonnier(prediction, target)
            case "ssim": term = try Loss.ssim(prediction, target)
            default: term = try perceptual!(prediction, target)
            }
            values[name] = try term.item()
            let weighted = try term * w
            total = try total.map { try $0 + weighted } ?? weighted
        }
        return (try total ?? (prediction.sum() * 0), values)
    }
}

/// A critic on disk: its weights with the architecture in the metadata (`upres.critic`).
public enum CriticFile {
    public static func save(_ critic: any CriticNetwork, to url: URL, extra: [String: String] = [:]) throws {
        var meta = extra
        meta["format"] = "pt"
        meta["upres.critic"] = try CriticSpec(critic.configuration).json()
        try critic.save(to: url, metadata: meta)
    }

    public static func load(_ url: URL) throws -> any CriticNetwork {
        guard FileManager.default.fileExists(atPath: url.path) else { throw ModelError.invalid("\(url.path): no such critic file") }
        let contents: Safetensors.Contents
        do { contents = try Safetensors.read(url) } catch {
            throw ModelError.invalid("\(url.path): not a valid safetensors file (\(error))")
        }
        guard let text = contents.metadata["upres.critic"] else {
            throw ModelError.invalid("\(url.path): the metadata has no upres.critic; is it a critic saved by upres train?")
        }
        let spec: CriticSpec
        do { spec = try JSONDecoder().decode(CriticSpec.self, from: Data(text.utf8)) } catch {
            throw ModelError.invalid("\(url.path): upres.critic is not a critic configuration upres knows (\(error))")
        }
        let critic = try spec.makeCritic()
        try critic.loadStateDict(contents.tensors, strict: true, source: url.path)
        critic.eval()
        return critic
    }
}
