import Imaging
import Torch

/// Data consistency for thick-slice reconstructions: iterative back-projection (Irani and Peleg,
/// 1991) along the slice axis.
///
/// The acquisition that made the scan is known (the slice thickness and profile the per-scan model
/// was trained with, or the one a model states), so the reconstruction can be acquired again and
/// compared with the scan itself: slice k of the output, averaged over the slice profile at slice
/// k's position, should equal the scan's slice k. What a network leaves (a bias, a low-frequency
/// error along the slice axis) shows as that residual. Each iteration spreads the residual back
/// onto the output rows with the cubic B-spline through the slice centres, the interpolation the
/// baseline uses, and adds it; three iterations bring the residual to a few percent of where it
/// started.
///
/// A noisy scan's slices carry their noise: matching them exactly would put it back into the
/// output. So each step is damped by the share of the residual's power above the scan's noise
/// (Morozov's discrepancy principle: the output need agree with the scan only to within its
/// noise), 1 - sigma^2 / RMS^2, and no step is taken once the residual is at the noise level.
/// With noise, the residual is measured and spread back inside the head only (the scan's voxels
/// above a tenth of its normalization range): in the background air a magnitude scan's noise is
/// Rician (its mean is not 0, its power twice sigma^2), so there the residual would read as an
/// error above the noise and put the noise back.
///
/// Only the slice axis is touched: the in-plane detail the network drew stays, shifted by a
/// correction that is smooth across the slices.
public struct ConsistencyRecord: Codable, Sendable, Equatable {
    public var iterations: Int
    /// The acquisition the output was made consistent with (mm; the profile's FWHM).
    public var sliceThickness: Double
    public var profile: SliceProfile
    /// The RMS difference between the scan's slices and the output's slices acquired again, in
    /// the scan's units, before the first iteration and after the last (inside the head when
    /// `headAbove` is set).
    public var residualBefore: Double
    public var residualAfter: Double
    /// The scan's noise standard deviation the residual was allowed (its units), and the size of
    /// each step taken (1: the whole residual; fewer than `iterations` once it reached the noise).
    public var noiseSigma: Double
    public var steps: [Double]
    /// With noise: the level (the scan's units) above which a voxel of the scan counts as head,
    /// where the residual was measured and corrected; nil: everywhere.
    public var headAbove: Double?
}

extension Reconstruction {
    /// Back-projection iterations when the acquisition is known and none are asked for.
    public static let defaultConsistencyIterations = 3

    /// Refuses a negative iteration count (`run` asks before any training).
    static func requireConsistencyIterations(_ options: Options) throws {
        if let c = options.consistency, c < 0 { throw ModelError.invalid("data consistency iterations \(c) must be >= 0") }
    }

    /// What data consistency acquires the output with, and how often; nil: none. The acquisition
    /// is the per-scan training's (`record`), else `options.sliceThickness`, else the one the
    /// model's task states. A thickness that was only assumed (an implausible estimate, so
    /// contiguous slices) is not enforced unless asked: on the axial 5/6 mm test scan, enforcing
    /// the assumed 6 mm cost 0.06 dB in the brain (one ad-hoc run, no bench mode), where the true
    /// 5 mm gains 0.14 dB (bench/quality, modes consistency-off and consistency-given). Asked for
    /// (`options.consistency` > 0) with no thickness known: an error, before any model runs.
    static func consistencyPlan(task: ModelTask, record: AdaptationRecord?, options: Options) throws
        -> (thickness: Double, profile: SliceProfile, iterations: Int)? {
        var acquired: (thickness: Double, profile: SliceProfile)? = nil
        var assumed = false
        if let r = record {
            acquired = (r.sliceThickness, r.profile)
            assumed = r.thicknessAssumed == true
        } else if let thickness = options.sliceThickness {
            acquired = (thickness, options.profile ?? .rectangular)
        } else if let thickness = task.sliceThickness {
            acquired = (thickness, task.adaptation?.profile ?? .rectangular)
            assumed = task.adaptation?.thicknessAssumed == true
        }
        try requireConsistencyIterations(options)
        let iterations = options.consistency ?? (acquired == nil || assumed ? 0 : defaultConsistencyIterations)
        guard iterations > 0 else { return nil }
        guard let a = acquired else {
            throw ModelError.invalid("data consistency needs the scan's slice thickness, and the model states none: give it (upsample's --slice-thickness)")
        }
        guard a.thickness > 0, a.thickness.isFinite else { throw ModelError.invalid("slice thickness \(a.thickness) mm must be > 0") }
        return (a.thickness, a.profile, iterations)
    }

    /// Makes `out` ((i, j, k) on the output grid, in the scan's units) consistent with the scan
    /// `observed` (the input on the output's in-plane grid, slices along `t`), in place.
    /// `positions`: each output row's position in input slice units; the acquisition's thickness
    /// is in mm, `outputSpacing` the output's voxel size along `t`; `noise` the scan's noise
    /// standard deviation in its units (0: none); with noise, `headAbove` (the scan's units) limits
    /// the residual to the scan's voxels above it.
    static func enforceConsistency(_ out: Tensor, observed: Tensor, positions: [Double], axis t: Int,
                                   thickness: Double, profile: SliceProfile, outputSpacing: Double,
                                   iterations: Int, noise: Double = 0, headAbove: Double? = nil) throws -> ConsistencyRecord {
        let slices = observed.shape[t]
        let rows = out.shape[t]
        guard rows >= 2, slices >= 1, iterations >= 1 else {
            throw ModelError.invalid("data consistency needs at least 2 output rows and 1 iteration (got \(rows) rows, \(iterations) iterations)")
        }
        // Slice k's centre in output row units.
        let rowStep = positions[1] - positions[0]
        let centres = (0..<slices).map { (Double($0) - positions[0]) / rowStep }
        let acquisition = SliceAcquisition(direction: .voxelAxis(t), thickness: thickness, spacing: outputSpacing / rowStep, profile: profile)
        let forward = try Tensor(acquisition.operatorMatrix(centres: centres, n: rows, voxelSize: outputSpacing),
                                 shape: [slices, rows]).to(.float32).to(out.device)
        let back = try Interpolation.cubic.axisMatrix(positions: positions, n: slices).to(.float32)
        let scan = try observed.to(.float32).to(out.device)
        // Where the residual counts: the head, when the scan is noisy and its level is given
        // (everywhere when no voxel is above it).
        var head: Tensor? = nil
        var counted = Double(scan.count)
        if noise > 0, let level = headAbove {
            let mask = try scan.gt(.double(level)).to(.float32)
            let inside: Double = try mask.sum().item()
            if inside > 0 { (head, counted) = (mask, inside) }
        }
        var before = 0.0
        var after = 0.0
        var steps: [Double] = []
        for iteration in 0...iterations {
            // The scan's slices less the output's, acquired again: one input-sized tensor.
            let residual = try out.applyingAxisOperator(forward, axis: t)
            try residual.mul_(.double(-1)).add_(scan)
            if let head { _ = try residual.mul_(head) }
            // Mean square through the norm (no second input-sized tensor).
            let norm: Double = try residual.norm().item()
            let power = norm * norm / counted
            if iteration == 0 { before = power.squareRoot() }
            after = power.squareRoot()
            if iteration == iterations { break }
            // The share of the residual's power above the noise's.
            let step = power > 0 ? Swift.max(0, 1 - noise * noise / power) : 0
            if step <= 0 { break }
            steps.append(step)
            let onCPU = try residual.to(.cpu)
            try forEachSlab(of: out) { slab, range in
                let correction = try lifted(onCPU, back, axis: t, slab: range) { $0 }
                _ = try slab.add_(correction.to(slab.device), alpha: .double(step))
            }
        }
        return ConsistencyRecord(iterations: iterations, sliceThickness: thickness, profile: profile,
                                 residualBefore: before, residualAfter: after, noiseSigma: noise, steps: steps,
                                 headAbove: head == nil ? nil : headAbove)
    }
}

/// What k-space data consistency did to a same-grid restoration.
public struct KSpaceConsistencyRecord: Codable, Sendable, Equatable {
    /// The truncation the output was made consistent with (the model's task).
    public var truncation: KSpaceTruncation
    /// The RMS difference between the input and the output truncated again (the input's units,
    /// over the whole volume), before and after. After: what is left outside the band the
    /// projection restores (a magnitude input's own spill beyond its band).
    public var residualBefore: Double
    public var residualAfter: Double
}

extension Reconstruction {
    /// Data consistency for restorations of zero-filled k-space truncation (seed 002's task): the
    /// frequencies the scanner acquired are known, they are the input's own, so the output's
    /// are replaced by them and only the band the truncation removed keeps what the network drew.
    ///
    /// With the truncation's k-space weights w (1 on the kept band, 0 beyond; a window's taper in
    /// between), the output's spectrum O becomes O + w+ (I - w O), where I is the input's
    /// spectrum and w+ = 1 / w where w >= 1/2 and 0 elsewhere: the output acquired again then
    /// equals the input wherever the acquisition kept at least half of a frequency (exactly, for
    /// the unwindowed truncation), and the frequencies a window all but removed are left to the
    /// network. This is the projection onto the outputs the input allows: when the input is
    /// exactly the truth's truncation, the error on the acquired band goes to 0 and the rest is
    /// unchanged, so the error can only fall (Parseval). A magnitude input holds a spill beyond
    /// its band (the magnitude of a complex image); it is left as it is.
    static func enforceKSpaceConsistency(_ out: Tensor, acquired: Tensor, truncation: KSpaceTruncation,
                                         axes: [Int]) throws -> (Tensor, KSpaceConsistencyRecord) {
        guard out.shape == acquired.shape, out.rank == 3 else {
            throw ModelError.invalid("k-space consistency needs the output (\(out.shape)) on the input's grid (\(acquired.shape))")
        }
        let weights = try truncation.weights(shape: out.shape, axes: axes).to(.float32)
        let kept = try weights.ge(.double(0.5)).to(.float32)
        let inverse = try kept / weights.clamp(min: .double(0.5))
        let spectrum = try out.to(.float32).fftn(dims: axes)
        // The input less the output acquired again, in k-space.
        let difference = try acquired.to(.float32).fftn(dims: axes) - spectrum * weights
        // Parseval with the unnormalized transform: sum |x|^2 = sum |X|^2 / (points per transform).
        let points = Double(axes.map { out.shape[$0] }.reduce(1, *))
        let voxels = Double(out.count)
        func rms(_ t: Tensor) throws -> Double {
            let n: Double = try t.abs().norm().item()
            return n / (points * voxels).squareRoot()
        }
        let before = try rms(difference)
        let outside = try 1.0 - kept
        let after = try rms(difference * outside)
        let restored = try (spectrum + difference * inverse).ifftn(dims: axes).real().contiguous()
        return (restored, KSpaceConsistencyRecord(truncation: truncation, residualBefore: before, residualAfter: after))
    }
}
