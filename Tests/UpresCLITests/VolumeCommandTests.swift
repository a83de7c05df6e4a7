import Foundation
import Testing

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let colin = packageRoot.appendingPathComponent("data/samples/colin27/colin27_t1_1mm.nii.gz").path
let anatomical = packageRoot.appendingPathComponent("data/samples/nibabel-corpus/anatomical.nii").path

func scratch() throws -> URL {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("upres-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d
}

@Suite struct InfoCommandTests {
    @Test func describesFilesAsTextAndJSON() throws {
        let r = try runUpres(["info", colin, anatomical])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("shape        181 x 217 x 181"))
        #expect(r.stdout.contains("orientation  LAS"))
        #expect(r.stdout.contains("big-endian"))
        let j = try runUpres(["info", "--json", anatomical])
        let list = try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [[String: Any]]
        let first = try #require(list?.first)
        #expect(first["shape"] as? [Int] == [33, 41, 25])
        #expect(first["orientation"] as? String == "LAS")
        #expect((first["affine"] as? [[Double]])?[0][0] == -2)
        #expect(first["dtype"] as? String == "int16")
    }

    @Test func badFilesFailWithTheirNameButOthersStillPrint() throws {
        let dir = try scratch()
        let bad = dir.appendingPathComponent("bad.nii").path
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: bad))
        let r = try runUpres(["info", bad, anatomical])
        #expect(r.status == 1)
        #expect(r.stderr.contains("\(bad): is 3 bytes long"))
        #expect(r.stdout.contains("anatomical.nii"))
    }
}

@Suite struct ConvertAndResampleCommandTests {
    @Test func convertChangesDTypeAndOrientation() throws {
        let dir = try scratch()
        let out = dir.appendingPathComponent("ras.nii.gz").path
        let r = try runUpres(["convert", anatomical, out, "--canonical", "--dtype", "int16"])
        #expect(r.status == 0, "\(r.stderr)")
        let info = try runUpres(["info", "--json", out])
        let o = try #require((try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [[String: Any]])?.first)
        #expect(o["orientation"] as? String == "RAS" && o["dtype"] as? String == "int16")
        // Never overwritten without --force; with it, fine.
        let again = try runUpres(["convert", anatomical, out])
        #expect(again.status == 1 && again.stderr.contains("already exists; pass --force"))
        #expect(try runUpres(["convert", anatomical, out, "--force"]).status == 0)
        #expect(try runUpres(["convert", anatomical, dir.appendingPathComponent("x.mgz").path]).status != 0)
        #expect(try runUpres(["convert", anatomical, out, "--dtype", "float128", "--force"]).status != 0)
    }

    @Test func resampleBySpacingShapeAndReference() throws {
        let dir = try scratch()
        let thick = dir.appendingPathComponent("thick.nii.gz").path
        var r = try runUpres(["resample", colin, thick, "--spacing", "1", "1", "6"])
        #expect(r.status == 0, "\(r.stderr)")
        var o = try #require((try JSONSerialization.jsonObject(with: Data(try runUpres(["info", "--json", thick]).stdout.utf8)) as? [[String: Any]])?.first)
        #expect(o["shape"] as? [Int] == [181, 217, 30])
        #expect(o["spacing"] as? [Double] == [1, 1, 6])
        let back = dir.appendingPathComponent("back.nii").path
        r = try runUpres(["resample", thick, back, "--like", colin, "--interp", "cubic"])
        #expect(r.status == 0, "\(r.stderr)")
        o = try #require((try JSONSerialization.jsonObject(with: Data(try runUpres(["info", "--json", back]).stdout.utf8)) as? [[String: Any]])?.first)
        #expect(o["shape"] as? [Int] == [181, 217, 181])
        #expect((o["affine"] as? [[Double]])?[2][3] == -71)
        let small = dir.appendingPathComponent("small.nii").path
        #expect(try runUpres(["resample", colin, small, "--shape", "90", "108", "90", "--interp", "sinc"]).status == 0)
    }

    @Test func resampleRefusesBadRequestsAndLeavesNothing() throws {
        let dir = try scratch()
        let out = dir.appendingPathComponent("o.nii.gz").path
        let cases: [([String], String)] = [
            (["resample", colin, out], "exactly one of --spacing, --shape and --like"),
            (["resample", colin, out, "--spacing", "1", "--shape", "2", "2", "2"], "exactly one"),
            (["resample", colin, out, "--spacing", "0"], "must be positive"),
            (["resample", colin, out, "--spacing", "1", "2"], "1 or 3 values"),
            (["resample", colin, out, "--shape", "4", "4"], "--shape takes 3"),
            (["resample", colin, out, "--spacing", "2", "--interp", "spline"], "spline"),
            (["resample", colin, out, "--like", dir.appendingPathComponent("none.nii").path], "does not exist"),
            (["resample", dir.appendingPathComponent("none.nii").path, out, "--spacing", "2"], "does not exist"),
            (["resample", colin, dir.appendingPathComponent("no/dir.nii").path, "--spacing", "2"], "does not exist"),
        ]
        for (args, text) in cases {
            let r = try runUpres(args)
            #expect(r.status != 0, "\(args)")
            #expect(r.stderr.contains(text), "\(args): \(r.stderr)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }
}

@Suite struct SnapshotCommandTests {
    @Test func writesAPNGOfTheSameWorldSlice() throws {
        let dir = try scratch()
        let thick = dir.appendingPathComponent("thick.nii.gz").path
        #expect(try runUpres(["resample", colin, thick, "--spacing", "1", "1", "6"]).status == 0)
        let png = dir.appendingPathComponent("s.png").path
        let r = try runUpres(["snapshot", colin, thick, "-o", png, "--plane", "coronal"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("coronal slice 108"))
        let bytes = try Data(contentsOf: URL(fileURLWithPath: png))
        #expect(Array(bytes.prefix(4)) == [0x89, 0x50, 0x4E, 0x47])
        #expect(try runUpres(["snapshot", colin, "-o", png]).status == 1)
        #expect(try runUpres(["snapshot", colin, "-o", png, "--force", "--slice", "500"]).status != 0)
        #expect(try runUpres(["snapshot", colin, "-o", dir.appendingPathComponent("x.jpg").path]).status != 0)
        #expect(try runUpres(["snapshot", colin, "-o", png, "--force", "--window", "5", "1"]).status != 0)
        #expect(try runUpres(["snapshot", colin, "-o", png, "--force", "--plane", "axial", "--window", "0", "200"]).status == 0)
    }
}
