import Foundation
import Testing

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
        #expect(try runUpres(["evaluate", "--reference", colin, "--test", colin, "--metrics", "lpips"]).status != 0)
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

    @Test func perceptualMetricsPerSlice() throws {
        // anatomical.nii: 33 x 41 x 25; its axial slices are large enough for HaarPSI, not VIFp.
        let r = try runUpres(["evaluate", "--reference", anatomical, "--test", anatomical, "--metrics", "haarpsi", "--csv"])
        let value = r.stdout.split(separator: "\n").first { $0.hasPrefix("image,haarpsi,") }.flatMap { Double($0.split(separator: ",")[2]) }
        #expect(r.status == 0 && abs((value ?? 0) - 1) < 1e-9, "\(r.stdout) \(r.stderr)")
        let small = try runUpres(["evaluate", "--reference", anatomical, "--test", anatomical, "--metrics", "vifp"])
        #expect(small.status == 1 && small.stderr.contains("VIFp needs images of at least 41 x 41 pixels, got 33 x 41"), "\(small.stderr)")
    }
}
