import CTorch

// Arithmetic with Swift operators and PyTorch's broadcasting and type promotion. Every operator
// throws (a shape mismatch is an error, not a crash); one `try` covers a whole expression:
// `let y = try a * b + 1`.

infix operator .== : ComparisonPrecedence
infix operator .!= : ComparisonPrecedence
infix operator .< : ComparisonPrecedence
infix operator .<= : ComparisonPrecedence
infix operator .> : ComparisonPrecedence
infix operator .>= : ComparisonPrecedence


func binary(
    _ operation: StaticString, _ a: Tensor, _ b: Tensor,
    _ f: (UnsafeMutablePointer<upt_tensor?>, upt_tensor, upt_tensor) -> Int32
) throws -> Tensor {
    try withExtendedLifetime((a, b)) { try make(operation) { f($0, a.handle, b.handle) } }
}


func withScalar(
    _ operation: StaticString, _ a: Tensor, _ s: Scalar,
    _ f: (UnsafeMutablePointer<upt_tensor?>, upt_tensor, upt_scalar) -> Int32
) throws -> Tensor {
    try withExtendedLifetime(a) { try make(operation) { f($0, a.handle, s.c) } }
}

extension Tensor {
    public static func + (a: Tensor, b: Tensor) throws -> Tensor {
        try binary("add", a, b) { upt_add($0, $1, $2, Scalar.int(1).c) }
    }
    public static func - (a: Tensor, b: Tensor) throws -> Tensor {
        try binary("sub", a, b) { upt_sub($0, $1, $2, Scalar.int(1).c) }
    }
    public static func * (a: Tensor, b: Tensor) throws -> Tensor { try binary("mul", a, b, upt_mul) }
    public static func / (a: Tensor, b: Tensor) throws -> Tensor { try binary("div", a, b, upt_div) }
    public static func % (a: Tensor, b: Tensor) throws -> Tensor { try binary("remainder", a, b, upt_remainder) }

    public static func + (a: Tensor, s: Scalar) throws -> Tensor { try withScalar("add", a, s, upt_add_scalar) }
    public static func - (a: Tensor, s: Scalar) throws -> Tensor { try withScalar("sub", a, s, upt_sub_scalar) }
    public static func * (a: Tensor, s: Scalar) throws -> Tensor { try withScalar("mul", a, s, upt_mul_scalar) }
    public static func / (a: Tensor, s: Scalar) throws -> Tensor { try withScalar("div", a, s, upt_div_scalar) }
    public static func % (a: Tensor, s: Scalar) throws -> Tensor {
        try withScalar("remainder", a, s, upt_remainder_scalar)
    }
    public static func + (s: Scalar, a: Tensor) throws -> Tensor { try withScalar("add", a, s, upt_add_scalar) }
    public static func - (s: Scalar, a: Tensor) throws -> Tensor { try withScalar("rsub", a, s, upt_rsub_scalar) }
    public static func * (s: Scalar, a: Tensor) throws -> Tensor { try withScalar("mul", a, s, upt_mul_scalar) }
    public static func / (s: Scalar, a: Tensor) throws -> Tensor { try withScalar("rdiv", a, s, upt_rdiv_scalar) }

    public static prefix func - (a: Tensor) throws -> Tensor { try a.neg() }

    /// `a + alpha * b` in one kernel (`torch.add(a, b, alpha=)`).
    public func add(_ other: Tensor, alpha: Scalar) throws -> Tensor {
        try binary("add", self, other) { upt_add($0, $1, $2, alpha.c) }
    }

    public func pow(_ exponent: Tensor) throws -> Tensor { try binary("pow", self, exponent, upt_pow) }
    public func pow(_ exponent: Scalar) throws -> Tensor { try withScalar("pow", self, exponent, upt_pow_scalar) }
    /// `base ** self`.
    public func rpow(_ base: Scalar) throws -> Tensor { try withScalar("pow", self, base, upt_rpow_scalar) }
    public func fmod(_ other: Tensor) throws -> Tensor { try binary("fmod", self, other, upt_fmod) }
    public func floorDivide(_ other: Tensor) throws -> Tensor { try binary("floor_divide", self, other, upt_floor_divide) }
    public func atan2(_ other: Tensor) throws -> Tensor { try binary("atan2", self, other, upt_atan2) }
    public func maximum(_ other: Tensor) throws -> Tensor { try binary("maximum", self, other, upt_maximum) }
    public func minimum(_ other: Tensor) throws -> Tensor { try binary("minimum", self, other, upt_minimum) }

    // MARK: comparisons (elementwise, giving bool tensors)

    public func eq(_ other: Tensor) throws -> Tensor { try binary("eq", self, other, upt_eq) }
    public func ne(_ other: Tensor) throws -> Tensor { try binary("ne", self, other, upt_ne) }
    public func lt(_ other: Tensor) throws -> Tensor { try binary("lt", self, other, upt_lt) }
    public func le(_ other: Tensor) throws -> Tensor { try binary("le", self, other, upt_le) }
    public func gt(_ other: Tensor) throws -> Tensor { try binary("gt", self, other, upt_gt) }
    public func ge(_ other: Tensor) throws -> Tensor { try binary("ge", self, other, upt_ge) }
    public func eq(_ s: Scalar) throws -> Tensor { try withScalar("eq", self, s, upt_eq_scalar) }
    public func ne(_ s: Scalar) throws -> Tensor { try withScalar("ne", self, s, upt_ne_scalar) }
    public func lt(_ s: Scalar) throws -> Tensor { try withScalar("lt", self, s, upt_lt_scalar) }
    public func le(_ s: Scalar) throws -> Tensor { try withScalar("le", self, s, upt_le_scalar) }
    public func gt(_ s: Scalar) throws -> Tensor { try withScalar("gt", self, s, upt_gt_scalar) }
    public func ge(_ s: Scalar) throws -> Tensor { try withScalar("ge", self, s, upt_ge_scalar) }

    public static func .== (a: Tensor, b: Tensor) throws -> Tensor { try a.eq(b) }
    public static func .!= (a: Tensor, b: Tensor) throws -> Tensor { try a.ne(b) }
    public static func .< (a: Tensor, b: Tensor) throws -> Tensor { try a.lt(b) }
    public static func .<= (a: Tensor, b: Tensor) throws -> Tensor { try a.le(b) }
    public static func .> (a: Tensor, b: Tensor) throws -> Tensor { try a.gt(b) }
    public static func .>= (a: Tensor, b: Tensor) throws -> Tensor { try a.ge(b) }
    public static func .== (a: Tensor, s: Scalar) throws -> Tensor { try a.eq(s) }
    public static func .!= (a: Tensor, s: Scalar) throws -> Tensor { try a.ne(s) }
    public static func .< (a: Tensor, s: Scalar) throws -> Tensor { try a.lt(s) }
    public static func .<= (a: Tensor, s: Scalar) throws -> Tensor { try a.le(s) }
    public static func .> (a: Tensor, s: Scalar) throws -> Tensor { try a.gt(s) }
    public static func .>= (a: Tensor, s: Scalar) throws -> Tensor { try a.ge(s) }

    public func logicalAnd(_ other: Tensor) throws -> Tensor { try binary("logical_and", self, other, upt_logical_and) }
    public func logicalOr(_ other: Tensor) throws -> Tensor { try binary("logical_or", self, other, upt_logical_or) }
    public func logicalXor(_ other: Tensor) throws -> Tensor { try binary("logical_xor", self, other, upt_logical_xor) }

    /// Whether both tensors have the same shape and elements (`torch.equal`).
    public func equal(_ other: Tensor) throws -> Bool {
        var out = false
        try check("equal") { withExtendedLifetime(other) { upt_equal(handle, other.handle, &out) } }
        return out
    }

    /// `torch.allclose`: |a - b| <= atol + rtol * |b| everywhere.
    public func allClose(_ other: Tensor, rtol: Double = 1e-5, atol: Double = 1e-8, equalNaN: Bool = false) throws -> Bool {
        var out = false
        try check("allclose") {
            withExtendedLifetime(other) { upt_allclose(handle, other.handle, rtol, atol, equalNaN, &out) }
        }
        return out
    }

    // MARK: in place (the trailing underscore marks mutation, as in PyTorch)

    /// `self += alpha * other`.
    @discardableResult
    public func add_(_ other: Tensor, alpha: Scalar = 1) throws -> Tensor {
        try check("add_") { withExtendedLifetime(other) { upt_add_(handle, other.handle, alpha.c) } }
        return self
    }

    @discardableResult
    public func mul_(_ other: Tensor) throws -> Tensor {
        try check("mul_") { withExtendedLifetime(other) { upt_mul_(handle, other.handle) } }
        return self
    }

    @discardableResult
    public func mul_(_ s: Scalar) throws -> Tensor {
        try check("mul_") { upt_mul_scalar_(handle, s.c) }
        return self
    }

    @discardableResult
    public func div_(_ other: Tensor) throws -> Tensor {
        try check("div_") { withExtendedLifetime(other) { upt_div_(handle, other.handle) } }
        return self
    }

    /// `self += value * a * b`.
    @discardableResult
    public func addcmul_(_ a: Tensor, _ b: Tensor, value: Scalar = 1) throws -> Tensor {
        try check("addcmul_") { withExtendedLifetime((a, b)) { upt_addcmul_(handle, a.handle, b.handle, value.c) } }
        return self
    }

    /// `self += value * a / b`.
    @discardableResult
    public func addcdiv_(_ a: Tensor, _ b: Tensor, value: Scalar = 1) throws -> Tensor {
        try check("addcdiv_") { withExtendedLifetime((a, b)) { upt_addcdiv_(handle, a.handle, b.handle, value.c) } }
        return self
    }

    /// `self += weight * (end - self)`.
    @discardableResult
    public func lerp_(_ end: Tensor, weight: Scalar) throws -> Tensor {
        try check("lerp_") { withExtendedLifetime(end) { upt_lerp_(handle, end.handle, weight.c) } }
        return self
    }

    /// Copies `source` (broadcast, converted) into this tensor.
    @discardableResult
    public func copy_(_ source: Tensor) throws -> Tensor {
        try check("copy_") { withExtendedLifetime(source) { upt_copy_(handle, source.handle) } }
        return self
    }

    @discardableResult
    public func zero_() throws -> Tensor {
        try check("zero_") { upt_zero_(handle) }
        return self
    }

    @discardableResult
    public func fill_(_ value: Scalar) throws -> Tensor {
        try check("fill_") { upt_fill_(handle, value.c) }
        return self
    }

    @discardableResult
    public func clamp_(min: Scalar? = nil, max: Scalar? = nil) throws -> Tensor {
        try check("clamp_") {
            upt_clamp_(handle, min != nil, (min ?? 0).c, max != nil, (max ?? 0).c)
        }
        return self
    }
}

// Swift numbers that are not literals (`let r = 0.5; try t * r`) mix in directly, with the same
// promotion as `Scalar`: a Double promotes integer tensors, an Int keeps them integer.
extension Tensor {
    public static func + (a: Tensor, s: Double) throws -> Tensor { try a + Scalar.double(s) }
    public static func - (a: Tensor, s: Double) throws -> Tensor { try a - Scalar.double(s) }
    public static func * (a: Tensor, s: Double) throws -> Tensor { try a * Scalar.double(s) }
    public static func / (a: Tensor, s: Double) throws -> Tensor { try a / Scalar.double(s) }
    public static func + (s: Double, a: Tensor) throws -> Tensor { try Scalar.double(s) + a }
    public static func - (s: Double, a: Tensor) throws -> Tensor { try Scalar.double(s) - a }
    public static func * (s: Double, a: Tensor) throws -> Tensor { try Scalar.double(s) * a }
    public static func / (s: Double, a: Tensor) throws -> Tensor { try Scalar.double(s) / a }
    public static func + (a: Tensor, s: Int) throws -> Tensor { try a + Scalar(s) }
    public static func - (a: Tensor, s: Int) throws -> Tensor { try a - Scalar(s) }
    public static func * (a: Tensor, s: Int) throws -> Tensor { try a * Scalar(s) }
    public static func / (a: Tensor, s: Int) throws -> Tensor { try a / Scalar(s) }
    public static func % (a: Tensor, s: Int) throws -> Tensor { try a % Scalar(s) }
    public static func % (a: Tensor, s: Double) throws -> Tensor { try a % Scalar.double(s) }
    public static func + (s: Int, a: Tensor) throws -> Tensor { try Scalar(s) + a }
    public static func - (s: Int, a: Tensor) throws -> Tensor { try Scalar(s) - a }
    public static func * (s: Int, a: Tensor) throws -> Tensor { try Scalar(s) * a }
    public static func / (s: Int, a: Tensor) throws -> Tensor { try Scalar(s) / a }

    public func eq(_ s: Double) throws -> Tensor { try eq(Scalar.double(s)) }
    public func ne(_ s: Double) throws -> Tensor { try ne(Scalar.double(s)) }
    public func lt(_ s: Double) throws -> Tensor { try lt(Scalar.double(s)) }
    public func le(_ s: Double) throws -> Tensor { try le(Scalar.double(s)) }
    public func gt(_ s: Double) throws -> Tensor { try gt(Scalar.double(s)) }
    public func ge(_ s: Double) throws -> Tensor { try ge(Scalar.double(s)) }
    public func eq(_ s: Int) throws -> Tensor { try eq(Scalar(s)) }
    public func ne(_ s: Int) throws -> Tensor { try ne(Scalar(s)) }
    public func lt(_ s: Int) throws -> Tensor { try lt(Scalar(s)) }
    public func le(_ s: Int) throws -> Tensor { try le(Scalar(s)) }
    public func gt(_ s: Int) throws -> Tensor { try gt(Scalar(s)) }
    public func ge(_ s: Int) throws -> Tensor { try ge(Scalar(s)) }
}
