import Foundation
import NN
import Torch

/// A critic (discriminator) for adversarial training: it scores images as real or generated.
/// Its state-dict names are PyTorch's for the twin in `bench/critic_reference.py`.
public protocol CriticNetwork: Module {
    var configuration: any CriticConfiguration { get }
    /// Raw scores (logits for the BCE losses, scores for the Wasserstein and hinge ones):
    /// (N, 1) for a whole-image critic, (N, 1, h, w) for a PatchGAN.
    func callAsFunction(_ x: Tensor) throws -> Tensor
    /// The activations after each block, in order (GradCAM targets, perceptual features).
    func features(_ x: Tensor) throws -> [Tensor]
    /// The scores from the last block's activations (`callAsFunction` is this after `features`).
    func scores(fromLastFeatures h: Tensor) throws -> Tensor
}

/// The architecture half of a critic: Codable, named, and the factory of its network.
public protocol CriticConfiguration: Codable, Sendable {
    static var architecture: String { get }
    /// Refuses impossible settings, naming the field.
    func validate() throws
    /// The channels of the images it judges.
    var inChannels: Int { get }
    /// The shape of the smallest batch it judges (one image).
    var smallestInputShape: [Int] { get }
    /// Whether it judges images of that size only (a dense layer over the whole image).
    var fixedInputSize: Bool { get }
    /// Image sides it takes without padding them inside (its score map then lines up with the
    /// image); 1 for any.
    var sideMultiple: Int { get }
    func makeCritic(generator: Generator?) throws -> any CriticNetwork
}

/// Critic architecture name -> configuration type; training configs resolve critics here only.
public enum CriticRegistry {
    public static let configurations: [String: any CriticConfiguration.Type] = [
        DCGANCriticConfig.architecture: DCGANCriticConfig.self,
        PatchGANCriticConfig.architecture: PatchGANCriticConfig.self,
        UNetSNCriticConfig.architecture: UNetSNCriticConfig.self,
        EdgePatchCriticConfig.architecture: EdgePatchCriticConfig.self,
    ]

    public static var architectures: [String] { configurations.keys.sorted() }

    public static func configurationType(_ architecture: String) throws -> any CriticConfiguration.Type {
        guard let type = configurations[architecture] else {
            throw ModelError.invalid("unknown critic architecture '\(architecture)'; expected one of \(architectures.joined(separator: ", "))")
        }
        return type
    }
}

/// A type-erased critic configuration, decoded through the registry by its `architecture` field.
public struct CriticSpec: Codable, Sendable {
    public var configuration: any CriticConfiguration

    public init(_ configuration: any CriticConfiguration) { self.configuration = configuration }

    private enum Keys: String, CodingKey { case architecture }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        let name = try c.decode(String.self, forKey: .architecture)
        let type: any CriticConfiguration.Type
        do { type = try CriticRegistry.configurationType(name) } catch {
            throw DecodingError.dataCorruptedError(forKey: .architecture, in: c, debugDescription: "\(error)")
        }
        configuration = try type.init(from: decoder)
    }

    public func encode(to encoder: Encoder) throws { try configuration.encode(to: encoder) }

    public var architecture: String { type(of: configuration).architecture }

    public func makeCritic(generator: Generator? = nil) throws -> any CriticNetwork {
        try configuration.validate()
        return try configuration.makeCritic(generator: generator)
    }

    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

extension CriticConfiguration {
    public var fixedInputSize: Bool { false }
    public var sideMultiple: Int { 1 }
}

extension CriticSpec: Equatable {
    public static func == (a: CriticSpec, b: CriticSpec) -> Bool { (try? a.json()) == (try? b.json()) }
}

// MARK: - DCGAN-style critic (seed 000)

/// Seed 000's critic: `blocks` blocks of a 4 x 4 convolution with stride 2 (features doubling
/// from `features`), LeakyReLU and dropout, then a one-filter 3 x 3 convolution, flattened, and
/// a dense layer to one logit. The dense layer fixes the image size: `patch` (rows, columns)
/// of the images it judges (the training patches).
public struct DCGANCriticConfig: CriticConfiguration, Equatable {
    public static let architecture = "dcgan"
    public var architecture: String = DCGANCriticConfig.architecture
    public var inChannels: Int
    public var features: Int
    public var blocks: Int
    public var dropout: Double
    public var negativeSlope: Double
    public var patch: [Int]

    public init(inChannels: Int = 1, features: Int = 32, blocks: Int = 4, dropout: Double = 0.5, negativeSlope: Double = 0.2,
                patch: [Int] = [64, 64]) {
        self.inChannels = inChannels
        self.features = features
        self.blocks = blocks
        self.dropout = dropout
        self.negativeSlope = negativeSlope
        self.patch = patch
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case architecture, inChannels, features, blocks, dropout, negativeSlope, patch }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = DCGANCriticConfig()
        architecture = try c.value(.architecture, or: d.architecture)
        inChannels = try c.value(.inChannels, or: d.inChannels)
        features = try c.value(.features, or: d.features)
        blocks = try c.value(.blocks, or: d.blocks)
        dropout = try c.value(.dropout, or: d.dropout)
        negativeSlope = try c.value(.negativeSlope, or: d.negativeSlope)
        patch = try c.value(.patch, or: d.patch)
    }

    public var smallestInputShape: [Int] { [1, inChannels] + patch }
    public var fixedInputSize: Bool { true }

    /// The feature map's side after the strided blocks (each halves it, rounding down).
    var reducedPatch: [Int] { patch.map { $0 >> blocks } }

    public func validate() throws {
        guard inChannels >= 1, features >= 1, blocks >= 1, (0..<1).contains(dropout), negativeSlope >= 0 else {
            throw ModelError.invalid("dcgan critic: inChannels, features and blocks must be >= 1, dropout in [0, 1), negativeSlope >= 0")
        }
        guard patch.count == 2, reducedPatch.allSatisfy({ $0 >= 1 }) else {
            throw ModelError.invalid("dcgan critic: patch \(patch) must be [rows, columns] of at least \(1 << blocks) pixels (\(blocks) stride-2 blocks)")
        }
    }

    public func makeCritic(generator: Generator?) throws -> any CriticNetwork { try DCGANCritic(self, generator: generator) }
}

public final class DCGANCritic: Module, CriticNetwork {
    public let config: DCGANCriticConfig
    public var configuration: any CriticConfiguration { config }
    let blocks: [Conv2d]
    let dropouts: [Dropout]
    let head: Conv2d
    let dense: Linear

    public init(_ config: DCGANCriticConfig, generator: Generator?) throws {
        try config.validate()
        self.config = config
        var channels = config.inChannels
        var convs: [Conv2d] = []
        for i in 0..<config.blocks {
            let out = config.features << i
            convs.append(try Conv2d(inChannels: channels, outChannels: out, kernelSize: 4, stride: 2, padding: 1, generator: generator))
            channels = out
        }
        blocks = convs
        dropouts = (0..<config.blocks).map { _ in Dropout(p: config.dropout) }
        head = try Conv2d(inChannels: channels, outChannels: 1, kernelSize: 3, padding: 1, generator: generator)
        dense = try Linear(inFeatures: config.reducedPatch.reduce(1, *), outFeatures: 1, generator: generator)
        super.init()
    }

    public func features(_ x: Tensor) throws -> [Tensor] {
        guard x.rank == 4, x.shape[1] == config.inChannels, Array(x.shape[2...]) == config.patch else {
            throw ModelError.invalid("dcgan critic judges (N, \(config.inChannels), \(config.patch[0]), \(config.patch[1])) images, got \(x.shape)")
        }
        var h = x, out: [Tensor] = []
        for (conv, drop) in zip(blocks, dropouts) {
            h = try drop(conv(h).leakyRelu(negativeSlope: config.negativeSlope))
            out.append(h)
        }
        return out
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try scores(fromLastFeatures: features(x).last!) }

    public func scores(fromLastFeatures h: Tensor) throws -> Tensor { try dense(head(h).flatten(startDim: 1)) }
}

// MARK: - PatchGAN critic (seed 004)

/// Seed 004's PatchGAN critic for WGAN-GP: a 4 x 4 stride-2 convolution with LeakyReLU, then
/// `layers - 1` more stride-2 convolutions and one stride-1 convolution, each followed by layer
/// normalization over (channels, rows, columns) with a per-channel gain and bias (GroupNorm with
/// one group, so the critic takes any image size) and LeakyReLU; a final 4 x 4 convolution gives
/// one score per patch. No batch statistics, as the gradient penalty needs. With `dimensions` 3
/// the same on volumes (4 x 4 x 4 convolutions): the critic of 3-D models (seed 002's WGAN).
public struct PatchGANCriticConfig: CriticConfiguration, Equatable {
    public static let architecture = "patchgan"
    public var architecture: String = PatchGANCriticConfig.architecture
    public var inChannels: Int
    public var features: Int
    public var layers: Int
    public var negativeSlope: Double
    /// 2: images (N, C, H, W); 3: volumes (N, C, D, H, W).
    public var dimensions: Int

    public init(inChannels: Int = 1, features: Int = 32, layers: Int = 3, negativeSlope: Double = 0.2, dimensions: Int = 2) {
        self.inChannels = inChannels
        self.features = features
        self.layers = layers
        self.negativeSlope = negativeSlope
        self.dimensions = dimensions
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case architecture, inChannels, features, layers, negativeSlope, dimensions }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = PatchGANCriticConfig()
        architecture = try c.value(.architecture, or: d.architecture)
        inChannels = try c.value(.inChannels, or: d.inChannels)
        features = try c.value(.features, or: d.features)
        layers = try c.value(.layers, or: d.layers)
        negativeSlope = try c.value(.negativeSlope, or: d.negativeSlope)
        dimensions = try c.value(.dimensions, or: d.dimensions)
    }

    /// `dimensions` only when it is not 2, so that 2-D critics' JSON is what it was.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(architecture, forKey: .architecture)
        try c.encode(inChannels, forKey: .inChannels)
        try c.encode(features, forKey: .features)
        try c.encode(layers, forKey: .layers)
        try c.encode(negativeSlope, forKey: .negativeSlope)
        if dimensions != 2 { try c.encode(dimensions, forKey: .dimensions) }
    }

    /// Each stride-2 convolution halves the side; the last two convolutions take 1 pixel each.
    public var smallestInputShape: [Int] { [1, inChannels] + Array(repeating: 3 << layers, count: dimensions) }

    public func validate() throws {
        guard inChannels >= 1, features >= 1, (1...6).contains(layers), negativeSlope >= 0, (2...3).contains(dimensions) else {
            throw ModelError.invalid("patchgan critic: inChannels and features must be >= 1, layers 1 to 6, negativeSlope >= 0, dimensions 2 or 3")
        }
    }

    public func makeCritic(generator: Generator?) throws -> any CriticNetwork { try PatchGANCritic(self, generator: generator) }
}

public final class PatchGANCritic: Module, CriticNetwork {
    public let config: PatchGANCriticConfig
    public var configuration: any CriticConfiguration { config }
    /// Conv2d, or Conv3d with `dimensions` 3.
    let convs: [Module]
    /// One per convolution after the first.
    let norms: [GroupNorm]
    let head: Module

    public init(_ config: PatchGANCriticConfig, generator: Generator?) throws {
        try config.validate()
        self.config = config
        func conv(_ c: Int, _ o: Int, stride: Int) throws -> Module {
            config.dimensions == 3
                ? try Conv3d(inChannels: c, outChannels: o, kernelSize: 4, stride: stride, padding: 1, generator: generator)
                : try Conv2d(inChannels: c, outChannels: o, kernelSize: 4, stride: stride, padding: 1, generator: generator)
        }
        var convs = [try conv(config.inChannels, config.features, stride: 2)]
        var norms: [GroupNorm] = []
        var channels = config.features
        for i in 1...config.layers {
            let out = config.features << Swift.min(i, 3)
            convs.append(try conv(channels, out, stride: i < config.layers ? 2 : 1))
            norms.append(try GroupNorm(groups: 1, channels: out))
            channels = out
        }
        self.convs = convs
        self.norms = norms
        head = try conv(channels, 1, stride: 1)
        super.init()
    }

    static func apply(_ layer: Module, _ x: Tensor) throws -> Tensor { try (layer as! any UnaryLayer)(x) }

    public func features(_ x: Tensor) throws -> [Tensor] {
        let side = config.smallestInputShape[2]
        guard x.rank == 2 + config.dimensions, x.shape[1] == config.inChannels, x.shape.dropFirst(2).allSatisfy({ $0 >= side }) else {
            throw ModelError.invalid(config.dimensions == 3
                ? "patchgan critic judges (N, \(config.inChannels), D, H, W) volumes with sides >= \(side), got \(x.shape)"
                : "patchgan critic judges (N, \(config.inChannels), H, W) images with H, W >= \(side), got \(x.shape)")
        }
        var h = try Self.apply(convs[0], x).leakyRelu(negativeSlope: config.negativeSlope)
        var out = [h]
        for (conv, norm) in zip(convs.dropFirst(), norms) {
            h = try norm(Self.apply(conv, h)).leakyRelu(negativeSlope: config.negativeSlope)
            out.append(h)
        }
        return out
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try scores(fromLastFeatures: features(x).last!) }

    public func scores(fromLastFeatures h: Tensor) throws -> Tensor { try Self.apply(head, h) }
}

// MARK: - U-Net critic with spectral normalization (seed 001)

/// Seed 001's (Real-ESRGAN's) discriminator: a U-Net that scores every pixel. conv0, three
/// stride-2 4 x 4 convolutions down (features x2, x4, x8), three bilinear x2 upsamplings each
/// followed by a 3 x 3 convolution and the skip from the encoder, two more 3 x 3 convolutions and
/// conv9 to one score per pixel; LeakyReLU 0.2; spectral normalization on conv1 to conv8. Images
/// whose sides are not multiples of 8 are zero-padded and the scores cropped back.
public struct UNetSNCriticConfig: CriticConfiguration, Equatable {
    public static let architecture = "unet-sn"
    public var architecture: String = UNetSNCriticConfig.architecture
    public var inChannels: Int
    /// Real-ESRGAN: 64.
    public var features: Int

    public init(inChannels: Int = 1, features: Int = 32) {
        self.inChannels = inChannels
        self.features = features
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case architecture, inChannels, features }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = UNetSNCriticConfig()
        architecture = try c.value(.architecture, or: d.architecture)
        inChannels = try c.value(.inChannels, or: d.inChannels)
        features = try c.value(.features, or: d.features)
    }

    public var smallestInputShape: [Int] { [1, inChannels, 8, 8] }
    /// Three stride-2 convolutions and three x2 upsamplings: sides are padded to multiples of 8.
    public var sideMultiple: Int { 8 }

    public func validate() throws {
        guard inChannels >= 1, features >= 1 else { throw ModelError.invalid("unet-sn critic: inChannels and features must be >= 1") }
    }

    public func makeCritic(generator: Generator?) throws -> any CriticNetwork { try UNetSNCritic(self, generator: generator) }
}

public final class UNetSNCritic: Module, CriticNetwork {
    public let config: UNetSNCriticConfig
    public var configuration: any CriticConfiguration { config }
    public let conv0: Conv2d
    public let conv1: SpectralNormConv2d
    public let conv2: SpectralNormConv2d
    public let conv3: SpectralNormConv2d
    public let conv4: SpectralNormConv2d
    public let conv5: SpectralNormConv2d
    public let conv6: SpectralNormConv2d
    public let conv7: SpectralNormConv2d
    public let conv8: SpectralNormConv2d
    public let conv9: Conv2d

    public init(_ config: UNetSNCriticConfig, generator: Generator?) throws {
        try config.validate()
        self.config = config
        let f = config.features
        func sn(_ i: Int, _ o: Int, _ k: Int, _ s: Int) throws -> SpectralNormConv2d {
            try SpectralNormConv2d(inChannels: i, outChannels: o, kernelSize: k, stride: s, padding: 1, bias: false, generator: generator)
        }
        conv0 = try Conv2d(inChannels: config.inChannels, outChannels: f, kernelSize: 3, padding: 1, generator: generator)
        conv1 = try sn(f, 2 * f, 4, 2)
        conv2 = try sn(2 * f, 4 * f, 4, 2)
        conv3 = try sn(4 * f, 8 * f, 4, 2)
        conv4 = try sn(8 * f, 4 * f, 3, 1)
        conv5 = try sn(4 * f, 2 * f, 3, 1)
        conv6 = try sn(2 * f, f, 3, 1)
        conv7 = try sn(f, f, 3, 1)
        conv8 = try sn(f, f, 3, 1)
        conv9 = try Conv2d(inChannels: f, outChannels: 1, kernelSize: 3, padding: 1, generator: generator)
        super.init()
    }

    /// The activations after conv0 ... conv3 (down), conv4 ... conv6 (up, with their skips) and
    /// conv8; padded to multiples of 8.
    public func features(_ x: Tensor) throws -> [Tensor] {
        guard x.rank == 4, x.shape[1] == config.inChannels else {
            throw ModelError.invalid("unet-sn critic judges (N, \(config.inChannels), H, W) images, got \(x.shape)")
        }
        let m = config.sideMultiple
        let (ph, pw) = ((m - x.shape[2] % m) % m, (m - x.shape[3] % m) % m)
        let input = ph + pw > 0 ? try x.pad([0, pw, 0, ph]) : x
        func act(_ t: Tensor) throws -> Tensor { try t.leakyRelu(negativeSlope: 0.2) }
        func up(_ t: Tensor) throws -> Tensor { try t.interpolate(scaleFactor: [2, 2], mode: .bilinear) }
        let x0 = try act(conv0(input))
        let x1 = try act(conv1(x0))
        let x2 = try act(conv2(x1))
        let x3 = try act(conv3(x2))
        let x4 = try act(conv4(up(x3))) + x2
        let x5 = try act(conv5(up(x4))) + x1
        let x6 = try act(conv6(up(x5))) + x0
        let x8 = try act(conv8(act(conv7(x6))))
        return [x0, x1, x2, x3, x4, x5, x6, x8]
    }

    /// One score per pixel of the padded image (callAsFunction crops it back).
    public func scores(fromLastFeatures h: Tensor) throws -> Tensor { try conv9(h) }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        let s = try scores(fromLastFeatures: features(x).last!)
        return try s.narrow(2, start: 0, length: x.shape[2]).narrow(3, start: 0, length: x.shape[3])
    }
}
