import Foundation
import Imaging
import Testing
import Torch

let mni = packageRoot.appendingPathComponent("data/samples/mni152/mni152_2009a_t1_1mm.nii.gz").path

@Suite struct DegradeCommandTests {
    /// A short run end to end: the kernel file (metadata, provenance with the scan's SHA-256),
    /// its PNG, the progress line, then `simulate --kernel` with it; no overwrite without --force.
    @Test func learnWritesAKernelItsPictureAndSimulateUsesIt() throws {
        let dir = try scratch()
        // MNI152's axial slices 70 to 99 (30 slices keep the test short).
        var v = try NIfTI.readVolume(URL(fileURLWithPath: mni))
        v.data = try v.data.narrow(2, start: 70, length: 30)
        let mni = dir.appendingPathComponent("mni_slab.nii.gz").path
        try NIfTI.write(v, to: URL(fileURLWithPath: mni))
        let kernel = dir.appendingPathComponent("k.safetensors").path
        let r = try runUpres(["degrade", "learn", mni, "-o", kernel, "--iterations", "20", "--width", "8", "--patch", "32",
                              "--batch", "2", "--seed", "5"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("13x13 kernel, factor 2"), "\(r.stdout)")
        #expect(r.stderr.contains("[20/20] G ") && r.stderr.contains("ETA"), "\(r.stderr)")
        let png = dir.appendingPathComponent("k.png").path
        #expect(FileManager.default.fileExists(atPath: png))
        let k = try DegradationKernel(contentsOf: URL(fileURLWithPath: kernel))
        #expect(k.size == 13 && k.factor == 2 && abs(k.sum - 1) < 1e-9)
        let p = try #require(k.provenance)
        #expect(p.iterations == 20 && p.seed == 5 && p.scans.first?.sha256.count == 64 && p.scans.first?.path == mni)
        #expect(p.finalLosses["bicubic"] != nil)
        let contents = try Safetensors.read(URL(fileURLWithPath: kernel))
        #expect(contents.metadata["convention"]?.contains("rows run along the lower-numbered in-plane voxel axis") == true)

        // Same seed, same kernel (deterministic on the CPU).
        let again = dir.appendingPathComponent("k2.safetensors").path
        #expect(try runUpres(["degrade", "learn", mni, "-o", again, "--iterations", "20", "--width", "8", "--patch", "32",
                              "--batch", "2", "--seed", "5"]).status == 0)
        #expect(try DegradationKernel(contentsOf: URL(fileURLWithPath: again)).weights == k.weights)

        let before = try Data(contentsOf: URL(fileURLWithPath: kernel))
        let refused = try runUpres(["degrade", "learn", mni, "-o", kernel, "--iterations", "2"])
        #expect(refused.status != 0 && refused.stderr.contains("already exists; pass --force"), "\(refused.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: kernel)) == before)

        let lr = dir.appendingPathComponent("lr.nii.gz").path
        let sim = try runUpres(["simulate", mni, lr, "--kernel", kernel, "--axis", "axial", "--hr-grid", dir.appendingPathComponent("back.nii.gz").path])
        #expect(sim.status == 0, "\(sim.stderr)")
        #expect(sim.stdout.contains("99x117x30 at 2x2x1 mm"), "\(sim.stdout)")
        let sidecar = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("lr.json"))) as? [String: Any]
        let model = try #require((sidecar?["settings"] as? [String: Any])?["model"] as? [String: Any])
        let km = try #require(model["kernel"] as? [String: Any])
        #expect(km["source"] as? String == kernel && (km["sourceSHA256"] as? String)?.count == 64)
        #expect(((km["kernel"] as? [String: Any])?["weights"] as? [Double])?.count == 169)
    }

    /// Each bad input: one clear message naming the file, a non-zero exit, nothing written.
    @Test func badInputsFailClearlyAndWriteNothing() throws {
        let dir = try scratch()
        func write(_ name: String, _ data: Tensor) throws -> String {
            let url = dir.appendingPathComponent(name)
            try NIfTI.write(Volume(data: data, affine: .identity), to: url)
            return url.path
        }
        var nan = [Float](repeating: 1, count: 40 * 40 * 10)
        nan[17] = .nan
        let inputs = dir.appendingPathComponent("in")
        try FileManager.default.createDirectory(at: inputs, withIntermediateDirectories: true)
        let cases: [([String], String)] = [
            ([dir.appendingPathComponent("missing.nii.gz").path], "missing.nii.gz: no such file"),
            ([try write("in/nan.nii.gz", Tensor(nan, shape: [40, 40, 10]))], "nan.nii.gz: 1 voxels are NaN or infinite"),
            ([try write("in/flat.nii.gz", Tensor.rand([40, 40]))], "flat.nii.gz: expected a 3-D volume, got shape [40, 40]"),
            ([try write("in/series.nii.gz", Tensor.rand([40, 40, 10, 3]))], "series.nii.gz: expected a 3-D volume, got shape [40, 40, 10, 3]"),
            ([try write("in/small.nii.gz", Tensor.rand([20, 40, 10]))], "small.nii.gz: its 20x40 slices (normal to voxel axis 2) are smaller than the 64x64 patches"),
            ([try write("in/empty.nii.gz", Tensor.zeros([70, 70, 4]))], "empty.nii.gz: holds no signal"),
            ([mni, "--patch", "16"], "patch 16 is too small"),
            ([mni, "--axis", "oblique"], "--axis 'oblique': expected axial, coronal, sagittal, 0, 1 or 2"),
        ]
        let out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        for (args, message) in cases {
            let r = try runUpres(["degrade", "learn"] + args + ["-o", out.appendingPathComponent("k.safetensors").path, "--iterations", "2"])
            #expect(r.status != 0 && r.stderr.contains(message), "\(args): \(r.stderr)")
            #expect(r.stderr.components(separatedBy: "Error:").count == 2, "\(args): one error message, got \(r.stderr)")
        }
        let wrongName = try runUpres(["degrade", "learn", mni, "-o", out.appendingPathComponent("k.nii").path])
        #expect(wrongName.status != 0 && wrongName.stderr.contains("expected a .safetensors file name"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).isEmpty)
        // A file that is not a kernel, given to simulate.
        let notKernel = dir.appendingPathComponent("weights.safetensors").path
        try Safetensors.write([("w", Tensor.zeros([3]))], metadata: [:], to: URL(fileURLWithPath: notKernel))
        let sim = try runUpres(["simulate", mni, out.appendingPathComponent("lr.nii.gz").path, "--kernel", notKernel])
        #expect(sim.status != 0 && sim.stderr.contains("weights.safetensors: metadata.format: expected 'upres.degradation-kernel'"), "\(sim.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).isEmpty)
    }

    /// Seed 003's second stage end to end: `upres train` on pairs made with a kernel file
    /// (data.kernel) records the in-plane task in the model, `upres simulate --kernel` makes a
    /// scan degraded that way, and `upres upsample --model` restores it onto the refined grid.
    /// Wrong combinations fail naming the field.
    @Test func aModelTrainedOnKernelPairsRestoresScansDegradedThatWay() throws {
        let dir = try scratch()
        var v = try NIfTI.readVolume(URL(fileURLWithPath: mni))
        v.data = try v.data.narrow(2, start: 70, length: 12)
        let slab = dir.appendingPathComponent("mni_slab.nii.gz").path
        try NIfTI.write(v, to: URL(fileURLWithPath: slab))
        let kernel = dir.appendingPathComponent("k.safetensors")
        try DegradationKernel.gaussian(sigma: [1.6, 0.9], size: 13, factor: 2).write(to: kernel)
        let config: [String: Any] = [
            "name": "in-plane", "steps": 4, "batchSize": 2, "logEvery": 2, "validateEvery": 2, "checkpointEvery": 4, "losses": ["l1": 1],
            "model": ["architecture": "attention-unet", "features": 4, "depth": 2, "residualChannel": 0, "finalActivation": "identity"],
            "task": ["contrast": "T1w", "targetSpacing": 1, "sliceSpacing": 1, "clipsIntensities": false, "normalizationPercentiles": [1, 99]],
            "data": ["trainVolumes": [slab], "kernel": ["file": kernel.path], "directions": [2], "patchWidth": 32, "validationPatches": 4, "rotations": true]]
        let configPath = dir.appendingPathComponent("config.json").path
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configPath))
        let run = dir.appendingPathComponent("run").path
        let trained = try runUpres(["train", "--config", configPath, "--out", run])
        #expect(trained.status == 0, "\(trained.stderr)")
        #expect(trained.stderr.contains("degraded in-plane by learned kernel k.safetensors (x2)"), "\(trained.stderr)")
        let contents = try Safetensors.read(URL(fileURLWithPath: run + "/model.safetensors"))
        let task = try #require(try JSONSerialization.jsonObject(with: Data((contents.metadata["upres.task"] ?? "").utf8)) as? [String: Any])
        let inPlane = try #require(task["inPlane"] as? [String: Any])
        #expect(inPlane["factor"] as? Int == 2 && (inPlane["kernelSHA256"] as? String)?.count == 64)

        // `upres models` tells the in-plane task (a models folder holding the run).
        let listed = try runUpres(["models"], environment: ["UPRES_MODELS": dir.path])
        #expect(listed.stdout.contains("run\n") && listed.stdout.contains("in-plane x2 to 1 mm (slices degraded by learned kernel k.safetensors)"), "\(listed.stdout)")

        let lr = dir.appendingPathComponent("lr.nii.gz").path
        #expect(try runUpres(["simulate", slab, lr, "--kernel", kernel.path, "--axis", "axial"]).status == 0)
        let out = dir.appendingPathComponent("out.nii.gz").path
        let up = try runUpres(["upsample", lr, out, "--model", run + "/model.safetensors"])
        #expect(up.status == 0, "\(up.stderr)")
        #expect(up.stdout.contains("198x234x12 at 1x1x1 mm"), "\(up.stdout)")
        let sidecar = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("out.json"))) as? [String: Any])
        #expect(sidecar["method"] as? String == "model" && sidecar["throughPlaneAxis"] as? Int == 2)

        // upres explain draws its maps on the restored slices: the reconstruction is upsample's.
        let explained = dir.appendingPathComponent("explain").path
        let ex = try runUpres(["explain", lr, explained, "--model", run + "/model.safetensors"])
        #expect(ex.status == 0, "\(ex.stderr)")
        #expect(ex.stdout.contains("disagreement-flips.nii.gz") && !ex.stdout.contains("disagreement-directions"), "\(ex.stdout)")
        let restored = try NIfTI.readVolume(URL(fileURLWithPath: out)), same = try NIfTI.readVolume(URL(fileURLWithPath: explained + "/reconstruction.nii.gz"))
        let difference = try (same.data - restored.data).abs().max().item()
        #expect(same.grid == restored.grid && difference == 0)
        let mixedKinds = try runUpres(["explain", lr, dir.appendingPathComponent("explain2").path, "--model", run + "/model.safetensors",
                                       "--model", "any-contrast-x2"])
        #expect(mixedKinds.status != 0 && mixedKinds.stderr.contains("do different jobs"), "\(mixedKinds.stderr)")
        // Without the model, the thick-slice job refuses a scan with two coarse axes, naming them.
        let thick = try runUpres(["upsample", lr, dir.appendingPathComponent("t.nii.gz").path, "--adapt-steps", "2"])
        #expect(thick.status != 0 && thick.stderr.contains("axes 0 and 1") && thick.stderr.contains("in-plane model"), "\(thick.stderr)")

        // Refusals: adaptation, a scan at the wrong spacing, a config mixing pair makers.
        let adapt = try runUpres(["upsample", lr, dir.appendingPathComponent("a.nii.gz").path, "--model", run + "/model.safetensors", "--adapt"])
        #expect(adapt.status != 0 && adapt.stderr.contains("restores slices degraded in-plane"), "\(adapt.stderr)")
        let wrong = try runUpres(["upsample", slab, dir.appendingPathComponent("w.nii.gz").path, "--model", run + "/model.safetensors"])
        #expect(wrong.status != 0 && wrong.stderr.contains("the input's voxels are 1 x 1 x 1 mm"), "\(wrong.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("w.nii.gz").path))
        let mixed = try runUpres(["train", "--config", configPath, "--out", dir.appendingPathComponent("run2").path,
                                  "--set", "data.degradation={\"spacing\": [2, 4], \"thicknessRatio\": [0.7, 1], \"profiles\": [\"rectangular\"]}"])
        #expect(mixed.status != 0 && mixed.stderr.contains("leave out data.degradation"), "\(mixed.stderr)")
        let missing = try runUpres(["train", "--config", configPath, "--out", dir.appendingPathComponent("run3").path,
                                    "--set", "data.kernel={\"file\": \"\(dir.path)/none.safetensors\"}"])
        #expect(missing.status != 0 && missing.stderr.contains("data.kernel.file"), "\(missing.stderr)")
    }
}
