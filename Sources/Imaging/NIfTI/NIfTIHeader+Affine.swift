/// The voxel-to-world affine by the NIfTI-1 rules (nifti1.h methods 1-3; nibabel's
/// `get_best_affine`), with upres's answers to the tricky cases of NIFTI-NOTES.md.
extension NIfTIHeader {
    /// Which rule produced the affine.
    public enum AffineSource: String, Sendable {
        case sform, qform, fallback
    }

    /// The multiplier from the file's spatial unit to mm, with a warning for unknown codes.
    public func spatialUnitToMM() -> (Double, NIfTIWarning?) {
        switch xyztUnits & 0x07 {
        case 0, 2: return (1, nil)
        case 1: return (1000, nil)
        case 3: return (0.001, nil)
        default:
            return (1, NIfTIWarning(field: "xyzt_units", message: "= \(xyztUnits) has an unknown spatial unit; assuming mm"))
        }
    }

    /// nifti1.h's sform: the three srow rows.
    public var sformAffine: Affine {
        Affine(rows: [srow[0], srow[1], srow[2], [0, 0, 0, 1]])
    }

    static func validCode(_ c: Int) -> Bool { (0...5).contains(c) }

    /// The affine in mm, the rule used and the warnings raised on the way.
    /// - Throws: `NIfTIError` when no usable affine exists (zero or NaN voxel sizes without a valid
    ///   sform, a quaternion that is not one, a singular sform with no qform to fall back to).
    public func affine(path: String) throws -> (affine: Affine, source: AffineSource, warnings: [NIfTIWarning]) {
        var warnings: [NIfTIWarning] = []
        var sformCode = self.sformCode, qformCode = self.qformCode
        if !Self.validCode(sformCode) {
            warnings.append(NIfTIWarning(field: "sform_code", message: "= \(sformCode) is not 0..5; treated as 0"))
            sformCode = 0
        }
        if !Self.validCode(qformCode) {
            warnings.append(NIfTIWarning(field: "qform_code", message: "= \(qformCode) is not 0..5; treated as 0"))
            qformCode = 0
        }
        let (unit, unitWarning) = spatialUnitToMM()
        if let unitWarning { warnings.append(unitWarning) }
        func inMM(_ a: Affine) -> Affine {
            unit == 1 ? a : Affine(a.m.enumerated().map { $0.offset < 12 ? $0.element * unit : $0.element })
        }

        if sformCode > 0 {
            let s = sformAffine
            if s.m.allSatisfy(\.isFinite) && !s.isSingular {
                return (inMM(s), .sform, warnings)
            }
            guard qformCode > 0 else {
                throw NIfTIError(path, "srow_x/y/z", "(sform_code \(sformCode)) give a singular or non-finite affine and there is no qform (qform_code 0) to fall back to")
            }
            warnings.append(NIfTIWarning(field: "srow_x/y/z", message: "give a singular or non-finite affine; using the qform instead"))
        }
        // Voxel sizes for the qform and the fallback.
        let n = Swift.min(Swift.max(dim[0], 1), 3)
        var zooms = [1.0, 1.0, 1.0]
        for k in 1...3 {
            let p = pixdim[k]
            if k > n {
                zooms[k - 1] = (p.isFinite && p > 0) ? p : 1
                continue
            }
            guard p.isFinite, p != 0 else {
                throw NIfTIError(path, "pixdim[\(k)]", "= \(p); expected a positive voxel size (no valid sform to use instead)")
            }
            if p < 0 {
                warnings.append(NIfTIWarning(field: "pixdim[\(k)]", message: "= \(p) is negative; using its absolute value"))
            }
            zooms[k - 1] = Swift.abs(p)
        }
        if qformCode > 0 {
            var b = quatern[0], c = quatern[1], d = quatern[2]
            guard [b, c, d].allSatisfy(\.isFinite), qoffset.allSatisfy(\.isFinite) else {
                throw NIfTIError(path, "quatern_b/c/d", "or qoffset hold a non-finite value")
            }
            let norm2 = b * b + c * c + d * d
            var a = 0.0
            if norm2 > 1 {
                guard norm2 <= 1 + 1e-6 else {
                    throw NIfTIError(path, "quatern_b/c/d", "= (\(b), \(c), \(d)) has b^2 + c^2 + d^2 = \(norm2) > 1; not a rotation")
                }
                let s = 1 / norm2.squareRoot()
                b *= s; c *= s; d *= s
                warnings.append(NIfTIWarning(field: "quatern_b/c/d", message: "have b^2 + c^2 + d^2 = \(norm2), slightly above 1; normalised"))
            } else {
                a = (1 - norm2).squareRoot()
            }
            let qfac: Double = pixdim[0] < 0 ? -1 : 1
            if pixdim[0] != 1 && pixdim[0] != -1 {
                warnings.append(NIfTIWarning(field: "pixdim[0]", message: "(qfac) = \(pixdim[0]); expected 1 or -1, using \(qfac)"))
            }
            let r = Self.rotation(a, b, c, d)
            var m = [Double](repeating: 0, count: 16)
            let z = [zooms[0], zooms[1], zooms[2] * qfac]
            for i in 0..<3 {
                for j in 0..<3 { m[i * 4 + j] = r[i][j] * z[j] }
                m[i * 4 + 3] = qoffset[i]
            }
            m[15] = 1
            return (inMM(Affine(m)), .qform, warnings)
        }
        // nibabel's get_base_affine: x flipped, origin at the centre of the grid.
        let shape3 = (0..<3).map { k in k < n ? Double(dim[k + 1]) : 1 }
        let z = [-zooms[0], zooms[1], zooms[2]]
        let t = (0..<3).map { -(shape3[$0] - 1) / 2 * z[$0] }
        return (inMM(Affine.scaling(z, translation: t)), .fallback, warnings)
    }

    /// nifti1.h's rotation matrix of the unit quaternion (a, b, c, d).
    static func rotation(_ a: Double, _ b: Double, _ c: Double, _ d: Double) -> [[Double]] {
        [[a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
         [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
         [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b]]
    }

    /// Stores `affine` (mm) in both the sform and the qform, as nibabel's `set_sform` and
    /// `set_qform` do: the qform takes the nearest rotation (shears dropped), qfac from the sign of
    /// the determinant, pixdim[1...3] the column lengths.
    public mutating func setAffine(_ affine: Affine, sformCode: Int, qformCode: Int) {
        self.sformCode = sformCode
        self.qformCode = qformCode
        xyztUnits = (xyztUnits & ~0x07) | 2
        srow = (0..<3).map { r in (0..<4).map { affine[r, $0] } }
        let zooms = affine.spacing.map { $0 == 0 ? 1 : $0 }
        var r = (0..<3).map { i in (0..<3).map { j in affine[i, j] / zooms[j] } }
        let det = r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1]) - r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0])
            + r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0])
        let qfac: Double = det > 0 ? 1 : -1
        if qfac < 0 { for i in 0..<3 { r[i][2] *= -1 } }
        r = Affine.nearestOrthogonal(r)
        let q = Self.quaternion(r)
        quatern = [q[1], q[2], q[3]]
        qoffset = affine.translation
        pixdim[0] = qfac
        for k in 0..<3 { pixdim[k + 1] = zooms[k] }
    }

    /// The unit quaternion (a >= 0) of a rotation matrix (Shepperd's method).
    static func quaternion(_ r: [[Double]]) -> [Double] {
        let trace = r[0][0] + r[1][1] + r[2][2]
        var q: [Double]
        if trace > 0 {
            let s = (trace + 1).squareRoot() * 2
            q = [0.25 * s, (r[2][1] - r[1][2]) / s, (r[0][2] - r[2][0]) / s, (r[1][0] - r[0][1]) / s]
        } else if r[0][0] > r[1][1] && r[0][0] > r[2][2] {
            let s = (1 + r[0][0] - r[1][1] - r[2][2]).squareRoot() * 2
            q = [(r[2][1] - r[1][2]) / s, 0.25 * s, (r[0][1] + r[1][0]) / s, (r[0][2] + r[2][0]) / s]
        } else if r[1][1] > r[2][2] {
            let s = (1 + r[1][1] - r[0][0] - r[2][2]).squareRoot() * 2
            q = [(r[0][2] - r[2][0]) / s, (r[0][1] + r[1][0]) / s, 0.25 * s, (r[1][2] + r[2][1]) / s]
        } else {
            let s = (1 + r[2][2] - r[0][0] - r[1][1]).squareRoot() * 2
            q = [(r[1][0] - r[0][1]) / s, (r[0][2] + r[2][0]) / s, (r[1][2] + r[2][1]) / s, 0.25 * s]
        }
        if q[0] < 0 { q = q.map { -$0 } }
        let n = q.map { $0 * $0 }.reduce(0, +).squareRoot()
        return q.map { $0 / n }
    }
}
