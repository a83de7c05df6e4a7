import CTorch

extension Tensor {
    /// A tensor holding a copy of `values`, shaped `shape` (a 1-d tensor when nil).
    /// - Throws: when the shape does not hold exactly `values.count` elements.
    public convenience init<T: TensorElement>(_ values: [T], shape: [Int]? = nil, device: Device = .cpu) throws {
        let shape = shape ?? [values.count]
        let expected = shape.reduce(1, *)
        guard expected == values.count, shape.allSatisfy({ $0 >= 0 }) else {
            throw TorchError.invalidArgument(
                operation: "Tensor(_:shape:)",
                message: "\(values.count) values cannot fill shape \(shape) (\(expected) elements)")
        }
        let t = try values.withUnsafeBytes { bytes in
            try Tensor(copying: bytes, shape: shape, dtype: T.dtype)
        }
        let placed = device == .cpu ? t : try t.to(device)
        self.init(owning: placed.takeHandle())
    }

    /// A 0-d tensor holding one number.
    public convenience init(scalar value: Scalar, dtype: DType? = nil, device: Device = .cpu) throws {
        let dtype = dtype ?? {
            switch value {
            case .double: .float32
            case .int: .int64
            case .bool: .bool
            }
        }()
        let t = try make("scalar_tensor") { upt_scalar_tensor($0, value.c, dtype.c, device.c) }
        self.init(owning: t.takeHandle())
    }

    /// A contiguous CPU tensor holding a copy of raw bytes laid out in row-major order.
    public convenience init(copying bytes: UnsafeRawBufferPointer, shape: [Int], dtype: DType) throws {
        TorchRuntime.ensureConfigured()
        let t = try withInt64s(shape) { sizes, n in
            try make("from_data") { upt_from_data($0, bytes.baseAddress, bytes.count, sizes, n, dtype.c) }
        }
        self.init(owning: t.takeHandle())
    }

    /// A CPU tensor over memory the caller owns, without a copy (`torch.from_blob`).
    ///
    /// `deallocate` receives the pointer once libtorch no longer needs the memory (when the last
    /// tensor or view of it goes), on whichever thread releases it. `strides` are in elements; nil
    /// means contiguous.
    public convenience init(
        borrowing pointer: UnsafeMutableRawPointer, shape: [Int], strides: [Int]? = nil, dtype: DType,
        deallocate: @escaping @Sendable (UnsafeMutableRawPointer) -> Void
    ) throws {
        TorchRuntime.ensureConfigured()
        if let strides, strides.count != shape.count {
            throw TorchError.invalidArgument(
                operation: "from_blob", message: "\(strides.count) strides for \(shape.count) dimensions")
        }
        let box = Unmanaged.passRetained(DeallocatorBox(pointer, deallocate))
        let deleter: @convention(c) (UnsafeMutableRawPointer?) -> Void = { context in
            guard let context else { return }
            let box = Unmanaged<DeallocatorBox>.fromOpaque(context).takeRetainedValue()
            box.run()
        }
        do {
            let t = try withInt64s(shape) { sizes, n in
                try withOptionalInt64s(strides) { st, _ in
                    try make("from_blob") {
                        upt_from_blob($0, pointer, sizes, st, n, dtype.c, deleter, box.toOpaque())
                    }
                }
            }
            self.init(owning: t.takeHandle())
        } catch {
            // libtorch did not take the memory: give it back now.
            box.takeRetainedValue().run()
            throw error
        }
    }

    /// An uninitialized tensor.
    public static func empty(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        TorchRuntime.ensureConfigured()
        return try withInt64s(shape) { s, n in try make("empty") { upt_empty($0, s, n, dtype.c, device.c) } }
    }

    public static func zeros(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        TorchRuntime.ensureConfigured()
        return try withInt64s(shape) { s, n in try make("zeros") { upt_zeros($0, s, n, dtype.c, device.c) } }
    }

    public static func ones(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        TorchRuntime.ensureConfigured()
        return try withInt64s(shape) { s, n in try make("ones") { upt_ones($0, s, n, dtype.c, device.c) } }
    }

    public static func full(_ shape: [Int], _ value: Scalar, dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        TorchRuntime.ensureConfigured()
        return try withInt64s(shape) { s, n in
            try make("full") { upt_full($0, s, n, value.c, dtype.c, device.c) }
        }
    }

    /// Zeros with the shape, dtype and device of `other`.
    public static func zeros(like other: Tensor) throws -> Tensor {
        try zeros(other.shape, dtype: other.dtype, device: other.device)
    }

    public static func ones(like other: Tensor) throws -> Tensor {
        try ones(other.shape, dtype: other.dtype, device: other.device)
    }

    /// Values from `start` up to (not including) `end` by `step` (`torch.arange`).
    public static func arange(
        _ start: Scalar = 0, _ end: Scalar, step: Scalar = 1, dtype: DType = .int64, device: Device = .cpu
    ) throws -> Tensor {
        TorchRuntime.ensureConfigured()
        return try make("arange") { upt_arange($0, start.c, end.c, step.c, dtype.c, device.c) }
    }

    /// `steps` evenly spaced values from `start` to `end` inclusive (`torch.linspace`).
    public static func linspace(
        _ start: Double, _ end: Double, steps: Int, dtype: DType = .float32, device: Device = .cpu
    ) throws -> Tensor {
        TorchRuntime.ensureConfigured()
        return try make("linspace") { upt_linspace($0, start, end, Int64(steps), dtype.c, device.c) }
    }

    /// The `n` x `m` identity (`m` defaults to `n`).
    public static func eye(_ n: Int, _ m: Int? = nil, dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        TorchRuntime.ensureConfigured()
        return try make("eye") { upt_eye($0, Int64(n), Int64(m ?? n), dtype.c, device.c) }
    }

    // MARK: randomness

    /// Uniform samples in [0, 1). Drawn on the CPU from `generator` (the global generator when nil)
    /// and moved to `device`, so one seed gives the same numbers everywhere.
    public static func rand(
        _ shape: [Int], dtype: DType = .float32, device: Device = .cpu, generator: Generator? = nil
    ) throws -> Tensor {
        TorchRuntime.ensureConfigured()
        return try withInt64s(shape) { s, n in
            try make("rand") { upt_rand($0, s, n, dtype.c, device.c, generator?.handle) }
        }
    }

    /// Standard normal samples.
    public static func randn(
        _ shape: [Int], dtype: DType = .float32, device: Device = .cpu, generator: Generator? = nil
    ) throws -> Tensor {
        TorchRuntime.ensureConfigured()
        return try withInt64s(shape) { s, n in
            try make("randn") { upt_randn($0, s, n, dtype.c, device.c, generator?.handle) }
        }
    }

    /// Integers uniform in [low, high).
    public static func randint(
        _ low: Int, _ high: Int, _ shape: [Int], dtype: DType = .int64, device: Device = .cpu,
        generator: Generator? = nil
    ) throws -> Tensor {
        TorchRuntime.ensureConfigured()
        return try withInt64s(shape) { s, n in
            try make("randint") {
                upt_randint($0, Int64(low), Int64(high), s, n, dtype.c, device.c, generator?.handle)
            }
        }
    }

    /// A random permutation of 0..<n.
    public static func randperm(_ n: Int, device: Device = .cpu, generator: Generator? = nil) throws -> Tensor {
        TorchRuntime.ensureConfigured()
        return try make("randperm") { upt_randperm($0, Int64(n), DType.int64.c, device.c, generator?.handle) }
    }

    /// Samples 0 or 1 with the probabilities held by this tensor.
    public func bernoulli(generator: Generator? = nil) throws -> Tensor {
        try make("bernoulli") { upt_bernoulli($0, handle, generator?.handle) }
    }

    /// Fills in place with uniform samples in [from, to).
    @discardableResult
    public func uniform_(_ from: Double = 0, _ to: Double = 1, generator: Generator? = nil) throws -> Tensor {
        try check("uniform_") { upt_uniform_(handle, from, to, generator?.handle) }
        return self
    }

    /// Fills in place with normal samples.
    @discardableResult
    public func normal_(mean: Double = 0, std: Double = 1, generator: Generator? = nil) throws -> Tensor {
        try check("normal_") { upt_normal_(handle, mean, std, generator?.handle) }
        return self
    }

    /// Gives this tensor's handle to a new owner: a fresh alias, so `self` stays valid.

    func takeHandle() -> upt_tensor {
        var out: upt_tensor?
        _ = upt_alias(&out, handle)
        return out!
    }
}

/// Carries a Swift closure through the C deleter of `from_blob`.
final class DeallocatorBox {
    let pointer: UnsafeMutableRawPointer
    let body: @Sendable (UnsafeMutableRawPointer) -> Void
    init(_ pointer: UnsafeMutableRawPointer, _ body: @escaping @Sendable (UnsafeMutableRawPointer) -> Void) {
        self.pointer = pointer
        self.body = body
    }
    func run() { body(pointer) }
}
