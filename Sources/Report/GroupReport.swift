import Foundation

/// The report of many subjects, from their `SubjectReport.Summary` files: a table of every subject
/// with a link to its page, the distributions of the figures, and the outliers flagged.
///
/// An outlier is a value outside Tukey's fences (below Q1 - 1.5 IQR or above Q3 + 1.5 IQR) among the
/// subjects, for the reconstruction's figures and its gains over the baseline; a subject with
/// warnings is listed as well. With fewer than 4 subjects no value is flagged (the quartiles mean
/// little).
public struct GroupReport {
    public struct Subject: Sendable {
        public var summary: SubjectReport.Summary
        /// Its page, relative to the group report.
        public var link: String
        public init(summary: SubjectReport.Summary, link: String) {
            self.summary = summary
            self.link = link
        }
    }

    public var title: String
    public var subjects: [Subject]

    public init(title: String, subjects: [Subject]) {
        self.title = title
        self.subjects = subjects
    }

    /// The columns shown, in this order, when any subject has them.
    static let order: [(key: String, name: String)] = {
        var out: [(String, String)] = []
        for region in ["mask", "head"] {
            for metric in ["psnr", "ssim", "mae"] {
                for column in ["upres", "cubic", "gain"] {
                    let m = metric.uppercased()
                    out.append(("\(region)/\(metric)/\(column)", column == "gain" ? "\(region) \(m) gain" : "\(region) \(m) \(column)"))
                }
            }
        }
        out.append(("head/departure/upres", "departure from cubic (%)"))
        return out
    }()

    /// The keys checked for outliers: the reconstruction's figures and its gains.
    static func flaggable(_ key: String) -> Bool { key.hasSuffix("/upres") || key.hasSuffix("/gain") }

    /// Indices of flagged subjects per metric key.
    public func outliers() -> [String: Set<Int>] {
        guard subjects.count >= 4 else { return [:] }
        var out: [String: Set<Int>] = [:]
        for key in columns().map(\.key) where Self.flaggable(key) {
            let values = subjects.map { $0.summary.metrics[key] ?? .nan }
            let flagged = Robust.outsideFences(values)
            if !flagged.isEmpty { out[key] = flagged }
        }
        return out
    }

    func columns() -> [(key: String, name: String)] {
        let present = Set(subjects.flatMap { $0.summary.metrics.keys })
        var cols = Self.order.filter { present.contains($0.key) }
        // Keys this version does not know (segmentation Dice, other baselines) at the end.
        cols += present.subtracting(cols.map(\.key)).sorted().map { ($0, $0.replacingOccurrences(of: "/", with: " ")) }
        return cols
    }

    public func build() -> HTMLPage {
        var page = HTMLPage(title: title)
        let cols = columns()
        let flagged = outliers()
        let flaggedSubjects = Set(flagged.values.flatMap { $0 })
        let warned = subjects.indices.filter { !subjects[$0].summary.warnings.isEmpty }

        page.section("Overview")
        let methods = Dictionary(grouping: subjects.map { $0.summary.method ?? "unknown" }, by: { $0 }).map { "\($0.key) (\($0.value.count))" }.sorted()
        page.table(rows: [
            ["reconstructions", HTMLPage.Cell(String(subjects.count))],
            ["methods", HTMLPage.Cell(methods.joined(separator: ", "))],
            ["models", HTMLPage.Cell(Set(subjects.compactMap(\.summary.model)).sorted().joined(separator: ", ").ifEmpty("none"))],
            ["with a reference", HTMLPage.Cell(String(subjects.filter { $0.summary.reference != nil }.count))],
            ["flagged as outliers", HTMLPage.Cell(String(flaggedSubjects.count), cssClass: flaggedSubjects.isEmpty ? nil : "flag")],
            ["with warnings", HTMLPage.Cell(String(warned.count), cssClass: warned.isEmpty ? nil : "flag")],
        ])
        page.paragraph(subjects.count >= 4
                       ? "Outliers: values outside Tukey's fences (Q1 - 1.5 IQR, Q3 + 1.5 IQR) of the reconstruction's figures and of its gains over the baseline, marked red."
                       : "Outliers are flagged from 4 subjects on (Tukey's fences); \(subjects.count) is too few.")

        page.section("Subjects")
        var rows: [[HTMLPage.Cell]] = []
        for (i, s) in subjects.enumerated() {
            var row: [HTMLPage.Cell] = [HTMLPage.Cell(s.summary.subject, cssClass: flaggedSubjects.contains(i) ? "flag" : nil, link: s.link),
                                        HTMLPage.Cell(s.summary.method ?? "-"), HTMLPage.Cell(s.summary.model ?? "-")]
            for c in cols {
                let v = s.summary.metrics[c.key]
                let isFlagged = flagged[c.key]?.contains(i) == true
                row.append(HTMLPage.Cell(v.map { SubjectReport.format($0, signed: c.key.hasSuffix("/gain")) } ?? "-", cssClass: isFlagged ? "num flag" : "num"))
            }
            row.append(HTMLPage.Cell(s.summary.seconds.map { String(format: "%.1f", $0) } ?? "-", cssClass: "num"))
            row.append(HTMLPage.Cell(String(s.summary.warnings.count), cssClass: s.summary.warnings.isEmpty ? "num" : "num flag"))
            rows.append(row)
        }
        page.table(header: ["subject", "method", "model"] + cols.map(\.name) + ["time (s)", "warnings"], rows: rows,
                   caption: "One row per reconstruction; the name links to its report.")
        if subjects.count > 1 {
            var stats: [[HTMLPage.Cell]] = []
            for c in cols {
                let v = subjects.compactMap { $0.summary.metrics[c.key] }.filter(\.isFinite)
                guard !v.isEmpty else { continue }
                let mean = v.reduce(0, +) / Double(v.count)
                let sd = v.count > 1 ? (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(v.count - 1)).squareRoot() : 0
                let q = Robust.quartiles(v.sorted())!
                stats.append([HTMLPage.Cell(c.name), SubjectReport.number(mean), SubjectReport.number(sd), SubjectReport.number(q.median),
                              SubjectReport.number(v.min()!), SubjectReport.number(v.max()!), HTMLPage.Cell(String(v.count), cssClass: "num")])
            }
            page.table(header: ["figure", "mean", "SD", "median", "min", "max", "n"], rows: stats, caption: "Over the subjects.")
        }

        page.section("Distributions")
        let labels = subjects.map(\.summary.subject)
        for region in ["mask", "head"] {
            for metric in ["psnr", "ssim", "mae"] {
                let groups: [DistributionPlot.Group] = ["upres", "cubic", "gain"].compactMap { column in
                    let key = "\(region)/\(metric)/\(column)"
                    guard cols.contains(where: { $0.key == key }) else { return nil }
                    return DistributionPlot.Group(name: column == "gain" ? "gain" : column, values: subjects.map { $0.summary.metrics[key] ?? .nan },
                                                  labels: labels, flagged: flagged[key] ?? [])
                }
                guard !groups.isEmpty else { continue }
                // Values and gains have different scales: one plot each.
                let values = groups.filter { $0.name != "gain" }, gains = groups.filter { $0.name == "gain" }
                let m = metric.uppercased()
                if !values.isEmpty { page.svg(DistributionPlot(title: "\(m), \(region)", yLabel: m, groups: values).svg()) }
                if !gains.isEmpty { page.svg(DistributionPlot(title: "\(m) gain over the baseline, \(region)", yLabel: "\(m) difference", groups: gains).svg()) }
            }
        }

        if cols.contains(where: { $0.key == "head/departure/upres" }) {
            page.svg(DistributionPlot(title: "Departure from the baseline (no reference)", yLabel: "mean |difference| (%)",
                                      groups: [.init(name: "upres", values: subjects.map { $0.summary.metrics["head/departure/upres"] ?? .nan },
                                                     labels: labels, flagged: flagged["head/departure/upres"] ?? [])]).svg())
        }

        page.section("Outliers and warnings")
        var notes: [String] = []
        for (key, idx) in flagged.sorted(by: { $0.key < $1.key }) {
            for i in idx.sorted() {
                notes.append("\(subjects[i].summary.subject): \(key.replacingOccurrences(of: "/", with: " ")) = \(SubjectReport.format(subjects[i].summary.metrics[key] ?? .nan)) is outside the fences")
            }
        }
        for i in warned { for w in subjects[i].summary.warnings { notes.append("\(subjects[i].summary.subject): \(w)") } }
        page.warnings(notes)
        return page
    }
}

extension String {
    func ifEmpty(_ other: String) -> String { isEmpty ? other : self }
}
