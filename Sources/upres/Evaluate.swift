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

    @Option(name: .long, help: "The reference (ground-truth) volume.") var reference: String
    @Option(name: .long, help: "A volume to evaluate; repeat for several, shown side by side.") var test: [String] = []
    @Option(name: .long, help: "A mask: metrics over its non-zero voxels.") var mask: String?
    @Option(name: .long, help: "A label map: metrics per label as well.") var labels: String?
    @Option(name: .long, parsing: .upToNextOption,
            help: "Metrics among psnr, ssim, ssim2d, mae, mse, rmse, nmse, nrmse (default: all).")
    var metrics: [String] = []
    @Option(name: .long, help: "PSNR/SSIM data range: 'reference' (max - min), 'clipped' (p99 - p1) or a number.")
    var dataRange: String = "reference"
    @Flag(help: "Resample tests on another grid onto the reference's (linear) instead of refusing them.") var resample = false
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Print CSV.") var csv = false

    static let allMetrics = ["psnr", "ssim", "ssim2d", "mae", "mse", "rmse", "nmse", "nrmse"]

    func validate() throws {
        guard !test.isEmpty else { throw ValidationError("give at least one --test volume") }
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

    func run() throws {
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
            return try v.data.to(.float64)
        }
        let maskData = try mask.map { try onGrid($0, "mask", labelsOrMask: true).gt(0) }
        if let maskData, try !maskData.any().itemBool() { throw CLIError("\(mask!): the mask is empty") }
        let labelData = try labels.map { try onGrid($0, "label map", labelsOrMask: true).round().to(.int64) }
        let wanted = metrics.isEmpty ? Self.allMetrics : metrics
        var regions: [(String, Tensor?)] = [(maskData == nil ? "image" : "mask", maskData)]
        if let labelData {
            for l in Set(try labelData.flatten().toArray(Int.self)).filter({ $0 != 0 }).sorted() {
                regions.append(("label \(l)", try labelData.eq(l)))
            }
        }
        var values: [[[Double]]] = []  // test -> region -> metric
        for path in test {
            let t = try onGrid(path, "test")
            values.append(try regions.map { _, region in try wanted.map { try compute($0, t, refData, region) } })
        }
        let columns = test.map { URL(fileURLWithPath: $0).lastPathComponent }
        if json {
            let objects = zip(test, values).map { path, perRegion -> String in
                let r = zip(regions, perRegion).map { region, vals in
                    "\(JSONText.string(region.0)): {" + zip(wanted, vals).map { "\(JSONText.string($0)): \(JSONText.number($1))" }.joined(separator: ", ") + "}"
                }
                return "  {\"test\": \(JSONText.string(path)), \"reference\": \(JSONText.string(reference)), \"metrics\": {\(r.joined(separator: ", "))}}"
            }
            print("[\n" + objects.joined(separator: ",\n") + "\n]")
            return
        }
        if csv {
            print((["region", "metric"] + columns.map(quote)).joined(separator: ","))
            for (ri, region) in regions.enumerated() {
                for (mi, metric) in wanted.enumerated() {
                    print(([region.0, metric] + values.map { String($0[ri][mi]) }).joined(separator: ","))
                }
            }
            return
        }
        let width = Swift.max(12, columns.map(\.count).max() ?? 0)
        func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: Swift.max(0, n - s.count)) }
        func right(_ s: String) -> String { String(repeating: " ", count: Swift.max(0, width - s.count)) + s }
        print("reference: \(reference)" + (mask.map { "   mask: \($0)" } ?? ""))
        print(pad("region", 10) + pad("metric", 8) + columns.map(right).joined(separator: "  "))
        for (ri, region) in regions.enumerated() {
            for (mi, metric) in wanted.enumerated() {
                print(pad(region.0, 10) + pad(metric, 8) + values.map { right(format($0[ri][mi])) }.joined(separator: "  "))
            }
        }
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
