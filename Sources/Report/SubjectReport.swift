import Foundation
import Imaging
import Torch

/// The HTML report of one reconstruction: what a researcher checks before trusting it.
///
/// - the same world slices of the input, the baseline, the reconstruction and the reference in the
///   three planes, with one intensity window;
/// - signed difference maps to the reference (or between reconstruction and baseline when there is
///   no reference), with one symmetric window;
/// - metrics per slice across the input's slice direction (the period of the acquired slices shows
///   up), with the acquired slices marked;
/// - PSNR, SSIM and MAE on the whole volume and inside the mask, beside the baseline, and the tables
///   of `upres evaluate --json` when given;
/// - segmentations side by side with their Dice to the reference's;
/// - the sidecar's provenance and the model card;
/// - warnings.
///
/// Everything is computed on the reference's grid when there is a reference (other volumes are
/// resampled onto it, linearly; masks and label maps by nearest neighbour), else on the
/// reconstruction's.
public struct SubjectReport {
    public struct Inputs {
        public var subject: String
        public var reconstruction: Volume
        public var reconstructionPath: String
        public var input: Volume?
        public var inputPath: String?
        public var reference: Volume?
        public var referencePath: String?
        /// An interpolation of the input on the reconstruction's grid (cubic, usually).
        public var baseline: Volume?
        public var baselineLabel: String = "cubic"
        public var mask: Volume?
        public var maskLabel: String = "mask"
        public var maskPath: String?
        /// Label maps by name ("reference" names the reference's: the others get a Dice to it).
        public var segmentations: [(name: String, volume: Volume)] = []
        /// The reconstruction's JSON sidecar.
        public var sidecar: Data?
        public var modelCard: String?
        /// The output of `upres evaluate --json`.
        public var evaluation: Data?
        public var evaluationPath: String?
        /// Warnings found by the caller (a missing sidecar, ...).
        public var warnings: [String] = []
        /// Put before every section title (several scans of a subject on one page: "ses-1 T1w").
        public var sectionPrefix: String?

        public init(subject: String, reconstruction: Volume, reconstructionPath: String) {
            self.subject = subject
            self.reconstruction = reconstruction
            self.reconstructionPath = reconstructionPath
        }
    }

    /// What the group report reads back: one subject's figures (`report.json` beside the page).
    public struct Summary: Codable, Sendable, Equatable {
        public var subject: String
        /// The HTML page, relative to this summary's folder.
        public var page: String
        public var reconstruction: String
        public var reference: String?
        public var method: String?
        public var model: String?
        public var seconds: Double?
        /// "region/metric/column" -> value, e.g. "mask/psnr/upres", "head/ssim/cubic", "mask/psnr/gain".
        public var metrics: [String: Double]
        public var warnings: [String]
    }

    public let inputs: Inputs

    public init(_ inputs: Inputs) { self.inputs = inputs }

    static let reconstructionLabel = "upres"

    /// Builds the page and the summary.
    public func build(page name: String) throws -> (page: HTMLPage, summary: Summary) {
        var warnings = inputs.warnings
        let sidecar = inputs.sidecar.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        if inputs.sidecar != nil && sidecar == nil { warnings.append("the sidecar is not a JSON object; provenance is not shown") }
        let recon = inputs.reconstruction
        try requireFinite(recon, inputs.reconstructionPath, &warnings)

        // The grid everything is compared on.
        let grid = inputs.reference ?? recon
        func onGrid(_ v: Volume, _ what: String, labels: Bool = false) throws -> Volume {
            if v.shape == grid.shape && v.affine.maxDifference(grid.affine) < 1e-4 { return v }
            if !labels && inputs.reference != nil { warnings.append("\(what) is on another grid than the reference; resampled linearly onto it") }
            return try v.resampled(like: grid, interpolation: labels ? .nearest : .linear, antiAlias: false)
        }
        let test = try onGrid(recon, "the reconstruction")
        let baseline = try inputs.baseline.map { try onGrid($0, "the \(inputs.baselineLabel) baseline") }
        let mask = try inputs.mask.map { try onGrid($0, inputs.maskLabel, labels: true).data.ne(.double(0)) }
        if let mask, try mask.sum().item() == 0 { throw ReportError.invalidInput("\(inputs.maskPath ?? inputs.maskLabel): the mask has no voxel inside the \(inputs.reference != nil ? "reference" : "reconstruction")'s grid") }

        var page = HTMLPage(title: "upres report: \(inputs.subject)")
        var metrics: [String: Double] = [:]
        func title(_ t: String) -> String { inputs.sectionPrefix.map { "\($0): \(t)" } ?? t }
        // Several scans on one page: only each scan's overview goes into the table of contents.
        let listAll = inputs.sectionPrefix == nil

        // Overview.
        page.section(title("Overview"))
        var overview: [[HTMLPage.Cell]] = [["subject", HTMLPage.Cell(inputs.subject)], ["reconstruction", HTMLPage.Cell(inputs.reconstructionPath)]]
        overview.append(["grid", HTMLPage.Cell(Self.describe(recon))])
        if let p = inputs.inputPath, let v = inputs.input { overview.append(["input", HTMLPage.Cell("\(p) (\(Self.describe(v)))")]) }
        if let p = inputs.referencePath { overview.append(["reference", HTMLPage.Cell(p)]) }
        if let method = sidecar?["method"] as? String {
            overview.append(["method", HTMLPage.Cell(method + ((sidecar?["model"] as? String).map { " (model \($0))" } ?? ""))])
        }
        if let s = sidecar?["seconds"] as? Double { overview.append(["run time", HTMLPage.Cell(String(format: "%.1f s", s))]) }
        if inputs.reference == nil {
            overview.append(["reference", HTMLPage.Cell("none: the figures compare with \(inputs.baseline != nil ? inputs.baselineLabel : "nothing"), not with the truth")])
        }
        page.table(rows: overview)
        let head = page  // the warnings section follows it once every check ran
        page = HTMLPage(title: head.title)

        // Three planes, one window.
        let window = try Self.window(inputs.reference ?? recon)
        var panels: [SliceSnapshot.Panel] = []
        if let v = inputs.input { panels.append(.init(volume: v, label: "input")) }
        if let b = baseline { panels.append(.init(volume: b, label: inputs.baselineLabel)) }
        panels.append(.init(volume: test, label: Self.reconstructionLabel))
        if let r = inputs.reference { panels.append(.init(volume: r, label: "reference")) }
        let gridPanel = panels.firstIndex { $0.label == Self.reconstructionLabel }!
        page.section(title("Slices"), listed: listAll)
        page.paragraph(String(format: "The same world slice of each volume, in neurological convention (the subject's right on the right), window %.4g to %.4g for all. The input is shown as acquired (nearest neighbour): thick slices appear as blocks.", window.0, window.1))
        for plane in Plane.allCases.reversed() {
            var snap = SliceSnapshot(panels: panels, plane: plane, window: window)
            snap.gridPanel = gridPanel
            page.image(png: try PNG.encode(snap.render()), alt: "\(plane) slices", caption: "\(plane.rawValue.capitalized), slice \(try snap.resolvedSlice().index) of the reconstruction's grid (RAS+).")
        }

        // Difference maps.
        let against = inputs.reference.map { ($0.data, "reference") } ?? baseline.map { ($0.data, inputs.baselineLabel) }
        if let (target, name) = against {
            page.section(title("Differences"), listed: listAll)
            var maps: [SliceSnapshot.Panel] = [.init(volume: Volume(data: try test.data.to(.float64) - target.to(.float64), affine: grid.affine),
                                                     label: "\(Self.reconstructionLabel) - \(name)")]
            if let b = baseline, name == "reference" {
                maps.append(.init(volume: Volume(data: try b.data.to(.float64) - target.to(.float64), affine: grid.affine), label: "\(inputs.baselineLabel) - reference"))
            }
            let all = try Tensor.cat(maps.map { try $0.volume.data.abs().flatten() })
            let w = Swift.max(1e-12, try Percentiles.compute(all.maskedSelect(all.isFinite()), [99.5])[0])
            page.paragraph(String(format: "Signed differences (blue: below, red: above %@), one symmetric window of ±%.4g (the 99.5th percentile of the absolute differences).", name, w))
            for plane in Plane.allCases.reversed() {
                let snap = SliceSnapshot(panels: maps, plane: plane, window: (-w, w), colormap: .diverging)
                page.image(png: try PNG.encode(snap.render()), alt: "\(plane) differences", caption: "\(plane.rawValue.capitalized) differences.")
            }
        } else {
            warnings.append("no reference and no baseline: no difference maps and no metrics")
        }

        // Per-slice metrics across the input's slice direction.
        if let reference = inputs.reference {
            page.section(title("Per-slice metrics"), listed: listAll)
            let axis = try Self.sliceAxis(input: inputs.input, on: grid)
            let range = try reference.data.max().item() - reference.data.min().item()
            var psnr: [LinePlot.Series] = [], ssim: [LinePlot.Series] = []
            var columns: [(String, Volume)] = [(Self.reconstructionLabel, test)]
            if let b = baseline { columns.append((inputs.baselineLabel, b)) }
            let colors = [Self.reconstructionLabel: "#d62728", inputs.baselineLabel: "#1f77b4"]
            for (label, v) in columns {
                psnr.append(.init(name: label, values: try Self.perSlicePSNR(v.data, reference.data, axis: axis, mask: mask, range: range), color: colors[label] ?? "#333"))
                ssim.append(.init(name: label, values: try SSIM().perSlice(v.data.to(.float64), reference.data.to(.float64), axis: axis), color: colors[label] ?? "#333"))
            }
            let marks = try inputs.input.map { try Self.acquiredSlices($0, on: grid, axis: axis) } ?? []
            let restoredInPlane = inputs.input.map { Self.inputSlices($0).inPlane } ?? false
            page.paragraph("Across voxel axis \(axis) of the \(inputs.reference != nil ? "reference's" : "reconstruction's") grid, the direction of the input's slices\(mask != nil ? "; PSNR inside the \(inputs.maskLabel), SSIM over each whole slice" : ""). " + (restoredInPlane
                ? "The input's slices were degraded in-plane and each was restored in-plane, so every slice here is an acquired one."
                : "Grey lines: the centres of the acquired slices; reconstructed slices between them are where the methods differ."))
            page.svg(LinePlot(title: "PSNR per slice", xLabel: "slice (voxel index)", yLabel: "PSNR (dB)", series: psnr,
                              marks: marks, marksLabel: marks.isEmpty ? nil : "acquired slice").svg())
            page.svg(LinePlot(title: "SSIM per slice (2-D)", xLabel: "slice (voxel index)", yLabel: "SSIM", series: ssim,
                              marks: marks, marksLabel: marks.isEmpty ? nil : "acquired slice").svg())
        }

        // Without a reference: how far the reconstruction departs from the baseline, per slice.
        if inputs.reference == nil, let b = baseline {
            page.section(title("Per-slice departure from \(inputs.baselineLabel)"), listed: listAll)
            let axis = try Self.sliceAxis(input: inputs.input, on: grid)
            let scale = try Self.window(b).1
            let others = (0..<3).filter { $0 != axis }
            var d = try (test.data.to(.float64) - b.data.to(.float64)).abs()
            if let mask { d = try d * mask.to(.float64) }
            let count = try mask.map { try $0.to(.float64).sum(dims: others).toArray(Double.self) }
                ?? Array(repeating: Double(others.map { grid.shape[$0] }.reduce(1, *)), count: grid.shape[axis])
            let sums = try d.sum(dims: others).toArray(Double.self)
            let perSlice = zip(sums, count).map { $1 > 0 ? $0 / $1 / scale * 100 : .nan }
            let overall = try d.sum().item() / (try mask.map { try $0.to(.float64).sum().item() } ?? Double(grid.shape.reduce(1, *))) / scale * 100
            metrics["head/departure/upres"] = overall
            let marks = try inputs.input.map { try Self.acquiredSlices($0, on: grid, axis: axis) } ?? []
            let restoredInPlane = inputs.input.map { Self.inputSlices($0).inPlane } ?? false
            page.paragraph(String(format: "No reference: the mean absolute difference between the reconstruction and %@ per slice across the input's slice direction (voxel axis %d)%@, in %% of %@'s 99.5th percentile (%.4g); %.3g%% over the volume. %@", inputs.baselineLabel, axis, mask != nil ? ", inside the mask" : "", inputs.baselineLabel, scale, overall,
                restoredInPlane ? "The input's slices were degraded in-plane and each was restored in-plane: the departure is the detail the model added within each slice."
                                : "It should be small on the acquired slices (grey) and larger between them, where the reconstruction adds detail."))
            page.svg(LinePlot(title: "Departure from \(inputs.baselineLabel) per slice", xLabel: "slice (voxel index)", yLabel: "mean |difference| (%)",
                              series: [.init(name: Self.reconstructionLabel, values: perSlice, color: "#d62728")],
                              marks: marks, marksLabel: marks.isEmpty ? nil : "acquired slice").svg())
        }

        // Metrics tables.
        if let reference = inputs.reference {
            page.section(title("Metrics"), listed: listAll)
            var regions: [(String, Tensor?)] = [("head", nil)]
            if let mask { regions.append((inputs.maskLabel == "mask" ? "mask" : inputs.maskLabel, mask)) }
            var rows: [[HTMLPage.Cell]] = []
            let r = try reference.data.to(.float64)
            for (region, m) in regions {
                for metric in ["psnr", "ssim", "mae"] {
                    let sr = try Self.metric(metric, test.data.to(.float64), r, m)
                    let key = region == "head" ? "head" : "mask"
                    metrics["\(key)/\(metric)/upres"] = sr
                    var row: [HTMLPage.Cell] = [HTMLPage.Cell(region), HTMLPage.Cell(metric.uppercased()), Self.number(sr)]
                    if let b = baseline {
                        let base = try Self.metric(metric, b.data.to(.float64), r, m)
                        metrics["\(key)/\(metric)/\(inputs.baselineLabel)"] = base
                        let gain = sr - base
                        metrics["\(key)/\(metric)/gain"] = gain
                        let better = metric == "mae" ? gain < 0 : gain > 0
                        row += [Self.number(base), HTMLPage.Cell(Self.format(gain, signed: true), cssClass: better ? "num good" : "num bad")]
                        if !better && metric == "psnr" {
                            warnings.append(String(format: "the reconstruction's PSNR (%.2f dB) is below %@'s (%.2f dB) on the %@", sr, inputs.baselineLabel, base, region == "head" ? "whole head" : region))
                        }
                    }
                    rows.append(row)
                }
            }
            let header = ["region", "metric", Self.reconstructionLabel] + (baseline != nil ? [inputs.baselineLabel, "difference"] : [])
            page.table(header: header, rows: rows, caption: "On the reference's grid; PSNR and SSIM with the reference's range (max - min), as upres evaluate and scikit-image compute them.")
        }
        if let data = inputs.evaluation {
            page.subheading("upres evaluate")
            guard let tables = try? Self.evaluationTables(data) else {
                throw ReportError.invalidInput("\(inputs.evaluationPath ?? "the evaluation"): not the JSON that `upres evaluate --json` prints (a list of {test, metrics: {region: {metric: value}}})")
            }
            page.table(header: tables.header, rows: tables.rows)
        }

        // Segmentations.
        if !inputs.segmentations.isEmpty {
            page.section(title("Segmentations"), listed: listAll)
            let segs = try inputs.segmentations.map { ($0.name, try onGrid($0.volume, "segmentation \($0.name)", labels: true)) }
            for plane in Plane.allCases.reversed() {
                var snap = SliceSnapshot(panels: segs.map { .init(volume: $0.1, label: $0.0) }, plane: plane, colormap: .labels)
                snap.gridPanel = 0
                page.image(png: try PNG.encode(snap.render()), alt: "\(plane) segmentations", caption: "\(plane.rawValue.capitalized): one colour per label.")
            }
            if let ref = segs.first(where: { $0.0 == "reference" }) {
                let voxelML = grid.spacing.reduce(1, *) / 1000
                var rows: [[HTMLPage.Cell]] = []
                for (name, seg) in segs where name != "reference" {
                    for a in try SegmentationAgreement.compute(test: seg.data, reference: ref.1.data, voxelVolumeML: voxelML) {
                        rows.append([HTMLPage.Cell(name), HTMLPage.Cell(String(a.label)), Self.number(a.dice), Self.number(a.testVolumeML),
                                     Self.number(a.referenceVolumeML), HTMLPage.Cell(Self.format(a.volumeDifferencePercent, signed: true) + " %", cssClass: "num")])
                        metrics["segmentation/dice\(a.label)/\(name)"] = a.dice
                    }
                }
                page.table(header: ["segmentation", "label", "Dice", "volume (ml)", "reference (ml)", "difference"], rows: rows,
                           caption: "Agreement with the reference's segmentation, per label.")
            }
        }

        // Provenance.
        page.section(title("Provenance"), listed: listAll)
        if let data = inputs.sidecar, let text = String(data: data, encoding: .utf8) {
            page.preformatted(text, summary: "the reconstruction's sidecar (\(Self.sidecarName(inputs.reconstructionPath)))", open: false)
        } else {
            page.paragraph("No sidecar: the reconstruction's settings and model are unknown.")
        }
        if let card = inputs.modelCard {
            page.folded(html: Markdown.html(card), summary: "the model card")
        }
        if let e = sidecar?["thicknessEstimate"] as? [String: Any], e["plausible"] as? Bool == false {
            let range = ((sidecar?["adaptation"] as? [String: Any])?["sliceThicknessRange"] as? [Double]).flatMap { $0.count == 2 ? $0 : nil }
            warnings.append(range.map { String(format: "the slice thickness could not be estimated reliably from the scan; the network was trained across %.3g to %.3g mm slices and data consistency stayed off", $0[0], $0[1]) }
                            ?? "the slice thickness could not be estimated reliably from the scan; the reconstruction assumed contiguous slices")
        }
        if let v = inputs.input {
            let (inMax, outMax) = (try v.data.max().item(), try recon.data.max().item())
            if inMax > 0 && Swift.abs(outMax - inMax) / inMax > 0.1 {
                warnings.append(String(format: "the reconstruction's maximum (%.4g) differs from the input's (%.4g) by %.0f%%", outMax, inMax, Swift.abs(outMax - inMax) / inMax * 100))
            }
        }

        // Warnings, at the top.
        var full = head
        full.section(title("Warnings"), listed: listAll)
        full.warnings(warnings)
        full.append(page)

        let summary = Summary(subject: inputs.subject, page: name, reconstruction: inputs.reconstructionPath, reference: inputs.referencePath,
                              method: sidecar?["method"] as? String, model: sidecar?["model"] as? String, seconds: sidecar?["seconds"] as? Double,
                              metrics: metrics, warnings: warnings)
        return (full, summary)
    }

    // MARK: helpers

    func requireFinite(_ v: Volume, _ path: String, _ warnings: inout [String]) throws {
        let bad = try v.data.isFinite().logicalNot().sum().item()
        if bad > 0 { warnings.append("\(path): \(Int(bad)) voxels are NaN or infinite") }
    }

    static func describe(_ v: Volume) -> String {
        v.shape.map(String.init).joined(separator: " x ") + " voxels of " + v.spacing.map { String(format: "%.3g", $0) }.joined(separator: " x ") + " mm, " + v.orientation
    }

    static func sidecarName(_ path: String) -> String { Sidecar.path(for: path) }

    /// The display window: the 1st and 99.5th percentiles of the volume's non-zero voxels.
    static func window(_ v: Volume) throws -> (Double, Double) {
        let d = try v.data.to(.float64).flatten()
        let nz = try d.maskedSelect(d.ne(.double(0)).logicalAnd(d.isFinite()))
        guard nz.size(0) > 0 else { return (0, 1) }
        let q = try Percentiles.compute(nz, [1, 99.5])
        return q[1] > q[0] ? (Swift.min(0, q[0]), q[1]) : (q[0], q[0] + 1)
    }

    /// The input's slice axis: its axis of largest spacing (thick slices), or, when the two
    /// largest spacings tie (2% tolerance) above the third (2 x 2 x 1 mm: slices degraded
    /// in-plane, restored by an in-plane model), the third axis, with `inPlane` true.
    static func inputSlices(_ input: Volume) -> (axis: Int, inPlane: Bool) {
        let tied = input.coarsestAxes()
        if tied.count == 2, let third = (0..<3).first(where: { !tied.contains($0) }) { return (third, true) }
        let s = input.spacing
        return (s.indices.max { s[$0] < s[$1] }!, false)
    }

    /// The voxel axis of `grid` closest in direction to the input's slice direction (its axis of
    /// largest spacing); the grid's axis of largest spacing... when there is no input, axis 2.
    static func sliceAxis(input: Volume?, on grid: Volume) throws -> Int {
        guard let input else { return 2 }
        let a = inputSlices(input).axis
        let dir = (0..<3).map { input.affine[$0, a] }
        let cosines = (0..<3).map { k -> Double in
            let g = (0..<3).map { grid.affine[$0, k] }
            let dot = zip(dir, g).map(*).reduce(0, +)
            let n = (dir.map { $0 * $0 }.reduce(0, +) * g.map { $0 * $0 }.reduce(0, +)).squareRoot()
            return n > 0 ? Swift.abs(dot) / n : 0
        }
        return cosines.indices.max { cosines[$0] < cosines[$1] }!
    }

    /// The grid's voxel coordinate along `axis` of each acquired slice's centre.
    static func acquiredSlices(_ input: Volume, on grid: Volume, axis: Int) throws -> [Double] {
        let (a, inPlane) = inputSlices(input)
        // Restored in-plane, every slice of the reconstruction was acquired: nothing to mark.
        guard !inPlane else { return [] }
        guard let inverse = grid.affine.inverse() else { return [] }
        let centre = input.shape.map { Double($0 - 1) / 2 }
        return (0..<input.shape[a]).map { j in
            var p = centre
            p[a] = Double(j)
            return inverse.apply(input.affine.apply(p))[axis]
        }
    }

    /// PSNR of each slice along `axis` (inside the mask when given; NaN where a slice has none of it).
    static func perSlicePSNR(_ test: Tensor, _ reference: Tensor, axis: Int, mask: Tensor?, range: Double) throws -> [Double] {
        let others = (0..<3).filter { $0 != axis }
        var sq = try (test.to(.float64) - reference.to(.float64)).pow(.double(2))
        var count: Tensor
        if let mask {
            let m = try mask.to(.float64)
            sq = try sq * m
            count = try m.sum(dims: others)
        } else {
            count = try Tensor.full([reference.size(axis)], .double(Double(others.map { reference.size($0) }.reduce(1, *))), dtype: .float64)
        }
        let mse = try sq.sum(dims: others).toArray(Double.self), n = try count.toArray(Double.self)
        return zip(mse, n).map { e, c in c > 0 ? 10 * Foundation.log10(range * range / Swift.max(e / c, 1e-30)) : .nan }
    }

    static func metric(_ name: String, _ t: Tensor, _ r: Tensor, _ mask: Tensor?) throws -> Double {
        switch name {
        case "psnr": return try FullReference.psnr(t, r, mask: mask)
        case "mae": return try FullReference.mae(t, r, mask: mask)
        default: return try SSIM().compare(t, r, dims: 3, mask: mask).mean
        }
    }

    /// `upres evaluate --json` as one table: rows (test, region, metric), one value each.
    static func evaluationTables(_ data: Data) throws -> (header: [String], rows: [[HTMLPage.Cell]]) {
        guard let list = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else { throw ReportError.invalidInput("not a list") }
        var rows: [[HTMLPage.Cell]] = []
        for item in list {
            guard let test = item["test"] as? String, let m = item["metrics"] as? [String: [String: Any]] else { throw ReportError.invalidInput("no test or metrics") }
            for region in m.keys.sorted() {
                for metric in m[region]!.keys.sorted() {
                    let v = (m[region]![metric] as? Double) ?? .nan
                    rows.append([HTMLPage.Cell(test), HTMLPage.Cell(region), HTMLPage.Cell(metric), number(v)])
                }
            }
        }
        return (["volume", "region", "metric", "value"], rows)
    }

    static func number(_ v: Double) -> HTMLPage.Cell { HTMLPage.Cell(format(v), cssClass: "num") }

    static func format(_ v: Double, signed: Bool = false) -> String {
        guard v.isFinite else { return v.isNaN ? "-" : (v > 0 ? "inf" : "-inf") }
        let a = Swift.abs(v)
        let f = a >= 100 ? "%.2f" : a >= 1 ? "%.3f" : "%.4f"
        return String(format: (signed ? "%+" : "%") + f.dropFirst(), v)
    }
}
