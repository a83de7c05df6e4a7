import ArgumentParser
import Foundation
import Imaging

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

    static let allMetrics = Metric.allCases.map(\.rawValue)

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
            if wanted.contains(.clinical) && tissues.isEmpty { throw ValidationError("--metrics clinical needs --tissues CSF GM WM") }
            if wanted.contains(.segmentation) && testSegmentation.isEmpty {
                throw ValidationError("--metrics segmentation needs --segmentation REF_SEG and a --test-segmentation per --test")
            }
        }
        guard (0...2).contains(sliceAxis) else { throw ValidationError("--slice-axis \(sliceAxis) must be 0, 1 or 2") }
        for m in metrics where Metric(rawValue: m) == nil {
            throw ValidationError("--metrics \(m) is not one of \(Self.allMetrics.joined(separator: ", "))")
        }
        if wanted.contains(.brisque) && brisqueModel == nil {
            throw ValidationError("--metrics brisque needs --brisque-model FILE: a libsvm SVR model of the 36 BRISQUE features (such as the authors' allmodel); upres ships none. --brisque-features writes the features without a model.")
        }
        for (metric, file, option) in [(Metric.lpips, lpipsWeights, "--lpips-weights"), (.dists, distsWeights, "--dists-weights")] {
            if wanted.contains(metric) && (vgg16 == nil || file == nil) {
                throw ValidationError("--metrics \(metric.rawValue) needs ImageNet-trained weights, which upres does not ship: the VGG16 backbone (--vgg16 FILE, torchvision's vgg16 state dict) and \(metric.rawValue.uppercased())'s own (\(option) FILE), as safetensors")
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

    /// The metrics asked for, or the defaults for the inputs given.
    var wanted: [Metric] {
        guard metrics.isEmpty else { return metrics.compactMap(Metric.init(rawValue:)) }
        return Metric.defaults(tissues: !tissues.isEmpty || subjects != nil, segmentations: segmentation != nil || subjects != nil,
                               brisqueModel: brisqueModel != nil, lpips: vgg16 != nil && lpipsWeights != nil,
                               dists: vgg16 != nil && distsWeights != nil)
    }

    var options: Evaluation.Options {
        Evaluation.Options(metrics: wanted, sliceAxis: sliceAxis, dataRange: range, resample: resample, perSlice: perSliceOutput != nil,
                           brisqueFeatures: brisqueFeatures != nil, ssimMaps: !ssimMap.isEmpty)
    }

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
        var networks = try loadNetworks()
        networks.brisque = model
        networks.brisqueScaling = scaling
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
        let bars = ProgressBars(quiet: quiet)
        let evaluation = Evaluation(options: options, networks: networks) { metric, done, total in bars.update(metric, done, total) }
        var subjects: [Evaluation.Subject] = []
        for input in inputs {
            let volumes = try load(input)
            do { subjects.append(try evaluation.evaluate(volumes)) } catch let e as EvaluationError { throw message(e, input, volumes) }
        }
        // The SSIM maps are written once every metric has been computed, so that a failing run leaves none.
        for (i, map) in subjects.flatMap(\.ssimMaps).enumerated() { try write(map, test: inputs[0].tests[i].path, to: ssimMap[i]) }
        if let out = brisqueFeatures { try writeFeatures(subjects.flatMap(\.features), to: out) }
        if let out = perSliceOutput { try writeSlices(subjects.flatMap(\.slices), to: out) }
        if self.subjects != nil || dataset != nil {
            try report(subjects: inputs, subjects.map(\.table))
        } else {
            report(single: inputs[0], subjects[0].table)
        }
    }

    /// One subject's volumes, read from their files; tissues and segmentations only when a metric needs them.
    func load(_ input: EvaluationInputs) throws -> Evaluation.Inputs {
        func read(_ path: String) throws -> Volume {
            let v = try VolumeIO.read(path).volume
            try VolumeIO.requireScalar(v, path)
            return v
        }
        let wanted = self.wanted
        return Evaluation.Inputs(
            subject: input.subject, reference: try read(input.reference), mask: try input.mask.map(read), labels: try input.labels.map(read),
            tissues: wanted.contains(.clinical) ? try input.tissues?.map(read) : nil,
            segmentation: wanted.contains(.segmentation) ? try input.segmentation.map(read) : nil,
            tests: try input.tests.map { t in
                .init(name: t.name, volume: try read(t.path), segmentation: wanted.contains(.segmentation) ? try t.segmentation.map(read) : nil)
            })
    }

    /// The library's error with the files it concerns named.
    func message(_ error: EvaluationError, _ input: EvaluationInputs, _ volumes: Evaluation.Inputs) -> CLIError {
        let subject = input.subject.isEmpty ? "" : "\(input.subject): "
        func path(_ i: EvaluationError.Input) -> String {
            switch i {
            case .reference: input.reference
            case .mask: input.mask ?? "the mask"
            case .labels: input.labels ?? "the label map"
            case .tissue(let k): input.tissues?[k] ?? "the tissue mask"
            case .segmentation: input.segmentation ?? "the segmentation"
            case .test(let k): input.tests[k].path
            case .testSegmentation(let k): input.tests[k].segmentation ?? "the test's segmentation"
            }
        }
        switch error {
        case .notThreeD(let shape):
            return CLIError("\(input.reference): shape \(shape); evaluation needs a 3-D volume")
        case let .gridMismatch(i, shape, referenceShape):
            return CLIError("\(path(i)): the \(i.role)'s grid (\(shape)) differs from the reference's (\(referenceShape)); pass --resample to put it on the reference's grid")
        case let .notFinite(i, count):
            return CLIError("\(path(i)): \(count) voxels are NaN or infinite; metrics need finite values")
        case .emptyMask:
            return CLIError("\(path(.mask)): the mask is empty")
        case let .metric(i, e):
            return CLIError("\(subject)\(path(i)) against \(input.reference): \(e)")
        case let .clinical(i, e):
            return CLIError("\(subject)\(path(i)) with tissues \((input.tissues ?? []).joined(separator: ", ")): \(e)")
        case let .brisque(i, e):
            return CLIError("\(path(i)): \(e)")
        case let .ssimMap(i, e):
            return CLIError("\(path(i)) against \(volumes.reference.metadata.sourcePath ?? "the reference"): \(e)")
        case .missingTissues:
            return CLIError("\(subject)the clinical measures need tissue masks (--tissues CSF GM WM, or csf, gm and wm columns)")
        case .missingSegmentations:
            return CLIError("\(subject)segmentation agreement needs the reference's segmentation and one per test (--segmentation and --test-segmentation, or segmentation and segmentation:TEST columns)")
        case .missingNetwork, .invalidOption:
            return CLIError("\(error)")
        }
    }

    /// One subject, one table.
    func report(single input: EvaluationInputs, _ result: Evaluation.Table) {
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

    /// --ssim-map: writes a test's SSIM map (see `Evaluation.Options.ssimMaps`).
    func write(_ map: Volume, test: String, to output: String) throws {
        do {
            try NIfTI.write(map, to: URL(fileURLWithPath: output), options: NIfTIWriteOptions(overwrite: force))
        } catch {
            throw CLIError("\(output): cannot write the SSIM map (\(error))")
        }
        Console.err("wrote \(output): SSIM map of \(URL(fileURLWithPath: test).lastPathComponent)")
    }

    /// --brisque-features: subject, volume, slice and the 36 named features, written atomically.
    func writeFeatures(_ rows: [Evaluation.SliceFeatures], to path: String) throws {
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
    func writeSlices(_ rows: [Evaluation.SliceValue], to path: String) throws {
        var text = "subject,test,region,slice_\(sliceAxis),metric,value\n"
        for r in rows {
            text += [quote(r.subject), quote(r.test), r.region, String(r.slice), r.metric, String(r.value)].joined(separator: ",") + "\n"
        }
        try writeText(text, to: path, what: "\(rows.count) per-slice values")
    }

    /// Many subjects: per-subject tables, then mean +- SD over subjects for each column and row,
    /// and the Bland-Altman agreement of the segmented volumes.
    func report(subjects inputs: [EvaluationInputs], _ results: [Evaluation.Table]) throws {
        let summary = try Evaluation.summarize(zip(inputs, results).map { ($0.subject, $1) })
        if json {
            let subjectsJSON = summary.entries.map {
                "    {\"subject\": \(JSONText.string($0.subject)), \"test\": \(JSONText.string($0.test)), \"region\": \(JSONText.string($0.region)), \"metric\": \(JSONText.string($0.metric)), \"value\": \(JSONText.number($0.value))}"
            }
            let summaries = summary.statistics.map { s in
                "    {\"test\": \(JSONText.string(s.test)), \"region\": \(JSONText.string(s.region)), \"metric\": \(JSONText.string(s.metric)), \"mean\": \(JSONText.number(s.mean)), \"sd\": \(JSONText.number(s.sd)), \"n\": \(s.n)}"
            }
            let ba = summary.agreements.map {
                "    {\"test\": \(JSONText.string($0.test)), \"region\": \(JSONText.string($0.region)), \"mean_difference_ml\": \(JSONText.number($0.blandAltman.meanDifference)), \"sd_difference_ml\": \(JSONText.number($0.blandAltman.sdDifference)), \"lower_limit_ml\": \(JSONText.number($0.blandAltman.lowerLimit)), \"upper_limit_ml\": \(JSONText.number($0.blandAltman.upperLimit)), \"n\": \($0.blandAltman.count)}"
            }
            print("{\n  \"subjects\": [\n" + subjectsJSON.joined(separator: ",\n") + "\n  ],\n  \"summary\": [\n" + summaries.joined(separator: ",\n")
                  + "\n  ],\n  \"bland_altman\": [\n" + ba.joined(separator: ",\n") + "\n  ]\n}")
            return
        }
        if csv {
            print("subject,test,region,metric,value")
            for r in summary.entries { print([quote(r.subject), quote(r.test), r.region, r.metric, String(r.value)].joined(separator: ",")) }
            for s in summary.statistics {
                print([quote("mean"), quote(s.test), s.region, s.metric, String(s.mean)].joined(separator: ","))
                print([quote("sd"), quote(s.test), s.region, s.metric, String(s.sd)].joined(separator: ","))
            }
            for a in summary.agreements {
                for (name, v) in [("ba_mean_difference", a.blandAltman.meanDifference), ("ba_lower_limit", a.blandAltman.lowerLimit), ("ba_upper_limit", a.blandAltman.upperLimit)] {
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
        printTable(rows: summary.rows.map { r in
            (r.region, r.metric, summary.columns.map { c in summary.statistic(c, r).map { "\(format($0.mean)) +- \(format($0.sd))" } ?? "-" })
        }, columns: summary.columns)
        if !summary.agreements.isEmpty {
            print("\nBland-Altman agreement of the segmented volumes (test - reference, ml): mean [95% limits]")
            printTable(rows: summary.agreements.map { a in
                let ba = a.blandAltman
                return (a.region, a.test, ["\(format(ba.meanDifference)) [\(format(ba.lowerLimit)), \(format(ba.upperLimit))]"])
            },
                       columns: ["difference"])
        }
    }

    func loadNetworks() throws -> Evaluation.Networks {
        guard let vgg16, lpipsWeights != nil || distsWeights != nil else { return Evaluation.Networks() }
        do {
            let backbone = try VGGFeatures(contentsOf: URL(fileURLWithPath: vgg16))
            return Evaluation.Networks(lpips: try lpipsWeights.map { try LPIPS(backbone: backbone, contentsOf: URL(fileURLWithPath: $0)) },
                                       dists: try distsWeights.map { try DISTS(backbone: backbone, contentsOf: URL(fileURLWithPath: $0)) })
        } catch let e as MetricError {
            throw CLIError("\(e)")
        }
    }

    func format(_ x: Double) -> String { x.isFinite ? String(format: Swift.abs(x) >= 100 ? "%.2f" : "%.4f", x) : (x.isNaN ? "nan" : "inf") }
    /// A CSV field (RFC 4180 quoting).
    func quote(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
}

/// A progress bar per metric that runs VGG16 on every slice (lpips, dists), on stderr.
final class ProgressBars {
    let quiet: Bool
    var bar: ProgressBar?

    init(quiet: Bool) { self.quiet = quiet }

    func update(_ metric: Metric, _ done: Int, _ total: Int) {
        if bar == nil || bar?.label != metric.rawValue { bar?.finish(); bar = ProgressBar(label: metric.rawValue, quiet: quiet) }
        bar?.update(done, total)
        if done >= total { bar?.finish(); bar = nil }
    }
}
