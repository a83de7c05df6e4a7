import Foundation
import Torch

/// Skull stripping by atlas registration: a template head (MNI152's brain-extracted T1) is
/// registered to the scan (affine, Mattes mutual information, so T1 and T2 alike), its brain mask
/// carried onto the scan's grid, the registration repeated inside the dilated mask (the scalp no
/// longer pulls), and the mask refined at its border from the scan's own intensities (dark voxels
/// in a band inside the border leave it).
public enum BrainExtraction {
    public struct Settings: Codable, Equatable, Sendable {
        /// The grid the registrations run on (mm).
        public var workingSpacing = 2.0
        /// Dilation of the first mask that bounds the second registration (mm).
        public var marginMM = 8.0
        /// Width of the band around the carried border where the scan's intensities decide (mm); 0: none.
        public var refineMM = 3.0
        public var registration: RegistrationSettings = {
            var s = RegistrationSettings()
            s.affine = true
            s.iterations = 100
            s.sampling = 0.15
            return s
        }()

        public init() {}
    }

    public struct Result {
        public var mask: Volume
        /// Template to scan: maps a point of the scan to the template (fixed to moving).
        public var transform: SpatialTransform
        /// Voxels the refinement removed from the carried mask.
        public var removed: Int
    }

    /// The brain mask (uint8 0/1 on the scan's grid) of `scan`, from a template image and its brain mask.
    public static func mask(_ scan: Volume, template: Volume, templateMask: Volume, settings: Settings = Settings()) throws -> Result {
        guard scan.shape.count == 3 else { throw ITKError("brain mask: expected a 3-D scan, got shape \(scan.shape)") }
        let (coarse, tmpl) = try workingGrids(scan, template, settings)
        // 1: affine, the whole scan; 2: again, inside the dilated first mask.
        let first = try Registration.register(moving: tmpl, fixed: coarse, settings: settings.registration)
        let transform = try templateTransform(coarse, template: tmpl, brain: carry(templateMask, first.transform, onto: coarse), settings: settings)
        var mask = try carry(templateMask, transform, onto: scan).data
        var removed = 0
        if settings.refineMM > 0 { (mask, removed) = try refine(mask, scan: scan, bandMM: settings.refineMM) }
        return Result(mask: Volume(data: try mask.to(.uint8), affine: scan.affine), transform: transform, removed: removed)
    }

    /// The template's affine registration to `scan` inside a known brain mask of it (dilated by
    /// `marginMM`, so that the scalp does not pull), on the working grid: template to scan.
    public static func templateTransform(_ scan: Volume, template: Volume, brain: Volume, settings: Settings = Settings()) throws -> SpatialTransform {
        guard try brain.data.ne(.double(0)).any().itemBool() else { throw ITKError("the brain mask is empty") }
        let (coarse, tmpl) = try workingGrids(scan, template, settings)
        let soft = try Volume(data: brain.data.ne(.double(0)).to(.float32), affine: brain.affine).resampled(like: coarse, interpolation: .linear, antiAlias: false)
        let margin = Swift.max(1, Int((settings.marginMM / settings.workingSpacing).rounded()))
        let bound = Volume(data: try Morphology.dilate(soft.data.gt(.double(0)), radius: margin), affine: coarse.affine)
        var reg = settings.registration
        reg.seed += 1
        return try Registration.register(moving: tmpl, fixed: coarse, fixedMask: bound, settings: reg).transform
    }

    /// The scan and the template on grids no finer than the working spacing.
    static func workingGrids(_ scan: Volume, _ template: Volume, _ settings: Settings) throws -> (Volume, Volume) {
        let w = settings.workingSpacing
        return (scan.spacing.min()! < w ? try scan.resampled(toSpacing: [w, w, w]) : scan,
                template.spacing.min()! < w ? try template.resampled(toSpacing: [w, w, w]) : template)
    }

    /// The template's mask on `target`'s grid (linear, thresholded at one half).
    static func carry(_ mask: Volume, _ t: SpatialTransform, onto target: Volume) throws -> Volume {
        let soft = Volume(data: try mask.data.ne(.double(0)).to(.float32), affine: mask.affine)
        let moved = try Registration.apply(t, to: soft, like: target, interpolation: .linear)
        return Volume(data: try moved.data.ge(.double(0.5)), affine: target.affine)
    }

    /// Refinement at the border: in a band of `bandMM` inside the carried border, voxels darker than
    /// `darkFraction` of the median of the brain inside the band (the core) are not brain: CSF
    /// outside the brain and skull in T1, skull and air in T2, where the template's outline and the
    /// scan's brain differ. Measured on Colin 27 against ch2bet: Dice 0.953 without, 0.971 with it.
    static func refine(_ mask: Tensor, scan: Volume, bandMM: Double, darkFraction: Double = 0.6) throws -> (Tensor, Int) {
        let r = Swift.max(1, Int((bandMM / scan.spacing.min()!).rounded()))
        let core = try Morphology.erode(mask, radius: r)
        let data = try scan.data.to(.float32)
        let inside = try data.maskedSelect(core)
        guard inside.size(0) > 100 else { return (mask, 0) }
        let median = try Percentiles.compute(inside, [50])[0]
        let band = try mask.logicalAnd(core.logicalNot())
        let refined = try core.logicalOr(band.logicalAnd(data.gt(.double(darkFraction * median))))
        let removed = try mask.logicalAnd(refined.logicalNot()).sum().item()
        return (refined, Int(removed))
    }
}
