import Foundation
import Imaging
import Torch

/// Estimates a multi-slice scan's slice thickness from the scan alone (NIfTI has no field for
/// it), after ESPRESO's idea: the through-plane lines of a scan are the in-plane anatomy blurred
/// by the slice profile and sampled at the slice spacing. Each candidate thickness is simulated
/// on the scan's own in-plane lines (same spacing, same profile); the candidate whose mean power
/// spectrum has the shape of the through-plane lines' spectrum wins.
///
/// The method assumes the anatomy has the same spectrum along every axis, which a head does not
/// quite have (bench/quality's thickness check: within 0.4 mm for axial and coronal 3 to 5 mm
/// slices, 1 to 2 mm off for some 6 mm and sagittal scans). An implausible estimate (outside 0.7 to
/// 1.05 times the spacing) falls back to contiguous slices, and the caller says so (per-scan
/// training then spans the common gaps, `AdaptationSettings.assumedThicknessRatios`); give the
/// thickness from the protocol (the DICOM SliceThickness) whenever it is known.
///
/// The limit is in the data, not the fit: sampled every S mm, a rectangular profile of thickness
/// T <= S has a flat aliased power spectrum (the sum over m of sinc^2(T (w + m/S)) is S/T for every
/// w: the profile's autocorrelation vanishes at every non-zero multiple of S), so where the anatomy's
/// spectrum is flat the slices carry no second-order trace of T, and the estimate rests on the
/// anatomy's spectral slope alone.
public enum SliceThicknessEstimator {
    public struct Estimate: Codable, Sendable, Equatable {
        /// The thickness to use (mm): the spectral estimate when it is plausible (0.7 to 1.05
        /// times the spacing), else the spacing itself (contiguous slices).
        public var thickness: Double
        /// The thickness whose simulated spectrum fits best, and whether it was plausible.
        public var spectralThickness: Double
        public var plausible: Bool
        /// The spectral mismatch of the best candidate (mean squared log ratio).
        public var mismatch: Double
        /// The candidates tried (mm) and their mismatch.
        public var candidates: [Double]
        public var mismatches: [Double]
    }

    /// - Parameters:
    ///   - volume: the scan, in-plane voxels square (resampled to the target spacing), normalized.
    ///   - axis: the through-plane axis; `spacing` its slice spacing (mm); `inPlaneVoxel` the
    ///     in-plane voxel size (mm).
    ///   - profile: the slice profile assumed.
    public static func estimate(_ volume: Tensor, axis t: Int, spacing: Double, inPlaneVoxel h: Double,
                                profile: SliceProfile = .rectangular) throws -> Estimate {
        let x = try volume.to(.float32)
        let inPlane = (0..<3).filter { $0 != t }
        let k = x.shape[t]
        // Simulated lines hold as many slices as fit in the field of view at the thickest candidate.
        let widest = SliceAcquisition(direction: .voxelAxis(inPlane[0]), thickness: 1.3 * spacing, spacing: spacing, profile: profile)
        let fits = inPlane.map { widest.sliceCentres(n: x.shape[$0], voxelSize: h).count }
        let length = Swift.min(k, fits.min()!)
        guard length >= 8 else {
            throw ModelError.invalid("too few slices (\(length) along the shortest direction) to estimate the slice thickness; give --slice-thickness")
        }
        let threshold = 0.1
        let reference = try spectrum(lines(x, along: t, length: length, threshold: threshold))
        // Candidates from a tenth of the spacing up to 1.3x the spacing (overlapping slices).
        let lowest = Swift.max(h, 0.1 * spacing)
        let candidates = stride(from: lowest, through: 1.3 * spacing + 1e-9, by: 0.05 * spacing).map { $0 }
        var mismatches: [Double] = []
        for thickness in candidates {
            let acquisition = SliceAcquisition(direction: .voxelAxis(inPlane[0]), thickness: thickness, spacing: spacing, profile: profile)
            var simulated: [Tensor] = []
            for a in inPlane {
                let n = x.shape[a]
                let op = try Tensor(acquisition.operatorMatrix(n: n, voxelSize: h), shape: [acquisition.sliceCentres(n: n, voxelSize: h).count, n])
                let thick = try x.applyingAxisOperator(op, axis: a)
                simulated.append(try lines(thick, along: a, length: length, threshold: threshold))
            }
            let s = try spectrum(Tensor.cat(simulated, dim: 0))
            let d = try (s.log() - reference.log())
            mismatches.append(try (d * d).mean().item())
        }
        let best = mismatches.indices.min { mismatches[$0] < mismatches[$1] }!
        // A parabola through the best and its neighbours refines between candidates.
        var thickness = candidates[best]
        if best > 0 && best < candidates.count - 1 {
            let (a, b, c) = (mismatches[best - 1], mismatches[best], mismatches[best + 1])
            let denominator = a - 2 * b + c
            if denominator > 0 {
                thickness += 0.5 * (a - c) / denominator * (candidates[best + 1] - candidates[best])
            }
        }
        let plausible = (0.7 * spacing...1.05 * spacing).contains(thickness)
        return Estimate(thickness: plausible ? thickness : spacing, spectralThickness: thickness, plausible: plausible,
                        mismatch: mismatches[best], candidates: candidates, mismatches: mismatches)
    }

    /// The central `length` samples of every line along `axis` whose mean is above `threshold`
    /// (lines through the head): (lines, length).
    static func lines(_ x: Tensor, along axis: Int, length: Int, threshold: Double) throws -> Tensor {
        let others = (0..<3).filter { $0 != axis }
        let n = x.shape[axis]
        let start = (n - length) / 2
        let l = try x.permute(others + [axis]).narrow(2, start: start, length: length).reshape([-1, length])
        let keep = try l.mean(dim: 1).gt(threshold).nonzero().reshape([-1])
        guard keep.shape[0] >= 16 else {
            throw ModelError.invalid("too few lines through the head (\(keep.shape[0])) to estimate the slice thickness; give --slice-thickness")
        }
        return try l.indexSelect(0, keep)
    }

    /// The mean power spectrum (Hann-windowed, mean removed) of each line, bins 1 ..< length/2 + 1,
    /// normalized to sum 1.
    static func spectrum(_ lines: Tensor) throws -> Tensor {
        let n = lines.shape[1]
        let hann = try Tensor((0..<n).map { Float(0.5 - 0.5 * cos(2 * Double.pi * (Double($0) + 0.5) / Double(n))) }, shape: [1, n])
        let centred = try lines - lines.mean(dim: 1, keepdim: true)
        let f = try (centred * hann).rfftn(dims: [1])
        let power = try (f.real() * f.real() + f.imag() * f.imag()).mean(dim: 0)
        let bins = try power.narrow(0, start: 1, length: power.shape[0] - 1) + 1e-12
        return try bins / bins.sum()
    }
}
