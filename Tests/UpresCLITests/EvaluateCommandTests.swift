import Foundation
import Testing

@Suite struct EvaluateCommandTests {
    @Test func comparesTestsSideBySide() throws {
        let dir = try scratch()
        let thick = dir.appendingPathComponent("thick.nii.gz").path
        let cubic = dir.appendingPathComponent("cubic.nii.gz").path
        let nearest = dir.appendingPathComponent("nearest.nii.gz").path
        #expect(try runUpres(["resample", colin, thick, "--spacing", "1", "1", "6"]).status == 0)
        #expect(try runUpres(["resample", thick, cubic, "--like", colin, "--interp", "cubic"]).status == 0)
        #expect(try runUpres(["resample", thick, nearest, "--like", colin, "--interp", "nearest"]).status == 0)
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
}
