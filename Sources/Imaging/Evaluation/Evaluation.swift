import Torch

/// Compares test volumes with a reference, one subject at a time: full-reference metrics over
/// regions (the whole image or a mask, and each label of a label map), slice metrics across a
/// slice axis, BRISQUE, the clinical measures inside tissue masks and the agreement of
/// segmentations. `summarize` aggregates many subjects (mean +- SD, Bland-Altman of the
/// segmented volumes).
///
/// Conventions (those of `upres evaluate`):
/// - Every volume is put on the reference's grid: masks, label maps, tissue masks and
///   segmentations by nearest neighbour; tests only with `Options.resample` (linear), refused
///   otherwise (`EvaluationError.gridMismatch`). A grid differs when the shape differs or an
///   affine entry differs by more than 1e-3.
/// - The data range (`DataRange`) is resolved on the reference inside the region.
/// - Slice metrics take the slices the region touches; the perceptual and deep-feature ones and
///   BRISQUE only those where the reference varies, scaled by the reference's range in the region
///   to [0, 1] (piq's convention); their value is the mean over slices.
public struct Evaluation {
    /// What to compute and how.
    public struct Options: Sendable {
        /// The metrics, in the order of their rows.
        public var metrics: [Metric]
        /// The voxel axis (0, 1 or 2) across which the slice metrics take 2-D slices.
        public var sliceAxis: Int
        /// R of PSNR and SSIM.
        public var dataRange: DataRange
        /// Put tests on another grid onto the reference's (linear) instead of refusing them.
        public var resample: Bool
        /// Also record every full-reference metric per slice (`Subject.slices`; ssim as 2-D SSIM).
        public var perSlice: Bool
        /// Also record the BRISQUE features of every slice (`Subject.features`), with or without a model.
        public var brisqueFeatures: Bool
        /// Also return each test's full-size 3-D SSIM map (`Subject.ssimMaps`).
        public var ssimMaps: Bool

        public init(metrics: [Metric] = Metric.standard, sliceAxis: Int = 2, dataRange: DataRange = .reference,
                    resample: Bool = false, perSlice: Bool = false, brisqueFeatures: Bool = false, ssimMaps: Bool = false) {
            self.metrics = metrics
            self.sliceAxis = sliceAxis
            self.dataRange = dataRange
            self.resample = resample
            self.perSlice = perSlice
            self.brisqueFeatures = brisqueFeatures
            self.ssimMaps = ssimMaps
        }
    }

    /// The networks and models some metrics run, loaded once by the caller.
    public struct Networks {
        public var lpips: LPIPS?
        public var dists: DISTS?
        /// The SVR that turns BRISQUE features into a score, and the scaling of its features.
        public var brisque: SVRModel?
        public var brisqueScaling: FeatureScaling

        public init(lpips: LPIPS? = nil, dists: DISTS? = nil, brisque: SVRModel? = nil, brisqueScaling: FeatureScaling = .brisqueLIVE) {
            self.lpips = lpips
            self.dists = dists
            self.brisque = brisque
            self.brisqueScaling = brisqueScaling
        }
    }

    /// A volume to evaluate, with its name (its column) and optional segmentation.
    public struct Test {
        public var name: String
        public var volume: Volume
        public var segmentation: Volume?

        public init(name: String, volume: Volume, segmentation: Volume? = nil) {
            self.name = name
            self.volume = volume
            self.segmentation = segmentation
        }
    }

    /// One subject's volumes.
    public struct Inputs {
        public var subject: String
        public var reference: Volume
        public var mask: Volume?
        public var labels: Volume?
        /// CSF, GM and WM masks, in that order.
        public var tissues: [Volume]?
        /// The reference's segmentation.
        public var segmentation: Volume?
        public var tests: [Test]

        public init(subject: String = "", reference: Volume, mask: Volume? = nil, labels: Volume? = nil, tissues: [Volume]? = nil,
                    segmentation: Volume? = nil, tests: [Test]) {
            self.subject = subject
            self.reference = reference
            self.mask = mask
            self.labels = labels
            self.tissues = tissues
            self.segmentation = segmentation
            self.tests = tests
        }
    }

    /// The rows of the clinical measures (region "tissues"), in the order of their values.
    public static let clinicalRows = ["cjv", "efc", "fwhm_avg", "fwhm_i", "fwhm_j", "fwhm_k", "wm2max"]
        + ["csf", "gm", "wm"].flatMap { t in ["mean", "sd", "p5", "p95"].map { "\(t)_\($0)" } } + ["gm/wm", "csf/wm", "csf/(gm+wm)"]
    /// The rows of each segmented label (region "seg L").
    public static let segmentationRows = ["dice", "jaccard", "tpf", "tnf", "ppv", "volume_ml", "volume_diff_ml", "volume_diff_pct"]

    public var options: Options
    public var networks: Networks
    /// Called as LPIPS and DISTS (VGG16 on every slice) progress: the metric, slices done, slices in all.
    public var progress: ((Metric, Int, Int) -> Void)?

    public init(options: Options, networks: Networks = Networks(), progress: ((Metric, Int, Int) -> Void)? = nil) {
        self.options = options
        self.networks = networks
        self.progress = progress
    }

    /// Checks the options against the networks: the slice axis, and a network for each metric that runs one.
    public func validate() throws {
        guard (0...2).contains(options.sliceAxis) else {
            throw EvaluationError.invalidOption("slice axis \(options.sliceAxis) must be 0, 1 or 2")
        }
        if options.metrics.contains(.lpips) && networks.lpips == nil { throw EvaluationError.missingNetwork(.lpips) }
        if options.metrics.contains(.dists) && networks.dists == nil { throw EvaluationError.missingNetwork(.dists) }
        if options.metrics.contains(.brisque) && networks.brisque == nil { throw EvaluationError.missingNetwork(.brisque) }
    }

    /// Evaluates one subject: every region and metric for the reference and each test.
    /// - Throws: `EvaluationError`, naming the input concerned.
    public func evaluate(_ inputs: Inputs) throws -> Subject {
        try validate()
        let wanted = options.metrics
        let refVolume = inputs.reference
        guard refVolume.shape.count == 3 else { throw EvaluationError.notThreeD(shape: refVolume.shape) }
        let refData = try refVolume.data.to(.float64)
        try requireFinite(refData, .reference)
        func onGrid(_ volume: Volume, _ input: EvaluationError.Input, labelsOrMask: Bool = false) throws -> Tensor {
            var v = volume
            if v.shape != refVolume.shape || v.affine.maxDifference(refVolume.affine) > 1e-3 {
                guard options.resample || labelsOrMask else {
                    throw EvaluationError.gridMismatch(input, shape: v.shape, referenceShape: refVolume.shape)
                }
                v = try v.resampled(like: refVolume, interpolation: labelsOrMask ? .nearest : .linear)
            }
            let d = try v.data.to(.float64)
            if !labelsOrMask { try requireFinite(d, input) }
            return d
        }
        let maskData = try inputs.mask.map { try onGrid($0, .mask, labelsOrMask: true).gt(0) }
        if let maskData, try !maskData.any().itemBool() { throw EvaluationError.emptyMask }
        let labelData = try inputs.labels.map { try onGrid($0, .labels, labelsOrMask: true) }
        let regions = try Self.regions(mask: maskData, labels: labelData)

        var subject = Subject(table: Table(columns: ["reference"] + inputs.tests.map(\.name)))
        let full = wanted.filter(\.isFullReference)
        subject.table.rows = regions.flatMap { r in full.map { Table.Row(region: r.name, metric: $0.rawValue) } }
        var columns: [[Double?]] = [Array(repeating: nil, count: subject.table.rows.count)]
        var images: [Tensor] = [refData]
        for (i, t) in inputs.tests.enumerated() {
            let data = try onGrid(t.volume, .test(i))
            images.append(data)
            if options.ssimMaps { subject.ssimMaps.append(try ssimMap(data, refVolume, refData, test: i)) }
            do {
                var values: [Double?] = []
                for region in regions {
                    for m in full {
                        // With perSlice, every metric per slice too (ssim as 2-D SSIM); the slice
                        // metrics' whole-volume value is the mean of those.
                        let recorded = options.perSlice && !(m == .ssim && full.contains(.ssim2d))
                        guard recorded || m.isSliceMetric else {
                            values.append(try compute(m, data, refData, region.mask))
                            continue
                        }
                        let per = try perSlice(m, data, refData, region.mask)
                        if recorded {
                            subject.slices += per.map {
                                SliceValue(subject: inputs.subject, test: t.name, region: region.name, slice: $0.slice,
                                           metric: m == .ssim ? Metric.ssim2d.rawValue : m.rawValue, value: $0.value)
                            }
                        }
                        values.append(m.isSliceMetric ? Self.mean(per) : try compute(m, data, refData, region.mask))
                    }
                }
                columns.append(values)
            } catch let e as MetricError {
                throw EvaluationError.metric(.test(i), e)
            }
        }
        // No-reference: BRISQUE over the slices of the image or mask, for the reference too.
        if wanted.contains(.brisque) || options.brisqueFeatures {
            let region = regions[0]
            for (c, image) in images.enumerated() {
                let (slices, perSlice) = try brisque(image, refData, region.mask, input: c == 0 ? .reference : .test(c - 1))
                for (s, f) in zip(slices, perSlice) {
                    subject.features.append(SliceFeatures(subject: inputs.subject, column: subject.table.columns[c], slice: s, features: f))
                }
                if let model = networks.brisque, wanted.contains(.brisque) {
                    let scores = try model.predict(networks.brisqueScaling.apply(perSlice))
                    columns[c].append(scores.isEmpty ? .nan : scores.reduce(0, +) / Double(scores.count))
                }
            }
            if wanted.contains(.brisque) { subject.table.rows.append(.init(region: region.name, metric: Metric.brisque.rawValue)) }
        }
        if wanted.contains(.clinical) {
            guard let tissues = inputs.tissues, tissues.count == 3 else { throw EvaluationError.missingTissues }
            let masks = try tissues.enumerated().map { try onGrid($1, .tissue($0), labelsOrMask: true) }
            for (c, image) in images.enumerated() {
                let q: ClinicalQuality
                do {
                    q = try ClinicalQuality.compute(image: image, csf: masks[0], gm: masks[1], wm: masks[2], spacing: refVolume.spacing)
                } catch let e as MetricError {
                    throw EvaluationError.clinical(c == 0 ? .reference : .test(c - 1), e)
                }
                columns[c] += Self.clinicalValues(q)
            }
            subject.table.rows += Self.clinicalRows.map { .init(region: "tissues", metric: $0) }
        }
        if wanted.contains(.segmentation) {
            guard let seg = inputs.segmentation, inputs.tests.allSatisfy({ $0.segmentation != nil }) else {
                throw EvaluationError.missingSegmentations
            }
            let refSeg = try onGrid(seg, .segmentation, labelsOrMask: true)
            let testSegs = try inputs.tests.enumerated().map { try onGrid($1.segmentation!, .testSegmentation($0), labelsOrMask: true) }
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
            subject.table.rows += found.flatMap { l in Self.segmentationRows.map { Table.Row(region: "seg \(l)", metric: $0) } }
        }
        subject.table.values = columns
        return subject
    }

    /// The regions of a subject: the whole image ("image") or the mask ("mask"), then each
    /// non-zero label of the label map ("label L", rounded to integers), in increasing order.
    /// - Parameters:
    ///   - mask: a boolean (or 0/1) mask on the reference's grid.
    ///   - labels: a label map on the reference's grid.
    public static func regions(mask: Tensor?, labels: Tensor?) throws -> [(name: String, mask: Tensor?)] {
        var regions: [(name: String, mask: Tensor?)] = [(mask == nil ? "image" : "mask", try mask?.to(.bool))]
        if let labels {
            let l = try labels.round().to(.int64)
            for v in Set(try l.flatten().toArray(Int.self)).filter({ $0 != 0 }).sorted() {
                regions.append(("label \(v)", try l.eq(v)))
            }
        }
        return regions
    }

    /// The values of the clinical rows (`clinicalRows`) of one image.
    static func clinicalValues(_ q: ClinicalQuality) -> [Double?] {
        let finite = q.fwhm.filter(\.isFinite)
        var v = [q.cjv, q.efc, finite.isEmpty ? .nan : finite.reduce(0, +) / Double(finite.count)] + q.fwhm + [q.wm2max]
        for t in [q.csf, q.gm, q.wm] { v += [t.mean, t.sd, t.p5, t.p95] }
        return v + [q.gmOverWM, q.csfOverWM, q.csfOverGMWM]
    }

    func requireFinite(_ d: Tensor, _ input: EvaluationError.Input) throws {
        let bad = try (d - d).ne(0).sum().itemInt()
        guard bad == 0 else { throw EvaluationError.notFinite(input, count: bad) }
    }

    /// The full-size 3-D SSIM map (scikit-image's `full=True`) of a test against the reference,
    /// float32 on the reference's grid, with the data range of the ssim row.
    func ssimMap(_ test: Tensor, _ refVolume: Volume, _ refData: Tensor, test index: Int) throws -> Volume {
        let map: Tensor
        do {
            map = try SSIM().compare(test, refData, dims: 3, dataRange: options.dataRange, wantMap: true).map!.to(.float32)
        } catch let e as MetricError {
            throw EvaluationError.ssimMap(.test(index), e)
        }
        var metadata = refVolume.metadata
        metadata.description = "upres SSIM map"
        metadata.intentCode = 0
        metadata.intentName = ""
        metadata.calMin = 0
        metadata.calMax = 1
        return Volume(data: map, affine: refVolume.affine, metadata: metadata)
    }

    static func mean(_ values: [(slice: Int, value: Double)]) -> Double {
        values.isEmpty ? .nan : values.map(\.value).reduce(0, +) / Double(values.count)
    }
}
