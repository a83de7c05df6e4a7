#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Torch

/// An optimizer over named parameters, with its state as named tensors (for checkpoints).
public protocol Optimizer: AnyObject {
    /// The learning rate of the next step (schedules set it).
    var learningRate: Double { get set }
    /// Steps taken.
    var stepCount: Int { get }
    /// Applies one update from the parameters' gradients.
    func step() throws
    /// Clears the gradients.
    func zeroGrad() throws
    /// The state as tensors named `<param>.<buffer>` plus `step` (saved with checkpoints).
    func stateDict() throws -> [String: Tensor]
    func loadStateDict(_ state: [String: Tensor]) throws
}

/// Shared bookkeeping: the parameters and their gradients.
open class ParameterOptimizer {
    public let parameters: [(String, Tensor)]
    public var learningRate: Double
    public private(set) var stepCount = 0
    var buffers: [String: Tensor] = [:]

    init(parameters: [(String, Tensor)], learningRate: Double) {
        self.parameters = parameters
        self.learningRate = learningRate
    }

    public func zeroGrad() throws {
        for (_, p) in parameters { try p.zeroGrad() }
    }

    func advance() { stepCount += 1 }

    public func stateDict() throws -> [String: Tensor] {
        var out = buffers
        out["step"] = try Tensor([Int64(stepCount)])
        return out
    }

    public func loadStateDict(_ state: [String: Tensor]) throws {
        guard let step = state["step"] else {
            throw NNError.stateDict(source: "optimizer state", problems: ["missing step"])
        }
        stepCount = try step.itemInt()
        var loaded: [String: Tensor] = [:]
        for (k, v) in state where k != "step" { loaded[k] = try v.clone() }
        let known = Set(parameters.map(\.0))
        let strangers = loaded.keys.filter { key in !known.contains(where: { key.hasPrefix($0 + ".") }) }
        guard strangers.isEmpty else {
            throw NNError.stateDict(source: "optimizer state", problems: ["unexpected \(strangers.sorted().joined(separator: ", "))"])
        }
        buffers = loaded
    }

    func buffer(_ name: String, like p: Tensor) throws -> Tensor {
        if let b = buffers[name] { return b }
        let b = try Tensor.zeros(like: p)
        buffers[name] = b
        return b
    }
}

/// Adam (Kingma & Ba) with PyTorch's exact update (`torch.optim.Adam`, amsgrad off): L2 weight
/// decay added to the gradient; `decoupled` gives AdamW (`torch.optim.AdamW`): the weights shrink
/// by lr x weightDecay before the Adam step.
public final class Adam: ParameterOptimizer, Optimizer {
    public var beta1: Double
    public var beta2: Double
    public var eps: Double
    public var weightDecay: Double
    public let decoupled: Bool

    public init(parameters: [(String, Tensor)], learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999,
                eps: Double = 1e-8, weightDecay: Double = 0, decoupled: Bool = false) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        self.decoupled = decoupled
        super.init(parameters: parameters, learningRate: learningRate)
    }

    /// AdamW with PyTorch's default weight decay (0.01).
    public static func adamW(parameters: [(String, Tensor)], learningRate: Double = 1e-3, beta1: Double = 0.9,
                             beta2: Double = 0.999, eps: Double = 1e-8, weightDecay: Double = 0.01) -> Adam {
        Adam(parameters: parameters, learningRate: learningRate, beta1: beta1, beta2: beta2, eps: eps,
             weightDecay: weightDecay, decoupled: true)
    }

    public func step() throws {
        advance()
        let t = Double(stepCount)
        let bc1 = 1 - pow(beta1, t), bc2 = 1 - pow(beta2, t)
        try withNoGrad {
            for (name, p) in parameters {
                guard var g = p.grad else { continue }
                if weightDecay != 0 {
                    if decoupled { _ = try p.mul_(.double(1 - learningRate * weightDecay)) }
                    else { g = try g + p * weightDecay }
                }
                let m = try buffer(name + ".exp_avg", like: p), v = try buffer(name + ".exp_avg_sq", like: p)
                _ = try m.lerp_(g, weight: .double(1 - beta1))
                _ = try v.mul_(.double(beta2)).addcmul_(g, g, value: .double(1 - beta2))
                let denom = try v.sqrt() / bc2.squareRoot() + eps
                _ = try p.addcdiv_(m, denom, value: .double(-learningRate / bc1))
            }
        }
    }
}

/// Stochastic gradient descent with momentum, dampening and Nesterov (`torch.optim.SGD`).
public final class SGD: ParameterOptimizer, Optimizer {
    public var momentum: Double
    public var dampening: Double
    public var weightDecay: Double
    public var nesterov: Bool

    public init(parameters: [(String, Tensor)], learningRate: Double, momentum: Double = 0, dampening: Double = 0,
                weightDecay: Double = 0, nesterov: Bool = false) {
        self.momentum = momentum
        self.dampening = dampening
        self.weightDecay = weightDecay
        self.nesterov = nesterov
        super.init(parameters: parameters, learningRate: learningRate)
    }

    public func step() throws {
        advance()
        try withNoGrad {
            for (name, p) in parameters {
                guard var d = p.grad else { continue }
                if weightDecay != 0 { d = try d + p * weightDecay }
                if momentum != 0 {
                    let key = name + ".momentum_buffer"
                    let buf: Tensor
                    if let b = buffers[key] {
                        buf = try b.mul_(.double(momentum)).add_(d, alpha: .double(1 - dampening))
                    } else {
                        buf = try d.clone()
                        buffers[key] = buf
                    }
                    d = nesterov ? try d + buf * momentum : buf
                }
                _ = try p.add_(d, alpha: .double(-learningRate))
            }
        }
    }
}

/// Scales all gradients so that their global L2 norm is at most `maxNorm`
/// (`torch.nn.utils.clip_grad_norm_`); returns the norm before clipping.
@discardableResult
public func clipGradNorm(_ parameters: [Tensor], maxNorm: Double, eps: Double = 1e-6) throws -> Double {
    let grads = parameters.compactMap(\.grad)
    guard !grads.isEmpty else { return 0 }
    return try withNoGrad {
        let total = try Tensor.stack(grads.map { try $0.norm() }).norm().item()
        let coef = maxNorm / (total + eps)
        if coef < 1 { for g in grads { _ = try g.mul_(.double(coef)) } }
        return total
    }
}

/// Clamps every gradient element to [-value, value] (`clip_grad_value_`).
public func clipGradValue(_ parameters: [Tensor], value: Double) throws {
    try withNoGrad {
        for g in parameters.compactMap(\.grad) { _ = try g.clamp_(min: .double(-value), max: .double(value)) }
    }
}
