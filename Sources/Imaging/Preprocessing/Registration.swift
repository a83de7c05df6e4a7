import CITK
import Foundation
import Torch

/// Settings of a rigid or affine registration (ITK's v4 framework; see `Registration.register`).
public struct RegistrationSettings: Codable, Equatable, Sendable {
    /// Rigid (6 parameters) then, when true, affine (12), started from the rigid result.
    public var affine = false
    /// Resolution levels: shrink 2^(levels-1) ... 1, Gaussian smoothing levels-1 ... 0 voxels.
    public var levels = 3
    /// Iterations per level at most (regular step gradient descent).
    public var iterations = 200
    /// Mattes mutual information histogram bins.
    public var bins = 50
    /// Fraction of the fixed voxels sampled at random for the metric.
    public var sampling = 0.25
    public var learningRate = 1.0
    public var minimumStep = 1e-4
    /// Seed of the sampling: the same seed gives the same result.
    public var seed = 7

    public init() {}

    public func validate() throws {
        guard (1...6).contains(levels) else { throw ITKError("registration: levels \(levels) must be 1 to 6") }
        guard iterations >= 1, bins >= 8 else { throw ITKError("registration: iterations >= 1 and bins >= 8 (got \(iterations), \(bins))") }
        guard sampling > 0, sampling <= 1 else { throw ITKError("registration: the sampling fraction \(sampling) must be in (0, 1]") }
        guard learningRate > 0, minimumStep > 0 else { throw ITKError("registration: the learning rate and minimum step must be > 0") }
    }
}

/// A spatial transform between two images' world spaces (RAS, mm), as `upres register` writes it
/// (T.json) and `upres resample --transform` reads it.
public struct SpatialTransform: Codable, Equatable, Sendable {
    public var format = "upres-transform-1"
    /// rigid or affine.
    public var kind: String
    /// 4 x 4, row-major: maps a point of the fixed image's world space (RAS mm) to the moving
    /// image's (ITK's and ANTs' direction: resampling the moving image onto the fixed grid looks
    /// up, for each fixed voxel, the moving image at this point).
    public var fixedToMoving: [[Double]]
    public var fixed: String?
    public var moving: String?
    /// The final metric value (negative mutual information: lower is better) and iterations.
    public var metric: Double?
    public var iterations: Int?
    public var settings: RegistrationSettings?

    public init(kind: String, fixedToMoving: Affine) {
        self.kind = kind
        self.fixedToMoving = fixedToMoving.rows
    }

    public var matrix: Affine { Affine(rows: fixedToMoving) }

    /// The rotation angle of the linear part's closest rotation, in degrees (rigid: its rotation).
    public var rotationDegrees: Double {
        // The closest rotation (polar decomposition) by Newton's iteration R <- (R + R^-T) / 2.
        var m = matrix.linear
        for _ in 0..<30 {
            guard let inv = Affine(rows: m.map { $0 + [0] } + [[0, 0, 0, 1]]).inverse()?.linear else { break }
            m = (0..<3).map { i in (0..<3).map { j in (m[i][j] + inv[j][i]) / 2 } }
        }
        let trace = m[0][0] + m[1][1] + m[2][2]
        return Foundation.acos(Swift.max(-1, Swift.min(1, (trace - 1) / 2))) * 180 / .pi
    }

    public static func read(_ url: URL) throws -> SpatialTransform {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw ITKError("\(url.path): cannot read the transform") }
        let t: SpatialTransform
        do { t = try JSONDecoder().decode(SpatialTransform.self, from: data) } catch {
            throw ITKError("\(url.path): not a transform written by upres register (\(error))")
        }
        guard t.format == "upres-transform-1" else { throw ITKError("\(url.path): transform format \(t.format); expected upres-transform-1") }
        guard t.fixedToMoving.count == 4, t.fixedToMoving.allSatisfy({ $0.count == 4 && $0.allSatisfy(\.isFinite) }),
              t.fixedToMoving[3] == [0, 0, 0, 1], t.matrix.inverse() != nil else {
            throw ITKError("\(url.path): fixedToMoving must be an invertible 4 x 4 affine matrix with last row 0 0 0 1")
        }
        return t
    }
}

public enum Registration {
    public struct Result {
        public var transform: SpatialTransform
        /// The moving image resampled onto the fixed grid.
        public var resampled: Volume
    }

    /// Registers `moving` to `fixed`: centre-of-mass initialisation, then multi-resolution rigid
    /// (and affine) optimisation of Mattes mutual information (inside `fixedMask` when given).
    public static func register(moving: Volume, fixed: Volume, fixedMask: Volume? = nil, settings: RegistrationSettings = RegistrationSettings(),
                                interpolation: Interpolation = .linear) throws -> Result {
        try settings.validate()
        for (v, what) in [(moving, "moving"), (fixed, "fixed")] {
            guard v.shape.count == 3 else { throw ITKError("registration: the \(what) image must be 3-D, got shape \(v.shape)") }
            guard try v.data.isFinite().all().itemBool() else { throw ITKError("registration: the \(what) image has NaN or infinite voxels") }
            guard try v.data.max().item() > v.data.min().item() else { throw ITKError("registration: the \(what) image is constant") }
        }
        if let m = fixedMask {
            guard m.shape == fixed.shape, m.affine.maxDifference(fixed.affine) < 1e-3 else {
                throw ITKError("registration: the fixed mask's grid (\(m.shape)) differs from the fixed image's (\(fixed.shape))")
            }
            guard try m.data.ne(.double(0)).any().itemBool() else { throw ITKError("registration: the fixed mask is empty") }
        }
        var fg = try ITKBridge.geometry(fixed), mg = try ITKBridge.geometry(moving)
        let f = try ITKBridge.buffer(fixed), m = try ITKBridge.buffer(moving)
        let mask = try fixedMask.map { try ITKBridge.maskBuffer($0) }
        var lps = [Double](repeating: 0, count: 16)
        var metric = 0.0, iterations: Int32 = 0
        try ITKBridge.call("registration") {
            func run(_ maskPointer: UnsafePointer<UInt8>?) -> Int32 {
                var s = citk_registration_settings(affine: settings.affine ? 1 : 0, levels: Int32(settings.levels), iterations: Int32(settings.iterations),
                                                   bins: Int32(settings.bins), sampling: settings.sampling, learning_rate: settings.learningRate,
                                                   min_step: settings.minimumStep, seed: Int32(settings.seed), fixed_mask: maskPointer)
                return citk_register(f, &fg, m, &mg, &s, &lps, &metric, &iterations)
            }
            if let mask { return mask.withUnsafeBufferPointer { run($0.baseAddress) } }
            return run(nil)
        }
        var t = SpatialTransform(kind: settings.affine ? "affine" : "rigid", fixedToMoving: ITKBridge.lpsToRAS(lps))
        t.metric = metric
        t.iterations = Int(iterations)
        t.settings = settings
        return Result(transform: t, resampled: try apply(t, to: moving, like: fixed, interpolation: interpolation))
    }

    /// The moving image resampled onto `target`'s grid through the transform: each target voxel at
    /// world point q takes the moving image's value at fixedToMoving(q).
    public static func apply(_ t: SpatialTransform, to moving: Volume, like target: Volume, interpolation: Interpolation = .linear) throws -> Volume {
        guard let inverse = t.matrix.inverse() else { throw ITKError("the transform is not invertible") }
        // The moving voxels placed in the fixed space: voxel v sits at fixedToMoving^-1(A_moving v).
        let placed = Volume(data: moving.data, affine: inverse * moving.affine, metadata: moving.metadata)
        return try placed.resampled(like: target, interpolation: interpolation, antiAlias: false)
    }
}
