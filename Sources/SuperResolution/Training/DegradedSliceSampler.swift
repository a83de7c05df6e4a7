import Foundation
import Imaging
import Torch

/// Where a trainer's batches come from: (input, target) pairs shaped for the model's contract.
public protocol BatchSource: AnyObject {
    /// One batch, drawn from `generator` (so a run is reproducible and resumable).
    func batch(size: Int, generator: Generator, augment: Bool) throws -> (Tensor, Tensor)
    /// Fixed validation batches (no augmentation).
    func validationBatches(count: Int, generator: Generator) throws -> [(Tensor, Tensor)]
    /// A batch with what conditioned models (seed 004) see besides the slices.
    func conditionedBatch(size: Int, generator: Generator, augment: Bool) throws -> ConditionedBatch
    func conditionedValidationBatches(count: Int, generator: Generator) throws -> [ConditionedBatch]
}

/// Slices, targets, and their context: each slice's position in its volume along the axis it is
/// cut across (0 to 1) and its subject's scalar features (age, sex, diagnosis ...).
public struct ConditionedBatch {
    public var input: Tensor
    public var target: Tensor
    public var conditioning: Conditioning

    public init(input: Tensor, target: Tensor, conditioning: Conditioning = Conditioning()) {
        self.input = input
        self.target = target
        self.conditioning = conditioning
    }
}

public struct Conditioning {
    /// (N, features), or nil (zeros).
    public var features: Tensor?
    /// (N) in [0, 1], or nil (0.5).
    public var position: Tensor?
    public init(features: Tensor? = nil, position: Tensor? = nil) {
        self.features = features
        self.position = position
    }
}

extension BatchSource {
    /// Sources without context: the plain batches.
    public func conditionedBatch(size: Int, generator: Generator, augment: Bool) throws -> ConditionedBatch {
        let (x, y) = try batch(size: size, generator: generator, augment: augment)
        return ConditionedBatch(input: x, target: y)
    }

    public func conditionedValidationBatches(count: Int, generator: Generator) throws -> [ConditionedBatch] {
        try validationBatches(count: count, generator: generator).map { ConditionedBatch(input: $0.0, target: $0.1) }
    }
}

extension PatchSampler: BatchSource {}

/// The through-plane degradations a sampler draws from: slice spacing (mm), thickness as a
/// fraction of the spacing (below 1: a gap; above 1: overlap) and slice profiles.
public struct DegradationRange: Codable, Sendable, Equatable {
    public var spacing: [Double]
    public var thicknessRatio: [Double]
    public var profiles: [SliceProfile]

    public init(spacing: [Double], thicknessRatio: [Double] = [0.7, 1.0], profiles: [SliceProfile] = [.rectangular, .gaussian, .sinc]) {
        self.spacing = spacing
        self.thicknessRatio = thicknessRatio
        self.profiles = profiles
    }

    /// Exactly one acquisition (a scan's own).
    public init(_ acquisition: SliceAcquisition) {
        self.init(spacing: [acquisition.spacing], thicknessRatio: [acquisition.thickness / acquisition.spacing],
                  profiles: [acquisition.profile])
    }

    public func validate() throws {
        func check(_ r: [Double], _ name: String) throws {
            guard (1...2).contains(r.count), r.allSatisfy({ $0 > 0 && $0.isFinite }), r.first! <= r.last! else {
                throw ModelError.invalid("\(name) \(r) must be one value or [lowest, highest], all > 0")
            }
        }
        try check(spacing, "degradation spacing")
        try check(thicknessRatio, "degradation thicknessRatio")
        guard !profiles.isEmpty else { throw ModelError.invalid("degradation profiles must name at least one profile") }
    }
}

/// Training pairs for models on the output grid, made from thin-voxel planes (SMORE's idea;
/// DESIGN.md "per-scan self-supervised pairs"): a 2-D plane is acquired as thick slices along
/// one of its axes and interpolated back onto its grid (`SliceAcquisition.reinterpolationOperator`),
/// which is exactly what `upres upsample` does to a scan's through-plane lines. The pair is that
/// input and the plane itself, with the degraded axis as rows.
///
/// For a scan, the planes are its own in-plane slices (the through-plane axis is never read);
/// for pretraining, the planes of isotropic volumes across any axis. Augmentation: the degraded
/// axis is either axis of the plane (a 90 degree rotation of the anatomy), flips of both axes,
/// intensity scaling, and optionally seed 004's Gaussian-mixture contrast change so that T1-,
/// T2-, FLAIR- and PD-like contrasts are all seen.
public final class DegradedSliceSampler: BatchSource {
    public struct Source {
        /// Normalized 3-D intensities (float32).
        public var volume: Tensor
        /// The axes across which planes are cut (a scan: its through-plane axis only).
        public var acrossAxes: [Int]
        /// Voxel size (mm) of the planes' axes (the same on both: square pixels).
        public var voxelSize: Double
        /// Foreground voxels (M, 3) for sampling, nil for uniform.
        public var foreground: Tensor?
        /// Cumulative sampling weights of the foreground voxels (ECLARE samples patches by
        /// gradient magnitude); nil: each foreground voxel alike.
        public var cumulativeWeights: [Double]?
        /// Tissue classes for contrast augmentation.
        public var mixture: GaussianMixture?
        public var name: String
        /// The subject's scalar features for conditioned models (the training config's
        /// `data.context`), nil for none.
        public var features: [Double]?
        /// The subject's other contrasts on the same grid, normalized alike (seed 000's fusion):
        /// further channel groups of the input; `volume` is the contrast reconstructed.
        public var contrasts: [Tensor] = []
        /// Voxels (M, 3) of a region that `regionFraction` of the patches are centred in
        /// (seed 002's balanced sampling; `data.balance`), nil for none.
        public var region: Tensor?

        public init(volume: Tensor, acrossAxes: [Int], voxelSize: Double, foreground: Tensor? = nil, mixture: GaussianMixture? = nil,
                    name: String) {
            self.volume = volume
            self.acrossAxes = acrossAxes
            self.voxelSize = voxelSize
            self.foreground = foreground
            self.mixture = mixture
            self.name = name
        }
    }

    public let sources: [Source]
    public let degradations: DegradationRange
    public let patch: Int
    /// The model's contract: pairs on the output grid (interpolated input), or thick rows (the
    /// acquired slices as input rows, `factor` target rows per slice).
    public let contract: InputContract
    public let foregroundFraction: Double
    public let flips: Bool
    public let intensityScale: Double
    public let contrastAugmentation: Bool
    /// The noise standard deviation of the scan the model will reconstruct (normalized units).
    /// A thick slice averages several thin pixels, so the pairs' inputs are quieter than the
    /// scan's slices; Gaussian noise is added to each input row to bring it back to this level
    /// (per row sigma * sqrt(1 - sum of the row's weights squared)), so the model meets at
    /// training the noise it meets on the scan. Thick-slice contracts only.
    public let inputNoise: Double
    /// The fraction of patches centred in their source's region (`data.balance`).
    public var regionFraction: Double = 0
    /// Seed 003's rotations: each training plane turned by n x 45 degrees (n = 0 ... 7, bilinear
    /// for the odd ones) before it is degraded (`data.rotations`).
    public var rotations: Bool = false

    public init(sources: [Source], degradations: DegradationRange, patch: Int = 48, contract: InputContract = .outputGrid(channels: 1),
                foregroundFraction: Double = 0.9, flips: Bool = true, intensityScale: Double = 0.1, contrastAugmentation: Bool = false,
                inputNoise: Double = 0) throws {
        let channels = contract.channels
        guard inputNoise >= 0, inputNoise.isFinite else { throw ModelError.invalid("input noise \(inputNoise) must be >= 0") }
        guard inputNoise == 0 || contract.fixedFactor != nil else {
            throw ModelError.invalid("matched input noise needs a thick-slice model (the model takes \(contract))")
        }
        guard !sources.isEmpty else { throw ModelError.invalid("no training data: no volumes to cut planes from") }
        try degradations.validate()
        for s in sources {
            let groups = 1 + s.contrasts.count
            guard channels % groups == 0, channels == groups || (contract.fixedFactor == nil && (channels / groups) % 2 == 1) else {
                throw ModelError.invalid("\(s.name): \(groups) contrast\(groups == 1 ? "" : "s") cannot fill the model's \(channels) channels (an odd number of neighbouring planes per contrast; thick-slice models take one plane)")
            }
            guard s.contrasts.isEmpty || contract.fixedFactor == nil else {
                throw ModelError.invalid("\(s.name): several contrasts train models on the output grid; the model takes thick slices")
            }
            guard s.contrasts.allSatisfy({ $0.shape == s.volume.shape }) else {
                throw ModelError.invalid("\(s.name): its contrasts are not on one grid (\(([s.volume] + s.contrasts).map(\.shape)))")
            }
            guard s.contrasts.isEmpty || !contrastAugmentation else {
                throw ModelError.invalid("\(s.name): contrast augmentation invents one contrast; a subject with several real contrasts takes none")
            }
            guard s.volume.rank == 3 else { throw ModelError.invalid("\(s.name): expected a 3-D volume, got \(s.volume.shape)") }
            for a in s.acrossAxes {
                let plane = (0..<3).filter { $0 != a }.map { s.volume.shape[$0] }
                guard plane.min()! >= patch else {
                    throw ModelError.invalid("\(s.name): planes across axis \(a) are \(plane[0]) x \(plane[1]) voxels, smaller than the \(patch)-pixel training patch")
                }
                let lines = Double(plane.min()!) * s.voxelSize
                guard lines >= 2 * degradations.spacing.last! else {
                    throw ModelError.invalid("\(s.name): planes of \(String(format: "%.0f", lines)) mm hold fewer than two slices \(degradations.spacing.last!) mm apart")
                }
            }
            if contrastAugmentation && s.mixture == nil {
                throw ModelError.invalid("\(s.name): contrast augmentation needs the volume's tissue mixture")
            }
        }
        self.sources = sources
        self.degradations = degradations
        self.patch = patch
        self.contract = contract
        if let f = contract.fixedFactor {
            for s in sources {
                guard degradations.spacing.allSatisfy({ Swift.abs($0 / s.voxelSize - Double(f)) < 1e-6 }) else {
                    throw ModelError.invalid("\(s.name): a thick-slice model of factor \(f) needs slices \(f) voxels apart, not \(degradations.spacing) mm with \(s.voxelSize) mm voxels")
                }
            }
        }
        self.foregroundFraction = foregroundFraction
        self.flips = flips
        self.intensityScale = intensityScale
        self.contrastAugmentation = contrastAugmentation
        self.inputNoise = inputNoise
    }

    /// A uniform draw in [0, 1) from `generator`.
    static func uniform(_ g: Generator) throws -> Double { try Tensor.rand([1], dtype: .float64, generator: g).item() }
    static func draw(_ n: Int, _ g: Generator) throws -> Int { try Tensor.randint(0, Swift.max(n, 1), [1], generator: g).itemInt() }
    static func within(_ r: [Double], _ g: Generator) throws -> Double {
        r.count == 1 || r[0] == r[1] ? r[0] : r[0] + (r[1] - r[0]) * (try uniform(g))
    }

    /// One pair: input (channels, patch, patch) and target (1, patch, patch), rows along the
    /// degraded axis.
    func sample(generator g: Generator, augment: Bool) throws -> (Tensor, Tensor) {
        let s = try conditionedSample(generator: g, augment: augment)
        return (s.input, s.target)
    }

    /// A pair with its plane's position across its volume (0 to 1) and its source.
    func conditionedSample(generator g: Generator, augment: Bool) throws -> (input: Tensor, target: Tensor, position: Double, source: Source) {
        if let f = contract.fixedFactor {
            let (x, y) = try thickSample(factor: f, generator: g, augment: augment)
            return (x, y, 0.5, sources[0])
        }
        var (source, across, rowAxis, colAxis, pos) = try plane(generator: g)
        let turn = augment && rotations ? try Self.draw(8, g) : 0
        pos = Self.rotated(pos, across: across, shape: source.volume.shape, turn: turn)
        let position = Double(pos[across]) / Double(Swift.max(source.volume.shape[across] - 1, 1))
        let flipAxes = rowAxis > colAxis
        let shape = source.volume.shape
        // The acquisition along the rows.
        let spacing = try Self.within(degradations.spacing, g)
        let ratio = try Self.within(degradations.thicknessRatio, g)
        let profile = degradations.profiles[try Self.draw(degradations.profiles.count, g)]
        let acquisition = SliceAcquisition(direction: .voxelAxis(rowAxis), thickness: ratio * spacing, spacing: spacing, profile: profile)
        let n = shape[rowAxis]
        let phase = try Self.uniform(g) * spacing / source.voxelSize
        let (m, rows) = try acquisition.reinterpolationOperator(n: n, voxelSize: source.voxelSize, phase: phase)
        let r0 = Swift.min(Swift.max(pos[rowAxis] - patch / 2, rows.lowerBound), Swift.max(rows.upperBound - patch, rows.lowerBound))
        let rowsUsed = Swift.min(patch, rows.count)
        let c0 = Swift.min(Swift.max(pos[colAxis] - patch / 2, 0), shape[colAxis] - patch)
        // The plane's full lines along the rows, for the patch's columns: (n, patch); with
        // neighbour channels, the planes beside it across the plane too (C, n, patch), degraded
        // alike, as a scan's neighbouring slices are (edges repeated, as the reconstruction does).
        // Several contrasts: one such group each, the reconstructed contrast's first.
        let channels = contract.channels, volumes = [source.volume] + source.contrasts
        let neighbours = channels / volumes.count, half = neighbours / 2
        func strip(_ v: Tensor, at index: Int) throws -> Tensor {
            var s = try Self.rotated(v.select(across, Swift.min(Swift.max(index, 0), shape[across] - 1)), turn: turn)  // 2-D over planeAxes in order
            if flipAxes { s = try s.transpose(0, 1) }
            return try s.narrow(1, start: c0, length: patch)
        }
        var strips = channels == 1 ? try strip(source.volume, at: pos[across])
            : try Tensor.stack(volumes.flatMap { v in (0..<neighbours).map { (v, pos[across] + $0 - half) } }.map { try strip($0.0, at: $0.1) }, dim: 0)
        strips = try remapped(strips, source: source, generator: g, augment: augment)
        let rowDim = channels == 1 ? 0 : 1
        let centre = channels == 1 ? strips : try strips.select(0, half)
        var input = try m.narrow(0, start: r0, length: rowsUsed).to(.float32).matmul(strips.to(.float32))
        var target = try centre.narrow(0, start: r0, length: rowsUsed)
        if rowsUsed < patch {  // a line shorter than a patch: pad by repeating the last row
            let pad = patch - rowsUsed
            var inputPad = input.shape
            inputPad[rowDim] = pad
            input = try Tensor.cat([input, input.narrow(rowDim, start: rowsUsed - 1, length: 1).expand(inputPad)], dim: rowDim)
            target = try Tensor.cat([target, target.narrow(0, start: rowsUsed - 1, length: 1).expand([pad, patch])], dim: 0)
        }
        if augment {
            if flips {
                if try Self.draw(2, g) == 1 { input = try input.flip([rowDim]); target = try target.flip([0]) }
                if try Self.draw(2, g) == 1 { input = try input.flip([rowDim + 1]); target = try target.flip([1]) }
            }
            (input, target) = try scaled(input, target, generator: g)
        }
        return (try (channels == 1 ? input.unsqueeze(0) : input).contiguous(), try target.unsqueeze(0).contiguous(), position, source)
    }

    /// One pair for a thick-slice model: input (1, rows, patch) with `rows` acquired slices and
    /// target (1, factor rows, patch), output row factor k + r at slice k's centre + r - floor(f/2)
    /// voxels (the row layout of `InputContract.thickSlices`). Slice centres fall on voxels.
    func thickSample(factor f: Int, generator g: Generator, augment: Bool) throws -> (Tensor, Tensor) {
        var (source, across, rowAxis, colAxis, pos) = try plane(generator: g)
        let turn = augment && rotations ? try Self.draw(8, g) : 0
        pos = Self.rotated(pos, across: across, shape: source.volume.shape, turn: turn)
        let swap = rowAxis > colAxis
        let shape = source.volume.shape
        let spacing = Double(f) * source.voxelSize
        let ratio = try Self.within(degradations.thicknessRatio, g)
        let profile = degradations.profiles[try Self.draw(degradations.profiles.count, g)]
        let acquisition = SliceAcquisition(direction: .voxelAxis(rowAxis), thickness: ratio * spacing, spacing: spacing, profile: profile)
        let n = shape[rowAxis]
        let half = f / 2
        let first = half + (try Self.draw(f, g))
        let count = (n - 1 - first - (f - 1 - half)) / f + 1
        guard count >= 2 else { throw ModelError.invalid("\(source.name): lines of \(n) voxels hold fewer than two slices \(f) voxels apart") }
        let centres = (0..<count).map { Double(first + $0 * f) }
        let rows = Swift.min(Swift.max(2, patch / f), count)
        let k0 = Swift.min(Swift.max((pos[rowAxis] - first) / f - rows / 2, 0), count - rows)
        let op = try Tensor(acquisition.operatorMatrix(centres: Array(centres[k0..<(k0 + rows)]), n: n, voxelSize: source.voxelSize),
                            shape: [rows, n])
        let c0 = Swift.min(Swift.max(pos[colAxis] - patch / 2, 0), shape[colAxis] - patch)
        var strip = try Self.rotated(source.volume.select(across, pos[across]), turn: turn)
        if swap { strip = try strip.transpose(0, 1) }
        strip = try remapped(strip.narrow(1, start: c0, length: patch), source: source, generator: g, augment: augment)
        var input = try op.to(.float32).matmul(strip.to(.float32))
        if inputNoise > 0 {
            let deviation = try ((op * op).sum(dim: 1).neg() + 1).clamp(min: .double(0)).sqrt() * inputNoise
            input = try input + Tensor.randn([rows, patch], generator: g) * deviation.to(.float32).unsqueeze(1)
        }
        var target = try strip.narrow(0, start: first + k0 * f - half, length: rows * f)
        if augment {
            if flips {
                if try Self.draw(2, g) == 1 { input = try input.flip([1]); target = try target.flip([1]) }
                // Along the rows only for odd factors: for even ones the output rows are not
                // symmetric about their slice.
                if f % 2 == 1, try Self.draw(2, g) == 1 { input = try input.flip([0]); target = try target.flip([0]) }
            }
            (input, target) = try scaled(input, target, generator: g)
        }
        return (try input.unsqueeze(0).contiguous(), try target.unsqueeze(0).contiguous())
    }

    /// A plane (H, W) turned by `turn` x 45 degrees about its centre (pixels square), keeping its
    /// shape: exact for 180 degrees, bilinear otherwise, zero where it has no data.
    public static func rotated(_ plane: Tensor, turn: Int) throws -> Tensor {
        let k = ((turn % 8) + 8) % 8
        guard k != 0 else { return plane }
        if k == 4 { return try plane.flip([0, 1]) }
        let (h, w) = (Double(plane.shape[0]), Double(plane.shape[1]))
        let angle = Double(k) * Double.pi / 4
        let (c, s) = (cos(angle), sin(angle))
        // Output pixel (x, y) samples the input at R (x, y) about the centre; in grid_sample's
        // normalized coordinates (align corners), x_in = (2 / (W - 1)) R ((W - 1) / 2) x_out.
        let (ax, ay) = ((w - 1) / 2, (h - 1) / 2)
        let theta = try Tensor([Float(c), Float(-s * ay / ax), 0, Float(s * ax / ay), Float(c), 0], shape: [1, 2, 3])
        let grid = try Tensor.affineGrid(theta, size: [1, 1, plane.shape[0], plane.shape[1]], alignCorners: true)
        return try plane.to(.float32).unsqueeze(0).unsqueeze(0).gridSample(grid, alignCorners: true).select(0, 0).select(0, 0)
    }

    /// Where voxel `p` lands when its plane across `across` is turned by `turn` x 45 degrees (as
    /// `rotated(_:turn:)` turns it), clamped into the plane.
    static func rotated(_ p: [Int], across: Int, shape: [Int], turn: Int) -> [Int] {
        let k = ((turn % 8) + 8) % 8
        guard k != 0 else { return p }
        let axes = (0..<3).filter { $0 != across }
        let (h, w) = (Double(shape[axes[0]]), Double(shape[axes[1]]))
        let (y, x) = (Double(p[axes[0]]) - (h - 1) / 2, Double(p[axes[1]]) - (w - 1) / 2)
        // The output pixel whose sample point is p: the inverse rotation.
        let angle = -Double(k) * Double.pi / 4
        let (xo, yo) = (cos(angle) * x - sin(angle) * y, sin(angle) * x + cos(angle) * y)
        var q = p
        q[axes[0]] = Swift.min(Swift.max(Int((yo + (h - 1) / 2).rounded()), 0), shape[axes[0]] - 1)
        q[axes[1]] = Swift.min(Swift.max(Int((xo + (w - 1) / 2).rounded()), 0), shape[axes[1]] - 1)
        return q
    }

    /// A source, the axis the plane is cut across, which of the plane's axes is degraded (either:
    /// a 90 degree rotation of the anatomy), and the position the patch centres on.
    func plane(generator g: Generator) throws -> (source: Source, across: Int, rowAxis: Int, colAxis: Int, position: [Int]) {
        let source = sources[try Self.draw(sources.count, g)]
        let across = source.acrossAxes[try Self.draw(source.acrossAxes.count, g)]
        let planeAxes = (0..<3).filter { $0 != across }
        let swap = try Self.draw(2, g) == 1
        let (rowAxis, colAxis) = swap ? (planeAxes[1], planeAxes[0]) : (planeAxes[0], planeAxes[1])
        return (source, across, rowAxis, colAxis, try position(in: source, generator: g))
    }

    /// A region voxel (balanced sampling), a foreground voxel (weighted when the source has
    /// weights), or any voxel.
    func position(in source: Source, generator g: Generator) throws -> [Int] {
        try CentreSampling(foregroundFraction: foregroundFraction, regionFraction: regionFraction)
            .draw(shape: source.volume.shape, foreground: source.foreground, cumulativeWeights: source.cumulativeWeights,
                  region: source.region, generator: g).position
    }

    /// Seed 004's contrast change on a strip, when enabled.
    func remapped(_ strip: Tensor, source: Source, generator g: Generator, augment: Bool) throws -> Tensor {
        guard augment && contrastAugmentation, let gmm = source.mixture else { return strip }
        return try Self.randomContrast(strip, mixture: gmm, generator: g)
    }

    /// Seed 004's contrast change: each tissue class of `mixture` gets a random mean and spread
    /// (T2-, FLAIR- and PD-like orders of the classes all occur).
    public static func randomContrast(_ x: Tensor, mixture gmm: GaussianMixture, generator g: Generator) throws -> Tensor {
        let k = gmm.means.count
        let top = gmm.means.last! + 2 * gmm.deviations.last!
        let means = try (0..<k).map { _ in 0.05 * top + 0.95 * top * (try Self.uniform(g)) }
        let sds = try gmm.deviations.map { d in try d * (0.5 + Self.uniform(g)) }
        return try gmm.remap(x, means: means, deviations: sds, background: 0.02 * top)
    }

    /// The same random intensity scale on both.
    func scaled(_ input: Tensor, _ target: Tensor, generator g: Generator) throws -> (Tensor, Tensor) {
        guard intensityScale > 0 else { return (input, target) }
        let s = 1 + intensityScale * (2 * (try Self.uniform(g)) - 1)
        return (try input * s, try target * s)
    }

    public func batch(size: Int, generator: Generator, augment: Bool = true) throws -> (Tensor, Tensor) {
        let b = try conditionedBatch(size: size, generator: generator, augment: augment)
        return (b.input, b.target)
    }

    public func conditionedBatch(size: Int, generator: Generator, augment: Bool = true) throws -> ConditionedBatch {
        var inputs: [Tensor] = [], targets: [Tensor] = [], positions: [Double] = [], features: [[Double]] = []
        for _ in 0..<size {
            let s = try conditionedSample(generator: generator, augment: augment)
            inputs.append(s.input)
            targets.append(s.target)
            positions.append(s.position)
            if let f = s.source.features { features.append(f) }
        }
        let width = features.first?.count ?? 0
        let f = features.count == size && width > 0 ? try Tensor(features.flatMap { $0 }, shape: [size, width]).to(.float32) : nil
        return ConditionedBatch(input: try Tensor.stack(inputs), target: try Tensor.stack(targets),
                                conditioning: Conditioning(features: f, position: try Tensor(positions, shape: [size]).to(.float32)))
    }

    public func conditionedValidationBatches(count: Int, generator: Generator) throws -> [ConditionedBatch] {
        var out: [ConditionedBatch] = []
        var left = count
        while left > 0 {
            let n = Swift.min(16, left)
            out.append(try conditionedBatch(size: n, generator: generator, augment: false))
            left -= n
        }
        return out
    }

    public func validationBatches(count: Int, generator: Generator) throws -> [(Tensor, Tensor)] {
        try conditionedValidationBatches(count: count, generator: generator).map { ($0.input, $0.target) }
    }
}

extension DegradedSliceSampler.Source {
    /// Weights every foreground voxel by `floor` + its in-plane gradient magnitude across
    /// `planeAxes` (central differences; 0 on the volume's faces), normalized to mean 1 of the
    /// gradient: patches land on edges more often than on flat tissue. Computed at the foreground
    /// positions only, so a large scan costs no volume-sized temporaries.
    public mutating func weightByGradient(planeAxes: [Int], floor: Double = 0.5) throws {
        guard let fg = foreground, fg.shape[0] > 0 else { return }
        let shape = volume.shape
        let flat = try volume.contiguous().reshape([-1])
        let strides = [shape[1] * shape[2], shape[2], 1]
        let linear = try (fg.select(1, 0) * strides[0] + fg.select(1, 1) * strides[1] + fg.select(1, 2)).to(.int64)
        var squared = try Tensor.zeros([fg.shape[0]], dtype: .float32)
        for a in planeAxes where shape[a] > 2 {
            let coordinate = try fg.select(1, a)
            let interior = try coordinate.gt(0).logicalAnd(coordinate.lt(shape[a] - 1))
            let up = try (linear + strides[a]).clamp(max: .int(Int64(flat.shape[0] - 1)))
            let down = try (linear - strides[a]).clamp(min: .int(0))
            let d = try (flat.indexSelect(0, up) - flat.indexSelect(0, down)) * 0.5
            squared = try squared + d * d * interior.to(.float32)
        }
        let g = try squared.sqrt().to(.float64)
        let mean = Swift.max(try g.mean().item(), 1e-12)
        let w = try (g / mean + floor).toArray(Double.self)
        var running = 0.0
        cumulativeWeights = w.map { running += $0; return running }
    }

    /// The positions (M, 3) of the voxels above `threshold`, at most about `limit` of them: when
    /// there are more (a 512 x 512 x 200 scan has tens of millions), every k-th in storage order,
    /// with k the smallest that keeps at most `limit`. Found slab by slab, so no index list the
    /// size of the volume is made; below the limit, exactly `volume.gt(threshold).nonzero()`.
    public static func foregroundPositions(of volume: Tensor, above threshold: Double, limit: Int = 2_000_000) throws -> Tensor {
        let mask = try volume.gt(threshold)
        let count = try mask.sum().itemInt()
        let step = Swift.max(1, (count + limit - 1) / Swift.max(limit, 1))
        if step == 1 { return try mask.nonzero() }
        var parts: [Tensor] = []
        var seen = 0
        let depth = volume.shape[0]
        let slab = Swift.max(1, depth / 16)
        for start in Swift.stride(from: 0, to: depth, by: slab) {
            let positions = try volume.narrow(0, start: start, length: Swift.min(slab, depth - start)).gt(threshold).nonzero()
            let m = positions.shape[0]
            let first = (step - seen % step) % step  // the slab's first kept position
            if first < m {
                let keep = try Tensor.arange(Scalar(first), Scalar(m), step: Scalar(step))
                parts.append(try positions.indexSelect(0, keep) + Tensor([Int64(start), 0, 0], shape: [1, 3]))
            }
            seen += m
        }
        return try Tensor.cat(parts, dim: 0)
    }

    /// A subject's contrasts as one source (seed 000's fusion): the first is the volume
    /// reconstructed, the others further channel groups; each normalized on its own
    /// percentiles. They must share one grid (co-registered and resampled alike).
    public static func subject(_ volumes: [Volume], names: [String], percentiles: [Double], mixture: Bool) throws -> Self {
        guard let first = volumes.first, volumes.count == names.count else {
            throw ModelError.invalid("a subject needs at least one volume, and one name per volume")
        }
        var source = try volume(first, name: names[0], percentiles: percentiles, mixture: mixture)
        source.contrasts = try zip(volumes.dropFirst(), names.dropFirst()).map { v, name in
            guard v.shape == first.shape, v.affine.maxDifference(first.affine) < 1e-3 else {
                throw ModelError.invalid("\(name): not on the grid of \(names[0]) (shape \(v.shape) against \(first.shape), or another affine); a subject's contrasts must be co-registered and resampled alike")
            }
            return try volume(v, name: name, percentiles: percentiles, mixture: false).volume
        }
        return source
    }

    /// A thin-voxel training volume: normalized min-max on `percentiles` (not clipped, as
    /// reconstruction feeds models on the output grid), planes across every axis, foreground above
    /// 0.1, and its three-class intensity mixture (fitted on the foreground) when `mixture`.
    public static func volume(_ v: Volume, name: String, percentiles: [Double], mixture: Bool) throws -> Self {
        guard v.shape.count == 3 else { throw ModelError.invalid("\(name): training needs a 3-D volume, got shape \(v.shape)") }
        let s = v.spacing
        guard s.max()! - s.min()! <= 1e-3 * s.max()! else {
            throw ModelError.invalid("\(name): training planes need isotropic voxels, got \(s.map { String(format: "%.3g", $0) }.joined(separator: " x ")) mm; resample it first (upres resample --spacing \(String(format: "%.3g", s.min()!)))")
        }
        let bounds = try Percentiles.compute(v.data, percentiles)
        guard bounds[1] > bounds[0] else { throw ModelError.invalid("\(name): the image has no contrast between its \(percentiles) percentiles") }
        let x = try ((v.data.to(.float64) - bounds[0]) / (bounds[1] - bounds[0])).to(.float32).contiguous()
        let fg = try x.gt(0.1)
        var gmm: GaussianMixture? = nil
        if mixture {
            let values = try x.maskedSelect(fg)
            let stride = Swift.max(1, values.shape[0] / 200_000)
            let sample = try values.indexSelect(0, Tensor.arange(Scalar(0), Scalar(values.shape[0]), step: Scalar(stride)))
            gmm = try GaussianMixture.fit(sample, components: 3)
        }
        return .init(volume: x, acrossAxes: [0, 1, 2], voxelSize: s[0], foreground: try fg.nonzero(), mixture: gmm, name: name)
    }
}

extension DegradedSliceSampler {
    /// The training and validation samplers of a run on planes (`data.degradation`): each of
    /// `data.trainVolumes` (or, for models fusing contrasts, each subject of `data.subjects` in the
    /// task's contrast order) as a source, with its subject features (`data.context`) and its
    /// region for balanced sampling (`data.balance`'s mask on the volume's grid); validation on
    /// `data.validationVolumes` / `data.validationSubjects`, else the training sources with their
    /// own draws. `read` loads a volume by its path as the config names it.
    public static func samplers(_ cfg: TrainConfig, read: (String) throws -> Volume) throws -> (DegradedSliceSampler, DegradedSliceSampler) {
        guard let degradation = cfg.data.degradation else {
            throw ModelError.invalid("data.degradation (spacing, thicknessRatio, profiles) is needed to train on planes")
        }
        // Several contrasts per subject (seed 000's fusion): data.subjects, in the task's order.
        let contrasts = cfg.task.inputContrasts ?? []
        let fused = contrasts.count > 1
        if fused {
            guard let subjects = cfg.data.subjects, !subjects.isEmpty else {
                throw ModelError.invalid("task.inputContrasts names \(contrasts.count) contrasts: give data.subjects, one volume per contrast and subject")
            }
        } else {
            guard !cfg.data.trainVolumes.isEmpty else { throw ModelError.invalid("the configuration gives no data.trainVolumes") }
        }
        let region = try cfg.data.balance.map { try read($0.mask) }
        func sources(_ subjects: [[String]]) throws -> [Source] {
            try subjects.map { paths in
                let volumes = try paths.map { try read($0) }
                var source = try Source.subject(volumes, names: paths, percentiles: cfg.task.normalizationPercentiles,
                                                mixture: cfg.data.contrastAugmentation)
                source.features = try cfg.data.contextFeatures(of: paths[0], count: cfg.model.configuration.contextFeatures)
                source.region = try region.map { try CentreSampling.regionPositions(mask: $0, on: volumes[0].grid, name: "\(cfg.data.balance!.mask) on \(paths[0])") }
                return source
            }
        }
        func sampler(_ s: [Source]) throws -> DegradedSliceSampler {
            let sampler = try DegradedSliceSampler(sources: s, degradations: degradation, patch: cfg.data.patchWidth,
                                                   contract: cfg.model.contract, foregroundFraction: cfg.data.foregroundFraction,
                                                   flips: cfg.data.flips, intensityScale: cfg.data.intensityScale,
                                                   contrastAugmentation: cfg.data.contrastAugmentation)
            sampler.regionFraction = cfg.data.balance?.fraction ?? 0
            sampler.rotations = cfg.data.rotations
            return sampler
        }
        func lists(_ subjects: [[String: String]]?, _ volumes: [String]) throws -> [[String]] {
            guard fused else { return volumes.map { [$0] } }
            return try cfg.data.subjectVolumes(subjects ?? [], contrasts: contrasts)
        }
        let train = try sources(lists(cfg.data.subjects, cfg.data.trainVolumes))
        let validationLists = try lists(cfg.data.validationSubjects, cfg.data.validationVolumes)
        let validation = validationLists.isEmpty ? train : try sources(validationLists)
        return (try sampler(train), try sampler(validation))
    }
}
