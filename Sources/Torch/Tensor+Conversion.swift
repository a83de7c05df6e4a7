import CTorch

extension Tensor {
    /// The elements in row-major order as a Swift array, converting the dtype when it differs.
    public func toArray<T: TensorElement>(_ type: T.Type = T.self) throws -> [T] {
        let source = dtype == T.dtype ? self : try to(T.dtype)
        let n = source.count
        return try [T](unsafeUninitializedCapacity: n) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            try check("copy_to_buffer") { upt_copy_to_buffer(source.handle, raw.baseAddress, raw.count) }
            initialized = n
        }
    }

    /// The value of a one-element tensor as a Double.
    public func item() throws -> Double {
        var v = 0.0
        try check("item") { upt_item_double(handle, &v) }
        return v
    }

    /// The value of a one-element tensor as an integer.
    public func itemInt() throws -> Int {
        var v: Int64 = 0
        try check("item") { upt_item_int64(handle, &v) }
        return Int(v)
    }

    /// The value of a one-element boolean tensor.
    public func itemBool() throws -> Bool { try itemInt() != 0 }

    /// Copies the elements, in row-major order, into raw memory of exactly the right size.
    public func copyBytes(to destination: UnsafeMutableRawBufferPointer) throws {
        try check("copy_to_buffer") { upt_copy_to_buffer(handle, destination.baseAddress, destination.count) }
    }

    /// Reads the storage of a contiguous CPU tensor in place, without a copy.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try requireDirectAccess("withUnsafeBytes")
        let p = upt_data_ptr(handle)
        return try withExtendedLifetime(self) {
            try body(UnsafeRawBufferPointer(start: p, count: count * dtype.byteSize))
        }
    }

    /// Writes the storage of a contiguous CPU tensor in place, without a copy.
    public func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) throws -> R {
        try requireDirectAccess("withUnsafeMutableBytes")
        let p = upt_data_ptr(handle)
        return try withExtendedLifetime(self) {
            try body(UnsafeMutableRawBufferPointer(start: p, count: count * dtype.byteSize))
        }
    }

    private func requireDirectAccess(_ operation: StaticString) throws {
        guard device == .cpu, isContiguous else {
            throw TorchError.invalidArgument(
                operation: "\(operation)",
                message: "needs a contiguous CPU tensor (this one: \(device), contiguous: \(isContiguous))")
        }
    }

    /// Converts to another dtype (a no-op returning an alias when it already matches).
    public func to(_ dtype: DType) throws -> Tensor {
        try make("to") { upt_to($0, handle, dtype.c, device.c, false) }
    }

    /// Moves to another device.
    public func to(_ device: Device) throws -> Tensor {
        try make("to") { upt_to($0, handle, dtype.c, device.c, false) }
    }

    public func to(dtype: DType, device: Device, copy: Bool = false) throws -> Tensor {
        try make("to") { upt_to($0, handle, dtype.c, device.c, copy) }
    }

    /// The same bytes read as another dtype (`Tensor.view(dtype)`): the last dimension scales by the
    /// ratio of element sizes. Needs a contiguous last dimension.
    public func view(as dtype: DType) throws -> Tensor {
        try make("view_dtype") { upt_view_dtype($0, handle, dtype.c) }
    }

    /// A new tensor with a copy of the data (`clone`).
    public func clone() throws -> Tensor { try make("clone") { upt_clone($0, handle) } }
}
