import CTorch

/// A seeded source of random numbers (`torch.Generator` on the CPU).
///
/// Pass one to `rand`, `randn`, `randint`, `randperm`, `bernoulli`, `uniform_` or `normal_` to draw
/// from it instead of the global generator. Its state can be saved and restored (checkpoints).
public final class Generator: @unchecked Sendable {
    let handle: upt_generator

    public init(seed: UInt64) throws {
        var out: upt_generator?
        try check("generator_new") { upt_generator_new(&out, seed) }
        handle = out!
    }

    deinit { upt_generator_free(handle) }

    /// The seed this generator started from.
    public var seed: UInt64 {
        var s: UInt64 = 0
        _ = upt_generator_seed(handle, &s)
        return s
    }

    /// The full state, as a uint8 tensor.
    public func state() throws -> Tensor {
        try make("generator_get_state") { upt_generator_get_state($0, handle) }
    }

    public func setState(_ state: Tensor) throws {
        try check("generator_set_state") {
            withExtendedLifetime(state) { upt_generator_set_state(handle, state.handle) }
        }
    }
}

/// Seeds the global generators (CPU and every CUDA device), like `torch.manual_seed`.
public func manualSeed(_ seed: UInt64) throws {
    TorchRuntime.ensureConfigured()
    try check("manual_seed") { upt_manual_seed(seed) }
}

/// The global CPU generator's state.
public func globalGeneratorState() throws -> Tensor {
    try make("generator_get_state") { upt_generator_get_state($0, nil) }
}

public func setGlobalGeneratorState(_ state: Tensor) throws {
    try check("generator_set_state") {
        withExtendedLifetime(state) { upt_generator_set_state(nil, state.handle) }
    }
}
