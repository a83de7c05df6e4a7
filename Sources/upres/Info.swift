import ArgumentParser
import Imaging
import Torch

import Foundation

/// `upres info FILE...`: what a NIfTI file holds.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe NIfTI files and DICOM series folders: shape, spacing, orientation, dtype, affine, intensities.")

    @Argument(help: "NIfTI files (.nii, .nii.gz, .hdr/.img).")
    var files: [String]

    @Flag(help: "Print JSON (an array with one object per file).")
    var json = false

    func run() throws {
        var objects: [String] = []
        var failed = 0
        for (n, path) in files.enumerated() {
            do {
                let report = try FileReport(path: path)
                if json { objects.append(report.json()) } else {
                    if n > 0 { print("") }
                    print(report.text())
                }
            } catch {
                failed += 1
                Console.err("Error: \((error as? LocalizedError)?.errorDescription ?? "\(error)")")
            }
        }
        if json { print("[\n" + objects.joined(separator: ",\n") + "\n]") }
        if failed > 0 { throw ExitCode(1) }
    }
}

/// The facts `upres info` reports for one file.
struct FileReport {
    let path: String
    /// A NIfTI file's image, or a DICOM series' volume and facts.
    let image: NIfTIImage?
    let volume: Volume
    let dicom: DICOM.Info?
    let percentiles: [Double]
    let range: (Double, Double)?
    let nonFinite: Int

    init(path: String) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        if DICOM.isFolder(url) {
            do { (volume, dicom) = try DICOM.read(url) } catch let e as DICOM.Failure { throw CLIError(e.message) }
            image = nil
        } else {
            let nifti = try NIfTI.read(url, options: NIfTIReadOptions(complex: .magnitude))
            (image, volume, dicom) = (nifti, nifti.volume, nil)
        }
        let d = volume.data
        if d.dtype.isFloatingPoint || d.dtype.isInteger, !(volume.metadata.sourceDType ?? "").hasPrefix("rgb") {
            let v = try d.to(.float64)
            let finite = try v.isFinite()
            nonFinite = try finite.logicalNot().sum().itemInt()
            let values = try v.maskedSelect(finite)
            if values.count > 0 {
                range = (try values.min().item(), try values.max().item())
                percentiles = try Percentiles.compute(values, [1, 50, 99])
            } else {
                range = nil
                percentiles = []
            }
        } else {
            range = nil
            percentiles = []
            nonFinite = 0
        }
    }

    func fmt(_ x: Double) -> String {
        if x == x.rounded() && abs(x) < 1e9 { return String(Int(x)) }
        let s = String(format: "%.6g", x)
        return s
    }

    func text() -> String {
        let v = volume
        var lines = [path]
        guard let image else {
            let d = dicom!
            lines.append("  format       DICOM series \(d.seriesUID) (\(d.files) files, \(d.modality)\(d.seriesDescription.isEmpty ? "" : ", \(d.seriesDescription)"))")
            lines.append("  shape        \(v.shape.map(String.init).joined(separator: " x "))")
            lines.append("  spacing      \(v.spacing.map(fmt).joined(separator: " x ")) mm (between slices: from their positions)")
            if let t = d.sliceThickness { lines.append("  thickness    \(fmt(t)) mm (SliceThickness)") }
            lines.append("  orientation  \(v.orientation)")
            for row in v.affine.rows.prefix(3) { lines.append("               " + row.map { String(format: "%10.4f", $0) }.joined(separator: " ")) }
            if let r = range {
                lines.append("  intensities  min \(fmt(r.0))  p1 \(fmt(percentiles[0]))  median \(fmt(percentiles[1]))  p99 \(fmt(percentiles[2]))  max \(fmt(r.1))")
            }
            return lines.joined(separator: "\n")
        }
        let h = image.header
        lines.append("  format       NIfTI-\(h.version) (\(h.isSingleFile ? "single file" : ".hdr/.img pair"), \(h.littleEndian ? "little" : "big")-endian)")
        lines.append("  shape        \(v.shape.map(String.init).joined(separator: " x "))")
        lines.append("  spacing      \(v.spacing.map(fmt).joined(separator: " x ")) mm\(v.metadata.timeStep.map { ", \(fmt($0)) s per volume" } ?? "")")
        lines.append("  orientation  \(v.orientation)")
        lines.append("  dtype        \(v.metadata.sourceDType ?? "?") on disk\(h.sclSlope.isFinite && h.sclSlope != 0 && !(h.sclSlope == 1 && h.sclInter == 0) ? " (scaled: x \(fmt(h.sclSlope)) + \(fmt(h.sclInter)))" : "")")
        lines.append("  affine       from the \(image.affineSource.rawValue) (qform_code \(h.qformCode), sform_code \(h.sformCode))")
        for row in v.affine.rows.prefix(3) {
            lines.append("               " + row.map { String(format: "%10.4f", $0) }.joined(separator: " "))
        }
        if let r = range {
            lines.append("  intensities  min \(fmt(r.0))  p1 \(fmt(percentiles[0]))  median \(fmt(percentiles[1]))  p99 \(fmt(percentiles[2]))  max \(fmt(r.1))")
        }
        if nonFinite > 0 { lines.append("  non-finite   \(nonFinite) voxels (NaN or Inf)") }
        if !h.descrip.isEmpty { lines.append("  description  \(h.descrip)") }
        if !v.metadata.extensions.isEmpty {
            lines.append("  extensions   \(v.metadata.extensions.map { "code \($0.code) (\($0.content.count) bytes)" }.joined(separator: ", "))")
        }
        for w in image.warnings { lines.append("  warning      \(w)") }
        return lines.joined(separator: "\n")
    }

    func json() -> String {
        let v = volume
        let q = JSONText.string, num = JSONText.number
        guard let image else {
            let d = dicom!
            var fields = [
                "\"path\": \(q(path))",
                "\"format\": \"dicom\"",
                "\"series_uid\": \(q(d.seriesUID))",
                "\"files\": \(d.files)",
                "\"modality\": \(q(d.modality))",
                "\"series_description\": \(q(d.seriesDescription))",
                "\"slice_thickness\": \(d.sliceThickness.map(num) ?? "null")",
                "\"shape\": [\(v.shape.map(String.init).joined(separator: ", "))]",
                "\"spacing\": [\(v.spacing.map(num).joined(separator: ", "))]",
                "\"orientation\": \(q(v.orientation))",
                "\"affine\": [\(v.affine.rows.map { "[" + $0.map(num).joined(separator: ", ") + "]" }.joined(separator: ", "))]",
            ]
            if let r = range { fields += ["\"min\": \(num(r.0))", "\"max\": \(num(r.1))"] }
            return "  {\n    " + fields.joined(separator: ",\n    ") + "\n  }"
        }
        let h = image.header
        var fields = [
            "\"path\": \(q(path))",
            "\"nifti_version\": \(h.version)",
            "\"shape\": [\(v.shape.map(String.init).joined(separator: ", "))]",
            "\"spacing\": [\(v.spacing.map(num).joined(separator: ", "))]",
            "\"orientation\": \(q(v.orientation))",
            "\"dtype\": \(q(v.metadata.sourceDType ?? ""))",
            "\"affine\": [\(v.affine.rows.map { "[" + $0.map(num).joined(separator: ", ") + "]" }.joined(separator: ", "))]",
            "\"affine_source\": \(q(image.affineSource.rawValue))",
            "\"qform_code\": \(h.qformCode)",
            "\"sform_code\": \(h.sformCode)",
            "\"scl_slope\": \(num(h.sclSlope))",
            "\"scl_inter\": \(num(h.sclInter))",
            "\"non_finite_voxels\": \(nonFinite)",
            "\"warnings\": [\(image.warnings.map { q($0.description) }.joined(separator: ", "))]",
        ]
        if let t = v.metadata.timeStep { fields.append("\"time_step_s\": \(t)") }
        if let r = range {
            fields.append("\"min\": \(num(r.0))")
            fields.append("\"max\": \(num(r.1))")
            fields.append("\"percentiles\": {\"1\": \(num(percentiles[0])), \"50\": \(num(percentiles[1])), \"99\": \(num(percentiles[2]))}")
        }
        return "  {\n    " + fields.joined(separator: ",\n    ") + "\n  }"
    }
}
