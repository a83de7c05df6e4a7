import Foundation
import NN
import Torch

/// The architecture of seed 002's mDCSRN (Chen et al. 2018: a multi-level densely connected
/// super-resolution network), a 3-D network that restores a volume on its own grid (k-space
/// truncation, zero-filled), stored with its weights.
public struct MDCSRNConfig: ModelConfiguration, Equatable {
    public static let architecture = "mdcsrn"
    public var architecture: String = MDCSRNConfig.architecture
    /// Input channels (1: the degraded volume).
    public var inChannels: Int
    /// Channels of the first convolution and of every block's compressed output (Chen: 2k = 32).
    public var features: Int
    /// Channels each dense unit adds (Chen: k = 16).
    public var growth: Int
    /// Dense blocks (seed 002: 4) and units per block (Chen: 4).
    public var blocks: Int
    public var units: Int
    /// Add the input to the output (the network learns the residual); upres's option, on by
    /// default: restoration on the same grid starts from the degraded volume.
    public var residual: Bool

    public init(inChannels: Int = 1, features: Int = 32, growth: Int = 16, blocks: Int = 4, units: Int = 4, residual: Bool = true) {
        self.inChannels = inChannels
        self.features = features
        self.growth = growth
        self.blocks = blocks
        self.units = units
        self.residual = residual
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case architecture, inChannels, features, growth, blocks, units, residual }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = MDCSRNConfig()
        architecture = try c.value(.architecture, or: d.architecture)
        inChannels = try c.value(.inChannels, or: d.inChannels)
        features = try c.value(.features, or: d.features)
        growth = try c.value(.growth, or: d.growth)
        blocks = try c.value(.blocks, or: d.blocks)
        units = try c.value(.units, or: d.units)
        residual = try c.value(.residual, or: d.residual)
    }

    public var contract: InputContract { .volume(channels: inChannels) }

    public func makeModel(generator: Generator?) throws -> any SuperResolutionModel { try MDCSRN(self, generator: generator) }

    public func validate() throws {
        guard inChannels >= 1, features >= 1, growth >= 1, blocks >= 1, units >= 1 else {
            throw ModelError.invalid("mdcsrn: inChannels, features, growth, blocks and units must be >= 1")
        }
    }
}

/// One dense block: each unit (ELU, 3 x 3 x 3 convolution adding `growth` channels) sees the
/// block's input and every earlier unit's output; a 1 x 1 x 1 convolution compresses all of them
/// to `features` channels.
public final class DenseBlock3d: Module {
    public let layers: [Conv3d]
    public let compress: Conv3d

    init(inChannels c: Int, features f: Int, growth g: Int, units: Int, generator: Generator?) throws {
        layers = try (0..<units).map { try Conv3d(inChannels: c + $0 * g, outChannels: g, kernelSize: 3, padding: 1, generator: generator) }
        compress = try Conv3d(inChannels: c + units * g, outChannels: f, kernelSize: 1, generator: generator)
        super.init()
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        var maps = [x]
        for layer in layers { maps.append(try layer(Tensor.cat(maps, dim: 1).elu())) }
        return try compress(Tensor.cat(maps, dim: 1))
    }
}

/// Seed 002's 3-D network: a 3 x 3 x 3 convolution to `features` channels, dense blocks whose
/// input is every earlier level's output (the first convolution's and each earlier block's,
/// concatenated: the multi-level connections), and a 1 x 1 x 1 reconstruction from all levels.
/// Input and output (N, C, D, H, W) -> (N, 1, D, H, W) on one grid. State-dict names: conv_first,
/// blocks.N.layers.M, blocks.N.compress, conv_last; bench/mdcsrn_reference.py is its PyTorch twin.
public final class MDCSRN: Module, UnaryLayer, VolumetricModel, @unchecked Sendable {
    public let config: MDCSRNConfig
    public let conv_first: Conv3d
    public let blocks: [DenseBlock3d]
    public let conv_last: Conv3d

    public init(_ config: MDCSRNConfig, generator: Generator? = nil) throws {
        try config.validate()
        self.config = config
        let f = config.features
        conv_first = try Conv3d(inChannels: config.inChannels, outChannels: f, kernelSize: 3, padding: 1, generator: generator)
        blocks = try (0..<config.blocks).map {
            try DenseBlock3d(inChannels: f * ($0 + 1), features: f, growth: config.growth, units: config.units, generator: generator)
        }
        conv_last = try Conv3d(inChannels: f * (config.blocks + 1), outChannels: 1, kernelSize: 1, generator: generator)
        // With the residual, a fresh network is the identity: its correction starts at zero, not
        // at noise (on k-space x4 a default start was still below the identity after 200 steps;
        // zeroed, the PyTorch twin gained 0.1 dB over the identity by step 25).
        if config.residual {
            _ = try conv_last.weight.detach().zero_()
            _ = try conv_last.bias!.detach().zero_()
        }
        super.init()
    }

    public var configuration: any ModelConfiguration { config }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard x.rank == 5, x.shape[1] == config.inChannels else {
            throw ModelError.invalid("mdcsrn expects input (N, \(config.inChannels), D, H, W), got \(x.shape)")
        }
        var levels = [try conv_first(x)]
        for block in blocks { levels.append(try block(Tensor.cat(levels, dim: 1))) }
        let out = try conv_last(Tensor.cat(levels, dim: 1).elu())
        return config.residual ? try out + x.narrow(1, start: 0, length: 1) : out
    }

    /// The first convolution and every unit are 3 x 3 x 3 (radius 1 each).
    public var receptiveRadius: Int { 1 + config.blocks * config.units }

    /// The widest moment: the last block's input, its units' maps and the concatenation they
    /// see (about twice the channels), float32; plus the levels kept for the reconstruction.
    public var bytesPerVoxel: Int {
        let f = config.features, g = config.growth
        let lastInput = f * config.blocks
        return 4 * (2 * (lastInput + config.units * g) + f * (config.blocks + 1) + 2 * config.inChannels)
    }
}
