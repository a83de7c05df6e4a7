import Testing
@testable import Torch

@Suite struct ShapeTests {
    let t: Tensor  // [[0, 1, 2], [3, 4, 5]]
    init() throws { t = try Tensor.arange(0, 6).reshape([2, 3]) }

    func ints(_ x: Tensor) throws -> [Int] { try x.toArray(Int.self) }

    @Test func reshapeAndView() throws {
        #expect(try t.reshape([3, -1]).shape == [3, 2])
        #expect(try ints(t.view([6])) == [0, 1, 2, 3, 4, 5])
        #expect(try t.view([6]).sharesStorage(with: t))
        // A transposed tensor cannot be viewed flat: view throws, reshape copies.
        #expect(throws: TorchError.self) { try t.transpose(0, 1).view([6]) }
        #expect(try ints(t.transpose(0, 1).reshape([6])) == [0, 3, 1, 4, 2, 5])
        #expect(throws: TorchError.self) { try t.reshape([4, 2]) }
    }

    @Test func permuteTransposeSqueeze() throws {
        let x = try Tensor.arange(0, 24).reshape([2, 3, 4])
        let p = try x.permute([2, 0, 1])
        #expect(p.shape == [4, 2, 3] && !p.isContiguous)
        #expect(try p.select(0, 1).select(0, 1).select(0, 2).itemInt() == 1 * 12 + 2 * 4 + 1)
        #expect(try ints(t.transpose(0, 1)) == [0, 3, 1, 4, 2, 5])
        #expect(try t.unsqueeze(0).unsqueeze(-1).shape == [1, 2, 3, 1])
        #expect(try t.unsqueeze(0).unsqueeze(-1).squeeze().shape == [2, 3])
        #expect(try t.unsqueeze(0).squeeze(0).shape == [2, 3])
        #expect(try x.flatten(startDim: 1).shape == [2, 12])
        #expect(try x.flatten().shape == [24])
        #expect(try t.transpose(0, 1).contiguous().isContiguous)
    }

    @Test func expandBroadcastsWithoutCopy() throws {
        let col = try Tensor([1, 2] as [Int]).reshape([2, 1])
        let e = try col.expand([2, 3])
        #expect(try ints(e) == [1, 1, 1, 2, 2, 2])
        #expect(e.strides == [1, 0])
        #expect(try col.expand([-1, 4]).shape == [2, 4])
        #expect(try col.expand(as: t).shape == [2, 3])
        #expect(throws: TorchError.self) { try col.expand([3, 3]) }
    }

    @Test func narrowSliceSelect() throws {
        let x = try Tensor.arange(0, 10)
        #expect(try ints(x.narrow(0, start: 2, length: 3)) == [2, 3, 4])
        #expect(try ints(x.slice(0, start: 1, end: 8, step: 3)) == [1, 4, 7])
        #expect(try ints(x.slice(0, start: -3)) == [7, 8, 9])
        #expect(try ints(t.select(1, 2)) == [2, 5])
        #expect(try ints(t.select(0, -1)) == [3, 4, 5])
        // Views write through.
        try x.narrow(0, start: 0, length: 2).fill_(-1)
        #expect(try ints(x.slice(0, end: 3)) == [-1, -1, 2])
        #expect(throws: TorchError.self) { try t.select(0, 2) }
        #expect(throws: TorchError.self) { try x.narrow(0, start: 8, length: 5) }
    }

    @Test func indexing() throws {
        let idx = try Tensor([2, 0] as [Int])
        #expect(try ints(t.indexSelect(1, idx)) == [2, 0, 5, 3])
        #expect(try ints(t.index([nil, idx])) == [2, 0, 5, 3])
        #expect(try ints(t.index([try Tensor([1, 0] as [Int]), idx])) == [5, 0])
        let mask = try t.gt(2)
        #expect(try ints(t.index([mask])) == [3, 4, 5])
        #expect(try ints(t.maskedSelect(mask)) == [3, 4, 5])
        #expect(try ints(t.maskedFill(mask, 0)) == [0, 1, 2, 0, 0, 0])
        let put = try t.indexPut([try Tensor([0, 1] as [Int]), try Tensor([1, 1] as [Int])], try Tensor([10, 20] as [Int]))
        #expect(try ints(put) == [0, 10, 2, 3, 20, 5])
        let acc = try Tensor.zeros([3], dtype: .int64).indexPut([try Tensor([0, 0, 2] as [Int])], try Tensor([1, 1, 5] as [Int]), accumulate: true)
        #expect(try ints(acc) == [2, 0, 5])
        #expect(throws: TorchError.self) { try t.indexSelect(1, Tensor([3] as [Int])) }
    }

    @Test func gatherScatter() throws {
        let g = try t.gather(1, Tensor([2, 0, 1, 1] as [Int], shape: [2, 2]))
        #expect(try ints(g) == [2, 0, 4, 4])
        let s = try Tensor.zeros([2, 3], dtype: .int64).scatter(1, Tensor([2, 0] as [Int], shape: [2, 1]), Tensor([7, 8] as [Int], shape: [2, 1]))
        #expect(try ints(s) == [0, 0, 7, 8, 0, 0])
        let sa = try Tensor.zeros([3], dtype: .int64).scatterAdd(0, Tensor([0, 2, 0] as [Int]), Tensor([1, 2, 3] as [Int]))
        #expect(try ints(sa) == [4, 0, 2])
    }

    @Test func whereAndNonzero() throws {
        let w = try Tensor.where(t.ge(3), t, t.neg())
        #expect(try ints(w) == [0, -1, -2, 3, 4, 5])
        #expect(try ints(t.gt(3).nonzero()) == [1, 1, 1, 2])
        // Broadcasting a scalar tensor.
        #expect(try ints(Tensor.where(t.lt(2), t, Tensor(scalar: 9))) == [0, 1, 9, 9, 9, 9])
    }

    @Test func joiningAndSplitting() throws {
        #expect(try ints(Tensor.cat([t, t], dim: 1)) == [0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5])
        #expect(try Tensor.stack([t, t], dim: 1).shape == [2, 2, 3])
        #expect(throws: TorchError.self) { try Tensor.cat([t, Tensor.zeros([2, 2], dtype: .int64)], dim: 0) }
        let x = try Tensor.arange(0, 7)
        #expect(try x.split(3).map { try ints($0) } == [[0, 1, 2], [3, 4, 5], [6]])
        #expect(try x.split(sizes: [1, 6]).map { $0.count } == [1, 6])
        #expect(throws: TorchError.self) { try x.split(sizes: [1, 2]) }
        #expect(throws: TorchError.self) { try x.split(0) }
        #expect(try x.chunk(3).map { $0.count } == [3, 3, 1])
        #expect(try x.split(3)[1].sharesStorage(with: x))
    }

    @Test func flipRollRepeat() throws {
        #expect(try ints(t.flip([1])) == [2, 1, 0, 5, 4, 3])
        #expect(try ints(t.flip([0, 1])) == [5, 4, 3, 2, 1, 0])
        #expect(try ints(t.roll([1], dims: [1])) == [2, 0, 1, 5, 3, 4])
        #expect(try ints(t.roll([-1, 1], dims: [0, 1])) == [5, 3, 4, 2, 0, 1])
        #expect(throws: TorchError.self) { try t.roll([1, 2], dims: [0]) }
        #expect(try ints(Tensor([1, 2] as [Int]).repeat([2, 2])) == [1, 2, 1, 2, 1, 2, 1, 2])
    }

    @Test func padModesMatchHandWorkedValues() throws {
        let x = try Tensor([1, 2, 3] as [Double]).reshape([1, 1, 3])
        #expect(try x.pad([2, 1]).toArray(Double.self) == [0, 0, 1, 2, 3, 0])
        #expect(try x.pad([1, 1], value: -5).toArray(Double.self) == [-5, 1, 2, 3, -5])
        #expect(try x.pad([2, 2], mode: .reflect).toArray(Double.self) == [3, 2, 1, 2, 3, 2, 1])
        #expect(try x.pad([2, 1], mode: .replicate).toArray(Double.self) == [1, 1, 1, 2, 3, 3])
        #expect(try x.pad([1, 2], mode: .circular).toArray(Double.self) == [3, 1, 2, 3, 1, 2])
        // 2-d: pads = [left, right, top, bottom].
        let m = try Tensor([1, 2, 3, 4] as [Double], shape: [1, 1, 2, 2])
        #expect(try m.pad([1, 0, 0, 1], mode: .replicate).toArray(Double.self) == [1, 1, 2, 3, 3, 4, 3, 3, 4])
        #expect(throws: TorchError.self) { try x.pad([3, 3], mode: .reflect) }  // pad >= size
    }

    @Test func windowsMeshgridTriangles() throws {
        let w = try Tensor.arange(0, 5).windows(0, size: 3, step: 2)
        #expect(try w.shape == [2, 3] && ints(w) == [0, 1, 2, 2, 3, 4])
        let g = try Tensor.meshgrid([Tensor([1, 2] as [Int]), Tensor([5, 6, 7] as [Int])])
        #expect(try g[0].shape == [2, 3] && ints(g[0]) == [1, 1, 1, 2, 2, 2])
        #expect(try ints(g[1]) == [5, 6, 7, 5, 6, 7])
        let xy = try Tensor.meshgrid([Tensor([1, 2] as [Int]), Tensor([5, 6, 7] as [Int])], indexing: "xy")
        #expect(xy[0].shape == [3, 2])
        let sq = try Tensor.arange(1, 10).reshape([3, 3])
        #expect(try ints(sq.tril()) == [1, 0, 0, 4, 5, 0, 7, 8, 9])
        #expect(try ints(sq.triu(1)) == [0, 2, 3, 0, 0, 6, 0, 0, 0])
    }

    @Test func sortAndTopk() throws {
        let x = try Tensor([3, 1, 2] as [Double])
        let s = try x.sort()
        #expect(try s.values.toArray(Double.self) == [1, 2, 3] && ints(s.indices) == [1, 2, 0])
        #expect(try x.sort(descending: true).values.toArray(Double.self) == [3, 2, 1])
        let k = try x.topk(2)
        #expect(try k.values.toArray(Double.self) == [3, 2] && ints(k.indices) == [0, 2])
        #expect(try x.topk(1, largest: false).values.toArray(Double.self) == [1])
    }
}
