import Testing
@testable import Torch

/// Analytic gradients against central finite differences in float64, for every differentiable family.
@Suite struct GradCheckTests {
    @Test func arithmeticAndElementwise() throws {
        let a = try fixed([2, 3], seed: 41), b = try fixed([2, 3], seed: 42, scale: 0.5, offset: 2)
        let pos = try fixed([2, 3], seed: 43, scale: 0.5, offset: 1.5)
        try gradCheck("add/sub/mul/div", [a, b]) { try (($0[0] + $0[1]) * $0[0] - $0[1] / $0[0].exp()).sum() }
        try gradCheck("pow", [pos, b]) { try $0[0].pow($0[1]).sum() }
        try gradCheck("pow scalar", [a]) { try $0[0].pow(3).sum() }
        try gradCheck("exp/log/sqrt", [pos]) { try ($0[0].exp() + $0[0].log() + $0[0].sqrt()).sum() }
        try gradCheck("tanh/sigmoid", [a]) { try ($0[0].tanh() * $0[0].sigmoid()).sum() }
        // Away from the kinks at 0.
        let away = try fixed([2, 3], seed: 44, scale: 1).sign() * (try fixed([2, 3], seed: 44, scale: 1).abs() + 0.1)
        try gradCheck("relu/leaky_relu", [away]) { try ($0[0].relu() + $0[0].leakyRelu(negativeSlope: 0.2)).sum() }
        try gradCheck("silu/gelu", [a]) { try ($0[0].silu() + $0[0].gelu() + $0[0].gelu(approximate: true)).sum() }
        try gradCheck("softmax/log_softmax", [a, b]) { try ($0[0].softmax(dim: 1) * $0[1] + $0[0].logSoftmax(dim: 0)).sum() }
        try gradCheck("where/clamp", [a, b]) { try Tensor.where($0[0].gt(0), $0[0], $0[1]).clamp(min: -0.5, max: 1.5).sum() }
    }

    @Test func reductions() throws {
        let a = try fixed([3, 4], seed: 45)
        try gradCheck("sum/mean", [a]) { try ($0[0].sum(dim: 1).square().sum() + $0[0].mean()) }
        try gradCheck("std/var", [a]) { try ($0[0].std(dims: [1]).sum() + $0[0].variance(unbiased: false)) }
        try gradCheck("norm", [a]) { try ($0[0].norm() + $0[0].norm(p: 3, dims: [0]).sum()) }
        try gradCheck("logsumexp", [a]) { try $0[0].logsumexp(dims: [1]).sum() }
        try gradCheck("max/amax", [a]) { try ($0[0].max(dim: 1).values.sum() + $0[0].max(dims: [0]).sum()) }
    }

    @Test func linearAlgebra() throws {
        let a = try fixed([2, 3, 4], seed: 46), b = try fixed([2, 4, 2], seed: 47)
        try gradCheck("matmul", [a, b]) { try $0[0].matmul($0[1]).square().sum() }
        try gradCheck("bmm", [a, b]) { try $0[0].bmm($0[1]).sum() }
        try gradCheck("einsum", [a, b]) { try Tensor.einsum("bij,bjk->ik", $0[0], $0[1]).square().sum() }
    }

    @Test func convolutions() throws {
        let x1 = try fixed([1, 2, 7], seed: 48), w1 = try fixed([3, 2, 3], seed: 49), b = try fixed([3], seed: 50)
        try gradCheck("conv1d", [x1, w1, b]) { try $0[0].conv1d($0[1], bias: $0[2], stride: [2], padding: [1]).square().sum() }
        let x2 = try fixed([1, 2, 5, 4], seed: 51), w2 = try fixed([3, 2, 3, 3], seed: 52)
        try gradCheck("conv2d", [x2, w2, b]) { try $0[0].conv2d($0[1], bias: $0[2], padding: [1], dilation: [1]).square().sum() }
        let x3 = try fixed([1, 1, 3, 4, 3], seed: 53), w3 = try fixed([2, 1, 2, 2, 2], seed: 54)
        try gradCheck("conv3d", [x3, w3]) { try $0[0].conv3d($0[1], padding: [1]).square().sum() }
        let wt1 = try fixed([2, 3, 3], seed: 55)
        try gradCheck("conv_transpose1d", [x1, wt1]) { try $0[0].convTranspose1d($0[1], stride: [2]).square().sum() }
        let wt2 = try fixed([2, 2, 2, 3], seed: 56)
        try gradCheck("conv_transpose2d", [x2, wt2]) { try $0[0].convTranspose2d($0[1], stride: [2], padding: [1], outputPadding: [1]).square().sum() }
        let wt3 = try fixed([1, 2, 2, 2, 2], seed: 57)
        try gradCheck("conv_transpose3d", [x3, wt3]) { try $0[0].convTranspose3d($0[1], stride: [2]).square().sum() }
    }

    @Test func poolingAndResampling() throws {
        let x = try fixed([1, 2, 6, 6], seed: 58)
        try gradCheck("max_pool2d", [x]) { try $0[0].maxPool2d(kernelSize: [2]).square().sum() }
        try gradCheck("avg_pool2d", [x]) { try $0[0].avgPool2d(kernelSize: [3], stride: [2], padding: [1]).square().sum() }
        let v = try fixed([1, 1, 4, 4, 4], seed: 59)
        try gradCheck("max_pool3d/avg_pool3d", [v]) { try ($0[0].maxPool3d(kernelSize: [2]).square().sum() + $0[0].avgPool3d(kernelSize: [2]).sum()) }
        let s = try fixed([1, 1, 3, 4], seed: 60)
        try gradCheck("bilinear", [s]) { try $0[0].interpolate(size: [5, 7], mode: .bilinear).square().sum() }
        try gradCheck("bicubic", [s]) { try $0[0].interpolate(size: [5, 7], mode: .bicubic, alignCorners: true).square().sum() }
        let c = try fixed([1, 1, 2, 3, 3], seed: 61)
        try gradCheck("trilinear", [c]) { try $0[0].interpolate(scaleFactor: [2], mode: .trilinear).square().sum() }
        let grid = try fixed([1, 2, 3, 2], seed: 62, scale: 0.9)
        try gradCheck("grid_sample", [s, grid]) { try $0[0].gridSample($0[1], alignCorners: false).square().sum() }
        try gradCheck("pixel_shuffle", [try fixed([1, 4, 2, 3], seed: 63)]) { try ($0[0].pixelShuffle(2) * Tensor.arange(0, 24, dtype: .float64).reshape([1, 1, 4, 6])).sum() }
        try gradCheck("unfold/fold", [x]) {
            try $0[0].unfold(kernelSize: [3], padding: [1]).square().fold(outputSize: [6, 6], kernelSize: [3], padding: [1]).sum()
        }
        try gradCheck("pad", [s]) { try ($0[0].pad([2, 1, 1, 2], mode: .reflect).square().sum() + $0[0].pad([1, 1, 1, 1], mode: .replicate).square().sum()) }
    }

    @Test func normalizationLayers() throws {
        let x = try fixed([3, 4, 5], seed: 64), w = try fixed([4], seed: 65, offset: 1), b = try fixed([4], seed: 66)
        let weights = try Tensor.arange(0, 60, dtype: .float64).reshape([3, 4, 5]).sin()
        try gradCheck("batch_norm", [x, w, b]) {
            try ($0[0].batchNorm(runningMean: nil, runningVar: nil, weight: $0[1], bias: $0[2], training: true) * weights).sum()
        }
        try gradCheck("instance_norm", [x, w, b]) { try ($0[0].instanceNorm(weight: $0[1], bias: $0[2]) * weights).sum() }
        try gradCheck("group_norm", [x, w, b]) { try ($0[0].groupNorm(groups: 2, weight: $0[1], bias: $0[2]) * weights).sum() }
        let lw = try fixed([5], seed: 67, offset: 1), lb = try fixed([5], seed: 68)
        try gradCheck("layer_norm", [x, lw, lb]) { try ($0[0].layerNorm(normalizedShape: [5], weight: $0[1], bias: $0[2]) * weights).sum() }
    }

    @Test func lossesFFTAndIndexing() throws {
        let a = try fixed([2, 5], seed: 69), t = try fixed([2, 5], seed: 70, scale: 0.5, offset: 0.5)
        try gradCheck("l1/mse", [a]) { try ($0[0].l1Loss(t) + $0[0].mseLoss(t, reduction: .sum)) }
        try gradCheck("bce_with_logits", [a]) { try $0[0].binaryCrossEntropyWithLogits(t) }
        try gradCheck("fftn -> abs", [a]) { try $0[0].fftn().abs().square().sum() + $0[0].rfftn().abs().sum() }
        let idx = try Tensor([2, 0, 4] as [Int])
        try gradCheck("cat/stack/gather/index_select", [a]) {
            let c = try Tensor.cat([$0[0], $0[0].square()], dim: 1)
            let s = try Tensor.stack([$0[0], $0[0] * 2])
            let g = try $0[0].gather(1, Tensor([1, 1, 3, 0, 2, 4] as [Int], shape: [2, 3]))
            return try c.square().sum() + s.pow(3).sum() + g.square().sum() + $0[0].indexSelect(1, idx).exp().sum()
        }
    }
}
