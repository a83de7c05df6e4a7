#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A NIfTI file upres cannot read or write. Messages name the file, the field, the value and the
/// expectation, e.g. `scan.nii.gz: dim[0] = 8; expected 1..7`.
public struct NIfTIError: Error, LocalizedError, Equatable, Sendable, CustomStringConvertible {
    public var path: String
    public var field: String
    public var message: String

    public init(_ path: String, _ field: String, _ message: String) {
        self.path = path
        self.field = field
        self.message = message
    }

    public var description: String { "\(path): \(field.isEmpty ? "" : field + " ")\(message)" }
    public var errorDescription: String? { description }
}

/// Something odd in a file that upres read anyway, said once to the user.
public struct NIfTIWarning: Equatable, Sendable, CustomStringConvertible {
    public var field: String
    public var message: String

    public var description: String { "\(field) \(message)" }
}
