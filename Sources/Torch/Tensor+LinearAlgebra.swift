import CTorch

extension Tensor {
    /// Matrix product with broadcasting over batch dimensions (`torch.matmul`).
    public func matmul(_ other: Tensor) throws -> Tensor { try binary("matmul", self, other, upt_matmul) }
    /// The 2-d matrix product (`torch.mm`).
    public func mm(_ other: Tensor) throws -> Tensor { try binary("mm", self, other, upt_mm) }
    /// Batched matrix product of 3-d tensors (`torch.bmm`).
    public func bmm(_ other: Tensor) throws -> Tensor { try binary("bmm", self, other, upt_bmm) }

    /// Einstein summation (`torch.einsum("ij,jk->ik", a, b)`).
    public static func einsum(_ equation: String, _ operands: [Tensor]) throws -> Tensor {
        try withHandles(operands) { p, n in try make("einsum") { upt_einsum($0, equation, p, n) } }
    }

    public static func einsum(_ equation: String, _ operands: Tensor...) throws -> Tensor {
        try einsum(equation, operands)
    }

    /// The inverse of a square matrix or a batch of them.
    public func inverse() throws -> Tensor { try unary("linalg_inv", self, upt_linalg_inv) }
    public func determinant() throws -> Tensor { try unary("linalg_det", self, upt_linalg_det) }
}
