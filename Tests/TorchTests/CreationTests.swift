import Foundation
import Synchronization
import Testing
@testable import Torch

@Suite struct CreationTests {
    @Test func fromArraysOfEveryElementType() throws {
        #expect(try Tensor([1.5, -2] as [Float]).toArray(Float.self) == [1.5, -2])
        #expect(try Tensor([1.5, -2] as [Double]).toArray(Double.self) == [1.5, -2])
        #expect(try Tensor([1.5, -2] as [Float16]).toArray(Float16.self) == [1.5, -2])
        #expect(try Tensor([Int64.max, Int64.min]).toArray(Int64.self) == [Int64.max, Int64.min])
        #expect(try Tensor([3, -4] as [Int]).toArray(Int.self) == [3, -4])
        #expect(try Tensor([Int32.max, -1]).toArray(Int32.self) == [Int32.max, -1])
        #expect(try Tensor([Int16.min, 7]).toArray(Int16.self) == [Int16.min, 7])
        #expect(try Tensor([Int8.min, 7]).toArray(Int8.self) == [Int8.min, 7])
        #expect(try Tensor([0, 255] as [UInt8]).toArray(UInt8.self) == [0, 255])
        #expect(try Tensor([true, false]).toArray(Bool.self) == [true, false])
        let dtypes: [(Tensor, DType)] = [
            (try Tensor([1] as [Float]), .float32), (try Tensor([1] as [Double]), .float64),
            (try Tensor([1] as [Float16]), .float16), (try Tensor([1] as [Int]), .int64),
            (try Tensor([1] as [Int32]), .int32), (try Tensor([1] as [UInt8]), .uint8), (try Tensor([true]), .bool),
        ]
        for (t, d) in dtypes { #expect(t.dtype == d) }
        // bfloat16 has no Swift type: it is reached by conversion, rounding to 8 mantissa bits.
        let bf = try Tensor([1.0, 3.14159] as [Float]).to(.bfloat16)
        #expect(bf.dtype == .bfloat16 && bf.dtype.byteSize == 2)
        #expect(try bf.toArray(Float.self) == [1.0, 3.140625])
    }

    @Test func shapesAndFacts() throws {
        let t = try Tensor((0..<24).map(Double.init), shape: [2, 3, 4])
        #expect(t.shape == [2, 3, 4] && t.rank == 3 && t.count == 24)
        #expect(t.strides == [12, 4, 1] && t.isContiguous)
        #expect(t.size(-1) == 4 && t.device == .cpu)
        #expect(try Tensor(scalar: 2.5).shape == [])
        #expect(try Tensor(scalar: 2.5).dtype == .float32)
        #expect(try Tensor(scalar: 7).dtype == .int64)
        #expect(try Tensor(scalar: true).dtype == .bool)
        #expect(try Tensor(scalar: 3, dtype: .float64).item() == 3)
        #expect(throws: TorchError.self) { try Tensor([1, 2, 3] as [Float], shape: [2, 2]) }
        #expect(throws: TorchError.self) { try Tensor([1, 2] as [Float], shape: [-1, -2]) }
    }

    @Test func factories() throws {
        #expect(try Tensor.zeros([2, 2]).toArray(Float.self) == [0, 0, 0, 0])
        #expect(try Tensor.ones([3], dtype: .int32).toArray(Int32.self) == [1, 1, 1])
        #expect(try Tensor.full([2], 7.5, dtype: .float64).toArray(Double.self) == [7.5, 7.5])
        #expect(try Tensor.empty([5, 0]).count == 0)
        #expect(try Tensor.arange(0, 5).toArray(Int.self) == [0, 1, 2, 3, 4])
        #expect(try Tensor.arange(1, 2, step: 0.25, dtype: .float64).toArray(Double.self) == [1, 1.25, 1.5, 1.75])
        #expect(try Tensor.arange(5, 0, step: -2).toArray(Int.self) == [5, 3, 1])
        #expect(try Tensor.linspace(0, 1, steps: 5, dtype: .float64).toArray(Double.self) == [0, 0.25, 0.5, 0.75, 1])
        #expect(try Tensor.eye(2, 3).toArray(Float.self) == [1, 0, 0, 0, 1, 0])
        let like = try Tensor.zeros(like: Tensor.ones([2, 3], dtype: .int16))
        #expect(like.shape == [2, 3] && like.dtype == .int16)
        #expect(throws: TorchError.self) { try Tensor.arange(0, 5, step: 0) }
    }

    @Test func rawBytesAreCopied() throws {
        var values: [Float] = [1, 2, 3, 4, 5, 6]
        let t = try values.withUnsafeBytes { try Tensor(copying: $0, shape: [2, 3], dtype: .float32) }
        values[0] = 100
        #expect(try t.toArray(Float.self) == [1, 2, 3, 4, 5, 6])
        #expect(throws: TorchError.self) {
            try values.withUnsafeBytes { try Tensor(copying: $0, shape: [4], dtype: .float32) }
        }
    }

    @Test func borrowedMemoryIsSharedAndFreedOnce() throws {
        final class Counter: Sendable { let value = Atomic<Int>(0) }
        let frees = Counter()
        let p = UnsafeMutablePointer<Float>.allocate(capacity: 6)
        p.initialize(from: [1, 2, 3, 4, 5, 6], count: 6)
        do {
            let t = try Tensor(borrowing: p, shape: [2, 3], dtype: .float32) { raw in
                raw.deallocate()
                frees.value.add(1, ordering: .relaxed)
            }
            p[4] = 50  // writes through the Swift pointer are seen by the tensor: no copy
            #expect(try t.toArray(Float.self) == [1, 2, 3, 4, 50, 6])
            let view = try t.transpose(0, 1)
            try t.mul_(2)
            #expect(try view.toArray(Float.self) == [2, 8, 4, 100, 6, 12])
            // Strided borrowing: every other element.
            let q = UnsafeMutablePointer<Double>.allocate(capacity: 4)
            q.initialize(from: [1, 9, 2, 9], count: 4)
            let s = try Tensor(borrowing: q, shape: [2], strides: [2], dtype: .float64) { $0.deallocate() }
            #expect(try s.toArray(Double.self) == [1, 2])
            _ = consume t
            // The view keeps the storage alive.
            #expect(frees.value.load(ordering: .relaxed) == 0)
            #expect(try view.sum().item() == 132)
        }
        #expect(frees.value.load(ordering: .relaxed) == 1)
    }

    @Test func directAccessToStorage() throws {
        let t = try Tensor.zeros([2, 2])
        try t.withUnsafeMutableBytes { raw in
            raw.bindMemory(to: Float.self)[3] = 9
        }
        #expect(try t.toArray(Float.self) == [0, 0, 0, 9])
        let sum = try t.withUnsafeBytes { raw in raw.bindMemory(to: Float.self).reduce(0, +) }
        #expect(sum == 9)
        // A non-contiguous view refuses direct access rather than exposing the wrong layout.
        #expect(throws: TorchError.self) { try t.transpose(0, 1).withUnsafeBytes { _ in } }
    }

    @Test func conversions() throws {
        let t = try Tensor([1.7, -1.7, 2.5] as [Double])
        #expect(try t.to(.int64).toArray(Int.self) == [1, -1, 2])  // truncation toward zero
        #expect(try t.toArray(Int32.self) == [1, -1, 2])
        #expect(try t.to(.float32).dtype == .float32)
        #expect(try t.to(.cpu).device == .cpu)
        #expect(try Tensor([3] as [Float]).item() == 3)
        #expect(try Tensor([3] as [Int]).itemInt() == 3)
        #expect(try Tensor([true]).itemBool())
        #expect(throws: TorchError.self) { try Tensor([1, 2] as [Float]).item() }
        let c = try t.clone()
        try c.fill_(0)
        #expect(try t.toArray(Double.self) == [1.7, -1.7, 2.5])
        #expect(try Tensor([1, 2] as [Float]).description.contains("1"))
    }
}

@Suite struct RandomTests {
    @Test func globalSeedReproduces() throws {
        try manualSeed(42)
        let a = try Tensor.randn([100]).toArray(Float.self)
        try manualSeed(42)
        let b = try Tensor.randn([100]).toArray(Float.self)
        #expect(a == b)
    }

    @Test func generatorsAreIndependentOfTheGlobalOne() throws {
        let g1 = try Generator(seed: 7)
        let a = try Tensor.rand([50], generator: g1).toArray(Float.self)
        try manualSeed(1)
        _ = try Tensor.rand([1000])
        let g2 = try Generator(seed: 7)
        let b = try Tensor.rand([50], generator: g2).toArray(Float.self)
        #expect(a == b)
        #expect(g2.seed == 7)
        #expect(try Tensor.rand([50], generator: try Generator(seed: 8)).toArray(Float.self) != a)
    }

    @Test func generatorStateRestores() throws {
        let g = try Generator(seed: 3)
        _ = try Tensor.randn([10], generator: g)
        let state = try g.state()
        #expect(state.dtype == .uint8)
        let first = try Tensor.randn([20], generator: g).toArray(Float.self)
        try g.setState(state)
        #expect(try Tensor.randn([20], generator: g).toArray(Float.self) == first)
        let global = try globalGeneratorState()
        let x = try Tensor.rand([5]).toArray(Float.self)
        try setGlobalGeneratorState(global)
        #expect(try Tensor.rand([5]).toArray(Float.self) == x)
    }

    @Test func distributions() throws {
        let g = try Generator(seed: 11)
        let u = try Tensor.rand([100_000], dtype: .float64, generator: g)
        #expect(try u.min().item() >= 0 && u.max().item() < 1)
        expectClose(try u.mean().item(), 0.5, atol: 0.005)
        let n = try Tensor.randn([100_000], dtype: .float64, generator: g)
        expectClose(try n.mean().item(), 0, atol: 0.01)
        expectClose(try n.std().item(), 1, atol: 0.01)
        let i = try Tensor.randint(-3, 4, [10_000], generator: g)
        #expect(i.dtype == .int64)
        #expect(try i.min().itemInt() == -3 && i.max().itemInt() == 3)
        let p = try Tensor.randperm(100, generator: g).toArray(Int.self)
        #expect(p.sorted() == Array(0..<100) && p != Array(0..<100))
        let b = try Tensor.full([100_000], 0.3, dtype: .float64).bernoulli(generator: g)
        expectClose(try b.mean().item(), 0.3, atol: 0.01)
        let f = try Tensor.empty([100_000], dtype: .float64).uniform_(-2, 2, generator: g)
        #expect(try f.min().item() >= -2 && f.max().item() < 2)
        let nn = try Tensor.empty([100_000], dtype: .float64).normal_(mean: 5, std: 2, generator: g)
        expectClose(try nn.mean().item(), 5, atol: 0.05)
        expectClose(try nn.std().item(), 2, atol: 0.05)
    }
}

@Suite struct ReinterpretTests {
    @Test func viewAsAnotherDType() throws {
        // 1.0f is 0x3F800000: little-endian bytes 00 00 80 3F.
        let bytes = try Tensor([0, 0, 128, 63, 0, 0, 0, 64] as [UInt8])
        #expect(try bytes.view(as: .float32).toArray(Float.self) == [1, 2])
        #expect(try Tensor([1, 2] as [Float]).view(as: .uint8).toArray(UInt8.self) == [0, 0, 128, 63, 0, 0, 0, 64])
        // Byte-swapping as tensor operations: big-endian int16 0x0102 = 258.
        let be = try Tensor([1, 2, 255, 254] as [UInt8]).reshape([2, 2]).flip([1]).contiguous()
        #expect(try be.view(as: .int16).flatten().toArray(Int16.self) == [258, -2])
        #expect(throws: TorchError.self) { try Tensor([1, 2, 3] as [UInt8]).view(as: .float32) }
    }
}
