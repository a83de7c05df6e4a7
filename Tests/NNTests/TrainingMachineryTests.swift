import Foundation
import Testing
@testable import NN
@testable import Torch

/// Float64 central finite differences of a scalar function of one tensor.
private func numericGradient(_ x: Tensor, _ f: (Tensor) throws -> Double, eps: Double = 1e-6) throws -> [Double] {
    let base = try x.to(.float64).contiguous().toArray(Double.self)
    var grad: [Double] = []
    for i in 0..<base.count {
        var plus = base, minus = base
        plus[i] += eps
        minus[i] -= eps
        let fp = try f(Tensor(plus, shape: x.shape)), fm = try f(Tensor(minus, shape: x.shape))
        grad.append((fp - fm) / (2 * eps))
    }
    return grad
}

private func expectClose(_ a: [Double], _ b: [Double], tol: Double, _ label: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.count == b.count, "\(label)", sourceLocation: sourceLocation)
    let worst = zip(a, b).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
    #expect(worst < tol, "\(label): worst error \(worst)", sourceLocation: sourceLocation)
}

@Suite struct LayerTests {
    @Test func layerOutputsWorkedOutByHand() throws {
        // Conv3d with a 1x1x1 kernel of weight 2 and bias 1: y = 2x + 1.
        let conv = Conv3d(weight: try Tensor([2.0], shape: [1, 1, 1, 1, 1]), bias: try Tensor([1.0]))
        let x = try Tensor([1.0, 2, 3, 4, 5, 6, 7, 8], shape: [1, 1, 2, 2, 2])
        #expect(try conv(x).flatten().toArray(Double.self) == [3, 5, 7, 9, 11, 13, 15, 17])
        // ConvTranspose2d stride 2 with a 2x2 kernel of ones spreads each pixel into a 2x2 block.
        let up = ConvTranspose(weight: try Tensor.ones([1, 1, 2, 2], dtype: .float64), bias: nil, stride: [2])
        #expect(try up(Tensor([1.0, 2], shape: [1, 1, 1, 2])).flatten().toArray(Double.self) == [1, 1, 2, 2, 1, 1, 2, 2])
        // Pixel shuffle along the height only: channels (r) become rows.
        let s = try PixelShuffle.shuffle(Tensor([1.0, 2, 10, 20, 100, 200], shape: [1, 3, 1, 2]), height: 3, width: 1)
        #expect(s.shape == [1, 1, 3, 2])
        #expect(try s.flatten().toArray(Double.self) == [1, 2, 10, 20, 100, 200])
        // Square factors match torch's pixel_shuffle.
        let sq = try Tensor.arange(0, 16, dtype: .float64).reshape([1, 4, 2, 2])
        #expect(try (PixelShuffle.shuffle(sq, height: 2, width: 2) - sq.pixelShuffle(2)).abs().max().item() == 0)
        // Layer norm of [1, 2, 3]: (x - 2) / sqrt(2/3 + eps).
        let ln = try LayerNorm([3])
        let y = try ln(Tensor([1.0, 2, 3], shape: [1, 3]).to(.float32)).toArray(Float.self)
        #expect(abs(Double(y[0]) + 1 / (2.0 / 3 + 1e-5).squareRoot()) < 1e-5 && abs(Double(y[1])) < 1e-6)
        // Dropout is the identity in evaluation mode.
        let d = Dropout(p: 0.5)
        d.eval()
        let ones = try Tensor.ones([100])
        #expect(try d(ones).sum().item() == 100)
        #expect(try Activation(.leakyReLU(0.2))(Tensor([-1.0, 2])).toArray(Double.self) == [-0.2, 2])
    }

    @Test func ssimLossValueAndGradient() throws {
        let g = try Generator(seed: 9)
        let y = try Tensor.rand([2, 1, 13, 12], dtype: .float64, generator: g)
        #expect(abs(try ssimLoss(y, y).item()) < 1e-12)
        let x = try (y + Tensor.randn(y.shape, dtype: .float64, generator: g) * 0.1).requiresGrad(true)
        let loss = try ssimLoss(x, y)
        let value = try loss.item()
        #expect(value > 0 && value < 1)
        try loss.backward()
        let numeric = try numericGradient(x) { v in try withNoGrad { try ssimLoss(v, y).item() } }
        expectClose(try x.grad!.flatten().toArray(Double.self), numeric, tol: 1e-7, "1 - SSIM")
        #expect(throws: TorchError.self) { try ssimLoss(Tensor.rand([1, 1, 8, 8]), Tensor.rand([1, 1, 8, 8])) }
    }

    @Test func gradientsMatchFiniteDifferences() throws {
        let g = try Generator(seed: 5)
        let x = try Tensor.randn([1, 2, 5, 4], dtype: .float64, generator: g)
        let conv = try Conv2d(inChannels: 2, outChannels: 3, kernelSize: 3, padding: 1, generator: g)
        let w = try conv.weight.to(.float64).detach().requiresGrad(true), b = try conv.bias!.to(.float64).detach().requiresGrad(true)
        let gn = try GroupNorm(groups: 1, channels: 3)
        func f(_ weight: Tensor) throws -> Tensor {
            let y = try x.conv2d(weight, bias: b, padding: [1]).groupNorm(groups: 1, weight: gn.weight.to(.float64), bias: gn.bias.to(.float64))
            return try PixelShuffle.shuffle(y.silu().narrow(1, start: 0, length: 3), height: 3, width: 1).square().sum()
        }
        try f(w).backward()
        let numeric = try numericGradient(w) { v in try withNoGrad { try f(v).item() } }
        expectClose(try w.grad!.flatten().toArray(Double.self), numeric, tol: 1e-6, "conv + group norm + silu + shuffle")

        // Multi-head attention, gradient with respect to the query.
        let mha = try MultiheadAttention(embedding: 4, heads: 2, generator: g)
        let q = try Tensor.randn([1, 3, 4], dtype: .float64, generator: g).requiresGrad(true)
        let kv = try Tensor.randn([1, 5, 4], dtype: .float64, generator: g)
        let w64 = try mha.in_proj_weight.to(.float64).detach(), b64 = try mha.in_proj_bias.to(.float64).detach()
        let o64 = try Linear(weight: mha.out_proj.weight.to(.float64).detach(), bias: mha.out_proj.bias!.to(.float64).detach())
        let layer = try MultiheadAttention(inProjWeight: w64, inProjBias: b64, outProj: o64, heads: 2)
        func attend(_ query: Tensor) throws -> Tensor {
            try layer(query: query, key: kv, value: kv).square().sum()
        }
        try attend(q).backward()
        let numericQ = try numericGradient(q) { v in try withNoGrad { try attend(v).item() } }
        expectClose(try q.grad!.flatten().toArray(Double.self), numericQ, tol: 1e-6, "attention")
    }

    @Test func batchNormTracksRunningStatisticsLikePyTorch() throws {
        let bn = try BatchNorm(features: 2)
        let x = try Tensor([1.0, 3, 2, 6], shape: [2, 2]).to(.float32)  // channel 0: 1, 2; channel 1: 3, 6
        _ = try bn(x)
        // running = 0.9 running + 0.1 batch (unbiased variance).
        let mean = try bn.running_mean.toArray(Float.self)
        #expect(abs(Double(mean[0]) - 0.15) < 1e-6 && abs(Double(mean[1]) - 0.45) < 1e-6)
        let v = try bn.running_var.toArray(Float.self)
        #expect(abs(Double(v[0]) - (0.9 + 0.1 * 0.5)) < 1e-6 && abs(Double(v[1]) - (0.9 + 0.1 * 4.5)) < 1e-6)
        #expect(try bn.num_batches_tracked.itemInt() == 1)
        #expect(bn.stateDict().keys.sorted() == ["bias", "num_batches_tracked", "running_mean", "running_var", "weight"])
    }
}

@Suite struct OptimizerTests {
    /// Minimizes sum((p - target)^2) for a few steps and checks every step against the update
    /// equations of PyTorch's documentation, computed here in plain Double arithmetic.
    func run(_ make: ([(String, Tensor)]) -> any Optimizer, steps: Int = 5,
             reference: (inout [Double], [Double], Int) -> Void) throws {
        let start: [Double] = [0.5, -1.5, 2.0]
        let target: [Double] = [1, 2, 3]
        let p = try Tensor(start).requiresGrad(true)
        let opt = make([("p", p)])
        var expected = start
        for t in 1...steps {
            try opt.zeroGrad()
            try (p - Tensor(target)).square().sum().backward()
            let grad = zip(expected, target).map { 2 * ($0 - $1) }
            try opt.step()
            reference(&expected, grad, t)
            let got = try p.toArray(Double.self)
            for (a, b) in zip(got, expected) { #expect(abs(a - b) < 1e-12, "step \(t): \(got) vs \(expected)") }
        }
    }

    @Test func adamFollowsPyTorch() throws {
        var m = [0.0, 0, 0], v = [0.0, 0, 0]
        let (lr, b1, b2, eps, wd) = (0.1, 0.9, 0.999, 1e-8, 0.01)
        try run({ Adam(parameters: $0, learningRate: lr, weightDecay: wd) }) { p, g, t in
            for i in 0..<3 {
                let gi = g[i] + wd * p[i]
                m[i] = b1 * m[i] + (1 - b1) * gi
                v[i] = b2 * v[i] + (1 - b2) * gi * gi
                let denom = (v[i] / (1 - pow(b2, Double(t)))).squareRoot() + eps
                p[i] -= lr / (1 - pow(b1, Double(t))) * m[i] / denom
            }
        }
    }

    @Test func adamWDecouplesWeightDecay() throws {
        var m = [0.0, 0, 0], v = [0.0, 0, 0]
        let (lr, b1, b2, eps, wd) = (0.05, 0.9, 0.999, 1e-8, 0.1)
        try run({ Adam.adamW(parameters: $0, learningRate: lr, weightDecay: wd) }) { p, g, t in
            for i in 0..<3 {
                p[i] *= 1 - lr * wd
                m[i] = b1 * m[i] + (1 - b1) * g[i]
                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                let denom = (v[i] / (1 - pow(b2, Double(t)))).squareRoot() + eps
                p[i] -= lr / (1 - pow(b1, Double(t))) * m[i] / denom
            }
        }
    }

    @Test func sgdWithMomentumAndNesterov() throws {
        for nesterov in [false, true] {
            var buf: [Double]? = nil
            let (lr, mu, wd) = (0.01, 0.9, 0.001)
            try run({ SGD(parameters: $0, learningRate: lr, momentum: mu, weightDecay: wd, nesterov: nesterov) }) { p, g, _ in
                let d = (0..<3).map { g[$0] + wd * p[$0] }
                buf = buf.map { b in (0..<3).map { mu * b[$0] + d[$0] } } ?? d
                let step = nesterov ? (0..<3).map { d[$0] + mu * buf![$0] } : buf!
                for i in 0..<3 { p[i] -= lr * step[i] }
            }
        }
    }

    @Test func optimizerStateRoundTrips() throws {
        let p = try Tensor([1.0, 2]).requiresGrad(true)
        let a = Adam(parameters: [("w", p)], learningRate: 0.1)
        try p.square().sum().backward()
        try a.step()
        let state = try a.stateDict()
        #expect(state.keys.sorted() == ["step", "w.exp_avg", "w.exp_avg_sq"])
        let b = Adam(parameters: [("w", p)], learningRate: 0.1)
        try b.loadStateDict(state)
        #expect(b.stepCount == 1)
        #expect(throws: NNError.self) { try b.loadStateDict(["step": try Tensor([Int64(1)]), "other.exp_avg": try Tensor([1.0])]) }
    }

    @Test func gradientClippingScalesToTheNorm() throws {
        let p = try Tensor([0.0, 0]).requiresGrad(true)
        try (p * Tensor([3.0, 4])).sum().backward()  // grad (3, 4), norm 5
        let norm = try clipGradNorm([p], maxNorm: 1)
        #expect(abs(norm - 5) < 1e-12)
        let g = try p.grad!.toArray(Double.self)
        #expect(abs(g[0] - 0.6) < 1e-6 && abs(g[1] - 0.8) < 1e-6)
    }
}

@Suite struct ScheduleTests {
    @Test func schedulesFollowTheirFormulas() {
        #expect(LearningRateSchedule.step(stepSize: 10, gamma: 0.5).rate(base: 1, step: 25) == 0.25)
        #expect(abs(LearningRateSchedule.exponential(gamma: 0.9).rate(base: 2, step: 3) - 2 * 0.729) < 1e-12)
        // SGDR with T0 = 8, Tmult = 2: restarts at 8, 24, 56.
        let cos = LearningRateSchedule.cosineWarmRestarts(t0: 8, tMult: 2, etaMin: 0)
        #expect(cos.rate(base: 1, step: 0) == 1 && cos.rate(base: 1, step: 8) == 1 && cos.rate(base: 1, step: 24) == 1)
        #expect(abs(cos.rate(base: 1, step: 4) - 0.5) < 1e-12)  // half of the first period
        #expect(abs(cos.rate(base: 1, step: 16) - 0.5) < 1e-12)  // half of the second (16 steps)
        let one = LearningRateSchedule.cosineWarmRestarts(t0: 10, tMult: 1, etaMin: 0.1)
        #expect(abs(one.rate(base: 1, step: 15) - (0.1 + 0.9 * 0.5)) < 1e-12)
        #expect(Warmup(steps: 4).factor(step: 0) == 0.25 && Warmup(steps: 4).factor(step: 10) == 1)
    }

    @Test func plateauLowersTheRateAfterPatience() {
        var p = ReduceOnPlateau(factor: 0.5, patience: 2)
        #expect(p.record(1.0, base: 1) == 1)
        #expect(p.record(1.0, base: 1) == 1)
        #expect(p.record(1.0, base: 1) == 1)
        #expect(p.record(1.0, base: 1) == 0.5)  // third check without improvement
        #expect(p.record(0.5, base: 1) == 0.5)
    }
}

@Suite struct LossTests {
    @Test func lossesMatchTheirDefinitions() throws {
        let a = try Tensor([1.0, 2, 3]), b = try Tensor([1.5, 2, 1])
        #expect(try Loss.l1(a, b).item() == (0.5 + 0 + 2) / 3)
        #expect(try Loss.mse(a, b).item() == (0.25 + 0 + 4) / 3)
        let c = try Loss.charbonnier(a, b).item()
        #expect(abs(c - ([0.5, 0, 2].map { ($0 * $0 + 1e-6).squareRoot() }.reduce(0, +) / 3)) < 1e-12)
        // BCE with logits: -[y log s(x) + (1 - y) log(1 - s(x))].
        let x = try Tensor([0.3]), y = try Tensor([1.0])
        #expect(abs(try bceWithLogitsLoss(x, y).item() + log(1 / (1 + exp(-0.3)))) < 1e-12)
    }

    @Test func aTinyModelOverfitsATinyDataset() throws {
        let g = try Generator(seed: 9)
        let x = try Tensor.randn([4, 1, 6, 6], generator: g), target = try Tensor.randn([4, 1, 6, 6], generator: g)
        let net = Sequential([try Conv2d(inChannels: 1, outChannels: 8, kernelSize: 3, padding: 1, generator: g), ReLU(),
                              try Conv2d(inChannels: 8, outChannels: 1, kernelSize: 3, padding: 1, generator: g)])
        let opt = Adam(parameters: net.namedParameters(), learningRate: 0.01)
        let first = try Loss.mse(net(x), target).item()
        var last = first
        for _ in 0..<400 {
            try opt.zeroGrad()
            let loss = try Loss.mse(net(x), target)
            try loss.backward()
            try opt.step()
            last = try loss.item()
        }
        #expect(last < first / 10, "loss \(first) -> \(last)")
    }
}
