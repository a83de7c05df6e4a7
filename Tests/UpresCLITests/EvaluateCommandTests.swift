import Foundation
import Imaging
import Testing
import Torch

@Suite struct EvaluateCommandTests {
    /// Colin 27 made 6 mm thick, then back on its grid by cubic and by nearest interpolation.
    func interpolatedThickSlices(in dir: URL) throws -> (cubic: String, nearest: String) {
        let thick = dir.appendingPathComponent("thick.nii.gz").path
        let cubic = dir.appendingPathComponent("cubic.nii.gz").path
        let nearest = dir.appendingPathComponent("nearest.nii.gz").path
        #expect(try runUpres(["resample", colin, thick, "--spacing", "1", "1", "6"]).status == 0)
        #expect(try runUpres(["resample", thick, cubic, "--like", colin, "--interp", "cubic"]).status == 0)
        #expect(try runUpres(["resample", thick, nearest, "--like", colin, "--interp", "nearest"]).status == 0)
        return (cubic, nearest)
    }

    @Test func comparesTestsSideBySide() throws {
        let dir = try scratch()
        let (cubic, nearest) = try interpolatedThickSlices(in: dir)
        let j = try runUpres(["evaluate", "--reference", colin, "--test", cubic, "--test", nearest, "--metrics", "psnr", "ssim", "mae", "--json"])
        #expect(j.status == 0, "\(j.stderr)")
        let list = try #require(try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [[String: Any]])
        #expect(list.count == 2)
        let metric = { (i: Int, m: String) -> Double in ((list[i]["metrics"] as! [String: Any])["image"] as! [String: Any])[m] as! Double }
        // Cubic interpolation of the thick slices beats nearest on every metric.
        #expect(metric(0, "psnr") > metric(1, "psnr"))
        #expect(metric(0, "ssim") > metric(1, "ssim"))
        #expect(metric(0, "mae") < metric(1, "mae"))
        // The reference against itself: infinite PSNR (JSON null), SSIM 1.
        let same = try runUpres(["evaluate", "--reference", colin, "--test", colin, "--metrics", "ssim", "mae", "--csv"])
        #expect(same.status == 0)
        #expect(same.stdout.contains("image,ssim,1.0") && same.stdout.contains("image,mae,0.0"), "\(same.stdout)")
        // A table with a mask.
        let t = try runUpres(["evaluate", "--reference", colin, "--test", cubic, "--mask", colin, "--metrics", "psnr"])
        #expect(t.status == 0 && t.stdout.contains("mask      psnr"))
    }

    @Test func refusesWhatItCannotCompare() throws {
        let dir = try scratch()
        let thick = dir.appendingPathComponent("thick.nii.gz").path
        #expect(try runUpres(["resample", colin, thick, "--spacing", "1", "1", "6"]).status == 0)
        let grid = try runUpres(["evaluate", "--reference", colin, "--test", thick])
        #expect(grid.status == 1 && grid.stderr.contains("pass --resample"))
        #expect(try runUpres(["evaluate", "--reference", colin, "--test", thick, "--resample", "--metrics", "mae"]).status == 0)
        #expect(try runUpres(["evaluate", "--reference", colin, "--test", colin, "--metrics", "psnr", "--data-range", "-3"]).status != 0)
        let lpips = try runUpres(["evaluate", "--reference", colin, "--test", colin, "--metrics", "lpips"])
        #expect(lpips.status != 0 && lpips.stderr.contains("--vgg16 FILE") && lpips.stderr.contains("--lpips-weights FILE"), "\(lpips.stderr)")
        #expect(try runUpres(["evaluate", "--reference", colin]).status != 0)
    }

    @Test func manySubjectsGiveRowsAndMeanAndSD() throws {
        let dir = try scratch()
        let (cubic, nearest) = try interpolatedThickSlices(in: dir)
        // Two subjects whose tests A and B swap: the means agree, the SDs are the same and non-zero.
        let list = dir.appendingPathComponent("subjects.csv")
        try "subject,reference,A,B\nsub-01,\(colin),cubic.nii.gz,nearest.nii.gz\nsub-02,\(colin),nearest.nii.gz,cubic.nii.gz\n"
            .write(to: list, atomically: true, encoding: .utf8)
        let r = try runUpres(["evaluate", "--subjects", list.path, "--metrics", "psnr", "mae", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect((o["subjects"] as? [[String: Any]])?.count == 8)
        let summary = try #require(o["summary"] as? [[String: Any]])
        func row(_ test: String, _ metric: String) throws -> [String: Any] {
            try #require(summary.first { $0["test"] as? String == test && $0["metric"] as? String == metric })
        }
        let a = try row("A", "psnr"), b = try row("B", "psnr")
        #expect(abs((a["mean"] as! Double) - (b["mean"] as! Double)) < 1e-9 && (a["sd"] as! Double) > 0.1 && a["n"] as? Int == 2)
        let table = try runUpres(["evaluate", "--subjects", list.path, "--metrics", "psnr"])
        #expect(table.status == 0 && table.stdout.contains("subject sub-02") && table.stdout.contains("mean +- SD over 2 subjects"))
        // Bad lists are named.
        try "subject,reference\nsub-01,\(colin)\n".write(to: list, atomically: true, encoding: .utf8)
        let bad = try runUpres(["evaluate", "--subjects", list.path])
        #expect(bad.status == 1 && bad.stderr.contains("subjects.csv: no test columns"), "\(bad.stderr)")
        let both = try runUpres(["evaluate", "--subjects", list.path, "--reference", colin])
        #expect(both.status != 0 && both.stderr.contains("--subjects takes"))
    }

    @Test func datasetManifestGivesOneRowPerPair() throws {
        let dir = try scratch()
        let ds = dir.appendingPathComponent("ds").path
        let sim = try runUpres(["simulate", "--dataset", ds, anatomical, "--preset", "thick-5-6", "--direction", "axial", "coronal",
                                "--split", "1", "0", "0"])
        #expect(sim.status == 0, "\(sim.stderr)")
        // Each pair's LR volume (put on the HR grid) and the HR volume itself as tests.
        let r = try runUpres(["evaluate", "--dataset", ds + "/manifest.json", "--split", "train", "--test", "lr={lr}",
                              "--test", "hr=\(ds)/hr/{subject}.nii.gz", "--resample", "--metrics", "ssim", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let rows = try #require(o["subjects"] as? [[String: Any]])
        #expect(Set(rows.compactMap { $0["subject"] as? String }) == ["anatomical thick-5-6 axial", "anatomical thick-5-6 coronal"])
        #expect(rows.filter { $0["test"] as? String == "hr" }.allSatisfy { abs(($0["value"] as? Double ?? 0) - 1) < 1e-12 })
        #expect(rows.filter { $0["test"] as? String == "lr" }.allSatisfy { ($0["value"] as? Double ?? 1) < 0.99 })
        let empty = try runUpres(["evaluate", "--dataset", ds + "/manifest.json", "--test", "sr=x_{subject}.nii.gz"])
        #expect(empty.status == 1 && empty.stderr.contains("the test split has no subjects"))
        let bad = try runUpres(["evaluate", "--dataset", ds + "/manifest.json", "--split", "train", "--test", "sr.nii.gz"])
        #expect(bad.status == 1 && bad.stderr.contains("a test is NAME=TEMPLATE"))
        let missing = try runUpres(["evaluate", "--dataset", ds + "/manifest.json", "--split", "train", "--test", "sr=nowhere/{subject}.nii.gz"])
        #expect(missing.status == 1 && missing.stderr.contains("nowhere/anatomical.nii.gz"), "\(missing.stderr)")
    }

    @Test func perceptualMetricsPerSlice() throws {
        // anatomical.nii: 33 x 41 x 25; its axial slices are large enough for HaarPSI, not VIFp.
        let r = try runUpres(["evaluate", "--reference", anatomical, "--test", anatomical, "--metrics", "haarpsi", "--csv"])
        let value = r.stdout.split(separator: "\n").first { $0.hasPrefix("image,haarpsi,") }.flatMap { Double($0.split(separator: ",")[2]) }
        #expect(r.status == 0 && abs((value ?? 0) - 1) < 1e-9, "\(r.stdout) \(r.stderr)")
        let small = try runUpres(["evaluate", "--reference", anatomical, "--test", anatomical, "--metrics", "vifp"])
        #expect(small.status == 1 && small.stderr.contains("VIFp needs images of at least 41 x 41 pixels, got 33 x 41"), "\(small.stderr)")
    }

    /// A 24^3 phantom with 2 mm voxels (0.008 ml each): bands along the first axis of CSF (i < 8,
    /// 20), GM (60) and WM (100), plus a +-2 checkerboard, so every band's mean and SD are known.
    func phantom(in dir: URL, _ name: String, _ value: (Int, Int, Int) -> Double) throws -> String {
        var v = [Double](repeating: 0, count: 24 * 24 * 24)
        for k in 0..<24 { for j in 0..<24 { for i in 0..<24 { v[i + 24 * (j + 24 * k)] = value(i, j, k) } } }
        // Tensor (k, j, i) row-major, permuted to the volume's (i, j, k).
        let data = try Tensor(v, shape: [24, 24, 24]).permute([2, 1, 0]).contiguous().to(.float32)
        let url = dir.appendingPathComponent(name)
        try NIfTI.write(Volume(data: data, affine: .scaling([2, 2, 2])), to: url)
        return url.path
    }

    func band(_ i: Int) -> Double { i < 8 ? 20 : i < 16 ? 60 : 100 }
    func checker(_ i: Int, _ j: Int, _ k: Int) -> Double { (i + j + k) % 2 == 0 ? 2 : -2 }

    @Test func clinicalMeasuresAndSegmentationAgreement() throws {
        let dir = try scratch()
        let ref = try phantom(in: dir, "ref.nii.gz") { band($0) + checker($0, $1, $2) }
        let test = try phantom(in: dir, "sr.nii.gz") { i, j, k in band(i) + 0.5 * checker(i, j, k) + sin(Double(j) * 0.7) }
        let tissues = try [(0, 8), (8, 16), (16, 24)].enumerated().map { n, b in
            try phantom(in: dir, "tissue\(n).nii.gz") { i, _, _ in (b.0..<b.1).contains(i) ? 1 : 0 }
        }
        // Label 1 below i = 12 in the reference, below 13 (sub-01) or 11 (sub-02) in the tests.
        let refSeg = try phantom(in: dir, "ref_seg.nii.gz") { i, _, _ in i < 12 ? 1 : 2 }
        let seg13 = try phantom(in: dir, "seg13.nii.gz") { i, _, _ in i < 13 ? 1 : 2 }
        let seg11 = try phantom(in: dir, "seg11.nii.gz") { i, _, _ in i < 11 ? 1 : 2 }
        let r = try runUpres(["evaluate", "--reference", ref, "--test", test, "--tissues"] + tissues
                             + ["--segmentation", refSeg, "--test-segmentation", seg13, "--metrics", "mae", "clinical", "segmentation", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let list = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        #expect(list.count == 2 && list[0]["role"] as? String == "reference")
        func value(_ i: Int, _ region: String, _ m: String) -> Double? { ((list[i]["metrics"] as? [String: Any])?[region] as? [String: Any])?[m] as? Double }
        // The reference's tissues: means 20, 60, 100 and the SD of +-2 over 8 x 24 x 24 voxels.
        let n = 8.0 * 24 * 24, sd = (4 * n / (n - 1)).squareRoot()
        for (m, e) in [("csf_mean", 20.0), ("gm_mean", 60), ("wm_mean", 100), ("gm/wm", 0.6), ("csf/wm", 0.2), ("wm_sd", sd), ("cjv", 2 * sd / 40)] {
            #expect(abs((value(0, "tissues", m) ?? .nan) - e) < 1e-6 * max(1, e), "\(m): \(value(0, "tissues", m) ?? .nan)")
        }
        #expect(value(0, "image", "mae") == nil && value(1, "image", "mae") != nil)
        // Dice of label 1: 2 * 12 / (12 + 13); volumes 12 and 13 bands of 576 voxels of 0.008 ml.
        #expect(abs((value(1, "seg 1", "dice") ?? 0) - 24.0 / 25) < 1e-9)
        #expect(abs((value(0, "seg 1", "volume_ml") ?? 0) - 12 * 576 * 0.008) < 1e-9)
        #expect(abs((value(1, "seg 1", "volume_diff_ml") ?? 0) - 576 * 0.008) < 1e-9)
        #expect(abs((value(1, "seg 2", "volume_diff_pct") ?? 0) - (-100.0 / 12)) < 1e-9)
        // Two subjects: volume differences +4.608 and -4.608 ml, Bland-Altman mean 0, SD 4.608 sqrt 2.
        let csv = dir.appendingPathComponent("subjects.csv")
        try """
            subject,reference,csf,gm,wm,segmentation,SR,segmentation:SR
            sub-01,ref.nii.gz,tissue0.nii.gz,tissue1.nii.gz,tissue2.nii.gz,ref_seg.nii.gz,sr.nii.gz,seg13.nii.gz
            sub-02,ref.nii.gz,tissue0.nii.gz,tissue1.nii.gz,tissue2.nii.gz,ref_seg.nii.gz,sr.nii.gz,seg11.nii.gz

            """.write(to: csv, atomically: true, encoding: .utf8)
        let many = try runUpres(["evaluate", "--subjects", csv.path, "--json"])
        #expect(many.status == 0, "\(many.stderr)")
        let o = try #require(try JSONSerialization.jsonObject(with: Data(many.stdout.utf8)) as? [String: Any])
        let ba = try #require((o["bland_altman"] as? [[String: Any]])?.first { $0["region"] as? String == "seg 1" })
        #expect(abs((ba["mean_difference_ml"] as? Double ?? 1)) < 1e-9 && ba["n"] as? Int == 2)
        #expect(abs((ba["sd_difference_ml"] as? Double ?? 0) - 4.608 * 2.0.squareRoot()) < 1e-9)
        let table = try runUpres(["evaluate", "--subjects", csv.path, "--metrics", "psnr", "segmentation"])
        #expect(table.status == 0 && table.stdout.contains("Bland-Altman agreement of the segmented volumes"), "\(table.stdout)\(table.stderr)")
        // Missing inputs are named.
        let noTissues = try runUpres(["evaluate", "--reference", ref, "--test", test, "--metrics", "clinical"])
        #expect(noTissues.status != 0 && noTissues.stderr.contains("--metrics clinical needs --tissues CSF GM WM"))
        let two = try runUpres(["evaluate", "--reference", ref, "--test", test, "--tissues", tissues[0], tissues[1]])
        #expect(two.status != 0 && two.stderr.contains("--tissues takes three masks"))
        let emptyCSF = try phantom(in: dir, "empty.nii.gz") { _, _, _ in 0 }
        let empty = try runUpres(["evaluate", "--reference", ref, "--test", test, "--tissues", emptyCSF, tissues[1], tissues[2]])
        #expect(empty.status == 1 && empty.stderr.contains("the CSF mask selects 0 voxel(s)") && empty.stderr.contains("empty.nii.gz"), "\(empty.stderr)")
    }

    @Test func brisqueScoresAndFeatures() throws {
        let dir = try scratch()
        let ref = try phantom(in: dir, "ref.nii.gz") { i, j, k in self.band(i) + 10 * sin(Double(i * j) * 0.3) + self.checker(i, j, k) }
        let test = try phantom(in: dir, "sr.nii.gz") { i, j, k in self.band(i) + 10 * sin(Double(i * j) * 0.3) }
        let model = packageRoot.appendingPathComponent("Tests/Fixtures/metrics/brisque_test_model.svm").path
        let features = dir.appendingPathComponent("features.csv").path
        let r = try runUpres(["evaluate", "--reference", ref, "--test", test, "--metrics", "brisque", "--brisque-model", model,
                              "--brisque-features", features, "--csv"])
        #expect(r.status == 0, "\(r.stderr)")
        // The reference and the test each get a score.
        let row = r.stdout.split(separator: "\n").first { $0.hasPrefix("image,brisque,") }.map { $0.split(separator: ",") }
        #expect(row?.count == 4 && row.map { Double($0[2]) != nil && Double($0[3]) != nil } == true, "\(r.stdout)")
        // 24 axial slices of each volume, 36 features each.
        let lines = try String(contentsOfFile: features, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 1 + 2 * 24 && lines[0].split(separator: ",").count == 3 + 36)
        #expect(lines[0].hasPrefix("subject,volume,slice_2,full_mscn_shape,full_mscn_variance,full_horizontal_shape"))
        // Not overwritten without --force; no model, no score; a bad model file is named.
        let again = try runUpres(["evaluate", "--reference", ref, "--test", test, "--metrics", "mae", "--brisque-features", features])
        #expect(again.status != 0 && again.stderr.contains("already exists"))
        let noModel = try runUpres(["evaluate", "--reference", ref, "--test", test, "--metrics", "brisque"])
        #expect(noModel.status != 0 && noModel.stderr.contains("--metrics brisque needs --brisque-model"))
        let bad = try runUpres(["evaluate", "--reference", ref, "--test", test, "--metrics", "brisque", "--brisque-model", ref])
        #expect(bad.status == 1 && bad.stderr.contains("ref.nii.gz") && bad.stderr.contains("model"), "\(bad.stderr)")
    }

    /// LPIPS and DISTS through the command, with random weights written as safetensors: the table's
    /// value is the mean over the axial slices of what Imaging's metrics give on them.
    @Test func deepFeatureMetricsWithUserWeights() throws {
        let dir = try scratch()
        let ref = try phantom(in: dir, "ref.nii.gz") { i, j, k in self.band(i) + 10 * sin(Double(i * j + k) * 0.3) + self.checker(i, j, k) }
        let test = try phantom(in: dir, "sr.nii.gz") { i, j, k in self.band(i) + 10 * sin(Double(i * j + k) * 0.3) }
        let g = try Generator(seed: 11)
        var vgg: [String: Tensor] = [:]
        var inputs = 3
        for (i, out) in zip(VGGFeatures.convolutionIndices, [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]) {
            vgg["features.\(i).weight"] = try (Tensor.rand([out, inputs, 3, 3], generator: g) * 2 - 1) * (6.0 / Double(9 * inputs)).squareRoot()
            vgg["features.\(i).bias"] = try Tensor.zeros([out])
            inputs = out
        }
        let lin = Dictionary(uniqueKeysWithValues: try VGGFeatures.featureChannels.enumerated().map { i, c in
            ("lin\(i).model.1.weight", try Tensor.rand([1, c, 1, 1], generator: g))
        })
        let ab = ["alpha": try Tensor.rand([1, 1475, 1, 1], generator: g), "beta": try Tensor.rand([1, 1475, 1, 1], generator: g)]
        let files = (vgg: dir.appendingPathComponent("vgg16.safetensors"), lpips: dir.appendingPathComponent("lpips.safetensors"),
                     dists: dir.appendingPathComponent("dists.safetensors"))
        try Safetensors.write(vgg, to: files.vgg)
        try Safetensors.write(lin, to: files.lpips)
        try Safetensors.write(ab, to: files.dists)
        let r = try runUpres(["evaluate", "--reference", ref, "--test", test, "--metrics", "lpips", "dists", "--vgg16", files.vgg.path,
                              "--lpips-weights", files.lpips.path, "--dists-weights", files.dists.path, "--csv"])
        #expect(r.status == 0, "\(r.stderr)")
        func value(_ metric: String) -> Double? {
            r.stdout.split(separator: "\n").first { $0.hasPrefix("image,\(metric),") }.flatMap { Double($0.split(separator: ",")[2]) }
        }
        // The same slices through the library: scaled by the reference's range, every axial slice.
        let x = try NIfTI.readVolume(URL(fileURLWithPath: test)).data.to(.float64), y = try NIfTI.readVolume(URL(fileURLWithPath: ref)).data.to(.float64)
        let lo = try y.min().item(), range = try y.max().item() - lo
        let xs = try ((x - lo) / range).permute([2, 0, 1]), ys = try ((y - lo) / range).permute([2, 0, 1])
        let backbone = try VGGFeatures(contentsOf: files.vgg)
        for (metric, scores) in [("lpips", try LPIPS(backbone: backbone, contentsOf: files.lpips).compute(xs, ys)),
                                 ("dists", try DISTS(backbone: backbone, contentsOf: files.dists).compute(xs, ys))] {
            let mean = scores.reduce(0, +) / Double(scores.count)
            let got = try #require(value(metric), "\(metric) missing: \(r.stdout)")
            #expect(mean > 0 && abs(got - mean) <= 1e-9 * abs(mean), "\(metric): command \(got), library \(mean)")
        }
        // Given weights add the metrics to the default set; a backbone alone, or a pickle, is refused clearly.
        let d = try runUpres(["evaluate", "--reference", ref, "--test", test, "--vgg16", files.vgg.path, "--dists-weights", files.dists.path, "--csv"])
        #expect(d.status == 0 && d.stdout.contains("image,dists,") && d.stdout.contains("image,psnr,") && !d.stdout.contains("lpips"), "\(d.stdout)")
        let alone = try runUpres(["evaluate", "--reference", ref, "--test", test, "--lpips-weights", files.lpips.path])
        #expect(alone.status != 0 && alone.stderr.contains("--lpips-weights needs --vgg16"), "\(alone.stderr)")
        let pth = dir.appendingPathComponent("vgg16-397923af.pth")
        try Data([0x80, 0x02, 0x8A, 0x0A]).write(to: pth)
        let pickle = try runUpres(["evaluate", "--reference", ref, "--test", test, "--vgg16", pth.path, "--lpips-weights", files.lpips.path])
        #expect(pickle.status == 1 && pickle.stderr.contains("vgg16-397923af.pth") && pickle.stderr.contains("PyTorch pickle"), "\(pickle.stderr)")
    }

    /// --ssim-map writes the full-size map; its mean over the interior (scikit-image's crop of 5
    /// voxels for the 11-voxel Gaussian window) is the ssim row. The NRMSE normalizations as rows.
    @Test func ssimMapAndNRMSENormalizations() throws {
        let dir = try scratch()
        let ref = try phantom(in: dir, "ref.nii.gz") { i, j, k in self.band(i) + 10 * sin(Double(i * j + k) * 0.3) + self.checker(i, j, k) }
        let test = try phantom(in: dir, "sr.nii.gz") { i, j, k in self.band(i) + 10 * sin(Double(i * j + k) * 0.3) }
        let map = dir.appendingPathComponent("ssim_map.nii.gz").path
        let r = try runUpres(["evaluate", "--reference", ref, "--test", test, "--metrics", "ssim", "nrmse", "nrmse_min_max", "nrmse_mean",
                              "--ssim-map", map, "--csv"])
        #expect(r.status == 0 && r.stderr.contains("wrote \(map)"), "\(r.stderr)")
        func value(_ metric: String) throws -> Double {
            try #require(r.stdout.split(separator: "\n").first { $0.hasPrefix("image,\(metric),") }.flatMap { Double($0.split(separator: ",")[2]) })
        }
        let written = try NIfTI.readVolume(URL(fileURLWithPath: map))
        let refVolume = try NIfTI.readVolume(URL(fileURLWithPath: ref))
        #expect(written.shape == [24, 24, 24] && written.affine.maxDifference(refVolume.affine) < 1e-6)
        let interior = try written.data.to(.float64).narrow(0, start: 5, length: 14).narrow(1, start: 5, length: 14).narrow(2, start: 5, length: 14)
        let ssim = try value("ssim"), interiorMean = try interior.mean().item()
        #expect(ssim < 0.99 && abs(interiorMean - ssim) < 1e-6, "map interior \(interiorMean), ssim \(ssim)")
        // NRMSE: ||x - y|| / ||y||, RMSE / (max - min) and RMSE / mean of the reference.
        let x = try NIfTI.readVolume(URL(fileURLWithPath: test)).data.to(.float64), y = try refVolume.data.to(.float64)
        let rmse = try (x - y).square().mean().item().squareRoot()
        let norm = try y.square().mean().item().squareRoot(), span = try y.max().item() - y.min().item(), mean = try y.mean().item()
        let (euclidean, minMax, byMean) = (try value("nrmse"), try value("nrmse_min_max"), try value("nrmse_mean"))
        #expect(abs(euclidean - rmse / norm) < 1e-9 && abs(minMax - rmse / span) < 1e-9 && abs(byMean - rmse / mean) < 1e-9)
        // Never overwritten without --force, and one map per test.
        let again = try runUpres(["evaluate", "--reference", ref, "--test", test, "--metrics", "ssim", "--ssim-map", map])
        #expect(again.status != 0 && again.stderr.contains("already exists"), "\(again.stderr)")
        let two = try runUpres(["evaluate", "--reference", ref, "--test", test, "--test", ref, "--ssim-map", map])
        #expect(two.status != 0 && two.stderr.contains("one --ssim-map per --test"), "\(two.stderr)")
    }

    /// --per-slice: a tidy CSV of every metric per slice; the ssim2d row is the mean of its slices,
    /// and a slice's MAE and PSNR (with the volume's data range) are the library's on that slice.
    @Test func perSliceMetrics() throws {
        let dir = try scratch()
        let ref = try phantom(in: dir, "ref.nii.gz") { i, j, k in self.band(i) + 10 * sin(Double(i * j + k) * 0.3) + self.checker(i, j, k) }
        let test = try phantom(in: dir, "sr.nii.gz") { i, j, k in self.band(i) + 10 * sin(Double(i * j + k) * 0.3) + (k % 3 == 0 ? 0 : 1) }
        let out = dir.appendingPathComponent("slices.csv").path
        let r = try runUpres(["evaluate", "--reference", ref, "--test", test, "--metrics", "psnr", "ssim2d", "mae", "--slice-axis", "2",
                              "--per-slice", out, "--csv"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        #expect(lines.first?.joined(separator: ",") == "subject,test,region,slice_2,metric,value")
        var perMetric: [String: [Int: Double]] = [:]
        for l in lines.dropFirst() { perMetric[String(l[4]), default: [:]][Int(l[3])!] = Double(l[5])! }
        #expect(perMetric.keys.sorted() == ["mae", "psnr", "ssim2d"] && perMetric.values.allSatisfy { $0.count == 24 })
        let ssimRow = try #require(r.stdout.split(separator: "\n").first { $0.hasPrefix("image,ssim2d,") }.flatMap { Double($0.split(separator: ",")[2]) })
        let ssimSlices = perMetric["ssim2d"]!.values
        #expect(abs(ssimSlices.reduce(0, +) / 24 - ssimRow) < 1e-9)
        // Slices with k % 3 == 0 differ by the +-2 checkerboard alone (MSE 4); the others also by 1 (MSE 5):
        // 10 log10(5 / 4) = 0.97 dB lower PSNR.
        let x = try NIfTI.readVolume(URL(fileURLWithPath: test)).data.to(.float64), y = try NIfTI.readVolume(URL(fileURLWithPath: ref)).data.to(.float64)
        let span = try y.max().item() - y.min().item()
        for k in [0, 1, 5] {
            let mae = try FullReference.mae(x.select(2, k), y.select(2, k))
            let psnr = try FullReference.psnr(x.select(2, k), y.select(2, k), dataRange: .value(span))
            #expect(abs(perMetric["mae"]![k]! - mae) < 1e-9 && abs(perMetric["psnr"]![k]! - psnr) < 1e-9, "slice \(k)")
        }
        #expect(abs(perMetric["psnr"]![0]! - perMetric["psnr"]![1]! - 10 * log10(5.0 / 4)) < 1e-3)
        // Across another axis: 24 slices along i; the file is not overwritten without --force.
        let again = try runUpres(["evaluate", "--reference", ref, "--test", test, "--metrics", "mae", "--per-slice", out])
        #expect(again.status != 0 && again.stderr.contains("already exists"))
        let sagittal = try runUpres(["evaluate", "--reference", ref, "--test", test, "--metrics", "ssim", "--slice-axis", "0", "--per-slice", out, "--force"])
        #expect(sagittal.status == 0, "\(sagittal.stderr)")
        let rows = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
        #expect(rows.first == "subject,test,region,slice_0,metric,value" && rows.count == 25 && rows.dropFirst().allSatisfy { $0.contains(",ssim2d,") })
    }
}
