import ArgumentParser
import Imaging
import SuperResolution
import Torch

import Foundation

/// `upres upsample IN OUT [--model NAME|PATH] [--interp ...]`: the main job.
struct Upsample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reconstruct a high-resolution volume from a thick-slice scan (the main job).",
        discussion: """
            Finds the through-plane axis from the voxel sizes, normalizes intensities (clipped min-max, \
            inverted on the output), runs the model on the slices of both in-plane directions with \
            their neighbours, averages them, and writes the volume on the fine grid in the input's world \
            space, with a JSON sidecar (version, model and its SHA-256, settings, the input's SHA-256, \
            run time). --interp linear|cubic|sinc gives an interpolation baseline on the same grid. \
            Models: \(ModelFile.availableModels().joined(separator: ", ")).
            """)

    @Argument(help: "Input NIfTI (3-D, thick slices).") var input: String
    @Argument(help: "Output .nii or .nii.gz.") var output: String
    @Option(help: "Model name (see the list above) or path to a model folder or .safetensors file.")
    var model: String = "thick-5-6-t1"
    @Option(help: "Interpolation baseline instead of the model: linear, cubic, sinc.") var interp: Interpolation?
    @Option(help: "Target voxel size in mm.") var spacing: Double = 1
    @Option(help: "Slices per model call (default: sized to --memory).") var batch: Int?
    @Option(help: "Memory for activations in MB when --batch is not given.") var memory: Int = 1024
    @Flag(name: .customLong("fallback-interp"), help: "When the model cannot handle the input's factor, use cubic interpolation instead of failing.")
    var fallbackInterp = false
    @Flag(help: "Overwrite the output if it exists.") var force = false
    @Flag(help: "No progress bar.") var quiet = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard output.hasSuffix(".nii") || output.hasSuffix(".nii.gz") else {
            throw ValidationError("output \(output): expected a .nii or .nii.gz file name")
        }
        guard spacing > 0, spacing.isFinite else { throw ValidationError("--spacing \(spacing) must be > 0") }
        if let b = batch, b < 1 { throw ValidationError("--batch \(b) must be >= 1") }
        if interp == .nearest { throw ValidationError("--interp nearest is not a reconstruction; use linear, cubic or sinc") }
    }

    func run() throws {
        try global.apply()
        let start = Date()
        try VolumeIO.checkOutput(output, force: force)
        let sidecar = Sidecar.path(for: output)
        try VolumeIO.checkOutput(sidecar, force: force)
        let image = try VolumeIO.read(input)
        let v = image.volume
        try VolumeIO.requireScalar(v, input)
        var method = interp
        var file: ModelFile? = nil
        var report: Reconstruction.Report? = nil
        var result: Volume
        do {
            if method == nil {
                let loaded = try ModelFile.load(ModelFile.resolve(model))
                file = loaded
                do {
                    let bar = ProgressBar(label: "upsample", quiet: quiet)
                    (result, report) = try Reconstruction.upsample(
                        v, model: loaded, targetSpacing: spacing,
                        options: .init(batch: batch, memoryBudget: memory << 20, device: global.device)) { bar.update($0, $1) }
                    bar.finish()
                } catch let e as ModelError where fallbackInterp {
                    Console.warn("\(input): \(e); falling back to cubic interpolation (--fallback-interp)")
                    method = .cubic
                    file = nil
                    result = try Reconstruction.interpolate(v, method: .cubic, targetSpacing: spacing)
                }
            } else {
                result = try Reconstruction.interpolate(v, method: method!, targetSpacing: spacing)
            }
        } catch let e as Reconstruction.AlreadyAtTarget {
            throw CLIError("\(input): \(e)")
        } catch let e as ModelError {
            throw CLIError(e.description.hasPrefix("/") ? e.description : "\(input): \(e)")
        }
        try NIfTI.write(result, to: URL(fileURLWithPath: output), options: NIfTIWriteOptions(overwrite: force))
        let record = UpsampleRecord(
            tool: "upres \(UpresVersion.string)", command: "upsample", input: input,
            inputSHA256: try Digest.sha256(file: URL(fileURLWithPath: input)), output: output,
            method: method.map { "interp-\($0)" } ?? "model",
            model: file.map { $0.url.deletingLastPathComponent().lastPathComponent },
            modelFile: file?.url.path, modelSHA256: file?.sha256, modelConfig: file?.config, modelTask: file?.task,
            targetSpacing: spacing, inputShape: v.shape, inputSpacing: v.spacing, outputShape: result.shape,
            outputSpacing: result.spacing, throughPlaneAxis: report?.throughPlaneAxis, factor: report?.factor,
            normalization: report?.normalization, batch: report?.batch, device: "\(global.device)",
            threads: TorchRuntime.threads, seconds: Date().timeIntervalSince(start))
        do { try Sidecar.write(record, to: sidecar, overwrite: force) } catch {
            try? FileManager.default.removeItem(atPath: output)
            throw error
        }
        let how = method.map { "\($0) interpolation" } ?? "model \(record.model ?? model)"
        print("\(output): \(result.shape.map(String.init).joined(separator: "x")) at \(result.spacing.map { String(format: "%.4g", $0) }.joined(separator: "x")) mm (\(how), \(String(format: "%.1f", record.seconds)) s)")
    }
}

struct UpsampleRecord: Codable {
    var tool: String
    var command: String
    var input: String
    var inputSHA256: String
    var output: String
    var method: String
    var model: String?
    var modelFile: String?
    var modelSHA256: String?
    var modelConfig: EDSRConfig?
    var modelTask: ModelTask?
    var targetSpacing: Double
    var inputShape: [Int]
    var inputSpacing: [Double]
    var outputShape: [Int]
    var outputSpacing: [Double]
    var throughPlaneAxis: Int?
    var factor: Int?
    var normalization: NormalizationParameters?
    var batch: Int?
    var device: String
    var threads: Int
    var seconds: Double
}

/// A one-line progress bar on stderr.
final class ProgressBar {
    let label: String
    let quiet: Bool
    let start = Date()
    var last = -1

    /// Silent when `quiet` or when stderr is not a terminal (a log file gets no carriage returns).
    init(label: String, quiet: Bool) {
        self.label = label
        self.quiet = quiet || isatty(2) == 0
    }

    func update(_ done: Int, _ total: Int) {
        guard !quiet, total > 0 else { return }
        let percent = done * 100 / total
        guard percent != last else { return }
        last = percent
        let width = 30, filled = done * width / total
        let elapsed = Date().timeIntervalSince(start)
        let eta = done > 0 ? elapsed * Double(total - done) / Double(done) : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write(Data(String(format: "\r%@ [%@] %3d%%  %d/%d slices  %.1f s, ETA %.1f s", label, bar, percent, done, total, elapsed, eta).utf8))
    }

    func finish() { if !quiet && last >= 0 { FileHandle.standardError.write(Data("\n".utf8)) } }
}
