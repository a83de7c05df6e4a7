import Foundation
import Imaging
import Testing
import Torch

@Suite struct ITKTests {
    let itk = fixturesRoot.appendingPathComponent("itk")

    /// N4 through CITK (Debian's ITK 5.2) against SimpleITK's N4 (PyPI, ITK 5.4) on the same biased
    /// Colin 27, mask and settings (Tests/Fixtures/itk/make_reference.py): measured max difference
    /// 2.3e-4 on intensities up to 410 (5.6e-7 of the maximum); the test allows 1e-5 of it.
    @Test func n4AgreesWithSimpleITK() throws {
        let image = try NIfTI.readVolume(itk.appendingPathComponent("colin4_bias.nii.gz"))
        let mask = try NIfTI.readVolume(itk.appendingPathComponent("colin4_brain.nii.gz"))
        let reference = try NIfTI.readVolume(itk.appendingPathComponent("colin4_bias_n4_simpleitk.nii.gz"))
        var settings = N4Settings()
        settings.shrink = 2
        let result = try BiasCorrection.n4(image, mask: mask, settings: settings)
        #expect(result.corrected.affine == image.affine && result.corrected.shape == image.shape)
        let peak = try reference.data.abs().max().item()
        let diff = try (result.corrected.data.to(.float64) - reference.data.to(.float64)).abs().max().item()
        #expect(diff <= 1e-5 * peak, "max difference \(diff) for intensities up to \(peak)")
        // It did something: the bias it removed is far larger than the disagreement.
        let removed = try (image.data.to(.float64) - reference.data.to(.float64)).abs().max().item()
        #expect(removed > 0.3 * peak)
        // corrected = image / exp(log bias), voxel by voxel.
        let rebuilt = try image.data.to(.float64) / result.logBias.data.to(.float64).exp()
        #expect(try (rebuilt - result.corrected.data.to(.float64)).abs().max().item() <= 1e-4)
    }

    @Test func n4RefusesWhatItCannotUse() throws {
        let image = try NIfTI.readVolume(itk.appendingPathComponent("colin4_bias.nii.gz"))
        var bad = N4Settings()
        bad.controlPoints = 3
        #expect(throws: ITKError.self) { try BiasCorrection.n4(image, settings: bad) }
        let empty = Volume(data: try Tensor.zeros(image.shape), affine: image.affine)
        #expect(throws: ITKError("N4: the mask is empty")) { try BiasCorrection.n4(image, mask: empty) }
        let other = Volume(data: try Tensor.ones([4, 4, 4]), affine: image.affine)
        #expect(throws: ITKError.self) { try BiasCorrection.n4(image, mask: other) }
        var nan = image
        nan.data = try image.data.clone()
        try nan.data.select(0, 3).fill_(.double(.nan))
        #expect(throws: ITKError("N4: the volume has NaN or infinite voxels")) { try BiasCorrection.n4(nan) }
    }

    /// Skull stripping of Colin 27 by MNI152's registration and the border refinement, against
    /// mricron's ch2bet (BET): Dice 0.971 measured (0.953 without the refinement); 0.95 required.
    @Test func brainMaskAgreesWithBET() throws {
        let colin = try NIfTI.readVolume(samplesRoot.appendingPathComponent("colin27/colin27_t1_1mm.nii.gz"))
        let bet = try NIfTI.readVolume(samplesRoot.appendingPathComponent("colin27/colin27_t1_1mm_brain.nii.gz"))
        let mni = try NIfTI.readVolume(samplesRoot.appendingPathComponent("mni152/mni152_2009a_t1_1mm.nii.gz"))
        let result = try BrainExtraction.mask(colin, template: mni, templateMask: mni)
        let a = try result.mask.data.ne(.double(0)), b = try bet.data.ne(.double(0))
        let dice = try 2 * a.logicalAnd(b).sum().item() / (a.sum().item() + b.sum().item())
        #expect(dice >= 0.95, "Dice \(dice) against ch2bet")
        #expect(result.mask.affine == colin.affine && result.mask.data.dtype == .uint8)
    }

    /// Seed 000's WMH rule on a synthetic FLAIR: a bright 4 x 4 x 4 lesion in white matter is found
    /// whole; isolated bright voxels (noise) and bright grey matter outside white matter are not.
    @Test func hyperintensitiesFindTheLesionAndNotTheSpecks() throws {
        let n = 32
        var flair = [Float](repeating: 0, count: n * n * n), wm = [Float](repeating: 0, count: n * n * n), mask = [Float](repeating: 0, count: n * n * n)
        func at(_ i: Int, _ j: Int, _ k: Int) -> Int { (i * n + j) * n + k }
        for i in 2..<30 { for j in 2..<30 { for k in 2..<30 {
            mask[at(i, j, k)] = 1
            let inWM = (8..<24).contains(i) && (8..<24).contains(j) && (8..<24).contains(k)
            wm[at(i, j, k)] = inWM ? 1 : 0
            flair[at(i, j, k)] = inWM ? 100 : 130 + Float((i * 7 + j * 3 + k) % 5)
        } } }
        for i in 12..<16 { for j in 12..<16 { for k in 12..<16 { flair[at(i, j, k)] = 220 } } }
        flair[at(20, 20, 20)] = 230  // a speck
        let affine = Affine.scaling([1, 1, 1])
        func volume(_ v: [Float]) throws -> Volume { Volume(data: try Tensor(v, shape: [n, n, n]), affine: affine) }
        let lesions = try TissueSegmentation.hyperintensities(flair: volume(flair), mask: volume(mask), wm: volume(wm))
        let found = try lesions.data.to(.float64)
        let total = try found.sum().item()
        #expect(total >= 64, "lesion voxels \(total)")
        #expect(try found.select(0, 13).select(0, 13).select(0, 13).item() == 1)
        #expect(try found.select(0, 20).select(0, 20).select(0, 20).item() == 0)
        #expect(try found.select(0, 4).sum().item() == 0)  // grey matter, bright but outside WM
    }

    /// A known rigid motion of Colin 27 (2 mm: rotations of 6, -5 and 7 degrees about the head's
    /// centre, a shift of 8, -6 and 5 mm; the moved head resampled on the original grid) is
    /// recovered to within 0.5 degrees and 0.5 mm (the largest displacement error over the corners
    /// of a 160 x 190 x 160 mm box around the head); the affine run recovers it too.
    @Test(arguments: [false, true])
    func registrationRecoversAKnownRigidMotion(affine: Bool) throws {
        let colin = try NIfTI.readVolume(packageRoot.appendingPathComponent("data/samples/colin27/colin27_t1_1mm.nii.gz"))
        let fixed = try colin.resampled(toSpacing: [2, 2, 2])
        let known = ITKTestMotion.rigid(degrees: [6, -5, 7], shift: [8, -6, 5], centre: ITKTestMotion.centre(fixed))
        let moving = try Volume(data: fixed.data, affine: known * fixed.affine).resampled(like: fixed, antiAlias: false)
        var settings = RegistrationSettings()
        settings.affine = affine
        let start = Date()
        let result = try Registration.register(moving: moving, fixed: fixed, settings: settings)
        let seconds = Date().timeIntervalSince(start)
        let estimate = result.transform.matrix
        let error = SpatialTransform(kind: "rigid", fixedToMoving: try #require(known.inverse()) * estimate)
        let displacement = ITKTestMotion.corners(centre: ITKTestMotion.centre(fixed), half: [80, 95, 80]).map { p -> Double in
            let a = estimate.apply(p), b = known.apply(p)
            return zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
        }.max()!
        #expect(error.rotationDegrees <= 0.5 && displacement <= 0.5,
                "affine \(affine): rotation error \(error.rotationDegrees) deg, displacement error \(displacement) mm (\(seconds) s)")
        // The moving image on the fixed grid now matches the fixed image where both have the head.
        let inside = try fixed.data.gt(.double(20)).logicalAnd(result.resampled.data.gt(.double(20)))
        let r = try FullReference.psnr(result.resampled.data.maskedSelect(inside), fixed.data.maskedSelect(inside))
        #expect(r > 25, "PSNR after registration \(r)")
    }
}

enum ITKTestMotion {
    static func centre(_ v: Volume) -> [Double] { v.affine.apply(v.shape.map { Double($0 - 1) / 2 }) }

    /// Rotation about x, then y, then z (degrees) about `centre`, then a shift (mm).
    static func rigid(degrees: [Double], shift: [Double], centre c: [Double]) -> Affine {
        let (a, b, g) = (degrees[0] * .pi / 180, degrees[1] * .pi / 180, degrees[2] * .pi / 180)
        let rx = [[1, 0, 0], [0, cos(a), -sin(a)], [0, sin(a), cos(a)]]
        let ry = [[cos(b), 0, sin(b)], [0, 1, 0], [-sin(b), 0, cos(b)]]
        let rz = [[cos(g), -sin(g), 0], [sin(g), cos(g), 0], [0, 0, 1]]
        func mul(_ p: [[Double]], _ q: [[Double]]) -> [[Double]] { (0..<3).map { i in (0..<3).map { j in (0..<3).map { p[i][$0] * q[$0][j] }.reduce(0, +) } } }
        let r = mul(rz, mul(ry, rx))
        let t = (0..<3).map { i in c[i] + shift[i] - (0..<3).map { r[i][$0] * c[$0] }.reduce(0, +) }
        return Affine(rows: (0..<3).map { r[$0] + [t[$0]] } + [[0, 0, 0, 1]])
    }

    static func corners(centre c: [Double], half h: [Double]) -> [[Double]] {
        var out: [[Double]] = []
        for x in [-1.0, 1] {
            for y in [-1.0, 1] {
                for z in [-1.0, 1] { out.append([c[0] + x * h[0], c[1] + y * h[1], c[2] + z * h[2]]) }
            }
        }
        return out
    }
}
