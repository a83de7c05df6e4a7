import Foundation
import Torch

/// No-reference quality (seed 003): the natural-scene statistics of BRISQUE (Mittal, Moorthy and
/// Bovik 2012) as piq 0.8 computes them, and the BRISQUE score from a support-vector regressor
/// that the user supplies (a libsvm model file, such as the authors' `allmodel`).
///
/// Images are (N, H, W) or (H, W) grey-level slices scaled to [0, 1]; internally they are mapped
/// to [0, 255] as BRISQUE expects. Computed in float64.
public enum BRISQUE {
    /// The number of features per image: 18 at full size and 18 at half size.
    public static let featureCount = 36

    /// Mean-subtracted contrast-normalized coefficients (x - mu) / (sigma + c), with mu and sigma
    /// the local mean and standard deviation under a normalized Gaussian window (zero padding, as
    /// piq). `images` is (N, H, W) in BRISQUE's [0, 255] scale; the result has the same shape.
    public static func mscn(_ images: Tensor, windowSize: Int = 7, sigma: Double = 7.0 / 6.0, c: Double = 1) throws -> Tensor {
        guard images.rank == 3 else { throw MetricError.invalidArgument("MSCN needs (N, H, W) images, got shape \(images.shape)") }
        let x = try images.to(.float64).unsqueeze(1)
        func filter(_ t: Tensor) throws -> Tensor { try Perceptual.gaussianFilter(t, size: windowSize, sigma: sigma, padding: windowSize / 2) }
        let mu = try filter(x)
        let sd = try (filter(x.square()) - mu.square()).abs().sqrt()
        return try ((x - mu) / (sd + c)).squeeze(1)
    }

    /// The 36 BRISQUE features of each image: at full size and then at half size (MATLAB's
    /// bicubic imresize with antialiasing), the generalized-Gaussian shape and variance of the
    /// MSCN coefficients, then for the products of each coefficient with its right, lower,
    /// lower-right and upper-right neighbour (circular, as piq) the asymmetric generalized
    /// Gaussian's shape, mean, left variance and right variance.
    public static func features(_ images: Tensor, windowSize: Int = 7, sigma: Double = 7.0 / 6.0) throws -> [[Double]] {
        guard images.rank == 2 || images.rank == 3 else {
            throw MetricError.invalidArgument("BRISQUE takes 2-D images (H, W) or batches (N, H, W), got shape \(images.shape)")
        }
        let x = try (images.rank == 2 ? images.unsqueeze(0) : images).to(.float64) * 255
        guard x.size(1) >= 2 * windowSize, x.size(2) >= 2 * windowSize else {
            throw MetricError.invalidArgument("BRISQUE needs images of at least \(2 * windowSize) x \(2 * windowSize) pixels, got \(x.size(1)) x \(x.size(2))")
        }
        let full = try sceneStatistics(x, windowSize: windowSize, sigma: sigma)
        let half = try sceneStatistics(halfSize(x), windowSize: windowSize, sigma: sigma)
        return zip(full, half).map { $0 + $1 }
    }

    /// The BRISQUE score of each image: the features, scaled by `scaling`, through `model`.
    /// Lower is better for the authors' model (a predicted differential mean opinion score).
    public static func scores(_ images: Tensor, model: SVRModel, scaling: FeatureScaling = .brisqueLIVE,
                              windowSize: Int = 7, sigma: Double = 7.0 / 6.0) throws -> [Double] {
        try model.predict(scaling.apply(features(images, windowSize: windowSize, sigma: sigma)))
    }

    /// 18 features per image of (N, H, W) in [0, 255].
    static func sceneStatistics(_ x: Tensor, windowSize: Int, sigma: Double) throws -> [[Double]] {
        let m = try mscn(x, windowSize: windowSize, sigma: sigma)
        let n = m.size(0)
        let variance = try m.square().mean(dims: [1, 2]).toArray(Double.self)
        let meanAbs = try m.abs().mean(dims: [1, 2]).toArray(Double.self)
        var out: [[Double]] = (0..<n).map { i in
            guard variance[i] > 0 else { return [.nan, 0] }
            return [ggdShape(variance[i] / (meanAbs[i] * meanAbs[i])), variance[i]]
        }
        for (dy, dx) in [(0, 1), (1, 0), (1, 1), (-1, 1)] {
            let p = try m * m.roll([dy, dx], dims: [1, 2])
            let neg = try p.lt(0).to(.float64), pos = try p.gt(0).to(.float64)
            let p2 = try p.square()
            let countL = try neg.sum(dims: [1, 2]).toArray(Double.self), countR = try pos.sum(dims: [1, 2]).toArray(Double.self)
            let sumL = try (p2 * neg).sum(dims: [1, 2]).toArray(Double.self), sumR = try (p2 * pos).sum(dims: [1, 2]).toArray(Double.self)
            let meanAbsP = try p.abs().mean(dims: [1, 2]).toArray(Double.self), meanP2 = try p2.mean(dims: [1, 2]).toArray(Double.self)
            for i in 0..<n {
                guard countL[i] > 0, countR[i] > 0, sumL[i] > 0, sumR[i] > 0 else {
                    throw MetricError.constantImage("BRISQUE: image \(i) has no \(countL[i] > 0 ? "positive" : "negative") products of neighbouring MSCN coefficients (a flat or constant image?)")
                }
                let l = (sumL[i] / countL[i]).squareRoot(), r = (sumR[i] / countR[i]).squareRoot()
                let g = l / r
                let rhoHat = meanAbsP[i] * meanAbsP[i] / meanP2[i]
                let g2: Double = g * g
                let numerator: Double = rhoHat * (g2 * g + 1) * (g + 1)
                let normalized: Double = numerator / ((g2 + 1) * (g2 + 1))
                let shape = aggdShape(normalized)
                let logRatio: Double = lgamma(2 / shape) - (lgamma(1 / shape) + lgamma(3 / shape)) / 2
                let eta = (r - l) * Foundation.exp(logRatio)
                out[i] += [shape, eta, l * l, r * r]
            }
        }
        return out
    }

    /// The shape grid of the moment-matching fits: 0.2, 0.201, ..., 10 (as piq and the authors' code).
    static let shapeGrid: [Double] = (0...9800).map { 0.2 + Double($0) * 0.001 }
    static let ggdRatios: [Double] = shapeGrid.map { Foundation.exp(lgamma(1 / $0) + lgamma(3 / $0) - 2 * lgamma(2 / $0)) }
    static let aggdRatios: [Double] = shapeGrid.map { Foundation.exp(2 * lgamma(2 / $0) - lgamma(1 / $0) - lgamma(3 / $0)) }

    /// The grid shape whose moment ratio is nearest to `ratio` (the first on ties).
    static func nearest(_ ratio: Double, in table: [Double]) -> Double {
        var best = 0, bestD = Double.infinity
        for (i, r) in table.enumerated() where Swift.abs(ratio - r) < bestD { best = i; bestD = Swift.abs(ratio - r) }
        return shapeGrid[best]
    }
    static func ggdShape(_ ratio: Double) -> Double { nearest(ratio, in: ggdRatios) }
    static func aggdShape(_ ratio: Double) -> Double { nearest(ratio, in: aggdRatios) }

    /// MATLAB's imresize to floor(H/2) x floor(W/2): bicubic (a = -0.5) widened by the scale for
    /// antialiasing, edges repeated (symmetric padding), as piq's imresize.
    static func halfSize(_ x: Tensor) throws -> Tensor {
        let h = x.size(1), w = x.size(2)
        let rows = try resizeMatrix(from: h, to: h / 2), cols = try resizeMatrix(from: w, to: w / 2)
        return try rows.matmul(x).matmul(cols.transpose(0, 1))
    }

    /// The (to, from) matrix of a 1-D resize.
    static func resizeMatrix(from n: Int, to size: Int) throws -> Tensor {
        let scale = Double(size) / Double(n)
        let antialias = scale < 1 ? scale : 1
        let taps = Int((4 / antialias).rounded(.up)) + 2
        func cubic(_ t: Double) -> Double {
            let a = -0.5, x = Swift.abs(t)
            if x <= 1 { return (a + 2) * x * x * x - (a + 3) * x * x + 1 }
            if x <= 2 { return a * x * x * x - 5 * a * x * x + 8 * a * x - 4 * a }
            return 0
        }
        var m = [Double](repeating: 0, count: size * n)
        for i in 0..<size {
            let pos = (Double(i) + 0.5) / scale - 0.5
            let base = Int(pos.rounded(.down)) - taps / 2 + 1
            let weights = (0..<taps).map { cubic((pos - Double(base + $0)) * antialias) }
            let total = weights.reduce(0, +)
            for (k, wk) in weights.enumerated() {
                var j = base + k
                if j < 0 { j = -j - 1 }
                if j >= n { j = 2 * n - 1 - j }
                j = Swift.min(Swift.max(j, 0), n - 1)
                m[i * n + j] += wk / total
            }
        }
        return try Tensor(m, shape: [size, n])
    }
}

/// Linear scaling of each feature from [min, max] to [lower, upper], as libsvm's svm-scale
/// does before a model is trained or applied.
public struct FeatureScaling: Sendable, Equatable {
    public var lower: Double
    public var upper: Double
    /// (min, max) per feature, in feature order.
    public var ranges: [(min: Double, max: Double)]

    public init(lower: Double, upper: Double, ranges: [(min: Double, max: Double)]) {
        self.lower = lower
        self.upper = upper
        self.ranges = ranges
    }

    public static func == (a: FeatureScaling, b: FeatureScaling) -> Bool {
        a.lower == b.lower && a.upper == b.upper && a.ranges.count == b.ranges.count
            && zip(a.ranges, b.ranges).allSatisfy { $0.min == $1.min && $0.max == $1.max }
    }

    /// The ranges the BRISQUE authors' release scales its 36 features with (its `allrange`, the
    /// LIVE IQA database), to [-1, 1]; their `allmodel` expects features scaled this way.
    public static let brisqueLIVE = FeatureScaling(lower: -1, upper: 1, ranges: [
        (0.338, 10), (0.017204, 0.806612), (0.236, 1.642), (-0.123884, 0.20293), (0.000155, 0.712298),
        (0.001122, 0.470257), (0.244, 1.641), (-0.123586, 0.179083), (0.000152, 0.710456), (0.000975, 0.470984),
        (0.249, 1.555), (-0.135687, 0.100858), (0.000174, 0.684173), (0.000913, 0.534174), (0.258, 1.561),
        (-0.143408, 0.100486), (0.000179, 0.685696), (0.000888, 0.536508), (0.471, 3.264), (0.012809, 0.703171),
        (0.218, 1.046), (-0.094876, 0.187459), (1.5e-05, 0.442057), (0.001272, 0.40803), (0.222, 1.042),
        (-0.115772, 0.162604), (1.6e-05, 0.444362), (0.001374, 0.40243), (0.227, 0.996), (-0.117188, 0.098323),
        (3e-05, 0.531903), (0.001122, 0.369589), (0.228, 0.99), (-0.12243, 0.098658), (2.8e-05, 0.530092),
        (0.001118, 0.370399),
    ].map { (min: $0.0, max: $0.1) })

    /// Reads a range file written by `svm-scale -s`: an optional 'y' section, then 'x', the
    /// line 'lower upper', and one 'index min max' line per feature (1-based).
    public init(contentsOf url: URL) throws {
        let name = url.path
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw MetricError.invalidArgument("\(name): cannot read the feature range file")
        }
        var lines = text.split(whereSeparator: \.isNewline).map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
            .filter { !$0.isEmpty }
        if lines.first == ["y"] { lines.removeFirst(min(3, lines.count)) }
        guard lines.count >= 2, lines[0] == ["x"], lines[1].count == 2, let lo = Double(lines[1][0]), let hi = Double(lines[1][1]), lo < hi else {
            throw MetricError.invalidArgument("\(name): not an svm-scale range file; expected a line 'x', then 'lower upper', then 'index min max' per feature")
        }
        var ranges: [Int: (min: Double, max: Double)] = [:]
        for (n, cells) in lines.dropFirst(2).enumerated() {
            guard cells.count == 3, let i = Int(cells[0]), i >= 1, let a = Double(cells[1]), let b = Double(cells[2]) else {
                throw MetricError.invalidArgument("\(name): range line \(n + 3) '\(cells.joined(separator: " "))' is not 'index min max'")
            }
            ranges[i] = (a, b)
        }
        let count = ranges.keys.max() ?? 0
        self.init(lower: lo, upper: hi, ranges: (1...Swift.max(count, 1)).map { ranges[$0] ?? (0, 0) })
    }

    /// Scales each row; a feature whose range is a single value maps to `lower` (as svm-scale
    /// leaves it out).
    public func apply(_ features: [[Double]]) throws -> [[Double]] {
        try features.map { row in
            guard row.count == ranges.count else {
                throw MetricError.invalidArgument("feature scaling has \(ranges.count) ranges for \(row.count) features")
            }
            return zip(row, ranges).map { v, r in
                r.max > r.min ? lower + (upper - lower) * (v - r.min) / (r.max - r.min) : lower
            }
        }
    }
}

/// A support-vector regressor read from a libsvm model file (svm_type epsilon_svr or nu_svr;
/// kernel linear, polynomial, rbf or sigmoid): f(x) = sum_i coef_i K(sv_i, x) - rho.
public struct SVRModel: Sendable {
    public enum Kernel: String, Sendable { case linear, polynomial, rbf, sigmoid }
    public var kernel: Kernel
    public var gamma: Double
    public var coef0: Double
    public var degree: Int
    public var rho: Double
    public var coefficients: [Double]
    /// Support vectors, dense, one row each (features missing from the file are 0).
    public var supportVectors: [[Double]]

    public init(contentsOf url: URL, featureCount: Int = BRISQUE.featureCount) throws {
        let name = url.path
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw MetricError.invalidArgument("\(name): cannot read the SVR model file")
        }
        try self.init(libsvm: text, name: name, featureCount: featureCount)
    }

    /// Parses libsvm's text format; `name` names the source in errors.
    public init(libsvm text: String, name: String, featureCount: Int) throws {
        func fail(_ why: String) -> MetricError { .invalidArgument("\(name): \(why)") }
        let lines = text.split(whereSeparator: \.isNewline).map(String.init)
        guard let svStart = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "SV" }) else {
            throw fail("not a libsvm model file: no 'SV' line (expected a header such as 'svm_type epsilon_svr', 'kernel_type rbf', 'gamma', 'rho', then 'SV' and the support vectors)")
        }
        var header: [String: [String]] = [:]
        for line in lines[..<svStart] {
            let cells = line.split(separator: " ").map(String.init)
            if let key = cells.first { header[key] = Array(cells.dropFirst()) }
        }
        guard let type = header["svm_type"]?.first else { throw fail("the header has no svm_type") }
        guard type == "epsilon_svr" || type == "nu_svr" else {
            throw fail("svm_type \(type): a quality score needs a regression model (epsilon_svr or nu_svr)")
        }
        guard let k = header["kernel_type"]?.first, let kernel = Kernel(rawValue: k) else {
            throw fail("kernel_type \(header["kernel_type"]?.first ?? "missing"): expected linear, polynomial, rbf or sigmoid")
        }
        func number(_ key: String, default value: Double? = nil) throws -> Double {
            if let s = header[key]?.first { guard let v = Double(s) else { throw fail("\(key) '\(s)' is not a number") }; return v }
            guard let value else { throw fail("the header has no \(key)") }
            return value
        }
        self.kernel = kernel
        gamma = try number("gamma", default: kernel == .linear ? 0 : nil)
        coef0 = try number("coef0", default: 0)
        degree = Int(try number("degree", default: 3))
        rho = try number("rho")
        var coefficients: [Double] = [], vectors: [[Double]] = []
        for (n, line) in lines[(svStart + 1)...].enumerated() {
            let cells = line.split(separator: " ")
            guard let first = cells.first else { continue }
            guard let c = Double(first) else { throw fail("support vector line \(n + 1): coefficient '\(first)' is not a number") }
            var v = [Double](repeating: 0, count: featureCount)
            for cell in cells.dropFirst() {
                let parts = cell.split(separator: ":")
                guard parts.count == 2, let i = Int(parts[0]), let x = Double(parts[1]) else {
                    throw fail("support vector line \(n + 1): '\(cell)' is not 'index:value'")
                }
                guard (1...featureCount).contains(i) else {
                    throw fail("support vector line \(n + 1): feature index \(i) outside 1...\(featureCount) (this model was not trained on these \(featureCount) features)")
                }
                v[i - 1] = x
            }
            coefficients.append(c)
            vectors.append(v)
        }
        guard !vectors.isEmpty else { throw fail("no support vectors after 'SV'") }
        if let total = header["total_sv"]?.first.flatMap(Int.init), total != vectors.count {
            throw fail("total_sv says \(total) support vectors, the file holds \(vectors.count) (truncated?)")
        }
        self.coefficients = coefficients
        supportVectors = vectors
    }

    /// One prediction per row of `features`.
    public func predict(_ features: [[Double]]) throws -> [Double] {
        guard !features.isEmpty else { return [] }
        let d = supportVectors[0].count
        guard features.allSatisfy({ $0.count == d }) else {
            throw MetricError.invalidArgument("the SVR model expects \(d) features per image")
        }
        let x = try Tensor(features.flatMap { $0 }, shape: [features.count, d])
        let sv = try Tensor(supportVectors.flatMap { $0 }, shape: [supportVectors.count, d])
        let k: Tensor
        switch kernel {
        case .rbf: k = try ((x.unsqueeze(1) - sv.unsqueeze(0)).square().sum(dims: [2]) * -gamma).exp()
        case .linear: k = try x.matmul(sv.transpose(0, 1))
        case .polynomial: k = try (x.matmul(sv.transpose(0, 1)) * gamma + coef0).pow(.double(Double(degree)))
        case .sigmoid: k = try (x.matmul(sv.transpose(0, 1)) * gamma + coef0).tanh()
        }
        return try (k.matmul(Tensor(coefficients, shape: [coefficients.count, 1])) - rho).flatten().toArray(Double.self)
    }
}
