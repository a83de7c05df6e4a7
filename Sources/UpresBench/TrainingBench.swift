import Foundation
import Imaging
import NN
import SuperResolution
import Torch

/// The training and reconstruction benchmarks against bench/edsr_reference.py.
enum TrainingBench {
    /// The shipped architecture (EDSR 32 features x 6 blocks, factor 6), Adam, L1, a batch of 8
    /// patches of 3 x 8 x 48 -> 48 x 48: the same steps as the PyTorch reference.
    static func train(_ o: Options) throws {
        try manualSeed(0)
        let model = try EDSR(EDSRConfig())
        let opt = Adam(parameters: model.namedParameters(), learningRate: 2e-4)
        let x = try Tensor.rand([8, 3, 8, 48]), y = try Tensor.rand([8, 1, 48, 48])
        let steps = 20
        func run(_ n: Int) throws {
            for _ in 0..<n {
                let loss = try model(x).l1Loss(y)
                try opt.zeroGrad()
                try loss.backward()
                try opt.step()
            }
        }
        try run(3)
        var samples: [Double] = []
        for _ in 0..<o.repeats {
            let t0 = now()
            try run(steps)
            samples.append(now() - t0)
        }
        print("train.edsr32x6.\(steps)steps", median(samples))
    }

    /// `upres upsample` of a 181 x 217 x 30 (1 x 1 x 6 mm) Colin 27 with the shipped model, reading
    /// and writing the files included (what the command does, minus argument parsing).
    static func upsample(_ o: Options, model: String, input: String) throws {
        let t0 = now()
        let file = try ModelFile.load(URL(fileURLWithPath: model))
        let v = try NIfTI.readVolume(URL(fileURLWithPath: input))
        let (out, _) = try Reconstruction.upsample(v, model: file, targetSpacing: 1)
        try NIfTI.write(out, to: URL(fileURLWithPath: "/tmp/upres-bench-sr.nii.gz"), options: NIfTIWriteOptions(overwrite: true))
        print("upsample.edsr.181x217x30_to_1mm", now() - t0)
    }
}
