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
