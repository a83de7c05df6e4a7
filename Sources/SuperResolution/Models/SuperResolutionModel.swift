import Foundation
import NN
import Torch

/// What a model takes and gives: the reconstruction, the trainer and per-scan adaptation read
/// only this, never the architecture.
public enum InputContract: Sendable, Equatable, CustomStringConvertible {
    /// 2-D slices that contain the slice axis, on the thick grid: (N, channels, K, W) with K the
    /// acquired slices (rows) and channels the neighbouring slices across the plane; the output
    /// is (N, 1, factor K, W). Serves this one integer factor.
    case thickSlices(channels: Int, factor: Int)
    /// 2-D slices that contain the slice axis, already interpolated onto the output grid:
    /// (N, channels, R, W) -> (N, 1, R, W) with R the output rows. Serves any factor, integer
    /// or not, in the range the model's task states.
    case outputGrid(channels: Int)
    /// 3-D patches on one grid: (N, channels, D, H, W) -> (N, 1, D, H, W). The input is already
    /// at the target spacing (restoration: k-space truncation, zero-filled; seed 002).
    case volume(channels: Int)

    public var channels: Int {
        switch self {
        case .thickSlices(let c, _), .outputGrid(let c), .volume(let c): c
        }
    }

    /// Whether the model is a 3-D network on patches of one grid.
    public var isVolume: Bool {
        if case .volume = self { return true }
        return false
    }

    /// The integer factor of a thick-slice model; nil for models on the output grid.
    public var fixedFactor: Int? {
        if case .thickSlices(_, let f) = self { return f }
        return nil
    }

    public var description: String {
        switch self {
        case .thickSlices(let c, let f): "thick slices, \(c) neighbour channel\(c == 1 ? "" : "s"), factor \(f)"
        case .outputGrid(let c): "slices on the output grid (any factor), \(c) neighbour channel\(c == 1 ? "" : "s")"
        case .volume(let c): "3-D patches on the output grid (restoration), \(c) channel\(c == 1 ? "" : "s")"
        }
    }
}

/// The architecture half of a model file: a Codable configuration that names its architecture
/// and builds the network. Each architecture registers its configuration type in `ModelRegistry`.
public protocol ModelConfiguration: Codable, Sendable {
    /// The registry name ("edsr"), stored in every config as the field `architecture`.
    static var architecture: String { get }
    /// Refuses impossible settings, naming the field.
    func validate() throws
    /// The input contract of the network this configuration builds.
    var contract: InputContract { get }
    /// A fresh network, initialized from `generator` (reproducible for a seed).
    func makeModel(generator: Generator?) throws -> any SuperResolutionModel
    /// Scalar subject features the network takes as context (0 unless it is conditioned).
    var contextFeatures: Int { get }
}

extension ModelConfiguration {
    public var contextFeatures: Int { 0 }
}

/// A super-resolution network: a module called on a batch of 2-D slices, with its contract.
public protocol SuperResolutionModel: Module {
    var configuration: any ModelConfiguration { get }
    /// Bytes of activations one input slice of `rows` x `width` needs in a forward pass without
    /// gradients (sizes batches to a memory budget).
    func memoryPerSlice(rows: Int, width: Int) -> Int
    /// How many pixels along a slice's width each output pixel sees on either side: a slice cut
    /// with this margin gives the same output inside the margin (reconstruction skips columns
    /// that are empty in the input).
    var receptiveRadius: Int { get }
    func callAsFunction(_ x: Tensor) throws -> Tensor
}

/// A 3-D network (the `.volume` contract): reconstruction runs it on overlapping patches.
public protocol VolumetricModel: SuperResolutionModel {
    /// Bytes of activations per voxel of an input patch in a forward pass without gradients.
    var bytesPerVoxel: Int { get }
}

extension VolumetricModel {
    /// A slice of `rows` x `width` voxels, one voxel deep.
    public func memoryPerSlice(rows: Int, width: Int) -> Int { bytesPerVoxel * rows * width }
}

extension SuperResolutionModel {
    public var contract: InputContract { configuration.contract }
    public var architecture: String { type(of: configuration).architecture }
}

/// Architecture name -> configuration type (torchvision's `get_model`, MONAI's `networks.nets`).
/// Model files, training configs and `upres models` resolve architectures here only.
public enum ModelRegistry {
    /// The registered architectures. Each following issue adds its networks here.
    public static let configurations: [String: any ModelConfiguration.Type] = [
        EDSRConfig.architecture: EDSRConfig.self,
        AttentionUNetConfig.architecture: AttentionUNetConfig.self,
        RRDBNetConfig.architecture: RRDBNetConfig.self,
        ResidualAttentionUNetConfig.architecture: ResidualAttentionUNetConfig.self,
        MDCSRNConfig.architecture: MDCSRNConfig.self,
    ]

    public static var architectures: [String] { configurations.keys.sorted() }

    /// The configuration type for `architecture`, or an error listing the known ones.
    public static func configurationType(_ architecture: String) throws -> any ModelConfiguration.Type {
        guard let type = configurations[architecture] else {
            throw ModelError.invalid("unknown architecture '\(architecture)'; expected one of \(architectures.joined(separator: ", "))")
        }
        return type
    }
}

/// A type-erased model configuration: decodes through the registry by its `architecture` field
/// (EDSR when absent, as configs written before the registry are), encodes as the concrete type.
public struct ModelSpec: Codable, Sendable {
    public var configuration: any ModelConfiguration

    public init(_ configuration: any ModelConfiguration) { self.configuration = configuration }

    private enum Keys: String, CodingKey { case architecture }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        let name = try c.decodeIfPresent(String.self, forKey: .architecture) ?? EDSRConfig.architecture
        let type: any ModelConfiguration.Type
        do { type = try ModelRegistry.configurationType(name) } catch {
            throw DecodingError.dataCorruptedError(forKey: .architecture, in: c, debugDescription: "\(error)")
        }
        configuration = try type.init(from: decoder)
    }

    public func encode(to encoder: Encoder) throws { try configuration.encode(to: encoder) }

    public var architecture: String { type(of: configuration).architecture }
    public var contract: InputContract { configuration.contract }
    public func validate() throws { try configuration.validate() }
    public func makeModel(generator: Generator? = nil) throws -> any SuperResolutionModel {
        try configuration.validate()
        return try configuration.makeModel(generator: generator)
    }

    /// Sorted-key JSON, the form stored in model files and compared for equality.
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

extension ModelSpec: Equatable {
    public static func == (a: ModelSpec, b: ModelSpec) -> Bool {
        (try? a.json()) == (try? b.json())
    }
}

/// A model that takes context besides the slices (seed 004's cross-attention): each slice's
/// position in its volume and its subject's scalar features.
public protocol ConditionedModel: SuperResolutionModel {
    /// How many scalar subject features the model expects (0: the slice position only).
    var contextFeatures: Int { get }
    func forward(_ x: Tensor, features: Tensor?, position: Tensor?) throws -> Tensor
}

extension SuperResolutionModel {
    /// The model on a batch with its context; models without one ignore it.
    public func callAsFunction(_ x: Tensor, conditioning: Conditioning) throws -> Tensor {
        if let c = self as? any ConditionedModel { return try c.forward(x, features: conditioning.features, position: conditioning.position) }
        return try self(x)
    }
}
