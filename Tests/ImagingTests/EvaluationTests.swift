import Foundation
import Testing
@testable import Imaging
import Torch

/// `Evaluation` on small synthetic volumes: regions, masks, labels, slice selection, the
/// errors that name their input, aggregation over subjects with Bland-Altman, and Codable.
@Suite struct EvaluationTests {
    static let shape = [16, 16, 14]

    /// A volume from a function of the voxel indices, on an identity grid (1 mm voxels).
    func volume(_ f: (Int, Int, Int) -> Double, spacing: Double = 1) throws -> Volume {
        var v: [Double] = []
        for i in 0..<Self.shape[0] { for j in 0..<Self.shape[1] { for k in 0..<Self.shape[2] { v.append(f(i, j, k)) } } }
        return Volume(data: try Tensor(v, shape: Self.shape), affine: .scaling([spacing, spacing, spacing]))
    }

    func reference() throws -> Volume {
        try volume { i, j, k in k == 0 ? 7 : 50 + 30 * sin(Double(i) * 0.4) * cos(Double(j) * 0.3) + Double(k) }
    }

    func test() throws -> Volume {
        try volume { i, j, k in k == 0 ? 7 : 50 + 28 * sin(Double(i) * 0.4) * cos(Double(j) * 0.31) + Double(k) + 0.5 * sin(Double(i + j + k)) }
    }

    /// A mask of a block, and labels 1 (i < 8) and 2 (i >= 8) inside it.
    func maskAndLabels() throws -> (mask: Volume, labels: Volume) {
        let inside = { (i: Int, j: Int, k: Int) in (2..<14).contains(i) && (3..<13).contains(j) && (4..<10).contains(k) }
        return (try volume { inside($0, $1, $2) ? 1 : 0 }, try volume { inside($0, $1, $2) ? ($0 < 8 ? 1 : 2) : 0 })
    }

    @Test func metricNamesAreTheCommandLines() {
        #expect(Metric.allCases.map(\.rawValue) == ["psnr", "ssim", "ssim2d", "mae", "mse", "rmse", "nmse", "nrmse", "nrmse_min_max",
                                                    "nrmse_mean", "vifp", "haarpsi", "fsim", "vsi", "lpips", "dists", "brisque",
                                                    "clinical", "segmentation"])
        #expect(Metric.fullReference.allSatisfy { $0.isFullReference } && !Metric.brisque.isFullReference)
        #expect(Metric.allCases.filter(\.isSliceMetric) == [.ssim2d, .vifp, .haarpsi, .fsim, .vsi, .lpips, .dists])
        #expect(Metric.defaults(tissues: true, brisqueModel: true) == Metric.standard + [.clinical, .brisque])
    }

    @Test func wholeImageMaskAndLabels() throws {
        let ref = try reference(), t = try test(), (mask, labels) = try maskAndLabels()
        let metrics: [Metric] = [.psnr, .ssim, .mae, .mse, .rmse, .nmse, .nrmse, .nrmseMinMax, .nrmseMean]
        let evaluation = Evaluation(options: .init(metrics: metrics))
        // Whole image: one region, the values of FullReference and SSIM.
        let whole = try evaluation.evaluate(.init(reference: ref, tests: [.init(name: "sr", volume: t)])).table
        #expect(whole.columns == ["reference", "sr"] && whole.rows.map(\.region) == Array(repeating: "image", count: metrics.count))
        #expect(!whole.referenceUsed && whole.shown == [1] && whole.values[0].allSatisfy { $0 == nil })
        let r = try ref.data.to(.float64), x = try t.data.to(.float64)
        #expect(whole.value("sr", region: "image", metric: "mae") == (try FullReference.mae(x, r)))
        #expect(whole.value("sr", region: "image", metric: "nrmse_min_max") == (try FullReference.nrmse(x, r, normalization: .minMax)))
        #expect(whole.value("sr", region: "image", metric: "ssim") == (try SSIM().compare(x, r, dims: 3).mean))
        // Mask and labels: "mask", then "label 1" and "label 2", each over its voxels, R in the region.
        let table = try evaluation.evaluate(.init(reference: ref, mask: mask, labels: labels, tests: [.init(name: "sr", volume: t)])).table
        #expect(table.rows.map(\.region) == ["mask", "label 1", "label 2"].flatMap { Array(repeating: $0, count: metrics.count) })
        for (name, m) in [("mask", try mask.data.gt(0)), ("label 1", try labels.data.eq(1)), ("label 2", try labels.data.eq(2))] {
            let inside = try r.maskedSelect(m)
            let range = try inside.max().item() - inside.min().item()
            #expect(table.value("sr", region: name, metric: "mse") == (try FullReference.mse(x, r, mask: m)), "\(name)")
            #expect(table.value("sr", region: name, metric: "psnr") == (try FullReference.psnr(x, r, mask: m, dataRange: .value(range))), "\(name)")
            #expect(table.value("sr", region: name, metric: "ssim") == (try SSIM().compare(x, r, dims: 3, dataRange: .value(range), mask: m).mean), "\(name)")
        }
        // A region that is the whole volume gives the whole image's voxel-wise values.
        let all = try volume { _, _, _ in 1 }
        let full = try evaluation.evaluate(.init(reference: ref, mask: all, tests: [.init(name: "sr", volume: t)])).table
        #expect(full.value("sr", region: "mask", metric: "rmse") == whole.value("sr", region: "image", metric: "rmse"))
        // The regions alone.
        let regions = try Evaluation.regions(mask: mask.data.gt(0), labels: labels.data)
        #expect(regions.map(\.name) == ["mask", "label 1", "label 2"])
        #expect(try regions[1].mask!.sum().itemInt() + regions[2].mask!.sum().itemInt() == regions[0].mask!.sum().itemInt())
    }

    @Test func sliceSelectionAndPerSliceValues() throws {
        let ref = try reference(), t = try test(), (mask, _) = try maskAndLabels()
        var options = Evaluation.Options(metrics: [.ssim2d, .mae, .fsim], perSlice: true)
        let evaluation = Evaluation(options: options)
        let r = try ref.data.to(.float64), x = try t.data.to(.float64)
        // Slice 0 is constant in the reference: not a qualifying slice; the mask touches slices 4..<10.
        #expect(try evaluation.qualifyingSlices(r, nil) == Array(1..<14))
        #expect(try evaluation.qualifyingSlices(r, mask.data.gt(0)) == Array(4..<10))
        let subject = try evaluation.evaluate(.init(subject: "s1", reference: ref, mask: mask, tests: [.init(name: "sr", volume: t)]))
        let slices = subject.slices
        #expect(Set(slices.map(\.metric)) == ["ssim2d", "mae", "fsim"] && slices.allSatisfy { $0.subject == "s1" && $0.test == "sr" })
        #expect(slices.filter { $0.metric == "mae" }.map(\.slice) == Array(4..<10))
        // MAE per slice: over the mask's voxels in the slice.
        let m = try mask.data.gt(0)
        for v in slices where v.metric == "mae" {
            expectClose([v.value], [try FullReference.mae(x.select(2, v.slice), r.select(2, v.slice), mask: m.select(2, v.slice))], rtol: 1e-12, "mae \(v.slice)")
        }
        // ssim2d: each touched slice, whole; the table's value is their mean.
        let inside = try r.maskedSelect(m)
        let all = try SSIM().perSlice(x, r, axis: 2, dataRange: .value(try inside.max().item() - inside.min().item()))
        let ssim2d = slices.filter { $0.metric == "ssim2d" }
        #expect(ssim2d.map(\.slice) == Array(4..<10) && ssim2d.map(\.value) == Array(all[4..<10]))
        expectClose([try #require(subject.table.value("sr", region: "mask", metric: "ssim2d"))], [all[4..<10].reduce(0, +) / 6], rtol: 1e-12)
        // The mean of the per-slice FSIM is the table's value.
        let fsim = slices.filter { $0.metric == "fsim" }.map(\.value)
        expectClose([try #require(subject.table.value("sr", region: "mask", metric: "fsim"))], [fsim.reduce(0, +) / Double(fsim.count)], rtol: 1e-12)
        // Across another axis.
        options.sliceAxis = 0
        #expect(try Evaluation(options: options).qualifyingSlices(r, m) == Array(2..<14))
        options.sliceAxis = 3
        #expect(throws: EvaluationError.invalidOption("slice axis 3 must be 0, 1 or 2")) {
            try Evaluation(options: options).evaluate(.init(reference: ref, tests: []))
        }
    }

    @Test func errorsNameTheirInput() throws {
        let ref = try reference(), t = try test()
        let evaluation = Evaluation(options: .init(metrics: [.mae]))
        // Another grid: refused, or resampled with the option.
        let other = Volume(data: t.data, affine: .scaling([1, 1, 1.5]))
        #expect(throws: EvaluationError.gridMismatch(.test(1), shape: Self.shape, referenceShape: Self.shape)) {
            try evaluation.evaluate(.init(reference: ref, tests: [.init(name: "a", volume: t), .init(name: "b", volume: other)]))
        }
        var resampling = evaluation
        resampling.options.resample = true
        #expect(try resampling.evaluate(.init(reference: ref, tests: [.init(name: "b", volume: other)])).table.values[1][0] != nil)
        // A mask on another grid is put on the reference's by nearest neighbour, without the option.
        let (mask, _) = try maskAndLabels()
        let moved = Volume(data: mask.data, affine: .scaling([1, 1, 1.5]))
        let table = try evaluation.evaluate(.init(reference: ref, mask: moved, tests: [.init(name: "a", volume: t)])).table
        let m = try moved.resampled(like: ref, interpolation: .nearest).data.gt(0)
        #expect(table.rows == [.init(region: "mask", metric: "mae")])
        #expect(table.values[1][0] == (try FullReference.mae(t.data, ref.data, mask: m)))
        // An empty mask is refused.
        let empty = try volume { _, _, _ in 0 }
        #expect(throws: EvaluationError.emptyMask) { try evaluation.evaluate(.init(reference: ref, mask: empty, tests: [.init(name: "a", volume: t)])) }
        // NaN voxels are counted.
        let bad = try volume { i, j, k in i == 0 && j == 0 ? .nan : Double(k) }
        #expect(throws: EvaluationError.notFinite(.test(0), count: 14)) { try evaluation.evaluate(.init(reference: ref, tests: [.init(name: "a", volume: bad)])) }
        // Missing inputs and networks.
        #expect(throws: EvaluationError.missingTissues) {
            try Evaluation(options: .init(metrics: [.clinical])).evaluate(.init(reference: ref, tests: [.init(name: "a", volume: t)]))
        }
        #expect(throws: EvaluationError.missingSegmentations) {
            try Evaluation(options: .init(metrics: [.segmentation])).evaluate(.init(reference: ref, segmentation: ref, tests: [.init(name: "a", volume: t)]))
        }
        #expect(throws: EvaluationError.missingNetwork(.lpips)) {
            try Evaluation(options: .init(metrics: [.lpips])).evaluate(.init(reference: ref, tests: [.init(name: "a", volume: t)]))
        }
        // A metric that fails names the test.
        let flat = try volume { _, _, _ in 3 }
        #expect(throws: EvaluationError.metric(.test(0), .constantImage("the reference is constant (range 0); give --data-range"))) {
            try Evaluation(options: .init(metrics: [.psnr])).evaluate(.init(reference: flat, tests: [.init(name: "a", volume: t)]))
        }
        #expect(EvaluationError.gridMismatch(.tissue(1), shape: [2], referenceShape: [3]).description.contains("tissue mask GM"))
    }

    /// Three subjects with segmentations whose test volumes differ from the reference's by known
    /// amounts: the mean +- SD of each row and the Bland-Altman limits of the volumes.
    @Test func aggregationAndBlandAltman() throws {
        let ref = try reference(), t = try test()
        let evaluation = Evaluation(options: .init(metrics: [.mae, .segmentation]))
        var tables: [(subject: String, table: Evaluation.Table)] = []
        // Reference segmentation: label 1 in i < 8 (8 x 16 x 14 voxels of 2 mm: 14.336 ml); the test's is `extra` rows larger.
        for (n, extra) in [0, 1, 3].enumerated() {
            let seg = try volume({ i, _, _ in i < 8 ? 1 : 0 }, spacing: 2)
            let testSeg = try volume({ i, _, _ in i < 8 + extra ? 1 : 0 }, spacing: 2)
            let r = Volume(data: ref.data, affine: seg.affine), x = Volume(data: try t.data * Double(n + 1), affine: seg.affine)
            let subject = try evaluation.evaluate(.init(subject: "sub-\(n)", reference: r, segmentation: seg,
                                                        tests: [.init(name: "sr", volume: x, segmentation: testSeg)]))
            tables.append(("sub-\(n)", subject.table))
        }
        let voxel = 8.0 / 1000, slab = Double(16 * 14) * voxel  // ml per row of i
        let table = tables[0].table
        #expect(table.referenceUsed && table.value("reference", region: "seg 1", metric: "volume_ml") == 8 * slab)
        #expect(table.value("reference", region: "seg 1", metric: "dice") == nil && table.value("sr", region: "seg 1", metric: "dice") == 1)
        let summary = try Evaluation.summarize(tables)
        #expect(summary.columns == ["reference", "sr"])
        #expect(summary.rows.first == .init(region: "image", metric: "mae") && summary.rows.count == 1 + Evaluation.segmentationRows.count)
        // Every non-nil value, subject by subject.
        #expect(summary.entries.count == 3 * (1 + 1 + Evaluation.segmentationRows.count))
        let maes = tables.map { $0.table.value("sr", region: "image", metric: "mae")! }
        let mae = try #require(summary.statistic("sr", .init(region: "image", metric: "mae")))
        let m = maes.reduce(0, +) / 3
        expectClose([mae.mean, mae.sd], [m, (maes.map { ($0 - m) * ($0 - m) }.reduce(0, +) / 2).squareRoot()], rtol: 1e-12, "mae")
        #expect(mae.n == 3 && summary.statistic("reference", .init(region: "image", metric: "mae")) == nil)
        // Bland-Altman of the volumes: differences 0, 1 and 3 slabs.
        let ba = try #require(summary.agreements.first)
        #expect(summary.agreements.count == 1 && ba.test == "sr" && ba.region == "seg 1" && ba.blandAltman.count == 3)
        let d = [0, 1, 3].map { Double($0) * slab }, md = d.reduce(0, +) / 3
        let sd = (d.map { ($0 - md) * ($0 - md) }.reduce(0, +) / 2).squareRoot()
        expectClose([ba.blandAltman.meanDifference, ba.blandAltman.sdDifference, ba.blandAltman.lowerLimit, ba.blandAltman.upperLimit],
                    [md, sd, md - 1.96 * sd, md + 1.96 * sd], rtol: 1e-12, "Bland-Altman")
        // Mean and SD of finite values only; one value has no SD.
        let s = Evaluation.meanAndSD([1, .nan, 3, .infinity])
        #expect(s.mean == 2 && s.sd == 2.squareRoot() && s.n == 2)
        #expect(Evaluation.meanAndSD([4]).sd.isNaN && Evaluation.meanAndSD([]).n == 0)
    }

    @Test func resultsRoundTripThroughJSON() throws {
        let ref = try reference(), t = try test()
        let subject = try Evaluation(options: .init(metrics: [.psnr, .mae], perSlice: true))
            .evaluate(.init(subject: "s", reference: ref, tests: [.init(name: "same", volume: ref), .init(name: "sr", volume: t)]))
        #expect(subject.table.value("same", region: "image", metric: "psnr") == .infinity)
        let summary = try Evaluation.summarize([("s", subject.table)])
        let encoder = JSONEncoder(), decoder = JSONDecoder()
        encoder.outputFormatting = .sortedKeys
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        #expect(try decoder.decode(Evaluation.Table.self, from: encoder.encode(subject.table)) == subject.table)
        #expect(try decoder.decode([Evaluation.SliceValue].self, from: encoder.encode(subject.slices)) == subject.slices)
        let back = try decoder.decode(Evaluation.Summary.self, from: encoder.encode(summary))
        // NaN (the SD of one subject) is not equal to itself: compare the encodings.
        #expect(try encoder.encode(back) == encoder.encode(summary) && back.entries == summary.entries)
        #expect(try decoder.decode(Metric.self, from: Data("\"nrmse_min_max\"".utf8)) == .nrmseMinMax)
    }
}
