import Foundation
import Torch

/// Perceptual full-reference metrics on 2-D images, as piq 0.8 defines them (seed 001 reports
/// them for super-resolution): VIFp, HaarPSI, FSIM and VSI. Images are (N, H, W) or (H, W)
/// batches of grey-level slices scaled to [0, 1] (piq's data_range 1); values outside are
/// clipped, as piq refuses them. The test comes first, the reference second; one score per image.
/// Computed in float64.
public enum Perceptual {
    /// The four metrics by name.
    public enum Metric: String, CaseIterable, Sendable {
        case vifp, haarpsi, fsim, vsi
        /// The smallest image side the metric accepts.
        public var minimumSize: Int {
            switch self {
            case .vifp: 41
            case .haarpsi: 16
            case .fsim, .vsi: 7
            }
        }
    }

    public static func compute(_ metric: Metric, _ test: Tensor, _ reference: Tensor) throws -> [Double] {
        switch metric {
        case .vifp: try vifp(test, reference)
        case .haarpsi: try haarpsi(test, reference)
        case .fsim: try fsim(test, reference)
        case .vsi: try vsi(test, reference)
        }
    }

    /// (N, 1, H, W) float64 in [0, 255].
    static func prepare(_ test: Tensor, _ reference: Tensor, minimumSize: Int, name: String) throws -> (Tensor, Tensor) {
        guard test.shape == reference.shape else {
            throw MetricError.shapeMismatch("\(name): test shape \(test.shape) differs from reference shape \(reference.shape)")
        }
        guard test.rank == 2 || test.rank == 3 else {
            throw MetricError.invalidArgument("\(name) compares 2-D images (H, W) or batches (N, H, W), got shape \(test.shape)")
        }
        let h = test.size(-2), w = test.size(-1)
        guard h >= minimumSize, w >= minimumSize else {
            throw MetricError.invalidArgument("\(name) needs images of at least \(minimumSize) x \(minimumSize) pixels, got \(h) x \(w)")
        }
        func scaled(_ t: Tensor) throws -> Tensor {
            let x = test.rank == 2 ? try t.unsqueeze(0) : t
            return try (x.to(.float64).clamp(min: .double(0), max: .double(1)) * 255).unsqueeze(1).contiguous()
        }
        return (try scaled(test), try scaled(reference))
    }

    /// Filtering of (N, 1, H, W) images with the normalized size x size Gaussian window (piq's
    /// gaussian_filter) as two 1-D passes, the 2-D window being the outer product of the
    /// normalized 1-D one: the same result to rounding, without the size^2-fold im2col buffers
    /// of libtorch's float64 convolution (17 x 17 windows on a batch of slices: gigabytes, most
    /// of VIFp's time). Valid filtering, or zero padding by `padding`; every `stride`-th output
    /// along both axes.
    static func gaussianFilter(_ t: Tensor, size: Int, sigma: Double, stride: Int = 1, padding: Int = 0) throws -> Tensor {
        let w = (0..<size).map { Double($0) - Double(size - 1) / 2 }.map { Foundation.exp(-$0 * $0 / (2 * sigma * sigma)) }
        let s = w.reduce(0, +)
        let column = try Tensor(w.map { $0 / s }, shape: [1, 1, size, 1])
        return try t.conv2d(column, stride: [stride, 1], padding: [padding, 0])
            .conv2d(column.transpose(2, 3), stride: [1, stride], padding: [0, padding])
    }

    /// piq's similarity_map: (2 a b + c) / (a^2 + b^2 + c).
    static func similarity(_ a: Tensor, _ b: Tensor, _ c: Double) throws -> Tensor { try (a * b * 2 + c) / (a * a + b * b + c) }

    /// Gradient magnitude with piq's normalized 3 x 3 Scharr kernels (zero padding), (N, 1, H, W).
    static func scharrGradient(_ t: Tensor) throws -> Tensor {
        let scharr = try Tensor([-3.0, 0, 3, -10, 0, 10, -3, 0, 3], shape: [1, 1, 3, 3]) / 16
        let kernels = try Tensor.cat([scharr, scharr.transpose(2, 3)], dim: 0)
        return try t.conv2d(kernels, padding: [1]).pow(2).sum(dims: [1], keepdim: true).sqrt()
    }

    /// piq's frequency grid (get_meshgrid): (H, W) tensors u (varying along rows) and v, centred,
    /// divided by n - 1 for odd n and n for even n; ifftshifted when `shifted` (zero frequency
    /// at [0, 0]).
    static func frequencyGrid(h: Int, w: Int, shifted: Bool) throws -> (u: Tensor, v: Tensor) {
        func axis(_ n: Int) throws -> Tensor {
            let a = try Tensor.arange(0, .int(Int64(n)), dtype: .float64)
            let centred = n % 2 == 1 ? try (a - Double(n - 1) / 2) / Double(n - 1) : try (a - Double(n / 2)) / Double(n)
            return shifted ? try centred.ifftshift() : centred
        }
        let g = try Tensor.meshgrid([axis(h), axis(w)])
        return (g[0], g[1])
    }

    // MARK: VIFp

    /// Visual information fidelity in the pixel domain (Sheikh & Bovik 2006; piq's vif_p):
    /// four scales of Gaussian windows (17, 9, 5, 3 pixels, sigma = size / 5), visual noise
    /// variance `sigmaNSq`.
    public static func vifp(_ test: Tensor, _ reference: Tensor, sigmaNSq: Double = 2) throws -> [Double] {
        var (x, y) = try prepare(test, reference, minimumSize: Metric.vifp.minimumSize, name: "VIFp")
        let eps = 1e-8
        var num = try Tensor.zeros([x.size(0)], dtype: .float64)
        var den = try Tensor.zeros([x.size(0)], dtype: .float64)
        for scale in 0..<4 {
            let size = 1 << (4 - scale) + 1
            func filter(_ t: Tensor, stride: Int = 1) throws -> Tensor { try gaussianFilter(t, size: size, sigma: Double(size) / 5, stride: stride) }
            if scale > 0 {
                // Valid filtering then every second pixel: a stride-2 convolution.
                x = try filter(x, stride: 2)
                y = try filter(y, stride: 2)
            }
            let mx = try filter(x), my = try filter(y)
            let sxx = try filter(x * x) - mx * mx
            let syy = try filter(y * y) - my * my
            let sxy = try filter(x * y) - mx * my
            let vx = try sxx.relu(), vy = try syy.relu()
            let zero = try Tensor.zeros(like: vx)
            var g = try sxy / (vy + eps)
            var sv = try vx - g * sxy
            let yOK = try vy.ge(eps), xOK = try vx.ge(eps)
            g = try Tensor.where(yOK, g, zero)
            sv = try Tensor.where(yOK, sv, vx)
            let vyKept = try Tensor.where(yOK, vy, zero)
            g = try Tensor.where(xOK, g, zero)
            sv = try Tensor.where(xOK, sv, zero)
            sv = try Tensor.where(g.ge(0), sv, vx)
            g = try g.relu()
            sv = try sv.clamp(min: .double(eps))
            num = try num + ((g * g * vyKept) / (sv + sigmaNSq) + 1).log10().sum(dims: [1, 2, 3])
            den = try den + (vyKept / sigmaNSq + 1).log10().sum(dims: [1, 2, 3])
        }
        return try ((num + eps) / (den + eps)).toArray(Double.self)
    }

    // MARK: HaarPSI

    /// The Haar wavelet-based perceptual similarity index (Reisenhofer et al. 2018; piq's
    /// haarpsi): 2x2 average pooling, Haar filters at 3 scales, C = 30, alpha = 4.2.
    public static func haarpsi(_ test: Tensor, _ reference: Tensor, scales: Int = 3, c: Double = 30, alpha: Double = 4.2) throws -> [Double] {
        var (x, y) = try prepare(test, reference, minimumSize: 1 << (scales + 1), name: "HaarPSI")
        // Subsampling: zero-pad odd sides at the end, then 2x2 means.
        let odd = Swift.max(x.size(2) % 2, x.size(3) % 2)
        x = try x.pad([0, odd, 0, odd]).avgPool2d(kernelSize: [2, 2], stride: [2, 2])
        y = try y.pad([0, odd, 0, odd]).avgPool2d(kernelSize: [2, 2], stride: [2, 2])
        var cx: [Tensor] = [], cy: [Tensor] = []
        for scale in 0..<scales {
            let k = 1 << (scale + 1)
            // Rows: +1/k in the upper half, -1/k in the lower half; and its transpose.
            var h = [Double](repeating: 1 / Double(k), count: k * k)
            for i in (k / 2 * k)..<(k * k) { h[i] = -h[i] }
            let horizontal = try Tensor(h, shape: [1, 1, k, k])
            let kernels = try Tensor.cat([horizontal, horizontal.transpose(2, 3)], dim: 0)
            let pad = [k / 2 - 1, k / 2, k / 2 - 1, k / 2]
            cx.append(try x.pad(pad).conv2d(kernels))
            cy.append(try y.pad(pad).conv2d(kernels))
        }
        let ax = try Tensor.cat(cx, dim: 1).abs(), ay = try Tensor.cat(cy, dim: 1).abs()  // N, 2 scales, H, W
        let coarse = 2 * (scales - 1)
        let weights = try ax.narrow(1, start: coarse, length: 2).maximum(ay.narrow(1, start: coarse, length: 2))
        var maps: [Tensor] = []
        for orientation in 0..<2 {
            let index = try Tensor([Int64(orientation), Int64(orientation + 2)])
            let mx = try ax.indexSelect(1, index), my = try ay.indexSelect(1, index)
            maps.append(try similarity(mx, my, c).sum(dims: [1], keepdim: true) / 2)
        }
        let sim = try Tensor.cat(maps, dim: 1)
        let eps = Double.ulpOfOne
        let score = try ((sim * alpha).sigmoid() * weights).sum(dims: [1, 2, 3]) + eps
        let total = try weights.sum(dims: [1, 2, 3]) + eps
        let s = try score / total
        return try ((s / (1 - s)).log() / alpha).pow(2).toArray(Double.self)
    }
}

// MARK: FSIM

extension Perceptual {
    /// The feature similarity index (Zhang et al. 2011; piq's fsim on grey images): phase
    /// congruency from log-Gabor filters (4 scales, 4 orientations, shortest wavelength 6, scale
    /// factor 2, sigma_f 0.55, angular spread 1.2, noise threshold k = 2) and Scharr gradient
    /// magnitudes, after averaging by round(min(H, W) / 256) pixels.
    public static func fsim(_ test: Tensor, _ reference: Tensor, scales: Int = 4, orientations: Int = 4, minLength: Double = 6,
                            mult: Double = 2, sigmaF: Double = 0.55, deltaTheta: Double = 1.2, k: Double = 2) throws -> [Double] {
        var (x, y) = try prepare(test, reference, minimumSize: Metric.fsim.minimumSize, name: "FSIM")
        let pool = Swift.max(1, Int((Double(Swift.min(x.size(2), x.size(3))) / 256).rounded(.toNearestOrEven)))
        if pool > 1 {
            x = try x.avgPool2d(kernelSize: [pool, pool])
            y = try y.avgPool2d(kernelSize: [pool, pool])
        }
        let filters = try logGaborFilters(h: x.size(2), w: x.size(3), scales: scales, orientations: orientations, minLength: minLength,
                                          mult: mult, sigmaF: sigmaF, deltaTheta: deltaTheta)
        let pcx = try phaseCongruency(x, filters: filters, scales: scales, orientations: orientations, k: k)
        let pcy = try phaseCongruency(y, filters: filters, scales: scales, orientations: orientations, k: k)
        let gx = try scharrGradient(x), gy = try scharrGradient(y)
        let pcMax = try pcx.maximum(pcy)
        let score = try similarity(gx, gy, 160) * similarity(pcx, pcy, 0.85) * pcMax
        return try (score.sum(dims: [1, 2, 3]) / pcMax.sum(dims: [1, 2, 3])).toArray(Double.self)
    }

    /// (1, orientations x scales, H, W) frequency-domain filters, index o * scales + s, laid out
    /// as an unshifted FFT (zero frequency at [0, 0]), with piq's grid and low-pass.
    static func logGaborFilters(h: Int, w: Int, scales: Int, orientations: Int, minLength: Double, mult: Double, sigmaF: Double,
                                deltaTheta: Double) throws -> Tensor {
        let (u, v) = try frequencyGrid(h: h, w: w, shifted: true)
        let radius = try (u * u + v * v).sqrt()
        let theta = try (-v).atan2(u)
        let lowPass = try 1 / ((radius / 0.45).pow(.double(30)) + 1)
        // The zero frequency gets radius 1 (no log of 0) and a zero band-pass response.
        let dc = try radius.eq(0)
        let safeRadius = try radius.maskedFill(dc, .double(1))
        let logSigma = 2 * Foundation.log(sigmaF) * Foundation.log(sigmaF)
        let thetaSigma = Double.pi / (Double(orientations) * deltaTheta)
        let (sinT, cosT) = (try theta.sin(), try theta.cos())
        var bank: [Tensor] = []
        for o in 0..<orientations {
            let angle = Double(o) * Double.pi / Double(orientations)
            let ds = try sinT * Foundation.cos(angle) - cosT * Foundation.sin(angle)
            let dcos = try cosT * Foundation.cos(angle) + sinT * Foundation.sin(angle)
            let dtheta = try ds.atan2(dcos).abs()
            let spread = try (dtheta * dtheta * (-1 / (2 * thetaSigma * thetaSigma))).exp()
            for s in 0..<scales {
                let omega = 1 / (minLength * Foundation.pow(mult, Double(s)))
                let l = try (safeRadius / omega).log()
                let gabor = try ((l * l * (-1 / logSigma)).exp() * lowPass).maskedFill(dc, .double(0))
                bank.append(try spread * gabor)
            }
        }
        return try Tensor.stack(bank).unsqueeze(0)
    }

    /// Phase congruency (Kovesi's, as piq computes it), (N, 1, H, W).
    static func phaseCongruency(_ x: Tensor, filters: Tensor, scales: Int, orientations: Int, k: Double) throws -> Tensor {
        let eps = Double.ulpOfOne
        let (n, h, w) = (x.size(0), x.size(2), x.size(3))
        let eo = try (x.fftn(dims: [2, 3]) * filters).ifftn(dims: [2, 3]).viewAsReal().reshape([n, orientations, scales, h, w, 2])
        let even = try eo.select(5, 0), odd = try eo.select(5, 1)
        let an = try (even * even + odd * odd).sqrt()
        let f5 = try filters.reshape([1, orientations, scales, h, w])
        let emN = try f5.narrow(2, start: 0, length: 1).pow(2).sum(dims: [3, 4], keepdim: true)
        let sumE = try even.sum(dims: [2], keepdim: true), sumO = try odd.sum(dims: [2], keepdim: true)
        let xEnergy = try (sumE * sumE + sumO * sumO).sqrt() + eps
        let meanE = try sumE / xEnergy, meanO = try sumO / xEnergy
        var energy = try (even * meanE + odd * meanO - (even * meanO - odd * meanE).abs()).sum(dims: [2], keepdim: true)
        let first = try an.narrow(2, start: 0, length: 1).reshape([n, orientations, 1, 1, h * w])
        let median = try (first * first).quantile(0.5, dim: -1, keepdim: true, interpolation: .lower)
        let noisePower = try (median / -Foundation.log(0.5)) / emN
        let spatial = try filters.ifftn(dims: [2, 3]).real().reshape([1, orientations, scales, h, w]) * Foundation.sqrt(Double(h * w))
        let sumAn2 = try spatial.pow(2).sum(dims: [2, 3, 4], keepdim: true)
        var sumAiAj = try Tensor.zeros([1, orientations, 1, 1, 1], dtype: .float64)
        for s in 0..<(scales - 1) {
            let products = try spatial.narrow(2, start: s, length: 1) * spatial.narrow(2, start: s + 1, length: scales - s - 1)
            sumAiAj = try sumAiAj + products.sum(dims: [2, 3, 4], keepdim: true)
        }
        let noiseEnergy2 = try noisePower * sumAn2 * 2 + noisePower * sumAiAj * 4
        let tau = try (noiseEnergy2 / 2).sqrt()
        let threshold = try (tau * Foundation.sqrt(Double.pi / 2) + (tau * tau * (2 - Double.pi / 2)).sqrt() * k) / 1.7
        energy = try (energy - threshold).relu()
        let energyAll = try energy.sum(dims: [1, 2]) + eps
        let anAll = try an.sum(dims: [1, 2]) + eps
        return try (energyAll / anAll).unsqueeze(1)
    }
}

// MARK: VSI

extension Perceptual {
    /// The visual saliency-induced index (Zhang et al. 2014; piq's vsi), for grey images copied
    /// to three channels as piq does: SDSP saliency, Scharr gradients of the L channel and the
    /// chromatic M and N channels (constant multiples of the grey level here).
    public static func vsi(_ test: Tensor, _ reference: Tensor, c1: Double = 1.27, c2: Double = 386, c3: Double = 130,
                           alpha: Double = 0.4, beta: Double = 0.02) throws -> [Double] {
        let (x, y) = try prepare(test, reference, minimumSize: Metric.vsi.minimumSize, name: "VSI")
        var vx = try sdsp(x), vy = try sdsp(y)
        // RGB (v, v, v) to LMN: L = 0.96 v, M = -0.01 v, N = -0.09 v.
        var lx = try x * 0.96, ly = try y * 0.96
        var mx = try x * (0.30 + 0.04 - 0.35), my = try y * (0.30 + 0.04 - 0.35)
        var nx = try x * (0.34 - 0.6 + 0.17), ny = try y * (0.34 - 0.6 + 0.17)
        let k = Swift.max(1, Int((Double(Swift.min(x.size(2), x.size(3))) / 256).rounded(.toNearestOrEven)))
        if k > 1 {
            let pad = [k / 2, (k - 1) / 2, k / 2, (k - 1) / 2]
            func pool(_ t: Tensor) throws -> Tensor {
                try (k / 2 > 0 ? t.pad(pad, mode: .replicate) : t).avgPool2d(kernelSize: [k, k])
            }
            (vx, vy, lx, ly) = (try pool(vx), try pool(vy), try pool(lx), try pool(ly))
            (mx, my, nx, ny) = (try pool(mx), try pool(my), try pool(nx), try pool(ny))
        }
        let sVS = try similarity(vx, vy, c1)
        let sGM = try similarity(scharrGradient(lx), scharrGradient(ly), c2)
        let sC = try similarity(mx, my, c3) * similarity(nx, ny, c3)
        // The real part of sC^beta: |sC|^beta cos(beta * arg(sC)).
        let argument = try Tensor.where(sC.lt(0), Tensor.full([], .double(Double.pi), dtype: .float64), Tensor.zeros([], dtype: .float64))
        let sCPow = try sC.abs().pow(.double(beta)) * (argument * beta).cos()
        let s = try sVS * sGM.pow(.double(alpha)) * sCPow
        let vsMax = try vx.maximum(vy)
        let eps = Double.ulpOfOne
        return try ((((s * vsMax).sum(dims: [1, 2, 3]) + eps) / (vsMax.sum(dims: [1, 2, 3]) + eps))).toArray(Double.self)
    }

    /// SDSP visual saliency (Zhang et al. 2013, piq's sdsp) of (N, 1, H, W) grey images in
    /// [0, 255]: at 256 x 256, a log-Gabor band of the CIELAB image (D50), a central bias and
    /// a colour prior; back to H x W and min-max normalized.
    static func sdsp(_ x: Tensor, omega0: Double = 0.021, sigmaF: Double = 1.34, sigmaD: Double = 145, sigmaC: Double = 0.001) throws -> Tensor {
        let size = 256
        let small = try x.interpolate(size: [size, size], mode: .bilinear, alignCorners: false) / 255
        // sRGB (v, v, v) -> XYZ (the rows of the sRGB matrix summed) -> CIELAB with the D50 white.
        let linear = try Tensor.where(small.le(0.04045), small / 12.92, ((small + 0.055) / 1.055).pow(2.4))
        let white = [0.9642119944211994, 1, 0.8251882845188288]
        let rows = [0.4124564 + 0.3575761 + 0.1804375, 0.2126729 + 0.7151522 + 0.0721750, 0.0193339 + 0.1191920 + 0.9503041]
        func f(_ t: Tensor) throws -> Tensor { try Tensor.where(t.gt(0.008856), t.pow(.double(1.0 / 3)), (t * 903.3 + 16) / 116) }
        let fx = try f(linear * (rows[0] / white[0])), fy = try f(linear * (rows[1] / white[1])), fz = try f(linear * (rows[2] / white[2]))
        let lab = try Tensor.cat([fy * 116 - 16, (fx - fy) * 500, (fy - fz) * 200], dim: 1)  // N, 3, 256, 256
        // The log-Gabor band-pass on piq's 256 x 256 grid (zero frequency at [0, 0], nothing
        // beyond radius 0.5), and the central bias on the unshifted grid (coordinates grid n + 1).
        let (u, v) = try frequencyGrid(h: size, w: size, shifted: true)
        let r = try (u * u + v * v).sqrt()
        let outside = try r.gt(0.5).logicalOr(r.eq(0))
        let l = try (r.maskedFill(outside, .double(1)) / omega0).log()
        let band = try (l * l * (-1 / (2 * sigmaF * sigmaF))).exp().maskedFill(outside, .double(0)).reshape([1, 1, size, size])
        let (cu, cv) = try frequencyGrid(h: size, w: size, shifted: false)
        let du = try cu * Double(size) + 1, dv = try cv * Double(size) + 1
        let sD = try ((du * du + dv * dv) * (-1 / (sigmaD * sigmaD))).exp().reshape([1, 1, size, size])
        let filtered = try (lab.fftn(dims: [2, 3]) * band).ifftn(dims: [2, 3]).real()
        let sF = try filtered.pow(2).sum(dims: [1], keepdim: true).sqrt()
        let eps = Double.ulpOfOne
        let lo = try lab.min(dims: [2, 3], keepdim: true), hi = try lab.max(dims: [2, 3], keepdim: true)
        let normalized = try (lab - lo) / (hi - lo + eps)
        let chroma = try normalized.narrow(1, start: 1, length: 2).pow(2).sum(dims: [1], keepdim: true)
        let sC = try 1 - (chroma * (-1 / (sigmaC * sigmaC))).exp()
        let map = try (sF * sD * sC).interpolate(size: [x.size(2), x.size(3)], mode: .bilinear, alignCorners: true)
        let mLo = try map.min(dims: [2, 3], keepdim: true), mHi = try map.max(dims: [2, 3], keepdim: true)
        return try (map - mLo) / (mHi - mLo + eps)
    }
}
