import Foundation
import Testing
@testable import Torch

@Suite struct ReductionTests {
    // [[1, 5, 2], [4, 3, 6]]
    let m: Tensor
    init() throws { m = try Tensor([1, 5, 2, 4, 3, 6] as [Double], shape: [2, 3]) }

    @Test func sumsAndMeans() throws {
        #expect(try m.sum().item() == 21)
        #expect(try m.sum().shape == [])
        #expect(try m.sum(dim: 0).toArray(Double.self) == [5, 8, 8])
        #expect(try m.sum(dim: 1, keepdim: true).shape == [2, 1])
        #expect(try m.sum(dims: [0, 1], keepdim: true).shape == [1, 1])
        #expect(try Tensor([200, 100] as [UInt8]).sum(dtype: .int64).itemInt() == 300)
        #expect(try m.mean().item() == 3.5)
        #expect(try m.mean(dim: 1).toArray(Double.self) == [8.0 / 3, 13.0 / 3])
        #expect(try m.prod().item() == 720)
        #expect(try m.prod(dim: 1).toArray(Double.self) == [10, 72])
        #expect(try m.cumsum(dim: 1).toArray(Double.self) == [1, 6, 8, 4, 7, 13])
        #expect(throws: TorchError.self) { try m.sum(dim: 2) }
    }

    @Test func extremes() throws {
        #expect(try m.max().item() == 6 && m.min().item() == 1)
        #expect(try m.max(dims: [0]).toArray(Double.self) == [4, 5, 6])
        #expect(try m.min(dims: [1], keepdim: true).toArray(Double.self) == [1, 3])
        let (v, i) = try m.max(dim: 1)
        #expect(try v.toArray(Double.self) == [5, 6] && i.toArray(Int.self) == [1, 2])
        let (mv, mi) = try m.min(dim: 0)
        #expect(try mv.toArray(Double.self) == [1, 3, 2] && mi.toArray(Int.self) == [0, 1, 0])
        #expect(try m.argmax().itemInt() == 5)
        #expect(try m.argmin(dim: 1).toArray(Int.self) == [0, 1])
        #expect(try m.argmax(dim: 0, keepdim: true).shape == [1, 3])
    }

    @Test func spreadMatchesFormulas() throws {
        let v: [Double] = [1, 5, 2, 4, 3, 6]
        let mean = v.reduce(0, +) / 6
        let ss = v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +)
        expectClose(try m.variance().item(), ss / 5)
        expectClose(try m.variance(unbiased: false).item(), ss / 6)
        expectClose(try m.std().item(), (ss / 5).squareRoot())
        // Per row: [1, 5, 2] and [4, 3, 6].
        func rowVar(_ r: [Double], _ ddof: Double) -> Double {
            let mu = r.reduce(0, +) / Double(r.count)
            return r.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / (Double(r.count) - ddof)
        }
        try expectClose(m.variance(dims: [1], unbiased: false), [rowVar([1, 5, 2], 0), rowVar([4, 3, 6], 0)])
        try expectClose(m.std(dims: [1], keepdim: true), [rowVar([1, 5, 2], 1).squareRoot(), rowVar([4, 3, 6], 1).squareRoot()])
        // logsumexp, norms.
        let lse = Foundation.log(v.map { Foundation.exp($0) }.reduce(0, +))
        try expectClose(m.logsumexp(dims: [0, 1]), [lse])
        expectClose(try m.norm().item(), v.map { $0 * $0 }.reduce(0, +).squareRoot())
        expectClose(try m.norm(p: 1).item(), 21)
        expectClose(try m.norm(p: .infinity).item(), 6)
        try expectClose(m.norm(dims: [1]), [(30.0).squareRoot(), (61.0).squareRoot()])
    }

    /// numpy.percentile's 'linear' method (and its siblings), computed by hand.
    func percentile(_ values: [Double], _ q: Double, _ mode: Tensor.QuantileInterpolation) -> Double {
        let s = values.sorted()
        let pos = q * Double(s.count - 1)
        let lo = Int(pos.rounded(.down)), hi = Swift.min(lo + 1, s.count - 1)
        let frac = pos - Double(lo)
        switch mode {
        case .linear: return s[lo] + (s[hi] - s[lo]) * frac
        case .lower: return s[lo]
        case .higher: return frac > 0 ? s[hi] : s[lo]
        case .midpoint: return frac > 0 ? (s[lo] + s[hi]) / 2 : s[lo]
        case .nearest: return frac < 0.5 ? s[lo] : (frac > 0.5 ? s[hi] : (lo % 2 == 0 ? s[lo] : s[hi]))
        }
    }

    @Test func quantilesMatchNumpysDefinitions() throws {
        let values: [Double] = [7, 1, 9, 3, 5, 2, 8]
        let t = try Tensor(values)
        for mode in [Tensor.QuantileInterpolation.linear, .lower, .higher, .midpoint, .nearest] {
            for q in [0.0, 0.01, 0.25, 0.4, 0.5, 0.99, 1] {
                expectClose(try t.quantile(q, interpolation: mode).item(), percentile(values, q, mode), "\(mode) q=\(q)")
            }
        }
        let several = try t.quantile([0.1, 0.9])
        #expect(several.shape == [2])
        try expectClose(several, [percentile(values, 0.1, .linear), percentile(values, 0.9, .linear)])
        let rows = try m.quantile(0.5, dim: 1, keepdim: true)
        #expect(rows.shape == [2, 1])
        try expectClose(rows, [2, 4])
        let withNaN = try Tensor([1, .nan, 3] as [Double])
        #expect(try withNaN.quantile(0.5).item().isNaN)
        #expect(try withNaN.quantile([0.5], ignoringNaN: true).item() == 2)
        #expect(throws: TorchError.self) { try t.quantile(1.5) }
    }

    @Test func truthReductions() throws {
        #expect(try Tensor([true, true]).all().itemBool())
        #expect(try !Tensor([true, false]).all().itemBool())
        #expect(try Tensor([false, true]).any().itemBool())
        #expect(try !Tensor([0, 0] as [Int]).any().itemBool())
    }
}

@Suite struct LinearAlgebraTests {
    @Test func products() throws {
        let a = try Tensor([1, 2, 3, 4, 5, 6] as [Double], shape: [2, 3])
        let b = try Tensor([7, 8, 9, 10, 11, 12] as [Double], shape: [3, 2])
        // By hand: [[58, 64], [139, 154]].
        #expect(try a.matmul(b).toArray(Double.self) == [58, 64, 139, 154])
        #expect(try a.mm(b).toArray(Double.self) == [58, 64, 139, 154])
        let batch = try Tensor.stack([a, a * 2])
        let bb = try Tensor.stack([b, b])
        #expect(try batch.bmm(bb).toArray(Double.self) == [58, 64, 139, 154, 116, 128, 278, 308])
        // matmul broadcasts a batch against one matrix, and does vector products.
        #expect(try batch.matmul(b).shape == [2, 2, 2])
        #expect(try Tensor([1, 2, 3] as [Double]).matmul(Tensor([4, 5, 6] as [Double])).item() == 32)
        #expect(throws: TorchError.self) { try a.mm(a) }
        #expect(throws: TorchError.self) { try a.bmm(b) }
    }

    @Test func einsumEquations() throws {
        let a = try Tensor([1, 2, 3, 4] as [Double], shape: [2, 2])
        let b = try Tensor([5, 6, 7, 8] as [Double], shape: [2, 2])
        #expect(try Tensor.einsum("ij,jk->ik", a, b).toArray(Double.self) == [19, 22, 43, 50])
        #expect(try Tensor.einsum("ii->", a).item() == 5)
        #expect(try Tensor.einsum("ij->ji", a).toArray(Double.self) == [1, 3, 2, 4])
        #expect(try Tensor.einsum("i,j->ij", Tensor([1, 2] as [Double]), Tensor([3, 4, 5] as [Double])).toArray(Double.self) == [3, 4, 5, 6, 8, 10])
        let ba = try Tensor.stack([a, b]), bb = try Tensor.stack([b, a])
        #expect(try Tensor.einsum("bij,bjk->bik", ba, bb).toArray(Double.self) == [19, 22, 43, 50, 23, 34, 31, 46])
        #expect(throws: TorchError.self) { try Tensor.einsum("ij,jk->ik", a) }
    }

    @Test func inverseAndDeterminant() throws {
        let a = try Tensor([4, 7, 2, 6] as [Double], shape: [2, 2])
        // det = 24 - 14 = 10; inverse = [[0.6, -0.7], [-0.2, 0.4]].
        expectClose(try a.determinant().item(), 10)
        try expectClose(a.inverse(), [0.6, -0.7, -0.2, 0.4], rtol: 1e-12)
        try expectClose(a.matmul(a.inverse()), [1, 0, 0, 1], atol: 1e-12)
        #expect(throws: TorchError.self) { try Tensor.zeros([2, 2], dtype: .float64).inverse() }
    }
}
