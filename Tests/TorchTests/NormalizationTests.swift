import Foundation
import Testing
@testable import Torch

/// Mean and biased variance of values.
func moments(_ v: [Double]) -> (Double, Double) {
    let m = v.reduce(0, +) / Double(v.count)
    return (m, v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count))
}

@Suite struct NormalizationLayerTests {
    @Test func batchNormTrainingAndEvaluation() throws {
        let x = try fixed([4, 2, 3], seed: 21, scale: 2, offset: 1)  // N=4, C=2, L=3
        let v = try x.toArray(Double.self)
        let rm = try Tensor.zeros([2], dtype: .float64), rv = try Tensor.ones([2], dtype: .float64)
        let w = try Tensor([2, 3] as [Double]), b = try Tensor([0.5, -1] as [Double])
        let y = try x.batchNorm(runningMean: rm, runningVar: rv, weight: w, bias: b, training: true, momentum: 0.1, eps: 1e-5)
        var expected = [Double](repeating: 0, count: v.count)
        var means: [Double] = [], unbiased: [Double] = []
        for c in 0..<2 {
            var vals: [Double] = []
            for n in 0..<4 { for l in 0..<3 { vals.append(v[(n * 2 + c) * 3 + l]) } }
            let (m, var_) = moments(vals)
            means.append(m)
            unbiased.append(var_ * 12 / 11)
            for n in 0..<4 { for l in 0..<3 {
                let i = (n * 2 + c) * 3 + l
                expected[i] = (v[i] - m) / (var_ + 1e-5).squareRoot() * [2.0, 3][c] + [0.5, -1][c]
            } }
        }
        try expectClose(y, expected, rtol: 1e-10)
        // Running statistics move by the momentum, the variance unbiased (PyTorch's rule).
        try expectClose(rm, means.map { 0.1 * $0 }, rtol: 1e-10)
        try expectClose(rv, unbiased.map { 0.9 + 0.1 * $0 }, rtol: 1e-10)
        // Evaluation uses the running statistics.
        let e = try x.batchNorm(runningMean: rm, runningVar: rv, training: false, eps: 0)
        let rmv = try rm.toArray(Double.self), rvv = try rv.toArray(Double.self)
        try expectClose(e, v.enumerated().map { i, val in let c = (i / 3) % 2; return (val - rmv[c]) / rvv[c].squareRoot() }, rtol: 1e-10)
    }

    @Test func instanceGroupAndLayerNorm() throws {
        let x = try fixed([2, 4, 5], seed: 22, scale: 3)
        let v = try x.toArray(Double.self)
        // Instance norm: each (n, c) row of 5 normalised on its own.
        var inst = [Double](repeating: 0, count: v.count)
        for r in 0..<8 {
            let row = Array(v[(r * 5)..<(r * 5 + 5)])
            let (m, s) = moments(row)
            for l in 0..<5 { inst[r * 5 + l] = (row[l] - m) / (s + 1e-5).squareRoot() }
        }
        try expectClose(x.instanceNorm(), inst, rtol: 1e-10)
        // Group norm with 2 groups: channels {0,1} and {2,3} of each sample pooled.
        var grp = [Double](repeating: 0, count: v.count)
        for n in 0..<2 { for g in 0..<2 {
            let start = (n * 4 + g * 2) * 5
            let vals = Array(v[start..<(start + 10)])
            let (m, s) = moments(vals)
            for i in 0..<10 { grp[start + i] = (vals[i] - m) / (s + 1e-5).squareRoot() }
        } }
        try expectClose(x.groupNorm(groups: 2), grp, rtol: 1e-10)
        // Layer norm over the last two dims (4 x 5) per sample, with an affine transform.
        let w = try Tensor.full([4, 5], 2, dtype: .float64), b = try Tensor.full([4, 5], 1, dtype: .float64)
        var lay = [Double](repeating: 0, count: v.count)
        for n in 0..<2 {
            let vals = Array(v[(n * 20)..<(n * 20 + 20)])
            let (m, s) = moments(vals)
            for i in 0..<20 { lay[n * 20 + i] = (vals[i] - m) / (s + 1e-5).squareRoot() * 2 + 1 }
        }
        try expectClose(x.layerNorm(normalizedShape: [4, 5], weight: w, bias: b), lay, rtol: 1e-10)
        #expect(throws: TorchError.self) { try x.groupNorm(groups: 3) }
    }
}

@Suite struct LossTests {
    let input: Tensor, target: Tensor
    init() throws {
        input = try Tensor([0.5, -1, 2, 0] as [Double])
        target = try Tensor([1, 0, 1, 0] as [Double])
    }

    @Test func l1AndMSE() throws {
        let diff = [-0.5, -1, 1, 0]
        expectClose(try input.l1Loss(target).item(), diff.map { Swift.abs($0) }.reduce(0, +) / 4)
        expectClose(try input.l1Loss(target, reduction: .sum).item(), 2.5)
        try expectClose(input.l1Loss(target, reduction: .none), diff.map { Swift.abs($0) })
        expectClose(try input.mseLoss(target).item(), diff.map { $0 * $0 }.reduce(0, +) / 4)
        expectClose(try input.mseLoss(target, reduction: .sum).item(), 2.25)
    }

    @Test func binaryCrossEntropyOnLogits() throws {
        let x = try input.toArray(Double.self), y = try target.toArray(Double.self)
        func bce(_ x: Double, _ y: Double, _ pw: Double = 1) -> Double {
            let s = 1 / (1 + Foundation.exp(-x))
            return -(pw * y * Foundation.log(s) + (1 - y) * Foundation.log(1 - s))
        }
        let each = zip(x, y).map { bce($0, $1) }
        expectClose(try input.binaryCrossEntropyWithLogits(target).item(), each.reduce(0, +) / 4, rtol: 1e-12)
        try expectClose(input.binaryCrossEntropyWithLogits(target, reduction: .none), each, rtol: 1e-12)
        let weighted = try input.binaryCrossEntropyWithLogits(target, weight: Tensor([1, 2, 1, 2] as [Double]), reduction: .sum)
        expectClose(try weighted.item(), each[0] + 2 * each[1] + each[2] + 2 * each[3], rtol: 1e-12)
        let pos = try input.binaryCrossEntropyWithLogits(target, posWeight: Tensor([3] as [Double]), reduction: .sum)
        expectClose(try pos.item(), zip(x, y).map { bce($0, $1, 3) }.reduce(0, +), rtol: 1e-12)
        // Stable for large logits.
        #expect(try Tensor([1000] as [Double]).binaryCrossEntropyWithLogits(Tensor([0] as [Double])).item() == 1000)
    }
}
