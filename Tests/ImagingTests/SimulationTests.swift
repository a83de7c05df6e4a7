import Foundation
import Testing
@testable import Imaging
import Torch

/// A volume of `shape` 1 mm voxels (optionally with another affine) filled by `value(i, j, k)`.
private func phantom(_ shape: [Int], affine: Affine = .identity, _ value: (Int, Int, Int) -> Double) throws -> Volume {
    var v = [Double]()
    v.reserveCapacity(shape.reduce(1, *))
    for i in 0..<shape[0] { for j in 0..<shape[1] { for k in 0..<shape[2] { v.append(value(i, j, k)) } } }
    return Volume(data: try Tensor(v, shape: shape).to(.float32), affine: affine)
}

private func at(_ t: Tensor, _ i: Int...) throws -> Double {
    var x = t
    for v in i { x = try x.select(0, v) }
    return try x.item()
}

private func values(_ t: Tensor) throws -> [Double] { try t.to(.float64).contiguous().toArray(Double.self) }

@Suite struct SliceAcquisitionTests {
    // 61 voxels, 5 mm slices every 6 mm: 10 slices centred on voxels 3, 9, ..., 57; slice 0
    // covers voxels 1...5 exactly, voxel 6 lies in the gap.
    let acquisition = SliceAcquisition(direction: .voxelAxis(2), thickness: 5, spacing: 6, profile: .rectangular)

    @Test func sliceCentresAreSymmetricInTheFieldOfView() {
        #expect(acquisition.sliceCentres(n: 61, voxelSize: 1) == stride(from: 3.0, through: 57, by: 6).map { $0 })
    }

    @Test func aThinPlaneInTheGapVanishesAndInsideASliceIsAveraged() throws {
        let gap = try phantom([4, 4, 61]) { _, _, k in k == 6 ? 100 : 0 }
        let lrGap = try acquisition.apply(to: gap)
        #expect(lrGap.shape == [4, 4, 10])
        #expect(try lrGap.data.abs().max().item() == 0)

        let inside = try phantom([4, 4, 61]) { _, _, k in k == 9 ? 100 : 0 }
        let lr = try acquisition.apply(to: inside)
        let profile = try values(lr.data.select(0, 0).select(0, 0))
        expectClose(profile, [0, 20, 0, 0, 0, 0, 0, 0, 0, 0], atol: 1e-5, "rectangular average of a plane in slice 1")

        // A Gaussian profile spreads the plane over its neighbours but keeps the slice's peak.
        var g = acquisition
        g.profile = .gaussian
        let lrg = try values(g.apply(to: inside).data.select(0, 0).select(0, 0))
        #expect(lrg[1] > 5 * lrg[0] && lrg[1] > 5 * lrg[2] && lrg[1] < 100)
    }

    @Test func theRectangularProfilePreservesTheMean() throws {
        var rng = SystemRandomNumberGenerator()
        let vals = (0..<(6 * 5 * 60)).map { _ in Double.random(in: 0...100, using: &rng) }
        let hr = Volume(data: try Tensor(vals, shape: [6, 5, 60]), affine: .identity)
        let contiguous = SliceAcquisition(direction: .voxelAxis(2), thickness: 5, spacing: 5)
        let lr = try contiguous.apply(to: hr)
        #expect(lr.shape == [6, 5, 12])
        #expect(closeEnough(try lr.data.to(.float64).mean().item(), try hr.data.mean().item(), rtol: 1e-6))
        // Any profile keeps a constant image constant.
        for p in SliceProfile.allCases {
            let c = try SliceAcquisition(direction: .voxelAxis(2), thickness: 5, spacing: 6, profile: p)
                .apply(to: phantom([3, 3, 61]) { _, _, _ in 7 })
            #expect(try (c.data - 7).abs().max().item() < 1e-5, "profile \(p)")
        }
    }

    @Test func profilesHaveTheirWidths() {
        // Gaussian and windowed-sinc profiles have FWHM = thickness: half height at +-1/2.
        #expect(closeEnough(SliceProfile.gaussian.value(0.5), 0.5, rtol: 1e-9))
        #expect(closeEnough(SliceProfile.sinc.value(0.5), 0.5, rtol: 0.1))
        #expect(SliceProfile.sinc.value(0) == 1 && SliceProfile.sinc.value(1) < 0.05)
        // The integral is the area under the profile (numerical check).
        let steps = 20000
        var area = 0.0
        for i in 0..<steps { area += SliceProfile.gaussian.value(-3 + 6 * (Double(i) + 0.5) / Double(steps)) * 6 / Double(steps) }
        #expect(closeEnough(SliceProfile.gaussian.integral(from: -3, to: 3), area, rtol: 1e-6))
    }

    @Test func sliceCentresLandWhereTheAffineSays() throws {
        // An oblique HR grid with 0.8 mm voxels: every LR voxel's world position (by the LR
        // affine) is the world position of its slice centre in the HR grid.
        let c = cos(0.3), s = sin(0.3)
        let affine = Affine(rows: [[0.8 * c, -0.8 * s, 0, 12], [0.8 * s, 0.8 * c, 0, -30], [0, 0, 0.8, 40], [0, 0, 0, 1]])
        let hr = try phantom([5, 6, 70], affine: affine) { _, _, k in Double(k) }
        let a = SliceAcquisition(direction: .voxelAxis(2), thickness: 4, spacing: 5)
        let lr = try a.apply(to: hr)
        let centres = a.sliceCentres(n: 70, voxelSize: 0.8)
        #expect(lr.shape == [5, 6, centres.count])
        expectClose(lr.spacing, [0.8, 0.8, 5], rtol: 1e-9)
        for (k, z) in centres.enumerated() {
            for (i, j) in [(0, 0), (4, 5), (2, 3)] {
                expectClose(lr.world(ofVoxel: [Double(i), Double(j), Double(k)]), hr.world(ofVoxel: [Double(i), Double(j), z]),
                            atol: 1e-9, "slice \(k) voxel (\(i), \(j))")
            }
            // A linear ramp averaged symmetrically gives the ramp's value at the slice centre.
            #expect(closeEnough(try at(lr.data, 0, 0, k), z, rtol: 1e-5))
        }
    }

    @Test func anatomicalDirectionsPickTheMatchingVoxelAxis() throws {
        // LAS-like grid with axes permuted: voxel axis 0 runs S, 1 runs A, 2 runs L.
        let affine = Affine(rows: [[0, 0, -1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]])
        let hr = try phantom([30, 8, 9], affine: affine) { i, _, _ in Double(i) }
        let lr = try SliceAcquisition(direction: .plane(.axial), thickness: 3, spacing: 3).apply(to: hr)
        #expect(lr.shape == [10, 8, 9])
        let sag = try SliceAcquisition(direction: .plane(.sagittal), thickness: 3, spacing: 3).apply(to: hr)
        #expect(sag.shape == [30, 8, 3])
    }

    @Test func impossibleSettingsAreRefusedWithTheirName() throws {
        let hr = try phantom([4, 4, 20]) { _, _, _ in 1 }
        func message(_ a: SliceAcquisition) -> String {
            do { _ = try a.apply(to: hr); return "" } catch { return "\(error)" }
        }
        #expect(message(SliceAcquisition(thickness: 0, spacing: 6)).contains("slice thickness 0 mm must be > 0"))
        #expect(message(SliceAcquisition(thickness: 1, spacing: 0.5)).contains("below the input's voxel size 1 mm"))
        #expect(message(SliceAcquisition(thickness: 30, spacing: 30)).contains("larger than the field of view"))
        #expect(message(SliceAcquisition(direction: .voxelAxis(3))).contains("not a voxel axis"))
        #expect(SliceDirection("oblique") == nil)
        #expect(throws: DegradationError.self) {
            try JSONDecoder().decode(SliceDirection.self, from: Data("\"oblique\"".utf8))
        }
    }
}

@Suite struct KSpaceTruncationTests {
    let hr: Volume = {
        var rng = SystemRandomNumberGenerator()
        let vals = (0..<(16 * 20 * 12)).map { _ in Double.random(in: 0...1, using: &rng) }
        return Volume(data: try! Tensor(vals, shape: [16, 20, 12]), affine: .scaling([1.5, 1, 2], translation: [3, 4, 5]))
    }()

    /// The mask written out independently: integer frequency q (numpy's fftfreq * n) is kept
    /// when it lies in the central m = round(n / f) frequencies.
    func keep(_ n: Int, _ f: Double) -> [Double] {
        let m = max(1, Int((Double(n) / f).rounded()))
        return (0..<n).map { k in
            let q = k < (n + 1) / 2 ? k : k - n
            return (q >= -(m / 2) && q < m - m / 2) ? 1 : 0
        }
    }

    @Test func truncationEqualsAnExplicitFFTMaskAndInverse() throws {
        let t = KSpaceTruncation(factor: 4, axes: [0, 1], mode: .slice2D)
        let out = try t.apply(to: hr)
        #expect(out.shape == hr.shape && out.affine == hr.affine)
        let x = try hr.data.to(.float64)
        let mask = try Tensor(keep(16, 4), shape: [16, 1, 1]) * Tensor(keep(20, 4), shape: [1, 20, 1])
        let expected = try (x.fftn(dims: [0, 1]) * mask).ifftn(dims: [0, 1]).abs()
        #expect(try (out.data.to(.float64) - expected).abs().max().item() < 1e-5)
        // Factor 1 changes nothing; 3-D mode without a radial window gives the same image.
        let same = try KSpaceTruncation(factor: 1, axes: [0, 1, 2], mode: .volume3D).apply(to: hr)
        #expect(try (same.data - hr.data).abs().max().item() < 1e-5)
        let threeD = try KSpaceTruncation(factor: 4, axes: [0, 1], mode: .volume3D).apply(to: hr)
        #expect(try (threeD.data - out.data).abs().max().item() < 1e-5)
    }

    @Test func windowsMatchTheirFormulas() throws {
        // Hann along one axis of 20 at factor 2: m = 10, weight 0.5 (1 + cos(pi q / 5)).
        let t = KSpaceTruncation(factor: 2, axes: [1], window: .hann)
        let w = try values(t.weights(shape: [1, 20, 1], axes: [1]))
        let expectedHann = (0..<20).map { k -> Double in
            let q = k < 10 ? k : k - 20
            return (q >= -5 && q < 5) ? 0.5 * (1 + cos(Double.pi * Double(q) / 5)) : 0
        }
        expectClose(w, expectedHann, atol: 1e-12, "Hann")
        // Fermi in 2-D is radial: 1 / (1 + exp((r - R) / w)) with r = |(qx, qy)| / (m / 2).
        let f = KSpaceTruncation(factor: 2, axes: [0, 1], window: .fermi(radius: 0.8, width: 0.1))
        let fw = try f.weights(shape: [16, 20, 1], axes: [0, 1])
        let (qx, qy) = (3, -4)  // inside the band (m = 8 and 10)
        let r = ((Double(qx) / 4) * (Double(qx) / 4) + (Double(qy) / 5) * (Double(qy) / 5)).squareRoot()
        #expect(closeEnough(try at(fw, qx, 20 + qy, 0), 1 / (1 + exp((r - 0.8) / 0.1)), rtol: 1e-12))
        #expect(try at(fw, 5, 0, 0) == 0)  // outside the band
    }

    @Test func reducedMatrixHasLargerVoxelsAndKeepsIntensity() throws {
        let t = KSpaceTruncation(factor: 4, axes: [0, 1], reducedMatrix: true)
        let out = try t.apply(to: hr)
        #expect(out.shape == [4, 5, 12])
        expectClose(out.spacing, [6, 4, 2], rtol: 1e-12)
        expectClose(out.affine.translation, [3, 4, 5], atol: 1e-12)
        // The mean (the DC term) is kept.
        #expect(closeEnough(try out.data.to(.float64).mean().item(), try hr.data.to(.float64).mean().item(), rtol: 0.05))
        // A constant image stays constant.
        var c = hr
        c.data = try Tensor.full([16, 20, 12], .double(3), dtype: .float32)
        #expect(try (t.apply(to: c).data - 3).abs().max().item() < 1e-5)
    }

    @Test func badFractionsAndAxesAreRefused() throws {
        func message(_ t: KSpaceTruncation) -> String {
            do { _ = try t.apply(to: hr); return "" } catch { return "\(error)" }
        }
        #expect(message(KSpaceTruncation(factor: 0.5)).contains("must be in (0, 1]"))
        #expect(message(KSpaceTruncation(factor: 2, axes: [0, 3])).contains("voxel axes"))
        #expect(message(KSpaceTruncation(factor: 2, axes: [0, 1, 2], mode: .slice2D)).contains("at most two axes"))
    }
}

@Suite struct NoiseBiasAndBlurTests {
    @Test func ricianAndGaussianNoiseHaveTheRequestedSNR() throws {
        let v = Volume(data: try Tensor.full([48, 48, 48], .double(100), dtype: .float32), affine: .identity)
        for kind in NoiseModel.Kind.allCases {
            let s = SimulationSettings(model: .kspace(KSpaceTruncation(factor: 1, axes: [0])), noise: NoiseModel(kind: kind, snr: 20), seed: 3)
            let r = try v.simulated(s)
            #expect(r.noiseSigma == 5)
            let y = try r.lowResolution.data.to(.float64)
            // Gaussian: SD; Rician: E[y^2] = A^2 + 2 sigma^2.
            let sigma = kind == .gaussian
                ? try y.std().item()
                : (((try (y * y).mean().item()) - 100 * 100) / 2).squareRoot()
            #expect(closeEnough(100 / sigma, 20, rtol: 0.05), "\(kind): measured SNR \(100 / sigma)")
        }
        // In a mask, the signal is the mask's mean.
        let half = try phantom([10, 10, 10]) { i, _, _ in i < 5 ? 50 : 150 }
        let mask = try Tensor.arange(0, 10, dtype: .float32).reshape([10, 1, 1]).lt(5.0).expand([10, 10, 10])
        #expect(try NoiseModel(kind: .gaussian, snr: 10).sigma(for: half.data, mask: mask) == 5)
    }

    /// The background estimate of a magnitude image's noise: a head-like ball in air with Rician
    /// noise of sigma 5 gives 5 within 5%; without noise (zero-filled air) it gives 0.
    @Test func backgroundSigmaRecoversTheNoiseOfAir() throws {
        let ball = try phantom([48, 56, 24]) { i, j, k in
            let r = (pow(Double(i) - 24, 2) + pow(Double(j) - 28, 2)) / 400 + pow(Double(k) - 12, 2) / 100
            return r < 1 ? 100 : 0
        }
        #expect(try NoiseModel.backgroundSigma(of: ball.data) == 0)
        let noisy = try NoiseModel(kind: .rician, snr: 20).apply(to: ball.data, sigma: 5, generator: Generator(seed: 2))
        let sigma = try NoiseModel.backgroundSigma(of: noisy)
        #expect(closeEnough(sigma, 5, rtol: 0.05), "estimated \(sigma)")
        // A field of view inside the head: no corner is air, so no noise is claimed.
        let inside = try noisy.narrow(0, start: 14, length: 20).narrow(1, start: 18, length: 20).narrow(2, start: 8, length: 8)
        #expect(try NoiseModel.backgroundSigma(of: inside) == 0)
        #expect(throws: DegradationError.self) { try NoiseModel.backgroundSigma(of: Tensor.zeros([4, 4])) }
    }

    @Test func seededRunsRepeatAndDifferentSeedsDiffer() throws {
        let v = try phantom([12, 12, 30]) { i, j, k in Double(i + j + k) }
        var s = try SimulationSettings.preset("thick-5-6")
        s.model = .slices(SliceAcquisition(direction: .voxelAxis(2), thickness: 5, spacing: 6))
        s.noise = NoiseModel(kind: .rician, snr: 15)
        s.bias = BiasField(strength: 0.2)
        s.seed = 7
        let a = try v.simulated(s).lowResolution.data, b = try v.simulated(s).lowResolution.data
        #expect(try (a - b).abs().max().item() == 0)
        s.seed = 8
        #expect(try (v.simulated(s).lowResolution.data - a).abs().max().item() > 0)
    }

    @Test func biasFieldIsSmoothAndBounded() throws {
        let field = try BiasField(strength: 0.2).field(shape: [40, 30, 20], generator: Generator(seed: 1))
        #expect(try field.max().item() <= exp(0.2) + 1e-9 && field.min().item() >= exp(-0.2) - 1e-9)
        #expect(try field.max().item() - field.min().item() > 0.1)
        let step = try (field.narrow(0, start: 1, length: 39) - field.narrow(0, start: 0, length: 39)).abs().max().item()
        // Smooth: one voxel step changes the field by a small part of its range (4 control points
        // over 40 voxels).
        let range = try field.max().item() - field.min().item()
        #expect(step < 0.15 * range, "neighbouring voxels differ by \(step) of a range of \(range)")
    }

    @Test func gaussianBlurThenDownsampling() throws {
        let hr = try phantom([20, 20, 8]) { i, j, _ in Double(i * 20 + j) }
        let g = GaussianDownsampling(sigma: [1.5], unit: .voxels, factor: [2, 2, 1])
        let lr = try g.apply(to: hr)
        #expect(lr.shape == [10, 10, 8])
        expectClose(lr.spacing, [2, 2, 1], rtol: 1e-12)
        // The new voxel centres sit halfway between old ones, in world space.
        expectClose(lr.world(ofVoxel: [0, 0, 0]), [0.5, 0.5, 0], atol: 1e-12)
        // A ramp away from the borders is unchanged by the symmetric blur: value at the centre.
        #expect(closeEnough(try at(lr.data, 5, 5, 0), 10.5 * 20 + 10.5, rtol: 1e-5))
        #expect(throws: DegradationError.self) { try GaussianDownsampling(sigma: [-1]).apply(to: hr) }
        #expect(throws: DegradationError.self) { try GaussianDownsampling(factor: [0.5]).apply(to: hr) }
    }

    @Test func settingsRoundTripThroughJSON() throws {
        for (_, p) in SimulationSettings.presets {
            let data = try JSONEncoder().encode(p.settings)
            #expect(try JSONDecoder().decode(SimulationSettings.self, from: data) == p.settings)
        }
        #expect(throws: DegradationError.self) { try SimulationSettings.preset("thick-7") }
    }
}

@Suite struct ColinSimulationTests {
    @Test func thickSlicesOfColinOverlayTheOriginal() throws {
        let hr = try NIfTI.readVolume(sample("colin27/colin27_t1_1mm.nii.gz"))
        let lr = try hr.simulated(SimulationSettings.preset("thick-5-6")).lowResolution
        expectClose(lr.spacing, [1, 1, 6], rtol: 1e-6)
        #expect(lr.shape == [181, 217, 30])
        // Each LR slice is the mean of the five HR slices around its centre, found in world space.
        guard let toHR = hr.affine.inverse() else { Issue.record("singular"); return }
        for k in [0, 7, 15, 29] {
            let centre = toHR.apply(lr.world(ofVoxel: [90, 108, Double(k)]))
            expectClose(Array(centre.prefix(2)), [90, 108], atol: 1e-6)
            let z = Int(centre[2].rounded())
            #expect(Swift.abs(centre[2] - Double(z)) < 1e-6)
            let expected = try hr.data.narrow(2, start: z - 2, length: 5).to(.float64).mean(dims: [2])
            #expect(try (lr.data.select(2, k).to(.float64) - expected).abs().max().item() < 1e-3)
        }
    }
}

@Suite struct PairedDatasetTests {
    func inputs(in dir: URL, count: Int) throws -> [PairedDatasetBuilder.Input] {
        try (0..<count).map { s in
            let v = try phantom([10, 12, 30], affine: .scaling([1, 1, 1])) { i, j, k in Double((i + 2 * j + 3 * k + s) % 17) * 10 }
            let url = dir.appendingPathComponent("sub-\(String(format: "%02d", s + 1))_T1w.nii.gz")
            try NIfTI.write(v, to: url)
            var m = v
            m.data = try v.data.gt(0).to(.uint8)
            let mask = dir.appendingPathComponent("sub-\(s + 1)_mask.nii.gz")
            try NIfTI.write(m, to: mask, options: NIfTIWriteOptions(dtype: .uint8))
            return PairedDatasetBuilder.Input(hr: url, mask: mask)
        }
    }

    func builder(_ inputs: [PairedDatasetBuilder.Input]) throws -> PairedDatasetBuilder {
        var k = try SimulationSettings.preset("kspace-x2")
        k.noise = NoiseModel(kind: .rician, snr: 20)
        return PairedDatasetBuilder(
            inputs: inputs, settings: [("thick-5-6", try SimulationSettings.preset("thick-5-6")), ("kspace-x2", k)],
            directions: [.plane(.axial), .plane(.coronal)], seed: 11, split: [0.6, 0.2, 0.2], tool: "upres test")
    }

    @Test func buildsAManifestWithSplitsBySubjectAndResumes() throws {
        let src = try scratchDirectory()
        let ins = try inputs(in: src, count: 5)
        let out = try scratchDirectory().appendingPathComponent("ds")
        let m = try builder(ins).build(into: out)
        #expect(m.complete && m.subjects.count == 5 && m.pairs.count == 5 * 2 * 2)
        #expect(m.subjects.map(\.id) == ["sub-01", "sub-02", "sub-03", "sub-04", "sub-05"])
        #expect(m.subjects(in: .train).count == 3 && m.subjects(in: .validation).count == 1 && m.subjects(in: .test).count == 1)
        // Every file exists and reads; LR slices of the coronal pair run along the A axis.
        let manifestURL = out.appendingPathComponent("manifest.json")
        let loaded = try DatasetManifest.load(manifestURL)
        #expect(loaded == m)
        for p in m.pairs {
            let lr = try NIfTI.readVolume(DatasetManifest.url(of: p.lr, relativeTo: manifestURL))
            if p.setting == "thick-5-6" {
                #expect(lr.spacing[p.direction == "axial" ? 2 : 1] == 6, "\(p.lr)")
            }
        }
        for s in m.subjects {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(s.hr).path))
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(s.mask!).path))
        }

        // Deterministic: another folder, the same bytes.
        let out2 = try scratchDirectory().appendingPathComponent("ds")
        try builder(ins).build(into: out2)
        for p in m.pairs {
            let a = try Data(contentsOf: out.appendingPathComponent(p.lr)), b = try Data(contentsOf: out2.appendingPathComponent(p.lr))
            #expect(a == b, "\(p.lr) differs between two runs with one seed")
        }

        // Resumable: an interrupted run (a file missing, the manifest incomplete) redoes only
        // what is missing, and gets the same bytes.
        let victim = m.pairs[5].lr
        let before = try Data(contentsOf: out.appendingPathComponent(victim))
        try FileManager.default.removeItem(at: out.appendingPathComponent(victim))
        var log: [String] = []
        let resumed = try builder(ins).build(into: out) { _, _, f in log.append(f) }
        #expect(resumed.complete && resumed.pairs.count == m.pairs.count)
        #expect(log.filter { !$0.hasSuffix("(kept)") } == [victim])
        #expect(try Data(contentsOf: out.appendingPathComponent(victim)) == before)

        // Another recipe in the same folder is refused.
        var other = try builder(ins)
        other.seed = 12
        #expect(throws: DegradationError.self) { try other.build(into: out) }
    }

    @Test func subjectIDsFollowBIDS() {
        #expect(PairedDatasetBuilder.subjectID(URL(fileURLWithPath: "/d/sub-07_ses-2_T1w.nii.gz")) == "sub-07_ses-2")
        #expect(PairedDatasetBuilder.subjectID(URL(fileURLWithPath: "/d/colin27_t1_1mm.nii.gz")) == "colin27_t1_1mm")
    }
}

@Suite struct KernelDownsamplingTests {
    /// An oblique, anisotropic affine, so that a wrong axis or a wrong offset moves anatomy.
    let affine: Affine = {
        let (c, s) = (cos(0.3), sin(0.3))
        return Affine(rows: [[0.9 * c, -0.8 * s, 0, -20.5], [0.9 * s, 0.8 * c, 0, 13.25], [0, 0, 2.5, -40], [0, 0, 0, 1]])
    }()

    /// The intensity-weighted world centre of a volume.
    func centreOfMass(_ v: Volume) throws -> [Double] {
        let x = try v.data.to(.float64)
        let total = try x.sum().item()
        var index = [Double](repeating: 0, count: 3)
        for a in 0..<3 {
            let n = v.shape[a]
            var shape = [1, 1, 1]
            shape[a] = n
            let ramp = try Tensor((0..<n).map(Double.init), shape: shape)
            index[a] = try (x * ramp).sum().item() / total
        }
        return v.affine.apply(index)
    }

    /// A smooth blob (sigma 2.5 voxels, 5 sigma from the borders) anywhere keeps its world position through the kernel and the
    /// subsampling, for a centred Gaussian kernel and for one whose mass sits off centre (the
    /// affine then carries the shift), slices normal to each voxel axis, odd and even sizes.
    @Test func anatomyKeepsItsWorldPosition() throws {
        let centred = try DegradationKernel.gaussian(sigma: [1.2, 0.7], size: 13, factor: 2)
        var shifted = try DegradationKernel(weights: [Double](repeating: 0, count: 169), size: 13, factor: 3)
        shifted.weights[7 * 13 + 4] = 0.75  // row +1, column -2
        shifted.weights[6 * 13 + 6] = 0.25
        let shape = [41, 46, 31]
        for kernel in [centred, shifted] {
            for axis in 0..<3 {
                for centre in [[15.3, 20.8, 14.1], [22.0, 23.5, 16.7]] {
                    var v = [Double]()
                    for i in 0..<shape[0] { for j in 0..<shape[1] { for k in 0..<shape[2] {
                        let d = [Double(i) - centre[0], Double(j) - centre[1], Double(k) - centre[2]]
                        v.append(exp(-(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]) / 12.5))
                    } } }
                    let hr = Volume(data: try Tensor(v, shape: shape).to(.float32), affine: affine)
                    let model = KernelDownsampling(kernel: kernel, direction: .voxelAxis(axis))
                    let lr = try model.apply(to: hr)
                    var expected = shape
                    for p in KernelDownsampling.inPlaneAxes(sliceAxis: axis) { expected[p] = (shape[p] + kernel.factor - 1) / kernel.factor }
                    #expect(lr.shape == expected)
                    let (a, b) = (try centreOfMass(hr), try centreOfMass(lr))
                    let error = zip(a, b).map { abs($0 - $1) }.max()!
                    #expect(error < 2e-3, "factor \(kernel.factor), axis \(axis), blob at \(centre): HR centre \(a), LR centre \(b)")
                    // The slice axis keeps its spacing and position.
                    #expect(abs(lr.spacing[axis] - hr.spacing[axis]) < 1e-12)
                    #expect(abs(lr.spacing[(axis + 1) % 3] - Double(kernel.factor) * hr.spacing[(axis + 1) % 3]) < 1e-9)
                }
            }
        }
    }

    /// The settings (kernel weights included) survive the JSON sidecar, and run through
    /// `Volume.simulated` with noise like every model.
    @Test func settingsAreCodableAndSimulate() throws {
        let k = try DegradationKernel.gaussian(sigma: [1.5, 0.8])
        let settings = SimulationSettings(model: .kernel(KernelDownsampling(kernel: k, direction: .plane(.coronal), source: "k.safetensors")),
                                          noise: NoiseModel(kind: .rician, snr: 20), seed: 3)
        let data = try JSONEncoder().encode(settings)
        #expect(try JSONDecoder().decode(SimulationSettings.self, from: data) == settings)
        #expect(String(decoding: data, as: UTF8.self).contains("\"kernel\""))
        let hr = Volume(data: try Tensor.rand([30, 24, 28], generator: Generator(seed: 1)), affine: affine)
        let lr = try hr.simulated(settings).lowResolution
        let coronal = hr.axis(normalTo: .coronal)
        #expect(lr.shape[coronal] == hr.shape[coronal])
        let expected: [Int] = (0..<3).map { $0 == coronal ? hr.shape[$0] : (hr.shape[$0] + 1) / 2 }
        #expect(lr.shape == expected)
        // A kernel wider than the volume is refused with the axis named.
        let tiny = Volume(data: try Tensor.zeros([5, 5, 5]), affine: .identity)
        #expect { try tiny.simulated(SimulationSettings(model: .kernel(KernelDownsampling(kernel: k)))) } throws: { e in
            "\(e)".contains("needs more than 6")
        }
    }
}
