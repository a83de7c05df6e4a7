/// What an evaluation returns.
extension Evaluation {
    /// The metrics of one subject: rows (region, metric), columns (the reference, then the tests)
    /// and `values[column][row]`, nil where a metric does not apply (the full-reference ones for
    /// the reference). Values may be NaN or infinite (PSNR of identical images): encode them with
    /// a non-conforming float strategy.
    public struct Table: Codable, Sendable, Equatable {
        public struct Row: Hashable, Codable, Sendable {
            public var region: String
            /// A `Metric`'s raw value, or a clinical or segmentation row (`Evaluation.clinicalRows`, `segmentationRows`).
            public var metric: String

            public init(region: String, metric: String) {
                self.region = region
                self.metric = metric
            }
        }

        public var rows: [Row]
        public var columns: [String]
        public var values: [[Double?]]

        public init(rows: [Row] = [], columns: [String] = [], values: [[Double?]] = []) {
            self.rows = rows
            self.columns = columns
            self.values = values
        }

        /// The value of a column (by name) and row, if any.
        public func value(_ column: String, region: String, metric: String) -> Double? {
            guard let c = columns.firstIndex(of: column), let r = rows.firstIndex(of: Row(region: region, metric: metric)) else { return nil }
            return values[c][r]
        }

        /// Whether the reference column holds anything.
        public var referenceUsed: Bool { values.first?.contains { $0 != nil } ?? false }
        /// The columns to show: the reference's only when it holds values.
        public var shown: [Int] { referenceUsed ? Array(columns.indices) : Array(columns.indices.dropFirst()) }
    }

    /// A full-reference metric of one slice (`Options.perSlice`).
    public struct SliceValue: Codable, Sendable, Equatable {
        public var subject: String
        public var test: String
        public var region: String
        /// The slice's index along the slice axis.
        public var slice: Int
        public var metric: String
        public var value: Double
    }

    /// The 36 BRISQUE features of one slice of the reference or a test (`Options.brisqueFeatures`).
    public struct SliceFeatures: Codable, Sendable, Equatable {
        public var subject: String
        /// "reference" or the test's name.
        public var column: String
        public var slice: Int
        public var features: [Double]
    }

    /// Everything computed for one subject.
    public struct Subject {
        public var table: Table
        /// Per-slice values, with `Options.perSlice`.
        public var slices: [SliceValue] = []
        /// BRISQUE features per slice, with `Options.brisqueFeatures` or the brisque metric.
        public var features: [SliceFeatures] = []
        /// One full-size SSIM map per test (float32, on the reference's grid), with `Options.ssimMaps`.
        public var ssimMaps: [Volume] = []
    }
}
