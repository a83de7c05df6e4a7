import Torch

/// NIfTI datatype codes (nifti1.h), with what upres does with each.
public enum NIfTIDataType: Int, Sendable, CaseIterable, CustomStringConvertible {
    case uint8 = 2, int16 = 4, int32 = 8, float32 = 16, complex64 = 32, float64 = 64, rgb24 = 128
    case int8 = 256, uint16 = 512, uint32 = 768, int64 = 1024, uint64 = 1280
    case float128 = 1536, complex128 = 1792, complex256 = 2048, rgba32 = 2304

    /// Bits per element (what bitpix should say).
    public var bitsPerVoxel: Int {
        switch self {
        case .uint8, .int8: 8
        case .int16, .uint16: 16
        case .rgb24: 24
        case .int32, .uint32, .float32, .rgba32: 32
        case .complex64, .float64, .int64, .uint64: 64
        case .float128, .complex128: 128
        case .complex256: 256
        }
    }

    public var bytesPerVoxel: Int { bitsPerVoxel / 8 }

    /// The name used in messages and by `--dtype`.
    public var description: String {
        switch self {
        case .uint8: "uint8"
        case .int16: "int16"
        case .int32: "int32"
        case .float32: "float32"
        case .complex64: "complex64"
        case .float64: "float64"
        case .rgb24: "rgb24"
        case .int8: "int8"
        case .uint16: "uint16"
        case .uint32: "uint32"
        case .int64: "int64"
        case .uint64: "uint64"
        case .float128: "float128"
        case .complex128: "complex128"
        case .complex256: "complex256"
        case .rgba32: "rgba32"
        }
    }

    public init?(name: String) {
        guard let t = Self.allCases.first(where: { $0.description == name.lowercased() }) else { return nil }
        self = t
    }

    /// Whether upres can hold the values (float128 and complex256 have no libtorch type).
    public var isSupported: Bool { self != .float128 && self != .complex256 }

    /// Whether values are real scalars (not complex, not colour).
    public var isRealScalar: Bool { ![.complex64, .complex128, .complex256, .rgb24, .rgba32].contains(self) }

    public var isInteger: Bool { [.uint8, .int8, .int16, .uint16, .int32, .uint32, .int64, .uint64].contains(self) }

    /// The libtorch dtype whose bytes match one element on disk (unsigned 16/32/64 read through
    /// their signed twins, then widened), or nil.
    var storageDType: DType? {
        switch self {
        case .uint8, .rgb24, .rgba32: .uint8
        case .int8: .int8
        case .int16, .uint16: .int16
        case .int32, .uint32: .int32
        case .int64, .uint64: .int64
        case .float32: .float32
        case .float64: .float64
        case .complex64: .complex64
        case .complex128: .complex128
        case .float128, .complex256: nil
        }
    }

    /// The range of an integer type, for choosing a scaling on write.
    var integerRange: (Double, Double)? {
        switch self {
        case .uint8: (0, 255)
        case .int8: (-128, 127)
        case .int16: (-32768, 32767)
        case .uint16: (0, 65535)
        case .int32: (-2_147_483_648, 2_147_483_647)
        case .uint32: (0, 4_294_967_295)
        case .int64: (-9.223372036854775e18, 9.223372036854775e18)
        case .uint64: (0, 1.8446744073709552e19)
        default: nil
        }
    }
}
