import Foundation
import Testing
@testable import Imaging
@testable import NN
@testable import SuperResolution
import Torch

@Suite struct DeepLinearGeneratorTests {
    /// The generator on an image equals the convolution with its delta response, sampled every
    /// `factor` voxels from index 6 (valid convolutions), computed independently by
    /// `DegradationKernel.apply` (reflect padding, flipped-weight conv2d, stride), in float64;
    /// and the delta response is the composition of the layers: a random asymmetric kernel, so a
    /// missing flip or an offset by one voxel fails.
    @Test(arguments: [1, 2, 3])
    func generatorIsItsKernelThenSubsampling(factor: Int) throws {
        let g = try DeepLinearGenerator(width: 4, factor: factor, generator: Generator(seed: 7))
        let layers = try g.convolutions.map { Conv2d(weight: try $0.weight.detach().to(.float64), bias: nil, stride: $0.stride) }
        let g64 = try DeepLinearGenerator(layers: layers, factor: factor)
        let k = try g64.degradationKernel()
        #expect(k.size == 13)
        let x = try Tensor.randn([2, 1, 40, 37], dtype: .float64, generator: Generator(seed: 3))
        let y = try withNoGrad { try g64(x) }
        let reference = try k.apply(toImages: x)
        // DegradationKernel samples from offset o; G's first output sits at index 6.
        let (oy, ox) = (k.sampling(n: 40).offset, k.sampling(n: 37).offset)
        #expect((6 - oy) % factor == 0 && (6 - ox) % factor == 0)
        let aligned = try reference.narrow(2, start: (6 - oy) / factor, length: y.shape[2]).narrow(3, start: (6 - ox) / factor, length: y.shape[3])
        let difference = try (y - aligned).abs().max().item()
        #expect(difference < 1e-10, "factor \(factor): max |G(x) - (x * k) sampled| = \(difference)")
        // Not trivially equal: the kernel is asymmetric.
        let t = try k.tensor()
        #expect(try (t - t.flip([0, 1])).abs().max().item() > 1e-3)
        // The composition by hand: full 2-D convolution of the layers' channel-summed weights is
        // what a delta sees; check one entry away from the centre against an explicit sum.
        let w = try layers.map { try $0.weight.contiguous().toArray(Double.self) }
        let shapes = layers.map(\.weight.shape)
        // Composite correlation weight c[q] of the whole chain (one output channel): recursive
        // full correlation over channels; k is c flipped.
        var c: [[Double]] = (0..<shapes[0][0]).map { o in (0..<49).map { w[0][o * 49 + $0] } }  // per channel, 7x7
        var side = 7
        for l in 1..<layers.count {
            let (outC, inC, ks) = (shapes[l][0], shapes[l][1], shapes[l][2])
            let newSide = side + ks - 1
            var next = [[Double]](repeating: [Double](repeating: 0, count: newSide * newSide), count: outC)
            for o in 0..<outC {
                for i in 0..<inC {
                    for a in 0..<ks {
                        for b in 0..<ks {
                            let wv = w[l][((o * inC + i) * ks + a) * ks + b]
                            for u in 0..<side { for v in 0..<side { next[o][(u + a) * newSide + v + b] += wv * c[i][u * side + v] } }
                        }
                    }
                }
            }
            c = next
            side = newSide
        }
        let flipped = c[0].reversed().map { $0 }
        let maxError = zip(flipped, k.weights).map { abs($0 - $1) }.max()!
        #expect(maxError < 1e-12, "delta response vs the layers' composition: \(maxError)")
    }
}

@Suite struct DegradationKernelTests {
    @Test func fileRoundTripsAndWrongFilesNameTheField() throws {
        let dir = try scratchFolder()
        let url = dir.appendingPathComponent("k.safetensors")
        var k = try DegradationKernel.gaussian(sigma: [1.5, 0.7], size: 13, factor: 2)
        k.provenance = KernelProvenance(tool: "t", method: "m", scans: [], highResolutionScans: [], iterations: 3, seed: 9, settings: "{}",
                                        finalLosses: ["bicubic": 0.1], rawSum: 1.02, seconds: 1)
        try k.write(to: url)
        #expect(try DegradationKernel(contentsOf: url) == k)
        #expect(throws: KernelFileError.self) { try k.write(to: url) }
        // A safetensors file that is not a kernel.
        let other = dir.appendingPathComponent("weights.safetensors")
        try Safetensors.write([("conv.weight", Tensor.zeros([2, 2]))], metadata: [:], to: other)
        #expect { try DegradationKernel(contentsOf: other) } throws: { e in
            (e as? KernelFileError)?.field == "metadata.format" && "\(e.localizedDescription)".contains(other.path)
        }
        // A kernel whose size disagrees with its tensor.
        let wrong = dir.appendingPathComponent("wrong.safetensors")
        try Safetensors.write([("kernel", Tensor.zeros([5, 5], dtype: .float64))],
                              metadata: ["format": DegradationKernel.fileFormat, "format_version": "1", "factor": "2", "size": "13"], to: wrong)
        #expect { try DegradationKernel(contentsOf: wrong) } throws: { e in (e as? KernelFileError)?.field == "kernel" }
        let garbage = dir.appendingPathComponent("garbage.safetensors")
        try Data("not a kernel".utf8).write(to: garbage)
        #expect { try DegradationKernel(contentsOf: garbage) } throws: { e in (e as? KernelFileError)?.field == "file" }
        #expect { try DegradationKernel(contentsOf: dir.appendingPathComponent("missing.safetensors")) } throws: { e in
            (e as? KernelFileError)?.problem == "no such file"
        }
    }
}

/// Seed 003's downsampling GAN recovers a known kernel (issue 16, "Learned kernel").
@Suite struct KernelRecoveryTests {
    /// MNI152 axial slices: the even ones are the high-resolution images, the odd ones blurred with
    /// an anisotropic Gaussian (sigma 1.8 voxels along rows, 0.9 along columns) and downsampled x2
    /// are the real low-resolution ones (unpaired, as in seed 003).
    ///
    /// Sized for the test suite: 500 iterations (seed: 3000) of batch 4 (seed: 1), 16 channels in
    /// the generator and 32 in the discriminator (default 64), the bicubic weight decayed every 100
    /// iterations (seed: 200) so that the sparsity and centring terms act for the last 300; about
    /// 40 s in a debug build on 2 cores. `bash bench/learned-kernel` runs the seed's settings.
    ///
    /// Tolerance: L2 error <= 0.13, 59% of ||k_true|| = 0.222 and 75% of the error of the better
    /// plain guess (0.174: the isotropic Gaussian whose FWHM is the factor; cubic downscaling is at
    /// 0.255). What the guesses cannot have is the anisotropy, so the learned kernel must also be
    /// wider along rows than along columns by 0.2 voxels (truth 1.79 vs 0.90). Not claimed at this
    /// size: beating the best isotropic Gaussian (0.075), which needs the truth to pick its sigma
    /// (this run reaches 0.10; 1000 iterations 0.081).
    @Test func learnsAnAnisotropicGaussian() throws {
        let url = packageRoot.appendingPathComponent("data/samples/mni152/mni152_2009a_t1_1mm.nii.gz")
        guard FileManager.default.fileExists(atPath: url.path) else {
            Issue.record("sample data mni152 is missing: run `make bootstrap`")
            return
        }
        let mni = try NIfTI.readVolume(url)
        let axis = mni.axis(normalTo: .axial)
        let truth = try DegradationKernel.gaussian(sigma: [1.8, 0.9], size: 13, factor: 2)
        func subset(_ parity: Int) throws -> Volume {
            let idx = try Tensor(Array(stride(from: 50 + parity, to: 130, by: 2)).map(Int64.init), shape: nil)
            var v = mni
            v.data = try mni.data.indexSelect(axis, idx)
            return v
        }
        let hr = try subset(0)
        let lr = try KernelDownsampling(kernel: truth, direction: .voxelAxis(axis)).apply(to: subset(1))
        var settings = KernelLearningSettings()
        settings.iterations = 500
        settings.decayEvery = 100
        settings.generatorWidth = 16
        settings.discriminatorWidth = 32
        settings.batch = 4
        settings.seed = 1
        let start = Date()
        let result = try DegradationLearning.learn(scans: [.init(volume: lr)], highResolution: [.init(volume: hr)],
                                                   direction: .voxelAxis(axis), settings: settings)
        let seconds = Date().timeIntervalSince(start)
        let error = try result.kernel.distance(to: truth)
        let cubic = try DegradationKernel.cubic(factor: 2).distance(to: truth)
        let fromFactor = try DegradationKernel.gaussian(sigma: [2 / 2.3548, 2 / 2.3548]).distance(to: truth)
        let bestIsotropic = try stride(from: 0.5, through: 3.0, by: 0.05).map { try DegradationKernel.gaussian(sigma: [$0, $0]).distance(to: truth) }.min()!
        print("learned kernel: L2 error \(error) (cubic \(cubic), sigma-from-factor \(fromFactor), best isotropic \(bestIsotropic)), \(seconds) s, losses \(result.finalLosses.filter { !$0.key.hasPrefix("mean") })")
        print("kernel rows sum profile", (0..<13).map { r in String(format: "%.3f", (0..<13).map { result.kernel.weights[r * 13 + $0] }.reduce(0, +)) })
        print("kernel cols sum profile", (0..<13).map { c in String(format: "%.3f", (0..<13).map { result.kernel.weights[$0 * 13 + c] }.reduce(0, +)) })
        #expect(error < fromFactor && error < cubic)
        #expect(error <= 0.13, "L2 error \(error) above the tolerance 0.13")
        let spread = result.kernel.standardDeviations
        #expect(spread[0] > spread[1] + 0.2, "spread rows x columns \(spread): the anisotropy is not recovered")
        #expect(abs(result.kernel.sum - 1) < 1e-9 && abs(result.rawKernel.sum - 1) < 0.05)
    }
}
