import CTorch

extension Tensor {
    /// Whether operations on this tensor are recorded for differentiation.
    public var requiresGrad: Bool { upt_requires_grad(handle) }

    /// Whether this tensor was created by the user rather than by a recorded operation.
    public var isLeaf: Bool { upt_is_leaf(handle) }

    /// Turns gradient recording on or off for this leaf tensor (`requires_grad_`), returning it.
    @discardableResult
    public func requiresGrad(_ flag: Bool) throws -> Tensor {
        try check("requires_grad_") { upt_ag_set_requires_grad(handle, flag) }
        return self
    }

    /// The gradient accumulated by ``backward(_:retainGraph:createGraph:)``, if any.
    public var grad: Tensor? {
        var out: upt_tensor?
        guard upt_ag_grad(&out, handle) == 0, let out else { return nil }
        return Tensor(owning: out)
    }

    /// Replaces (or with nil, removes) the accumulated gradient.
    public func setGrad(_ gradient: Tensor?) throws {
        try check("set_grad") { withExtendedLifetime(gradient) { upt_ag_set_grad(handle, gradient?.handle) } }
    }

    /// Clears the gradient: zeroed in place, or dropped with `setToNone`.
    public func zeroGrad(setToNone: Bool = true) throws {
        try check("zero_grad") { upt_ag_zero_grad(handle, setToNone) }
    }

    /// Backpropagates from this tensor, accumulating into the `grad` of every leaf that needs one.
    /// - Parameters:
    ///   - gradient: d(loss)/d(self); nil for a one-element tensor (taken as 1).
    ///   - retainGraph: keep the graph for another backward pass (defaults to `createGraph`).
    ///   - createGraph: record the backward pass itself, for gradients of gradients.
    public func backward(_ gradient: Tensor? = nil, retainGraph: Bool? = nil, createGraph: Bool = false) throws {
        try check("backward") {
            withExtendedLifetime(gradient) {
                upt_ag_backward(handle, gradient?.handle, retainGraph ?? createGraph, createGraph)
            }
        }
    }

    /// A tensor sharing the data, cut from the graph.
    public func detach() throws -> Tensor { try make("detach") { upt_ag_detach($0, handle) } }

    /// Cuts this tensor from the graph in place.
    public func detach_() throws {
        try check("detach_") { upt_ag_detach_(handle) }
    }
}

/// The gradients of `outputs` with respect to `inputs` (`torch.autograd.grad`), without touching
/// any `grad` field. With `createGraph` the results are differentiable (gradient penalties,
/// gradients of gradients).
/// - Returns: one gradient per input; nil for an input the outputs do not depend on
///   (only with `allowUnused`, else that is an error).
public func gradients(
    of outputs: [Tensor], withRespectTo inputs: [Tensor], gradOutputs: [Tensor?]? = nil,
    retainGraph: Bool? = nil, createGraph: Bool = false, allowUnused: Bool = false
) throws -> [Tensor?] {
    if let gradOutputs, gradOutputs.count != outputs.count {
        throw TorchError.invalidArgument(
            operation: "autograd.grad", message: "\(gradOutputs.count) output gradients for \(outputs.count) outputs")
    }
    return try withHandles(outputs) { op, on in
        try withHandles(inputs) { ip, inn in
            try withOptionalHandles(gradOutputs ?? []) { gp, _ in
                try makeList("autograd.grad", count: inputs.count) {
                    upt_ag_grad_of($0, op, on, ip, inn, gradOutputs == nil ? nil : gp,
                                   retainGraph ?? createGraph, createGraph, allowUnused)
                }
            }
        }
    }
}

/// Whether operations record gradients on this thread.
public var isGradEnabled: Bool { upt_ag_is_grad_enabled() }

/// Runs `body` without recording gradients (`torch.no_grad()`), restoring the previous mode after.
public func withNoGrad<R>(_ body: () throws -> R) rethrows -> R {
    try withGradEnabled(false, body)
}

/// Runs `body` with gradient recording set to `enabled`, restoring the previous mode after.
public func withGradEnabled<R>(_ enabled: Bool, _ body: () throws -> R) rethrows -> R {
    let previous = upt_ag_is_grad_enabled()
    upt_ag_set_grad_enabled(enabled)
    defer { upt_ag_set_grad_enabled(previous) }
    return try body()
}
