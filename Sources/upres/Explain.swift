import ArgumentParser
import Imaging
import SuperResolution
import Torch

import Foundation

/// `upres explain IN OUT_DIR --model M [--model M2 ...] [--critic RUN/critic.safetensors]`.
struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explain a reconstruction: attention maps, critic GradCAM, disagreement maps.",
        discussion: """
            Writes into OUT_DIR, on the reconstruction's grid: reconstruction.nii.gz (the first model, \
            the mean of its two in-plane directions); disagreement-directions.nii.gz (|direction 1 - \
            direction 2| of the first model: where the two directions' slices tell different stories); \
            with several --model, disagreement-models.nii.gz (the per-voxel SD across the models' \
            reconstructions); for an attention-unet model (seed 000), attention.nii.gz (its gate's \
            coefficients at --attention-level: 1 lets the skip features through, 0 suppresses them); \
            with --critic, gradcam.nii.gz (GradCAM of the critic on the reconstruction: where it finds \
            the output unrealistic). For an in-plane model (trained with data.kernel; the input's slices \
            blurred in-plane), the reconstruction is its restoration, the maps are drawn on the slices it \
            restores, and disagreement-flips.nii.gz (|plain - mirrored|: the slices restored as they are \
            and mirrored across their width) takes the place of the directions' map. explain.json lists the files, the models with their SHA-256 and \
            each map's mean, 95th percentile and maximum over the head.
            """)

    @Argument(help: "Input NIfTI (3-D, thick slices).") var input: String
    @Argument(help: "Output folder (created if missing).") var outDir: String
    @Option(help: "Model name or path; repeat for a disagreement map across models.") var model: [String] = []
    @Option(help: "A critic saved by upres train (RUN/critic.safetensors) for GradCAM.") var critic: String?
    @Option(name: .customLong("attention-level"), help: "Attention gate level (0: full resolution).") var attentionLevel: Int = 0
    @Option(help: "Target voxel size in mm.") var spacing: Double = 1
    @Flag(help: "Overwrite files in OUT_DIR.") var force = false
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard !model.isEmpty else { throw ValidationError("give at least one --model (see upres models)") }
        guard spacing > 0, spacing.isFinite else { throw ValidationError("--spacing \(spacing) must be > 0") }
        guard attentionLevel >= 0 else { throw ValidationError("--attention-level \(attentionLevel) must be >= 0") }
    }

    struct Record: Encodable {
        var upresVersion = UpresVersion.string
        var input: String
        var inputSHA256: String
        var models: [[String: String]]
        var critic: String?
        var files: [String: String]
        var summaries: [String: Explanation.MapSummary]
        var seconds: Double
    }

    func run() throws {
        try global.apply()
        let start = Date()
        let folder = URL(fileURLWithPath: outDir)
        let parent = folder.deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: parent.isEmpty ? "." : parent) else {
            throw CLIError("\(outDir): the folder \(parent) does not exist")
        }
        let names = ["reconstruction.nii.gz", "disagreement-directions.nii.gz", "disagreement-flips.nii.gz", "disagreement-models.nii.gz", "attention.nii.gz",
                     "gradcam.nii.gz", "explain.json"]
        if FileManager.default.fileExists(atPath: folder.path) {
            for n in names { try VolumeIO.checkOutput(folder.appendingPathComponent(n).path, force: force) }
        }
        let v = try VolumeIO.read(input).volume
        try VolumeIO.requireScalar(v, input)
        var files: [String: String] = [:], summaries: [String: Explanation.MapSummary] = [:]
        var outputs: [(String, Volume)] = []
        do {
            let models = try model.map { try ModelFile.load(ModelFile.resolve($0)) }
            let critic = try critic.map { try CriticFile.load(URL(fileURLWithPath: $0)) }
            let (first, others) = try Explanation.compare(v, models: models, targetSpacing: spacing) { Console.err($0) }
            let head = first.reconstruction
            outputs.append(("reconstruction", first.reconstruction))
            outputs.append(("disagreement-\(first.kind)", first.disagreement))
            if !others.isEmpty {
                let all = [first.reconstruction] + others
                outputs.append(("disagreement-models", try Explanation.disagreement(all)))
            }
            if let unet = models.first(where: Explanation.hasAttentionGates) {
                Console.err("attention maps of \(unet.name), level \(attentionLevel)")
                outputs.append(("attention", try Explanation.attention(v, model: unet, level: attentionLevel, targetSpacing: spacing)))
            }
            if let critic {
                Console.err("GradCAM of the critic \(self.critic!)")
                outputs.append(("gradcam", try Explanation.criticGradCAM(head, critic: critic, axis: first.report.throughPlaneAxis,
                                                                          normalization: first.report.normalization, inPlane: first.kind == "flips")))
            }
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for (name, volume) in outputs {
                let file = folder.appendingPathComponent("\(name).nii.gz")
                try NIfTI.write(volume, to: file, options: NIfTIWriteOptions(overwrite: force))
                files[name] = file.lastPathComponent
                if name != "reconstruction" { summaries[name] = try Explanation.summarize(volume, region: head) }
            }
            let record = Record(input: input, inputSHA256: try Digest.sha256(file: URL(fileURLWithPath: input)),
                                models: models.map { ["name": $0.name, "architecture": $0.spec.architecture, "sha256": $0.sha256] },
                                critic: self.critic, files: files, summaries: summaries, seconds: Date().timeIntervalSince(start))
            try Sidecar.write(record, to: folder.appendingPathComponent("explain.json").path, overwrite: force)
        } catch let e as CLIError {
            throw e
        } catch {
            throw CLIError("\(input): \(error)")
        }
        for (name, s) in summaries.sorted(by: { $0.key < $1.key }) {
            print(String(format: "%@/%@.nii.gz: mean %.4g, p95 %.4g, max %.4g over the head", outDir, name, s.mean, s.p95, s.max))
        }
        print("\(outDir)/reconstruction.nii.gz, explain.json (\(String(format: "%.1f", Date().timeIntervalSince(start))) s)")
    }
}
