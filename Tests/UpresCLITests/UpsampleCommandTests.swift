import Foundation
import Testing

@Suite struct UpsampleCommandTests {
    @Test func interpolationBaselineWritesTheFineGridAndASidecar() throws {
        let dir = try scratch()
        let lr = dir.appendingPathComponent("lr.nii.gz").path
        #expect(try runUpres(["simulate", colin, lr, "--preset", "thick-5-6"]).status == 0)
        let out = dir.appendingPathComponent("cubic.nii.gz").path
        let r = try runUpres(["upsample", lr, out, "--interp", "cubic", "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("181x217x180 at 1x1x1 mm (cubic interpolation"))
        let sidecar = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("cubic.json"))) as? [String: Any]
        #expect(sidecar?["method"] as? String == "interp-cubic" && (sidecar?["inputSHA256"] as? String)?.count == 64)
        #expect(sidecar?["tool"] as? String == "upres 0.1.0")
    }

    @Test func badInputsGetTheirMessageAndLeaveNoFile() throws {
        let dir = try scratch()
        let lr = dir.appendingPathComponent("lr.nii.gz").path
        #expect(try runUpres(["simulate", colin, lr, "--preset", "thick-5-6"]).status == 0)
        let out = dir.appendingPathComponent("out.nii.gz").path
        let corrupt = dir.appendingPathComponent("corrupt.safetensors").path
        try Data([0, 1, 2]).write(to: URL(fileURLWithPath: corrupt))
        let cases: [([String], String)] = [
            ([colin, out], "already at or below the target spacing"),
            ([anatomical4D(dir), out], "3-D"),
            ([lr, out, "--model", "no-such-model"], "model 'no-such-model' not found"),
            ([lr, out, "--model", corrupt], "not a valid safetensors model"),
            ([lr, out, "--spacing", "2", "--model", corrupt], "not a valid safetensors model"),
            ([lr, out, "--interp", "nearest"], "--interp nearest is not a reconstruction"),
        ]
        for (args, message) in cases {
            let r = try runUpres(["upsample"] + args + ["--quiet"])
            #expect(r.status != 0 && r.stderr.contains(message), "\(args): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out), "\(args) left \(out)")
        }
    }

    /// A 4-D sample file.
    func anatomical4D(_ dir: URL) -> String {
        packageRoot.appendingPathComponent("data/samples/nibabel-corpus/example4d.nii.gz").path
    }
}
