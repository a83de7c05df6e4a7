/// Many subjects: their values side by side, mean +- SD over subjects and the Bland-Altman
/// agreement of the segmented volumes.
extension Evaluation {
    /// The aggregate of many subjects' tables. NaN can appear (the SD of one subject): encode
    /// with a non-conforming float strategy.
    public struct Summary: Codable, Sendable, Equatable {
        /// One value of one subject.
        public struct Entry: Codable, Sendable, Equatable {
            public var subject: String
            public var test: String
            public var region: String
            public var metric: String
            public var value: Double
        }

        /// Mean and sample SD (n - 1) of a column and row over the subjects' finite values.
        public struct Statistic: Codable, Sendable, Equatable {
            public var test: String
            public var region: String
            public var metric: String
            /// NaN when no value is finite.
            public var mean: Double
            /// NaN with fewer than two finite values.
            public var sd: Double
            /// The number of finite values.
            public var n: Int
        }

        /// The Bland-Altman agreement of a test's segmented volumes (ml) with the reference's.
        public struct VolumeAgreement: Codable, Sendable, Equatable {
            public var test: String
            /// "seg L".
            public var region: String
            public var blandAltman: BlandAltman
        }

        /// Rows and columns in their order of first appearance over the subjects (the shown columns).
        public var rows: [Table.Row]
        public var columns: [String]
        /// Every non-nil value of the shown columns, subject by subject.
        public var entries: [Entry]
        /// For each column, each row that has values in it.
        public var statistics: [Statistic]
        /// For each test and segmented label with a volume in at least two subjects.
        public var agreements: [VolumeAgreement]

        /// The statistic of a column and row, if it has values.
        public func statistic(_ test: String, _ row: Table.Row) -> Statistic? {
            statistics.first { $0.test == test && $0.region == row.region && $0.metric == row.metric }
        }
    }

    /// Mean, sample SD and count of the finite values.
    public static func meanAndSD(_ values: [Double]) -> (mean: Double, sd: Double, n: Int) {
        let finite = values.filter(\.isFinite)
        guard !finite.isEmpty else { return (.nan, .nan, 0) }
        let m = finite.reduce(0, +) / Double(finite.count)
        let sd = finite.count > 1 ? (finite.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(finite.count - 1)).squareRoot() : .nan
        return (m, sd, finite.count)
    }

    /// Aggregates subjects' tables: mean +- SD over subjects per column and row, and the
    /// Bland-Altman agreement of each test's segmented volumes (row volume_ml) with the
    /// reference's, over the subjects that have both (at least two).
    public static func summarize(_ subjects: [(subject: String, table: Table)]) throws -> Summary {
        var rowOrder: [Table.Row] = []
        var columnOrder: [String] = []
        var values: [String: [Table.Row: [Double]]] = [:]  // column -> row -> values over subjects
        var entries: [Summary.Entry] = []
        for (subject, table) in subjects {
            for r in table.rows where !rowOrder.contains(r) { rowOrder.append(r) }
            for c in table.shown where !columnOrder.contains(table.columns[c]) { columnOrder.append(table.columns[c]) }
            for c in table.shown {
                for (ri, row) in table.rows.enumerated() {
                    guard let v = table.values[c][ri] else { continue }
                    values[table.columns[c], default: [:]][row, default: []].append(v)
                    entries.append(.init(subject: subject, test: table.columns[c], region: row.region, metric: row.metric, value: v))
                }
            }
        }
        var statistics: [Summary.Statistic] = []
        for c in columnOrder {
            for r in rowOrder {
                guard let v = values[c]?[r] else { continue }
                let s = meanAndSD(v)
                statistics.append(.init(test: c, region: r.region, metric: r.metric, mean: s.mean, sd: s.sd, n: s.n))
            }
        }
        var agreements: [Summary.VolumeAgreement] = []
        for test in columnOrder where test != "reference" {
            for row in rowOrder where row.metric == "volume_ml" {
                var pairs: [(Double, Double)] = []
                for (_, table) in subjects {
                    guard let ri = table.rows.firstIndex(of: row), let ci = table.columns.firstIndex(of: test),
                          let t = table.values[ci][ri], let r = table.values[0][ri] else { continue }
                    pairs.append((t, r))
                }
                if pairs.count >= 2 {
                    agreements.append(.init(test: test, region: row.region,
                                            blandAltman: try BlandAltman.compute(test: pairs.map(\.0), reference: pairs.map(\.1))))
                }
            }
        }
        return Summary(rows: rowOrder, columns: columnOrder, entries: entries, statistics: statistics, agreements: agreements)
    }
}
