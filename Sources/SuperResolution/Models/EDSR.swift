import Foundation
import Imaging
import NN
import Torch

/// The architecture of an EDSR model (seeds 001 and 003), stored with its weights.
public struct EDSRConfig: ModelConfiguration, Equatable {
    public static let architecture = "edsr"
    public var architecture: String = EDSRConfig.architecture
    /// Input channels: neighbouring slices x contrasts (1, 3 or 5 slices).
    public var inChannels: Int
    public var outChannels: Int
    public var features: Int
    public var blocks: Int
    /// Each residual block's output is scaled by this before it is added (EDSR: 0.1 for wide models).
    public var residualScale: Double
    /// Through-plane upsampling factor (pixel shuffle along the slice axis only); 1 for the
    /// refining variant, whose input is already on the high-resolution grid.
    public var factor: Int
    /// Channels after the pixel shuffle (the upsampler makes factor x this many).
    public var upsampleFeatures: Int

    public init(inChannels: Int = 3, outChannels: Int = 1, features: Int = 32, blocks: Int = 6, residualScale: Double = 0.1,
                factor: Int = 6, upsampleFeatures: Int = 8) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.features = features
        self.blocks = blocks
        self.residualScale = residualScale
        self.factor = factor
        self.upsampleFeatures = upsampleFeatures
    }

    public var refines: Bool { factor == 1 }

    private enum CodingKeys: String, CodingKey {
        case architecture, inChannels, outChannels, features, blocks, residualScale, factor, upsampleFeatures
    }

    /// Configs written before the registry carry no architecture: EDSR.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        architecture = try c.decodeIfPresent(String.self, forKey: .architecture) ?? Self.architecture
        inChannels = try c.decode(Int.self, forKey: .inChannels)
        outChannels = try c.decode(Int.self, forKey: .outChannels)
        features = try c.decode(Int.self, forKey: .features)
        blocks = try c.decode(Int.self, forKey: .blocks)
        residualScale = try c.decode(Double.self, forKey: .residualScale)
        factor = try c.decode(Int.self, forKey: .factor)
        upsampleFeatures = try c.decode(Int.self, forKey: .upsampleFeatures)
    }

    /// Factor 1 refines slices already interpolated onto the output grid (any factor); other
    /// factors take thick slices and pixel-shuffle along the slice axis.
    public var contract: InputContract {
        refines ? .outputGrid(channels: inChannels) : .thickSlices(channels: inChannels, factor: factor)
    }

    public func makeModel(generator: Generator?) throws -> any SuperResolutionModel {
        try EDSR(self, generator: generator)
    }

    public func validate() throws {
        guard architecture == "edsr" else {
            throw NNError.invalidConfiguration(module: "EDSR", message: "architecture '\(architecture)' is not edsr")
        }
        guard inChannels >= 1, outChannels >= 1, features >= 1, blocks >= 0, factor >= 1, upsampleFeatures >= 1,
              residualScale.isFinite else {
            throw NNError.invalidConfiguration(module: "EDSR", message: "channels, features, factor must be >= 1 and blocks >= 0")
        }
        guard inChannels % 2 == 1 else {
            throw NNError.invalidConfiguration(module: "EDSR", message: "input channels \(inChannels) must be odd (a centre slice and its neighbours)")
        }
    }
}

/// One EDSR residual block: conv, ReLU, conv, scaled, plus the input (no batch norm).
public final class ResidualBlock: Module {
    public let conv1: Conv2d
    public let conv2: Conv2d
    let scale: Double

    init(features: Int, scale: Double, generator: Generator?) throws {
        conv1 = try Conv2d(inChannels: features, outChannels: features, kernelSize: 3, padding: 1, generator: generator)
        conv2 = try Conv2d(inChannels: features, outChannels: features, kernelSize: 3, padding: 1, generator: generator)
        self.scale = scale
        super.init()
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        try x + conv2(conv1(x).relu()) * scale
    }
}

/// EDSR for through-plane super-resolution of 2-D slices that contain the slice axis.
///
/// Input (N, C, H, W) with H along the slice axis (LR rows) and C = neighbouring slices; output
/// (N, out, factor H, W). Output row factor k + r sits at LR row k + (r - floor(factor / 2)) /
/// factor, so the acquired slices are output rows themselves. The network adds a learned
/// residual to the linear interpolation of the centre channel along H (the refining variant:
/// to the centre channel itself). State-dict names: head, body.N.conv1, body.N.conv2,
/// body_conv, upsample, tail (see `bench/edsr_reference.py` for the same model in PyTorch).
public final class EDSR: Module, UnaryLayer, SuperResolutionModel, @unchecked Sendable {
    public let config: EDSRConfig
    public let head: Conv2d
    public let body: [ResidualBlock]
    public let body_conv: Conv2d
    public let upsample: Conv2d?
    public let tail: Conv2d
    private var interpolators: [Int: Tensor] = [:]

    public init(_ config: EDSRConfig, generator: Generator? = nil) throws {
        try config.validate()
        self.config = config
        let f = config.features
        head = try Conv2d(inChannels: config.inChannels, outChannels: f, kernelSize: 3, padding: 1, generator: generator)
        body = try (0..<config.blocks).map { _ in try ResidualBlock(features: f, scale: config.residualScale, generator: generator) }
        body_conv = try Conv2d(inChannels: f, outChannels: f, kernelSize: 3, padding: 1, generator: generator)
        if config.refines {
            upsample = nil
            tail = try Conv2d(inChannels: f, outChannels: config.outChannels, kernelSize: 3, padding: 1, generator: generator)
        } else {
            upsample = try Conv2d(inChannels: f, outChannels: config.upsampleFeatures * config.factor, kernelSize: 3, padding: 1,
                                  generator: generator)
            tail = try Conv2d(inChannels: config.upsampleFeatures, outChannels: config.outChannels, kernelSize: 3, padding: 1,
                              generator: generator)
        }
        super.init()
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard x.rank == 4, x.shape[1] == config.inChannels else {
            throw NNError.invalidConfiguration(
                module: "EDSR", message: "expected input (N, \(config.inChannels), H, W), got \(x.shape)")
        }
        let centre = try x.narrow(1, start: config.inChannels / 2, length: 1)
        let h = try head(x)
        var y = h
        for block in body { y = try block(y) }
        y = try body_conv(y) + h
        if let upsample {
            y = try PixelShuffle.shuffle(upsample(y), height: config.factor, width: 1)
            let base = try centre.applyingAxisOperator(interpolator(rows: x.shape[2]), axis: 2)
            return try tail(y.relu()) + base
        }
        return try tail(y) + centre
    }

    public var configuration: any ModelConfiguration { config }

    /// About four feature maps of `features` channels live at once, plus the upsampler's
    /// output at factor x the rows (float32).
    /// One pixel per 3 x 3 convolution: head, two per block, the body's last, the upsampler's
    /// and the tail.
    public var receptiveRadius: Int { 2 * config.blocks + (config.refines ? 3 : 4) }

    public func memoryPerSlice(rows: Int, width: Int) -> Int {
        4 * (4 * config.features * rows * width + 2 * config.upsampleFeatures * config.factor * rows * width)
    }

    /// The (factor H x H) linear interpolation at the output rows' LR positions (edges clamped).
    func interpolator(rows h: Int) throws -> Tensor {
        if let m = interpolators[h] { return m }
        let m = try Tensor(Self.linearInterpolator(rows: h, factor: config.factor), shape: [config.factor * h, h])
        interpolators[h] = m
        return m
    }

    /// The (factor h x h) row-major matrix of the linear interpolation of h acquired rows at the
    /// output rows' positions: output row s k + r at acquired row k + (r - floor(s / 2)) / s,
    /// edges clamped (every thick-slice model's convention).
    static func linearInterpolator(rows h: Int, factor s: Int) -> [Float] {
        var w = [Float](repeating: 0, count: s * h * h)
        for j in 0..<(s * h) {
            let p = Swift.min(Swift.max(Double(j / s) + Double(j % s - s / 2) / Double(s), 0), Double(h - 1))
            let i0 = Int(p.rounded(.down)), t = p - Double(i0)
            w[j * h + i0] += Float(1 - t)
            if t > 0 { w[j * h + i0 + 1] += Float(t) }
        }
        return w
    }
}
