import Foundation
import NN
import Torch

/// The architecture of seed 004's residual attention U-Net (3T -> 7T), stored with its weights.
public struct ResidualAttentionUNetConfig: ModelConfiguration, Equatable {
    public static let architecture = "residual-attention-unet"
    public var architecture: String = ResidualAttentionUNetConfig.architecture
    /// Adjacent slices as channels (seed 004: 3 or 5).
    public var inChannels: Int
    public var outChannels: Int
    /// Channels of the first level (seed 004's base width).
    public var features: Int
    /// Width multipliers per level (seed 004: 1, 2, 2, 2 or 1, 2, 2, 2, 2).
    public var multipliers: [Int]
    /// Residual blocks per level (seed 004: n_res 3).
    public var resBlocks: Int
    /// GroupNorm groups (every level's width must be a multiple).
    public var groups: Int
    /// Attention heads (self-attention at the bottleneck, cross-attention to the context).
    public var heads: Int
    /// Scalar subject features of the context (age, sex, diagnosis ...; 0 for none).
    public var contextFeatures: Int
    /// Dimensions of the sinusoidal encoding of the slice position (0: no position token).
    public var positionEncoding: Int
    /// Width of the context tokens.
    public var contextDim: Int
    /// Levels from this one down (and the bottleneck) attend to the context tokens.
    public var crossAttentionFrom: Int
    /// The input channel added to the output (residual learning); nil for none.
    public var residualChannel: Int?

    public init(inChannels: Int = 3, outChannels: Int = 1, features: Int = 16, multipliers: [Int] = [1, 2, 2, 2], resBlocks: Int = 2,
                groups: Int = 8, heads: Int = 4, contextFeatures: Int = 0, positionEncoding: Int = 16, contextDim: Int = 32,
                crossAttentionFrom: Int = 2, residualChannel: Int? = 1) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.features = features
        self.multipliers = multipliers
        self.resBlocks = resBlocks
        self.groups = groups
        self.heads = heads
        self.contextFeatures = contextFeatures
        self.positionEncoding = positionEncoding
        self.contextDim = contextDim
        self.crossAttentionFrom = crossAttentionFrom
        self.residualChannel = residualChannel
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case architecture, inChannels, outChannels, features, multipliers, resBlocks, groups, heads, contextFeatures, positionEncoding,
             contextDim, crossAttentionFrom, residualChannel
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ResidualAttentionUNetConfig()
        architecture = try c.value(.architecture, or: d.architecture)
        inChannels = try c.value(.inChannels, or: d.inChannels)
        outChannels = try c.value(.outChannels, or: d.outChannels)
        features = try c.value(.features, or: d.features)
        multipliers = try c.value(.multipliers, or: d.multipliers)
        resBlocks = try c.value(.resBlocks, or: d.resBlocks)
        groups = try c.value(.groups, or: d.groups)
        heads = try c.value(.heads, or: d.heads)
        contextFeatures = try c.value(.contextFeatures, or: d.contextFeatures)
        positionEncoding = try c.value(.positionEncoding, or: d.positionEncoding)
        contextDim = try c.value(.contextDim, or: d.contextDim)
        crossAttentionFrom = try c.value(.crossAttentionFrom, or: d.crossAttentionFrom)
        residualChannel = c.contains(.residualChannel) ? try c.decodeIfPresent(Int.self, forKey: .residualChannel) : inChannels / 2
    }

    var widths: [Int] { multipliers.map { $0 * features } }
    var hasContext: Bool { contextFeatures > 0 || positionEncoding > 0 }

    public var contract: InputContract { .outputGrid(channels: inChannels) }

    public func makeModel(generator: Generator?) throws -> any SuperResolutionModel { try ResidualAttentionUNet(self, generator: generator) }

    public func validate() throws {
        let name = "residual-attention-unet"
        guard inChannels >= 1, outChannels >= 1, features >= 1, resBlocks >= 1, groups >= 1, heads >= 1, contextFeatures >= 0,
              positionEncoding >= 0, positionEncoding % 2 == 0, contextDim >= 1 else {
            throw ModelError.invalid("\(name): channels, features, resBlocks, groups, heads, contextDim >= 1; contextFeatures >= 0; positionEncoding even and >= 0")
        }
        guard (1...6).contains(multipliers.count), multipliers.allSatisfy({ $0 >= 1 }) else {
            throw ModelError.invalid("\(name): multipliers must be 1 to 6 positive numbers, got \(multipliers)")
        }
        if let bad = widths.first(where: { $0 % groups != 0 || $0 % heads != 0 }) {
            throw ModelError.invalid("\(name): width \(bad) is not divisible by groups \(groups) and heads \(heads)")
        }
        if let r = residualChannel, !(0..<inChannels).contains(r) || outChannels != 1 {
            throw ModelError.invalid("\(name): residualChannel \(r) must be an input channel (0 ..< \(inChannels)) of a one-channel model")
        }
    }
}

/// GroupNorm, SiLU, 3 x 3 convolution, twice, with AdaDM (adaptive deviation modulation: the
/// branch scaled by exp(w log std(x) + b), std over each sample's input, w = b = 0 at the start)
/// and a 1 x 1 projection of the input when the width changes.
public final class AdaDMResBlock: Module {
    public let norm1: GroupNorm
    public let conv1: Conv2d
    public let norm2: GroupNorm
    public let conv2: Conv2d
    public let adadm_weight: Tensor
    public let adadm_bias: Tensor
    public let skip: Conv2d?

    init(_ input: Int, _ output: Int, groups: Int, generator: Generator?) throws {
        norm1 = try GroupNorm(groups: Swift.min(groups, input), channels: input)
        conv1 = try Conv2d(inChannels: input, outChannels: output, kernelSize: 3, padding: 1, generator: generator)
        norm2 = try GroupNorm(groups: groups, channels: output)
        conv2 = try Conv2d(inChannels: output, outChannels: output, kernelSize: 3, padding: 1, generator: generator)
        adadm_weight = try Tensor.zeros([1]).requiresGrad(true)
        adadm_bias = try Tensor.zeros([1]).requiresGrad(true)
        skip = input == output ? nil : try Conv2d(inChannels: input, outChannels: output, kernelSize: 1, generator: generator)
        super.init()
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        var h = try conv1(norm1(x).silu())
        h = try conv2(norm2(h).silu())
        let deviation = try x.flatten(startDim: 1).std(dims: [1], unbiased: false).clamp(min: .double(1e-6)).reshape([-1, 1, 1, 1])
        h = try h * (deviation.log() * adadm_weight + adadm_bias).exp()
        return try (skip.map { try $0(x) } ?? x) + h
    }
}

/// Attention over a feature map's pixels as tokens, residual: self-attention (key and value the
/// map itself) or cross-attention (to context tokens projected to the map's width).
public final class SpatialAttention: Module {
    public let norm: GroupNorm
    public let attention: MultiheadAttention
    public let context_proj: Linear?

    init(channels: Int, groups: Int, heads: Int, contextDim: Int?, generator: Generator?) throws {
        norm = try GroupNorm(groups: groups, channels: channels)
        attention = try MultiheadAttention(embedding: channels, heads: heads, generator: generator)
        context_proj = try contextDim.map { try Linear(inFeatures: $0, outFeatures: channels, generator: generator) }
        super.init()
    }

    func callAsFunction(_ x: Tensor, context: Tensor?) throws -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let tokens = try norm(x).reshape([n, c, h * w]).transpose(1, 2)
        let other = try context_proj.map { p -> Tensor in
            guard let context else { throw ModelError.invalid("cross-attention needs context tokens") }
            return try p(context)
        } ?? tokens
        let out = try attention(query: tokens, key: other, value: other)
        return try x + out.transpose(1, 2).reshape([n, c, h, w])
    }
}

/// One level: residual blocks, then cross-attention to the context on the deeper levels.
public final class UNetLevel: Module {
    public let blocks: [AdaDMResBlock]
    public let cross: SpatialAttention?

    init(blocks: [AdaDMResBlock], cross: SpatialAttention?) {
        self.blocks = blocks
        self.cross = cross
        super.init()
    }

    func callAsFunction(_ x: Tensor, context: Tensor?) throws -> Tensor {
        var h = x
        for b in blocks { h = try b(h) }
        return try cross.map { try $0(h, context: context) } ?? h
    }
}

/// Seed 004's generator: a U-Net of residual blocks (GroupNorm, SiLU, AdaDM) with max pooling
/// down and nearest upsampling + convolution up, self-attention at the bottleneck, and
/// cross-attention to a context (the subject's scalar features, each one token, and the slice
/// position through a sinusoidal encoding, one token) on the deeper levels. Input: adjacent
/// slices on the output grid; sides not multiples of 2^(levels - 1) are zero-padded and cropped.
/// State-dict names: conv_in, down.L.{blocks.B,cross}, mid_block1, mid_attention, mid_cross,
/// mid_block2, upsample.L, up.L.{blocks.B,cross}, norm_out, conv_out, context_scale,
/// context_shift, position_proj (bench/rau_reference.py is its PyTorch twin).
public final class ResidualAttentionUNet: Module, UnaryLayer, ConditionedModel, @unchecked Sendable {
    public let config: ResidualAttentionUNetConfig
    public let conv_in: Conv2d
    public let down: [UNetLevel]
    public let mid_block1: AdaDMResBlock
    public let mid_attention: SpatialAttention
    public let mid_cross: SpatialAttention?
    public let mid_block2: AdaDMResBlock
    public let upsample: [Conv2d]
    public let up: [UNetLevel]
    public let norm_out: GroupNorm
    public let conv_out: Conv2d
    public let context_scale: Tensor?
    public let context_shift: Tensor?
    public let position_proj: Linear?

    public init(_ config: ResidualAttentionUNetConfig, generator: Generator? = nil) throws {
        try config.validate()
        self.config = config
        let w = config.widths, g = config.groups, levels = w.count
        let ctx = config.hasContext ? config.contextDim : nil
        func cross(_ level: Int, _ c: Int) throws -> SpatialAttention? {
            guard let ctx, level >= config.crossAttentionFrom else { return nil }
            return try SpatialAttention(channels: c, groups: g, heads: config.heads, contextDim: ctx, generator: generator)
        }
        conv_in = try Conv2d(inChannels: config.inChannels, outChannels: w[0], kernelSize: 3, padding: 1, generator: generator)
        down = try (0..<levels).map { l in
            let blocks = try (0..<config.resBlocks).map { b in try AdaDMResBlock(b == 0 ? (l == 0 ? w[0] : w[l - 1]) : w[l], w[l], groups: g, generator: generator) }
            return UNetLevel(blocks: blocks, cross: try cross(l, w[l]))
        }
        let deepest = w[levels - 1]
        mid_block1 = try AdaDMResBlock(deepest, deepest, groups: g, generator: generator)
        mid_attention = try SpatialAttention(channels: deepest, groups: g, heads: config.heads, contextDim: nil, generator: generator)
        mid_cross = try cross(levels, deepest)
        mid_block2 = try AdaDMResBlock(deepest, deepest, groups: g, generator: generator)
        // Decoder level l: from level l + 1's width (the bottleneck for the deepest), upsampled,
        // joined with the encoder's level-l output.
        upsample = try (0..<(levels - 1)).map { l in try Conv2d(inChannels: w[l + 1], outChannels: w[l + 1], kernelSize: 3, padding: 1, generator: generator) }
        up = try (0..<levels).map { l in
            let incoming = (l == levels - 1 ? deepest : w[l + 1]) + w[l]
            let blocks = try (0..<config.resBlocks).map { b in try AdaDMResBlock(b == 0 ? incoming : w[l], w[l], groups: g, generator: generator) }
            return UNetLevel(blocks: blocks, cross: try cross(l, w[l]))
        }
        norm_out = try GroupNorm(groups: g, channels: w[0])
        conv_out = try Conv2d(inChannels: w[0], outChannels: config.outChannels, kernelSize: 3, padding: 1, generator: generator)
        if let ctx {
            context_scale = config.contextFeatures > 0 ? try (Tensor.randn([config.contextFeatures, ctx], generator: generator) * 0.02).requiresGrad(true) : nil
            context_shift = config.contextFeatures > 0 ? try (Tensor.randn([config.contextFeatures, ctx], generator: generator) * 0.02).requiresGrad(true) : nil
            position_proj = config.positionEncoding > 0 ? try Linear(inFeatures: config.positionEncoding, outFeatures: ctx, generator: generator) : nil
        } else {
            context_scale = nil
            context_shift = nil
            position_proj = nil
        }
        super.init()
    }

    public var configuration: any ModelConfiguration { config }
    public var contextFeatures: Int { config.contextFeatures }

    /// Without a context: the subject features are 0 and the slice position 0.5 (the middle).
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try forward(x, features: nil, position: nil) }

    /// The sinusoidal encoding of positions in [0, 1] (N) -> (N, dims): sin and cos of
    /// 1000 p / 10000^(2i / dims) (the transformer's encoding of a position scaled to 1000 slices).
    public static func positionEncoding(_ position: Tensor, dims: Int) throws -> Tensor {
        let half = dims / 2
        let freqs = try Tensor((0..<half).map { 1000 / pow(10000, Double(2 * $0) / Double(dims)) }, shape: [1, half]).to(position.dtype)
        let angles = try position.reshape([-1, 1]) * freqs
        return try Tensor.cat([angles.sin(), angles.cos()], dim: 1)
    }

    /// The context tokens (N, K, contextDim): one per subject feature (feature x scale + shift),
    /// then the slice position's.
    func contextTokens(batch n: Int, features: Tensor?, position: Tensor?, dtype: DType) throws -> Tensor? {
        guard config.hasContext else { return nil }
        var tokens: [Tensor] = []
        if let scale = context_scale, let shift = context_shift {
            let f = try features ?? Tensor.zeros([n, config.contextFeatures], dtype: dtype)
            guard f.shape == [n, config.contextFeatures] else {
                throw ModelError.invalid("context: expected (\(n), \(config.contextFeatures)) subject features, got \(f.shape)")
            }
            tokens.append(try f.unsqueeze(2) * scale.unsqueeze(0) + shift.unsqueeze(0))
        }
        if let proj = position_proj {
            let p = try position ?? Tensor.full([n], .double(0.5), dtype: dtype)
            tokens.append(try proj(Self.positionEncoding(p, dims: config.positionEncoding)).unsqueeze(1))
        }
        return try Tensor.cat(tokens, dim: 1)
    }

    /// - Parameters: features (N, contextFeatures) of each slice's subject; position (N) of each
    ///   slice in its volume, 0 to 1.
    public func forward(_ x: Tensor, features: Tensor?, position: Tensor?) throws -> Tensor {
        guard x.rank == 4, x.shape[1] == config.inChannels else {
            throw ModelError.invalid("residual-attention-unet expects input (N, \(config.inChannels), H, W), got \(x.shape)")
        }
        let (h, w) = (x.shape[2], x.shape[3])
        let m = 1 << (config.widths.count - 1)
        let (ph, pw) = ((m - h % m) % m, (m - w % m) % m)
        let input = ph + pw > 0 ? try x.pad([0, pw, 0, ph]) : x
        let context = try contextTokens(batch: x.shape[0], features: features, position: position, dtype: x.dtype)
        var y = try conv_in(input)
        var skips: [Tensor] = []
        for (l, level) in down.enumerated() {
            if l > 0 { y = try y.maxPool2d(kernelSize: [2], stride: [2]) }
            y = try level(y, context: context)
            skips.append(y)
        }
        y = try mid_block1(y)
        y = try mid_attention(y, context: nil)
        if let mid_cross { y = try mid_cross(y, context: context) }
        y = try mid_block2(y)
        for l in stride(from: down.count - 1, through: 0, by: -1) {
            if l < down.count - 1 { y = try upsample[l](y.interpolate(scaleFactor: [2, 2], mode: .nearest)) }
            y = try up[l](Tensor.cat([y, skips[l]], dim: 1), context: context)
        }
        var out = try conv_out(norm_out(y).silu())
        if ph + pw > 0 { out = try out.narrow(2, start: 0, length: h).narrow(3, start: 0, length: w) }
        if let r = config.residualChannel { out = try out + x.narrow(1, start: r, length: 1) }
        return out
    }

    /// Group normalization and attention see the whole slice: the reconstruction never crops it.
    public var receptiveRadius: Int { 1 << 20 }

    /// Each level keeps its skip and about eight maps of its width alive; the bottleneck's
    /// attention holds (pixels x pixels) weights per head (float32).
    public func memoryPerSlice(rows: Int, width: Int) -> Int {
        let m = 1 << (config.widths.count - 1)
        let pixels = ((rows + m - 1) / m * m) * ((width + m - 1) / m * m)
        var total = 2 * config.inChannels * pixels
        for (l, c) in config.widths.enumerated() { total += 8 * c * (pixels >> (2 * l)) }
        let deepest = pixels >> (2 * (config.widths.count - 1))
        total += config.heads * deepest * deepest
        return 4 * total
    }
}
