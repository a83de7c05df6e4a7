#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An error from the tensor engine.
///
/// Every libtorch failure reaches Swift as `.libtorch`, carrying the operation's name and the first
/// line of libtorch's message (without its C++ backtrace).
public enum TorchError: Error, LocalizedError, Equatable, Sendable {
    /// libtorch rejected the operation (shape mismatch, wrong dtype, CUDA absent, ...).
    case libtorch(operation: String, message: String)
    /// A Swift-side argument check failed before libtorch was called.
    case invalidArgument(operation: String, message: String)
    /// Reading or writing a safetensors file failed.
    case safetensors(path: String, field: String, message: String)

    public var errorDescription: String? {
        switch self {
        case let .libtorch(operation, message):
            return "\(operation): \(message)"
        case let .invalidArgument(operation, message):
            return "\(operation): \(message)"
        case let .safetensors(path, field, message):
            return "\(path): safetensors \(field): \(message)"
        }
    }
}
