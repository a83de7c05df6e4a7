import Foundation
import NN
import Torch

/// The architecture of seed 000's attention U-Net (Oktay et al. 2018 gates on a U-Net), stored
/// with its weights.
public struct AttentionUNetConfig: ModelConfiguration, Equatable {
    public static let architecture = "attention-unet"
    public var architecture: String = AttentionUNetConfig.architecture
    /// Input channels: contrasts (seed 000's data fusion: T1, T2, FLAIR) x neighbouring slices.
    public var inChannels: Int
    public var outChannels: Int
    /// Channels at full resolution, doubling at each level (seed 000: 64, about 29M parameters).
    public var features: Int
    /// Down-sampling levels (seed 000: 4, one attention gate on each skip connection).
    public var depth: Int
    public var negativeSlope: Double
    /// `sigmoid` (seed 000: outputs in [0, 1]) or `identity`.
    public var finalActivation: String
    /// The input channel added to the output (residual learning over the interpolated input);
    /// nil for none (seed 000).
    public var residualChannel: Int?

    public init(inChannels: Int = 1, outChannels: Int = 1, features: Int = 16, depth: Int = 4, negativeSlope: Double = 0.2,
                finalActivation: String = "sigmoid", residualChannel: Int? = nil) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.features = features
        self.depth = depth
        self.negativeSlope = negativeSlope
        self.finalActivation = finalActivation
        self.residualChannel = residualChannel
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case architecture, inChannels, outChannels, features, depth, negativeSlope, finalActivation, residualChannel
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = AttentionUNetConfig()
        architecture = try c.value(.architecture, or: d.architecture)
        inChannels = try c.value(.inChannels, or: d.inChannels)
        outChannels = try c.value(.outChannels, or: d.outChannels)
        features = try c.value(.features, or: d.features)
        depth = try c.value(.depth, or: d.depth)
        negativeSlope = try c.value(.negativeSlope, or: d.negativeSlope)
        finalActivation = try c.value(.finalActivation, or: d.finalActivation)
        residualChannel = try c.decodeIfPresent(Int.self, forKey: .residualChannel)
    }

    /// Slices interpolated onto the output grid, any factor (the task states the range).
    public var contract: InputContract { .outputGrid(channels: inChannels) }

    public func makeModel(generator: Generator?) throws -> any SuperResolutionModel { try AttentionUNet(self, generator: generator) }

    public func validate() throws {
        guard inChannels >= 1, outChannels >= 1, features >= 2, features % 2 == 0, (1...6).contains(depth), negativeSlope >= 0 else {
            throw ModelError.invalid("attention-unet: inChannels, outChannels >= 1, features even and >= 2, depth 1 to 6, negativeSlope >= 0")
        }
        guard ["sigmoid", "identity"].contains(finalActivation) else {
            throw ModelError.invalid("attention-unet: finalActivation '\(finalActivation)' must be sigmoid or identity")
        }
        if let r = residualChannel, !(0..<inChannels).contains(r) || outChannels != 1 {
            throw ModelError.invalid("attention-unet: residualChannel \(r) must be an input channel (0 ..< \(inChannels)) of a one-channel model")
        }
    }
}

/// Two 3 x 3 convolutions, each followed by instance normalization (affine) and LeakyReLU.
public final class UNetConvBlock: Module {
    public let conv1: Conv2d
    public let norm1: InstanceNorm
    public let conv2: Conv2d
    public let norm2: InstanceNorm
    let slope: Double

    init(_ input: Int, _ output: Int, slope: Double, generator: Generator?) throws {
        conv1 = try Conv2d(inChannels: input, outChannels: output, kernelSize: 3, padding: 1, generator: generator)
        norm1 = try InstanceNorm(features: output, affine: true)
        conv2 = try Conv2d(inChannels: output, outChannels: output, kernelSize: 3, padding: 1, generator: generator)
        norm2 = try InstanceNorm(features: output, affine: true)
        self.slope = slope
        super.init()
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        let h = try norm1(conv1(x)).leakyRelu(negativeSlope: slope)
        return try norm2(conv2(h)).leakyRelu(negativeSlope: slope)
    }
}

/// An additive attention gate (Oktay 2018): alpha = sigmoid(psi(relu(W_g g + W_x x))) with 1 x 1
/// convolutions to `inner` channels; the skip features x are scaled by alpha, which is where the
/// network looks (`upres explain` writes it).
public final class AttentionGate: Module {
    public let gate_conv: Conv2d
    public let skip_conv: Conv2d
    public let psi: Conv2d

    init(gate: Int, skip: Int, inner: Int, generator: Generator?) throws {
        gate_conv = try Conv2d(inChannels: gate, outChannels: inner, kernelSize: 1, generator: generator)
        skip_conv = try Conv2d(inChannels: skip, outChannels: inner, kernelSize: 1, generator: generator)
        psi = try Conv2d(inChannels: inner, outChannels: 1, kernelSize: 1, generator: generator)
        super.init()
    }

    /// (gated skip features, alpha (N, 1, H, W)).
    func callAsFunction(gate g: Tensor, skip x: Tensor) throws -> (Tensor, Tensor) {
        let alpha = try psi((gate_conv(g) + skip_conv(x)).relu()).sigmoid()
        return (try x * alpha, alpha)
    }
}

/// Seed 000's generator: a U-Net (double convolution blocks with instance normalization and
/// LeakyReLU; 2 x 2 max pooling down; 2 x 2 stride-2 transposed convolutions up; skips joined by
/// concatenation) with an additive attention gate on every skip connection, a 1 x 1 output
/// convolution and a final sigmoid. Its input is already on the output grid. Images whose sides
/// are not multiples of 2^depth are zero-padded to the next multiple and cropped back.
/// State-dict names: encoders.L.{conv1,norm1,conv2,norm2}, bottleneck, ups.L, gates.L.{gate_conv,
/// skip_conv,psi}, decoders.L, head (bench/unet_reference.py is the same network in PyTorch).
public final class AttentionUNet: Module, UnaryLayer, SuperResolutionModel, @unchecked Sendable {
    public let config: AttentionUNetConfig
    public let encoders: [UNetConvBlock]
    public let bottleneck: UNetConvBlock
    public let ups: [ConvTranspose]
    public let gates: [AttentionGate]
    public let decoders: [UNetConvBlock]
    public let head: Conv2d

    public init(_ config: AttentionUNetConfig, generator: Generator? = nil) throws {
        try config.validate()
        self.config = config
        let f = config.features, s = config.negativeSlope
        let widths = (0...config.depth).map { f << $0 }
        encoders = try (0..<config.depth).map { l in try UNetConvBlock(l == 0 ? config.inChannels : widths[l - 1], widths[l], slope: s, generator: generator) }
        bottleneck = try UNetConvBlock(widths[config.depth - 1], widths[config.depth], slope: s, generator: generator)
        ups = try (0..<config.depth).map { l in
            try ConvTranspose(dimensions: 2, inChannels: widths[l + 1], outChannels: widths[l], kernelSize: 2, stride: 2, generator: generator)
        }
        gates = try (0..<config.depth).map { l in try AttentionGate(gate: widths[l], skip: widths[l], inner: widths[l] / 2, generator: generator) }
        decoders = try (0..<config.depth).map { l in try UNetConvBlock(2 * widths[l], widths[l], slope: s, generator: generator) }
        head = try Conv2d(inChannels: f, outChannels: config.outChannels, kernelSize: 1, generator: generator)
        super.init()
    }

    public var configuration: any ModelConfiguration { config }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try forward(x).output }

    /// The attention coefficients of every gate, coarsest last, each (N, 1, H_l, W_l) at its
    /// level's resolution (full resolution at level 0), cropped to the input's extent.
    public func attentionMaps(_ x: Tensor) throws -> [Tensor] { try forward(x).alphas }

    func forward(_ x: Tensor) throws -> (output: Tensor, alphas: [Tensor]) {
        guard x.rank == 4, x.shape[1] == config.inChannels else {
            throw ModelError.invalid("attention-unet expects input (N, \(config.inChannels), H, W), got \(x.shape)")
        }
        let (h, w) = (x.shape[2], x.shape[3])
        let m = 1 << config.depth
        let (ph, pw) = ((m - h % m) % m, (m - w % m) % m)
        var y = ph + pw > 0 ? try x.pad([0, pw, 0, ph]) : x
        var skips: [Tensor] = []
        for (l, encoder) in encoders.enumerated() {
            if l > 0 { y = try y.maxPool2d(kernelSize: [2], stride: [2]) }
            y = try encoder(y)
            skips.append(y)
        }
        y = try bottleneck(y.maxPool2d(kernelSize: [2], stride: [2]))
        var alphas: [Tensor] = []
        for l in stride(from: config.depth - 1, through: 0, by: -1) {
            let up = try ups[l](y)
            let (gated, alpha) = try gates[l](gate: up, skip: skips[l])
            y = try decoders[l](Tensor.cat([gated, up], dim: 1))
            let (hl, wl) = ((h + (1 << l) - 1) >> l, (w + (1 << l) - 1) >> l)
            alphas.insert(try alpha.narrow(2, start: 0, length: hl).narrow(3, start: 0, length: wl), at: 0)
        }
        var out = try head(y)
        if config.finalActivation == "sigmoid" { out = try out.sigmoid() }
        if ph + pw > 0 { out = try out.narrow(2, start: 0, length: h).narrow(3, start: 0, length: w) }
        if let r = config.residualChannel { out = try out + x.narrow(1, start: r, length: 1) }
        return (out, alphas)
    }

    /// Instance normalization takes its statistics over the whole slice: every output pixel
    /// depends on every input pixel, so the reconstruction never crops a slice's columns.
    public var receptiveRadius: Int { 1 << 20 }

    /// The encoder's skips stay alive through the decoder; at each level about six maps of its
    /// width (convolution, normalization, activation, gate, concatenation), float32.
    public func memoryPerSlice(rows: Int, width: Int) -> Int {
        let m = 1 << config.depth
        let pixels = ((rows + m - 1) / m * m) * ((width + m - 1) / m * m)
        let perLevel = (0...config.depth).map { l in 6 * (config.features << l) * (pixels >> (2 * l)) }
        return 4 * (perLevel.reduce(0, +) + 2 * config.inChannels * pixels)
    }
}
