import CTorch

/// An n-dimensional array on the CPU or a GPU, backed by a libtorch `at::Tensor`.
///
/// A `Tensor` owns one libtorch handle and frees it when the last Swift reference goes (ARC), like
/// mlx-swift's `MLXArray`. Tensors are reference types with PyTorch's semantics: views share
/// storage, in-place operations (the methods ending in `_`) are visible through every view.
/// Every operation that can fail throws a ``TorchError``; none crashes the process.
public final class Tensor: @unchecked Sendable {

    let handle: upt_tensor

    /// Takes ownership of a +1 handle from the shim.

    init(owning handle: upt_tensor) {
        self.handle = handle
    }

    deinit {
        upt_free(handle)
    }

    /// The number of dimensions.
    public var rank: Int { Int(upt_ndim(handle)) }

    /// The size of each dimension.
    public var shape: [Int] {
        let n = Int(upt_ndim(handle))
        if n == 0 { return [] }
        return [Int](unsafeUninitializedCapacity: n) { buffer, count in
            buffer.withMemoryRebound(to: Int64.self) { upt_sizes(handle, $0.baseAddress!, Int32(n)) }
            count = n
        }
    }

    /// The size of one dimension (negative indices count from the end).
    public func size(_ dim: Int) -> Int {
        let s = shape
        return s[dim < 0 ? dim + s.count : dim]
    }

    /// Element strides of each dimension.
    public var strides: [Int] {
        let n = Int(upt_ndim(handle))
        if n == 0 { return [] }
        return [Int](unsafeUninitializedCapacity: n) { buffer, count in
            buffer.withMemoryRebound(to: Int64.self) { upt_strides(handle, $0.baseAddress!, Int32(n)) }
            count = n
        }
    }

    /// The number of elements.
    public var count: Int { Int(upt_numel(handle)) }

    public var dtype: DType {
        // The shim only creates tensors of dtypes upres knows.
        (try? DType(upt_get_dtype(handle))) ?? .float32
    }

    public var device: Device { Device(upt_get_device(handle)) }

    public var isContiguous: Bool { upt_is_contiguous(handle) }

    /// Whether both tensors view the same storage.
    public func sharesStorage(with other: Tensor) -> Bool {
        var out = false
        _ = withExtendedLifetime(other) { upt_same_storage(handle, other.handle, &out) }
        return out
    }
}

extension Tensor: CustomStringConvertible {
    /// libtorch's own printout of the values, followed by the dtype and shape.
    public var description: String {
        var out: UnsafeMutablePointer<CChar>?
        guard upt_to_string(&out, handle) == 0, let out else {
            return "Tensor(\(dtype), shape: \(shape))"
        }
        defer { upt_free_string(out) }
        return String(cString: out)
    }
}
