import Foundation
import Testing
@testable import Imaging
import Torch

@Suite struct SegmentationAgreementTests {
    @Test func overlapAndVolumesByHand() throws {
        // 10 voxels. Reference label 1 at 0-3, label 2 at 6-7; test label 1 at 2-5, label 2 at 6-7.
        let ref = try Tensor([1, 1, 1, 1, 0, 0, 2, 2, 0, 0] as [Double])
        let test = try Tensor([0, 0, 1, 1, 1, 1, 2, 2, 0, 0] as [Double])
        let r = try SegmentationAgreement.compute(test: test, reference: ref, voxelVolumeML: 0.001)
        #expect(r.map(\.label) == [1, 2])
        let one = r[0]
        // |A| = 4, |B| = 4, |A and B| = 2, |A or B| = 6, |neither| = 4 of the 6 voxels outside B.
        expectClose([one.dice, one.jaccard, one.sensitivity, one.specificity, one.precision],
                    [0.5, 2.0 / 6, 0.5, 4.0 / 6, 0.5], rtol: 1e-12)
        expectClose([one.testVolumeML, one.referenceVolumeML, one.volumeDifferenceML, one.volumeDifferencePercent],
                    [0.004, 0.004, 0, 0], rtol: 1e-12, atol: 1e-15)
        #expect(r[1].dice == 1 && r[1].specificity == 1)
        // A label absent from the test: zero overlap, -100 % volume.
        let missing = try SegmentationAgreement.compute(test: test * 0, reference: ref, labels: [2], voxelVolumeML: 1)[0]
        #expect(missing.dice == 0 && missing.volumeDifferencePercent == -100)
        #expect(throws: MetricError.self) { try SegmentationAgreement.compute(test: test, reference: Tensor.zeros([3]), voxelVolumeML: 1) }
    }

    @Test func blandAltmanLimits() throws {
        let b = try BlandAltman.compute(test: [10, 12, 14, 16], reference: [9, 12, 13, 17])
        // Differences 1, 0, 1, -1: mean 0.25, sd sqrt(((0.75)^2 + 0.25^2 + 0.75^2 + 1.25^2) / 3).
        let sd = ((0.5625 + 0.0625 + 0.5625 + 1.5625) / 3).squareRoot()
        expectClose([b.meanDifference, b.sdDifference, b.lowerLimit, b.upperLimit], [0.25, sd, 0.25 - 1.96 * sd, 0.25 + 1.96 * sd], rtol: 1e-12)
        #expect(throws: MetricError.self) { try BlandAltman.compute(test: [1], reference: [1]) }
    }
}

@Suite struct ClinicalQualityTests {
    @Test func tissueStatisticsRatiosAndCJV() throws {
        // Three tissues of 4 voxels each: CSF 20 +- 2, GM 60 +- 4, WM 100 +- 6 (alternating).
        let values: [Double] = [18, 22, 18, 22, 56, 64, 56, 64, 94, 106, 94, 106]
        let image = try Tensor(values, shape: [12, 1, 1])
        func mask(_ r: Range<Int>) throws -> Tensor { try Tensor((0..<12).map { r.contains($0) ? 1.0 : 0 }, shape: [12, 1, 1]) }
        let q = try ClinicalQuality.compute(image: image, csf: try mask(0..<4), gm: try mask(4..<8), wm: try mask(8..<12), spacing: [1, 1, 1])
        let sd = { (h: Double) in (4 * h * h / 3).squareRoot() }  // sample sd of +-h alternating
        expectClose([q.csf.mean, q.gm.mean, q.wm.mean], [20, 60, 100], rtol: 1e-12)
        expectClose([q.csf.sd, q.gm.sd, q.wm.sd], [sd(2), sd(4), sd(6)], rtol: 1e-12)
        expectClose([q.gmOverWM, q.csfOverWM, q.csfOverGMWM], [0.6, 0.2, 20.0 / 160], rtol: 1e-12)
        expectClose([q.cjv], [(sd(6) + sd(4)) / 40], rtol: 1e-12)
        expectClose([q.wm.p5, q.wm.p95], [94, 106], rtol: 1e-12)
        // EFC by its formula.
        let b = values.map { $0 * $0 }.reduce(0, +).squareRoot()
        let e = -values.map { $0 / b * log($0 / b) }.reduce(0, +)
        let n = 12.0
        expectClose([q.efc], [e / (-(n / n.squareRoot()) * log(1 / n.squareRoot()))], rtol: 1e-12)
        #expect(throws: MetricError.self) {
            try ClinicalQuality.compute(image: image, csf: try mask(0..<0), gm: try mask(4..<8), wm: try mask(8..<12), spacing: [1, 1, 1])
        }
    }

    @Test func smoothnessOfGaussianNoise() throws {
        // White noise smoothed by a Gaussian of sigma 2 voxels has FWHM 2 sqrt(8 ln 2) = 4.71 voxels;
        // with 1.5 mm voxels along the first axis, 7.06 mm.
        let noise = try Tensor.randn([1, 64, 64, 64], dtype: .float64, generator: Generator(seed: 7))
        let smooth = try GaussianFilter(sigma: 2).reflect(noise, spatialDims: 3).squeeze(0) + 10
        let brain = try Tensor.ones([64, 64, 64], dtype: .float64)
        let firstHalf = try Tensor.arange(0, 64, dtype: .float64).lt(32).to(.float64).reshape([64, 1, 1]).expand([64, 64, 64])
        let q = try ClinicalQuality.compute(image: smooth, csf: brain, gm: firstHalf, wm: try 1 - firstHalf, spacing: [1.5, 1, 1])
        let expected = 2 * (8 * log(2.0)).squareRoot()
        expectClose(q.fwhm, [1.5 * expected, expected, expected], rtol: 0.1, "FWHM")
    }
}
