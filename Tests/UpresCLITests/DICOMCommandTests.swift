import Foundation
import Testing

/// DICOM series (Tests/Fixtures/dicom/make_series.py: a real TOSHIBA MR slice stacked into series)
/// against dcm2niix (Debian), the field's converter.
@Suite struct DICOMCommandTests {
    let dicom = packageRoot.appendingPathComponent("Tests/Fixtures/dicom")

    /// The geometry equals dcm2niix's NIfTI affine to 1e-3 once both are in RAS+ voxel order
    /// (dcm2niix flips the rows, upres keeps the files' order), and the voxels are the same.
    @Test(arguments: [("axial", 5.0, 6.0), ("oblique", 4.0, 5.0)])
    func seriesMatchDcm2niix(series: String, thickness: Double, spacing: Double) throws {
        let dir = try scratch()
        let ours = dir.appendingPathComponent("upres.nii.gz").path
        let r = try runUpres(["convert", dicom.appendingPathComponent(series).path, ours])
        #expect(r.status == 0, "\(r.stderr)")
        let d = try runTool(["dcm2niix", "-o", dir.path, "-f", "dcm2niix", "-z", "n", dicom.appendingPathComponent(series).path])
        #expect(d.status == 0, "dcm2niix: \(d.stderr)")
        let theirs = dir.appendingPathComponent("dcm2niix.nii").path
        for (name, path) in [("ours", ours), ("theirs", theirs)] {
            #expect(try runUpres(["convert", path, dir.appendingPathComponent("\(name)-ras.nii.gz").path, "--canonical"]).status == 0)
        }
        let infos = try runUpres(["info", dir.appendingPathComponent("ours-ras.nii.gz").path, dir.appendingPathComponent("theirs-ras.nii.gz").path, "--json"])
        let both = try #require(try JSONSerialization.jsonObject(with: Data(infos.stdout.utf8)) as? [[String: Any]])
        let a = try #require(both[0]["affine"] as? [[Double]]), b = try #require(both[1]["affine"] as? [[Double]])
        let worst = zip(a.joined(), b.joined()).map { Swift.abs($0 - $1) }.max()!
        #expect(worst <= 1e-3, "affines differ by \(worst): \(a) vs \(b)")
        let diff = try runUpres(["evaluate", "--reference", dir.appendingPathComponent("theirs-ras.nii.gz").path,
                                 "--test", dir.appendingPathComponent("ours-ras.nii.gz").path, "--metrics", "mae", "--json"])
        #expect(diff.stdout.contains("\"mae\": 0"), "\(diff.stdout) \(diff.stderr)")
        // The sidecar keeps the acquired thickness; the spacing comes from the positions.
        let sidecar = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.appendingPathComponent("upres.json").path))) as? [String: Any])
        #expect(sidecar["SliceThickness"] as? Double == thickness && sidecar["Modality"] as? String == "MR")
        #expect(Swift.abs(((sidecar["spacing"] as? [Double])?[2] ?? 0) - spacing) < 1e-4)
        let info = try runUpres(["info", dicom.appendingPathComponent(series).path])
        #expect(info.status == 0 && info.stdout.contains("format       DICOM series") && info.stdout.contains("thickness    \(Int(thickness)) mm (SliceThickness)"), "\(info.stdout)")  // positions are written to 0.1 um
    }

    /// Mixed series, gantry tilt, a missing slice and a folder without DICOM: one message each, no file.
    @Test func badSeriesAreRefusedWithTheirReason() throws {
        let dir = try scratch()
        let out = dir.appendingPathComponent("out.nii.gz").path
        let cases: [(String, String)] = [
            ("mixed", "2 series are mixed in this folder"),
            ("tilted", "stacked at 9.46 degrees from their normal (gantry tilt)"),
            ("uneven", "the distance between slices varies by 6 mm"),
        ]
        for (folder, message) in cases {
            let r = try runUpres(["convert", dicom.appendingPathComponent(folder).path, out])
            #expect(r.status != 0 && r.stderr.contains(message) && !r.stderr.contains("WARNING"), "\(folder): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out))
        }
        let empty = try runUpres(["convert", dir.path, out])
        #expect(empty.status != 0 && empty.stderr.contains("no DICOM series found"), "\(empty.stderr)")
        // Every command reads a DICOM folder: the same message from resample.
        let resample = try runUpres(["resample", dicom.appendingPathComponent("mixed").path, out, "--spacing", "2"])
        #expect(resample.status != 0 && resample.stderr.contains("2 series are mixed"), "\(resample.stderr)")
        // --list-series, then --series picks one.
        let list = try runUpres(["convert", dicom.appendingPathComponent("mixed").path, "--list-series"])
        let uids = list.stdout.split(separator: "\n").map { String($0.split(separator: " ")[0]) }
        #expect(list.status == 0 && uids.count == 2, "\(list.stdout)")
        let one = try runUpres(["convert", dicom.appendingPathComponent("mixed").path, out, "--series", uids[0]])
        #expect(one.status == 0 && one.stdout.contains("64x64x6"), "\(one.stdout) \(one.stderr)")
    }
}

@Suite struct RegisterCommandTests {
    /// Colin 27 at 4 mm registered to itself shifted: the transform file, then applied by resample
    /// --transform it lands where register put the image. Bad inputs: one message, no file.
    @Test func registerWritesATransformThatResampleApplies() throws {
        let dir = try scratch()
        func path(_ n: String) -> String { dir.appendingPathComponent(n).path }
        #expect(try runUpres(["resample", colin, path("fixed.nii.gz"), "--spacing", "4"]).status == 0)
        #expect(try runUpres(["resample", colin, path("moving.nii.gz"), "--spacing", "3.5"]).status == 0)
        let r = try runUpres(["register", path("moving.nii.gz"), path("fixed.nii.gz"), path("out.nii.gz"), "--levels", "2"])
        #expect(r.status == 0 && r.stdout.contains("rigid registration"), "\(r.stderr)")
        let t = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("out.transform.json")))) as? [String: Any])
        #expect(t["kind"] as? String == "rigid" && t["format"] as? String == "upres-transform-1" && (t["fixedToMoving"] as? [[Double]])?.count == 4)
        #expect(try runUpres(["resample", path("moving.nii.gz"), path("again.nii.gz"), "--like", path("fixed.nii.gz"), "--transform", path("out.transform.json")]).status == 0)
        let d = try runUpres(["evaluate", "--reference", path("out.nii.gz"), "--test", path("again.nii.gz"), "--metrics", "mae", "--json"])
        #expect(d.stdout.contains("\"mae\": 0"), "\(d.stdout)")

        try Data("{\"format\": \"upres-transform-1\", \"kind\": \"rigid\", \"fixedToMoving\": [[1, 0], [0, 1]]}".utf8).write(to: URL(fileURLWithPath: path("bad.json")))
        #expect(try runTool(["python3", "-c", "import nibabel as nb, numpy as np, sys; m = nb.load(sys.argv[1]); nb.save(nb.Nifti1Image(np.ones(m.shape, np.float32), m.affine), sys.argv[2])", path("fixed.nii.gz"), path("flat.nii.gz")]).status == 0)
        let cases: [([String], String)] = [
            (["register", path("flat.nii.gz"), path("fixed.nii.gz"), path("x.nii.gz")], "the moving image is constant"),
            (["register", path("moving.nii.gz"), path("fixed.nii.gz"), path("x.nii.gz"), "--sampling", "0"], "the sampling fraction 0.0 must be in (0, 1]"),
            (["resample", path("moving.nii.gz"), path("x.nii.gz"), "--like", path("fixed.nii.gz"), "--transform", path("bad.json")], "fixedToMoving must be an invertible 4 x 4 affine matrix"),
            (["resample", path("moving.nii.gz"), path("x.nii.gz"), "--spacing", "2", "--transform", path("bad.json")], "--transform needs --like FIXED"),
        ]
        for (args, message) in cases {
            let e = try runUpres(args)
            #expect(e.status != 0 && e.stderr.contains(message), "\(args): \(e.stderr)")
            #expect(!FileManager.default.fileExists(atPath: path("x.nii.gz")) && !FileManager.default.fileExists(atPath: path("x.transform.json")))
        }
    }
}
