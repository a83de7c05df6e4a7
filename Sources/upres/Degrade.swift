import ArgumentParser
import Imaging
import Report
import SuperResolution
import Torch

import Foundation

/// `upres degrade learn SCANS... -o KERNEL`: learned degradations (seed 003).
struct Degrade: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Learn how a set of scans was degraded (seed 003's downsampling GAN).",
        subcommands: [Learn.self])

    struct Learn: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Learn the in-plane degradation kernel of a set of scans; write it with a PNG of it.",
            discussion: """
                Seed 003's downsampling GAN on the scans' in-plane slices: a deep linear generator \
                (7x7, 5x5, 3x3, then three 1x1 convolutions, no activations) degrades high-resolution \
                patches by --factor; a PatchGAN on the image and its Sobel edges tells them from the \
                scans' own patches; the kernel is kept a low-pass filter by the seed's regularizers \
                (bicubic at first, sum to one, boundaries, then sparsity and centring). Patches are drawn \
                where the gradient is strong. The high-resolution patches come from --hr scans (unpaired, \
                as in seed 003), or without --hr from the scans themselves (KernelGAN's assumption). \
                KERNEL (.safetensors) holds the 13x13 kernel, its factor, the axis convention and the \
                provenance (scans' SHA-256, settings, seed, final losses); KERNEL's stem + .png shows it. \
                Use it with `upres simulate HR OUT --kernel KERNEL`.
                """)

        @Argument(help: "The scans whose degradation to learn (NIfTI files or DICOM folders).") var scans: [String] = []
        @Option(name: .shortAndLong, help: "The kernel file to write (.safetensors).") var output: String
        @Option(parsing: .upToNextOption, help: "High-resolution scans to degrade (default: the scans themselves).") var hr: [String] = []
        @Option(help: "Slices normal to: axial, coronal, sagittal or a voxel axis 0, 1, 2 (default: each scan's thick axis, else axial).")
        var axis: String?
        @Option(help: "In-plane downscaling factor (default 2).") var factor: Int = 2
        @Option(help: "Iterations (default 3000, seed 003).") var iterations: Int = 3000
        @Option(help: "High-resolution patch side (default 64; the low-resolution patch is the generator's output for it).") var patch: Int = 64
        @Option(help: "Patch pairs per iteration (default 1, seed 003).") var batch: Int = 1
        @Option(help: "Channels inside the generator and the discriminator (default 64).") var width: Int = 64
        @Option(name: .customLong("learning-rate"), help: "Adam's learning rate for both networks (default 2e-4).") var learningRate: Double = 2e-4
        @Option(help: "Random seed.") var seed: UInt64 = 0
        @Flag(help: "Overwrite the outputs.") var force = false

        @OptionGroup var global: GlobalOptions

        var png: String {
            (output.hasSuffix(".safetensors") ? String(output.dropLast(".safetensors".count)) : output) + ".png"
        }

        func validate() throws {
            guard !scans.isEmpty else { throw ValidationError("give at least one scan") }
            guard output.hasSuffix(".safetensors") else { throw ValidationError("-o \(output): expected a .safetensors file name") }
            if let a = axis, SliceDirection(a) == nil { throw ValidationError("--axis '\(a)': expected axial, coronal, sagittal, 0, 1 or 2") }
            guard iterations >= 1 else { throw ValidationError("--iterations \(iterations) must be >= 1") }
            guard (1...8).contains(factor) else { throw ValidationError("--factor \(factor) must be 1 to 8") }
            guard batch >= 1 else { throw ValidationError("--batch \(batch) must be >= 1") }
            guard width >= 1 else { throw ValidationError("--width \(width) must be >= 1") }
        }

        func settings() -> KernelLearningSettings {
            var s = KernelLearningSettings()
            s.factor = factor
            s.iterations = iterations
            s.patch = patch
            s.batch = batch
            s.generatorWidth = width
            s.discriminatorWidth = width
            s.learningRate = learningRate
            s.seed = seed
            return s
        }

        func run() throws {
            try global.apply()
            try VolumeIO.checkOutput(output, force: force)
            try VolumeIO.checkOutput(png, force: force)
            let settings = settings()
            do { try settings.validate() } catch let e as DegradationError { throw CLIError("\(e)") }
            func load(_ paths: [String]) throws -> [DegradationLearning.Input] {
                try paths.map { path in
                    guard FileManager.default.fileExists(atPath: path) else { throw CLIError("\(path): no such file") }
                    let v = try VolumeIO.read(path).volume
                    try VolumeIO.requireScalar(v, path)
                    return DegradationLearning.Input(volume: v, path: path)
                }
            }
            let inputs = try load(scans), high = try load(hr)
            let start = Date()
            var lastPrint = Date.distantPast
            let result: DegradationLearning.Result
            do {
                result = try DegradationLearning.learn(
                    scans: inputs, highResolution: high, direction: axis.flatMap(SliceDirection.init), settings: settings,
                    tool: "upres \(UpresVersion.string)"
                ) { i, losses in
                    let now = Date()
                    guard i == settings.iterations || i == 1 || now.timeIntervalSince(lastPrint) >= 2 else { return }
                    lastPrint = now
                    let elapsed = now.timeIntervalSince(start)
                    let eta = elapsed / Double(i) * Double(settings.iterations - i)
                    let f = { (k: String) in String(format: "%.4f", losses[k] ?? .nan) }
                    Console.err("[\(i)/\(settings.iterations)] G \(f("generator")) (adversarial \(f("adversarial")), bicubic \(f("bicubic")), sum \(f("sum")), centring \(f("centring"))) D \(f("discriminator")) - \(Self.duration(elapsed)) elapsed, ETA \(Self.duration(eta))")
                }
            } catch let e as DegradationError {
                throw CLIError("\(e)")
            }
            let k = result.kernel
            let sd = k.standardDeviations, c = k.centroidOffset
            let description = String(format: "sigma %.2f x %.2f voxels (rows x columns), centroid offset %+.2f, %+.2f, raw sum %.3f",
                                     sd[0], sd[1], c[0], c[1], result.rawKernel.sum)
            let image = try KernelImage.render(k, caption: ["rows: lower in-plane voxel axis", String(format: "sigma %.2f x %.2f", sd[0], sd[1])])
            // Encoded before anything is written; a failure writing the picture takes the kernel back.
            let pngData = try PNG.encode(image)
            try k.write(to: URL(fileURLWithPath: output), overwrite: force)
            do {
                try pngData.write(to: URL(fileURLWithPath: png), options: .atomic)
            } catch {
                try? FileManager.default.removeItem(atPath: output)
                throw error
            }
            print("\(output): \(k.size)x\(k.size) kernel, factor \(k.factor), \(description); \(settings.iterations) iterations in \(Self.duration(Date().timeIntervalSince(start)))")
            print("\(png): picture of the kernel")
        }

        static func duration(_ s: Double) -> String {
            guard s.isFinite else { return "?" }
            let t = Int(s.rounded())
            return t >= 60 ? "\(t / 60)m\(String(format: "%02d", t % 60))s" : "\(t)s"
        }
    }
}
