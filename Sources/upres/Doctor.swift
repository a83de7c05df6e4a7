import ArgumentParser
import Imaging
import Torch

import Foundation

/// `upres doctor`: what this installation has and what is missing.
struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the installation: libtorch, ITK, data parallel, threads, CUDA devices and sample data.")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Flag(help: "Also print libtorch's full build configuration.")
    var verbose = false

    func run() throws {
        try global.apply()
        let report = DoctorReport.gather()
        if json {
            print(report.json())
        } else {
            print(report.text(verbose: verbose))
        }
        if !report.engineOK { throw ExitCode(1) }
    }
}

/// Keeps the first occurrence of each path.
func uniquePaths(_ paths: [String]) -> [String] {
    var seen = Set<String>()
    return paths.filter { seen.insert($0).inserted }
}

/// The facts `upres doctor` reports.
struct DoctorReport {
    var upresVersion = UpresVersion.string
    var torchVersion = TorchRuntime.version
    var threads = TorchRuntime.threads
    var cores = ProcessInfo.processInfo.activeProcessorCount
    var mkldnn = TorchRuntime.hasMKLDNN
    var openmp = TorchRuntime.hasOpenMP
    var cudaDevices = TorchRuntime.cudaDeviceCount
    var buildFlags = ""
    var engineOK = false
    var engineMessage = ""
    var sampleRoot: String?
    var samples: [(group: String, files: [String])] = []

    /// Where the sample data is looked for: $UPRES_DATA, ./data/samples, then next to the binary's
    /// checkout (.build/<config>/upres -> ../../data/samples).
    static func sampleCandidates() -> [String] {
        var out: [String] = []
        if let env = ProcessInfo.processInfo.environment["UPRES_DATA"], !env.isEmpty { out.append(env) }
        out.append(FileManager.default.currentDirectoryPath + "/data/samples")
        // The checkout that holds this binary: the nearest folder above it with a Package.swift.
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        while dir.path != "/" {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
                out.append(dir.appendingPathComponent("data/samples").path)
                break
            }
            dir = dir.deletingLastPathComponent()
        }
        return Array(uniquePaths(out))
    }

    static let expectedGroups = ["colin27", "mni152", "nibabel-corpus"]

    static func gather() -> DoctorReport {
        var r = DoctorReport()
        r.buildFlags = TorchRuntime.buildConfiguration
        // A small end-to-end check of the engine: a convolution forward and backward.
        do {
            let x = try Tensor.randn([1, 2, 8, 8], generator: Generator(seed: 0))
            let w = try Tensor.randn([3, 2, 3, 3], generator: Generator(seed: 1)).requiresGrad(true)
            let y = try x.conv2d(w, padding: [1]).square().mean()
            try y.backward()
            guard let g = w.grad, g.shape == [3, 2, 3, 3] else {
                throw TorchError.invalidArgument(operation: "doctor", message: "no gradient reached the weight")
            }
            r.engineOK = true
            r.engineMessage = "conv2d forward and backward ran"
        } catch {
            r.engineMessage = "\(error)"
        }
        let fm = FileManager.default
        for root in sampleCandidates() {
            let groups = expectedGroups.map { group -> (String, [String]) in
                let dir = root + "/" + group
                let files = ((try? fm.contentsOfDirectory(atPath: dir)) ?? [])
                    .filter { $0.hasSuffix(".nii") || $0.hasSuffix(".nii.gz") }.sorted()
                return (group, files)
            }
            if groups.contains(where: { !$0.1.isEmpty }) {
                r.sampleRoot = root
                r.samples = groups
                break
            }
        }
        return r
    }

    var missingGroups: [String] { Self.expectedGroups.filter { g in samples.first { $0.group == g }?.files.isEmpty ?? true } }

    func text(verbose: Bool) -> String {
        var lines: [String] = []
        lines.append("upres \(upresVersion)")
        lines.append("libtorch       \(torchVersion) (CPU\(cudaDevices > 0 ? " + CUDA" : ""), oneDNN \(mkldnn ? "yes" : "no"), OpenMP \(openmp ? "yes" : "no"))")
        lines.append("ITK            \(ITK.version) (N4, registration, DICOM through GDCM)")
        lines.append("data parallel  \(ProcessGroup.isAvailable ? "c10d with Gloo" : "absent (this libtorch has no Gloo headers)")")
        lines.append("threads        \(threads) of \(cores) cores")
        lines.append("CUDA devices   \(cudaDevices == 0 ? "none" : String(cudaDevices))")
        lines.append("engine check   \(engineOK ? "ok" : "FAILED"): \(engineMessage)")
        if let root = sampleRoot {
            lines.append("sample data    \(root)")
            for (group, files) in samples {
                let label = group + String(repeating: " ", count: max(1, 15 - group.count))
                lines.append("  \(label)\(files.isEmpty ? "missing" : "\(files.count) file(s): \(files.prefix(4).joined(separator: ", "))\(files.count > 4 ? ", ..." : "")")")
            }
            if !missingGroups.isEmpty {
                lines.append("  some sample data is missing: run `make bootstrap` (scripts/bootstrap) in the upres checkout")
            }
        } else {
            lines.append("sample data    not found (looked in \(Self.sampleCandidates().joined(separator: ", ")))")
            lines.append("  run `make bootstrap` (scripts/bootstrap) in the upres checkout, or set UPRES_DATA")
        }
        if verbose {
            lines.append("")
            lines.append("libtorch build configuration:")
            lines.append(buildFlags)
        }
        return lines.joined(separator: "\n")
    }

    func json() -> String {
        let q = JSONText.string
        let sampleJSON = samples.map { "\(q($0.group)): [\($0.files.map(q).joined(separator: ", "))]" }
        return """
            {
              "upres_version": \(q(upresVersion)),
              "libtorch_version": \(q(torchVersion)),
              "itk_version": \(q(ITK.version)),
              "data_parallel": \(ProcessGroup.isAvailable),
              "threads": \(threads),
              "cores": \(cores),
              "mkldnn": \(mkldnn),
              "openmp": \(openmp),
              "cuda_devices": \(cudaDevices),
              "engine_ok": \(engineOK),
              "engine_message": \(q(engineMessage)),
              "sample_root": \(sampleRoot.map(q) ?? "null"),
              "samples": {\(sampleJSON.joined(separator: ", "))},
              "missing_sample_groups": [\(missingGroups.map(q).joined(separator: ", "))]
            }
            """
    }
}
