import CITK
import Foundation
import Torch

/// N4's settings, with ITK's (and SimpleITK's) defaults.
public struct N4Settings: Codable, Equatable, Sendable {
    /// The image (and mask) are shrunk by this factor along every axis for the fit; the bias field
    /// is then evaluated on the full grid.
    public var shrink = 4
    /// Iterations per fitting level (the number of levels is their count).
    public var iterations = [50, 50, 50, 50]
    public var convergence = 0.001
    /// Control points of the B-spline per axis at the first level (doubled at each further level).
    public var controlPoints = 4
    public var splineOrder = 3
    public var biasFWHM = 0.15
    public var wienerNoise = 0.01
    public var histogramBins = 200

    public init() {}

    public func validate() throws {
        guard shrink >= 1 else { throw ITKError("N4: the shrink factor \(shrink) must be at least 1") }
        guard !iterations.isEmpty, iterations.allSatisfy({ $0 >= 1 }) else { throw ITKError("N4: iterations \(iterations): one count >= 1 per level") }
        guard convergence >= 0, convergence.isFinite else { throw ITKError("N4: the convergence threshold \(convergence) must be >= 0") }
        guard splineOrder >= 1, controlPoints > splineOrder else {
            throw ITKError("N4: \(controlPoints) control points for a spline of order \(splineOrder); they must exceed the order")
        }
        guard biasFWHM > 0, wienerNoise > 0, histogramBins >= 2 else { throw ITKError("N4: bias FWHM and Wiener noise must be > 0, histogram bins >= 2") }
    }
}

/// Intensity non-uniformity correction.
public enum BiasCorrection {
    public struct Result {
        public var corrected: Volume
        /// The log of the bias field: corrected = image / exp(logBias).
        public var logBias: Volume
        /// Iterations at the last level, and the convergence measure there.
        public var iterations: Int
        public var convergence: Double
    }

    /// N4 (Tustison et al. 2010) through ITK's filter: fitted on the image shrunk by
    /// `settings.shrink` inside the mask (every voxel when nil), the bias evaluated on the full grid
    /// from the fitted B-spline lattice (as SimpleITK's `GetLogBiasFieldAsImage`). Voxels outside
    /// the mask are corrected too. Non-positive voxels do not take part in the fit.
    public static func n4(_ v: Volume, mask: Volume? = nil, settings: N4Settings = N4Settings()) throws -> Result {
        try settings.validate()
        guard v.shape.count == 3 else { throw ITKError("N4 needs a 3-D volume, got shape \(v.shape)") }
        guard try v.data.isFinite().all().itemBool() else { throw ITKError("N4: the volume has NaN or infinite voxels") }
        if let mask {
            guard mask.shape == v.shape, mask.affine.maxDifference(v.affine) < 1e-3 else {
                throw ITKError("N4: the mask's grid (\(mask.shape)) differs from the volume's (\(v.shape)); resample it with --like first")
            }
        }
        let geometry = try ITKBridge.geometry(v)
        let input = try ITKBridge.buffer(v)
        let maskValues = try mask.map { try ITKBridge.maskBuffer($0) }
        var corrected = [Float](repeating: 0, count: input.count), logBias = [Float](repeating: 0, count: input.count)
        var elapsed: Int32 = 0, convergence = 0.0
        let iterations = settings.iterations.map(Int32.init)
        try iterations.withUnsafeBufferPointer { it in
            var s = citk_n4_settings(shrink: Int32(settings.shrink), iterations: it.baseAddress, levels: Int32(iterations.count),
                                     convergence: settings.convergence, control_points: Int32(settings.controlPoints),
                                     spline_order: Int32(settings.splineOrder), bias_fwhm: settings.biasFWHM,
                                     wiener_noise: settings.wienerNoise, histogram_bins: Int32(settings.histogramBins))
            var g = geometry
            try ITKBridge.call("N4") {
                if let maskValues {
                    return maskValues.withUnsafeBufferPointer { m in citk_n4(input, m.baseAddress, &g, &s, &corrected, &logBias, &elapsed, &convergence) }
                }
                return citk_n4(input, nil, &g, &s, &corrected, &logBias, &elapsed, &convergence)
            }
        }
        return Result(corrected: try ITKBridge.volume(corrected, geometry: geometry, metadata: v.metadata).withAffine(v.affine),
                      logBias: try ITKBridge.volume(logBias, geometry: geometry).withAffine(v.affine),
                      iterations: Int(elapsed), convergence: convergence)
    }
}

extension Volume {
    /// The same voxels with this affine (the round trip through ITK's geometry keeps it up to
    /// rounding; the input's own affine is restored exactly).
    func withAffine(_ a: Affine) -> Volume { Volume(data: data, affine: a, metadata: metadata) }
}
