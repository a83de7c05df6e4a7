import ArgumentParser
import Imaging
import SuperResolution
import Torch

import Foundation

/// `upres upsample IN OUT [--model NAME|PATH] [--adapt | --self-supervised] [--interp ...]`: the main job.
struct Upsample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reconstruct a high-resolution volume from a thick-slice scan (the main job).",
        discussion: """
            Finds the through-plane axis and the factor (any, not only integers) from the voxel sizes, \
            normalizes intensities (min-max on percentiles, the full range restored on the output), runs \
            the model on the slices of both in-plane directions, averages them, and writes the volume on \
            the fine grid in the input's world space, with a JSON sidecar (version, model and its SHA-256, \
            settings, the input's SHA-256, run time).

            Modes: with no option, the default: --self-supervised, a model trained from scratch on the \
            scan's own in-plane slices acquired again with the scan's slice profile and spacing \
            (\(Reconstruction.defaultAdaptationSteps) steps or \(Int(Reconstruction.defaultAdaptationMinutes * 60)) s at most). \
            --model NAME alone applies a model as it is. --adapt fine-tunes a model on those pairs \
            (--model, or the shipped any-contrast-xN for the scan's factor). The slice thickness is estimated from the scan unless --slice-thickness is given. \
            --save-model DIR keeps the adapted model for other scans of the same protocol. \
            After the model, the output is made consistent with the scan (its slices, acquired again with the slice \
            thickness and profile, agree with the scan's to within its noise) when the thickness is known: given, \
            stated by the model, or estimated plausibly; --consistency 0 turns it off. A 3-D model trained on \
            k-space truncation gets the input's acquired band of k-space back (--consistency 0: off). \
            --interp linear|cubic|sinc gives an interpolation baseline on the same grid. \
            Models: \(ModelFile.availableModels().joined(separator: ", ")) (upres models lists them).
            """)

    @Argument(help: ArgumentHelp("IN OUT: the input NIfTI (3-D, thick slices) and the output .nii or .nii.gz. With --output-template: the inputs only.",
                                 valueName: "paths"))
    var paths: [String] = []
    @Option(name: .customLong("inputs"), help: "A text file listing inputs, one per line (# comments and blank lines ignored; relative paths from the current folder); with --output-template.")
    var inputList: String?
    @Option(name: [.customShort("o"), .customLong("output-template")], help: """
        Many inputs: the output path of each, with {stem} (the input's file name without .nii/.nii.gz), {name} (its file name), \
        {dir} (its folder), {parent} (its folder's name) and {index} (1, 2, ...), e.g. 'sr/{stem}_sr.nii.gz'. The model loads once; \
        a failed input is reported and the others go on; the exit status is non-zero if any failed.
        """)
    var outputTemplate: String?
    @Option(help: "Model name (see upres models) or path to a model folder or .safetensors file.")
    var model: String?
    @Flag(help: "Fine-tune a model (--model, or the shipped any-contrast-xN for the scan's factor) on the scan's own in-plane slices first.") var adapt = false
    @Flag(name: .customLong("self-supervised"), help: "Train a model from scratch on the scan's own in-plane slices (no model needed).")
    var selfSupervised = false
    @Option(name: .customLong("slice-thickness"), help: "The scan's slice thickness in mm: the pairs of --adapt/--self-supervised (default: estimated from the scan; where no estimate is plausible, the pairs span 80% of the slice spacing up to contiguous slices), and data consistency with --model (default: the thickness the model states).")
    var sliceThickness: Double?
    @Option(help: "Slice profile: rectangular, gaussian, sinc (as --slice-thickness).") var profile: SliceProfile = .rectangular
    @Option(help: "Data consistency: back-projection iterations that make the output's slices, acquired again with the slice thickness and profile, equal the scan's (default \(Reconstruction.defaultConsistencyIterations) when the thickness is known; 0: off). With a 3-D model trained on k-space truncation, one exact projection onto the input's acquired band (any N >= 1; 0: off).")
    var consistency: Int?
    @Option(name: .customLong("adapt-steps"), help: "Training steps on the scan (at most).") var adaptSteps: Int?
    @Option(name: .customLong("adapt-minutes"), help: "Training time on the scan in minutes (at most).") var adaptMinutes: Double?
    @Option(name: .customLong("adapt-lr"), help: "Learning rate on the scan (default 3e-4 to adapt, 2e-3 from scratch).") var adaptLr: Double?
    @Option(name: .customLong("adapt-batch"), help: "Patches per training step on the scan.") var adaptBatch: Int = 8
    @Option(name: .customLong("adapt-patch"),
            help: "Training patch side in output pixels (default 48; thick-slice models see side / factor acquired slices).")
    var adaptPatch: Int?
    @Option(name: .customLong("noise-sigma"),
            help: "Noise standard deviation of the scan, in its intensity units, that the training pairs are brought to: auto (estimated from the background air), 0 (none) or a value.")
    var noiseSigma: String = "auto"
    @Option(help: "Seed of the per-scan training.") var seed: UInt64 = 0
    @Option(name: .customLong("save-model"), help: "Write the per-scan model to this folder (model.safetensors + MODEL_CARD.md).")
    var saveModel: String?
    @Option(help: "Interpolation baseline instead of the model: linear, cubic, sinc.") var interp: Interpolation?
    @Option(help: "Subject features for a conditioned model (seed 004's residual-attention-unet), comma-separated numbers as it was trained with them (e.g. age, sex, diagnosis); default zeros.")
    var context: String?
    @Option(name: .customLong("contrast"), help: "Another contrast of the scan for a model that fuses contrasts (seed 000): NAME=FILE, e.g. T2w=t2.nii.gz, on the input's grid (co-registered). Repeatable.")
    var contrasts: [String] = []
    @Option(help: "Target voxel size in mm.") var spacing: Double = 1
    @Option(help: "Slices per model call (default: sized to --memory).") var batch: Int?
    @Option(help: "Memory for activations in MB when --batch is not given.") var memory: Int = 512
    @Flag(name: .customLong("test-time-flips"), help: "Also reconstruct each slice mirrored across its width and average the two (twice the model's time).")
    var testTimeFlips = false
    @Flag(name: .customLong("fallback-interp"), help: "When the model cannot handle the input's factor, use cubic interpolation instead of failing.")
    var fallbackInterp = false
    @Flag(help: "Overwrite the output (and the --save-model folder) if it exists.") var force = false
    @Flag(help: "No progress bar.") var quiet = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if let outputTemplate {
            guard !paths.isEmpty || inputList != nil else { throw ValidationError("--output-template needs inputs: IN... or --inputs LIST") }
            guard outputTemplate.hasSuffix(".nii") || outputTemplate.hasSuffix(".nii.gz") else {
                throw ValidationError("--output-template \(outputTemplate): expected a template ending in .nii or .nii.gz")
            }
            if saveModel != nil { throw ValidationError("--save-model keeps one scan's model; it applies to a single input (IN OUT)") }
            if !contrasts.isEmpty { throw ValidationError("--contrast gives another contrast of one scan; it applies to a single input (IN OUT)") }
        } else {
            if inputList != nil { throw ValidationError("--inputs needs --output-template, e.g. -o 'sr/{stem}_sr.nii.gz'") }
            guard paths.count == 2 else {
                throw ValidationError(paths.count < 2 ? "give the input and the output (IN OUT), or inputs with --output-template"
                                      : "\(paths.count) paths: give IN OUT, or several inputs with --output-template TEMPLATE")
            }
            guard paths[1].hasSuffix(".nii") || paths[1].hasSuffix(".nii.gz") else {
                throw ValidationError("output \(paths[1]): expected a .nii or .nii.gz file name")
            }
        }
        guard spacing > 0, spacing.isFinite else { throw ValidationError("--spacing \(spacing) must be > 0") }
        if let b = batch, b < 1 { throw ValidationError("--batch \(b) must be >= 1") }
        if interp == .nearest { throw ValidationError("--interp nearest is not a reconstruction; use linear, cubic or sinc") }
        if adapt && selfSupervised { throw ValidationError("--adapt and --self-supervised exclude each other") }
        if interp != nil && (adapt || selfSupervised || model != nil) {
            throw ValidationError("--interp is a baseline without a model; leave out --model, --adapt and --self-supervised")
        }
        if selfSupervised && model != nil { throw ValidationError("--self-supervised trains from scratch; leave out --model (or use --adapt)") }
        let training = adapt || selfSupervised || (model == nil && interp == nil)
        if !training {
            for (flag, given) in [("--adapt-steps", adaptSteps != nil),
                                  ("--adapt-minutes", adaptMinutes != nil), ("--adapt-lr", adaptLr != nil), ("--adapt-patch", adaptPatch != nil),
                                  ("--save-model", saveModel != nil),
                                  ("--noise-sigma", noiseSigma != "auto")]
            where given {
                throw ValidationError("\(flag) applies to --adapt and --self-supervised")
            }
        }
        if interp != nil && (sliceThickness != nil || consistency != nil) {
            throw ValidationError("--slice-thickness and --consistency apply to reconstructions with a model, not to --interp")
        }
        if let c = consistency, c < 0 { throw ValidationError("--consistency \(c) must be >= 0 iterations") }
        if let t = sliceThickness, !(t > 0 && t.isFinite) { throw ValidationError("--slice-thickness \(t) must be > 0 mm") }
        if let s = adaptSteps, s < 1 { throw ValidationError("--adapt-steps \(s) must be >= 1") }
        if let m = adaptMinutes, !(m > 0 && m.isFinite) { throw ValidationError("--adapt-minutes \(m) must be > 0") }
        if let l = adaptLr, !(l > 0 && l.isFinite) { throw ValidationError("--adapt-lr \(l) must be > 0") }
        if adaptBatch < 1 { throw ValidationError("--adapt-batch \(adaptBatch) must be >= 1") }
        if let p = adaptPatch, p < 16 { throw ValidationError("--adapt-patch \(p) must be >= 16 pixels") }
        _ = try noiseMatching()
        _ = try contextFeatures()
        if !contrasts.isEmpty && (model == nil || adapt) {
            throw ValidationError("--contrast applies to --model with a model that fuses contrasts (not to per-scan training or --interp)")
        }
        for c in contrasts where c.split(separator: "=", maxSplits: 1).count != 2 {
            throw ValidationError("--contrast \(c): expected NAME=FILE, e.g. --contrast T2w=t2.nii.gz")
        }
    }

    /// The --contrast volumes in the order the model's task names its input contrasts.
    func contrastVolumes(for task: ModelTask?) throws -> [Volume] {
        let given = Dictionary(contrasts.map { c -> (String, String) in
            let p = c.split(separator: "=", maxSplits: 1)
            return (String(p[0]), String(p[1]))
        }, uniquingKeysWith: { a, _ in a })
        let wanted = Array((task?.inputContrasts ?? []).dropFirst())
        if let stray = given.keys.sorted().first(where: { !wanted.contains($0) }) {
            throw CLIError(wanted.isEmpty ? "--contrast \(stray): the model takes one contrast"
                           : "--contrast \(stray): the model takes \(wanted.joined(separator: ", ")) besides \(task!.inputContrasts![0])")
        }
        return try wanted.map { name in
            guard let path = given[name] else { throw CLIError("the model fuses \(task!.inputContrasts!.joined(separator: ", ")): give --contrast \(name)=FILE") }
            let v = try VolumeIO.read(path).volume
            try VolumeIO.requireScalar(v, path)
            return v
        }
    }

    func contextFeatures() throws -> [Double]? {
        guard let context else { return nil }
        let parts = context.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ $0?.isFinite == true }) else {
            throw ValidationError("--context \(context): expected comma-separated numbers, e.g. --context 0.63,1,0")
        }
        return parts.map { $0! }
    }

    func noiseMatching() throws -> AdaptationSettings.NoiseMatching {
        if noiseSigma == "auto" { return .estimate }
        guard let s = Double(noiseSigma), s >= 0, s.isFinite else {
            throw ValidationError("--noise-sigma \(noiseSigma): expected auto, 0 or a standard deviation >= 0 in the scan's intensity units")
        }
        return .sigma(s)
    }

    func run() throws {
        try global.apply()
        let jobs = try self.jobs()
        // The model loads once, for every input.
        let shared: ModelFile?
        do { shared = try model.map { try ModelFile.load(ModelFile.resolve($0)) } } catch let e as ModelError {
            throw CLIError(e.description.hasPrefix("/") ? e.description : "--model \(model!): \(e)")
        }
        guard outputTemplate != nil else {
            try reconstruct(jobs[0].input, to: jobs[0].output, shared: shared)
            return
        }
        var failed: [String] = []
        for (k, job) in jobs.enumerated() {
            Console.err("upsample: [\(k + 1)/\(jobs.count)] \(job.input) -> \(job.output)")
            do { try reconstruct(job.input, to: job.output, shared: shared) } catch {
                failed.append(job.input)
                Console.err("upsample: \(job.input) failed: \(Self.message(error))")
            }
        }
        guard failed.isEmpty else {
            Console.err("upsample: \(jobs.count - failed.count) of \(jobs.count) inputs reconstructed; \(failed.count) failed: \(failed.joined(separator: ", "))")
            throw ExitCode(1)
        }
        Console.err("upsample: all \(jobs.count) inputs reconstructed")
    }

    /// An error's one-line message, as the tool prints it.
    static func message(_ error: Error) -> String {
        (error as? LocalizedError)?.errorDescription ?? "\(error)"
    }

    /// The (input, output) pairs: IN OUT, or every input (arguments, then --inputs) with its output
    /// from the template. Two inputs that would write the same output, or an output that is an
    /// input, are refused before any work.
    func jobs() throws -> [(input: String, output: String)] {
        guard let template = outputTemplate else { return [(paths[0], paths[1])] }
        var inputs = paths
        if let inputList {
            guard let text = try? String(contentsOfFile: inputList, encoding: .utf8) else { throw CLIError("\(inputList): cannot read the input list") }
            let listed = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && !$0.hasPrefix("#") }
            guard !listed.isEmpty else { throw CLIError("\(inputList): the input list names no file (one path per line)") }
            inputs += listed
        }
        let outputs = inputs.enumerated().map { OutputTemplate.expand(template, input: $1, index: $0 + 1) }
        var seen: [String: String] = [:]
        for (i, o) in zip(inputs, outputs) {
            let key = URL(fileURLWithPath: o).standardizedFileURL.path
            if let other = seen[key] {
                throw CLIError("--output-template \(template) gives \(o) for both \(other) and \(i); add {stem}, {parent} or {index}")
            }
            seen[key] = i
        }
        for i in inputs where seen[URL(fileURLWithPath: i).standardizedFileURL.path] != nil {
            throw CLIError("--output-template \(template) would overwrite the input \(i)")
        }
        return Array(zip(inputs, outputs))
    }

    /// Reconstructs one input into one output with its sidecar; returns the sidecar's record.
    @discardableResult
    func reconstruct(_ input: String, to output: String, shared: ModelFile?) throws -> UpsampleRecord {
        let start = Date()
        try VolumeIO.checkOutput(output, force: force)
        let sidecar = Sidecar.path(for: output)
        try VolumeIO.checkOutput(sidecar, force: force)
        if let saveModel {
            do { try ModelFile.checkFolderIsFree(URL(fileURLWithPath: saveModel), overwrite: force) } catch { throw CLIError("\(error)") }
        }
        let image = try VolumeIO.read(input)
        let v = image.volume
        try VolumeIO.requireScalar(v, input)
        var method = interp
        var file: ModelFile? = nil
        var report: Reconstruction.Report? = nil
        var result: Volume
        var mode = "model"
        do {
            if method == nil, let loaded = shared, loaded.contract.isVolume {
                // A 3-D model restores the input on its own grid (seed 002: k-space truncation).
                guard !adapt && !selfSupervised && !testTimeFlips && sliceThickness == nil else {
                    throw CLIError("--adapt, --self-supervised, --test-time-flips and --slice-thickness apply to 2-D slice models; \(loaded.name) is a 3-D model restoring volumes on their own grid")
                }
                file = loaded
                let bar = ProgressBar(label: "upsample", quiet: quiet)
                (result, report) = try Reconstruction.restore(v, model: loaded, options: .init(memoryBudget: memory << 20, device: global.device,
                                                                                               consistency: consistency)) {
                    bar.update($0, $1)
                }
                bar.finish()
                if let k = report?.kspaceConsistency {
                    Console.err(String(format: "upsample: k-space data consistency (1/%.3g of k-space kept along axes %@): the acquired band is the input's; residual RMS %.4g -> %.4g (what is left lies beyond the band: the magnitude input's own spill)",
                                       k.truncation.factor, k.truncation.resolvedAxes(for: v).map(String.init).joined(separator: ", "),
                                       k.residualBefore, k.residualAfter))
                }
            } else if method == nil, let loaded = shared, let inPlane = loaded.task.inPlane {
                // A model trained on in-plane kernel pairs (seed 003) restores each slice in-plane.
                guard !adapt && !selfSupervised && sliceThickness == nil && consistency == nil else {
                    throw CLIError("--adapt, --self-supervised, --slice-thickness and --consistency work with a scan's thick slices; \(loaded.name) restores slices degraded in-plane (\(inPlane.kernel))")
                }
                guard Swift.abs(spacing - loaded.task.targetSpacing) <= 0.01 * loaded.task.targetSpacing else {
                    throw CLIError(String(format: "--spacing %.3g: model %@ restores to %.3g mm voxels", spacing, loaded.name, loaded.task.targetSpacing))
                }
                file = loaded
                let bar = ProgressBar(label: "upsample", quiet: quiet)
                (result, report) = try Reconstruction.restoreInPlane(
                    v, model: loaded, options: .init(batch: batch, memoryBudget: memory << 20, device: global.device, testTimeFlips: testTimeFlips)) {
                    bar.update($0, $1)
                }
                bar.finish()
            } else if method == nil {
                // The acquired thickness: the flag, else what the source states (DICOM SliceThickness,
                // directly or through the NIfTI's BIDS/dcm2niix sidecar).
                let thickness = sliceThickness ?? v.metadata.sliceThickness
                if sliceThickness == nil, let t = thickness {
                    Console.err(String(format: "upsample: slice thickness %.3g mm from the scan's DICOM SliceThickness; --slice-thickness overrides it", t))
                }
                var settings = AdaptationSettings(mode: selfSupervised ? .selfSupervised : .adapt, sliceThickness: thickness,
                                                  profile: profile, steps: Reconstruction.defaultAdaptationSteps,
                                                  minutes: Reconstruction.defaultAdaptationMinutes, batchSize: adaptBatch, learningRate: adaptLr,
                                                  seed: seed, noise: try noiseMatching())
                if let adaptSteps { settings.steps = adaptSteps }
                if let adaptPatch { settings.patch = adaptPatch }
                if adaptMinutes != nil || adaptSteps != nil { settings.minutes = adaptMinutes }
                let how: Reconstruction.Method
                if selfSupervised {
                    how = .selfSupervised(settings)
                } else if let loaded = shared {
                    file = loaded
                    how = adapt ? .adapt(loaded, settings) : .pretrained(loaded)
                } else if adapt {
                    let loaded = try Reconstruction.adaptationModel(for: v, targetSpacing: spacing)
                    file = loaded
                    how = .adapt(loaded, settings)
                } else {
                    how = try Reconstruction.defaultMethod(v, targetSpacing: spacing, settings: settings)
                    if case .adapt(let f, _) = how { file = f }
                }
                switch how {
                case .pretrained: mode = "model"
                case .adapt: mode = "adapt"
                case .selfSupervised: mode = "self-supervised"
                }
                do {
                    let bar = ProgressBar(label: "upsample", quiet: quiet)
                    let training = TrainingLine(quiet: quiet)
                    let r = try Reconstruction.run(
                        v, method: how, targetSpacing: spacing,
                        options: .init(batch: batch, memoryBudget: memory << 20, device: global.device, context: try contextFeatures(),
                                       contrasts: try contrastVolumes(for: file?.task), testTimeFlips: testTimeFlips,
                                       consistency: consistency, sliceThickness: thickness, profile: thickness == nil ? nil : profile),
                        adaptationProgress: { training.update($0, $1, $2, $3, $4) }) { bar.update($0, $1) }
                    bar.finish()
                    (result, report) = (r.volume, r.report)
                    if let e = r.report.thicknessEstimate {
                        let slices = String(format: "%.3g", v.spacing[r.report.throughPlaneAxis])
                        if e.plausible {
                            Console.err(String(format: "upsample: slice thickness estimated from the scan: %.2f mm (slices %@ mm apart); give --slice-thickness if the protocol says otherwise", e.thickness, slices))
                        } else {
                            let assumed = r.report.adaptation?.sliceThicknessRange.flatMap { $0.count == 2 ? String(format: "training across %.3g to %.3g mm slices", $0[0], $0[1]) : nil }
                                ?? "assuming contiguous \(slices) mm slices"
                            Console.warn(String(format: "%@: the slice thickness could not be estimated reliably (spectral fit %.2f mm for slices %@ mm apart); %@; give --slice-thickness from the protocol", input, e.spectralThickness, slices, assumed))
                        }
                    }
                    if let a = r.report.adaptation {
                        Console.err(String(format: "upsample: %@ for %d steps in %.0f s, L1 %.4f -> %.4f", a.mode, a.steps, a.seconds, a.initialLoss, a.finalLoss))
                        if let n = a.noiseSigma, noiseSigma == "auto" {
                            Console.err(String(format: "upsample: noise sigma %.4g estimated from the background; the training inputs carry it (--noise-sigma 0: none)", n))
                        }
                    }
                    if let c = r.report.consistency {
                        if c.steps.isEmpty {
                            Console.err(String(format: "upsample: data consistency (%.3g mm %@ slices): the output's slices already agree with the scan's within its noise (residual RMS %.4g, noise sigma %.4g); left as they are",
                                               c.sliceThickness, c.profile.rawValue, c.residualBefore, c.noiseSigma))
                        } else {
                            Console.err(String(format: "upsample: data consistency (%.3g mm %@ slices): %d step%@, slice residual RMS %.4g -> %.4g",
                                               c.sliceThickness, c.profile.rawValue, c.steps.count, c.steps.count == 1 ? "" : "s",
                                               c.residualBefore, c.residualAfter))
                        }
                    } else if r.report.adaptation?.thicknessAssumed == true && consistency == nil {
                        Console.err("upsample: no data consistency with an assumed slice thickness (--slice-thickness, or --consistency N to force it)")
                    }
                    if let saveModel {
                        var task = r.task
                        task.adaptation?.scanSHA256 = try Digest.sha256(file: URL(fileURLWithPath: input))
                        let saved = try ModelFile.saveFolder(r.model, task: task, to: URL(fileURLWithPath: saveModel), overwrite: force)
                        Console.err("upsample: per-scan model saved to \(saved.url.path) (SHA-256 \(saved.sha256.prefix(12))...)")
                    }
                } catch let e as ModelError where fallbackInterp {
                    Console.warn("\(input): \(e); falling back to cubic interpolation (--fallback-interp)")
                    method = .cubic
                    file = nil
                    mode = "model"
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
            method: method.map { "interp-\($0)" } ?? mode,
            model: file?.name, modelFile: file?.url.path, modelSHA256: file?.sha256, modelConfig: file?.spec, modelTask: file?.task,
            targetSpacing: spacing, inputShape: v.shape, inputSpacing: v.spacing, outputShape: result.shape,
            outputSpacing: result.spacing, throughPlaneAxis: report?.throughPlaneAxis, factor: report?.factor,
            normalization: report?.normalization, adaptation: report?.adaptation, thicknessEstimate: report?.thicknessEstimate.map {
                ThicknessEstimateRecord(thickness: $0.thickness, spectralThickness: $0.spectralThickness, plausible: $0.plausible,
                                        mismatch: $0.mismatch) },
            consistency: report?.consistency, kspaceConsistency: report?.kspaceConsistency, batch: report?.batch, patch: report?.patch, testTimeFlips: testTimeFlips && report != nil && report?.patch == nil ? true : nil,
            device: "\(global.device)", threads: TorchRuntime.threads, seconds: Date().timeIntervalSince(start))
        do { try Sidecar.write(record, to: sidecar, overwrite: force) } catch {
            try? FileManager.default.removeItem(atPath: output)
            throw error
        }
        let how = method.map { "\($0) interpolation" } ?? (mode == "self-supervised" ? "self-supervised model" : "model \(record.model ?? "?")\(mode == "adapt" ? " adapted to the scan" : "")")
        print("\(output): \(result.shape.map(String.init).joined(separator: "x")) at \(result.spacing.map { String(format: "%.4g", $0) }.joined(separator: "x")) mm (\(how), \(String(format: "%.1f", record.seconds)) s)")
        return record
    }
}

/// Output paths of many inputs: {stem}, {name}, {dir}, {parent} and {index} in a template.
enum OutputTemplate {
    static func expand(_ template: String, input: String, index: Int) -> String {
        let url = URL(fileURLWithPath: input)
        let name = url.lastPathComponent
        let stem = name.hasSuffix(".nii") || name.hasSuffix(".nii.gz") ? VolumeIO.stem(name) : url.deletingPathExtension().lastPathComponent
        let dir = (input as NSString).deletingLastPathComponent
        return template
            .replacingOccurrences(of: "{stem}", with: stem)
            .replacingOccurrences(of: "{name}", with: name)
            .replacingOccurrences(of: "{dir}", with: dir.isEmpty ? "." : dir)
            .replacingOccurrences(of: "{parent}", with: url.deletingLastPathComponent().lastPathComponent)
            .replacingOccurrences(of: "{index}", with: String(index))
    }
}

extension SliceProfile: ExpressibleByArgument {}

struct ThicknessEstimateRecord: Codable {
    var thickness: Double
    var spectralThickness: Double
    var plausible: Bool
    var mismatch: Double
}

struct UpsampleRecord: Codable {
    var tool: String
    var command: String
    var input: String
    var inputSHA256: String
    var output: String
    /// model, adapt, self-supervised or interp-METHOD.
    var method: String
    var model: String?
    var modelFile: String?
    var modelSHA256: String?
    var modelConfig: ModelSpec?
    var modelTask: ModelTask?
    var targetSpacing: Double
    var inputShape: [Int]
    var inputSpacing: [Double]
    var outputShape: [Int]
    var outputSpacing: [Double]
    var throughPlaneAxis: Int?
    var factor: Double?
    var normalization: NormalizationParameters?
    var adaptation: AdaptationRecord?
    var thicknessEstimate: ThicknessEstimateRecord?
    /// Data consistency after the model, when it ran.
    var consistency: ConsistencyRecord?
    /// 3-D models restoring k-space truncation: k-space data consistency, when it ran.
    var kspaceConsistency: KSpaceConsistencyRecord?
    var batch: Int?
    /// 3-D models: the patch side (voxels).
    var patch: Int?
    /// Whether each slice was also reconstructed mirrored and the two averaged.
    var testTimeFlips: Bool?
    var device: String
    var threads: Int
    var seconds: Double
}

/// The per-scan training's progress line on stderr (terminal only): step, loss, ETA.
final class TrainingLine {
    let quiet: Bool
    var shown = false

    init(quiet: Bool) { self.quiet = quiet || isatty(2) == 0 }

    func update(_ step: Int, _ total: Int, _ loss: Double, _ elapsed: Double, _ eta: Double) {
        guard !quiet else { return }
        shown = true
        FileHandle.standardError.write(Data(String(format: "\rtraining on the scan: step %d/%d  L1 %.4f  %.0f s, ETA %.0f s   ", step, total, loss, elapsed, eta).utf8))
        if eta <= 0 || step == total { FileHandle.standardError.write(Data("\n".utf8)) }
    }
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
