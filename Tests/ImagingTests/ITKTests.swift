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
}
