import Foundation
import Imaging
import NN
@testable import SuperResolution
import Testing
import Torch

/// Seed 002: the 3-D network, its critic, patch-wise 3-D inference, region-balanced sampling and a
/// 3-D adversarial run through the generic trainer.
@Suite struct VolumeModelTests {
    static let fixture = Result { try Safetensors.read(packageRoot.appendingPathComponent("Tests/Fixtures/mdcsrn/mdcsrn.safetensors")).tensors }

    static func state(_ prefix: String) throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (k, v) in try fixture.get() where k.hasPrefix(prefix) { out[String(k.dropFirst(prefix.count))] = v }
        return out
    }

    /// mDCSRN against its PyTorch twin (bench/mdcsrn_reference.py; fixture from
    /// Tests/Fixtures/mdcsrn/make_reference.py), with and without the residual.
    @Test func mDCSRNEqualsItsPyTorchTwin() throws {
        let f = try Self.fixture.get()
        for (name, residual) in [("mdcsrn", true), ("mdcsrn_plain", false)] {
            let net = try MDCSRN(MDCSRNConfig(features: 4, growth: 3, blocks: 2, units: 2, residual: residual))
            try net.loadStateDict(Self.state("\(name).state."), strict: true, source: name)
            net.eval()
            let out = try withNoGrad { try net(f["\(name).input"]!) }
            #expect(out.shape == [2, 1, 9, 10, 11])
            #expect(try (out - f["\(name).output"]!).abs().max().item() < 1e-5, "\(name)")
        }
        let spec = try JSONDecoder().decode(ModelSpec.self, from: Data(#"{"architecture": "mdcsrn", "blocks": 3}"#.utf8))
        #expect(spec.contract == .volume(channels: 1))
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(ModelSpec.self, from: Data(#"{"architecture": "mdcsrn", "block": 3}"#.utf8)) }
        #expect(throws: ModelError.self) { try MDCSRNConfig(growth: 0).validate() }
        let critic = try PatchGANCritic(PatchGANCriticConfig(features: 4, layers: 2, dimensions: 3), generator: nil)
        try critic.loadStateDict(Self.state("critic.state."), strict: true, source: "critic")
        let scores = try withNoGrad { try critic(f["critic.input"]!) }
        #expect(scores.shape == f["critic.output"]!.shape)
        #expect(try (scores - f["critic.output"]!).abs().max().item() < 1e-5)
        #expect(throws: ModelError.self) { try critic(Tensor.zeros([1, 1, 11, 12, 12])) }
    }

    /// A smooth test volume with structure at every scale.
    static func phantom(_ shape: [Int]) throws -> Tensor {
        let n = shape.reduce(1, *)
        var v = [Float](repeating: 0, count: n)
        for i in 0..<shape[0] { for j in 0..<shape[1] { for k in 0..<shape[2] {
            let x = Double(i), y = Double(j), z = Double(k)
            v[(i * shape[1] + j) * shape[2] + k] = Float(0.5 + 0.3 * sin(x * 0.4) * cos(y * 0.3) + 0.2 * sin(0.7 * z + 0.2 * x))
        } } }
        return try Tensor(v, shape: shape)
    }

    /// The mean |jump| across each plane between two tiles' kept parts of a difference map, per
    /// axis and plane: a seam shows as a jump there that the difference does not have elsewhere.
    static func seamJumps(_ d: Tensor, plan: Reconstruction.PatchPlan) throws -> [Double] {
        var jumps: [Double] = []
        for axis in 0..<3 {
            let tiles = try plan.tiles(d.shape[axis])
            for t in tiles.dropLast() {
                // The plane where the next tile's weight starts to dominate: the end of this core.
                for boundary in [tiles.first(where: { $0.start > t.start })!.lo, t.hi - 1] where boundary > 0 && boundary < d.shape[axis] {
                    let a = try d.narrow(axis, start: boundary - 1, length: 1), b = try d.narrow(axis, start: boundary, length: 1)
                    jumps.append(try (b - a).abs().mean().item())
                }
            }
        }
        return jumps
    }

    /// Patch-wise inference equals the network on the whole volume (the kept cores hold each
    /// voxel's whole receptive field), with no jump at the patch borders; the same check finds
    /// the seams of a naive tiling (no margin, no blending), so it can fail.
    @Test func patchwiseInferenceEqualsWholeVolumeInferenceWithoutSeams() throws {
        try manualSeed(3)
        // Without the residual: a fresh residual network is the identity, which has no seams to find.
        let net = try MDCSRN(MDCSRNConfig(features: 4, growth: 3, blocks: 2, units: 2, residual: false), generator: Generator(seed: 3))
        net.eval()
        let x = try Self.phantom([30, 27, 33])
        let whole = try withNoGrad { try net(x.unsqueeze(0).unsqueeze(0)) }.select(0, 0).select(0, 0)
        #expect(net.receptiveRadius == 5)
        let plan = Reconstruction.PatchPlan(patch: 18, margin: net.receptiveRadius, taper: 3)
        #expect(try plan.tiles(30).count >= 4)
        var patches = 0
        let tiled = try Reconstruction.patchwise(x.unsqueeze(0), model: net, plan: plan) { done, _ in patches = done }
        #expect(patches == (try [30, 27, 33].map { try plan.tiles($0).count }.reduce(1, *)))
        let difference = try tiled - whole
        #expect(try difference.abs().max().item() < 1e-4)
        #expect(try Self.seamJumps(difference, plan: plan).max()! < 1e-5)
        let naive = Reconstruction.PatchPlan(patch: 18, margin: 0, taper: 0)
        let seams = try Self.seamJumps(try Reconstruction.patchwise(x.unsqueeze(0), model: net, plan: naive) - whole, plan: naive)
        #expect(seams.max()! > 1e-3, "a tiling without margins must show its seams: \(seams)")
        // A volume smaller than the patch is one patch; a patch too small for the radius is refused.
        #expect(try Reconstruction.PatchPlan(patch: 64, margin: 5).tiles(20).count == 1)
        #expect(throws: ModelError.self) { try Reconstruction.PatchPlan(patch: 12, margin: 5, taper: 3).tiles(40) }
    }

    /// A fresh residual mDCSRN is the identity (its correction starts at zero), so restoring
    /// through it gives the input back: the normalization round trip keeps the whole intensity
    /// range (no clipping at the percentiles), and a zero background stays zero.
    @Test func aFreshResidualNetworkRestoresTheInputUnchanged() throws {
        let folder = try scratchFolder()
        let net = try MDCSRN(MDCSRNConfig(features: 4, growth: 2, blocks: 1, units: 2), generator: Generator(seed: 1))
        let url = folder.appendingPathComponent("m.safetensors")
        try ModelFile.save(net, task: ModelTask(sliceSpacing: 1, targetSpacing: 1, sliceThickness: nil, contrast: "T1w", clipsIntensities: false), to: url)
        var values = try (Self.phantom([20, 21, 22]) * 300).contiguous().flatten().toArray(Float.self)
        values[5 * 21 * 22 + 7 * 22 + 9] = 9000  // far above the 99th percentile
        for i in 0..<(21 * 22) { values[i] = 0 }  // a zero face
        let v = Volume(data: try Tensor(values, shape: [20, 21, 22]), affine: .identity)
        let (out, _) = try Reconstruction.restore(v, model: ModelFile.load(url), patch: 12)
        #expect(try (out.data - v.data).abs().max().item() < 1e-2)
        #expect(try out.data.max().item() > 8999)
        #expect(try out.data.select(0, 0).abs().max().item() == 0)
    }

    /// k-space data consistency: an estimate with errors at every frequency, made consistent
    /// with a 3-D k-space truncation (x4, zero-filled) of the truth, equals the truth on the
    /// acquired band (acquired again, it gives the input back), keeps the estimate beyond it,
    /// and is closer to the truth; through `restore`, a model whose task states the truncation
    /// gets it, and `consistency: 0` turns it off.
    @Test func kspaceConsistencyRestoresTheAcquiredBand() throws {
        // Every axis keeps 5 frequencies, -2 ... 2: a symmetric band, so the truncated volume is
        // real and its magnitude is itself.
        let shape = [20, 21, 19]
        let truth = Volume(data: try Self.phantom(shape) * 100 + 20, affine: .identity)
        let truncation = KSpaceTruncation(factor: 4, axes: [0, 1, 2], mode: .volume3D)
        let acquired = try truncation.apply(to: truth)
        // A network's result: a gain and offset error (low frequencies) and noise (all of them).
        let noise = try Tensor.randn(shape, generator: Generator(seed: 3)) * 4
        let estimate = try truth.data * 1.1 + 5 + noise
        let (out, record) = try Reconstruction.enforceKSpaceConsistency(estimate, acquired: acquired.data, truncation: truncation,
                                                                       axes: [0, 1, 2])
        let again = try truncation.apply(to: Volume(data: out, affine: .identity)).data
        let scale: Double = try acquired.data.abs().max().item()
        #expect(try (again - acquired.data).abs().max().item() < 1e-3 * scale)
        #expect(record.residualBefore > 5 && record.residualAfter < 1e-2 * record.residualBefore, "\(record)")
        // Beyond the band the estimate is untouched: the change is band-limited.
        let beyond = try 1.0 - truncation.weights(shape: shape, axes: [0, 1, 2]).to(.float32)
        let change = try (out - estimate).fftn(dims: [0, 1, 2]) * beyond
        let changeNorm: Double = try change.abs().norm().item()
        let bandNorm: Double = try (out - estimate).fftn(dims: [0, 1, 2]).abs().norm().item()
        #expect(changeNorm < 1e-4 * bandNorm)
        func mse(_ t: Tensor) throws -> Double { try (t - truth.data).pow(2).mean().item() }
        #expect(try mse(out) < 0.5 * mse(estimate))
        // Through restore: a fresh residual mDCSRN (the identity) on the truncated volume.
        let folder = try scratchFolder()
        let net = try MDCSRN(MDCSRNConfig(features: 4, growth: 2, blocks: 1, units: 2), generator: Generator(seed: 1))
        let url = folder.appendingPathComponent("m.safetensors")
        var task = ModelTask(sliceSpacing: 1, targetSpacing: 1, sliceThickness: nil, contrast: "T1w", clipsIntensities: false)
        task = task.restoring(SimulationSettings.presets["kspace-3d-x4"]!.settings)
        #expect(task.kspace == truncation)
        try ModelFile.save(net, task: task, to: url)
        let file = try ModelFile.load(url)
        let (restored, report) = try Reconstruction.restore(acquired, model: file, patch: 12)
        #expect(report.kspaceConsistency?.truncation == truncation)
        #expect(try (restored.data - acquired.data).abs().max().item() < 1e-2 * scale)
        let (_, off) = try Reconstruction.restore(acquired, model: file, options: .init(consistency: 0), patch: 12)
        #expect(off.kspaceConsistency == nil)
        // Asked for with a model that states no truncation: an error, not a silent no-op.
        let plain = folder.appendingPathComponent("plain.safetensors")
        try ModelFile.save(net, task: ModelTask(sliceSpacing: 1, targetSpacing: 1, sliceThickness: nil, contrast: "T1w", clipsIntensities: false), to: plain)
        #expect(throws: ModelError.self) { try Reconstruction.restore(acquired, model: ModelFile.load(plain), options: .init(consistency: 1), patch: 12) }
    }

    /// Seed 002's balance: the requested fraction of 10,000 patch centres comes from the region
    /// (within 2%), and the centres that land in the region are that fraction plus the region's
    /// share of the rest (drawn from the foreground as before).
    @Test func balancedSamplingDrawsTheRequestedFraction() throws {
        let shape = [40, 40, 40]
        let foreground = try Tensor.ones(shape).nonzero()
        let inRegion = try Tensor.zeros(shape, dtype: .bool)
        _ = try inRegion.narrow(0, start: 30, length: 8).narrow(1, start: 5, length: 10).narrow(2, start: 12, length: 6).fill_(.bool(true))
        let region = try inRegion.nonzero()
        let share = Double(region.shape[0]) / Double(foreground.shape[0])
        for fraction in [0.5, 0.2] {
            let sampling = CentreSampling(foregroundFraction: 1, regionFraction: fraction)
            let g = try Generator(seed: 7)
            var flagged = 0, inside = 0
            let n = 10_000
            for _ in 0..<n {
                let (p, fromRegion) = try sampling.draw(shape: shape, foreground: foreground, cumulativeWeights: nil, region: region, generator: g)
                if fromRegion { flagged += 1 }
                if try inRegion.select(0, p[0]).select(0, p[1]).select(0, p[2]).to(.int64).itemInt() != 0 { inside += 1 }
            }
            #expect(Swift.abs(Double(flagged) / Double(n) - fraction) < 0.02, "\(flagged) of \(n) for \(fraction)")
            #expect(Swift.abs(Double(inside) / Double(n) - (fraction + (1 - fraction) * share)) < 0.02, "\(inside) of \(n)")
        }
        // Through the 3-D sampler: patches centred in the region (clamped inside the volume).
        let x = try Self.phantom(shape)
        let sampler = try VolumePatchSampler(sources: [.init(input: x, target: x, foreground: foreground, region: region, name: "phantom")],
                                             patch: 8, centres: CentreSampling(foregroundFraction: 1, regionFraction: 0.5))
        let g = try Generator(seed: 1)
        var flagged = 0
        for _ in 0..<100 {
            let (a, b) = try sampler.batch(size: 10, generator: g, augment: true)
            #expect(a.shape == [10, 1, 8, 8, 8] && b.shape == a.shape)
            flagged += sampler.lastCentres.filter(\.fromRegion).count
        }
        #expect(Swift.abs(Double(flagged) / 1000 - 0.5) < 0.05)
        // No region fraction: no extra draw, the stream is the one before balancing existed.
        let plain = CentreSampling(foregroundFraction: 0.9)
        let (g1, g2) = (try Generator(seed: 4), try Generator(seed: 4))
        let a = try plain.draw(shape: shape, foreground: foreground, cumulativeWeights: nil, region: region, generator: g1)
        let b = try CentreSampling(foregroundFraction: 0.9, regionFraction: 0).draw(shape: shape, foreground: foreground, cumulativeWeights: nil,
                                                                                    region: nil, generator: g2)
        #expect(a.position == b.position && !a.fromRegion)
    }

    /// A 3-D run through the generic trainer: k-space-truncated pairs made on the fly, mDCSRN
    /// against the 3-D critic under WGAN-GP, balanced sampling; stopped and resumed it ends as
    /// the uninterrupted run does; its model restores a volume through upsample's path.
    @Test func aThreeDimensionalAdversarialRunTrainsResumesAndRestores() throws {
        var data = DataConfig(patchWidth: 12, foregroundFraction: 0.9, validationPatches: 2)
        data.simulation = SimulationSettings(model: .kspace(KSpaceTruncation(factor: 4, axes: [0, 1, 2], mode: .volume3D)))
        let folder = try scratchFolder()
        let hr = Volume(data: try Self.phantom([24, 26, 22]) * 100, affine: .identity)
        let hrURL = folder.appendingPathComponent("hr.nii.gz")
        try NIfTI.write(hr, to: hrURL)
        var mask = hr
        mask.data = try Tensor.zeros([24, 26, 22])
        _ = try mask.data.narrow(0, start: 2, length: 6).fill_(.double(1))
        let maskURL = folder.appendingPathComponent("region.nii.gz")
        try NIfTI.write(mask, to: maskURL)
        data.trainVolumes = [hrURL.path]
        data.balance = .init(mask: maskURL.path, fraction: 0.5)
        let critic = PatchGANCriticConfig(features: 2, layers: 1, dimensions: 3)
        func config(_ steps: Int) -> TrainConfig {
            TrainConfig(model: ModelSpec(MDCSRNConfig(features: 4, growth: 2, blocks: 1, units: 2)),
                        task: ModelTask(sliceSpacing: 1, targetSpacing: 1, sliceThickness: nil, contrast: "T1w", clipsIntensities: false),
                        data: data, seed: 3, steps: steps, batchSize: 2, learningRate: 1e-3, warmupSteps: 0,
                        adversarial: AdversarialConfig(critic: CriticSpec(critic), loss: .wasserstein, weight: 0.01, criticSteps: 2,
                                                       gradientPenalty: 10, learningRate: 1e-4, betas: [0, 0.9], startStep: 1),
                        logEvery: 1, validateEvery: 2, checkpointEvery: 2, name: "mdcsrn-test")
        }
        func read(_ p: String) throws -> Volume { try NIfTI.readVolume(URL(fileURLWithPath: p)) }
        let (train, validation) = try VolumePatchSampler.samplers(config(5), read: read)
        #expect(train.sources[0].region!.shape[0] == 6 * 26 * 22)
        let whole = try Trainer(config: config(5), folder: folder.appendingPathComponent("a"), resume: false, data: (train, validation))
        try whole.run()
        let (t2, v2) = try VolumePatchSampler.samplers(config(5), read: read)
        let first = try Trainer(config: config(5), folder: folder.appendingPathComponent("b"), resume: false, data: (t2, v2))
        try first.run(maxSteps: 3)
        let (t3, v3) = try VolumePatchSampler.samplers(config(5), read: read)
        let resumed = try Trainer(config: config(5), folder: folder.appendingPathComponent("b"), resume: true, data: (t3, v3))
        try resumed.run()
        #expect(resumed.history.map(\.loss) == Array(whole.history.suffix(2).map(\.loss)))
        for ((n, a), (_, b)) in zip(whole.model.namedTensors(), resumed.model.namedTensors()) {
            #expect(try (a - b).abs().max().item() == 0, "\(n)")
        }
        // The saved model restores a truncated volume on its grid; a 2 mm volume is refused.
        let file = try ModelFile.load(folder.appendingPathComponent("a/model.safetensors"))
        #expect(file.contract == .volume(channels: 1))
        let lr = try hr.simulated(data.simulation!).lowResolution
        let (restored, report) = try Reconstruction.restore(lr, model: file, patch: 16)
        #expect(restored.shape == hr.shape && restored.affine == hr.affine && report.patch == 16 && report.slices == 3 * 3 * 2)
        var coarse = lr
        coarse.affine = Affine.scaling([2, 2, 2])
        #expect(throws: ModelError.self) { try Reconstruction.restore(coarse, model: file) }
        // The thick-slice path points a 3-D model to restore, whatever the input's spacing.
        for target in [0.5, 1.0] {
            #expect(throws: ModelError.self) { try Reconstruction.run(lr, method: .pretrained(file), targetSpacing: target) }
        }
        // 3-D configs say what they lack.
        var bad = config(5)
        bad.data.simulation = SimulationSettings(model: .kspace(KSpaceTruncation(factor: 4, reducedMatrix: true)))
        #expect(throws: ModelError.self) { try bad.validate() }
        bad.data.simulation = nil
        #expect(throws: ModelError.self) { try bad.validate() }
        var flat = TrainConfig()
        flat.data.simulation = data.simulation
        #expect(throws: ModelError.self) { try flat.validate() }
    }
}

@Suite struct ShippedAtlasTests {
    /// The shipped cerebellum mask (scripts/make-cerebellum-mask, nibabel) is AAL's labels 91 to
    /// 116 carried onto the MNI152 grid through world coordinates: upres's own nearest-neighbour
    /// resampling of the atlas gives the same mask (voxels whose centre falls exactly halfway
    /// between two AAL voxels may round either way: at most 0.1% of the mask).
    @Test func theCerebellumMaskIsAALCarriedToMNI152() throws {
        let aalURL = URL(fileURLWithPath: "/usr/share/mricron/templates/aal.nii.gz")
        let mniURL = packageRoot.appendingPathComponent("data/samples/mni152/mni152_2009a_t1_1mm.nii.gz")
        guard FileManager.default.fileExists(atPath: aalURL.path), FileManager.default.fileExists(atPath: mniURL.path) else {
            Issue.record("mricron-data or the MNI152 sample is missing: run scripts/bootstrap")
            return
        }
        let shipped = try NIfTI.readVolume(packageRoot.appendingPathComponent("atlases/cerebellum_mni152_2009a_1mm.nii.gz"))
        let mni = try NIfTI.readVolume(mniURL)
        #expect(shipped.grid == mni.grid)
        var aal = try NIfTI.readVolume(aalURL)
        aal.data = try aal.data.to(.float32)
        let labels = try aal.resampled(onto: mni.grid, interpolation: .nearest, antiAlias: false).data
        let ours = try labels.ge(91).logicalAnd(labels.le(116))
        let theirs = try shipped.data.ne(0)
        let count = try theirs.sum().itemInt()
        #expect(count == 194_831)
        let differ = try ours.ne(theirs).sum().itemInt()
        #expect(Double(differ) <= 0.001 * Double(count), "\(differ) voxels differ")
    }
}

@Suite struct RotationAugmentationTests {
    /// Seed 003's eight rotations by n x 45 degrees: a bright dot lands where `rotated` says its
    /// voxel goes (within a voxel, bilinear), a half turn is exact, and a sampler with
    /// `rotations` makes pairs of the usual shapes from turned planes.
    @Test func planesTurnByMultiplesOfFortyFiveDegrees() throws {
        let shape = [1, 41, 37]
        for (r, c) in [(10, 25), (30, 8), (20, 18)] {
            var values = [Float](repeating: 0, count: 41 * 37)
            // A small blob (3 x 3) so that the bilinear turn keeps a clear maximum.
            for dr in -1...1 { for dc in -1...1 { values[(r + dr) * 37 + c + dc] = dr == 0 && dc == 0 ? 1 : 0.5 } }
            let plane = try Tensor(values, shape: [41, 37])
            for turn in 0..<8 {
                let turned = try DegradedSliceSampler.rotated(plane, turn: turn)
                #expect(turned.shape == [41, 37])
                let at = try turned.reshape([-1]).argmax().itemInt()
                let expected = DegradedSliceSampler.rotated([0, r, c], across: 0, shape: shape, turn: turn)
                #expect(Swift.abs(at / 37 - expected[1]) <= 1 && Swift.abs(at % 37 - expected[2]) <= 1,
                        "turn \(turn): maximum at \(at / 37), \(at % 37), expected \(expected)")
            }
            #expect(try (DegradedSliceSampler.rotated(plane, turn: 4) - plane.flip([0, 1])).abs().max().item() == 0)
        }
        let volume = try VolumeModelTests.phantom([40, 40, 40])
        let sampler = try DegradedSliceSampler(sources: [.init(volume: volume, acrossAxes: [0, 1, 2], voxelSize: 1, name: "phantom")],
                                               degradations: DegradationRange(spacing: [4, 4], thicknessRatio: [1, 1], profiles: [.rectangular]),
                                               patch: 16, contract: .thickSlices(channels: 1, factor: 4))
        sampler.rotations = true
        let (x, y) = try sampler.batch(size: 6, generator: Generator(seed: 2), augment: true)
        #expect(x.shape == [6, 1, 4, 16] && y.shape == [6, 1, 16, 16])
        var data = DataConfig()
        data.rotations = true
        #expect(throws: ModelError.self) { try data.validate(for: .thickSlices(channels: 3, factor: 6)) }
        let decoded = try JSONDecoder().decode(DataConfig.self, from: Data(#"{"rotations": true}"#.utf8))
        #expect(decoded.rotations)
    }
}
