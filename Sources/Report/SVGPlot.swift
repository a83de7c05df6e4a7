import Foundation

/// Line plots in SVG for reports: one or more series over a common x (per-slice metrics across a
/// volume), with optional marks on the x axis (where the acquired slices sit).
public struct LinePlot: Sendable {
    public struct Series: Sendable {
        public var name: String
        /// One value per x; NaN leaves a gap.
        public var values: [Double]
        public var color: String
        public init(name: String, values: [Double], color: String) {
            self.name = name
            self.values = values
            self.color = color
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    /// The x of each value (default 0, 1, 2, ...).
    public var x: [Double]?
    /// x positions drawn as thin vertical lines (e.g. the centres of the acquired slices).
    public var marks: [Double] = []
    public var marksLabel: String?

    public init(title: String, xLabel: String, yLabel: String, series: [Series], x: [Double]? = nil,
                marks: [Double] = [], marksLabel: String? = nil) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.x = x
        self.marks = marks
        self.marksLabel = marksLabel
    }

    public func svg(width: Int = 900, height: Int = 280) -> String {
        let left = 62.0, right = 16.0, top = 28.0, bottom = 42.0
        let pw = Double(width) - left - right, ph = Double(height) - top - bottom
        let n = series.map(\.values.count).max() ?? 0
        let xs = x ?? (0..<n).map(Double.init)
        let finite = series.flatMap(\.values).filter(\.isFinite)
        var (lo, hi) = (finite.min() ?? 0, finite.max() ?? 1)
        if hi - lo < 1e-12 { (lo, hi) = (lo - 0.5, hi + 0.5) }
        let pad = (hi - lo) * 0.05
        (lo, hi) = (lo - pad, hi + pad)
        let (x0, x1) = (xs.min() ?? 0, Swift.max((xs.max() ?? 1), (xs.min() ?? 0) + 1))
        func px(_ v: Double) -> Double { left + (v - x0) / (x1 - x0) * pw }
        func py(_ v: Double) -> Double { top + (1 - (v - lo) / (hi - lo)) * ph }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(width) \(height)\" width=\"\(width)\" height=\"\(height)\" font-family=\"sans-serif\" font-size=\"11\">"
        s += "<text x=\"\(left)\" y=\"16\" font-size=\"13\" font-weight=\"600\">\(HTMLPage.escape(title))</text>"
        for m in marks where m >= x0 && m <= x1 {
            s += "<line x1=\"\(f(px(m)))\" y1=\"\(f(top))\" x2=\"\(f(px(m)))\" y2=\"\(f(top + ph))\" stroke=\"#d8d8d8\" stroke-width=\"1\"/>"
        }
        // Axes with ticks.
        s += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(pw))\" height=\"\(f(ph))\" fill=\"none\" stroke=\"#888\"/>"
        for t in Self.ticks(lo, hi, count: 5) {
            s += "<line x1=\"\(f(left - 4))\" y1=\"\(f(py(t)))\" x2=\"\(f(left))\" y2=\"\(f(py(t)))\" stroke=\"#888\"/>"
            s += "<text x=\"\(f(left - 6))\" y=\"\(f(py(t) + 4))\" text-anchor=\"end\">\(Self.label(t))</text>"
        }
        for t in Self.ticks(x0, x1, count: 8) {
            s += "<line x1=\"\(f(px(t)))\" y1=\"\(f(top + ph))\" x2=\"\(f(px(t)))\" y2=\"\(f(top + ph + 4))\" stroke=\"#888\"/>"
            s += "<text x=\"\(f(px(t)))\" y=\"\(f(top + ph + 16))\" text-anchor=\"middle\">\(Self.label(t))</text>"
        }
        s += "<text x=\"\(f(left + pw / 2))\" y=\"\(height - 6)\" text-anchor=\"middle\">\(HTMLPage.escape(xLabel))</text>"
        s += "<text transform=\"translate(14 \(f(top + ph / 2))) rotate(-90)\" text-anchor=\"middle\">\(HTMLPage.escape(yLabel))</text>"
        for series in series {
            var d = "", pen = false
            for (i, v) in series.values.enumerated() where i < xs.count {
                guard v.isFinite else { pen = false; continue }
                d += "\(pen ? "L" : "M")\(f(px(xs[i]))) \(f(py(v)))"
                pen = true
            }
            s += "<path d=\"\(d)\" fill=\"none\" stroke=\"\(series.color)\" stroke-width=\"1.4\"/>"
        }
        // Legend.
        var lx = left + pw
        var legend = series.map { ($0.name, $0.color, false) }
        if let marksLabel, !marks.isEmpty { legend.append((marksLabel, "#c8c8c8", true)) }
        for (name, color, _) in legend.reversed() {
            lx -= Double(BitmapFontMetrics.width(name)) + 30
            s += "<line x1=\"\(f(lx))\" y1=\"12\" x2=\"\(f(lx + 16))\" y2=\"12\" stroke=\"\(color)\" stroke-width=\"3\"/>"
            s += "<text x=\"\(f(lx + 20))\" y=\"16\">\(HTMLPage.escape(name))</text>"
        }
        return s + "</svg>"
    }

    /// About `count` round tick values covering lo...hi.
    static func ticks(_ lo: Double, _ hi: Double, count: Int) -> [Double] {
        guard hi > lo, lo.isFinite, hi.isFinite else { return [] }
        let raw = (hi - lo) / Double(count)
        let mag = Foundation.pow(10, Foundation.floor(Foundation.log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? raw
        var t = Foundation.ceil(lo / step) * step, out: [Double] = []
        while t <= hi + step * 1e-9 { out.append(t); t += step }
        return out
    }

    static func label(_ v: Double) -> String {
        if v == v.rounded() && Swift.abs(v) < 1e6 { return String(Int(v)) }
        let a = Swift.abs(v)
        return String(format: a >= 100 ? "%.0f" : a >= 0.01 ? "%.3g" : "%.2e", v)
    }
}

/// The values of several groups side by side: every value as a dot over a box of the quartiles
/// with the median, whiskers to the furthest values within 1.5 IQR; flagged values in red with
/// their label (a subject's name).
public struct DistributionPlot: Sendable {
    public struct Group: Sendable {
        public var name: String
        public var values: [Double]
        /// A label per value (shown next to flagged values).
        public var labels: [String]
        /// Indices of the values to flag.
        public var flagged: Set<Int>
        public init(name: String, values: [Double], labels: [String], flagged: Set<Int> = []) {
            self.name = name
            self.values = values
            self.labels = labels
            self.flagged = flagged
        }
    }

    public var title: String
    public var yLabel: String
    public var groups: [Group]

    public init(title: String, yLabel: String, groups: [Group]) {
        self.title = title
        self.yLabel = yLabel
        self.groups = groups
    }

    public func svg(width: Int? = nil, height: Int = 260) -> String {
        let left = 62.0, right = 16.0, top = 28.0, bottom = 36.0
        let w = width ?? Swift.max(440, 130 * groups.count + 80)
        let pw = Double(w) - left - right, ph = Double(height) - top - bottom
        let finite = groups.flatMap(\.values).filter(\.isFinite)
        var (lo, hi) = (finite.min() ?? 0, finite.max() ?? 1)
        if hi - lo < 1e-12 { (lo, hi) = (lo - 0.5, hi + 0.5) }
        let pad = (hi - lo) * 0.08
        (lo, hi) = (lo - pad, hi + pad)
        func py(_ v: Double) -> Double { top + (1 - (v - lo) / (hi - lo)) * ph }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(w) \(height)\" width=\"\(w)\" height=\"\(height)\" font-family=\"sans-serif\" font-size=\"11\">"
        s += "<text x=\"\(left)\" y=\"16\" font-size=\"13\" font-weight=\"600\">\(HTMLPage.escape(title))</text>"
        s += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(pw))\" height=\"\(f(ph))\" fill=\"none\" stroke=\"#888\"/>"
        for t in LinePlot.ticks(lo, hi, count: 5) {
            s += "<line x1=\"\(f(left))\" y1=\"\(f(py(t)))\" x2=\"\(f(left + pw))\" y2=\"\(f(py(t)))\" stroke=\"#eee\"/>"
            s += "<text x=\"\(f(left - 6))\" y=\"\(f(py(t) + 4))\" text-anchor=\"end\">\(LinePlot.label(t))</text>"
        }
        s += "<text transform=\"translate(14 \(f(top + ph / 2))) rotate(-90)\" text-anchor=\"middle\">\(HTMLPage.escape(yLabel))</text>"
        let slot = pw / Double(Swift.max(1, groups.count))
        for (g, group) in groups.enumerated() {
            let cx = left + slot * (Double(g) + 0.5)
            s += "<text x=\"\(f(cx))\" y=\"\(f(top + ph + 16))\" text-anchor=\"middle\">\(HTMLPage.escape(group.name))</text>"
            let v = group.values.filter(\.isFinite).sorted()
            if let q = Robust.quartiles(v) {
                let iqr = q.q3 - q.q1
                let wlo = v.first { $0 >= q.q1 - 1.5 * iqr } ?? q.q1, whi = v.last { $0 <= q.q3 + 1.5 * iqr } ?? q.q3
                let bw = Swift.min(46, slot * 0.5)
                s += "<line x1=\"\(f(cx))\" y1=\"\(f(py(wlo)))\" x2=\"\(f(cx))\" y2=\"\(f(py(whi)))\" stroke=\"#777\"/>"
                s += "<rect x=\"\(f(cx - bw / 2))\" y=\"\(f(py(q.q3)))\" width=\"\(f(bw))\" height=\"\(f(Swift.max(1, py(q.q1) - py(q.q3))))\" fill=\"#dce6f5\" stroke=\"#4a6fa5\"/>"
                s += "<line x1=\"\(f(cx - bw / 2))\" y1=\"\(f(py(q.median)))\" x2=\"\(f(cx + bw / 2))\" y2=\"\(f(py(q.median)))\" stroke=\"#1f3f7a\" stroke-width=\"2\"/>"
            }
            for (i, value) in group.values.enumerated() where value.isFinite {
                // A deterministic horizontal jitter so that equal values stay visible.
                let jitter = (Double((i * 7919) % 97) / 96 - 0.5) * Swift.min(30, slot * 0.35)
                let flagged = group.flagged.contains(i)
                s += "<circle cx=\"\(f(cx + jitter))\" cy=\"\(f(py(value)))\" r=\"\(flagged ? 4 : 3)\" fill=\"\(flagged ? "#d62728" : "#333")\" fill-opacity=\"0.75\"><title>\(HTMLPage.escape(i < group.labels.count ? group.labels[i] : "")): \(LinePlot.label(value))</title></circle>"
                if flagged, i < group.labels.count {
                    s += "<text x=\"\(f(cx + jitter + 6))\" y=\"\(f(py(value) + 4))\" fill=\"#d62728\">\(HTMLPage.escape(group.labels[i]))</text>"
                }
            }
        }
        return s + "</svg>"
    }
}

/// Robust statistics for flagging outliers in group reports.
public enum Robust {
    /// Quartiles by linear interpolation between order statistics (numpy's default); nil when empty.
    public static func quartiles(_ sorted: [Double]) -> (q1: Double, median: Double, q3: Double)? {
        guard !sorted.isEmpty else { return nil }
        func q(_ p: Double) -> Double {
            let h = p * Double(sorted.count - 1)
            let i = Int(h.rounded(.down)), j = Swift.min(i + 1, sorted.count - 1)
            return sorted[i] + (h - Double(i)) * (sorted[j] - sorted[i])
        }
        return (q(0.25), q(0.5), q(0.75))
    }

    /// The indices of the values outside Tukey's fences (below Q1 - k IQR or above Q3 + k IQR).
    public static func outsideFences(_ values: [Double], k: Double = 1.5) -> Set<Int> {
        guard let q = quartiles(values.filter(\.isFinite).sorted()) else { return [] }
        let iqr = q.q3 - q.q1
        return Set(values.indices.filter { values[$0].isFinite && (values[$0] < q.q1 - k * iqr || values[$0] > q.q3 + k * iqr) })
    }
}

/// Approximate text widths for SVG layout (sans-serif at 11 px).
enum BitmapFontMetrics {
    static func width(_ text: String) -> Int { Int(Double(text.count) * 6.2) }
}

/// A coordinate for SVG: two decimals.
private func f(_ v: Double) -> String { String(format: "%.2f", v) }
