import Foundation
import Testing
@testable import Torch

@Suite struct FFTTests {
    /// The DFT by its definition: X[k] = sum_n x[n] exp(-2 pi i k n / N).
    func dft(_ x: [Double]) -> [(Double, Double)] {
        let n = x.count
        return (0..<n).map { k in
            var re = 0.0, im = 0.0
            for t in 0..<n {
                let a = -2 * Double.pi * Double(k * t) / Double(n)
                re += x[t] * Foundation.cos(a)
                im += x[t] * Foundation.sin(a)
            }
            return (re, im)
        }
    }

    @Test func fftMatchesTheDefinition() throws {
        let x: [Double] = [1, 2, 0, -1, 3]
        let f = try Tensor(x).fftn()
        #expect(f.dtype == .complex128)
        let expected = dft(x)
        try expectClose(f.real(), expected.map(\.0), atol: 1e-12)
        try expectClose(f.imag(), expected.map(\.1), atol: 1e-12)
        // 2-d: the DFT of rows then columns.
        let m = try fixed([3, 4], seed: 31)
        let f2 = try m.fftn()
        let rows = try m.fftn(dims: [1]).fftn(dims: [0])
        try expectClose(f2.viewAsReal(), try rows.viewAsReal().toArray(Double.self), atol: 1e-12)
    }

    @Test func inversesAndNorms() throws {
        let x = try fixed([4, 6], seed: 32)
        try expectClose(x.fftn().ifftn().real(), try x.toArray(Double.self), atol: 1e-12)
        // Parseval with the orthonormal scaling: the energy is preserved.
        let e = try x.square().sum().item()
        expectClose(try x.fftn(norm: .ortho).abs().square().sum().item(), e, rtol: 1e-12)
        expectClose(try x.fftn(norm: .forward).abs().square().sum().item(), e / 24, rtol: 1e-12)
        // Real transforms keep the non-negative frequencies of the last axis; odd sizes need s.
        let odd = try fixed([3, 5], seed: 33)
        let r = try odd.rfftn()
        #expect(r.shape == [3, 3])
        try expectClose(r.irfftn(s: [3, 5]), try odd.toArray(Double.self), atol: 1e-12)
        #expect(try r.irfftn().shape == [3, 4])  // without s the last size is 2 (n - 1)
        // s crops or zero-pads before transforming.
        #expect(try Tensor([1, 2] as [Double]).fftn(s: [4]).abs().toArray(Double.self).count == 4)
    }

    @Test func shiftsAndFrequencies() throws {
        #expect(try Tensor.arange(0, 5).fftshift().toArray(Int.self) == [3, 4, 0, 1, 2])
        #expect(try Tensor.arange(0, 6).fftshift().toArray(Int.self) == [3, 4, 5, 0, 1, 2])
        #expect(try Tensor.arange(0, 5).fftshift().ifftshift().toArray(Int.self) == [0, 1, 2, 3, 4])
        let m = try Tensor.arange(0, 6).reshape([2, 3])
        #expect(try m.fftshift(dims: [1]).toArray(Int.self) == [2, 0, 1, 5, 3, 4])
        try expectClose(Tensor.fftfreq(5, dtype: .float64), [0, 0.2, 0.4, -0.4, -0.2], rtol: 1e-12)
        try expectClose(Tensor.fftfreq(4, d: 0.5, dtype: .float64), [0, 0.5, -1, -0.5], rtol: 1e-12)
    }

    @Test func complexViewsAndConstructors() throws {
        let re = try Tensor([3, 0] as [Double]), im = try Tensor([4, -2] as [Double])
        let z = try Tensor.complex(real: re, imag: im)
        #expect(z.dtype == .complex128)
        #expect(try z.abs().toArray(Double.self) == [5, 2])
        try expectClose(z.angle(), [Foundation.atan2(4, 3), -Double.pi / 2])
        #expect(try z.conj().imag().toArray(Double.self) == [-4, 2])
        #expect(try z.viewAsReal().toArray(Double.self) == [3, 4, 0, -2])
        #expect(try z.viewAsReal().viewAsComplex().equal(z))
        // real() is a view: writing through it changes the complex tensor.
        try z.real().fill_(1)
        #expect(try z.viewAsReal().toArray(Double.self) == [1, 4, 1, -2])
        let p = try Tensor.polar(abs: Tensor([2] as [Double]), angle: Tensor([Double.pi / 2]))
        try expectClose(p.viewAsReal(), [0, 2], atol: 1e-12)
        #expect(throws: TorchError.self) { try Tensor([1] as [Double]).imag() }
    }
}
