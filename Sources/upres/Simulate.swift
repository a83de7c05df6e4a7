import ArgumentParser
import Imaging
import Torch

import Foundation

/// `upres simulate IN OUT [settings]` and `upres simulate --dataset DIR HR...`.
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Simulate a low-resolution scan from a high-resolution one (or build a paired dataset).",
        discussion: """
            Models: thick slices (y = D B R(x): --thickness/--slice-spacing along --axis with a slice \
            --profile), k-space truncation (--kspace-factor), Gaussian blur + downsampling \
            (--sigma), or a learned in-plane kernel (--kernel FILE from `upres degrade learn`, applied \
            to every slice normal to --axis, then subsampled by its factor). Presets: \(SimulationSettings.presets.keys.sorted().joined(separator: ", ")); \
            flags given with a preset override it. Noise (--noise gaussian|rician --snr) and a bias \
            field (--bias) are optional. Every output gets a JSON sidecar with all settings and the seed.

            Dataset mode: `upres simulate --dataset DIR HR1 HR2 ... --preset thick-5-6 \
            --direction axial coronal sagittal` writes hr/, lr/, masks/ and manifest.json \
            (train/validation/test split by subject); rerunning it resumes an interrupted run.
            """)

    @Argument(help: "IN OUT for one volume; with --dataset, the HR volumes.") var files: [String] = []

    @Option(help: "Build a paired dataset in this folder from the HR volumes given as arguments.")
    var dataset: String?

    @Option(parsing: .upToNextOption, help: "Preset name(s) (several in dataset mode).")
    var preset: [String] = []

    @Option(help: "Model when no preset is given: slices, kspace, gaussian or kernel.")
    var model: String?

    // Learned kernel
    @Option(help: "A kernel file from `upres degrade learn`: blur each slice normal to --axis with it and subsample by its factor.")
    var kernel: String?

    // Slices
    @Option(help: "Slice direction: axial, coronal, sagittal, or a voxel axis 0, 1, 2.")
    var axis: String?
    @Option(help: "Slice thickness in mm.") var thickness: Double?
    @Option(name: .customLong("slice-spacing"), help: "Distance between slice centres in mm (gap = spacing - thickness).")
    var sliceSpacing: Double?
    @Option(help: "Slice profile: rectangular, gaussian or sinc.") var profile: String?
    @Option(name: .customLong("in-plane-spacing"), help: "Also change the in-plane voxel size (mm).")
    var inPlaneSpacing: Double?

    // k-space
    @Option(name: .customLong("kspace-factor"), help: "Keep 1/f of the frequencies along each truncated axis.")
    var kspaceFactor: Double?
    @Option(name: .customLong("kspace-fraction"), help: "Or give the fraction kept, in (0, 1].")
    var kspaceFraction: Double?
    @Option(name: .customLong("kspace-axes"), parsing: .upToNextOption, help: "Voxel axes to truncate (default: the in-plane axes of --axis).")
    var kspaceAxes: [Int] = []
    @Option(name: .customLong("kspace-mode"), help: "2d (per slice) or 3d.") var kspaceMode: String?
    @Option(help: "k-space window: none, fermi, hann or tukey.") var window: String?
    @Option(name: .customLong("fermi-radius"), help: "Fermi radius, in units of the kept half-width (default 0.9).")
    var fermiRadius: Double = 0.9
    @Option(name: .customLong("fermi-width"), help: "Fermi transition width, same units (default 0.05).")
    var fermiWidth: Double = 0.05
    @Option(name: .customLong("tukey-alpha"), help: "Tukey taper fraction (default 0.5).") var tukeyAlpha: Double = 0.5
    @Flag(name: .customLong("reduced-matrix"), help: "k-space: write the reduced matrix (larger voxels) instead of zero-filling.")
    var reducedMatrix = false

    // Gaussian
    @Option(parsing: .upToNextOption, help: "Gaussian blur sigma (1 or 3 values).") var sigma: [Double] = []
    @Option(name: .customLong("sigma-unit"), help: "mm or voxels (default voxels).") var sigmaUnit: String = "voxels"
    @Option(parsing: .upToNextOption, help: "Downsampling factor after the blur (1 or 3 values).") var factor: [Double] = []

    // Noise and bias
    @Option(help: "Noise: none, gaussian or rician.") var noise: String?
    @Option(help: "Target SNR (mean signal / noise SD).") var snr: Double = 30
    @Option(help: "Mask: the SNR's signal is its mean (also copied in dataset mode; one per HR, in order).")
    var mask: [String] = []
    @Option(help: "Bias field strength (0.2: about +-20%).") var bias: Double?

    @Option(help: "Random seed.") var seed: UInt64 = 0

    @Option(name: .customLong("hr-grid"), help: "Also write the LR resampled back onto the HR grid to this file.")
    var hrGrid: String?
    @Option(help: "Interpolation for --hr-grid: nearest, linear, cubic, sinc.") var interp: Interpolation = .cubic

    // Dataset
    @Option(parsing: .upToNextOption, help: "Dataset mode: directions to simulate (default axial).")
    var direction: [String] = []
    @Option(parsing: .upToNextOption, help: "Dataset split fractions train validation test (default 0.8 0.1 0.1).")
    var split: [Double] = [0.8, 0.1, 0.1]

    @Flag(help: "Overwrite outputs that exist.") var force = false
    @Flag(name: .customLong("list-presets"), help: "List the presets and exit.") var listPresets = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if listPresets { return }
        if dataset == nil {
            guard files.count == 2 else { throw ValidationError("expected IN OUT (two files), got \(files.count) argument(s)") }
            guard preset.count <= 1 else { throw ValidationError("one --preset per output (several only with --dataset)") }
            for out in [files[1]] + (hrGrid.map { [$0] } ?? []) {
                guard out.hasSuffix(".nii") || out.hasSuffix(".nii.gz") else {
                    throw ValidationError("output \(out): expected a .nii or .nii.gz file name")
                }
            }
        } else {
            guard !files.isEmpty else { throw ValidationError("--dataset needs at least one HR volume") }
            guard mask.isEmpty || mask.count == files.count else {
                throw ValidationError("--mask: give one mask per HR volume (\(files.count)), got \(mask.count)")
            }
        }
        if let a = axis, SliceDirection(a) == nil { throw ValidationError("--axis '\(a)': expected axial, coronal, sagittal, 0, 1 or 2") }
        for d in direction where SliceDirection(d) == nil {
            throw ValidationError("--direction '\(d)': expected axial, coronal, sagittal, 0, 1 or 2")
        }
        if let p = profile, SliceProfile(rawValue: p) == nil { throw ValidationError("--profile '\(p)': expected rectangular, gaussian or sinc") }
        if let m = model, !["slices", "kspace", "gaussian", "kernel"].contains(m) {
            throw ValidationError("--model '\(m)': expected slices, kspace, gaussian or kernel")
        }
        if kernel != nil && !preset.isEmpty { throw ValidationError("--kernel and --preset are two models; give one") }
        if kernel != nil, let m = model, m != "kernel" { throw ValidationError("--kernel goes with --model kernel, not '\(m)'") }
        if model == "kernel" && kernel == nil { throw ValidationError("--model kernel needs --kernel FILE") }
        if let f = kspaceFraction, !(f > 0 && f <= 1) { throw ValidationError("--kspace-fraction \(f) must be in (0, 1]") }
        if let w = window, !["none", "fermi", "hann", "tukey"].contains(w) { throw ValidationError("--window '\(w)': expected none, fermi, hann or tukey") }
        if let m = kspaceMode, KSpaceTruncation.Mode(rawValue: m) == nil { throw ValidationError("--kspace-mode '\(m)': expected 2d or 3d") }
        if let n = noise, !["none", "gaussian", "rician"].contains(n) { throw ValidationError("--noise '\(n)': expected none, gaussian or rician") }
        guard GaussianDownsampling.Unit(rawValue: sigmaUnit) != nil else { throw ValidationError("--sigma-unit '\(sigmaUnit)': expected mm or voxels") }
        for p in preset where SimulationSettings.presets[p] == nil {
            throw ValidationError("--preset '\(p)': unknown; known: \(SimulationSettings.presets.keys.sorted().joined(separator: ", "))")
        }
    }

    /// The settings: a preset (or a model's defaults), then every flag given on top.
    func settings(preset name: String?) throws -> SimulationSettings {
        var s: SimulationSettings
        if let name {
            s = try SimulationSettings.preset(name)
        } else {
            let kind = model ?? (kernel != nil ? "kernel" : kspaceFactor != nil || kspaceFraction != nil ? "kspace" : (!sigma.isEmpty ? "gaussian" : "slices"))
            switch kind {
            case "kernel": s = SimulationSettings(model: .kernel(try KernelDownsampling(contentsOf: URL(fileURLWithPath: kernel!))))
            case "kspace": s = SimulationSettings(model: .kspace(KSpaceTruncation()))
            case "gaussian": s = SimulationSettings(model: .gaussian(GaussianDownsampling()))
            default: s = SimulationSettings(model: .slices(SliceAcquisition()))
            }
        }
        switch s.model {
        case .slices(var a):
            if let v = axis { a.direction = SliceDirection(v)! }
            if let v = thickness { a.thickness = v }
            if let v = sliceSpacing { a.spacing = v }
            if let v = profile { a.profile = SliceProfile(rawValue: v)! }
            if let v = inPlaneSpacing { a.inPlaneSpacing = v }
            s.model = .slices(a)
        case .kspace(var k):
            if let f = kspaceFactor { k.factor = f }
            if let f = kspaceFraction { k.factor = 1 / f }
            if !kspaceAxes.isEmpty { k.axes = kspaceAxes }
            if let v = axis { k.planeNormal = SliceDirection(v)! }
            if let m = kspaceMode { k.mode = KSpaceTruncation.Mode(rawValue: m)! }
            switch window {
            case "none": k.window = .none
            case "fermi": k.window = .fermi(radius: fermiRadius, width: fermiWidth)
            case "hann": k.window = .hann
            case "tukey": k.window = .tukey(alpha: tukeyAlpha)
            default: break
            }
            if reducedMatrix { k.reducedMatrix = true }
            s.model = .kspace(k)
        case .gaussian(var g):
            if !sigma.isEmpty { g.sigma = sigma }
            g.unit = GaussianDownsampling.Unit(rawValue: sigmaUnit)!
            if !factor.isEmpty { g.factor = factor }
            s.model = .gaussian(g)
        case .kernel(var k):
            if let v = axis { k.direction = SliceDirection(v)! }
            s.model = .kernel(k)
        }
        switch noise {
        case "gaussian": s.noise = NoiseModel(kind: .gaussian, snr: snr)
        case "rician": s.noise = NoiseModel(kind: .rician, snr: snr)
        case "none": s.noise = nil
        default: break
        }
        if let b = bias { s.bias = b > 0 ? BiasField(strength: b) : nil }
        s.seed = seed
        return s
    }

    func run() throws {
        try global.apply()
        if listPresets {
            for name in SimulationSettings.presets.keys.sorted() {
                print("\(name.padding(toLength: 20, withPad: " ", startingAt: 0)) \(SimulationSettings.presets[name]!.summary)")
            }
            return
        }
        if let dataset { return try runDataset(dataset) }
        let (input, output) = (files[0], files[1])
        try VolumeIO.checkOutput(output, force: force)
        let sidecar = Sidecar.path(for: output)
        try VolumeIO.checkOutput(sidecar, force: force)
        if let hrGrid { try VolumeIO.checkOutput(hrGrid, force: force) }
        let settings = try settings(preset: preset.first)
        let hr = try VolumeIO.read(input).volume
        try VolumeIO.requireScalar(hr, input)
        guard hr.shape.count == 3 else { throw CLIError("\(input): simulation needs a 3-D volume, got shape \(hr.shape)") }
        var maskTensor: Tensor? = nil
        if let m = mask.first {
            let mv = try VolumeIO.read(m).volume
            guard mv.shape == hr.shape else { throw CLIError("\(m): mask shape \(mv.shape) differs from \(input)'s \(hr.shape)") }
            maskTensor = try mv.data.ne(0)
        }
        let start = Date()
        let result: SimulationResult
        do { result = try hr.simulated(settings, mask: maskTensor) } catch let e as DegradationError {
            throw CLIError("\(input): \(e)")
        }
        let lr = result.lowResolution
        let outURL = URL(fileURLWithPath: output)
        try NIfTI.write(lr, to: outURL, options: NIfTIWriteOptions(overwrite: force))
        var written = [output]
        do {
            if let hrGrid {
                let back = try lr.resampled(like: hr, interpolation: interp)
                try NIfTI.write(back, to: URL(fileURLWithPath: hrGrid), options: NIfTIWriteOptions(overwrite: force))
                written.append(hrGrid)
            }
            let record = SimulationRecord(
                tool: "upres \(UpresVersion.string)", command: "simulate", input: input,
                inputSHA256: try Digest.sha256(file: URL(fileURLWithPath: input)), output: output, hrGrid: hrGrid,
                hrGridInterpolation: hrGrid == nil ? nil : interp.rawValue, mask: mask.first, settings: settings,
                noiseSigma: result.noiseSigma, inputShape: hr.shape, inputSpacing: hr.spacing,
                outputShape: lr.shape, outputSpacing: lr.spacing, seconds: Date().timeIntervalSince(start))
            try Sidecar.write(record, to: sidecar, overwrite: force)
        } catch {
            for f in written { try? FileManager.default.removeItem(atPath: f) }
            throw error
        }
        print("\(output): \(lr.shape.map(String.init).joined(separator: "x")) at \(lr.spacing.map { String(format: "%.4g", $0) }.joined(separator: "x")) mm (\(settings.preset ?? settings.model.name), seed \(settings.seed))")
    }

    func runDataset(_ folder: String) throws {
        let names = preset.isEmpty ? [nil] : preset.map { Optional($0) }
        var named: [(name: String, settings: SimulationSettings)] = []
        for n in names { named.append((n ?? "custom", try settings(preset: n))) }
        let dirs = (direction.isEmpty ? ["axial"] : direction).map { SliceDirection($0)! }
        let inputs = files.enumerated().map { i, f in
            PairedDatasetBuilder.Input(hr: URL(fileURLWithPath: f), mask: mask.isEmpty ? nil : URL(fileURLWithPath: mask[i]))
        }
        for f in files + mask where !FileManager.default.fileExists(atPath: f) { throw CLIError("\(f): no such file") }
        let builder = PairedDatasetBuilder(inputs: inputs, settings: named, directions: dirs, seed: seed, split: split,
                                           tool: "upres \(UpresVersion.string)")
        let m = try builder.build(into: URL(fileURLWithPath: folder)) { done, total, file in
            Console.err("[\(done)/\(total)] \(file)")
        }
        let counts = DatasetManifest.Split.allCases.map { s in "\(m.subjects(in: s).count) \(s.rawValue)" }.joined(separator: ", ")
        print("\(folder)/manifest.json: \(m.subjects.count) subjects (\(counts)), \(m.pairs.count) pairs")
    }
}

/// What `upres simulate` records next to each output.
struct SimulationRecord: Codable {
    var tool: String
    var command: String
    var input: String
    var inputSHA256: String
    var output: String
    var hrGrid: String?
    var hrGridInterpolation: String?
    var mask: String?
    var settings: SimulationSettings
    var noiseSigma: Double?
    var inputShape: [Int]
    var inputSpacing: [Double]
    var outputShape: [Int]
    var outputSpacing: [Double]
    var seconds: Double
}
