import Foundation
import Testing
@testable import Torch

@Suite struct ArithmeticTests {
    @Test func operatorsBroadcastAndPromote() throws {
        let a = try Tensor([1, 2, 3] as [Double])
        let b = try Tensor([10, 20] as [Double]).reshape([2, 1])
        #expect(try (a + b).toArray(Double.self) == [11, 12, 13, 21, 22, 23])
        #expect(try (b - a).toArray(Double.self) == [9, 8, 7, 19, 18, 17])
        #expect(try (a * a).toArray(Double.self) == [1, 4, 9])
        #expect(try (a / 2).toArray(Double.self) == [0.5, 1, 1.5])
        #expect(try (1 - a).toArray(Double.self) == [0, -1, -2])
        #expect(try (6 / a).toArray(Double.self) == [6, 3, 2])
        #expect(try (2 * a + 1).toArray(Double.self) == [3, 5, 7])
        #expect(try (-a).toArray(Double.self) == [-1, -2, -3])
        #expect(try (a % 2).toArray(Double.self) == [1, 0, 1])
        #expect(try a.add(a, alpha: 3).toArray(Double.self) == [4, 8, 12])
        #expect(throws: TorchError.self) { try a + Tensor.zeros([2], dtype: .float64) }
    }

    @Test func pytorchTypePromotion() throws {
        let i = try Tensor([1, 2] as [Int])
        #expect(try (i + 1).dtype == .int64)          // an integer scalar keeps an integer tensor
        #expect(try (i + 1.5).dtype == .float32)      // a float scalar promotes to the default float
        #expect(try (i + 1.5).toArray(Float.self) == [2.5, 3.5])
        #expect(try (i / 2).dtype == .float32)        // true division
        #expect(try (Tensor([1] as [Float]) + Tensor([1] as [Double])).dtype == .float64)
        #expect(try (Tensor([1] as [UInt8]) + Tensor([1] as [Int8])).dtype == .int16)
        #expect(try (i % -3).toArray(Int.self) == [-2, -1])  // Python's remainder sign
    }

    @Test func powersAndBinaryFunctions() throws {
        let a = try Tensor([1, 2, 3] as [Double])
        #expect(try a.pow(2).toArray(Double.self) == [1, 4, 9])
        #expect(try a.pow(a).toArray(Double.self) == [1, 4, 27])
        #expect(try a.rpow(2).toArray(Double.self) == [2, 4, 8])
        #expect(try a.fmod(Tensor([2, 2, 2] as [Double])).toArray(Double.self) == [1, 0, 1])
        #expect(try Tensor([-7, 7] as [Double]).floorDivide(Tensor([2, 2] as [Double])).toArray(Double.self) == [-4, 3])
        #expect(try a.maximum(Tensor([2, 2, 2] as [Double])).toArray(Double.self) == [2, 2, 3])
        #expect(try a.minimum(Tensor([2, 2, 2] as [Double])).toArray(Double.self) == [1, 2, 2])
        try expectClose(Tensor([1] as [Double]).atan2(Tensor([1] as [Double])), [Double.pi / 4])
    }

    @Test func comparisonsAndLogic() throws {
        let a = try Tensor([1, 2, 3] as [Double])
        let b = try Tensor([3, 2, 1] as [Double])
        #expect(try (a .== b).toArray(Bool.self) == [false, true, false])
        #expect(try (a .!= b).toArray(Bool.self) == [true, false, true])
        #expect(try (a .< b).toArray(Bool.self) == [true, false, false])
        #expect(try (a .<= b).toArray(Bool.self) == [true, true, false])
        #expect(try (a .> 1).toArray(Bool.self) == [false, true, true])
        #expect(try (a .>= 3).toArray(Bool.self) == [false, false, true])
        #expect(try a.eq(2).dtype == .bool)
        let p = try Tensor([true, true, false]), q = try Tensor([true, false, false])
        #expect(try p.logicalAnd(q).toArray(Bool.self) == [true, false, false])
        #expect(try p.logicalOr(q).toArray(Bool.self) == [true, true, false])
        #expect(try p.logicalXor(q).toArray(Bool.self) == [false, true, false])
        #expect(try p.logicalNot().toArray(Bool.self) == [false, false, true])
        #expect(try a.equal(a.clone()) && !a.equal(b))
        #expect(try a.allClose(a + 1e-9) && !a.allClose(a + 1e-3))
    }

    @Test func inPlaceUpdatesReachViews() throws {
        let base = try Tensor.zeros([2, 3], dtype: .float64)
        let row = try base.select(0, 1)
        try row.add_(Tensor([1, 2, 3] as [Double]), alpha: 2)
        #expect(try base.toArray(Double.self) == [0, 0, 0, 2, 4, 6])
        try row.mul_(Tensor([1, 0.5, 2] as [Double]))
        try row.mul_(2)
        #expect(try row.toArray(Double.self) == [4, 4, 24])
        try row.div_(Tensor([4, 4, 4] as [Double]))
        #expect(try row.toArray(Double.self) == [1, 1, 6])
        try row.addcmul_(Tensor([1, 2, 3] as [Double]), Tensor([2, 2, 2] as [Double]), value: 0.5)
        #expect(try row.toArray(Double.self) == [2, 3, 9])
        try row.addcdiv_(Tensor([2, 2, 2] as [Double]), Tensor([1, 2, 4] as [Double]), value: 2)
        #expect(try row.toArray(Double.self) == [6, 5, 10])
        try row.lerp_(Tensor([0, 0, 0] as [Double]), weight: 0.5)
        #expect(try row.toArray(Double.self) == [3, 2.5, 5])
        try row.clamp_(min: 2.6, max: 4)
        #expect(try row.toArray(Double.self) == [3, 2.6, 4])
        try row.copy_(Tensor([7] as [Int]))  // broadcast and converted
        #expect(try base.toArray(Double.self) == [0, 0, 0, 7, 7, 7])
        try base.zero_()
        #expect(try base.sum().item() == 0)
        try base.fill_(1.5)
        #expect(try base.sum().item() == 9)
    }
}

@Suite struct MathTests {
    let xs: [Double] = [-2, -0.5, 0.25, 1, 3]
    var x: Tensor { get throws { try Tensor(xs) } }

    func check(_ t: Tensor, _ f: (Double) -> Double, rtol: Double = 1e-12, _ label: String) throws {
        try expectClose(t, xs.map(f), rtol: rtol, atol: 1e-15, label)
    }

    @Test func elementwiseFunctionsMatchTheirFormulas() throws {
        let x = try self.x
        try check(x.abs(), { Swift.abs($0) }, "abs")
        try check(x.neg(), { -$0 }, "neg")
        try check(x.exp(), { Foundation.exp($0) }, "exp")
        try check(x.expm1(), { Foundation.expm1($0) }, "expm1")
        try check(x.square(), { $0 * $0 }, "square")
        try check(x.sin(), { Foundation.sin($0) }, "sin")
        try check(x.cos(), { Foundation.cos($0) }, "cos")
        try check(x.tan(), { Foundation.tan($0) }, "tan")
        try check(x.atan(), { Foundation.atan($0) }, "atan")
        try check(x.tanh(), { Foundation.tanh($0) }, "tanh")
        try check(x.sigmoid(), { 1 / (1 + Foundation.exp(-$0)) }, "sigmoid")
        try check(x.relu(), { Swift.max($0, 0) }, "relu")
        try check(x.leakyRelu(negativeSlope: 0.1), { $0 > 0 ? $0 : 0.1 * $0 }, "leaky_relu")
        try check(x.silu(), { $0 / (1 + Foundation.exp(-$0)) }, "silu")
        try check(x.gelu(), { 0.5 * $0 * (1 + Foundation.erf($0 / 2.0.squareRoot())) }, "gelu")
        try check(x.gelu(approximate: true), { v in
            0.5 * v * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v)))
        }, "gelu tanh")
        try check(x.elu(), { $0 > 0 ? $0 : Foundation.exp($0) - 1 }, "elu")
        try check(x.softplus(), { Foundation.log1p(Foundation.exp($0)) }, "softplus")
        try check(x.erf(), { Foundation.erf($0) }, "erf")
        try check(x.floor(), { $0.rounded(.down) }, "floor")
        try check(x.ceil(), { $0.rounded(.up) }, "ceil")
        try check(x.trunc(), { $0.rounded(.towardZero) }, "trunc")
        try check(x.sign(), { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }, "sign")
        try check(x.reciprocal(), { 1 / $0 }, "reciprocal")
        let p = try Tensor([0.5, 1, 4] as [Double])
        try expectClose(p.log(), [Foundation.log(0.5), 0, Foundation.log(4)])
        try expectClose(p.log2(), [-1, 0, 2])
        try expectClose(p.log10(), [Foundation.log10(0.5), 0, Foundation.log10(4)])
        try expectClose(p.log1p(), [Foundation.log1p(0.5), Foundation.log1p(1), Foundation.log1p(4)])
        try expectClose(p.sqrt(), [(0.5).squareRoot(), 1, 2])
        try expectClose(p.rsqrt(), [1 / (0.5).squareRoot(), 1, 0.5])
    }

    @Test func roundingIsHalfToEven() throws {
        #expect(try Tensor([0.5, 1.5, 2.5, -0.5, -1.5] as [Double]).round().toArray(Double.self) == [0, 2, 2, -0, -2])
    }

    @Test func softmaxFamilies() throws {
        let v = try Tensor([1, 2, 3, 1, 1, 1] as [Double], shape: [2, 3])
        let e = [1.0, 2, 3].map { Foundation.exp($0) }
        let s = e.reduce(0, +)
        try expectClose(v.softmax(dim: 1), e.map { $0 / s } + [1.0 / 3, 1.0 / 3, 1.0 / 3])
        try expectClose(v.logSoftmax(dim: 1), e.map { Foundation.log($0 / s) } + Array(repeating: Foundation.log(1.0 / 3), count: 3))
        try expectClose(v.softmax(dim: 0).sum(dim: 0), [1, 1, 1])
    }

    @Test func clampAndSpecialValues() throws {
        let v = try Tensor([-3, 0, 3] as [Double])
        #expect(try v.clamp(min: -1, max: 1).toArray(Double.self) == [-1, 0, 1])
        #expect(try v.clamp(min: 0).toArray(Double.self) == [0, 0, 3])
        #expect(try v.clamp(max: 0).toArray(Double.self) == [-3, 0, 0])
        #expect(throws: TorchError.self) { try v.clamp() }
        let lo = try Tensor([-2, 1, 0] as [Double]), hi = try Tensor([-1, 2, 2] as [Double])
        #expect(try v.clamp(min: lo, max: hi).toArray(Double.self) == [-2, 1, 2])
        #expect(try v.clamp(min: nil, max: hi).toArray(Double.self) == [-3, 0, 2])
        let s = try Tensor([.nan, .infinity, -.infinity, 1] as [Double])
        #expect(try s.isNaN().toArray(Bool.self) == [true, false, false, false])
        #expect(try s.isInf().toArray(Bool.self) == [false, true, true, false])
        #expect(try s.isFinite().toArray(Bool.self) == [false, false, false, true])
        #expect(try s.nanToNum(nan: 0, posinf: 9, neginf: -9).toArray(Double.self) == [0, 9, -9, 1])
        #expect(try s.nanToNum().toArray(Double.self)[1] == Double.greatestFiniteMagnitude)
        #expect(try v.lerp(Tensor([1, 1, 1] as [Double]), weight: 0.25).toArray(Double.self) == [-2, 0.25, 2.5])
    }
}
