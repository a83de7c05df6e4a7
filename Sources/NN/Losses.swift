import Foundation
import Torch

/// The training losses (mean over all elements).
public enum Loss: String, Sendable, Codable, CaseIterable {
    case l1, mse, charbonnier
    /// 1 - SSIM (Wang 2004 with an 11 x 11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, images
    /// in [0, 1]); needs images of at least 11 x 11 pixels.
    case ssim

    public func callAsFunction(_ prediction: Tensor, _ target: Tensor) throws -> Tensor {
        switch self {
        case .l1: try prediction.l1Loss(target)
        case .mse: try prediction.mseLoss(target)
        case .charbonnier: try charbonnierLoss(prediction, target)
        case .ssim: try ssimLoss(prediction, target)
        }
    }
}

/// mean(sqrt((x - y)^2 + eps^2)): a differentiable L1 (Charbonnier / pseudo-Huber).
public func charbonnierLoss(_ prediction: Tensor, _ target: Tensor, eps: Double = 1e-3) throws -> Tensor {
    let d = try prediction - target
    return try (d * d + eps * eps).sqrt().mean()
}

/// Binary cross-entropy on logits (numerically stable), mean.
public func bceWithLogitsLoss(_ logits: Tensor, _ target: Tensor) throws -> Tensor {
    try logits.binaryCrossEntropyWithLogits(target)
}

/// 1 - mean SSIM of (N, C, H, W) images with data range `dataRange`, differentiable: Gaussian
/// window of 11 pixels (sigma 1.5), valid filtering (the map's border cropped, as scikit-image
/// averages it), population variances, C1 = (0.01 R)^2, C2 = (0.03 R)^2.
public func ssimLoss(_ prediction: Tensor, _ target: Tensor, dataRange: Double = 1, window: Int = 11, sigma: Double = 1.5) throws -> Tensor {
    guard prediction.rank == 4, prediction.shape == target.shape else {
        throw TorchError.invalidArgument(operation: "ssim_loss", message: "expected two (N, C, H, W) tensors of one shape, got \(prediction.shape) and \(target.shape)")
    }
    guard prediction.size(2) >= window, prediction.size(3) >= window else {
        throw TorchError.invalidArgument(operation: "ssim_loss", message: "images of \(prediction.size(2)) x \(prediction.size(3)) pixels are smaller than the \(window)-pixel window")
    }
    let channels = prediction.size(1)
    let g = (0..<window).map { exp(-pow(Double($0 - window / 2), 2) / (2 * sigma * sigma)) }
    let total = g.reduce(0, +)
    let g1 = try Tensor(g.map { $0 / total }, shape: [1, 1, window, 1]).to(prediction.dtype).to(prediction.device)
    let rows = try g1.expand([channels, 1, window, 1]).contiguous(), cols = try rows.transpose(2, 3).contiguous()
    func filter(_ t: Tensor) throws -> Tensor { try t.conv2d(rows, groups: channels).conv2d(cols, groups: channels) }
    let x = prediction, y = target
    let mx = try filter(x), my = try filter(y)
    let vx = try filter(x * x) - mx * mx, vy = try filter(y * y) - my * my, vxy = try filter(x * y) - mx * my
    let c1 = (0.01 * dataRange) * (0.01 * dataRange), c2 = (0.03 * dataRange) * (0.03 * dataRange)
    let map = try ((mx * my * 2 + c1) * (vxy * 2 + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return try 1 - map.mean()
}

/// The adversarial objectives of the seeds: what the critic minimizes and what the generator
/// minimizes, from the critic's raw outputs (logits or scores, any shape: a PatchGAN's map is
/// averaged over its patches).
public enum AdversarialLoss: String, Sendable, Codable, CaseIterable {
    /// Non-saturating GAN (Goodfellow 2014; seed 001 with 0.05 x BCE): the critic's
    /// BCE(D(real), 1) + BCE(D(fake), 0); the generator's BCE(D(fake), 1).
    case bce
    /// Seed 000's critic-guided loss: the critic as `bce`; the generator's
    /// 1 - mean(sigmoid(D(fake))), i.e. one minus the critic's mean belief that the output is real.
    case criticGuided = "critic-guided"
    /// Hinge GAN (Lim & Ye 2017): the critic's mean(relu(1 - D(real))) + mean(relu(1 + D(fake)));
    /// the generator's -mean(D(fake)).
    case hinge
    /// Wasserstein GAN (Arjovsky 2017; seed 004 with the gradient penalty): the critic's
    /// mean(D(fake)) - mean(D(real)); the generator's -mean(D(fake)).
    case wasserstein

    /// The critic's loss on its outputs for real and for generated samples.
    public func criticLoss(real: Tensor, fake: Tensor) throws -> Tensor {
        switch self {
        case .bce, .criticGuided:
            return try real.binaryCrossEntropyWithLogits(Tensor.ones(like: real))
                + fake.binaryCrossEntropyWithLogits(Tensor.zeros(like: fake))
        case .hinge:
            return try (1 - real).relu().mean() + (fake + 1).relu().mean()
        case .wasserstein:
            return try fake.mean() - real.mean()
        }
    }

    /// The generator's adversarial loss on the critic's outputs for its samples.
    public func generatorLoss(fake: Tensor) throws -> Tensor {
        switch self {
        case .bce: try fake.binaryCrossEntropyWithLogits(Tensor.ones(like: fake))
        case .criticGuided: try 1 - fake.sigmoid().mean()
        case .hinge, .wasserstein: try -fake.mean()
        }
    }
}

/// WGAN-GP's penalty (Gulrajani 2017): mean over the batch of (|grad_x D(x)|_2 - 1)^2 at
/// x = e real + (1 - e) fake, one e ~ U[0, 1) per sample drawn from `generator`. Differentiable
/// in the critic's parameters (the gradient is taken with `createGraph`); multiply by lambda
/// (10 in seed 004).
public func gradientPenalty(critic: (Tensor) throws -> Tensor, real: Tensor, fake: Tensor, generator: Generator?) throws -> Tensor {
    guard real.shape == fake.shape, real.rank >= 2 else {
        throw TorchError.invalidArgument(operation: "gradient_penalty", message: "real \(real.shape) and fake \(fake.shape) must be batches of one shape")
    }
    let e = try Tensor.rand([real.shape[0]] + Array(repeating: 1, count: real.rank - 1), dtype: real.dtype, generator: generator).to(real.device)
    return try gradientPenalty(critic: critic, real: real, fake: fake, mixing: e)
}

/// The penalty at x = e real + (1 - e) fake for given mixing weights `e` (one per sample,
/// broadcast over the rest).
public func gradientPenalty(critic: (Tensor) throws -> Tensor, real: Tensor, fake: Tensor, mixing e: Tensor) throws -> Tensor {
    let mixed = try (real.detach() * e + fake.detach() * (1 - e)).requiresGrad(true)
    let score = try critic(mixed)
    guard let g = try gradients(of: [score], withRespectTo: [mixed], gradOutputs: [Tensor.ones(like: score)], createGraph: true).first ?? nil else {
        throw TorchError.invalidArgument(operation: "gradient_penalty", message: "the critic's output does not depend on its input")
    }
    let norms = try g.flatten(startDim: 1).norm(p: 2, dims: [1])
    return try ((norms - 1) * (norms - 1)).mean()
}
