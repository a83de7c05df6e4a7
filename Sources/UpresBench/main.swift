// upres-bench: the upres side of bench/. Each benchmark prints `name seconds` lines (medians of
// --repeats runs); bench/run runs the PyTorch side (bench/torch_reference.py) with the same work
// and prints the ratios.
//
//   upres-bench overhead|conv|nifti|resample|all [--repeats N] [--threads N] [--iterations N]

#if canImport(Glibc)
import Glibc
#endif
import Torch

/// Writes to standard error (file descriptor 2).
func eprint(_ s: String) {
    _ = s.withCString { write(2, $0, strlen($0)) }
}

struct Options {
    var which = "all"
    var repeats = 5
    var threads: Int?
    var iterations = 20_000
    var convIterations = 5
}

func parseOptions() -> Options {
    var o = Options()
    var args = Array(CommandLine.arguments.dropFirst())
    if let first = args.first, !first.hasPrefix("--") { o.which = first; args.removeFirst() }
    var i = 0
    func value() -> Int {
        guard i + 1 < args.count, let v = Int(args[i + 1]), v > 0 else {
            eprint("upres-bench: \(args[i]) needs a positive integer\n")
            exit(2)
        }
        i += 1
        return v
    }
    while i < args.count {
        switch args[i] {
        case "--repeats": o.repeats = value()
        case "--threads": o.threads = value()
        case "--iterations": o.iterations = value()
        case "--conv-iterations": o.convIterations = value()
        default:
            eprint("upres-bench: unknown option \(args[i])\n")
            exit(2)
        }
        i += 1
    }
    return o
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2])
}

/// Seconds per call of `body`, the median over `repeats` timed loops of `iterations` calls.
func perCall(_ repeats: Int, _ iterations: Int, _ body: () throws -> Void) rethrows -> Double {
    for _ in 0..<Swift.max(iterations / 10, 1) { try body() }  // warm-up
    var samples: [Double] = []
    for _ in 0..<repeats {
        let t0 = now()
        for _ in 0..<iterations { try body() }
        samples.append((now() - t0) / Double(iterations))
    }
    return median(samples)
}

func overhead(_ o: Options) throws {
    let a = try Tensor.rand([4], generator: Generator(seed: 1))
    let b = try Tensor.rand([4], generator: Generator(seed: 2))
    let m = try Tensor.rand([2, 2], generator: Generator(seed: 3))
    let n = o.iterations
    let cases: [(String, () throws -> Void)] = [
        ("overhead.add", { _ = try a + b }),
        ("overhead.mul_scalar", { _ = try a * 2.0 }),
        ("overhead.relu", { _ = try a.relu() }),
        ("overhead.sum", { _ = try a.sum() }),
        ("overhead.reshape", { _ = try a.reshape([2, 2]) }),
        ("overhead.zeros", { _ = try Tensor.zeros([4]) }),
        ("overhead.matmul", { _ = try m.matmul(m) }),
        ("overhead.autograd_step", {
            let x = try a.detach().requiresGrad(true)
            let y = try (x * x).sum()
            try y.backward()
        }),
    ]
    for (name, body) in cases {
        let s = try perCall(o.repeats, n, body)
        print(name, s)
    }
}

func conv(_ o: Options) throws {
    let g = try Generator(seed: 0)
    let x = try Tensor.randn([8, 64, 96, 96], generator: g).requiresGrad(true)
    let w = try (Tensor.randn([64, 64, 3, 3], generator: g) * 0.05).requiresGrad(true)
    let bias = try Tensor.zeros([64]).requiresGrad(true)
    func step() throws {
        let y = try x.conv2d(w, bias: bias, padding: [1])
        try y.sum().backward()
        try x.zeroGrad()
        try w.zeroGrad()
        try bias.zeroGrad()
    }
    for _ in 0..<2 { try step() }
    var samples: [Double] = []
    for _ in 0..<o.repeats {
        let t0 = now()
        for _ in 0..<o.convIterations { try step() }
        samples.append((now() - t0) / Double(o.convIterations))
    }
    print("conv2d_fwd_bwd.8x64x96x96", median(samples))
}

let options = parseOptions()
do {
    if let t = options.threads { try TorchRuntime.setThreads(t) }
    switch options.which {
    case "overhead": try overhead(options)
    case "conv": try conv(options)
    case "nifti": try ImagingBench.nifti(options)
    case "resample": try ImagingBench.resample(options)
    case "memory": try MemoryCheck.run(cycles: 100_000)
    case "ssim": try ImagingBench.ssim(options)
    case "perceptual": try ImagingBench.perceptual(options)
    case "simulate": try ImagingBench.simulate(options)
    case "train": try TrainingBench.train(options)
    case "gan": try TrainingBench.gan(options)
    case "mdcsrn": try TrainingBench.mdcsrn(options)
    case "rrdb": try TrainingBench.rrdb(options)
    case "rau": try TrainingBench.rau(options)
    case "upsample":
        try TrainingBench.upsample(options, model: "models/thick-5-6-t1/model.safetensors",
                                   input: "data/cache/colin27_thick-5-6.nii.gz")
    case "all":
        try overhead(options)
        try conv(options)
        try ImagingBench.nifti(options)
        try ImagingBench.resample(options)
        try ImagingBench.ssim(options)
    default:
        eprint("upres-bench: unknown benchmark '\(options.which)'; expected overhead, conv, nifti, resample, ssim, perceptual, simulate, train, gan, mdcsrn, rrdb, rau, upsample, memory or all\n")
        exit(2)
    }
} catch {
    eprint("upres-bench: \(error)\n")
    exit(1)
}
