import ArgumentParser
import Foundation
import Imaging
import Torch

/// `upres evaluate --reference HR --test SR [--test OTHER ...]`: metrics side by side.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare test volumes with a reference: PSNR, SSIM, MAE, MSE, RMSE, NMSE, NRMSE, per label.",
        discussion: """
            Metrics follow scikit-image (PSNR; SSIM with Wang's settings: Gaussian window sigma 1.5, \
            K1 0.01, K2 0.03; NRMSE). With --mask they are computed over the mask's voxels (SSIM: the \
            mean of its map there); with --labels, also per label of the label map. Tests on another \
            grid are refused unless --resample puts them on the reference's grid (linear).
            """)

    @Option(name: .long, help: "The reference (ground-truth) volume.") var reference: String?
    @Option(name: .long, help: "A volume to evaluate; repeat for several, shown side by side.") var test: [String] = []
    @Option(name: .long, help: "A mask: metrics over its non-zero voxels.") var mask: String?
    @Option(name: .long, help: "A label map: metrics per label as well.") var labels: String?
    @Option(name: .long, parsing: .upToNextOption,
            help: "Metrics among psnr, ssim, ssim2d, mae, mse, rmse, nmse, nrmse, vifp, haarpsi, fsim, vsi (default: all but the perceptual four).")
    var metrics: [String] = []
    @Option(name: .customLong("slice-axis"), help: "The voxel axis across which 2-D metrics (ssim2d and the perceptual ones) take slices.")
    var sliceAxis: Int = 2
    @Option(name: .long, help: """
        Many subjects: a CSV with a header row; columns 'subject' and 'reference', optional 'mask' and         'labels', and one column per test named by its header. Prints per-subject rows and mean +- SD.
        """)
    var subjects: String?
    @Option(name: .long, help: "PSNR/SSIM data range: 'reference' (max - min), 'clipped' (p99 - p1) or a number.")
    var dataRange: String = "reference"
    @Flag(help: "Resample tests on another grid onto the reference's (linear) instead of refusing them.") var resample = false
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Print CSV.") var csv = false

    static let allMetrics = ["psnr", "ssim", "ssim2d", "mae", "mse", "rmse", "nmse", "nrmse"] + Perceptual.Metric.allCases.map(\.rawValue)
    static let defaultMetrics = ["psnr", "ssim", "ssim2d", "mae", "mse", "rmse", "nmse", "nrmse"]

    func validate() throws {
        if subjects != nil {
            guard reference == nil, test.isEmpty, mask == nil, labels == nil else {
                throw ValidationError("--subjects takes the references, tests, masks and labels from its CSV; drop --reference, --test, --mask and --labels")
            }
        } else {
            guard reference != nil else { throw ValidationError("give --reference (or --subjects LIST.csv)") }
            guard !test.isEmpty else { throw ValidationError("give at least one --test volume") }
        }
        guard (0...2).contains(sliceAxis) else { throw ValidationError("--slice-axis \(sliceAxis) must be 0, 1 or 2") }
        for m in metrics where !Self.allMetrics.contains(m) {
            throw ValidationError("--metrics \(m) is not one of \(Self.allMetrics.joined(separator: ", "))")
        }
        if json && csv { throw ValidationError("choose one of --json and --csv") }
        if !["reference", "clipped"].contains(dataRange) && Double(dataRange).map({ $0 > 0 }) != true {
            throw ValidationError("--data-range \(dataRange): expected reference, clipped or a positive number")
        }
    }

    var range: DataRange {
        switch dataRange {
        case "reference": .reference
        case "clipped": .clippedReference()
        default: .value(Double(dataRange)!)
        }
    }

    var wanted: [String] { metrics.isEmpty ? Self.defaultMetrics : metrics }

    func run() throws {
        if let subjects { return try runSubjects(subjects) }
        let tests = test.map { (URL(fileURLWithPath: $0).lastPathComponent, $0) }
        let (regions, values) = try evaluate(reference: reference!, tests: tests, mask: mask, labels: labels)
        if json {
            let objects = zip(test, values).map { path, perRegion -> String in
                let r = zip(regions, perRegion).map { region, vals in
                    "\(JSONText.string(region)): {" + zip(wanted, vals).map { "\(JSONText.string($0)): \(JSONText.number($1))" }.joined(separator: ", ") + "}"
                }
                return "  {\"test\": \(JSONText.string(path)), \"reference\": \(JSONText.string(reference!)), \"metrics\": {\(r.joined(separator: ", "))}}"
            }
            print("[\n" + objects.joined(separator: ",\n") + "\n]")
            return
        }
        let columns = tests.map(\.0)
        if csv {
            print((["region", "metric"] + columns.map(quote)).joined(separator: ","))
            for (ri, region) in regions.enumerated() {
                for (mi, metric) in wanted.enumerated() {
                    print(([region, metric] + values.map { String($0[ri][mi]) }).joined(separator: ","))
                }
            }
            return
        }
        print("reference: \(reference!)" + (mask.map { "   mask: \($0)" } ?? ""))
        printTable(rows: regions.indices.flatMap { ri in wanted.indices.map { mi in (regions[ri], wanted[mi], values.map { format($0[ri][mi]) }) } },
                   columns: columns)
    }

    func printTable(rows: [(String, String, [String])], columns: [String]) {
        let width = Swift.max(12, columns.map(\.count).max() ?? 0)
        let first = Swift.max(10, (rows.map(\.0.count).max() ?? 0) + 2)
        func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: Swift.max(0, n - s.count)) }
        func right(_ s: String) -> String { String(repeating: " ", count: Swift.max(0, width - s.count)) + s }
        print(pad("region", first) + pad("metric", 9) + columns.map(right).joined(separator: "  "))
        for (region, metric, cells) in rows { print(pad(region, first) + pad(metric, 9) + cells.map(right).joined(separator: "  ")) }
    }

    /// One subject: the regions (image or mask, then each label) and values[test][region][metric].
    func evaluate(reference: String, tests: [(String, String)], mask: String?, labels: String?) throws -> ([String], [[[Double]]]) {
        let ref = try VolumeIO.read(reference).volume
        try VolumeIO.requireScalar(ref, reference)
        guard ref.shape.count == 3 else { throw CLIError("\(reference): shape \(ref.shape); evaluation needs a 3-D volume") }
        let refData = try ref.data.to(.float64)
        func onGrid(_ path: String, _ what: String, labelsOrMask: Bool = false) throws -> Tensor {
            var v = try VolumeIO.read(path).volume
            try VolumeIO.requireScalar(v, path)
            if v.shape != ref.shape || v.affine.maxDifference(ref.affine) > 1e-3 {
                guard resample || labelsOrMask else {
                    throw CLIError("\(path): the \(what)'s grid (\(v.shape)) differs from the reference's (\(ref.shape)); pass --resample to put it on the reference's grid")
                }
                v = try v.resampled(like: ref, interpolation: labelsOrMask ? .nearest : .linear)
            }
            let d = try v.data.to(.float64)
            if !labelsOrMask {
                let bad = try (d - d).ne(0).sum().itemInt()
                guard bad == 0 else { throw CLIError("\(path): \(bad) voxels are NaN or infinite; metrics need finite values") }
            }
            return d
        }
        let maskData = try mask.map { try onGrid($0, "mask", labelsOrMask: true).gt(0) }
        if let maskData, try !maskData.any().itemBool() { throw CLIError("\(mask!): the mask is empty") }
        let labelData = try labels.map { try onGrid($0, "label map", labelsOrMask: true).round().to(.int64) }
        var regions: [(String, Tensor?)] = [(maskData == nil ? "image" : "mask", maskData)]
        if let labelData {
            for l in Set(try labelData.flatten().toArray(Int.self)).filter({ $0 != 0 }).sorted() {
                regions.append(("label \(l)", try labelData.eq(l)))
            }
        }
        var values: [[[Double]]] = []
        for (_, path) in tests {
            let t = try onGrid(path, "test")
            do {
                values.append(try regions.map { _, region in try wanted.map { try compute($0, t, refData, region) } })
            } catch let e as MetricError {
                throw CLIError("\(path) against \(reference): \(e)")
            }
        }
        return (regions.map(\.0), values)
    }

    /// --subjects: per-subject rows, then mean +- SD over subjects for each test, region and metric.
    func runSubjects(_ list: String) throws {
        let rows = try SubjectList.read(list)
        var table: [String: [String: [String: [Double]]]] = [:]  // test -> region -> metric -> values
        var regionOrder: [String] = []
        var perSubject: [(subject: String, test: String, region: String, metric: String, value: Double)] = []
        for row in rows {
            let (regions, values) = try evaluate(reference: row.reference, tests: row.tests, mask: row.mask, labels: row.labels)
            for r in regions where !regionOrder.contains(r) { regionOrder.append(r) }
            for (ti, (name, _)) in row.tests.enumerated() {
                for (ri, region) in regions.enumerated() {
                    for (mi, metric) in wanted.enumerated() {
                        let v = values[ti][ri][mi]
                        table[name, default: [:]][region, default: [:]][metric, default: []].append(v)
                        perSubject.append((row.subject, name, region, metric, v))
                    }
                }
            }
        }
        let tests = rows[0].tests.map(\.0)
        func summary(_ v: [Double]) -> (mean: Double, sd: Double, n: Int) {
            let finite = v.filter(\.isFinite)
            guard !finite.isEmpty else { return (.nan, .nan, 0) }
            let m = finite.reduce(0, +) / Double(finite.count)
            let sd = finite.count > 1 ? (finite.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(finite.count - 1)).squareRoot() : .nan
            return (m, sd, finite.count)
        }
        if json {
            let subjectsJSON = perSubject.map {
                "    {\"subject\": \(JSONText.string($0.subject)), \"test\": \(JSONText.string($0.test)), \"region\": \(JSONText.string($0.region)), \"metric\": \(JSONText.string($0.metric)), \"value\": \(JSONText.number($0.value))}"
            }
            var summaries: [String] = []
            for t in tests { for r in regionOrder { for m in wanted {
                let s = summary(table[t]?[r]?[m] ?? [])
                summaries.append("    {\"test\": \(JSONText.string(t)), \"region\": \(JSONText.string(r)), \"metric\": \(JSONText.string(m)), \"mean\": \(JSONText.number(s.mean)), \"sd\": \(JSONText.number(s.sd)), \"n\": \(s.n)}")
            } } }
            print("{\n  \"subjects\": [\n" + subjectsJSON.joined(separator: ",\n") + "\n  ],\n  \"summary\": [\n" + summaries.joined(separator: ",\n") + "\n  ]\n}")
            return
        }
        if csv {
            print("subject,test,region,metric,value")
            for r in perSubject { print([quote(r.subject), quote(r.test), r.region, r.metric, String(r.value)].joined(separator: ",")) }
            for t in tests { for r in regionOrder { for m in wanted {
                let s = summary(table[t]?[r]?[m] ?? [])
                print([quote("mean"), quote(t), r, m, String(s.mean)].joined(separator: ","))
                print([quote("sd"), quote(t), r, m, String(s.sd)].joined(separator: ","))
            } } }
            return
        }
        for subject in rows.map(\.subject) {
            print("subject \(subject)")
            let mine = perSubject.filter { $0.subject == subject }
            printTable(rows: regionOrder.flatMap { r in wanted.map { m in
                (r, m, tests.map { t in mine.first { $0.test == t && $0.region == r && $0.metric == m }.map { format($0.value) } ?? "-" })
            } }, columns: tests)
            print("")
        }
        print("mean +- SD over \(rows.count) subjects")
        printTable(rows: regionOrder.flatMap { r in wanted.map { m in
            (r, m, tests.map { t in let s = summary(table[t]?[r]?[m] ?? []); return "\(format(s.mean)) +- \(format(s.sd))" })
        } }, columns: tests)
    }

    func compute(_ metric: String, _ t: Tensor, _ r: Tensor, _ region: Tensor?) throws -> Double {
        switch metric {
        case "psnr": return try FullReference.psnr(t, r, mask: region, dataRange: range)
        case "ssim": return try SSIM().compare(t, r, dims: 3, dataRange: range, mask: region).mean
        case "ssim2d":
            // The mean SSIM of the axial slices (last axis), each over its whole cropped slice; with
            // a mask or label, over the slices it touches.
            let rr = try range.resolve(region.map { try r.maskedSelect($0) } ?? r)
            let s = try SSIM().perSlice(t, r, axis: 2, dataRange: .value(rr))
            let touched = try region.map { try $0.to(.int64).sum(dims: [0, 1]).gt(0).toArray(Bool.self) } ?? Array(repeating: true, count: s.count)
            let kept = zip(s, touched).filter { $0.1 }.map(\.0)
            guard !kept.isEmpty else { return .nan }
            return kept.reduce(0, +) / Double(kept.count)
        case let name where Perceptual.Metric(rawValue: name) != nil:
            // Per slice across --slice-axis, each scaled by the reference's range to [0, 1] (piq's
            // convention); the mean over the slices where the reference is not constant (and which
            // the region touches).
            let metric = Perceptual.Metric(rawValue: name)!
            let lo = try (region.map { try r.maskedSelect($0) } ?? r).min().item()
            let rr = try range.resolve(region.map { try r.maskedSelect($0) } ?? r)
            let a = sliceAxis
            let others = (0..<3).filter { $0 != a }
            let varies = try r.max(dims: others).gt(r.min(dims: others)).toArray(Bool.self)
            let touched = try region.map { try $0.to(.int64).sum(dims: others).gt(0).toArray(Bool.self) } ?? varies
            let keep = (0..<r.size(a)).filter { varies[$0] && touched[$0] }
            guard !keep.isEmpty else { return .nan }
            let index = try Tensor(keep.map(Int64.init))
            let xs = try ((t.indexSelect(a, index) - lo) / rr).movedAxisFirst(a), ys = try ((r.indexSelect(a, index) - lo) / rr).movedAxisFirst(a)
            var scores: [Double] = []
            for start in stride(from: 0, to: keep.count, by: 8) {
                let n = Swift.min(8, keep.count - start)
                scores += try Perceptual.compute(metric, xs.narrow(0, start: start, length: n), ys.narrow(0, start: start, length: n))
            }
            return scores.reduce(0, +) / Double(scores.count)
        case "mae": return try FullReference.mae(t, r, mask: region)
        case "mse": return try FullReference.mse(t, r, mask: region)
        case "rmse": return try FullReference.rmse(t, r, mask: region)
        case "nmse": return try FullReference.nmse(t, r, mask: region)
        default: return try FullReference.nrmse(t, r, mask: region)
        }
    }

    func format(_ x: Double) -> String { x.isFinite ? String(format: Swift.abs(x) >= 100 ? "%.2f" : "%.4f", x) : (x.isNaN ? "nan" : "inf") }
    /// A CSV field (RFC 4180 quoting).
    func quote(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
}

/// The CSV of `upres evaluate --subjects`: a header with 'subject' and 'reference', optional
/// 'mask' and 'labels', and one column per test (its header names it). Relative paths are
/// relative to the CSV's folder.
struct SubjectList {
    var subject: String
    var reference: String
    var mask: String?
    var labels: String?
    var tests: [(String, String)]

    static func read(_ path: String) throws -> [SubjectList] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw CLIError("\(path): cannot read the subject list") }
        let lines = text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty && !$0.hasPrefix("#") }
        guard let header = lines.first?.split(separator: ",", omittingEmptySubsequences: false).map({ $0.trimmingCharacters(in: .whitespaces) }) else {
            throw CLIError("\(path): the subject list is empty")
        }
        guard let si = header.firstIndex(of: "subject"), let ri = header.firstIndex(of: "reference") else {
            throw CLIError("\(path): the header needs columns 'subject' and 'reference' (got \(header.joined(separator: ",")))")
        }
        let mi = header.firstIndex(of: "mask"), li = header.firstIndex(of: "labels")
        let testColumns = header.indices.filter { ![si, ri, mi, li].contains($0) }
        guard !testColumns.isEmpty else { throw CLIError("\(path): no test columns (every column other than subject, reference, mask and labels is a test)") }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        func resolve(_ p: String) -> String { p.hasPrefix("/") ? p : folder.appendingPathComponent(p).path }
        guard lines.count > 1 else { throw CLIError("\(path): no subject rows after the header") }
        return try lines.dropFirst().enumerated().map { n, line in
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == header.count else {
                throw CLIError("\(path): line \(n + 2) has \(cells.count) fields, the header \(header.count)")
            }
            for c in [si, ri] + testColumns where cells[c].isEmpty {
                throw CLIError("\(path): line \(n + 2): column '\(header[c])' is empty")
            }
            return SubjectList(subject: cells[si], reference: resolve(cells[ri]),
                               mask: mi.flatMap { cells[$0].isEmpty ? nil : resolve(cells[$0]) },
                               labels: li.flatMap { cells[$0].isEmpty ? nil : resolve(cells[$0]) },
                               tests: testColumns.map { (header[$0], resolve(cells[$0])) })
        }
    }
}
