extension Tensor {
    /// Makes the next shim call named `operation` fail with `message`, as if libtorch had thrown.
    /// For tests of error paths; a no-op cost of one relaxed atomic load per call otherwise.
    public static func _injectFailure(operation: String, message: String) {
        FailureInjection.arm(operation, message: message)
    }
}
