/// Checks of a parsed header, separate from parsing (nibabel's header checks): every problem with
/// the field, the value and the expectation. Errors stop a read; warnings are reported.
extension NIfTIHeader {
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        public enum Level: Sendable { case error, warning }
        public var level: Level
        public var field: String
        public var message: String
        public var description: String { "\(field) \(message)" }
    }

    /// Every problem of the header's own fields (the affine's are raised by `affine(path:)`, the
    /// data size's when the file size is known).
    public func validate() -> [Problem] {
        var out: [Problem] = []
        func error(_ f: String, _ m: String) { out.append(Problem(level: .error, field: f, message: m)) }
        func warn(_ f: String, _ m: String) { out.append(Problem(level: .warning, field: f, message: m)) }
        if version == 2 && !eolIntact {
            error("magic", "has corrupted end-of-line check bytes; expected \\r\\n\\032\\n after 'n+2\\0' (a file damaged by a text-mode transfer?)")
        }
        guard (1...7).contains(dim[0]) else {
            error("dim[0]", "= \(dim[0]); expected 1..7")
            return out
        }
        for k in 1...dim[0] where dim[k] <= 0 {
            error("dim[\(k)]", "= \(dim[k]); expected a positive size")
        }
        switch datatypeCode {
        case let c where NIfTIDataType(rawValue: c) == nil:
            error("datatype", "= \(c) is not a NIfTI datatype code; expected one of 2, 4, 8, 16, 32, 64, 128, 256, 512, 768, 1024, 1280, 1792, 2304")
        case NIfTIDataType.float128.rawValue, NIfTIDataType.complex256.rawValue:
            error("datatype", "= \(datatypeCode) (\(dataType!)) is not supported (no 128-bit float type in upres)")
        default:
            if let t = dataType, bitpix != t.bitsPerVoxel {
                warn("bitpix", "= \(bitpix) disagrees with datatype \(t) (\(t.bitsPerVoxel) bits); the datatype wins")
            }
        }
        if isSingleFile && voxOffset < Double(version == 2 ? 544 : 352) {
            warn("vox_offset", "= \(voxOffset) is inside the header; reading the data from \(version == 2 ? 544 : 352)")
        }
        if !voxOffset.isFinite || voxOffset < 0 {
            error("vox_offset", "= \(voxOffset); expected a non-negative byte offset")
        }
        if sclSlope.isFinite && sclSlope != 0 && !sclInter.isFinite {
            warn("scl_inter", "= \(sclInter) with scl_slope \(sclSlope); using an intercept of 0")
        }
        return out
    }

    /// The number of voxels (all dimensions) and bytes of the data, with overflow checks.
    public func dataSize(path: String) throws -> (voxels: Int, bytes: Int) {
        guard let t = dataType else { throw NIfTIError(path, "datatype", "= \(datatypeCode) is not a NIfTI datatype code") }
        var n = 1
        for d in shape {
            let (p, o) = n.multipliedReportingOverflow(by: d)
            guard !o else { throw NIfTIError(path, "dim", "= \(shape): the number of voxels overflows") }
            n = p
        }
        let (b, o) = n.multipliedReportingOverflow(by: t.bytesPerVoxel)
        guard !o else { throw NIfTIError(path, "dim", "= \(shape): the data size overflows") }
        return (n, b)
    }

    /// Where the data starts, after the clamping rules of the table.
    var dataOffset: Int {
        let minimum = isSingleFile ? (version == 2 ? 544 : 352) : 0
        guard voxOffset.isFinite, voxOffset >= 0 else { return minimum }
        // Clamped so that offset + size arithmetic cannot overflow; such offsets lie past any file.
        return Swift.max(Int(Swift.min(voxOffset, Double(1 << 60))), minimum)
    }
}
