import ArgumentParser
import Torch

/// Options every command shares (`@OptionGroup var global: GlobalOptions`).
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Intra-op CPU threads (default: all cores, or OMP_NUM_THREADS).")
    var threads: Int?

    @Option(name: .long, help: "Where to compute: cpu, cuda or cuda:N.", transform: { text in
        guard let d = Device(text) else {
            throw ValidationError("--device '\(text)' is not a device; expected cpu, cuda or cuda:N")
        }
        return d
    })
    var device: Device = .cpu

    func validate() throws {
        if let threads, threads < 1 {
            throw ValidationError("--threads \(threads) must be at least 1")
        }
        if case .cuda(let i) = device {
            let n = TorchRuntime.cudaDeviceCount
            guard i < n else {
                throw ValidationError(
                    n == 0 ? "--device \(device): this libtorch has no CUDA device (CPU-only build or no GPU)"
                           : "--device \(device): only \(n) CUDA device(s) present (cuda:0 to cuda:\(n - 1))")
            }
        }
    }

    /// Applies the settings to the engine.
    func apply() throws {
        if let threads { try TorchRuntime.setThreads(threads) }
    }
}
