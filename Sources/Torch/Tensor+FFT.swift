import CTorch

/// Normalization of the FFTs, as `torch.fft`'s `norm`.
public enum FFTNorm: String, Sendable {
    /// No scaling forward, 1/n backward (the default).
    case backward
    /// 1/n forward, none backward.
    case forward
    /// 1/sqrt(n) both ways.
    case ortho
}

extension Tensor {
    typealias FFTCall = (UnsafeMutablePointer<upt_tensor?>, upt_tensor, UnsafePointer<Int64>?, Int32,
                         UnsafePointer<Int64>?, Int32, UnsafePointer<CChar>?) -> Int32

    func fftCall(_ operation: StaticString, s: [Int]?, dims: [Int]?, norm: FFTNorm, _ f: FFTCall) throws -> Tensor {
        try withOptionalInt64s(s) { sp, sn in
            try withOptionalInt64s(dims) { dp, dn in
                try make(operation) { f($0, handle, sp, sn, dp, dn, norm.rawValue) }
            }
        }
    }

    /// The n-dimensional discrete Fourier transform over `dims` (all when nil), complex result
    /// (`torch.fft.fftn`); `s` crops or zero-pads each transformed dimension first.
    public func fftn(s: [Int]? = nil, dims: [Int]? = nil, norm: FFTNorm = .backward) throws -> Tensor {
        try fftCall("fft_fftn", s: s, dims: dims, norm: norm, upt_fft_fftn)
    }

    /// The inverse of ``fftn(s:dims:norm:)`` (`torch.fft.ifftn`).
    public func ifftn(s: [Int]? = nil, dims: [Int]? = nil, norm: FFTNorm = .backward) throws -> Tensor {
        try fftCall("fft_ifftn", s: s, dims: dims, norm: norm, upt_fft_ifftn)
    }

    /// The FFT of a real tensor keeping the non-negative frequencies of the last dimension (`torch.fft.rfftn`).
    public func rfftn(s: [Int]? = nil, dims: [Int]? = nil, norm: FFTNorm = .backward) throws -> Tensor {
        try fftCall("fft_rfftn", s: s, dims: dims, norm: norm, upt_fft_rfftn)
    }

    /// The inverse of ``rfftn(s:dims:norm:)``; pass `s` to recover an odd last size (`torch.fft.irfftn`).
    public func irfftn(s: [Int]? = nil, dims: [Int]? = nil, norm: FFTNorm = .backward) throws -> Tensor {
        try fftCall("fft_irfftn", s: s, dims: dims, norm: norm, upt_fft_irfftn)
    }

    /// Moves the zero frequency to the centre (`torch.fft.fftshift`).
    public func fftshift(dims: [Int]? = nil) throws -> Tensor {
        try withOptionalInt64s(dims) { d, n in try make("fft_fftshift") { upt_fft_fftshift($0, handle, d, n) } }
    }

    /// The inverse of ``fftshift(dims:)``.
    public func ifftshift(dims: [Int]? = nil) throws -> Tensor {
        try withOptionalInt64s(dims) { d, n in try make("fft_ifftshift") { upt_fft_ifftshift($0, handle, d, n) } }
    }

    /// The sample frequencies of an n-point FFT with spacing d (`torch.fft.fftfreq`).
    public static func fftfreq(_ n: Int, d: Double = 1, dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        try make("fft_fftfreq") { upt_fft_fftfreq($0, Int64(n), d, dtype.c, device.c) }
    }

    /// The real part of a complex tensor (a view).
    public func real() throws -> Tensor { try unary("real", self, upt_real) }
    /// The imaginary part of a complex tensor (a view).
    public func imag() throws -> Tensor { try unary("imag", self, upt_imag) }
    /// A complex tensor viewed as real with a trailing dimension of 2 (real, imaginary).
    public func viewAsReal() throws -> Tensor { try unary("view_as_real", self, upt_view_as_real) }
    /// The inverse view of ``viewAsReal()``.
    public func viewAsComplex() throws -> Tensor { try unary("view_as_complex", self, upt_view_as_complex) }
    /// The phase of complex elements.
    public func angle() throws -> Tensor { try unary("angle", self, upt_angle) }
    public func conj() throws -> Tensor { try unary("conj", self, upt_conj) }

    /// A complex tensor from real and imaginary parts.
    public static func complex(real: Tensor, imag: Tensor) throws -> Tensor {
        try binary("complex", real, imag, upt_complex)
    }

    /// A complex tensor from magnitudes and phases.
    public static func polar(abs: Tensor, angle: Tensor) throws -> Tensor {
        try binary("polar", abs, angle, upt_polar)
    }
}
