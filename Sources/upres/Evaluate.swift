import ArgumentParser
import Foundation
import Imaging
import Torch

/// `upres evaluate --reference HR --test SR [--test OTHER ...]`: metrics side by side.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare test volumes with a reference: full-reference, perceptual, no-reference, clinical and segmentation metrics.",
        discussion: """
            Metrics follow scikit-image (PSNR; SSIM with Wang's settings: Gaussian window sigma 1.5, \
            K1 0.01, K2 0.03, and its map with --ssim-map; NRMSE normalized \
            by the reference's norm (nrmse), range (nrmse_min_max) or mean (nrmse_mean)) and piq (VIFp, HaarPSI, FSIM, VSI, BRISQUE, LPIPS and DISTS, per \
            slice; LPIPS and DISTS need ImageNet-trained weights: --vgg16 and --lpips-weights or \
            --dists-weights, as safetensors). With \
            --mask they are computed over the mask's voxels (SSIM: the mean of its map there); with \
            --labels, also per label of the label map. Tests on another grid are refused unless \
            --resample puts them on the reference's grid (linear).
            No-reference measures (brisque, which needs --brisque-model, and the clinical measures \
            of --tissues) are given for the reference too. --segmentation and --test-segmentation \
            compare segmentations of the reference and of each test (Dice, Jaccard, TPF, TNF, PPV, \
            volumes); over many subjects, with the Bland-Altman limits of the volume differences.
            Many subjects: --subjects LIST.csv, or --dataset manifest.json (from `upres simulate \
            --dataset`) with --test NAME=TEMPLATE, where the template names each test file with \
            {subject}, {setting}, {direction} and {lr}.
            """)

    @Option(name: .long, help: "The reference (ground-truth) volume.") var reference: String?
    @Option(name: .long, help: "A volume to evaluate; repeat for several, shown side by side. With --dataset: NAME=TEMPLATE.")
    var test: [String] = []
    @Option(name: .long, help: "A mask: metrics over its non-zero voxels.") var mask: String?
    @Option(name: .long, help: "A label map: metrics per label as well.") var labels: String?
    @Option(name: .long, parsing: .upToNextOption, help: "Tissue masks CSF GM WM (three files, in that order): the clinical measures.")
    var tissues: [String] = []
    @Option(name: .long, help: "A segmentation (label map) of the reference, to compare with --test-segmentation.")
    var segmentation: String?
    @Option(name: .customLong("test-segmentation"), help: "A segmentation of a test, by the same method; one per --test, in the same order.")
    var testSegmentation: [String] = []
    @Option(name: .long, parsing: .upToNextOption,
            help: "Metrics among \(Evaluate.allMetrics.joined(separator: ", ")) (default: psnr ssim ssim2d mae mse rmse nmse nrmse, plus clinical, segmentation and brisque when their inputs are given).")
    var metrics: [String] = []
    @Option(name: .customLong("slice-axis"), help: "The voxel axis across which 2-D metrics (ssim2d, the perceptual ones, brisque) take slices.")
    var sliceAxis: Int = 2
    @Option(name: .long, help: """
        Many subjects: a CSV with a header row; columns 'subject' and 'reference', optional 'mask', 'labels', \
        'csf', 'gm', 'wm', 'segmentation' and 'segmentation:TEST', and one column per test named by its header.
        """)
    var subjects: String?
    @Option(name: .long, help: "Many subjects: a dataset manifest.json from `upres simulate --dataset`; tests given as --test NAME=TEMPLATE.")
    var dataset: String?
    @Option(name: .long, help: "With --dataset: the split to evaluate (train, validation or test).")
    var split: String = "test"
    @Option(name: .customLong("brisque-model"), help: "A libsvm SVR model file for the BRISQUE score (e.g. the authors' allmodel).")
    var brisqueModel: String?
    @Option(name: .customLong("brisque-range"), help: "An svm-scale range file for the BRISQUE features (default: the authors' allrange).")
    var brisqueRange: String?
    @Option(name: .customLong("brisque-features"), help: "Write the 36 BRISQUE features of every slice of the reference and tests to this CSV.")
    var brisqueFeatures: String?
    @Option(name: .customLong("per-slice"), help: """
        Write the full-reference metrics of every slice across --slice-axis to this CSV (subject, test, region, \
        slice, metric, value; ssim as 2-D SSIM).
        """)
    var perSliceOutput: String?
    @Option(name: .customLong("ssim-map"), help: "Write the 3-D SSIM map of a test (full size, on the reference's grid) to this NIfTI file; one per --test, in the same order.")
    var ssimMap: [String] = []
    @Option(name: .long, help: "VGG16 backbone weights for lpips and dists: torchvision's vgg16 state dict as safetensors (features.0.weight ...).")
    var vgg16: String?
    @Option(name: .customLong("lpips-weights"), help: "LPIPS's linear layers (lin0 ... lin4, or lin0.model.1.weight ...) as safetensors; with --vgg16.")
    var lpipsWeights: String?
    @Option(name: .customLong("dists-weights"), help: "DISTS's alpha and beta as safetensors; with --vgg16.")
    var distsWeights: String?
    @Option(name: .long, help: "PSNR/SSIM data range: 'reference' (max - min), 'clipped' (p99 - p1) or a number.")
    var dataRange: String = "reference"
    @Flag(help: "Resample tests on another grid onto the reference's (linear) instead of refusing them.") var resample = false
    @Flag(help: "Overwrite the --brisque-features, --per-slice and --ssim-map files if they exist.") var force = false
    @Flag(help: "No progress bar for lpips and dists (VGG16 on every slice).") var quiet = false
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Print CSV.") var csv = false

    static let fullReference = ["psnr", "ssim", "ssim2d", "mae", "mse", "rmse", "nmse", "nrmse", "nrmse_min_max", "nrmse_mean"] + Perceptual.Metric.allCases.map(\.rawValue) + ["lpips", "dists"]
    static let allMetrics = fullReference + ["brisque", "clinical", "segmentation"]
    static let defaultMetrics = ["psnr", "ssim", "ssim2d", "mae", "mse", "rmse", "nmse", "nrmse"]
    static let clinicalRows = ["cjv", "efc", "fwhm_avg", "fwhm_i", "fwhm_j", "fwhm_k", "wm2max"]
        + ["csf", "gm", "wm"].flatMap { t in ["mean", "sd", "p5", "p95"].map { "\(t)_\($0)" } } + ["gm/wm", "csf/wm", "csf/(gm+wm)"]
    static let segmentationRows = ["dice", "jaccard", "tpf", "tnf", "ppv", "volume_ml", "volume_diff_ml", "volume_diff_pct"]

    func validate() throws {
        let many = [subjects != nil, dataset != nil].filter { $0 }.count
        if many > 1 { throw ValidationError("choose one of --subjects and --dataset") }
        if subjects != nil {
            guard reference == nil, test.isEmpty, mask == nil, labels == nil, tissues.isEmpty, segmentation == nil, testSegmentation.isEmpty, ssimMap.isEmpty else {
                throw ValidationError("--subjects takes the references, tests, masks, labels, tissues and segmentations from its CSV; drop --reference, --test, --mask, --labels, --tissues, --ssim-map and the segmentation options")
            }
        } else if dataset != nil {
            guard reference == nil, mask == nil, labels == nil, tissues.isEmpty, segmentation == nil, testSegmentation.isEmpty, ssimMap.isEmpty else {
                throw ValidationError("--dataset takes each subject's reference and mask from the manifest; give only --test NAME=TEMPLATE (no --ssim-map)")
            }
            guard DatasetManifest.Split(rawValue: split) != nil else { throw ValidationError("--split \(split): expected train, validation or test") }
            guard !test.isEmpty else { throw ValidationError("--dataset needs at least one --test NAME=TEMPLATE") }
        } else {
            guard reference != nil else { throw ValidationError("give --reference (or --subjects LIST.csv, or --dataset manifest.json)") }
            guard !test.isEmpty else { throw ValidationError("give at least one --test volume") }
            guard tissues.isEmpty || tissues.count == 3 else {
                throw ValidationError("--tissues takes three masks, CSF GM WM, in that order (got \(tissues.count))")
            }
            guard testSegmentation.isEmpty || (segmentation != nil && testSegmentation.count == test.count) else {
                throw ValidationError(segmentation == nil ? "--test-segmentation needs --segmentation (the reference's)"
                                      : "give one --test-segmentation per --test (\(test.count)), got \(testSegmentation.count)")
            }
            guard ssimMap.isEmpty || ssimMap.count == test.count else {
                throw ValidationError("give one --ssim-map per --test (\(test.count)), got \(ssimMap.count)")
            }
            if wanted.contains("clinical") && tissues.isEmpty { throw ValidationError("--metrics clinical needs --tissues CSF GM WM") }
            if wanted.contains("segmentation") && testSegmentation.isEmpty {
                throw ValidationError("--metrics segmentation needs --segmentation REF_SEG and a --test-segmentation per --test")
            }
        }
        guard (0...2).contains(sliceAxis) else { throw ValidationError("--slice-axis \(sliceAxis) must be 0, 1 or 2") }
        for m in metrics where !Self.allMetrics.contains(m) {
            throw ValidationError("--metrics \(m) is not one of \(Self.allMetrics.joined(separator: ", "))")
        }
        if wanted.contains("brisque") && brisqueModel == nil {
            throw ValidationError("--metrics brisque needs --brisque-model FILE: a libsvm SVR model of the 36 BRISQUE features (such as the authors' allmodel); upres ships none. --brisque-features writes the features without a model.")
        }
        for (metric, file, option) in [("lpips", lpipsWeights, "--lpips-weights"), ("dists", distsWeights, "--dists-weights")] {
            if wanted.contains(metric) && (vgg16 == nil || file == nil) {
                throw ValidationError("--metrics \(metric) needs ImageNet-trained weights, which upres does not ship: the VGG16 backbone (--vgg16 FILE, torchvision's vgg16 state dict) and \(metric.uppercased())'s own (\(option) FILE), as safetensors")
            }
            if file != nil && vgg16 == nil { throw ValidationError("\(option) needs --vgg16 FILE, the VGG16 backbone weights") }
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

    var wanted: [String] {
        guard metrics.isEmpty else { return metrics }
        var m = Self.defaultMetrics
        if !tissues.isEmpty || subjects != nil { m.append("clinical") }
        if segmentation != nil || subjects != nil { m.append("segmentation") }
        if brisqueModel != nil { m.append("brisque") }
        if vgg16 != nil && lpipsWeights != nil { m.append("lpips") }
        if vgg16 != nil && distsWeights != nil { m.append("dists") }
        return m
    }

    /// The result for one subject: rows (region, metric), columns (the reference, then the tests)
    /// and values[column][row], nil where a metric does not apply (full-reference ones for the
    /// reference).
    struct Result {
        struct Row: Hashable { var region: String; var metric: String }
        var rows: [Row] = []
        var columns: [String] = []
        var values: [[Double?]] = []
        /// Whether the reference column holds anything.
        var referenceUsed: Bool { values.first?.contains { $0 != nil } ?? false }
        /// The columns to show: the reference's only when it holds values.
        var shown: [Int] { referenceUsed ? Array(columns.indices) : Array(columns.indices.dropFirst()) }
    }

    /// BRISQUE features of every slice, for --brisque-features.
    struct FeatureRow { var subject: String; var column: String; var slice: Int; var features: [Double] }
    /// A metric of one slice, for --per-slice.
    struct SliceRow { var subject: String; var test: String; var region: String; var slice: Int; var metric: String; var value: Double }

    func run() throws {
        if let out = brisqueFeatures { try VolumeIO.checkOutput(out, force: force) }
        for out in ssimMap + [perSliceOutput].compactMap({ $0 }) { try VolumeIO.checkOutput(out, force: force) }
        if Set(ssimMap).count < ssimMap.count { throw CLIError("--ssim-map: the same file is named twice") }
        let model = try brisqueModel.map { path in
            do { return try SVRModel(contentsOf: URL(fileURLWithPath: path)) } catch { throw CLIError("--brisque-model: \(error)") }
        }
        let scaling = try brisqueRange.map { path in
            do { return try FeatureScaling(contentsOf: URL(fileURLWithPath: path)) } catch { throw CLIError("--brisque-range: \(error)") }
        } ?? .brisqueLIVE
        if let model, model.supportVectors[0].count != scaling.ranges.count {
            throw CLIError("\(brisqueRange ?? "the BRISQUE range"): \(scaling.ranges.count) feature ranges for a model of \(model.supportVectors[0].count) features")
        }
        let networks = try loadNetworks()
        let inputs: [EvaluationInputs]
        if let subjects {
            inputs = try SubjectList.read(subjects)
        } else if let dataset {
            inputs = try DatasetSubjects.read(dataset, split: DatasetManifest.Split(rawValue: split)!, templates: test)
        } else {
            inputs = [EvaluationInputs(subject: "", reference: reference!, mask: mask, labels: labels, tissues: tissues.isEmpty ? nil : tissues,
                                       segmentation: segmentation,
                                       tests: test.enumerated().map { i, p in .init(name: URL(fileURLWithPath: p).lastPathComponent, path: p,
                                                                                    segmentation: testSegmentation.isEmpty ? nil : testSegmentation[i]) })]
        }
        var features: [FeatureRow] = []
        var slices: [SliceRow] = []
        var maps: [PendingMap] = []
        let results = try inputs.map {
            try evaluate($0, model: model, scaling: scaling, networks: networks, features: &features, slices: &slices, maps: &maps)
        }
        for map in maps { try write(map) }
        if let out = brisqueFeatures { try writeFeatures(features, to: out) }
        if let out = perSliceOutput { try writeSlices(slices, to: out) }
        if subjects != nil || dataset != nil {
            try report(subjects: inputs, results)
        } else {
            report(single: inputs[0], results[0])
        }
    }

    /// One subject, one table.
    func report(single input: EvaluationInputs, _ result: Result) {
        let shown = result.shown
        if json {
            let objects = shown.compactMap { c -> String? in
                var regions: [String] = []
                var order: [String] = []
                var byRegion: [String: [String]] = [:]
                for (ri, row) in result.rows.enumerated() {
                    guard let v = result.values[c][ri] else { continue }
                    if byRegion[row.region] == nil { order.append(row.region) }
                    byRegion[row.region, default: []].append("\(JSONText.string(row.metric)): \(JSONText.number(v))")
                }
                for r in order { regions.append("\(JSONText.string(r)): {" + byRegion[r]!.joined(separator: ", ") + "}") }
                let path = c == 0 ? input.reference : input.tests[c - 1].path
                return "  {\"test\": \(JSONText.string(path)), \"role\": \(JSONText.string(c == 0 ? "reference" : "test")), \"reference\": \(JSONText.string(input.reference)), \"metrics\": {\(regions.joined(separator: ", "))}}"
            }
            print("[\n" + objects.joined(separator: ",\n") + "\n]")
            return
        }
        let names = shown.map { result.columns[$0] }
        if csv {
            print((["region", "metric"] + names.map(quote)).joined(separator: ","))
            for (ri, row) in result.rows.enumerated() {
                print(([row.region, row.metric] + shown.map { result.values[$0][ri].map { String($0) } ?? "" }).joined(separator: ","))
            }
            return
        }
        print("reference: \(input.reference)" + (input.mask.map { "   mask: \($0)" } ?? ""))
        printTable(rows: result.rows.enumerated().map { ri, row in (row.region, row.metric, shown.map { result.values[$0][ri].map(format) ?? "-" }) },
                   columns: names)
    }

    func printTable(rows: [(String, String, [String])], columns: [String]) {
        let width = Swift.max(12, columns.map(\.count).max() ?? 0, rows.flatMap { $0.2.map(\.count) }.max() ?? 0)
        let first = Swift.max(10, (rows.map(\.0.count).max() ?? 0) + 2)
        let second = Swift.max(9, (rows.map(\.1.count).max() ?? 0) + 2)
        func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: Swift.max(0, n - s.count)) }
        func right(_ s: String) -> String { String(repeating: " ", count: Swift.max(0, width - s.count)) + s }
        print(pad("region", first) + pad("metric", second) + columns.map(right).joined(separator: "  "))
        for (region, metric, cells) in rows { print(pad(region, first) + pad(metric, second) + cells.map(right).joined(separator: "  ")) }
    }

    /// One subject: reads its volumes, puts them on the reference's grid and computes every row.
    func evaluate(_ input: EvaluationInputs, model: SVRModel?, scaling: FeatureScaling, networks: Networks,
                  features: inout [FeatureRow], slices: inout [SliceRow], maps: inout [PendingMap]) throws -> Result {
        let reference = input.reference
        let refVolume = try VolumeIO.read(reference).volume
        try VolumeIO.requireScalar(refVolume, reference)
        guard refVolume.shape.count == 3 else { throw CLIError("\(reference): shape \(refVolume.shape); evaluation needs a 3-D volume") }
        let refData = try refVolume.data.to(.float64)
        try requireFinite(refData, reference)
        func onGrid(_ path: String, _ what: String, labelsOrMask: Bool = false) throws -> Tensor {
            var v = try VolumeIO.read(path).volume
            try VolumeIO.requireScalar(v, path)
            if v.shape != refVolume.shape || v.affine.maxDifference(refVolume.affine) > 1e-3 {
                guard resample || labelsOrMask else {
                    throw CLIError("\(path): the \(what)'s grid (\(v.shape)) differs from the reference's (\(refVolume.shape)); pass --resample to put it on the reference's grid")
                }
                v = try v.resampled(like: refVolume, interpolation: labelsOrMask ? .nearest : .linear)
            }
            let d = try v.data.to(.float64)
            if !labelsOrMask { try requireFinite(d, path) }
            return d
        }
        let wanted = self.wanted
        let maskData = try input.mask.map { try onGrid($0, "mask", labelsOrMask: true).gt(0) }
        if let maskData, try !maskData.any().itemBool() { throw CLIError("\(input.mask!): the mask is empty") }
        let labelData = try input.labels.map { try onGrid($0, "label map", labelsOrMask: true).round().to(.int64) }
        var regions: [(String, Tensor?)] = [(maskData == nil ? "image" : "mask", maskData)]
        if let labelData {
            for l in Set(try labelData.flatten().toArray(Int.self)).filter({ $0 != 0 }).sorted() {
                regions.append(("label \(l)", try labelData.eq(l)))
            }
        }
        let subject = input.subject.isEmpty ? "" : "\(input.subject): "
        var result = Result()
        result.columns = ["reference"] + input.tests.map(\.name)
        let full = wanted.filter { Self.fullReference.contains($0) }
        result.rows = regions.flatMap { r in full.map { Result.Row(region: r.0, metric: $0) } }
        var columns: [[Double?]] = [Array(repeating: nil, count: result.rows.count)]
        var images: [Tensor] = [refData]
        for t in input.tests {
            let data = try onGrid(t.path, "test")
            images.append(data)
            if !ssimMap.isEmpty {
                maps.append(PendingMap(volume: try ssimMapVolume(data, refVolume, refData, test: t.path), test: t.path, output: ssimMap[images.count - 2]))
            }
            do {
                var values: [Double?] = []
                for (name, region) in regions {
                    for m in full {
                        // With --per-slice, every metric per slice too (ssim as 2-D SSIM); the slice
                        // metrics' whole-volume value is the mean of those.
                        let recorded = perSliceOutput != nil && !(m == "ssim" && full.contains("ssim2d"))
                        guard recorded || Self.sliceMetrics.contains(m) else {
                            values.append(try compute(m, data, refData, region, networks))
                            continue
                        }
                        let per = try perSlice(m, data, refData, region, networks)
                        if recorded {
                            slices += per.map { SliceRow(subject: input.subject, test: t.name, region: name, slice: $0.slice,
                                                         metric: m == "ssim" ? "ssim2d" : m, value: $0.value) }
                        }
                        values.append(Self.sliceMetrics.contains(m) ? mean(per) : try compute(m, data, refData, region, networks))
                    }
                }
                columns.append(values)
            } catch let e as MetricError {
                throw CLIError("\(subject)\(t.path) against \(reference): \(e)")
            }
        }
        // No-reference: BRISQUE over the slices of the image or mask, for the reference too.
        if wanted.contains("brisque") || brisqueFeatures != nil {
            let region = regions[0]
            for (c, image) in images.enumerated() {
                let path = c == 0 ? reference : input.tests[c - 1].path
                let (slices, perSlice) = try brisque(image, refData, region.1, path: path)
                for (s, f) in zip(slices, perSlice) {
                    features.append(FeatureRow(subject: input.subject, column: result.columns[c], slice: s, features: f))
                }
                if let model, wanted.contains("brisque") {
                    let scores = try model.predict(scaling.apply(perSlice))
                    columns[c].append(scores.isEmpty ? .nan : scores.reduce(0, +) / Double(scores.count))
                }
            }
            if wanted.contains("brisque") { result.rows.append(.init(region: region.0, metric: "brisque")) }
        }
        if wanted.contains("clinical") {
            guard let tissues = input.tissues else {
                throw CLIError("\(subject)the clinical measures need tissue masks (--tissues CSF GM WM, or csf, gm and wm columns)")
            }
            let masks = try tissues.map { try onGrid($0, "tissue mask", labelsOrMask: true) }
            for (c, image) in images.enumerated() {
                let q: ClinicalQuality
                do {
                    q = try ClinicalQuality.compute(image: image, csf: masks[0], gm: masks[1], wm: masks[2], spacing: refVolume.spacing)
                } catch let e as MetricError {
                    throw CLIError("\(subject)\(c == 0 ? reference : input.tests[c - 1].path) with tissues \(tissues.joined(separator: ", ")): \(e)")
                }
                let finite = q.fwhm.filter(\.isFinite)
                var v = [q.cjv, q.efc, finite.isEmpty ? .nan : finite.reduce(0, +) / Double(finite.count)] + q.fwhm + [q.wm2max]
                for t in [q.csf, q.gm, q.wm] { v += [t.mean, t.sd, t.p5, t.p95] }
                columns[c] += v + [q.gmOverWM, q.csfOverWM, q.csfOverGMWM]
            }
            result.rows += Self.clinicalRows.map { .init(region: "tissues", metric: $0) }
        }
        if wanted.contains("segmentation") {
            guard let seg = input.segmentation, input.tests.allSatisfy({ $0.segmentation != nil }) else {
                throw CLIError("\(subject)segmentation agreement needs the reference's segmentation and one per test (--segmentation and --test-segmentation, or segmentation and segmentation:TEST columns)")
            }
            let refSeg = try onGrid(seg, "segmentation", labelsOrMask: true)
            let testSegs = try input.tests.map { try onGrid($0.segmentation!, "segmentation", labelsOrMask: true) }
            let all = try Tensor.cat(([refSeg] + testSegs).map { try $0.round().to(.int64).flatten() })
            let found = Set(try all.toArray(Int.self)).filter { $0 != 0 }.sorted()
            let voxelML = refVolume.spacing.prefix(3).reduce(1, *) / 1000
            columns[0] += try found.flatMap { l -> [Double?] in
                let ml = Double(try refSeg.round().eq(Double(l)).sum().itemInt()) * voxelML
                return Self.segmentationRows.map { $0 == "volume_ml" ? ml : nil }
            }
            for (i, s) in testSegs.enumerated() {
                let agreement = try SegmentationAgreement.compute(test: s, reference: refSeg, labels: found, voxelVolumeML: voxelML)
                columns[i + 1] += agreement.flatMap { a -> [Double?] in
                    [a.dice, a.jaccard, a.sensitivity, a.specificity, a.precision, a.testVolumeML, a.volumeDifferenceML, a.volumeDifferencePercent]
                }
            }
            result.rows += found.flatMap { l in Self.segmentationRows.map { Result.Row(region: "seg \(l)", metric: $0) } }
        }
        result.values = columns
        return result
    }

    /// --ssim-map: the full-size 3-D SSIM map (scikit-image's `full=True`) of a test against the
    /// reference, float32 on the reference's grid, with the data range of the ssim row.
    /// An SSIM map to write once every metric has been computed, so that a failing run leaves none.
    struct PendingMap { var volume: Volume; var test: String; var output: String }

    func ssimMapVolume(_ test: Tensor, _ refVolume: Volume, _ refData: Tensor, test path: String) throws -> Volume {
        let map: Tensor
        do {
            map = try SSIM().compare(test, refData, dims: 3, dataRange: range, wantMap: true).map!.to(.float32)
        } catch let e as MetricError {
            throw CLIError("\(path) against \(refVolume.metadata.sourcePath ?? "the reference"): \(e)")
        }
        var metadata = refVolume.metadata
        metadata.description = "upres SSIM map"
        metadata.intentCode = 0
        metadata.intentName = ""
        metadata.calMin = 0
        metadata.calMax = 1
        return Volume(data: map, affine: refVolume.affine, metadata: metadata)
    }

    func write(_ map: PendingMap) throws {
        do {
            try NIfTI.write(map.volume, to: URL(fileURLWithPath: map.output), options: NIfTIWriteOptions(overwrite: force))
        } catch {
            throw CLIError("\(map.output): cannot write the SSIM map (\(error))")
        }
        Console.err("wrote \(map.output): SSIM map of \(URL(fileURLWithPath: map.test).lastPathComponent)")
    }

    func requireFinite(_ d: Tensor, _ path: String) throws {
        let bad = try (d - d).ne(0).sum().itemInt()
        guard bad == 0 else { throw CLIError("\(path): \(bad) voxels are NaN or infinite; metrics need finite values") }
    }

    /// BRISQUE features of the slices across --slice-axis that the region touches and where the
    /// reference varies, each scaled by the reference's range to [0, 1] (clipped).
    func brisque(_ image: Tensor, _ r: Tensor, _ region: Tensor?, path: String) throws -> ([Int], [[Double]]) {
        guard let (keep, xs) = try scaledSlices([image], r, region).map({ ($0.0, $0.1[0]) }) else { return ([], []) }
        var out: [[Double]] = []
        for start in stride(from: 0, to: keep.count, by: 16) {
            let n = Swift.min(16, keep.count - start)
            do {
                out += try BRISQUE.features(xs.narrow(0, start: start, length: n).clamp(min: .double(0), max: .double(1)))
            } catch let e as MetricError {
                throw CLIError("\(path): \(e)")
            }
        }
        return (keep, out)
    }

    /// The slices across --slice-axis where the reference varies (and which the region touches),
    /// and each image's slices there moved first and scaled by the reference's range in the
    /// region: (v - min) / range (piq's [0, 1] convention). Nil when no slice qualifies.
    func scaledSlices(_ images: [Tensor], _ r: Tensor, _ region: Tensor?) throws -> ([Int], [Tensor])? {
        let inRegion = try region.map { try r.maskedSelect($0) } ?? r
        let lo = try inRegion.min().item()
        let rr = try range.resolve(inRegion)
        let a = sliceAxis
        let keep = try qualifyingSlices(r, region)
        guard !keep.isEmpty else { return nil }
        let index = try Tensor(keep.map(Int64.init))
        return (keep, try images.map { try (($0.indexSelect(a, index) - lo) / rr).movedAxisFirst(a) })
    }

    /// --brisque-features: subject, volume, slice and the 36 named features, written atomically.
    func writeFeatures(_ rows: [FeatureRow], to path: String) throws {
        let stats = ["mscn_shape", "mscn_variance"] + ["horizontal", "vertical", "diagonal", "antidiagonal"].flatMap { d in
            ["shape", "mean", "left_variance", "right_variance"].map { "\(d)_\($0)" }
        }
        let names = ["full", "half"].flatMap { s in stats.map { "\(s)_\($0)" } }
        var text = (["subject", "volume", "slice_\(sliceAxis)"] + names).joined(separator: ",") + "\n"
        for r in rows {
            text += ([quote(r.subject), quote(r.column), String(r.slice)] + r.features.map { String($0) }).joined(separator: ",") + "\n"
        }
        try writeText(text, to: path, what: "BRISQUE features of \(rows.count) slices")
    }

    /// Writes a text output atomically (a temporary file, then a rename) and says so on stderr.
    func writeText(_ text: String, to path: String, what: String) throws {
        do { try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw CLIError("\(path): cannot write the \(what) (\(error.localizedDescription))")
        }
        Console.err("wrote \(path): \(what)")
    }

    /// --per-slice: one row per test, region, slice and metric, written atomically.
    func writeSlices(_ rows: [SliceRow], to path: String) throws {
        var text = "subject,test,region,slice_\(sliceAxis),metric,value\n"
        for r in rows {
            text += [quote(r.subject), quote(r.test), r.region, String(r.slice), r.metric, String(r.value)].joined(separator: ",") + "\n"
        }
        try writeText(text, to: path, what: "\(rows.count) per-slice values")
    }

    /// Many subjects: per-subject tables, then mean +- SD over subjects for each column and row,
    /// and the Bland-Altman agreement of the segmented volumes.
    func report(subjects inputs: [EvaluationInputs], _ results: [Result]) throws {
        var rowOrder: [Result.Row] = []
        var columnOrder: [String] = []
        var table: [String: [Result.Row: [Double]]] = [:]  // column -> row -> values over subjects
        var perSubject: [(subject: String, column: String, row: Result.Row, value: Double)] = []
        for (input, result) in zip(inputs, results) {
            for r in result.rows where !rowOrder.contains(r) { rowOrder.append(r) }
            for c in result.shown where !columnOrder.contains(result.columns[c]) { columnOrder.append(result.columns[c]) }
            for c in result.shown {
                for (ri, row) in result.rows.enumerated() {
                    guard let v = result.values[c][ri] else { continue }
                    table[result.columns[c], default: [:]][row, default: []].append(v)
                    perSubject.append((input.subject, result.columns[c], row, v))
                }
            }
        }
        func summary(_ v: [Double]) -> (mean: Double, sd: Double, n: Int) {
            let finite = v.filter(\.isFinite)
            guard !finite.isEmpty else { return (.nan, .nan, 0) }
            let m = finite.reduce(0, +) / Double(finite.count)
            let sd = finite.count > 1 ? (finite.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(finite.count - 1)).squareRoot() : .nan
            return (m, sd, finite.count)
        }
        // Bland-Altman of the volumes per test and segmented label, over the subjects with both.
        var agreement: [(test: String, region: String, ba: BlandAltman)] = []
        for test in columnOrder where test != "reference" {
            for row in rowOrder where row.metric == "volume_ml" {
                var pairs: [(Double, Double)] = []
                for result in results {
                    guard let ri = result.rows.firstIndex(of: row), let ci = result.columns.firstIndex(of: test),
                          let t = result.values[ci][ri], let r = result.values[0][ri] else { continue }
                    pairs.append((t, r))
                }
                if pairs.count >= 2 {
                    agreement.append((test, row.region, try BlandAltman.compute(test: pairs.map(\.0), reference: pairs.map(\.1))))
                }
            }
        }
        if json {
            let subjectsJSON = perSubject.map {
                "    {\"subject\": \(JSONText.string($0.subject)), \"test\": \(JSONText.string($0.column)), \"region\": \(JSONText.string($0.row.region)), \"metric\": \(JSONText.string($0.row.metric)), \"value\": \(JSONText.number($0.value))}"
            }
            var summaries: [String] = []
            for c in columnOrder { for r in rowOrder {
                guard let v = table[c]?[r] else { continue }
                let s = summary(v)
                summaries.append("    {\"test\": \(JSONText.string(c)), \"region\": \(JSONText.string(r.region)), \"metric\": \(JSONText.string(r.metric)), \"mean\": \(JSONText.number(s.mean)), \"sd\": \(JSONText.number(s.sd)), \"n\": \(s.n)}")
            } }
            let ba = agreement.map {
                "    {\"test\": \(JSONText.string($0.test)), \"region\": \(JSONText.string($0.region)), \"mean_difference_ml\": \(JSONText.number($0.ba.meanDifference)), \"sd_difference_ml\": \(JSONText.number($0.ba.sdDifference)), \"lower_limit_ml\": \(JSONText.number($0.ba.lowerLimit)), \"upper_limit_ml\": \(JSONText.number($0.ba.upperLimit)), \"n\": \($0.ba.count)}"
            }
            print("{\n  \"subjects\": [\n" + subjectsJSON.joined(separator: ",\n") + "\n  ],\n  \"summary\": [\n" + summaries.joined(separator: ",\n")
                  + "\n  ],\n  \"bland_altman\": [\n" + ba.joined(separator: ",\n") + "\n  ]\n}")
            return
        }
        if csv {
            print("subject,test,region,metric,value")
            for r in perSubject { print([quote(r.subject), quote(r.column), r.row.region, r.row.metric, String(r.value)].joined(separator: ",")) }
            for c in columnOrder { for r in rowOrder {
                guard let v = table[c]?[r] else { continue }
                let s = summary(v)
                print([quote("mean"), quote(c), r.region, r.metric, String(s.mean)].joined(separator: ","))
                print([quote("sd"), quote(c), r.region, r.metric, String(s.sd)].joined(separator: ","))
            } }
            for a in agreement {
                for (name, v) in [("ba_mean_difference", a.ba.meanDifference), ("ba_lower_limit", a.ba.lowerLimit), ("ba_upper_limit", a.ba.upperLimit)] {
                    print([quote(name), quote(a.test), a.region, "volume_ml", String(v)].joined(separator: ","))
                }
            }
            return
        }
        for (input, result) in zip(inputs, results) {
            print("subject \(input.subject)")
            let shown = result.shown
            printTable(rows: result.rows.enumerated().map { ri, row in (row.region, row.metric, shown.map { result.values[$0][ri].map(format) ?? "-" }) },
                       columns: shown.map { result.columns[$0] })
            print("")
        }
        let perPair = dataset != nil && test.contains { t in DatasetSubjects.pairFields.contains { t.contains($0) } }
        print("mean +- SD over \(inputs.count) \(perPair ? "simulated pairs" : "subjects")")
        printTable(rows: rowOrder.map { r in
            (r.region, r.metric, columnOrder.map { c in table[c]?[r].map { let s = summary($0); return "\(format(s.mean)) +- \(format(s.sd))" } ?? "-" })
        }, columns: columnOrder)
        if !agreement.isEmpty {
            print("\nBland-Altman agreement of the segmented volumes (test - reference, ml): mean [95% limits]")
            printTable(rows: agreement.map { ($0.region, $0.test, ["\(format($0.ba.meanDifference)) [\(format($0.ba.lowerLimit)), \(format($0.ba.upperLimit))]"]) },
                       columns: ["difference"])
        }
    }

    /// The deep-feature metrics' networks, loaded once when their weights are given.
    struct Networks { var lpips: LPIPS?; var dists: DISTS? }

    func loadNetworks() throws -> Networks {
        guard let vgg16, lpipsWeights != nil || distsWeights != nil else { return Networks() }
        do {
            let backbone = try VGGFeatures(contentsOf: URL(fileURLWithPath: vgg16))
            return Networks(lpips: try lpipsWeights.map { try LPIPS(backbone: backbone, contentsOf: URL(fileURLWithPath: $0)) },
                            dists: try distsWeights.map { try DISTS(backbone: backbone, contentsOf: URL(fileURLWithPath: $0)) })
        } catch let e as MetricError {
            throw CLIError("\(e)")
        }
    }

    /// The metrics computed on 2-D slices across --slice-axis and averaged over them.
    static let sliceMetrics = Set(["ssim2d", "lpips", "dists"] + Perceptual.Metric.allCases.map(\.rawValue))

    /// A whole-volume metric over the region (for the slice metrics, the mean of `perSlice`).
    func compute(_ metric: String, _ t: Tensor, _ r: Tensor, _ region: Tensor?, _ networks: Networks) throws -> Double {
        if Self.sliceMetrics.contains(metric) { return mean(try perSlice(metric, t, r, region, networks)) }
        if metric == "ssim" { return try SSIM().compare(t, r, dims: 3, dataRange: range, mask: region).mean }
        return try scalar(metric, t, r, region, dataRange: range)
    }

    /// PSNR, MAE, MSE, RMSE, NMSE and the NRMSEs over the region's voxels.
    func scalar(_ metric: String, _ t: Tensor, _ r: Tensor, _ region: Tensor?, dataRange: DataRange) throws -> Double {
        switch metric {
        case "psnr": return try FullReference.psnr(t, r, mask: region, dataRange: dataRange)
        case "mae": return try FullReference.mae(t, r, mask: region)
        case "mse": return try FullReference.mse(t, r, mask: region)
        case "rmse": return try FullReference.rmse(t, r, mask: region)
        case "nmse": return try FullReference.nmse(t, r, mask: region)
        case "nrmse_min_max": return try FullReference.nrmse(t, r, mask: region, normalization: .minMax)
        case "nrmse_mean": return try FullReference.nrmse(t, r, mask: region, normalization: .mean)
        default: return try FullReference.nrmse(t, r, mask: region, normalization: .euclidean)
        }
    }

    func mean(_ values: [(slice: Int, value: Double)]) -> Double {
        values.isEmpty ? .nan : values.map(\.value).reduce(0, +) / Double(values.count)
    }

    /// A full-reference metric on each slice across --slice-axis: (slice index, value).
    /// - ssim2d (and ssim): every slice the region touches, each over its whole cropped slice, with
    ///   the data range of the volume (in the region).
    /// - the perceptual and deep-feature metrics: the slices the region touches where the reference
    ///   is not constant, scaled to [0, 1] by the reference's range in the region (piq's convention).
    /// - the others: the same slices, over the region's voxels in each, PSNR with the volume's data
    ///   range; NaN for a slice where a normalization is undefined (a constant reference there).
    func perSlice(_ metric: String, _ t: Tensor, _ r: Tensor, _ region: Tensor?, _ networks: Networks) throws -> [(slice: Int, value: Double)] {
        let a = sliceAxis
        switch metric {
        case "ssim2d", "ssim":
            let rr = try range.resolve(region.map { try r.maskedSelect($0) } ?? r)
            let s = try SSIM().perSlice(t, r, axis: a, dataRange: .value(rr))
            let touched = try region.map { try $0.to(.int64).sum(dims: (0..<3).filter { $0 != a }).gt(0).toArray(Bool.self) }
            return s.enumerated().filter { touched?[$0.offset] ?? true }.map { ($0.offset, $0.element) }
        case let name where Perceptual.Metric(rawValue: name) != nil:
            let m = Perceptual.Metric(rawValue: name)!
            return try overSlices(t, r, region, batch: 8, progress: nil) { try Perceptual.compute(m, $0, $1) }
        case "lpips":
            return try overSlices(t, r, region, batch: 4, progress: metric) { try networks.lpips!.compute($0, $1) }
        case "dists":
            return try overSlices(t, r, region, batch: 4, progress: metric) { try networks.dists!.compute($0, $1) }
        default:
            let rr = try range.resolve(region.map { try r.maskedSelect($0) } ?? r)
            return try qualifyingSlices(r, region).map { s in
                let ts = try t.select(a, s), rs = try r.select(a, s), ms = try region?.select(a, s)
                do { return (s, try scalar(metric, ts, rs, ms, dataRange: .value(rr))) } catch is MetricError { return (s, .nan) }
            }
        }
    }

    /// The slices across --slice-axis where the reference varies and which the region touches.
    func qualifyingSlices(_ r: Tensor, _ region: Tensor?) throws -> [Int] {
        let others = (0..<3).filter { $0 != sliceAxis }
        let varies = try r.max(dims: others).gt(r.min(dims: others)).toArray(Bool.self)
        let touched = try region.map { try $0.to(.int64).sum(dims: others).gt(0).toArray(Bool.self) } ?? varies
        return (0..<r.size(sliceAxis)).filter { varies[$0] && touched[$0] }
    }

    /// A 2-D metric of scaled slices (`scaledSlices`), `batch` slices at a time; with a progress bar
    /// when `progress` names the metric (those that run VGG16 on every slice).
    func overSlices(_ t: Tensor, _ r: Tensor, _ region: Tensor?, batch: Int, progress: String?,
                    _ metric: (Tensor, Tensor) throws -> [Double]) throws -> [(slice: Int, value: Double)] {
        guard let (keep, s) = try scaledSlices([t, r], r, region) else { return [] }
        var scores: [Double] = []
        let bar = progress.map { ProgressBar(label: $0, quiet: quiet) }
        for start in stride(from: 0, to: keep.count, by: batch) {
            let n = Swift.min(batch, keep.count - start)
            scores += try metric(s[0].narrow(0, start: start, length: n), s[1].narrow(0, start: start, length: n))
            bar?.update(start + n, keep.count)
        }
        bar?.finish()
        return Array(zip(keep, scores))
    }

    func format(_ x: Double) -> String { x.isFinite ? String(format: Swift.abs(x) >= 100 ? "%.2f" : "%.4f", x) : (x.isNaN ? "nan" : "inf") }
    /// A CSV field (RFC 4180 quoting).
    func quote(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
}
