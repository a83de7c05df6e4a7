import CTorch

extension Tensor {
    /// A tensor with the same data and a new shape (a view when possible); one size may be -1.
    public func reshape(_ shape: [Int]) throws -> Tensor {
        try withInt64s(shape) { s, n in try make("reshape") { upt_reshape($0, handle, s, n) } }
    }

    /// A view with a new shape; fails when the strides do not allow one.
    public func view(_ shape: [Int]) throws -> Tensor {
        try withInt64s(shape) { s, n in try make("view") { upt_view($0, handle, s, n) } }
    }

    public func permute(_ dims: [Int]) throws -> Tensor {
        try withInt64s(dims) { d, n in try make("permute") { upt_permute($0, handle, d, n) } }
    }

    public func transpose(_ dim0: Int, _ dim1: Int) throws -> Tensor {
        try make("transpose") { upt_transpose($0, handle, Int64(dim0), Int64(dim1)) }
    }

    /// Removes every dimension of size 1 (or only `dim`).
    public func squeeze(_ dim: Int? = nil) throws -> Tensor {
        if let dim { return try make("squeeze") { upt_squeeze_dim($0, handle, Int64(dim)) } }
        return try make("squeeze") { upt_squeeze($0, handle) }
    }

    public func unsqueeze(_ dim: Int) throws -> Tensor {
        try make("unsqueeze") { upt_unsqueeze($0, handle, Int64(dim)) }
    }

    public func flatten(startDim: Int = 0, endDim: Int = -1) throws -> Tensor {
        try make("flatten") { upt_flatten($0, handle, Int64(startDim), Int64(endDim)) }
    }

    /// Broadcasts dimensions of size 1 to `shape` without copying (-1 keeps a size).
    public func expand(_ shape: [Int]) throws -> Tensor {
        try withInt64s(shape) { s, n in try make("expand") { upt_expand($0, handle, s, n) } }
    }

    public func expand(as other: Tensor) throws -> Tensor { try expand(other.shape) }

    public func contiguous() throws -> Tensor { try make("contiguous") { upt_contiguous($0, handle) } }

    /// `length` entries of `dim` from `start` (a view).
    public func narrow(_ dim: Int, start: Int, length: Int) throws -> Tensor {
        try make("narrow") { upt_narrow($0, handle, Int64(dim), Int64(start), Int64(length)) }
    }

    /// `t[..., start:end:step, ...]` along `dim` (a view); `end` nil means to the end.
    public func slice(_ dim: Int, start: Int = 0, end: Int? = nil, step: Int = 1) throws -> Tensor {
        try make("slice") {
            upt_slice($0, handle, Int64(dim), Int64(start), Int64(end ?? Int(Int64.max)), Int64(step))
        }
    }

    /// `t[..., index, ...]` along `dim`, dropping that dimension (a view).
    public func select(_ dim: Int, _ index: Int) throws -> Tensor {
        try make("select") { upt_select($0, handle, Int64(dim), Int64(index)) }
    }

    public func indexSelect(_ dim: Int, _ index: Tensor) throws -> Tensor {
        try withExtendedLifetime(index) {
            try make("index_select") { upt_index_select($0, handle, Int64(dim), index.handle) }
        }
    }

    /// Advanced indexing `t[i0, i1, ...]` with integer or boolean tensors; nil is a full slice.
    public func index(_ indices: [Tensor?]) throws -> Tensor {
        try withOptionalHandles(indices) { p, n in try make("index") { upt_index($0, handle, p, n) } }
    }

    /// `t[indices] = values` (or `+=` with accumulate) returning a new tensor.
    public func indexPut(_ indices: [Tensor?], _ values: Tensor, accumulate: Bool = false) throws -> Tensor {
        try withExtendedLifetime(values) {
            try withOptionalHandles(indices) { p, n in
                try make("index_put") { upt_index_put($0, handle, p, n, values.handle, accumulate) }
            }
        }
    }

    public func gather(_ dim: Int, _ index: Tensor) throws -> Tensor {
        try withExtendedLifetime(index) { try make("gather") { upt_gather($0, handle, Int64(dim), index.handle) } }
    }

    public func scatter(_ dim: Int, _ index: Tensor, _ source: Tensor) throws -> Tensor {
        try withExtendedLifetime((index, source)) {
            try make("scatter") { upt_scatter($0, handle, Int64(dim), index.handle, source.handle) }
        }
    }

    public func scatterAdd(_ dim: Int, _ index: Tensor, _ source: Tensor) throws -> Tensor {
        try withExtendedLifetime((index, source)) {
            try make("scatter_add") { upt_scatter_add($0, handle, Int64(dim), index.handle, source.handle) }
        }
    }

    /// The elements where `mask` is true, as a 1-d tensor.
    public func maskedSelect(_ mask: Tensor) throws -> Tensor {
        try withExtendedLifetime(mask) { try make("masked_select") { upt_masked_select($0, handle, mask.handle) } }
    }

    public func maskedFill(_ mask: Tensor, _ value: Scalar) throws -> Tensor {
        try withExtendedLifetime(mask) {
            try make("masked_fill") { upt_masked_fill($0, handle, mask.handle, value.c) }
        }
    }

    /// Elements of `a` where `condition` holds, else of `b` (`torch.where`).
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        try withExtendedLifetime((condition, a, b)) {
            try make("where") { upt_where($0, condition.handle, a.handle, b.handle) }
        }
    }

    /// The indices of non-zero elements, one row each.
    public func nonzero() throws -> Tensor { try make("nonzero") { upt_nonzero($0, handle) } }

    public static func cat(_ tensors: [Tensor], dim: Int = 0) throws -> Tensor {
        try withHandles(tensors) { p, n in try make("cat") { upt_cat($0, p, n, Int64(dim)) } }
    }

    public static func stack(_ tensors: [Tensor], dim: Int = 0) throws -> Tensor {
        try withHandles(tensors) { p, n in try make("stack") { upt_stack($0, p, n, Int64(dim)) } }
    }

    /// Pieces of `size` entries along `dim` (the last may be smaller).
    public func split(_ size: Int, dim: Int = 0) throws -> [Tensor] {
        guard size > 0 else {
            throw TorchError.invalidArgument(operation: "split", message: "split size \(size) must be positive")
        }
        let pieces = (self.size(dim) + size - 1) / size
        return try collect("split", capacity: Swift.max(pieces, 1)) { out, cap, count in
            upt_split(out, cap, count, handle, Int64(size), Int64(dim))
        }
    }

    /// Pieces of the given sizes along `dim`.
    public func split(sizes: [Int], dim: Int = 0) throws -> [Tensor] {
        try withInt64s(sizes) { s, n in
            try collect("split_with_sizes", capacity: Swift.max(sizes.count, 1)) { out, cap, count in
                upt_split_sizes(out, cap, count, handle, s, n, Int64(dim))
            }
        }
    }

    /// At most `chunks` nearly equal pieces along `dim`.
    public func chunk(_ chunks: Int, dim: Int = 0) throws -> [Tensor] {
        try collect("chunk", capacity: Swift.max(chunks, 1)) { out, cap, count in
            upt_chunk(out, cap, count, handle, Int64(chunks), Int64(dim))
        }
    }

    private func collect(
        _ operation: StaticString, capacity: Int,
        _ body: (UnsafeMutablePointer<upt_tensor?>, Int32, UnsafeMutablePointer<Int32>) -> Int32
    ) throws -> [Tensor] {
        var count: Int32 = 0
        let parts = try makeList(operation, count: capacity) { body($0, Int32(capacity), &count) }
        return parts.prefix(Int(count)).compactMap { $0 }
    }

    public func flip(_ dims: [Int]) throws -> Tensor {
        try withInt64s(dims) { d, n in try make("flip") { upt_flip($0, handle, d, n) } }
    }

    /// Rolls elements along `dims` by `shifts` (circular shift).
    public func roll(_ shifts: [Int], dims: [Int]) throws -> Tensor {
        guard shifts.count == dims.count else {
            throw TorchError.invalidArgument(
                operation: "roll", message: "\(shifts.count) shifts for \(dims.count) dimensions")
        }
        return try withInt64s(shifts) { s, n in
            try withInt64s(dims) { d, _ in try make("roll") { upt_roll($0, handle, s, d, n) } }
        }
    }

    /// How `pad` fills the border.
    public enum PaddingMode: String, Sendable {
        case constant, reflect, replicate, circular
    }

    /// Pads the last dimensions: `pads` = [last_before, last_after, previous_before, ...] as in
    /// `torch.nn.functional.pad`.
    public func pad(_ pads: [Int], mode: PaddingMode = .constant, value: Double = 0) throws -> Tensor {
        try withInt64s(pads) { p, n in
            try make("pad") { upt_pad($0, handle, p, n, mode.rawValue, value) }
        }
    }

    /// Tiles the tensor `repeats[i]` times along each dimension.
    public func `repeat`(_ repeats: [Int]) throws -> Tensor {
        try withInt64s(repeats) { r, n in try make("repeat") { upt_repeat($0, handle, r, n) } }
    }

    /// Sliding windows of `size` along `dim` by `step` (`Tensor.unfold`).
    public func windows(_ dim: Int, size: Int, step: Int) throws -> Tensor {
        try make("unfold") { upt_unfold_dim($0, handle, Int64(dim), Int64(size), Int64(step)) }
    }

    /// Coordinate grids (`torch.meshgrid`, "ij" or "xy" indexing).
    public static func meshgrid(_ tensors: [Tensor], indexing: String = "ij") throws -> [Tensor] {
        try withHandles(tensors) { p, n in
            try makeList("meshgrid", count: tensors.count) { upt_meshgrid($0, p, n, indexing) }.compactMap { $0 }
        }
    }

    public func tril(_ diagonal: Int = 0) throws -> Tensor { try make("tril") { upt_tril($0, handle, Int64(diagonal)) } }
    public func triu(_ diagonal: Int = 0) throws -> Tensor { try make("triu") { upt_triu($0, handle, Int64(diagonal)) } }

    public func sort(dim: Int = -1, descending: Bool = false) throws -> (values: Tensor, indices: Tensor) {
        let (v, i) = try make2("sort") { upt_sort($0, $1, handle, Int64(dim), descending) }
        return (v, i)
    }

    public func topk(_ k: Int, dim: Int = -1, largest: Bool = true) throws -> (values: Tensor, indices: Tensor) {
        let (v, i) = try make2("topk") { upt_topk($0, $1, handle, Int64(k), Int64(dim), largest) }
        return (v, i)
    }
}
