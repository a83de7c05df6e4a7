import Foundation
import Imaging
import Testing
import Torch

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
            ([lr, out, "--adapt", "--self-supervised"], "exclude each other"),
            ([lr, out, "--self-supervised", "--model", "thick-5-6-t1"], "leave out --model"),
            ([lr, out, "--interp", "cubic", "--adapt"], "--interp is a baseline"),
            ([lr, out, "--interp", "cubic", "--slice-thickness", "5"], "--slice-thickness and --consistency apply to reconstructions with a model"),
            ([lr, out, "--interp", "cubic", "--consistency", "2"], "--slice-thickness and --consistency apply to reconstructions with a model"),
            ([lr, out, "--model", "thick-5-6-t1", "--consistency=-1"], "--consistency -1 must be >= 0 iterations"),
            ([lr, out, "--model", "any-contrast-x6", "--consistency", "2"], "data consistency needs the scan's slice thickness, and the model states none"),
            ([lr, out, "--self-supervised", "--slice-thickness", "0"], "--slice-thickness 0.0 must be > 0 mm"),
            ([lr, out, "--self-supervised", "--adapt-steps", "0"], "--adapt-steps 0 must be >= 1"),
            ([lr, out, "--self-supervised", "--profile", "triangle"], "triangle"),
            ([lr, out, "--self-supervised", "--noise-sigma=-1"], "--noise-sigma -1: expected auto, 0 or a standard deviation >= 0"),
            ([lr, out, "--self-supervised", "--noise-sigma", "loud"], "--noise-sigma loud: expected auto"),
            ([lr, out, "--model", "thick-5-6-t1", "--noise-sigma", "2"], "--noise-sigma applies to --adapt and --self-supervised"),
            ([lr, out, "--self-supervised", "--adapt-patch", "8"], "--adapt-patch 8 must be >= 16 pixels"),
            ([lr, out, "--model", "thick-5-6-t1", "--adapt-patch", "64"], "--adapt-patch applies to --adapt and --self-supervised"),
            ([lr, out, "--model", "thick-5-6-t1", "--spacing", "1.5"], "reconstructs 1.0 mm voxels, not 1.5 mm"),
        ]
        for (args, message) in cases {
            let r = try runUpres(["upsample"] + args + ["--quiet"])
            #expect(r.status != 0 && r.stderr.contains(message), "\(args): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out), "\(args) left \(out)")
        }
    }

    /// Many inputs: arguments and a list, outputs from a template; a corrupt input is reported and
    /// the others are written; the exit status says one failed; a template that names two inputs'
    /// outputs alike is refused before any work.
    @Test func manyInputsGoOnPastAFailureAndReportIt() throws {
        let dir = try scratch()
        let hr = dir.appendingPathComponent("hr.nii.gz").path
        #expect(try runUpres(["resample", colin, hr, "--shape", "48", "48", "48"]).status == 0)
        for name in ["a", "b"] {
            #expect(try runUpres(["simulate", hr, dir.appendingPathComponent("\(name).nii.gz").path, "--model", "slices", "--axis", "axial",
                                  "--thickness", "4", "--slice-spacing", "4"]).status == 0)
        }
        let corrupt = dir.appendingPathComponent("c.nii.gz").path
        try Data("not a volume".utf8).write(to: URL(fileURLWithPath: corrupt))
        let list = dir.appendingPathComponent("list.txt").path
        try "# the rest\n\(dir.appendingPathComponent("b.nii.gz").path)\n\n\(corrupt)\n".write(toFile: list, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("sr"), withIntermediateDirectories: true)
        let template = dir.appendingPathComponent("sr").path + "/{stem}_{index}.nii.gz"
        let r = try runUpres(["upsample", dir.appendingPathComponent("a.nii.gz").path, "--inputs", list, "-o", template, "--interp", "cubic"])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("\(corrupt) failed: \(corrupt): sizeof_hdr"), "\(r.stderr)")
        #expect(r.stderr.contains("2 of 3 inputs reconstructed; 1 failed: \(corrupt)"), "\(r.stderr)")
        for name in ["a_1", "b_2"] {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("sr/\(name).nii.gz").path))
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("sr/\(name).json").path))
        }
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("sr/c_3.nii.gz").path))
        // Same outputs again without --force: every input fails on its existing output.
        let again = try runUpres(["upsample", dir.appendingPathComponent("a.nii.gz").path, "-o", template, "--interp", "cubic"])
        #expect(again.status == 1 && again.stderr.contains("already exists; pass --force"), "\(again.stderr)")
        let clash = try runUpres(["upsample", dir.appendingPathComponent("a.nii.gz").path, dir.appendingPathComponent("b.nii.gz").path,
                                  "-o", dir.appendingPathComponent("sr/one.nii.gz").path, "--interp", "cubic"])
        #expect(clash.status != 0 && clash.stderr.contains("add {stem}, {parent} or {index}"), "\(clash.stderr)")
        let three = try runUpres(["upsample", hr, hr, hr, "--interp", "cubic"])
        #expect(three.status != 0 && three.stderr.contains("3 paths: give IN OUT"), "\(three.stderr)")
    }

    /// Self-supervised on a small crop: trains, reports, writes a sidecar with the mode and the
    /// steps, saves the model with its card, and `upres models` lists that model.
    @Test func selfSupervisedTrainsOnTheScanAndSavesTheModel() throws {
        let dir = try scratch()
        let lr = try coronalScan(dir)
        let out = dir.appendingPathComponent("sr.nii.gz").path
        let models = dir.appendingPathComponent("models").path
        let saved = dir.appendingPathComponent("models/protocol-a").path
        let r = try runUpres(["upsample", lr, out, "--self-supervised", "--slice-thickness", "4", "--adapt-steps", "20", "--adapt-batch", "2",
                              "--save-model", saved, "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("self-supervised for 20 steps"), "\(r.stderr)")
        #expect(r.stdout.contains("self-supervised model"))
        let sidecar = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("sr.json"))) as? [String: Any]
        let adaptation = sidecar?["adaptation"] as? [String: Any]
        #expect(sidecar?["method"] as? String == "self-supervised" && adaptation?["steps"] as? Int == 20)
        #expect(adaptation?["finalLoss"] as? Double != nil && adaptation?["seconds"] as? Double != nil)
        // Data consistency with the thickness trained on, recorded; the slices' residual shrank.
        let consistency = sidecar?["consistency"] as? [String: Any]
        #expect(consistency?["iterations"] as? Int == 3 && consistency?["sliceThickness"] as? Double == 4, "\(String(describing: consistency))")
        if let before = consistency?["residualBefore"] as? Double, let after = consistency?["residualAfter"] as? Double {
            #expect(after < 0.1 * before, "residual \(before) -> \(after)")
        } else {
            Issue.record("no consistency residuals in the sidecar")
        }
        #expect(r.stderr.contains("data consistency (4 mm rectangular slices): 3 steps"), "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: saved + "/MODEL_CARD.md"))
        let listed = try runUpres(["models", "--json"], environment: ["UPRES_MODELS": models])
        #expect(listed.status == 0 && listed.stdout.contains("\"protocol-a\"") && listed.stdout.contains("\"edsr\""), "\(listed.stdout)")
        // The saved model reconstructs the same scan as it did, without training.
        let again = dir.appendingPathComponent("again.nii.gz").path
        #expect(try runUpres(["upsample", lr, again, "--model", saved, "--quiet"]).status == 0)
        let d = try runUpres(["evaluate", "--reference", out, "--test", again, "--metrics", "mae", "--json"])
        let rows = try JSONSerialization.jsonObject(with: Data(d.stdout.utf8)) as? [[String: Any]]
        let mae = ((rows?.first?["metrics"] as? [String: Any])?["image"] as? [String: Any])?["mae"] as? Double
        #expect(mae != nil && mae! < 1e-4, "\(d.stdout)")
        // Without data consistency the same network gives another volume, and says so in its sidecar.
        let off = dir.appendingPathComponent("off.nii.gz").path
        #expect(try runUpres(["upsample", lr, off, "--model", saved, "--consistency", "0", "--quiet"]).status == 0)
        let offSidecar = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("off.json"))) as? [String: Any]
        #expect(offSidecar?["consistency"] == nil)
        let o = try runUpres(["evaluate", "--reference", out, "--test", off, "--metrics", "mae", "--json"])
        let offRows = try JSONSerialization.jsonObject(with: Data(o.stdout.utf8)) as? [[String: Any]]
        let offMAE = ((offRows?.first?["metrics"] as? [String: Any])?["image"] as? [String: Any])?["mae"] as? Double
        #expect(offMAE != nil && offMAE! > 1e-3, "\(o.stdout)")
        // No silent overwrite of the saved model.
        let refused = try runUpres(["upsample", lr, dir.appendingPathComponent("third.nii.gz").path, "--self-supervised",
                                    "--slice-thickness", "4", "--adapt-steps", "2", "--save-model", saved, "--quiet"])
        #expect(refused.status != 0 && refused.stderr.contains("already holds a model"))
    }

    /// Without --slice-thickness, on a scan whose thickness the spectral fit cannot place (this
    /// 64^3 crop of Colin 27 with 4 mm coronal slices every 4 mm: the fit says 5.2 mm), the pairs
    /// span 80% of the spacing up to contiguous slices; upsample warns, leaves data consistency
    /// off, and the sidecar, the saved model's card and `upres models` say what it trained on.
    @Test func anUnknownThicknessTrainsAcrossGaps() throws {
        let dir = try scratch()
        let lr = try coronalScan(dir)
        let models = dir.appendingPathComponent("models").path
        let saved = dir.appendingPathComponent("models/unknown").path
        let r = try runUpres(["upsample", lr, dir.appendingPathComponent("sr.nii.gz").path, "--self-supervised", "--adapt-steps", "5",
                              "--adapt-batch", "2", "--save-model", saved, "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("could not be estimated reliably") && r.stderr.contains("training across 3.2 to 4 mm slices"), "\(r.stderr)")
        #expect(r.stderr.contains("no data consistency with an assumed slice thickness"), "\(r.stderr)")
        let sidecar = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("sr.json"))) as? [String: Any]
        let adaptation = sidecar?["adaptation"] as? [String: Any]
        #expect(adaptation?["sliceThicknessRange"] as? [Double] == [3.2, 4] && adaptation?["thicknessAssumed"] as? Bool == true,
                "\(String(describing: adaptation))")
        #expect(sidecar?["consistency"] == nil)
        let card = try String(contentsOfFile: saved + "/MODEL_CARD.md", encoding: .utf8)
        #expect(card.contains("3.2 to 4 mm thick (the thickness unknown"), "\(card)")
        let listed = try runUpres(["models"], environment: ["UPRES_MODELS": models])
        #expect(listed.stdout.contains("trained across 3.2 to 4 mm slices: thickness unknown"), "\(listed.stdout)")
    }

    /// A 64 x 64 x 64 crop of Colin 27 acquired as 4 mm coronal slices every 4 mm (factor 4):
    /// `dir`/lr.nii.gz.
    func coronalScan(_ dir: URL) throws -> String {
        let hr = dir.appendingPathComponent("hr.nii.gz").path
        let lr = dir.appendingPathComponent("lr.nii.gz").path
        #expect(try runUpres(["resample", colin, hr, "--shape", "64", "64", "64"]).status == 0)
        #expect(try runUpres(["simulate", hr, lr, "--model", "slices", "--axis", "coronal", "--thickness", "4", "--slice-spacing", "4"]).status == 0)
        return lr
    }

    /// A 4-D sample file.
    func anatomical4D(_ dir: URL) -> String {
        packageRoot.appendingPathComponent("data/samples/nibabel-corpus/example4d.nii.gz").path
    }
}

@Suite struct VolumeRestorationCommandTests {
    /// A 3-D model from `upres train` (a few steps of a tiny mDCSRN on k-space-truncated pairs of
    /// a synthetic head, with balanced sampling) restores a truncated volume through `upres
    /// upsample --model` on its own grid, with the patch size and k-space data consistency in the
    /// sidecar; what does not fit gets one message and no file.
    @Test func aThreeDimensionalModelRestoresThroughUpsample() throws {
        let dir = try scratch()
        // A synthetic 1 mm head: a bright ball with a darker core and fine stripes.
        let n = 28
        var values = [Float](repeating: 0, count: n * n * n)
        for i in 0..<n { for j in 0..<n { for k in 0..<n {
            let r = ((Double(i) - 13.5) * (Double(i) - 13.5) + (Double(j) - 13.5) * (Double(j) - 13.5) + (Double(k) - 13.5) * (Double(k) - 13.5)).squareRoot()
            values[(i * n + j) * n + k] = r < 12 ? Float(r < 6 ? 60 : 100 + 20 * sin(Double(i + 2 * k))) : 0
        } } }
        let hr = dir.appendingPathComponent("hr.nii.gz")
        try NIfTI.write(Volume(data: try Tensor(values, shape: [n, n, n]), affine: .identity), to: hr)
        var region = [Float](repeating: 0, count: n * n * n)
        for i in 0..<(n * n * 8) { region[i] = 1 }
        let mask = dir.appendingPathComponent("region.nii.gz")
        try NIfTI.write(Volume(data: try Tensor(region, shape: [n, n, n]), affine: .identity), to: mask)
        let config = dir.appendingPathComponent("mdcsrn.json")
        try Data("""
            {"name": "tiny-mdcsrn", "steps": 3, "batchSize": 2, "learningRate": 0.001, "warmupSteps": 0, "logEvery": 1,
             "validateEvery": 3, "checkpointEvery": 3,
             "model": {"architecture": "mdcsrn", "features": 4, "growth": 2, "blocks": 1, "units": 2},
             "task": {"sliceSpacing": 1, "targetSpacing": 1, "contrast": "T1w", "normalizationPercentiles": [1, 99], "clipsIntensities": false},
             "data": {"trainVolumes": ["\(hr.path)"], "patchWidth": 12, "validationPatches": 2,
                      "simulation": {"preset": "kspace-3d-x4", "seed": 0, "model": {"kspace": {"factor": 4, "axes": [0, 1, 2], "mode": "3d", "planeNormal": "axial", "window": {"none": {}}, "reducedMatrix": false}}},
                      "balance": {"mask": "\(mask.path)", "fraction": 0.5}}}
            """.utf8).write(to: config)
        let run = dir.appendingPathComponent("run").path
        let trained = try runUpres(["train", "--config", config.path, "--out", run, "--quiet"])
        #expect(trained.status == 0, "\(trained.stderr)")
        let model = run + "/model.safetensors"
        let lr = dir.appendingPathComponent("lr.nii.gz").path
        #expect(try runUpres(["simulate", hr.path, lr, "--preset", "kspace-3d-x4"]).status == 0)
        let out = dir.appendingPathComponent("restored.nii.gz").path
        let r = try runUpres(["upsample", lr, out, "--model", model, "--memory", "1", "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("28x28x28 at 1x1x1 mm"))
        let sidecar = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("restored.json"))) as? [String: Any]
        #expect(sidecar?["throughPlaneAxis"] as? Int == -1 && (sidecar?["patch"] as? Int ?? 0) >= 12)
        // Trained on k-space pairs, the model states its truncation, and the output gets the
        // input's acquired band back (k-space data consistency) unless --consistency 0.
        let task = sidecar?["modelTask"] as? [String: Any]
        #expect((task?["kspace"] as? [String: Any])?["factor"] as? Double == 4)
        let dc = sidecar?["kspaceConsistency"] as? [String: Any]
        #expect(dc != nil && (dc?["residualAfter"] as? Double ?? 1) < (dc?["residualBefore"] as? Double ?? 0), "\(String(describing: dc))")
        let off = dir.appendingPathComponent("off.nii.gz").path
        #expect(try runUpres(["upsample", lr, off, "--model", model, "--consistency", "0", "--quiet"]).status == 0)
        let offSidecar = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("off.json"))) as? [String: Any]
        #expect(offSidecar != nil && offSidecar?["kspaceConsistency"] == nil)
        // A 2 mm volume, per-scan training and flips are refused, naming what fits.
        let coarse = dir.appendingPathComponent("coarse.nii.gz").path
        #expect(try runUpres(["resample", lr, coarse, "--spacing", "2"]).status == 0)
        for (arguments, message) in [([coarse, dir.appendingPathComponent("a.nii.gz").path, "--model", model], "restores volumes of 1 mm voxels"),
                                     ([lr, dir.appendingPathComponent("b.nii.gz").path, "--model", model, "--adapt"], "3-D model"),
                                     ([lr, dir.appendingPathComponent("c.nii.gz").path, "--model", model, "--test-time-flips"], "3-D model")] {
            let bad = try runUpres(["upsample"] + arguments)
            #expect(bad.status != 0 && bad.stderr.contains(message), "\(arguments): \(bad.stderr)")
            #expect(!FileManager.default.fileExists(atPath: arguments[1]))
        }
    }
}
