import Torch

/// A complete low-resolution simulation: one resolution-loss model, then optional bias and noise,
/// all seeded. Encodes to the JSON recorded in each output's sidecar.
public struct SimulationSettings: Sendable, Equatable, Codable {
    /// How the resolution is lost.
    public enum Model: Sendable, Equatable, Codable {
        case slices(SliceAcquisition)
        case kspace(KSpaceTruncation)
        case gaussian(GaussianDownsampling)
        /// A learned in-plane kernel (`upres degrade learn`, seed 003).
        case kernel(KernelDownsampling)

        public var name: String {
            switch self {
            case .slices: "slices"
            case .kspace: "kspace"
            case .gaussian: "gaussian"
            case .kernel: "kernel"
            }
        }

        enum CodingKeys: String, CodingKey { case slices, kspace, gaussian, kernel }

        // {"slices": {...}}: the model's name holding its parameters.
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            if let s = try c.decodeIfPresent(SliceAcquisition.self, forKey: .slices) { self = .slices(s) }
            else if let k = try c.decodeIfPresent(KSpaceTruncation.self, forKey: .kspace) { self = .kspace(k) }
            else if let g = try c.decodeIfPresent(GaussianDownsampling.self, forKey: .gaussian) { self = .gaussian(g) }
            else if let k = try c.decodeIfPresent(KernelDownsampling.self, forKey: .kernel) { self = .kernel(k) }
            else {
                throw DegradationError.invalid("a simulation model must be one of slices, kspace, gaussian, kernel")
            }
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            switch self {
            case .slices(let s): try c.encode(s, forKey: .slices)
            case .kspace(let k): try c.encode(k, forKey: .kspace)
            case .gaussian(let g): try c.encode(g, forKey: .gaussian)
            case .kernel(let k): try c.encode(k, forKey: .kernel)
            }
        }
    }

    public var model: Model
    public var noise: NoiseModel?
    public var bias: BiasField?
    public var seed: UInt64
    /// The preset these settings started from, if any.
    public var preset: String?

    public init(model: Model, noise: NoiseModel? = nil, bias: BiasField? = nil, seed: UInt64 = 0, preset: String? = nil) {
        self.model = model
        self.noise = noise
        self.bias = bias
        self.seed = seed
        self.preset = preset
    }

    /// The papers' settings by name.
    public static let presets: [String: (summary: String, settings: SimulationSettings)] = [
        "thick-5-6": ("5 mm axial slices every 6 mm, rectangular profile (seed 001)",
                      SimulationSettings(model: .slices(SliceAcquisition(thickness: 5, spacing: 6)), preset: "thick-5-6")),
        "thick-5-6-gaussian": ("5 mm axial slices every 6 mm, Gaussian profile",
                               SimulationSettings(model: .slices(SliceAcquisition(thickness: 5, spacing: 6, profile: .gaussian)),
                                                  preset: "thick-5-6-gaussian")),
        "thick-3-3": ("3 mm contiguous axial slices",
                      SimulationSettings(model: .slices(SliceAcquisition(thickness: 3, spacing: 3)), preset: "thick-3-3")),
        "kspace-x2": ("k-space truncation keeping 1/2 of each in-plane axis (seed 002)",
                      SimulationSettings(model: .kspace(KSpaceTruncation(factor: 2)), preset: "kspace-x2")),
        "kspace-x4": ("k-space truncation keeping 1/4 of each in-plane axis: 6.25% of the plane (seed 002)",
                      SimulationSettings(model: .kspace(KSpaceTruncation(factor: 4)), preset: "kspace-x4")),
        "kspace-3d-x4": ("3-D k-space truncation keeping 1/4 of every axis, zero-filled on the same grid (seed 002)",
                         SimulationSettings(model: .kspace(KSpaceTruncation(factor: 4, axes: [0, 1, 2], mode: .volume3D)), preset: "kspace-3d-x4")),
        "kspace-fermi-x2": ("the outer 75% of the plane zero-filled with a Fermi window (seed 003 baseline)",
                            SimulationSettings(model: .kspace(KSpaceTruncation(factor: 2, window: .fermi(radius: 0.9, width: 0.05))),
                                               preset: "kspace-fermi-x2")),
        "gaussian-1.5": ("Gaussian blur sigma 1.5 voxels, then x2 downsampling in-plane (seed 003 baseline)",
                         SimulationSettings(model: .gaussian(GaussianDownsampling(sigma: [1.5], unit: .voxels, factor: [2, 2, 1])),
                                            preset: "gaussian-1.5")),
    ]

    public static func preset(_ name: String) throws -> SimulationSettings {
        guard let p = presets[name] else {
            throw DegradationError.invalid("unknown preset '\(name)'; known: \(presets.keys.sorted().joined(separator: ", "))")
        }
        return p.settings
    }

    public func validate(for volume: Volume) throws {
        switch model {
        case .slices(let s): try s.validate(for: volume)
        case .kspace(let k): try k.validate(for: volume)
        case .gaussian(let g): try g.validate(for: volume)
        case .kernel(let k): try k.validate(for: volume)
        }
        try noise?.validate()
        try bias?.validate()
    }
}

/// The result of one simulation.
public struct SimulationResult: Sendable {
    /// On the low-resolution grid (thick slices, reduced matrix) or the original one.
    public var lowResolution: Volume
    /// The noise standard deviation used, in the image's units.
    public var noiseSigma: Double?
}

extension Volume {
    /// Degrades this high-resolution volume: bias (on the HR grid), the resolution model, then
    /// noise (on the LR grid, where the scanner adds it). `mask` sets the SNR's reference signal.
    public func simulated(_ settings: SimulationSettings, mask: Tensor? = nil) throws -> SimulationResult {
        guard shape.count == 3 else {
            throw DegradationError.invalid("simulation needs a 3-D volume, got shape \(shape)")
        }
        guard data.dtype.isFloatingPoint || data.dtype.isInteger else {
            throw DegradationError.invalid("cannot simulate from \(data.dtype) voxels; they must be real scalars")
        }
        try settings.validate(for: self)
        if let mask, Array(mask.shape.prefix(3)) != shape {
            throw DegradationError.invalid("mask shape \(mask.shape) differs from the volume's \(shape)")
        }
        let generator = try Generator(seed: settings.seed)
        var hr = self
        hr.data = try data.to(.float32)
        if let bias = settings.bias, bias.strength > 0 {
            hr.data = try (hr.data.to(.float64) * bias.field(shape: shape, generator: generator)).to(.float32)
        }
        var lr: Volume
        switch settings.model {
        case .slices(let s): lr = try s.apply(to: hr)
        case .kspace(let k): lr = try k.apply(to: hr)
        case .gaussian(let g): lr = try g.apply(to: hr)
        case .kernel(let k): lr = try k.apply(to: hr)
        }
        var sigma: Double? = nil
        if let noise = settings.noise {
            // The reference signal comes from the HR image (and mask) so that SNR means the same
            // thing for every model and grid.
            sigma = try noise.sigma(for: hr.data, mask: mask)
            lr.data = try noise.apply(to: lr.data, sigma: sigma!, generator: generator)
        }
        lr.metadata.description = "upres simulate \(settings.preset ?? settings.model.name)"
        return SimulationResult(lowResolution: lr, noiseSigma: sigma)
    }
}
