/// Errors of `Evaluation`. Each names the input it concerns, so that a caller that loaded the
/// volumes from files can name the file.
public enum EvaluationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// One of the volumes given to an evaluation.
    public enum Input: Equatable, Sendable, CustomStringConvertible {
        case reference, mask, labels
        /// The tissue mask at this index of `tissues` (0 CSF, 1 GM, 2 WM).
        case tissue(Int)
        /// The reference's segmentation.
        case segmentation
        /// The test at this index of `tests`.
        case test(Int)
        /// The segmentation of the test at this index.
        case testSegmentation(Int)

        /// What the volume is, in words ("label map", "tissue mask", ...).
        public var role: String {
            switch self {
            case .reference: "reference"
            case .mask: "mask"
            case .labels: "label map"
            case .tissue: "tissue mask"
            case .segmentation, .testSegmentation: "segmentation"
            case .test: "test"
            }
        }

        public var description: String {
            switch self {
            case .tissue(let i): "tissue mask \((0..<3).contains(i) ? ["CSF", "GM", "WM"][i] : String(i))"
            case .test(let i): "test \(i + 1)"
            case .testSegmentation(let i): "the segmentation of test \(i + 1)"
            default: role
            }
        }
    }

    /// The reference is not a 3-D volume.
    case notThreeD(shape: [Int])
    /// A volume on another grid than the reference's, which only `Options.resample` puts there.
    case gridMismatch(Input, shape: [Int], referenceShape: [Int])
    /// Voxels that are NaN or infinite in an image.
    case notFinite(Input, count: Int)
    /// The mask selects no voxel.
    case emptyMask
    /// A metric of a test against the reference failed.
    case metric(Input, MetricError)
    /// The clinical measures of the reference or a test failed.
    case clinical(Input, MetricError)
    /// The BRISQUE features of the reference or a test failed.
    case brisque(Input, MetricError)
    /// The SSIM map of a test failed.
    case ssimMap(Input, MetricError)
    /// `clinical` was asked for without the three tissue masks.
    case missingTissues
    /// `segmentation` was asked for without the reference's segmentation and one per test.
    case missingSegmentations
    /// A metric was asked for without the network or model it runs (LPIPS, DISTS, BRISQUE).
    case missingNetwork(Metric)
    /// An option out of its domain.
    case invalidOption(String)

    public var description: String {
        switch self {
        case .notThreeD(let shape): "the reference has shape \(shape); evaluation needs a 3-D volume"
        case let .gridMismatch(input, shape, ref): "the \(input)'s grid (\(shape)) differs from the reference's (\(ref))"
        case let .notFinite(input, count): "\(input): \(count) voxels are NaN or infinite; metrics need finite values"
        case .emptyMask: "the mask is empty"
        case let .metric(input, e): "\(input) against the reference: \(e)"
        case let .clinical(input, e): "\(input) with the tissue masks: \(e)"
        case let .brisque(input, e), let .ssimMap(input, e): "\(input): \(e)"
        case .missingTissues: "the clinical measures need three tissue masks (CSF, GM, WM)"
        case .missingSegmentations: "segmentation agreement needs the reference's segmentation and one per test"
        case .missingNetwork(let m): "\(m.rawValue) needs its \(m == .brisque ? "SVR model" : "network weights")"
        case .invalidOption(let m): m
        }
    }
}
