import Torch

/// The training losses (mean over all elements).
public enum Loss: String, Sendable, Codable, CaseIterable {
    case l1, mse, charbonnier

    public func callAsFunction(_ prediction: Tensor, _ target: Tensor) throws -> Tensor {
        switch self {
        case .l1: try prediction.l1Loss(target)
        case .mse: try prediction.mseLoss(target)
        case .charbonnier: try charbonnierLoss(prediction, target)
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
