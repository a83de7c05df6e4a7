import CTorch

extension Tensor {
    /// The sum over every element, or over `dims`. `dtype` sets the accumulation/result type.
    public func sum(dims: [Int]? = nil, keepdim: Bool = false, dtype: DType? = nil) throws -> Tensor {
        try withOptionalInt64s(dims) { d, n in
            try make("sum") { upt_sum($0, handle, d, n, keepdim, dtype?.c ?? UPT_DTYPE_UNKNOWN) }
        }
    }

    public func sum(dim: Int, keepdim: Bool = false) throws -> Tensor { try sum(dims: [dim], keepdim: keepdim) }

    public func mean(dims: [Int]? = nil, keepdim: Bool = false, dtype: DType? = nil) throws -> Tensor {
        try withOptionalInt64s(dims) { d, n in
            try make("mean") { upt_mean($0, handle, d, n, keepdim, dtype?.c ?? UPT_DTYPE_UNKNOWN) }
        }
    }

    public func mean(dim: Int, keepdim: Bool = false) throws -> Tensor { try mean(dims: [dim], keepdim: keepdim) }

    public func prod(dim: Int? = nil, keepdim: Bool = false) throws -> Tensor {
        try make("prod") { upt_prod($0, handle, dim != nil, Int64(dim ?? 0), keepdim) }
    }

    /// The largest element, or the largest over `dims` (`torch.amax`).
    public func max(dims: [Int]? = nil, keepdim: Bool = false) throws -> Tensor {
        try withOptionalInt64s(dims) { d, n in try make("amax") { upt_amax($0, handle, d, n, keepdim) } }
    }

    public func min(dims: [Int]? = nil, keepdim: Bool = false) throws -> Tensor {
        try withOptionalInt64s(dims) { d, n in try make("amin") { upt_amin($0, handle, d, n, keepdim) } }
    }

    /// The largest values along `dim` and where they are (`torch.max(t, dim)`).
    public func max(dim: Int, keepdim: Bool = false) throws -> (values: Tensor, indices: Tensor) {
        let (v, i) = try make2("max") { upt_max_dim($0, $1, handle, Int64(dim), keepdim) }
        return (v, i)
    }

    public func min(dim: Int, keepdim: Bool = false) throws -> (values: Tensor, indices: Tensor) {
        let (v, i) = try make2("min") { upt_min_dim($0, $1, handle, Int64(dim), keepdim) }
        return (v, i)
    }

    /// The index of the largest element (flattened), or along `dim`.
    public func argmax(dim: Int? = nil, keepdim: Bool = false) throws -> Tensor {
        try make("argmax") { upt_argmax($0, handle, dim != nil, Int64(dim ?? 0), keepdim) }
    }

    public func argmin(dim: Int? = nil, keepdim: Bool = false) throws -> Tensor {
        try make("argmin") { upt_argmin($0, handle, dim != nil, Int64(dim ?? 0), keepdim) }
    }

    /// Standard deviation; `unbiased` divides by N - 1 (PyTorch's default), else by N.
    public func std(dims: [Int]? = nil, unbiased: Bool = true, keepdim: Bool = false) throws -> Tensor {
        try withOptionalInt64s(dims) { d, n in try make("std") { upt_std($0, handle, d, n, unbiased, keepdim) } }
    }

    public func variance(dims: [Int]? = nil, unbiased: Bool = true, keepdim: Bool = false) throws -> Tensor {
        try withOptionalInt64s(dims) { d, n in try make("var") { upt_var($0, handle, d, n, unbiased, keepdim) } }
    }

    /// How `quantile` interpolates between order statistics.
    public enum QuantileInterpolation: String, Sendable {
        case linear, lower, higher, midpoint, nearest
    }

    /// The q-th quantiles (q in [0, 1]) over every element or along `dim` (`torch.quantile`).
    /// One q gives a reduced tensor; several add a leading dimension.
    public func quantile(
        _ q: [Double], dim: Int? = nil, keepdim: Bool = false, interpolation: QuantileInterpolation = .linear,
        ignoringNaN: Bool = false
    ) throws -> Tensor {
        let qs = try Tensor(q).to(dtype: dtype, device: device)
        let qt = q.count == 1 ? try qs.reshape([]) : qs
        return try withExtendedLifetime(qt) {
            if ignoringNaN {
                return try make("nanquantile") {
                    upt_nanquantile($0, handle, qt.handle, dim != nil, Int64(dim ?? 0), keepdim, interpolation.rawValue)
                }
            }
            return try make("quantile") {
                upt_quantile($0, handle, qt.handle, dim != nil, Int64(dim ?? 0), keepdim, interpolation.rawValue)
            }
        }
    }

    public func quantile(_ q: Double, dim: Int? = nil, keepdim: Bool = false, interpolation: QuantileInterpolation = .linear) throws -> Tensor {
        try quantile([q], dim: dim, keepdim: keepdim, interpolation: interpolation)
    }

    /// The vector p-norm over every element or `dims` (`torch.linalg.vector_norm`);
    /// p = .infinity gives the largest magnitude.
    public func norm(p: Double = 2, dims: [Int]? = nil, keepdim: Bool = false) throws -> Tensor {
        try withOptionalInt64s(dims) { d, n in try make("norm") { upt_norm($0, handle, p, d, n, keepdim) } }
    }

    public func logsumexp(dims: [Int], keepdim: Bool = false) throws -> Tensor {
        try withInt64s(dims) { d, n in try make("logsumexp") { upt_logsumexp($0, handle, d, n, keepdim) } }
    }

    public func cumsum(dim: Int) throws -> Tensor { try make("cumsum") { upt_cumsum($0, handle, Int64(dim)) } }

    /// Whether every element is non-zero.
    public func all() throws -> Tensor { try make("all") { upt_all($0, handle) } }
    public func any() throws -> Tensor { try make("any") { upt_any($0, handle) } }
}
