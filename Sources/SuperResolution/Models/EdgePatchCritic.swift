import Foundation
import NN
import Torch

/// Seed 003's discriminator: the image and its horizontal and vertical Sobel edge maps as three
/// channels, a 7x7 convolution, then six 1x1 convolutions (ReLU between them), all under spectral
/// normalization; one score per 7x7 window (a PatchGAN whose receptive field is 7x7 on the edges'
/// 9x9 support). Scores are logits (the downsampling GAN takes their sigmoid as seed 003's
/// probability map). Images of any size >= 9; the score map is (H - 8) x (W - 8): the Sobel maps
/// are valid convolutions, and the image is cropped by one voxel on each side to line up with them.
public struct EdgePatchCriticConfig: CriticConfiguration, Equatable {
    public static let architecture = "edge-patchgan"
    public var architecture: String = EdgePatchCriticConfig.architecture
    /// Channels of the judged image (Sobel maps are added per channel: 3 x inChannels go in).
    public var inChannels: Int
    public var features: Int
    /// 1x1 convolutions after the 7x7 one (seed 003: 6).
    public var pointwiseLayers: Int

    public init(inChannels: Int = 1, features: Int = 64, pointwiseLayers: Int = 6) {
        self.inChannels = inChannels
        self.features = features
        self.pointwiseLayers = pointwiseLayers
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case architecture, inChannels, features, pointwiseLayers }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = EdgePatchCriticConfig()
        architecture = try c.value(.architecture, or: d.architecture)
        inChannels = try c.value(.inChannels, or: d.inChannels)
        features = try c.value(.features, or: d.features)
        pointwiseLayers = try c.value(.pointwiseLayers, or: d.pointwiseLayers)
    }

    public var smallestInputShape: [Int] { [1, inChannels, 9, 9] }
    public var fixedInputSize: Bool { false }
    public var sideMultiple: Int { 1 }

    public func validate() throws {
        guard inChannels >= 1, features >= 1, pointwiseLayers >= 1 else {
            throw ModelError.invalid("edge-patchgan critic: inChannels, features and pointwiseLayers must be >= 1")
        }
    }

    public func makeCritic(generator: Generator?) throws -> any CriticNetwork { try EdgePatchCritic(self, generator: generator) }
}

public final class EdgePatchCritic: Module, CriticNetwork {
    public let config: EdgePatchCriticConfig
    public var configuration: any CriticConfiguration { config }
    /// The 7x7 convolution, then the 1x1 ones; the last 1x1 gives the score.
    let convs: [SpectralNormConv2d]

    public init(_ config: EdgePatchCriticConfig, generator: Generator?) throws {
        try config.validate()
        self.config = config
        var convs = [try SpectralNormConv2d(inChannels: 3 * config.inChannels, outChannels: config.features, kernelSize: 7, generator: generator)]
        for i in 0..<config.pointwiseLayers {
            let last = i == config.pointwiseLayers - 1
            convs.append(try SpectralNormConv2d(inChannels: config.features, outChannels: last ? 1 : config.features, kernelSize: 1,
                                                generator: generator))
        }
        self.convs = convs
        super.init()
    }

    /// The Sobel operators of seed 003 (eq. 1): S_x responds to changes along columns, S_y along rows.
    public static func sobel(dtype: DType = .float32) throws -> (x: Tensor, y: Tensor) {
        let sx: [Double] = [-1, 0, 1, -2, 0, 2, -1, 0, 1]
        let sy: [Double] = [-1, -2, -1, 0, 0, 0, 1, 2, 1]
        return (try Tensor(sx, shape: [1, 1, 3, 3]).to(dtype), try Tensor(sy, shape: [1, 1, 3, 3]).to(dtype))
    }

    /// (N, C, H, W) -> (N, 3C, H - 2, W - 2): the cropped image, then its S_x and S_y maps per channel.
    public static func withEdges(_ x: Tensor) throws -> Tensor {
        let (c, h, w) = (x.shape[1], x.shape[2], x.shape[3])
        let s = try sobel(dtype: x.dtype)
        let kx = try s.x.expand([c, 1, 3, 3]).contiguous(), ky = try s.y.expand([c, 1, 3, 3]).contiguous()
        let inner = try x.narrow(2, start: 1, length: h - 2).narrow(3, start: 1, length: w - 2)
        return try Tensor.cat([inner, x.conv2d(kx, groups: c), x.conv2d(ky, groups: c)], dim: 1)
    }

    public func features(_ x: Tensor) throws -> [Tensor] {
        guard x.rank == 4, x.shape[1] == config.inChannels, x.shape[2] >= 9, x.shape[3] >= 9 else {
            throw ModelError.invalid("edge-patchgan critic judges (N, \(config.inChannels), H, W) images with H, W >= 9, got \(x.shape)")
        }
        var h = try convs[0](Self.withEdges(x))
        var out = [h]
        for conv in convs.dropFirst().dropLast() {
            h = try conv(h.relu())
            out.append(h)
        }
        return out
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try scores(fromLastFeatures: features(x).last!) }

    public func scores(fromLastFeatures h: Tensor) throws -> Tensor { try convs.last!(h.relu()) }
}
