import Foundation
import NN
import Torch

/// The architecture of seed 001's Real-ESRGAN generator (ESRGAN's RRDB network, Wang 2018/2021)
/// for through-plane super-resolution, stored with its weights.
public struct RRDBNetConfig: ModelConfiguration, Equatable {
    public static let architecture = "rrdb"
    public var architecture: String = RRDBNetConfig.architecture
    /// Input channels: neighbouring slices (seed 001: 3 contiguous slices as "RGB").
    public var inChannels: Int
    public var outChannels: Int
    /// Feature channels (seed 001: 64).
    public var features: Int
    /// Residual-in-residual dense blocks (seed 001: 23).
    public var blocks: Int
    /// Channels each dense layer adds (Real-ESRGAN: 32).
    public var growth: Int
    /// Through-plane factor: the rows are upsampled (nearest) by it, then convolved.
    public var factor: Int
    /// Add the linear interpolation of the centre channel to the output (upres's option; the
    /// seed has none).
    public var residual: Bool

    public init(inChannels: Int = 3, outChannels: Int = 1, features: Int = 32, blocks: Int = 4, growth: Int = 16, factor: Int = 6,
                residual: Bool = false) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.features = features
        self.blocks = blocks
        self.growth = growth
        self.factor = factor
        self.residual = residual
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case architecture, inChannels, outChannels, features, blocks, growth, factor, residual }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = RRDBNetConfig()
        architecture = try c.value(.architecture, or: d.architecture)
        inChannels = try c.value(.inChannels, or: d.inChannels)
        outChannels = try c.value(.outChannels, or: d.outChannels)
        features = try c.value(.features, or: d.features)
        blocks = try c.value(.blocks, or: d.blocks)
        growth = try c.value(.growth, or: d.growth)
        factor = try c.value(.factor, or: d.factor)
        residual = try c.value(.residual, or: d.residual)
    }

    public var contract: InputContract { .thickSlices(channels: inChannels, factor: factor) }

    public func makeModel(generator: Generator?) throws -> any SuperResolutionModel { try RRDBNet(self, generator: generator) }

    public func validate() throws {
        guard inChannels >= 1, inChannels % 2 == 1, outChannels >= 1, features >= 1, blocks >= 1, growth >= 1, factor >= 2 else {
            throw ModelError.invalid("rrdb: inChannels odd (a centre slice and its neighbours), outChannels, features, blocks, growth >= 1, factor >= 2")
        }
        if residual && outChannels != 1 { throw ModelError.invalid("rrdb: residual needs one output channel") }
    }
}

/// Five 3 x 3 convolutions, each seeing the block's input and every earlier output (dense
/// connections), LeakyReLU 0.2 after the first four; the block adds 0.2 x its output.
public final class ResidualDenseBlock: Module {
    public let conv1: Conv2d
    public let conv2: Conv2d
    public let conv3: Conv2d
    public let conv4: Conv2d
    public let conv5: Conv2d

    init(features f: Int, growth g: Int, generator: Generator?) throws {
        conv1 = try Conv2d(inChannels: f, outChannels: g, kernelSize: 3, padding: 1, generator: generator)
        conv2 = try Conv2d(inChannels: f + g, outChannels: g, kernelSize: 3, padding: 1, generator: generator)
        conv3 = try Conv2d(inChannels: f + 2 * g, outChannels: g, kernelSize: 3, padding: 1, generator: generator)
        conv4 = try Conv2d(inChannels: f + 3 * g, outChannels: g, kernelSize: 3, padding: 1, generator: generator)
        conv5 = try Conv2d(inChannels: f + 4 * g, outChannels: f, kernelSize: 3, padding: 1, generator: generator)
        super.init()
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        let x1 = try conv1(x).leakyRelu(negativeSlope: 0.2)
        let x2 = try conv2(Tensor.cat([x, x1], dim: 1)).leakyRelu(negativeSlope: 0.2)
        let x3 = try conv3(Tensor.cat([x, x1, x2], dim: 1)).leakyRelu(negativeSlope: 0.2)
        let x4 = try conv4(Tensor.cat([x, x1, x2, x3], dim: 1)).leakyRelu(negativeSlope: 0.2)
        let x5 = try conv5(Tensor.cat([x, x1, x2, x3, x4], dim: 1))
        return try x5 * 0.2 + x
    }
}

/// Residual in residual dense block: three dense blocks, then 0.2 x their output plus the input.
public final class RRDB: Module {
    public let rdb1: ResidualDenseBlock
    public let rdb2: ResidualDenseBlock
    public let rdb3: ResidualDenseBlock

    init(features: Int, growth: Int, generator: Generator?) throws {
        rdb1 = try ResidualDenseBlock(features: features, growth: growth, generator: generator)
        rdb2 = try ResidualDenseBlock(features: features, growth: growth, generator: generator)
        rdb3 = try ResidualDenseBlock(features: features, growth: growth, generator: generator)
        super.init()
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor { try rdb3(rdb2(rdb1(x))) * 0.2 + x }
}

/// Seed 001's Real-ESRGAN generator on thick slices: conv_first, the RRDB trunk with conv_body
/// and a long skip, the rows upsampled (nearest) by the factor and conv_up, conv_hr and
/// conv_last (LeakyReLU 0.2 between). Input (N, C, K, W) with K acquired slices; output
/// (N, 1, factor K, W), output row factor k + r at acquired row k + (r - floor(factor / 2)) /
/// factor as for EDSR. State-dict names as basicsr's RRDBNet (conv_first, body.N.rdbM.convL,
/// conv_body, conv_up1, conv_hr, conv_last); bench/rrdb_reference.py is its PyTorch twin.
public final class RRDBNet: Module, UnaryLayer, SuperResolutionModel, @unchecked Sendable {
    public let config: RRDBNetConfig
    public let conv_first: Conv2d
    public let body: [RRDB]
    public let conv_body: Conv2d
    public let conv_up1: Conv2d
    public let conv_hr: Conv2d
    public let conv_last: Conv2d
    private var interpolators: [Int: Tensor] = [:]

    public init(_ config: RRDBNetConfig, generator: Generator? = nil) throws {
        try config.validate()
        self.config = config
        let f = config.features
        conv_first = try Conv2d(inChannels: config.inChannels, outChannels: f, kernelSize: 3, padding: 1, generator: generator)
        body = try (0..<config.blocks).map { _ in try RRDB(features: f, growth: config.growth, generator: generator) }
        conv_body = try Conv2d(inChannels: f, outChannels: f, kernelSize: 3, padding: 1, generator: generator)
        conv_up1 = try Conv2d(inChannels: f, outChannels: f, kernelSize: 3, padding: 1, generator: generator)
        conv_hr = try Conv2d(inChannels: f, outChannels: f, kernelSize: 3, padding: 1, generator: generator)
        conv_last = try Conv2d(inChannels: f, outChannels: config.outChannels, kernelSize: 3, padding: 1, generator: generator)
        super.init()
    }

    public var configuration: any ModelConfiguration { config }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard x.rank == 4, x.shape[1] == config.inChannels else {
            throw ModelError.invalid("rrdb expects input (N, \(config.inChannels), K, W), got \(x.shape)")
        }
        let feat = try conv_first(x)
        var trunk = feat
        for block in body { trunk = try block(trunk) }
        var y = try conv_body(trunk) + feat
        // Nearest upsampling along the rows, with the acquired slice at the centre row of its group.
        y = try y.interpolate(scaleFactor: [Double(config.factor), 1], mode: .nearest)
        y = try conv_up1(y).leakyRelu(negativeSlope: 0.2)
        var out = try conv_last(conv_hr(y).leakyRelu(negativeSlope: 0.2))
        if config.residual {
            let centre = try x.narrow(1, start: config.inChannels / 2, length: 1)
            out = try out + centre.applyingAxisOperator(interpolator(rows: x.shape[2]), axis: 2)
        }
        return out
    }

    /// conv_first, two per dense layer ... : 3 x 3 convolutions on the acquired rows (5 per dense
    /// block, 15 per RRDB, plus conv_first and conv_body) and three on the output rows, whose
    /// radius in width is one pixel each.
    public var receptiveRadius: Int { 15 * config.blocks + 5 }

    /// The dense blocks hold their input and four growth maps; the upsampled part three maps
    /// of the features at factor x the rows (float32).
    public func memoryPerSlice(rows: Int, width: Int) -> Int {
        4 * rows * width * (3 * config.features + 4 * config.growth + 3 * config.features * config.factor + 2 * config.inChannels)
    }

    /// The (factor H x H) linear interpolation at the output rows' positions (edges clamped), as EDSR's.
    func interpolator(rows h: Int) throws -> Tensor {
        if let m = interpolators[h] { return m }
        let m = try Tensor(EDSR.linearInterpolator(rows: h, factor: config.factor), shape: [config.factor * h, h])
        interpolators[h] = m
        return m
    }
}
