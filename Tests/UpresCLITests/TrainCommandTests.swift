import Foundation
import Testing

@Suite struct TrainCommandTests {
    /// A tiny EDSR for factor 6 in YAML, trained from a paired dataset.
    func yaml(manifest: String, steps: Int = 2) -> String {
        """
        name: tiny
        steps: \(steps)
        batchSize: 2
        logEvery: 1
        validateEvery: 2
        checkpointEvery: 2
        model: {architecture: edsr, inChannels: 3, outChannels: 1, features: 4, blocks: 1, residualScale: 0.1, factor: 6, upsampleFeatures: 2}
        data:
          manifest: \(manifest)
          validationPatches: 2
        """
    }

    /// A one-channel thick-row model trained on planes of a thin-voxel volume (MNI152, shrunk),
    /// degraded on the fly with random tissue contrasts, as the shipped any-contrast models are;
    /// the result reconstructs a factor-3 scan, and a contradicting config is refused.
    @Test func trainsOnDegradedPlanesWithContrastAugmentation() throws {
        let dir = try scratch()
        let mni = packageRoot.appendingPathComponent("data/samples/mni152/mni152_2009a_t1_1mm.nii.gz").path
        let small = dir.appendingPathComponent("mni64.nii.gz").path
        #expect(try runUpres(["resample", mni, small, "--shape", "64", "64", "64"]).status == 0)
        let config = dir.appendingPathComponent("planes.yaml")
        func yaml(_ volume: String) -> String {
            """
            name: planes
            steps: 4
            batchSize: 2
            logEvery: 1
            validateEvery: 4
            checkpointEvery: 4
            model: {architecture: edsr, inChannels: 1, outChannels: 1, features: 4, blocks: 1, residualScale: 0.1, factor: 3, upsampleFeatures: 2}
            task: {sliceSpacing: 3, targetSpacing: 1, contrast: any, normalizationPercentiles: [1, 99], clipsIntensities: false, factors: [3, 3]}
            data:
              trainVolumes: [\(volume)]
              patchWidth: 24
              validationPatches: 2
              degradation: {spacing: [9], thicknessRatio: [0.6, 1], profiles: [rectangular, gaussian]}
              contrastAugmentation: true
            """
        }
        // 64^3 voxels over MNI152's 197 x 233 x 189 mm are not cubes: refused, naming the volume.
        try yaml(small).write(to: config, atomically: true, encoding: .utf8)
        let run = dir.appendingPathComponent("run").path
        let r = try runUpres(["train", "--config", config.path, "--out", run, "--quiet"])
        #expect(r.status != 0 && r.stderr.contains("mni64.nii.gz: training planes need isotropic voxels"), "\(r.stderr)")
        // 3 mm cubes with 9 mm slices: factor 3.
        let iso = dir.appendingPathComponent("iso.nii.gz").path
        #expect(try runUpres(["resample", mni, iso, "--spacing", "3"]).status == 0)
        try yaml(iso).write(to: config, atomically: true, encoding: .utf8)
        let ok = try runUpres(["train", "--config", config.path, "--out", run, "--quiet"])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(FileManager.default.fileExists(atPath: run + "/model.safetensors"))
        let lr = dir.appendingPathComponent("lr.nii.gz").path
        #expect(try runUpres(["simulate", colin, lr, "--model", "slices", "--axis", "axial", "--thickness", "3", "--slice-spacing", "3"]).status == 0)
        let sr = try runUpres(["upsample", lr, dir.appendingPathComponent("sr.nii.gz").path, "--model", run + "/model.safetensors", "--quiet"])
        #expect(sr.status == 0 && sr.stdout.contains("181x217x180"), "\(sr.stderr)")
    }

    /// The configurations under configs/, and the arguments that train one of them on the sample
    /// MNI152 with `settings` (`--set` pairs) on top; the perceptual loss's feature network from
    /// the package's models/ whatever the working directory.
    func seedConfigurations() throws -> [String] {
        let configs = try FileManager.default.contentsOfDirectory(atPath: packageRoot.appendingPathComponent("configs").path)
            .filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(configs.count >= 2)
        return configs
    }

    func trainArguments(_ name: String, run: String, _ settings: [String: String]) throws -> [String] {
        let mni = packageRoot.appendingPathComponent("data/samples/mni152/mni152_2009a_t1_1mm.nii.gz").path
        var args = ["train", "--config", packageRoot.appendingPathComponent("configs/\(name)").path, "--out", run, "--quiet",
                    "--set", "data.trainVolumes=[\"\(mni)\"]", "--set", "data.validationVolumes=[\"\(mni)\"]"]
        for (k, v) in settings.sorted(by: { $0.key < $1.key }) { args += ["--set", "\(k)=\(v)"] }
        let text = try String(contentsOf: packageRoot.appendingPathComponent("configs/\(name)"), encoding: .utf8)
        if text.contains("critic: models/") {
            args += ["--set", "perceptual.critic=\(packageRoot.appendingPathComponent("models/attention-unet/critic.safetensors").path)"]
        }
        return args
    }

    /// Every network's configuration under configs/ trains as it is written (architectures,
    /// critics, losses, schedules), shortened with --set to three steps with the critic from the
    /// first: the log carries each term and the critic's loss, and the run ends with the model
    /// and the critic.
    @Test func theSeedConfigurationsTrain() throws {
        for name in try seedConfigurations() {
            let run = try scratch().appendingPathComponent("run").path
            let r = try runUpres(try trainArguments(name, run: run, [
                "steps": "3", "batchSize": "2", "adversarial.startStep": "1", "logEvery": "1", "validateEvery": "3",
                "checkpointEvery": "3", "data.validationPatches": "2"]))
            #expect(r.status == 0, "\(name): \(r.stderr)")
            let log = try String(contentsOfFile: run + "/log.jsonl", encoding: .utf8)
            #expect(log.contains("train/critic/loss") && log.contains("train/loss/adversarial") && log.contains("train/loss/l1"), "\(name)")
            for file in ["model.safetensors", "critic.safetensors"] {
                #expect(FileManager.default.fileExists(atPath: run + "/" + file), "\(name): \(file)")
            }
        }
    }

    /// A short run of every configuration under configs/, as written (networks, losses, critic and
    /// its steps, schedule, optimizer) but for the length, the batch (2) and, for the two U-Nets,
    /// the patch size (32), so that the suite stays fast: 200 steps, pixel losses first and the
    /// critic from half way, as the configs schedule it. Each learns: its validation L1 (fixed
    /// patches, every 40 steps) ends below the first one's, through the GAN half, and the
    /// critic's loss stays finite.
    @Test func theSeedConfigurationsLearnInAShortRun() throws {
        let steps = 200
        // Smaller patches where the network and its critic allow (real-esrgan's perceptual
        // features come from a critic of fixed 64 x 64 input; mdcsrn's 24^3 patches are already
        // small, and at 16^3 its receptive field leaves too little of each patch to learn from).
        let patches: [String: [String: String]] = [
            "attention-unet.yaml": ["data.patchWidth": "32", "adversarial.critic.patch": "[32, 32]"],
            "residual-attention-unet.yaml": ["data.patchWidth": "32"],
        ]
        for name in try seedConfigurations() {
            let run = try scratch().appendingPathComponent("run").path
            let started = Date()
            let r = try runUpres(try trainArguments(name, run: run, [
                "steps": "\(steps)", "batchSize": "2", "adversarial.startStep": "\(steps / 2)", "warmupSteps": "10", "logEvery": "10",
                "validateEvery": "40", "checkpointEvery": "\(steps)", "data.validationPatches": "8"].merging(patches[name] ?? [:]) { $1 }))
            #expect(r.status == 0, "\(name): \(r.stderr)")
            var validation: [(Int, Double)] = [], critic: [Double] = []
            for line in try String(contentsOfFile: run + "/log.jsonl", encoding: .utf8).split(separator: "\n") {
                let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                if let step = o["step"] as? Int, let l1 = o["val/l1"] as? Double { validation.append((step, l1)) }
                if let c = o["train/critic/loss"] as? Double { critic.append(c) }
            }
            let seconds = Date().timeIntervalSince(started)
            print("\(name): validation L1 \(validation.map { String(format: "%d:%.5f", $0.0, $0.1) }.joined(separator: " ")), \(String(format: "%.0f", seconds)) s")
            #expect(validation.count == steps / 40, "\(name): \(validation)")
            guard let first = validation.first?.1, let last = validation.last?.1 else { continue }
            #expect(last < first, "\(name): validation L1 \(validation)")
            #expect(!critic.isEmpty && critic.allSatisfy(\.isFinite), "\(name): critic \(critic)")
        }
    }

    @Test func trainsFromAPairedDatasetWithAYAMLConfig() throws {
        let dir = try scratch()
        let ds = dir.appendingPathComponent("ds").path
        let sim = try runUpres(["simulate", "--dataset", ds, colin, "--preset", "thick-5-6", "--direction", "axial", "coronal",
                                "--split", "1", "0", "0"])
        #expect(sim.status == 0, "\(sim.stderr)")
        let config = dir.appendingPathComponent("tiny.yaml")
        try yaml(manifest: ds + "/manifest.json").write(to: config, atomically: true, encoding: .utf8)
        let run = dir.appendingPathComponent("run").path
        let r = try runUpres(["train", "--config", config.path, "--out", run, "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("model.safetensors: best validation L1"))
        for f in ["config.json", "log.jsonl", "checkpoint.safetensors", "best.safetensors", "model.safetensors"] {
            #expect(FileManager.default.fileExists(atPath: run + "/" + f), "\(f)")
        }
        // The run's config.json is the YAML with every default filled in, and it reads back.
        let saved = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/config.json"))) as? [String: Any]
        let data = try #require(saved?["data"] as? [String: Any])
        #expect(data["manifest"] as? String == ds + "/manifest.json" && data["patchWidth"] as? Int == 48)
        let lines = try String(contentsOfFile: run + "/log.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count >= 3 && lines.contains { $0.contains("\"val/psnr\"") })

        // TensorBoard's own loader reads the event files: the same scalars as log.jsonl, and images.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", packageRoot.appendingPathComponent("Tests/Fixtures/read_tensorboard.py").path, run + "/tb"]
        let pipe = Pipe(), errors = Pipe()
        p.standardOutput = pipe
        p.standardError = errors
        try p.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "TensorBoard's reader failed (run scripts/bootstrap): \(stderr)")
        let tb = try #require(try JSONSerialization.jsonObject(with: output) as? [String: [String: [[Double]]]])
        var logged: [String: [[Double]]] = [:]
        for line in lines {
            let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let step = try #require(o["step"] as? Double)
            for (k, v) in o where k != "step" && k != "time" { logged[k, default: []].append([step, try #require(v as? Double)]) }
        }
        let scalars = try #require(tb["scalars"])
        #expect(Set(scalars.keys) == Set(logged.keys), "\(scalars.keys) vs \(logged.keys)")
        for (tag, points) in logged {
            let read = try #require(scalars[tag])
            #expect(read.count == points.count, "\(tag)")
            for (a, b) in zip(read, points) {
                #expect(a[0] == b[0] && abs(a[1] - b[1]) <= 1e-6 * max(1, abs(b[1])), "\(tag): \(a) vs \(b)")
            }
        }
        let images = try #require(tb["images"])
        #expect(Set(images.keys) == ["val/sr", "val/hr"])
        #expect(images["val/sr"]?.allSatisfy { $0[1] > 0 && $0[2] > 0 && $0[3] > 100 } == true)
    }

    @Test func pairsOffTheThickGridAndBadConfigsFailClearly() throws {
        let dir = try scratch()
        let ds = dir.appendingPathComponent("ds").path
        let sim = try runUpres(["simulate", "--dataset", ds, colin, "--preset", "kspace-x4", "--split", "1", "0", "0"])
        #expect(sim.status == 0, "\(sim.stderr)")
        let config = dir.appendingPathComponent("tiny.yaml")
        try yaml(manifest: ds + "/manifest.json").write(to: config, atomically: true, encoding: .utf8)
        let r = try runUpres(["train", "--config", config.path, "--out", dir.appendingPathComponent("run").path])
        #expect(r.status == 1 && r.stderr.contains("(setting kspace-x4)") && r.stderr.contains("native thick grid"), "\(r.stderr)")

        let typo = dir.appendingPathComponent("typo.json")
        try Data(#"{"steps": 2, "data": {"trainVolumes": ["x.nii.gz"], "patchwidth": 8}}"#.utf8).write(to: typo)
        let t = try runUpres(["train", "--config", typo.path, "--out", dir.appendingPathComponent("run2").path])
        #expect(t.status == 1 && t.stderr.contains("field data.patchwidth: unknown field 'patchwidth'"), "\(t.stderr)")
        let empty = dir.appendingPathComponent("empty.json")
        try Data("{}".utf8).write(to: empty)
        let e = try runUpres(["train", "--config", empty.path, "--out", dir.appendingPathComponent("run4").path])
        #expect(e.status == 1 && e.stderr.contains("neither data.manifest nor data.trainVolumes"), "\(e.stderr)")
        let wrongType = dir.appendingPathComponent("type.yaml")
        try "steps: many\n".write(to: wrongType, atomically: true, encoding: .utf8)
        let w = try runUpres(["train", "--config", wrongType.path, "--out", dir.appendingPathComponent("run3").path])
        #expect(w.status == 1 && w.stderr.contains("type.yaml: field steps"), "\(w.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("run2").path))
    }

    /// Ctrl-C between checkpoints: a GAN run (a tiny EDSR against a PatchGAN critic under WGAN-GP,
    /// two critic steps per model step) sent SIGINT mid-run saves its state at the step it reached,
    /// says how to continue, and `upres train --resume` finishes it; the finished checkpoint (both
    /// networks, both optimizers, the schedule and every random stream) is byte for byte the one of
    /// a run never interrupted, and so are the losses logged after the stop.
    @Test func aGANRunStoppedByCtrlCBetweenCheckpointsResumesBitIdentically() throws {
        let dir = try scratch()
        let mni = packageRoot.appendingPathComponent("data/samples/mni152/mni152_2009a_t1_1mm.nii.gz").path
        let iso = dir.appendingPathComponent("iso.nii.gz").path
        #expect(try runUpres(["resample", mni, iso, "--spacing", "3"]).status == 0)
        let steps = 80
        let config = dir.appendingPathComponent("gan.yaml")
        try """
            name: gan
            steps: \(steps)
            batchSize: 2
            seed: 3
            logEvery: 1
            validateEvery: 40
            checkpointEvery: 1000
            model: {architecture: edsr, inChannels: 1, outChannels: 1, features: 4, blocks: 1, residualScale: 0.1, factor: 3, upsampleFeatures: 2}
            task: {sliceSpacing: 3, targetSpacing: 1, contrast: any, normalizationPercentiles: [1, 99], clipsIntensities: false, factors: [3, 3]}
            losses: {l1: 1}
            adversarial:
              critic: {architecture: patchgan, features: 4, layers: 2}
              loss: wasserstein
              weight: 0.01
              criticSteps: 2
              gradientPenalty: 10
              learningRate: 0.0001
              betas: [0, 0.9]
              startStep: 1
            data:
              trainVolumes: [\(iso)]
              patchWidth: 24
              validationPatches: 2
              degradation: {spacing: [9], thicknessRatio: [0.6, 1], profiles: [rectangular, gaussian]}
            """.write(to: config, atomically: true, encoding: .utf8)
        let whole = dir.appendingPathComponent("whole").path
        let w = try runUpres(["train", "--config", config.path, "--out", whole, "--quiet"])
        #expect(w.status == 0, "\(w.stderr)")

        // The same run, interrupted as Ctrl-C does once it has logged a few steps.
        let split = dir.appendingPathComponent("split").path
        let p = Process()
        p.executableURL = upresBinary()
        p.arguments = ["train", "--config", config.path, "--out", split, "--quiet"]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            let lines = (try? String(contentsOfFile: split + "/log.jsonl", encoding: .utf8))?.split(separator: "\n").count ?? 0
            if lines >= 5 { break }
            usleep(5_000)
        }
        p.interrupt()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(stderr)")
        let match = try #require(stdout.firstMatch(of: /stopped at step (\d+) of \d+; continue with upres train --resume/), "\(stdout) \(stderr)")
        let stoppedAt = try #require(Int(match.1))
        #expect(stoppedAt >= 5 && stoppedAt < steps, "stopped at \(stoppedAt)")
        #expect(!FileManager.default.fileExists(atPath: split + "/model.safetensors"), "a stopped run has no final model yet")

        let r = try runUpres(["train", "--resume", split, "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        for file in ["checkpoint.safetensors", "model.safetensors", "critic.safetensors"] {
            let a = try Data(contentsOf: URL(fileURLWithPath: whole + "/" + file))
            let b = try Data(contentsOf: URL(fileURLWithPath: split + "/" + file))
            let same = a == b
            #expect(same, "\(file) differs after a stop at step \(stoppedAt)")
        }
        func losses(_ run: String) throws -> [Int: Double] {
            var out: [Int: Double] = [:]
            for line in try String(contentsOfFile: run + "/log.jsonl", encoding: .utf8).split(separator: "\n") {
                let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                if let step = o["step"] as? Int, let loss = o["train/loss"] as? Double { out[step] = loss }
            }
            return out
        }
        let (a, b) = (try losses(whole), try losses(split))
        #expect(a.count == steps && b.count == steps, "\(a.count) and \(b.count) logged steps")
        for step in (stoppedAt + 1)...steps { #expect(a[step] == b[step], "step \(step): \(String(describing: a[step])) vs \(String(describing: b[step]))") }
    }
}
