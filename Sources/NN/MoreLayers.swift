import Torch

/// 3-d convolution (`torch.nn.Conv3d`).
public final class Conv3d: Module, UnaryLayer {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: [Int]
    public let padding: [Int]
    public let dilation: [Int]
    public let groups: Int

    public init(weight: Tensor, bias: Tensor?, stride: [Int] = [1], padding: [Int] = [0], dilation: [Int] = [1], groups: Int = 1) {
        self.weight = weight
        self.bias = bias
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        super.init()
    }

    public convenience init(inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                            dilation: Int = 1, groups: Int = 1, bias: Bool = true, generator: Generator? = nil) throws {
        guard inChannels % groups == 0, outChannels % groups == 0 else {
            throw NNError.invalidConfiguration(module: "Conv3d", message: "channels \(inChannels) -> \(outChannels) are not divisible by groups \(groups)")
        }
        let fanIn = inChannels / groups * kernelSize * kernelSize * kernelSize
        let w = try defaultInit([outChannels, inChannels / groups, kernelSize, kernelSize, kernelSize], fanIn: fanIn,
                                generator: generator).requiresGrad(true)
        let b = bias ? try defaultInit([outChannels], fanIn: fanIn, generator: generator).requiresGrad(true) : nil
        self.init(weight: w, bias: b, stride: [stride], padding: [padding], dilation: [dilation], groups: groups)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try x.conv3d(weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}

/// Transposed 2-d or 3-d convolution (`torch.nn.ConvTranspose2d/3d`); weight (in, out / groups, k...).
public final class ConvTranspose: Module, UnaryLayer {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: [Int]
    public let padding: [Int]
    public let outputPadding: [Int]
    public let groups: Int

    public init(weight: Tensor, bias: Tensor?, stride: [Int] = [1], padding: [Int] = [0], outputPadding: [Int] = [0], groups: Int = 1) {
        self.weight = weight
        self.bias = bias
        self.stride = stride
        self.padding = padding
        self.outputPadding = outputPadding
        self.groups = groups
        super.init()
    }

    /// `dimensions` 2 or 3.
    public convenience init(dimensions: Int, inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1,
                            padding: Int = 0, outputPadding: Int = 0, groups: Int = 1, bias: Bool = true,
                            generator: Generator? = nil) throws {
        guard dimensions == 2 || dimensions == 3 else {
            throw NNError.invalidConfiguration(module: "ConvTranspose", message: "dimensions \(dimensions) must be 2 or 3")
        }
        guard inChannels % groups == 0, outChannels % groups == 0 else {
            throw NNError.invalidConfiguration(module: "ConvTranspose", message: "channels \(inChannels) -> \(outChannels) are not divisible by groups \(groups)")
        }
        // PyTorch computes fan-in from weight.size(1) * kernel volume for transposed convolutions.
        let kernel = Array(repeating: kernelSize, count: dimensions)
        let fanIn = outChannels / groups * kernel.reduce(1, *)
        let w = try defaultInit([inChannels, outChannels / groups] + kernel, fanIn: fanIn, generator: generator).requiresGrad(true)
        let b = bias ? try defaultInit([outChannels], fanIn: fanIn, generator: generator).requiresGrad(true) : nil
        self.init(weight: w, bias: b, stride: [stride], padding: [padding], outputPadding: [outputPadding], groups: groups)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        if weight.rank == 4 {
            return try x.convTranspose2d(weight, bias: bias, stride: stride, padding: padding, outputPadding: outputPadding, groups: groups)
        }
        return try x.convTranspose3d(weight, bias: bias, stride: stride, padding: padding, outputPadding: outputPadding, groups: groups)
    }
}

/// Batch normalization over channel 1 (`torch.nn.BatchNorm1d/2d/3d`), with running statistics
/// named as PyTorch's (`running_mean`, `running_var`, `num_batches_tracked`).
public final class BatchNorm: Module, UnaryLayer {
    public let weight: Tensor?
    public let bias: Tensor?
    public let running_mean: Tensor
    public let running_var: Tensor
    public let num_batches_tracked: Tensor
    public let momentum: Double
    public let eps: Double

    public init(features: Int, momentum: Double = 0.1, eps: Double = 1e-5, affine: Bool = true) throws {
        weight = affine ? try Tensor.ones([features]).requiresGrad(true) : nil
        bias = affine ? try Tensor.zeros([features]).requiresGrad(true) : nil
        running_mean = try Tensor.zeros([features])
        running_var = try Tensor.ones([features])
        num_batches_tracked = try Tensor.zeros([], dtype: .int64)
        self.momentum = momentum
        self.eps = eps
        super.init()
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        if isTraining { try withNoGrad { _ = try num_batches_tracked.add_(Tensor.ones([], dtype: .int64)) } }
        return try x.batchNorm(runningMean: running_mean, runningVar: running_var, weight: weight, bias: bias,
                               training: isTraining, momentum: momentum, eps: eps)
    }
}

/// Instance normalization (`torch.nn.InstanceNorm2d/3d`, without running statistics).
public final class InstanceNorm: Module, UnaryLayer {
    public let weight: Tensor?
    public let bias: Tensor?
    public let eps: Double

    public init(features: Int, affine: Bool = false, eps: Double = 1e-5) throws {
        weight = affine ? try Tensor.ones([features]).requiresGrad(true) : nil
        bias = affine ? try Tensor.zeros([features]).requiresGrad(true) : nil
        self.eps = eps
        super.init()
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try x.instanceNorm(weight: weight, bias: bias, eps: eps) }
}

/// Group normalization (`torch.nn.GroupNorm`).
public final class GroupNorm: Module, UnaryLayer {
    public let weight: Tensor
    public let bias: Tensor
    public let groups: Int
    public let eps: Double

    public init(groups: Int, channels: Int, eps: Double = 1e-5) throws {
        guard groups > 0, channels % groups == 0 else {
            throw NNError.invalidConfiguration(module: "GroupNorm", message: "\(channels) channels are not divisible into \(groups) groups")
        }
        weight = try Tensor.ones([channels]).requiresGrad(true)
        bias = try Tensor.zeros([channels]).requiresGrad(true)
        self.groups = groups
        self.eps = eps
        super.init()
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try x.groupNorm(groups: groups, weight: weight, bias: bias, eps: eps) }
}

/// Layer normalization over the trailing dimensions (`torch.nn.LayerNorm`).
public final class LayerNorm: Module, UnaryLayer {
    public let weight: Tensor
    public let bias: Tensor
    public let normalizedShape: [Int]
    public let eps: Double

    public init(_ normalizedShape: [Int], eps: Double = 1e-5) throws {
        weight = try Tensor.ones(normalizedShape).requiresGrad(true)
        bias = try Tensor.zeros(normalizedShape).requiresGrad(true)
        self.normalizedShape = normalizedShape
        self.eps = eps
        super.init()
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try x.layerNorm(normalizedShape: normalizedShape, weight: weight, bias: bias, eps: eps)
    }
}

/// Zeroes elements with probability p in training mode, scaling the rest by 1 / (1 - p).
public final class Dropout: Module, UnaryLayer {
    public let p: Double
    /// Where the masks come from: nil for libtorch's global generator; a run's own stream makes
    /// the masks reproducible and resumable (checkpoints save the generator's state).
    public var generator: Generator?
    public init(p: Double = 0.5) {
        self.p = p
        super.init()
    }
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard let generator, isTraining, p > 0 else { return try x.dropout(p: p, training: isTraining) }
        let keep = try Tensor.rand(x.shape, dtype: x.dtype, generator: generator).to(x.device).ge(p).to(x.dtype)
        return try x * keep * (1 / (1 - p))
    }
}

extension Module {
    /// Gives every dropout layer inside this module one random stream.
    public func setDropoutGenerator(_ generator: Generator?) {
        for (_, m) in namedModules() { (m as? Dropout)?.generator = generator }
    }
}

/// The activations as layers.
public final class Activation: Module, UnaryLayer {
    public enum Kind: Sendable, Equatable {
        case relu, leakyReLU(Double), silu, gelu, sigmoid, tanh, identity
    }
    public let kind: Kind
    public init(_ kind: Kind) {
        self.kind = kind
        super.init()
    }
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        switch kind {
        case .relu: try x.relu()
        case .leakyReLU(let slope): try x.leakyRelu(negativeSlope: slope)
        case .silu: try x.silu()
        case .gelu: try x.gelu()
        case .sigmoid: try x.sigmoid()
        case .tanh: try x.tanh()
        case .identity: x
        }
    }
}

/// Sub-pixel rearrangement: (N, C r_h r_w, H, W) -> (N, C, H r_h, W r_w). Equal factors are
/// `torch.nn.PixelShuffle`; unequal ones (r_w = 1: the height only) upsample one axis, as
/// anisotropic through-plane super-resolution needs.
public final class PixelShuffle: Module, UnaryLayer {
    public let factors: (Int, Int)
    public init(_ factor: Int) {
        factors = (factor, factor)
        super.init()
    }
    public init(height: Int, width: Int) {
        factors = (height, width)
        super.init()
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try Self.shuffle(x, height: factors.0, width: factors.1) }

    public static func shuffle(_ x: Tensor, height rh: Int, width rw: Int) throws -> Tensor {
        guard x.rank == 4 else {
            throw NNError.invalidConfiguration(module: "PixelShuffle", message: "expected (N, C, H, W), got \(x.shape)")
        }
        if rh == rw { return try x.pixelShuffle(rh) }
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        guard c % (rh * rw) == 0 else {
            throw NNError.invalidConfiguration(module: "PixelShuffle", message: "\(c) channels are not divisible by \(rh * rw)")
        }
        let oc = c / (rh * rw)
        return try x.reshape([n, oc, rh, rw, h, w]).permute([0, 1, 4, 2, 5, 3]).reshape([n, oc, h * rh, w * rw])
    }
}

/// Resizing by a scale factor (`torch.nn.Upsample`).
public final class Upsample: Module, UnaryLayer {
    public let scale: [Double]
    public let mode: InterpolationMode
    public let alignCorners: Bool
    public init(scale: [Double], mode: InterpolationMode = .nearest, alignCorners: Bool = false) {
        self.scale = scale
        self.mode = mode
        self.alignCorners = alignCorners
        super.init()
    }
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try x.interpolate(scaleFactor: scale, mode: mode, alignCorners: mode == .nearest ? false : alignCorners)
    }
}

/// Multi-head scaled dot-product attention (`torch.nn.MultiheadAttention`, batch_first): the
/// same parameter names (`in_proj_weight`, `in_proj_bias`, `out_proj.weight`, `out_proj.bias`).
public final class MultiheadAttention: Module {
    public let in_proj_weight: Tensor
    public let in_proj_bias: Tensor
    public let out_proj: Linear
    public let heads: Int
    public let embedding: Int

    public init(embedding: Int, heads: Int, generator: Generator? = nil) throws {
        guard heads > 0, embedding % heads == 0 else {
            throw NNError.invalidConfiguration(module: "MultiheadAttention", message: "embedding \(embedding) is not divisible by \(heads) heads")
        }
        // PyTorch: xavier-uniform in_proj weight, zero biases.
        let bound = (6.0 / Double(embedding + 3 * embedding)).squareRoot()
        in_proj_weight = try Tensor.empty([3 * embedding, embedding]).uniform_(-bound, bound, generator: generator).requiresGrad(true)
        in_proj_bias = try Tensor.zeros([3 * embedding]).requiresGrad(true)
        let out = try Linear(inFeatures: embedding, outFeatures: embedding, generator: generator)
        try withNoGrad { _ = try out.bias?.zero_() }
        out_proj = out
        self.heads = heads
        self.embedding = embedding
        super.init()
    }

    /// Takes the tensors as they are (tests inject exact or float64 weights).
    public init(inProjWeight: Tensor, inProjBias: Tensor, outProj: Linear, heads: Int) throws {
        let e = inProjWeight.shape[1]
        guard inProjWeight.shape == [3 * e, e], heads > 0, e % heads == 0 else {
            throw NNError.invalidConfiguration(module: "MultiheadAttention", message: "in_proj_weight \(inProjWeight.shape) does not fit \(heads) heads")
        }
        in_proj_weight = inProjWeight
        in_proj_bias = inProjBias
        out_proj = outProj
        self.heads = heads
        embedding = e
        super.init()
    }

    /// query (N, L, E), key and value (N, S, E) -> (N, L, E).
    public func callAsFunction(query: Tensor, key: Tensor, value: Tensor) throws -> Tensor {
        let e = embedding, h = heads, d = e / h
        let w = try in_proj_weight.chunk(3, dim: 0), b = try in_proj_bias.chunk(3, dim: 0)
        func project(_ x: Tensor, _ i: Int) throws -> Tensor {
            let (n, l) = (x.shape[0], x.shape[1])
            return try x.linear(w[i], bias: b[i]).reshape([n, l, h, d]).transpose(1, 2)  // N, h, L, d
        }
        let q = try project(query, 0), k = try project(key, 1), v = try project(value, 2)
        let attention = try (q.matmul(k.transpose(2, 3)) / Double(d).squareRoot()).softmax(dim: -1)
        let out = try attention.matmul(v).transpose(1, 2).reshape([query.shape[0], query.shape[1], e])
        return try out_proj(out)
    }
}

/// A 2-d convolution under spectral normalization (Miyato 2018; `torch.nn.utils.spectral_norm`
/// with one power iteration): the weight used is `weight_orig` / sigma, sigma = u^T W v the
/// largest singular value of the (out, in x k x k) matrix W, estimated by power iteration whose
/// vectors `weight_u`, `weight_v` advance once per forward pass in training mode (buffers, saved
/// with the state dict under PyTorch's names).
public final class SpectralNormConv2d: Module, UnaryLayer {
    public let weight_orig: Tensor
    public let bias: Tensor?
    public let weight_u: Tensor
    public let weight_v: Tensor
    public let stride: [Int]
    public let padding: [Int]
    public let eps: Double

    public init(inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true,
                eps: Double = 1e-12, generator: Generator? = nil) throws {
        let fanIn = inChannels * kernelSize * kernelSize
        weight_orig = try defaultInit([outChannels, inChannels, kernelSize, kernelSize], fanIn: fanIn, generator: generator).requiresGrad(true)
        self.bias = bias ? try defaultInit([outChannels], fanIn: fanIn, generator: generator).requiresGrad(true) : nil
        weight_u = try Self.normalized(Tensor.randn([outChannels], generator: generator), eps: eps)
        weight_v = try Self.normalized(Tensor.randn([fanIn], generator: generator), eps: eps)
        self.stride = [stride]
        self.padding = [padding]
        self.eps = eps
        super.init()
    }

    static func normalized(_ x: Tensor, eps: Double) throws -> Tensor {
        let n = try x.norm().item()
        return try x / Swift.max(n, eps)
    }

    /// The normalized weight (advancing the power iteration first in training mode).
    public func weight() throws -> Tensor {
        let out = weight_orig.shape[0]
        let matrix = try weight_orig.reshape([out, -1])
        if isTraining {
            try withNoGrad {
                let v = try Self.normalized(matrix.transpose(0, 1).matmul(weight_u), eps: eps)
                let u = try Self.normalized(matrix.matmul(v), eps: eps)
                _ = try weight_v.copy_(v)
                _ = try weight_u.copy_(u)
            }
        }
        // Copies, as PyTorch takes: the next forward pass (the critic judges real, then generated
        // images) updates the buffers in place, which the backward pass of this one must not see.
        let sigma = try (weight_u.detach().clone() * matrix.matmul(weight_v.detach().clone())).sum()
        return try weight_orig / sigma
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try x.conv2d(weight(), bias: bias, stride: stride, padding: padding)
    }
}
