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

extension TrainingBench {
    /// One adversarial training step as the generic trainer takes it (bench/gan_reference.py is
    /// the same in PyTorch): seed 000's attention U-Net (16 features, depth 4) against seed 004's
    /// PatchGAN critic (32 features, 3 layers) under WGAN-GP (lambda 10, Adam betas 0, 0.9):
    /// a critic update with the gradient penalty's double backward, then a generator update on
    /// L1 + 0.01 x the adversarial term; batch 4 of 64 x 64.
    static func gan(_ o: Options) throws {
        try manualSeed(0)
        let g = try AttentionUNet(AttentionUNetConfig(features: 16, depth: 4, finalActivation: "identity", residualChannel: 0))
        let d = try PatchGANCritic(PatchGANCriticConfig(features: 32, layers: 3), generator: nil)
        let optG = Adam(parameters: g.namedParameters(), learningRate: 1e-4, beta1: 0, beta2: 0.9)
        let optD = Adam(parameters: d.namedParameters(), learningRate: 1e-4, beta1: 0, beta2: 0.9)
        let dParams = d.parameters()
        let x = try Tensor.rand([4, 1, 64, 64]), y = try Tensor.rand([4, 1, 64, 64])
        let e = try Tensor.rand([4, 1, 1, 1])
        func step() throws {
            let fake = try withNoGrad { try g(x) }
            let loss = try AdversarialLoss.wasserstein.criticLoss(real: d(y), fake: d(fake))
                + gradientPenalty(critic: { try d($0) }, real: y, fake: fake, mixing: e) * 10
            try optD.zeroGrad()
            try loss.backward()
            try optD.step()
            for p in dParams { try p.requiresGrad(false) }
            let pred = try g(x)
            let total = try pred.l1Loss(y) + AdversarialLoss.wasserstein.generatorLoss(fake: d(pred)) * 0.01
            try optG.zeroGrad()
            try total.backward()
            try optG.step()
            for p in dParams { try p.requiresGrad(true) }
        }
        try timeSteps(o, "train.gan.unet16-patchgan32-wgangp", warmUp: 2, steps: 5, step)
    }
}

extension TrainingBench {
    /// Seed 002's 3-D network as configs/mdcsrn-kspace-x4.yaml trains it (16 features, growth 8,
    /// 3 blocks of 3 units), Adam, L1, a batch of 4 patches of 32^3: seconds per step
    /// (bench/mdcsrn_reference.py train is the same in PyTorch).
    static func mdcsrn(_ o: Options) throws {
        try manualSeed(0)
        let model = try MDCSRN(MDCSRNConfig(features: 16, growth: 8, blocks: 3, units: 3))
        let opt = Adam(parameters: model.namedParameters(), learningRate: 1e-3)
        let x = try Tensor.rand([4, 1, 32, 32, 32]), y = try Tensor.rand([4, 1, 32, 32, 32])
        func step() throws {
            let loss = try model(x).l1Loss(y)
            try opt.zeroGrad()
            try loss.backward()
            try opt.step()
        }
        try timeSteps(o, "train.mdcsrn16x8x3x3.step", warmUp: 1, steps: 3, step)
    }
}

extension TrainingBench {
    /// Seed 001's adversarial step as configs/real-esrgan.yaml takes it (bench/rrdb_reference.py
    /// train is the same in PyTorch): the RRDB generator (32 features, 4 blocks, growth 16,
    /// factor 4, plus the interpolated centre slice) against the U-Net critic with spectral
    /// normalization (16 features; one power iteration per forward in both): a critic update on
    /// BCE, then a generator update on L1 + 0.05 x BCE; batch 6 of 3 x 16 x 64 -> 64 x 64.
    static func rrdb(_ o: Options) throws {
        try manualSeed(0)
        let g = try RRDBNet(RRDBNetConfig(inChannels: 3, features: 32, blocks: 4, growth: 16, factor: 4, residual: true))
        let d = try UNetSNCritic(UNetSNCriticConfig(features: 16), generator: nil)
        let optG = Adam(parameters: g.namedParameters(), learningRate: 2e-4, beta1: 0.9, beta2: 0.99)
        let optD = Adam(parameters: d.namedParameters(), learningRate: 1e-4, beta1: 0.9, beta2: 0.99)
        let dParams = d.parameters()
        let x = try Tensor.rand([6, 3, 16, 64]), y = try Tensor.rand([6, 1, 64, 64])
        func step() throws {
            let fake = try withNoGrad { try g(x) }
            let loss = try AdversarialLoss.bce.criticLoss(real: d(y), fake: d(fake))
            try optD.zeroGrad()
            try loss.backward()
            try optD.step()
            for p in dParams { try p.requiresGrad(false) }
            let pred = try g(x)
            let total = try pred.l1Loss(y) + AdversarialLoss.bce.generatorLoss(fake: d(pred)) * 0.05
            try optG.zeroGrad()
            try total.backward()
            try optG.step()
            for p in dParams { try p.requiresGrad(true) }
        }
        try timeSteps(o, "train.rrdb32x4-unetsn16-bce.step", warmUp: 2, steps: 5, step)
    }

    /// Seed 004's generator as configs/residual-attention-unet.yaml sizes it (16 features,
    /// multipliers 1, 2, 2, 2, 2 residual blocks per level, GroupNorm 8, 4 heads, cross-attention
    /// from level 2 to the sinusoidally encoded slice position), Adam, L1; batch 4 of 3 x 64 x 64
    /// (bench/rau_reference.py train is the same in PyTorch). Its critic step is the `gan` group's.
    static func rau(_ o: Options) throws {
        try manualSeed(0)
        let model = try ResidualAttentionUNet(ResidualAttentionUNetConfig())
        let opt = Adam(parameters: model.namedParameters(), learningRate: 5e-4)
        let x = try Tensor.rand([4, 3, 64, 64]), y = try Tensor.rand([4, 1, 64, 64]), position = try Tensor.rand([4])
        func step() throws {
            let loss = try model.forward(x, features: nil, position: position).l1Loss(y)
            try opt.zeroGrad()
            try loss.backward()
            try opt.step()
        }
        try timeSteps(o, "train.rau16-1222.step", warmUp: 2, steps: 5, step)
    }

    /// Seconds per call of `step` (after `warmUp` calls): the median over `o.repeats` runs of `steps`.
    static func timeSteps(_ o: Options, _ name: String, warmUp: Int, steps: Int, _ step: () throws -> Void) throws {
        for _ in 0..<warmUp { try step() }
        var samples: [Double] = []
        for _ in 0..<o.repeats {
            let t0 = now()
            for _ in 0..<steps { try step() }
            samples.append((now() - t0) / Double(steps))
        }
        print(name, median(samples))
    }
}
