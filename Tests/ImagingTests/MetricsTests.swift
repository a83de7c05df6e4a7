import Foundation
import Testing
@testable import Imaging
import Torch

/// Full-reference metrics against scikit-image 0.26 on Colin 27 and a degraded copy
/// (Tests/Fixtures/metrics/make_reference.py).
@Suite struct MetricsTests {
    nonisolated(unsafe) static let reference: [String: Any]? = {
        guard let data = try? Data(contentsOf: fixturesRoot.appendingPathComponent("metrics/reference.json")) else { return nil }
        return try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    }()

    /// The degradation of the reference script: pairs of axial slices averaged, plus a ripple.
    func pair() throws -> (test: Tensor, reference: Tensor) {
        let ref = try NIfTI.readVolume(try sample("colin27/colin27_t1_1mm.nii.gz")).data.to(.float64)
        let n = ref.size(2)
        let even = try ref.slice(2, start: 0, end: n - 1, step: 2), odd = try ref.slice(2, start: 1, end: n, step: 2)
        let avg = try (even + odd) / 2
        var test = try Tensor.stack([avg, avg], dim: 3).reshape([ref.size(0), ref.size(1), (n / 2) * 2])
        test = try Tensor.cat([test, ref.narrow(2, start: n - 1, length: 1)], dim: 2)
        let g = try Tensor.meshgrid(ref.shape.map { try Tensor.arange(0, .int(Int64($0)), dtype: .float64) })
        let ripple = try (g[0] * 0.37).sin() * (g[1] * 0.23).cos() * (g[2] * 0.11 + 1).sin() * 4
        return (try test + ripple, ref)
    }

    /// Measured: the voxel-wise metrics agree to 4e-16 relative (whole image and masked), SSIM in
    /// float64 to 5e-16 (3-D, per slice, masked), SSIM in float32 to 1.6e-7; tested at 1e-12
    /// (float64) and 1e-6 (float32). scikit-image's `use_sample_covariance=True` instead of Wang's
    /// definition moves SSIM by 5e-6 to 1e-4 here, so both tolerances tell the two apart.
    @Test func agreeWithScikitImage() throws {
        let r = try #require(Self.reference, "Tests/Fixtures/metrics/reference.json is missing")
        let (test, ref) = try pair()
        let exact = 1e-12
        expectClose([try FullReference.mse(test, ref)], [r["mse"] as! Double], rtol: exact, "mse")
        expectClose([try FullReference.mae(test, ref)], [r["mae"] as! Double], rtol: exact, "mae")
        expectClose([try FullReference.rmse(test, ref)], [r["rmse"] as! Double], rtol: exact, "rmse")
        expectClose([try FullReference.nmse(test, ref)], [r["nmse"] as! Double], rtol: exact, "nmse")
        expectClose([try FullReference.psnr(test, ref)], [r["psnr"] as! Double], rtol: exact, "psnr")
        expectClose([try FullReference.nrmse(test, ref, normalization: .euclidean)], [r["nrmse_euclidean"] as! Double], rtol: exact)
        expectClose([try FullReference.nrmse(test, ref, normalization: .minMax)], [r["nrmse_min_max"] as! Double], rtol: exact)
        expectClose([try FullReference.nrmse(test, ref, normalization: .mean)], [r["nrmse_mean"] as! Double], rtol: exact)
        let range = r["data_range"] as! Double
        let expected = r["ssim_slices"] as! [String: Double]
        for (precision, rtol) in [(DType.float64, exact), (.float32, 1e-6)] {
            let ssim = SSIM(precision: precision)
            let s3 = try ssim.compare(test, ref, dims: 3)
            expectClose([s3.mean], [r["ssim_3d"] as! Double], rtol: rtol, atol: 0, "ssim 3-d \(precision)")
            let slices = try ssim.perSlice(test, ref, axis: 2, dataRange: .value(range))
            for (k, v) in expected { expectClose([slices[Int(k)!]], [v], rtol: rtol, atol: 0, "ssim slice \(k) \(precision)") }
            let masked = try ssim.compare(test, ref, dims: 3, dataRange: .value(range), mask: ref.gt(20))
            expectClose([masked.mean], [r["ssim_map_mean_inside_mask"] as! Double], rtol: rtol, atol: 0, "ssim in mask \(precision)")
            // The sample covariance (N / (N - 1)) is outside the tolerance: the oracle can tell it.
            let sample = try SSIM(sampleCovariance: true, precision: precision).compare(test, ref, dims: 3)
            #expect(!closeEnough(sample.mean, r["ssim_3d"] as! Double, rtol: rtol), "sample covariance \(precision): \(sample.mean)")
        }
    }

    /// Every voxel-wise metric and SSIM over the voxels of a mask (reference > 20), with the data
    /// range of the reference inside the mask, against scikit-image given those voxels (SSIM: the
    /// mean of its full 3-D map over them). Measured within 5e-16 relative (SSIM float32 1.5e-7).
    @Test func maskedMetricsAgreeWithScikitImage() throws {
        let r = try #require(Self.reference?["masked"] as? [String: Double], "Tests/Fixtures/metrics/reference.json has no masked values")
        let (test, ref) = try pair()
        let mask = try ref.gt(20)
        let exact = 1e-12
        let observed: [(String, Double)] = [
            ("mse", try FullReference.mse(test, ref, mask: mask)),
            ("mae", try FullReference.mae(test, ref, mask: mask)),
            ("rmse", try FullReference.rmse(test, ref, mask: mask)),
            ("nmse", try FullReference.nmse(test, ref, mask: mask)),
            ("psnr", try FullReference.psnr(test, ref, mask: mask)),
            ("nrmse_euclidean", try FullReference.nrmse(test, ref, mask: mask, normalization: .euclidean)),
            ("nrmse_min_max", try FullReference.nrmse(test, ref, mask: mask, normalization: .minMax)),
            ("nrmse_mean", try FullReference.nrmse(test, ref, mask: mask, normalization: .mean)),
            ("ssim", try SSIM(precision: .float64).compare(test, ref, dims: 3, mask: mask).mean),
        ]
        for (name, value) in observed { expectClose([value], [r[name] ?? .nan], rtol: exact, atol: 0, "masked \(name)") }
        expectClose([try SSIM().compare(test, ref, dims: 3, mask: mask).mean], [r["ssim"]!], rtol: 1e-6, atol: 0, "masked ssim float32")
        // Through Evaluation: the mask region's rows are the same values.
        let volume = { (t: Tensor) in Volume(data: t, affine: .identity) }
        let metrics: [Metric] = [.psnr, .ssim, .mae, .mse, .rmse, .nmse, .nrmse, .nrmseMinMax, .nrmseMean]
        let table = try Evaluation(options: .init(metrics: metrics))
            .evaluate(.init(reference: volume(ref), mask: volume(mask.to(.float64)), tests: [.init(name: "t", volume: volume(test))])).table
        for (metric, key) in zip(metrics, ["psnr", "ssim", "mae", "mse", "rmse", "nmse", "nrmse_euclidean", "nrmse_min_max", "nrmse_mean"]) {
            // Evaluation's SSIM runs in float32.
            expectClose([try #require(table.value("t", region: "mask", metric: metric.rawValue))], [r[key]!],
                        rtol: metric == .ssim ? 1e-6 : exact, atol: 0, "evaluation \(metric.rawValue)")
        }
    }

    /// piq 0.8.0 (Tests/Fixtures/metrics/make_perceptual_reference.py) on axial slices 40, 90 and
    /// 130 of the same pair, scaled by the reference's range to [0, 1], both in float64. Measured
    /// within 7e-15 relative (VIFp; HaarPSI 3e-15, FSIM and VSI 4e-16): tested at 1e-12.
    /// Identical images score 1 within 1.1e-9 (VIFp's eps; the others 7e-15): tested at 1e-8.
    @Test func perceptualMetricsAgreeWithPiq() throws {
        let data = try Data(contentsOf: fixturesRoot.appendingPathComponent("metrics/perceptual_reference.json"))
        let r = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let (test, ref) = try pair()
        let lo = try ref.min().item(), range = try ref.max().item() - lo
        let slices = try #require(r["slices"] as? [Int])
        func batch(_ v: Tensor) throws -> Tensor {
            try (Tensor.stack(slices.map { try v.select(2, $0) }) - lo) / range
        }
        let x = try batch(test), y = try batch(ref)
        for metric in Perceptual.Metric.allCases {
            let expected = try #require(r[metric.rawValue] as? [Double], "\(metric) missing from the fixture")
            let got = try Perceptual.compute(metric, x, y)
            expectClose(got, expected, rtol: 1e-12, atol: 0, "\(metric)")
            // One image at a time gives the same as the batch.
            expectClose(try Perceptual.compute(metric, x.select(0, 1), y.select(0, 1)), [expected[1]], rtol: 1e-12, atol: 0, "\(metric) single")
            // Identical images score 1.
            expectClose(try Perceptual.compute(metric, y, y), [1, 1, 1], rtol: 1e-8, atol: 0, "\(metric) identical")
        }
        #expect(throws: MetricError.self) { try Perceptual.vifp(Tensor.zeros([30, 30]), Tensor.zeros([30, 30])) }
        #expect(throws: MetricError.self) { try Perceptual.haarpsi(Tensor.zeros([20, 20]), Tensor.zeros([20, 21])) }
    }

    /// piq 0.8.0's BRISQUE features (both scales) of the same test slices, and its score with the
    /// SVR of Tests/Fixtures/metrics/brisque_test_model.svm. piq's imresize casts its input to
    /// float32 (a condition that is always true in its cast_input), so its half-scale features
    /// differ from upres's float64 ones by up to 7.2e-6 relative (the full-scale ones by 3e-13);
    /// with that cast skipped (the fixture's brisque_features_float64_resize) all 36 agree within
    /// 3e-13: tested at 1e-12, piq's own at 1e-5. The score: 1.8e-8, tested at 1e-7.
    @Test func brisqueAgreesWithPiq() throws {
        let data = try Data(contentsOf: fixturesRoot.appendingPathComponent("metrics/perceptual_reference.json"))
        let r = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let (test, ref) = try pair()
        let lo = try ref.min().item(), range = try ref.max().item() - lo
        let slices = try #require(r["slices"] as? [Int])
        let x = try ((Tensor.stack(slices.map { try test.select(2, $0) }) - lo) / range).clamp(min: .double(0), max: .double(1))
        let expected = try #require(r["brisque_features"] as? [[Double]])
        let got = try BRISQUE.features(x)
        #expect(got.count == 3 && got.allSatisfy { $0.count == BRISQUE.featureCount })
        let exact = try #require(r["brisque_features_float64_resize"] as? [[Double]])
        for (g, e) in zip(got, exact) { expectClose(g, e, rtol: 1e-12, atol: 0, "brisque features (float64 resize)") }
        for (g, e) in zip(got, expected) {
            expectClose(Array(g.prefix(18)), Array(e.prefix(18)), rtol: 1e-12, atol: 0, "brisque features, full scale")
            expectClose(g, e, rtol: 1e-5, atol: 0, "brisque features (piq's float32 resize)")
        }
        let model = try SVRModel(contentsOf: fixturesRoot.appendingPathComponent("metrics/brisque_test_model.svm"))
        #expect(model.supportVectors.count == 40 && model.kernel == .rbf && model.rho == -153.591)
        expectClose(try BRISQUE.scores(x, model: model), try #require(r["brisque_score"] as? [Double]), rtol: 1e-7, atol: 0, "brisque score")
        // A flat image has no MSCN structure to fit.
        #expect(throws: MetricError.self) { try BRISQUE.features(Tensor.zeros([32, 32], dtype: .float64)) }
    }

    /// libsvm's decision function, worked by hand for each kernel, and the model file's errors.
    @Test func svrModelFiles() throws {
        let header = "svm_type epsilon_svr\nkernel_type %@\ngamma 0.5\ncoef0 1\ndegree 2\nnr_class 2\ntotal_sv 2\nrho 0.25\nSV\n"
        let body = "2 1:1 3:2\n-1 2:1\n"
        let x: [Double] = [1, 1, 1]
        // sv1 = (1, 0, 2), sv2 = (0, 1, 0); x . sv1 = 3, x . sv2 = 1; |x - sv1|^2 = 2, |x - sv2|^2 = 2.
        let expected: [String: Double] = [
            "linear": 2 * 3 - 1 * 1 - 0.25,
            "polynomial": 2 * Foundation.pow(0.5 * 3 + 1, 2) - Foundation.pow(0.5 * 1 + 1, 2) - 0.25,
            "rbf": 2 * Foundation.exp(-0.5 * 2) - Foundation.exp(-0.5 * 2) - 0.25,
            "sigmoid": 2 * Foundation.tanh(0.5 * 3 + 1) - Foundation.tanh(0.5 * 1 + 1) - 0.25,
        ]
        for (kernel, value) in expected {
            let model = try SVRModel(libsvm: String(format: header, kernel) + body, name: "m", featureCount: 3)
            expectClose(try model.predict([x]), [value], rtol: 1e-12, kernel)
        }
        func message(_ text: String) -> String {
            do { _ = try SVRModel(libsvm: text, name: "model.svm", featureCount: 3); return "" } catch { return "\(error)" }
        }
        #expect(message("hello").contains("model.svm: not a libsvm model file"))
        #expect(message("svm_type c_svc\nkernel_type rbf\ngamma 1\nrho 0\nSV\n1 1:1\n").contains("regression model"))
        #expect(message(String(format: header, "rbf") + "2 1:1 7:2\n").contains("feature index 7 outside 1...3"))
        #expect(message(String(format: header, "rbf") + "2 1:1\n").contains("total_sv says 2"))
        #expect(message(String(format: header, "rbf") + "2 1=1\n").contains("is not 'index:value'"))
        // svm-scale's range file.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("upres-range-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("range")
        try "x\n-1 1\n1 0 2\n2 -1 1\n3 5 5\n".write(to: url, atomically: true, encoding: .utf8)
        let scaling = try FeatureScaling(contentsOf: url)
        expectClose(try scaling.apply([[1, 1, 7]])[0], [0, 1, -1], rtol: 1e-12, "svm-scale")
        try "1 0 2\n".write(to: url, atomically: true, encoding: .utf8)
        #expect(throws: MetricError.self) { try FeatureScaling(contentsOf: url) }
        #expect(FeatureScaling.brisqueLIVE.ranges.count == BRISQUE.featureCount)
    }

    @Test func identicalAndDegenerateInputs() throws {
        let x = try fixedVolume()
        #expect(try SSIM().compare(x, x, dims: 3).mean > 0.999999)
        #expect(try FullReference.psnr(x, x).isInfinite)
        #expect(throws: MetricError.self) { try FullReference.mse(x, Tensor.zeros([3, 3, 3])) }
        #expect(throws: MetricError.self) { try FullReference.psnr(x, Tensor.zeros(like: x)) }  // constant reference
        #expect(throws: MetricError.self) { try FullReference.mae(x, x, mask: Tensor.zeros(like: x)) }
        #expect(throws: MetricError.self) { try SSIM().compare(Tensor.zeros([5, 5, 5]), Tensor.zeros([5, 5, 5]), dims: 3, dataRange: .value(1)) }
    }

    func fixedVolume() throws -> Tensor {
        try (Tensor.arange(0, 4096, dtype: .float64).reshape([16, 16, 16]) * 0.01).sin()
    }
}
