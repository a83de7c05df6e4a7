import Foundation
import Torch

/// Seed 004's preprocessing as one chain: N4 on the whole head, a brain mask, N4 again inside the
/// mask, an optional rigid or affine registration to a reference scan, and clipped min-max
/// normalization (percentiles inside the brain).
public enum Preprocessing {
    public struct Settings: Codable, Equatable, Sendable {
        public var n4 = N4Settings()
        public var brain = BrainExtraction.Settings()
        /// Register to the reference (when given) rigidly, or affinely.
        public var affine = false
        /// Clipped min-max percentiles inside the brain mask.
        public var clipPercentiles = [0.5, 99.5]
        /// Keep only the brain (voxels outside the mask set to 0 after normalization).
        public var skullStrip = false
        public init() {}
    }

    public struct Result {
        public var volume: Volume
        public var mask: Volume
        public var normalization: NormalizationParameters
        public var transform: SpatialTransform?
        /// Time per step, in order.
        public var steps: [(name: String, seconds: Double)]
    }

    public static func run(_ scan: Volume, template: Volume, reference: Volume? = nil, settings: Settings = Settings()) throws -> Result {
        var steps: [(String, Double)] = []
        func timed<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
            let start = Date()
            let v = try body()
            steps.append((name, Date().timeIntervalSince(start)))
            return v
        }
        let first = try timed("n4") { try BiasCorrection.n4(scan, settings: settings.n4).corrected }
        let brain = try timed("brain-mask") { try BrainExtraction.mask(first, template: template, templateMask: template, settings: settings.brain) }
        var v = try timed("n4-in-mask") { try BiasCorrection.n4(first, mask: brain.mask, settings: settings.n4).corrected }
        var mask = brain.mask
        var transform: SpatialTransform? = nil
        if let reference {
            var r = RegistrationSettings()
            r.affine = settings.affine
            let registered = try timed("register") { try Registration.register(moving: v, fixed: reference, settings: r) }
            transform = registered.transform
            v = registered.resampled
            mask = Volume(data: try Registration.apply(registered.transform, to: Volume(data: mask.data.to(.float32), affine: mask.affine),
                                                       like: reference, interpolation: .linear).data.ge(.double(0.5)).to(.uint8),
                          affine: reference.affine)
        }
        let (normalized, parameters) = try timed("normalize") {
            try v.normalized(.clippedMinMax(lower: settings.clipPercentiles[0], upper: settings.clipPercentiles[1]), mask: mask.data)
        }
        var out = normalized
        if settings.skullStrip { out = Volume(data: try normalized.data * mask.data.to(normalized.data.dtype), affine: normalized.affine, metadata: normalized.metadata) }
        return Result(volume: out, mask: mask, normalization: parameters, transform: transform, steps: steps)
    }
}
