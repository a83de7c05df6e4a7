import Foundation
import Imaging
import Torch

/// Where a training patch is centred: in a region (seed 002's balanced sampling: the cerebellum)
/// with probability `regionFraction`, else on the foreground with probability
/// `foregroundFraction` (weighted when weights are given), else anywhere. Shared by the plane
/// and the 3-D samplers.
public struct CentreSampling: Sendable {
    public var foregroundFraction: Double
    public var regionFraction: Double

    public init(foregroundFraction: Double, regionFraction: Double = 0) {
        self.foregroundFraction = foregroundFraction
        self.regionFraction = regionFraction
    }

    /// A voxel position (3 indices) in a volume of `shape`, and whether it came from the region.
    /// Without a region fraction no extra draw is made, so earlier runs' streams are unchanged.
    public func draw(shape: [Int], foreground: Tensor?, cumulativeWeights: [Double]?, region: Tensor?,
                     generator g: Generator) throws -> (position: [Int], fromRegion: Bool) {
        func uniform() throws -> Double { try Tensor.rand([1], dtype: .float64, generator: g).item() }
        func draw(_ n: Int) throws -> Int { try Tensor.randint(0, Swift.max(n, 1), [1], generator: g).itemInt() }
        if regionFraction > 0, let r = region, r.shape[0] > 0, try uniform() < regionFraction {
            return (try r.select(0, draw(r.shape[0])).toArray(Int64.self).map(Int.init), true)
        }
        if let fg = foreground, fg.shape[0] > 0, try uniform() < foregroundFraction {
            var index: Int
            if let c = cumulativeWeights, let total = c.last, total > 0 {
                // Inverse transform sampling on the cumulative weights (binary search).
                let u = try uniform() * total
                var (lo, hi) = (0, c.count - 1)
                while lo < hi { let mid = (lo + hi) / 2; if c[mid] <= u { lo = mid + 1 } else { hi = mid } }
                index = lo
            } else {
                index = try draw(fg.shape[0])
            }
            return (try fg.select(0, index).toArray(Int64.self).map(Int.init), false)
        }
        return (try (0..<3).map { try draw(shape[$0]) }, false)
    }

    /// The voxels (M, 3) of `volume`'s grid inside `mask` (non-zero), the mask carried onto the
    /// grid through world coordinates (nearest neighbour).
    public static func regionPositions(mask: Volume, on grid: Grid, name: String) throws -> Tensor {
        guard mask.shape.count == 3 else { throw ModelError.invalid("\(name): the region mask must be 3-D, got shape \(mask.shape)") }
        var m = mask
        m.data = try mask.data.to(.float32)
        let onGrid = m.grid == grid ? m : try m.resampled(onto: grid, interpolation: .nearest, antiAlias: false)
        let positions = try onGrid.data.ne(0).nonzero()
        guard positions.shape[0] > 0 else {
            throw ModelError.invalid("\(name): the region mask has no voxel inside this volume (is it in the same space?)")
        }
        return positions
    }
}

/// 3-D training pairs for models restoring on one grid (seed 002): cubic patches of a degraded
/// volume (the model's input) and of the original (the target), both normalized with the
/// degraded volume's min-max on percentiles (unclipped), as reconstruction normalizes its input.
public final class VolumePatchSampler: BatchSource {
    public struct Source {
        /// Normalized degraded and original volumes (float32, one grid).
        public var input: Tensor
        public var target: Tensor
        /// Foreground voxels (M, 3) of the input, and the balanced region's (nil: none).
        public var foreground: Tensor
        public var region: Tensor?
        public var name: String

        public init(input: Tensor, target: Tensor, foreground: Tensor, region: Tensor? = nil, name: String) {
            self.input = input
            self.target = target
            self.foreground = foreground
            self.region = region
            self.name = name
        }

        /// A source from an HR volume: degraded with `simulation` (which must keep the grid) and
        /// normalized on `percentiles` of the degraded volume.
        public static func simulated(hr: Volume, simulation: SimulationSettings, percentiles: [Double], region: Volume? = nil,
                                     name: String) throws -> Source {
            guard hr.shape.count == 3 else { throw ModelError.invalid("\(name): training needs 3-D volumes, got shape \(hr.shape)") }
            let lr = try hr.simulated(simulation).lowResolution
            guard lr.shape == hr.shape else {
                throw ModelError.invalid("\(name): the simulation changes the grid (\(hr.shape) -> \(lr.shape)); 3-D restoration pairs need one grid")
            }
            // As reconstruction normalizes a 3-D model's input: min-max on the percentiles, unclipped.
            let (input, params) = try Reconstruction.normalize(lr, percentiles: percentiles)
            let target = try params.apply(hr.data.to(.float32)).to(.float32).contiguous()
            let x = try input.to(.float32).contiguous()
            let positions = try region.map { try CentreSampling.regionPositions(mask: $0, on: hr.grid, name: name) }
            return Source(input: x, target: target, foreground: try x.gt(0.1).nonzero(), region: positions, name: name)
        }
    }

    public let sources: [Source]
    public let patch: Int
    public let centres: CentreSampling
    public let flips: Bool
    public let intensityScale: Double
    /// Where the last batch's patches were centred (source index, position, from the region).
    public private(set) var lastCentres: [(source: Int, position: [Int], fromRegion: Bool)] = []

    public init(sources: [Source], patch: Int, centres: CentreSampling, flips: Bool = true, intensityScale: Double = 0.1) throws {
        guard !sources.isEmpty else { throw ModelError.invalid("no training data: no volumes to cut patches from") }
        for s in sources {
            guard s.input.shape == s.target.shape, s.input.rank == 3 else {
                throw ModelError.invalid("\(s.name): input \(s.input.shape) and target \(s.target.shape) must be 3-D on one grid")
            }
            guard s.input.shape.allSatisfy({ $0 >= patch }) else {
                throw ModelError.invalid("\(s.name): the volume \(s.input.shape) is smaller than a \(patch)-voxel patch")
            }
        }
        guard patch >= 8 else { throw ModelError.invalid("3-D patches need a side of at least 8 voxels, not \(patch)") }
        self.sources = sources
        self.patch = patch
        self.centres = centres
        self.flips = flips
        self.intensityScale = intensityScale
    }

    /// A batch: input (N, 1, P, P, P) and target alike. Augmentation: a flip along each axis
    /// (with probability 1/2 each) and one intensity scale on both.
    public func batch(size: Int, generator g: Generator, augment: Bool) throws -> (Tensor, Tensor) {
        var xs: [Tensor] = [], ys: [Tensor] = []
        lastCentres = []
        for _ in 0..<size {
            let index = try Tensor.randint(0, sources.count, [1], generator: g).itemInt()
            let s = sources[index]
            let (p, fromRegion) = try centres.draw(shape: s.input.shape, foreground: s.foreground, cumulativeWeights: nil, region: s.region,
                                                   generator: g)
            lastCentres.append((index, p, fromRegion))
            var x = s.input, y = s.target
            for a in 0..<3 {
                let start = Swift.min(Swift.max(p[a] - patch / 2, 0), s.input.shape[a] - patch)
                x = try x.narrow(a, start: start, length: patch)
                y = try y.narrow(a, start: start, length: patch)
            }
            if augment { (x, y) = try Self.augmented(x, y, flips: flips, intensityScale: intensityScale, generator: g) }
            xs.append(try x.unsqueeze(0).contiguous())
            ys.append(try y.unsqueeze(0).contiguous())
        }
        return (try Tensor.stack(xs), try Tensor.stack(ys))
    }

    /// The patch samplers' augmentation of one pair: a flip along each of its axes (probability 1/2
    /// each, one draw per axis in order) when `flips`, then one intensity scale U(1 - s, 1 + s) on both.
    static func augmented(_ input: Tensor, _ target: Tensor, flips: Bool, intensityScale: Double, generator g: Generator) throws -> (Tensor, Tensor) {
        func uniform() throws -> Double { try Tensor.rand([1], dtype: .float64, generator: g).item() }
        var (x, y) = (input, target)
        if flips {
            let axes = try (0..<x.rank).filter { _ in try uniform() < 0.5 }
            if !axes.isEmpty { x = try x.flip(axes); y = try y.flip(axes) }
        }
        if intensityScale > 0 {
            let k = 1 + intensityScale * (2 * (try uniform()) - 1)
            x = try x * k
            y = try y * k
        }
        return (x, y)
    }

    /// One fixed batch of `count` patches (no augmentation).
    public func validationBatches(count: Int, generator: Generator) throws -> [(Tensor, Tensor)] {
        [try batch(size: count, generator: generator, augment: false)]
    }
}

extension VolumePatchSampler {
    /// The training and validation samplers of a 3-D model's run: each of `data.trainVolumes` (and
    /// `data.validationVolumes`, else the training ones with their own draws) degraded with
    /// `data.simulation`, patches of `data.patchWidth`, balanced on `data.balance`'s region; with
    /// `data.contrastAugmentation`, `data.variants - 1` random-contrast copies of each too.
    /// `read` loads a volume by its path as the config names it.
    public static func samplers(_ config: TrainConfig, read: (String) throws -> Volume) throws -> (VolumePatchSampler, VolumePatchSampler) {
        let data = config.data
        guard let simulation = data.simulation else { throw ModelError.invalid("data.simulation is needed to train a 3-D model") }
        guard !data.trainVolumes.isEmpty else { throw ModelError.invalid("the configuration gives no data.trainVolumes") }
        let region = try data.balance.map { try read($0.mask) }
        let centres = CentreSampling(foregroundFraction: data.foregroundFraction, regionFraction: data.balance?.fraction ?? 0)
        // With contrast augmentation, each volume also gives `variants - 1` copies whose tissue
        // classes took random intensities (seed 004's idea), each degraded once.
        let g = try Generator(seed: config.seed &+ 30)
        func sources(_ p: String) throws -> [Source] {
            let v = try read(p)
            let percentiles = config.task.normalizationPercentiles
            var out = [try Source.simulated(hr: v, simulation: simulation, percentiles: percentiles, region: region, name: p)]
            guard data.contrastAugmentation else { return out }
            let base = try DegradedSliceSampler.Source.volume(v, name: p, percentiles: percentiles, mixture: true)
            for k in 1..<Swift.max(data.variants, 1) {
                var changed = v
                changed.data = try DegradedSliceSampler.randomContrast(base.volume, mixture: base.mixture!, generator: g)
                out.append(try Source.simulated(hr: changed, simulation: simulation, percentiles: percentiles, region: region,
                                                name: "\(p) (contrast \(k))"))
            }
            return out
        }
        func make(_ paths: [String]) throws -> VolumePatchSampler {
            let sources = try paths.flatMap { try sources($0) }
            return try VolumePatchSampler(sources: sources, patch: data.patchWidth, centres: centres, flips: data.flips,
                                          intensityScale: data.intensityScale)
        }
        let train = try make(data.trainVolumes)
        return (train, data.validationVolumes.isEmpty ? train : try make(data.validationVolumes))
    }
}
