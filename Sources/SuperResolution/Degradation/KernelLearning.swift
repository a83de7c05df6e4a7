import Foundation
import Imaging
import NN
import Torch

/// The settings of seed 003's downsampling GAN (`upres degrade learn`). Defaults are the seed's.
public struct KernelLearningSettings: Codable, Sendable, Equatable {
    /// The in-plane downscaling factor (seed 003: 2).
    public var factor: Int = 2
    public var iterations: Int = 3000
    public var seed: UInt64 = 0
    /// High-resolution patch side (seed 003: 64); the real low-resolution patch is the
    /// generator's output for it, (64 - 13) / 2 + 1 = 26.
    public var patch: Int = 64
    /// Patch pairs per iteration (seed 003: 1).
    public var batch: Int = 1
    /// Channels inside the generator and the discriminator (KernelGAN, the seed's source: 64).
    public var generatorWidth: Int = 64
    public var discriminatorWidth: Int = 64
    /// Adam for both networks (KernelGAN: 2e-4, betas 0.5, 0.999).
    public var learningRate: Double = 2e-4
    public var betas: [Double] = [0.5, 0.999]
    /// The regularizers' starting weights (seed 003: bicubic 5, sum-to-one 0.5, boundaries 0.5,
    /// sparsity 0, centring 0).
    public var bicubicWeight: Double = 5
    public var sumToOneWeight: Double = 0.5
    public var boundaryWeight: Double = 0.5
    public var sparsityWeight: Double = 0
    public var centringWeight: Double = 0
    /// Schedule (seed 003): once the bicubic loss is below `bicubicThreshold`, the bicubic weight
    /// is multiplied by `bicubicDecay` every `decayEvery` iterations; once it is below
    /// `switchBelow`, the centring and sparsity weights become `centringEnd` and `sparsityEnd`.
    public var bicubicThreshold: Double = 0.4
    public var decayEvery: Int = 200
    public var bicubicDecay: Double = 0.01
    public var switchBelow: Double = 0.005
    public var centringEnd: Double = 1
    public var sparsityEnd: Double = 5
    /// Sampling probability floor, as a fraction of the mean gradient magnitude.
    public var samplingFloor: Double = 0.05

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case factor, iterations, seed, patch, batch, generatorWidth, discriminatorWidth, learningRate, betas, bicubicWeight,
             sumToOneWeight, boundaryWeight, sparsityWeight, centringWeight, bicubicThreshold, decayEvery, bicubicDecay,
             switchBelow, centringEnd, sparsityEnd, samplingFloor
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = KernelLearningSettings()
        factor = try c.value(.factor, or: d.factor)
        iterations = try c.value(.iterations, or: d.iterations)
        seed = try c.value(.seed, or: d.seed)
        patch = try c.value(.patch, or: d.patch)
        batch = try c.value(.batch, or: d.batch)
        generatorWidth = try c.value(.generatorWidth, or: d.generatorWidth)
        discriminatorWidth = try c.value(.discriminatorWidth, or: d.discriminatorWidth)
        learningRate = try c.value(.learningRate, or: d.learningRate)
        betas = try c.value(.betas, or: d.betas)
        bicubicWeight = try c.value(.bicubicWeight, or: d.bicubicWeight)
        sumToOneWeight = try c.value(.sumToOneWeight, or: d.sumToOneWeight)
        boundaryWeight = try c.value(.boundaryWeight, or: d.boundaryWeight)
        sparsityWeight = try c.value(.sparsityWeight, or: d.sparsityWeight)
        centringWeight = try c.value(.centringWeight, or: d.centringWeight)
        bicubicThreshold = try c.value(.bicubicThreshold, or: d.bicubicThreshold)
        decayEvery = try c.value(.decayEvery, or: d.decayEvery)
        bicubicDecay = try c.value(.bicubicDecay, or: d.bicubicDecay)
        switchBelow = try c.value(.switchBelow, or: d.switchBelow)
        centringEnd = try c.value(.centringEnd, or: d.centringEnd)
        sparsityEnd = try c.value(.sparsityEnd, or: d.sparsityEnd)
        samplingFloor = try c.value(.samplingFloor, or: d.samplingFloor)
    }

    /// The real low-resolution patch side: the generator's output for a `patch` input.
    public var lowResolutionPatch: Int { DeepLinearGenerator.outputSize(input: patch, factor: factor) }

    public func validate() throws {
        func bad(_ field: String, _ value: Any, _ expected: String) -> DegradationError {
            .invalid("kernel learning: \(field) \(value) \(expected)")
        }
        guard (1...8).contains(factor) else { throw bad("factor", factor, "must be 1 to 8") }
        guard iterations >= 1 else { throw bad("iterations", iterations, "must be >= 1") }
        guard batch >= 1 else { throw bad("batch", batch, "must be >= 1") }
        guard generatorWidth >= 1, discriminatorWidth >= 1 else { throw bad("width", [generatorWidth, discriminatorWidth], "must be >= 1") }
        guard lowResolutionPatch >= 9 else {
            throw bad("patch", patch, "is too small: the discriminator needs low-resolution patches of 9 or more voxels, and a \(patch) patch gives \(lowResolutionPatch) at factor \(factor)")
        }
        guard learningRate > 0, learningRate.isFinite else { throw bad("learningRate", learningRate, "must be > 0") }
        guard betas.count == 2, betas.allSatisfy({ (0..<1).contains($0) }) else { throw bad("betas", betas, "must be two values in [0, 1)") }
        let weights = [bicubicWeight, sumToOneWeight, boundaryWeight, sparsityWeight, centringWeight, centringEnd, sparsityEnd]
        guard weights.allSatisfy({ $0 >= 0 && $0.isFinite }) else { throw bad("regularizer weights", weights, "must be >= 0") }
        guard decayEvery >= 1, bicubicDecay > 0, bicubicDecay <= 1 else { throw bad("decay", [Double(decayEvery), bicubicDecay], "needs decayEvery >= 1 and 0 < bicubicDecay <= 1") }
        guard samplingFloor >= 0 else { throw bad("samplingFloor", samplingFloor, "must be >= 0") }
    }
}

/// Seed 003's downsampling GAN on in-plane 2-D images: a `DeepLinearGenerator` degrades
/// high-resolution patches, an `EdgePatchCritic` (its sigmoid: seed 003's probability map) tells
/// them from real low-resolution patches, unpaired, both drawn by `GradientPatchSampler`.
///
/// Each iteration: the generator step on |D(G(x)) - 1| + R, then the discriminator step on
/// |D(y) - 1| + |D(G(x))| (means over the score maps), where
/// R = l_bicubic mean|G(x) - C(x)| + l_sum |1 - sum k| + l_bound mean|k m| + l_sparse mean|k|^0.2
///     + l_centre ||(6, 6) - centroid(k)||.
/// C is cubic downscaling on the generator's grid (`DegradationKernel.cubic`); m grows linearly
/// from 0 at 3.5 voxels from the centre to 1 at the corners. The seed writes the boundary and
/// sparsity terms as sums over the kernel; they are means here, the scale KernelGAN (where the
/// seed's weights come from) used them at.
public final class KernelLearner {
    public let settings: KernelLearningSettings
    public let generator: DeepLinearGenerator
    public let discriminator: EdgePatchCritic
    let generatorOptimizer: Adam
    let discriminatorOptimizer: Adam
    let highResolution: GradientPatchSampler
    let lowResolution: GradientPatchSampler
    let cubic: Tensor
    let boundaryMask: Tensor
    let rows: Tensor
    let columns: Tensor
    /// The regularizer weights now.
    public private(set) var bicubicWeight: Double
    public private(set) var sparsityWeight: Double
    public private(set) var centringWeight: Double
    public private(set) var iteration = 0

    /// `lowResolution`: the real low-resolution images; `highResolution`: the images the generator
    /// degrades; both (H, W), same intensity scale.
    public init(lowResolution: [Tensor], highResolution: [Tensor], settings: KernelLearningSettings) throws {
        try settings.validate()
        self.settings = settings
        let random = try Generator(seed: settings.seed)
        generator = try DeepLinearGenerator(width: settings.generatorWidth, factor: settings.factor, generator: random)
        discriminator = try EdgePatchCritic(EdgePatchCriticConfig(features: settings.discriminatorWidth), generator: random)
        generatorOptimizer = Adam(parameters: generator.namedParameters(), learningRate: settings.learningRate,
                                  beta1: settings.betas[0], beta2: settings.betas[1])
        discriminatorOptimizer = Adam(parameters: discriminator.namedParameters(), learningRate: settings.learningRate,
                                      beta1: settings.betas[0], beta2: settings.betas[1])
        let sampling = try Generator(seed: settings.seed &+ 1)
        self.highResolution = try GradientPatchSampler(images: highResolution, patch: settings.patch, floor: settings.samplingFloor,
                                                       generator: sampling)
        self.lowResolution = try GradientPatchSampler(images: lowResolution, patch: settings.lowResolutionPatch,
                                                      floor: settings.samplingFloor, generator: sampling)
        let size = DeepLinearGenerator.kernelSize, h = Double(size - 1) / 2
        // conv2d correlates: the cubic kernel is symmetric, so no flip is needed.
        cubic = try DegradationKernel.cubic(factor: settings.factor, size: size).tensor().to(.float32).reshape([1, 1, size, size])
        let r0 = h - 2.5, rmax = (2 * h * h).squareRoot()
        var mask = [Double](repeating: 0, count: size * size)
        for i in 0..<size {
            for j in 0..<size {
                let r = ((Double(i) - h) * (Double(i) - h) + (Double(j) - h) * (Double(j) - h)).squareRoot()
                mask[i * size + j] = Swift.min(1, Swift.max(0, (r - r0) / (rmax - r0)))
            }
        }
        boundaryMask = try Tensor(mask, shape: [size, size]).to(.float32)
        rows = try Tensor((0..<size).map(Double.init), shape: [size, 1]).to(.float32)
        columns = try Tensor((0..<size).map(Double.init), shape: [1, size]).to(.float32)
        bicubicWeight = settings.bicubicWeight
        sparsityWeight = settings.sparsityWeight
        centringWeight = settings.centringWeight
    }

    /// The regularizers of the kernel k (13, 13).
    func kernelTerms(_ k: Tensor) throws -> (sum: Tensor, boundary: Tensor, sparsity: Tensor, centring: Tensor) {
        let total = try k.sum()
        let sum = try (total - 1).abs()
        let boundary = try (k * boundaryMask).abs().mean()
        // |k|^0.2, smoothed at 0 where its gradient is infinite.
        let sparsity = try (k.square() + 1e-12).pow(.double(0.1)).mean()
        let h = Double(DeepLinearGenerator.kernelSize - 1) / 2
        let cy = try (k * rows).sum() / total, cx = try (k * columns).sum() / total
        let centring = try ((cy - h).square() + (cx - h).square() + 1e-12).sqrt()
        return (sum, boundary, sparsity, centring)
    }

    /// One generator step and one discriminator step; the loss terms.
    @discardableResult
    public func step() throws -> [String: Double] {
        let x = try highResolution.draw(settings.batch)
        let y = try lowResolution.draw(settings.batch)
        generator.train()
        discriminator.train()

        try generatorOptimizer.zeroGrad()
        let g = try generator(x)
        let k = try generator.kernel()
        let adversarial = try (discriminator(g).sigmoid() - 1).abs().mean()
        let bicubic = try (g - x.conv2d(cubic, stride: [settings.factor, settings.factor])).abs().mean()
        let terms = try kernelTerms(k)
        var loss = try adversarial + bicubic * bicubicWeight + terms.sum * settings.sumToOneWeight + terms.boundary * settings.boundaryWeight
        if sparsityWeight > 0 { loss = try loss + terms.sparsity * sparsityWeight }
        if centringWeight > 0 { loss = try loss + terms.centring * centringWeight }
        try loss.backward()
        try generatorOptimizer.step()

        try discriminatorOptimizer.zeroGrad()
        let real = try (discriminator(y).sigmoid() - 1).abs().mean()
        let fake = try discriminator(g.detach()).sigmoid().abs().mean()
        let dLoss = try real + fake
        try dLoss.backward()
        try discriminatorOptimizer.step()

        iteration += 1
        let b = try bicubic.item()
        guard b.isFinite, try loss.item().isFinite, try dLoss.item().isFinite else {
            throw DegradationError.invalid("kernel learning diverged at iteration \(iteration) (a loss is not finite); check the scans' intensities")
        }
        // Seed 003's schedule.
        if b < settings.bicubicThreshold && iteration % settings.decayEvery == 0 && bicubicWeight >= settings.switchBelow {
            bicubicWeight *= settings.bicubicDecay
        }
        if bicubicWeight < settings.switchBelow {
            centringWeight = settings.centringEnd
            sparsityWeight = settings.sparsityEnd
        }
        return [
            "generator": try loss.item(), "adversarial": try adversarial.item(), "bicubic": b,
            "sum": try terms.sum.item(), "boundary": try terms.boundary.item(), "sparsity": try terms.sparsity.item(),
            "centring": try terms.centring.item(), "discriminator": try dLoss.item(), "discriminatorReal": try real.item(),
            "discriminatorFake": try fake.item(),
        ]
    }
}
