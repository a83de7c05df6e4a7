import CTorch

/// The element type of a tensor. Names follow PyTorch (`torch.float32`, ...).
public enum DType: String, CaseIterable, Sendable, CustomStringConvertible {
    case float32, float64, float16, bfloat16
    case int64, int32, int16, int8, uint8, bool
    case complex64, complex128

    init(_ c: upt_dtype) throws {
        switch c {
        case UPT_FLOAT32: self = .float32
        case UPT_FLOAT64: self = .float64
        case UPT_FLOAT16: self = .float16
        case UPT_BFLOAT16: self = .bfloat16
        case UPT_INT64: self = .int64
        case UPT_INT32: self = .int32
        case UPT_INT16: self = .int16
        case UPT_INT8: self = .int8
        case UPT_UINT8: self = .uint8
        case UPT_BOOL: self = .bool
        case UPT_COMPLEX64: self = .complex64
        case UPT_COMPLEX128: self = .complex128
        default:
            throw TorchError.invalidArgument(operation: "dtype", message: "libtorch holds a dtype upres does not support")
        }
    }

    var c: upt_dtype {
        switch self {
        case .float32: UPT_FLOAT32
        case .float64: UPT_FLOAT64
        case .float16: UPT_FLOAT16
        case .bfloat16: UPT_BFLOAT16
        case .int64: UPT_INT64
        case .int32: UPT_INT32
        case .int16: UPT_INT16
        case .int8: UPT_INT8
        case .uint8: UPT_UINT8
        case .bool: UPT_BOOL
        case .complex64: UPT_COMPLEX64
        case .complex128: UPT_COMPLEX128
        }
    }

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .float64, .int64, .complex64: 8
        case .float32, .int32: 4
        case .float16, .bfloat16, .int16: 2
        case .int8, .uint8, .bool: 1
        case .complex128: 16
        }
    }

    public var isFloatingPoint: Bool { [.float32, .float64, .float16, .bfloat16].contains(self) }
    public var isComplex: Bool { self == .complex64 || self == .complex128 }
    public var isInteger: Bool { [.int64, .int32, .int16, .int8, .uint8].contains(self) }

    public var description: String { rawValue }
}
