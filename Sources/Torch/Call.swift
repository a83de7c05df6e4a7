import CTorch

// The one funnel through which every shim call passes: it turns a non-zero status into a thrown
// `TorchError` carrying the operation's name and libtorch's message, and it is the single place
// where tests inject failures.


func lastError(_ operation: StaticString) -> TorchError {
    let message = String(cString: upt_last_error())
    return .libtorch(operation: "\(operation)", message: message)
}

/// Runs a shim call that returns a status and no tensor.

func check(_ operation: StaticString, _ body: () -> Int32) throws {
    if FailureInjection.isArmed, let e = FailureInjection.take(operation) { throw e }
    if body() != 0 { throw lastError(operation) }
}

/// Runs a shim call that produces one tensor through its out-parameter.

func make(_ operation: StaticString, _ body: (UnsafeMutablePointer<upt_tensor?>) -> Int32) throws
    -> Tensor
{
    if FailureInjection.isArmed, let e = FailureInjection.take(operation) { throw e }
    var out: upt_tensor?
    if body(&out) != 0 { throw lastError(operation) }
    guard let handle = out else {
        throw TorchError.libtorch(operation: "\(operation)", message: "returned an undefined tensor")
    }
    return Tensor(owning: handle)
}

/// Runs a shim call that produces two tensors (values and indices).

func make2(
    _ operation: StaticString,
    _ body: (UnsafeMutablePointer<upt_tensor?>, UnsafeMutablePointer<upt_tensor?>) -> Int32
) throws -> (Tensor, Tensor) {
    if FailureInjection.isArmed, let e = FailureInjection.take(operation) { throw e }
    var a: upt_tensor?
    var b: upt_tensor?
    if body(&a, &b) != 0 { throw lastError(operation) }
    guard let ha = a, let hb = b else {
        if let ha = a { upt_free(ha) }
        if let hb = b { upt_free(hb) }
        throw TorchError.libtorch(operation: "\(operation)", message: "returned an undefined tensor")
    }
    return (Tensor(owning: ha), Tensor(owning: hb))
}

/// Runs a shim call that fills `count` handle slots; undefined results come back as nil.

func makeList(
    _ operation: StaticString, count: Int,
    _ body: (UnsafeMutablePointer<upt_tensor?>) -> Int32
) throws -> [Tensor?] {
    if FailureInjection.isArmed, let e = FailureInjection.take(operation) { throw e }
    var slots = [upt_tensor?](repeating: nil, count: count)
    let status = slots.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
    let tensors = slots.map { $0.map { Tensor(owning: $0) } }
    if status != 0 { throw lastError(operation) }
    return tensors
}

// MARK: - argument marshalling


func withInt64s<R>(_ values: [Int], _ body: (UnsafePointer<Int64>, Int32) throws -> R) rethrows -> R {
    try values.withUnsafeBufferPointer { buffer in
        try buffer.withMemoryRebound(to: Int64.self) { p in
            // An empty list still needs a valid address.
            var zero: Int64 = 0
            if let base = p.baseAddress { return try body(base, Int32(p.count)) }
            return try withUnsafePointer(to: &zero) { try body($0, 0) }
        }
    }
}

/// Like `withInt64s`, passing NULL for nil.

func withOptionalInt64s<R>(_ values: [Int]?, _ body: (UnsafePointer<Int64>?, Int32) throws -> R) rethrows -> R {
    guard let values else { return try body(nil, 0) }
    return try withInt64s(values) { try body($0, $1) }
}


func withHandles<R>(_ tensors: [Tensor], _ body: (UnsafePointer<upt_tensor?>, Int32) throws -> R) rethrows -> R {
    let handles: [upt_tensor?] = tensors.map { $0.handle }
    return try withExtendedLifetime(tensors) {
        try handles.withUnsafeBufferPointer { try body($0.baseAddress!, Int32($0.count)) }
    }
}


func withOptionalHandles<R>(_ tensors: [Tensor?], _ body: (UnsafePointer<upt_tensor?>, Int32) throws -> R) rethrows -> R {
    let handles: [upt_tensor?] = tensors.map { $0?.handle }
    return try withExtendedLifetime(tensors) {
        try handles.withUnsafeBufferPointer { try body($0.baseAddress!, Int32($0.count)) }
    }
}

/// Repeats a one-element list to `count` elements (PyTorch's `_pair`/`_triple`).

func expanded(_ values: [Int], to count: Int, _ operation: StaticString, _ name: String) throws -> [Int] {
    if values.count == count { return values }
    if values.count == 1 { return Array(repeating: values[0], count: count) }
    throw TorchError.invalidArgument(
        operation: "\(operation)",
        message: "\(name) has \(values.count) values; expected 1 or \(count)")
}
