import CTorch


func unary(
    _ operation: StaticString, _ t: Tensor,
    _ f: (UnsafeMutablePointer<upt_tensor?>, upt_tensor) -> Int32
) throws -> Tensor {
    try withExtendedLifetime(t) { try make(operation) { f($0, t.handle) } }
}

extension Tensor {
    public func neg() throws -> Tensor { try unary("neg", self, upt_neg) }
    /// |x|; for complex tensors, the magnitude.
    public func abs() throws -> Tensor { try unary("abs", self, upt_abs) }
    public func exp() throws -> Tensor { try unary("exp", self, upt_exp) }
    public func expm1() throws -> Tensor { try unary("expm1", self, upt_expm1) }
    public func log() throws -> Tensor { try unary("log", self, upt_log) }
    public func log1p() throws -> Tensor { try unary("log1p", self, upt_log1p) }
    public func log2() throws -> Tensor { try unary("log2", self, upt_log2) }
    public func log10() throws -> Tensor { try unary("log10", self, upt_log10) }
    public func sqrt() throws -> Tensor { try unary("sqrt", self, upt_sqrt) }
    public func rsqrt() throws -> Tensor { try unary("rsqrt", self, upt_rsqrt) }
    public func square() throws -> Tensor { try unary("square", self, upt_square) }
    public func reciprocal() throws -> Tensor { try unary("reciprocal", self, upt_reciprocal) }
    public func sin() throws -> Tensor { try unary("sin", self, upt_sin) }
    public func cos() throws -> Tensor { try unary("cos", self, upt_cos) }
    public func tan() throws -> Tensor { try unary("tan", self, upt_tan) }
    public func atan() throws -> Tensor { try unary("atan", self, upt_atan) }
    public func tanh() throws -> Tensor { try unary("tanh", self, upt_tanh) }
    public func sigmoid() throws -> Tensor { try unary("sigmoid", self, upt_sigmoid) }
    public func relu() throws -> Tensor { try unary("relu", self, upt_relu) }
    /// x * sigmoid(x) (`torch.nn.functional.silu`).
    public func silu() throws -> Tensor { try unary("silu", self, upt_silu) }
    public func erf() throws -> Tensor { try unary("erf", self, upt_erf) }
    public func floor() throws -> Tensor { try unary("floor", self, upt_floor) }
    public func ceil() throws -> Tensor { try unary("ceil", self, upt_ceil) }
    /// Rounds half to even, as `torch.round`.
    public func round() throws -> Tensor { try unary("round", self, upt_round) }
    public func trunc() throws -> Tensor { try unary("trunc", self, upt_trunc) }
    public func sign() throws -> Tensor { try unary("sign", self, upt_sign) }
    public func isNaN() throws -> Tensor { try unary("isnan", self, upt_isnan) }
    public func isInf() throws -> Tensor { try unary("isinf", self, upt_isinf) }
    public func isFinite() throws -> Tensor { try unary("isfinite", self, upt_isfinite) }
    public func logicalNot() throws -> Tensor { try unary("logical_not", self, upt_logical_not) }

    /// GELU, exact (`approximate: false`, erf) or with the tanh approximation.
    public func gelu(approximate: Bool = false) throws -> Tensor {
        try make("gelu") { upt_gelu($0, handle, approximate ? "tanh" : "none") }
    }

    public func leakyRelu(negativeSlope: Double = 0.01) throws -> Tensor {
        try make("leaky_relu") { upt_leaky_relu($0, handle, negativeSlope) }
    }

    public func elu(alpha: Double = 1) throws -> Tensor { try make("elu") { upt_elu($0, handle, alpha) } }

    public func softplus(beta: Double = 1, threshold: Double = 20) throws -> Tensor {
        try make("softplus") { upt_softplus($0, handle, beta, threshold) }
    }

    /// Replaces NaN, +Inf and -Inf (`torch.nan_to_num`; infinities default to the dtype's extremes).
    public func nanToNum(nan: Double = 0, posinf: Double? = nil, neginf: Double? = nil) throws -> Tensor {
        let big = dtype == .float64 ? Double.greatestFiniteMagnitude : Double(Float.greatestFiniteMagnitude)
        return try make("nan_to_num") { upt_nan_to_num($0, handle, nan, posinf ?? big, neginf ?? -big) }
    }

    public func softmax(dim: Int) throws -> Tensor { try make("softmax") { upt_softmax($0, handle, Int64(dim)) } }

    public func logSoftmax(dim: Int) throws -> Tensor {
        try make("log_softmax") { upt_log_softmax($0, handle, Int64(dim)) }
    }

    /// Limits the values to [min, max]; either bound may be absent.
    public func clamp(min: Scalar? = nil, max: Scalar? = nil) throws -> Tensor {
        guard min != nil || max != nil else {
            throw TorchError.invalidArgument(operation: "clamp", message: "needs at least one of min and max")
        }
        return try make("clamp") { upt_clamp($0, handle, min != nil, (min ?? 0).c, max != nil, (max ?? 0).c) }
    }

    /// Limits the values elementwise by tensors (broadcast); either may be nil.
    public func clamp(min: Tensor?, max: Tensor?) throws -> Tensor {
        try withExtendedLifetime((min, max)) {
            try make("clamp") { upt_clamp_tensor($0, handle, min?.handle, max?.handle) }
        }
    }

    /// `self + weight * (end - self)`.
    public func lerp(_ end: Tensor, weight: Scalar) throws -> Tensor {
        try withExtendedLifetime(end) { try make("lerp") { upt_lerp($0, handle, end.handle, weight.c) } }
    }
}
