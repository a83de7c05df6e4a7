import Foundation
import Testing

@Suite struct SimulateCommandTests {
    @Test func writesTheLRItsSidecarAndTheHRGridVersion() throws {
        let dir = try scratch()
        let out = dir.appendingPathComponent("lr.nii.gz").path
        let back = dir.appendingPathComponent("lr_1mm.nii.gz").path
        let r = try runUpres(["simulate", colin, out, "--preset", "thick-5-6", "--noise", "rician", "--snr", "25",
                              "--seed", "4", "--hr-grid", back])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("181x217x30 at 1x1x6 mm"))
        let sidecar = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("lr.json"))) as? [String: Any]
        let settings = try #require(sidecar?["settings"] as? [String: Any])
        #expect(settings["seed"] as? Int == 4 && settings["preset"] as? String == "thick-5-6")
        #expect((settings["noise"] as? [String: Any])?["snr"] as? Double == 25)
        #expect((sidecar?["inputSHA256"] as? String)?.count == 64)
        #expect(sidecar?["outputSpacing"] as? [Double] == [1, 1, 6])
        let info = try runUpres(["info", "--json", back])
        let o = try #require((try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [[String: Any]])?.first)
        #expect(o["shape"] as? [Int] == [181, 217, 181])
        // Not overwritten without --force.
        let again = try runUpres(["simulate", colin, out, "--preset", "thick-5-6"])
        #expect(again.status == 1 && again.stderr.contains("already exists; pass --force"))
    }

    @Test func impossibleSettingsFailClearlyAndWriteNothing() throws {
        let dir = try scratch()
        let out = dir.appendingPathComponent("x.nii.gz").path
        let cases: [([String], String)] = [
            (["--thickness", "0"], "slice thickness 0 mm must be > 0"),
            (["--thickness", "2", "--slice-spacing", "0.5"], "slice spacing 0.5 mm is below the input's voxel size 1 mm"),
            (["--kspace-fraction", "1.5"], "--kspace-fraction 1.5 must be in (0, 1]"),
            (["--axis", "oblique"], "--axis 'oblique': expected axial, coronal, sagittal, 0, 1 or 2"),
            (["--preset", "thick-9"], "--preset 'thick-9': unknown"),
            (["--noise", "rician", "--snr=-3"], "SNR -3.0 must be > 0"),
        ]
        for (flags, message) in cases {
            let r = try runUpres(["simulate", colin, out] + flags)
            #expect(r.status != 0 && r.stderr.contains(message), "\(flags): \(r.stderr)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test func datasetModeWritesAManifest() throws {
        let dir = try scratch()
        let ds = dir.appendingPathComponent("ds").path
        let r = try runUpres(["simulate", "--dataset", ds, colin, anatomical, "--preset", "thick-5-6", "kspace-x4",
                              "--direction", "axial", "coronal", "--split", "0.5", "0.5", "0"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("2 subjects (1 train, 1 validation, 0 test), 8 pairs"))
        let m = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: ds + "/manifest.json"))) as? [String: Any]
        #expect((m?["pairs"] as? [[String: Any]])?.count == 8 && m?["complete"] as? Bool == true)
    }
}
