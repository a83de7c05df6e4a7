import Foundation
import Testing
@testable import Imaging
@testable import NN
@testable import SuperResolution
import Torch

@Suite struct AttentionUNetTests {
    /// Seed 000's generator against its PyTorch twin (bench/unet_reference.py; fixture from
    /// Tests/Fixtures/unet/make_reference.py): the same state dict loads by name, and the output
    /// and every gate's attention map (three in this small twin) agree on an input whose sides (21 x 26)
    /// are not multiples of 2^depth.
    @Test func theAttentionUNetEqualsItsPyTorchTwin() throws {
        let fixture = try Safetensors.read(packageRoot.appendingPathComponent("Tests/Fixtures/unet/unet.safetensors")).tensors
        let net = try AttentionUNet(AttentionUNetConfig(inChannels: 3, features: 4, depth: 3, finalActivation: "sigmoid"))
        var state: [String: Tensor] = [:]
        for (k, v) in fixture where k.hasPrefix("state.") { state[String(k.dropFirst(6))] = v }
        try net.loadStateDict(state, strict: true, source: "unet fixture")
        net.eval()
        let x = fixture["input"]!
        let (out, alphas) = try withNoGrad { try net.forward(x) }
        #expect(out.shape == [2, 1, 21, 26])
        #expect(try (out - fixture["output"]!).abs().max().item() < 1e-5)
        #expect(alphas.count == 3)
        for (l, a) in alphas.enumerated() {
            let expected = fixture["attention.\(l)"]!
            #expect(a.shape == expected.shape, "level \(l)")
            #expect(try (a - expected).abs().max().item() < 1e-5, "attention map \(l)")
        }
    }

    @Test func theAttentionUNetGoesThroughTheProtocol() throws {
        let spec = try JSONDecoder().decode(ModelSpec.self, from: Data(#"{"architecture": "attention-unet", "features": 4, "depth": 2, "residualChannel": 0, "finalActivation": "identity"}"#.utf8))
        #expect(spec.contract == .outputGrid(channels: 1))
        let model = try spec.makeModel(generator: Generator(seed: 1))
        #expect(model.architecture == "attention-unet")
        let x = try Tensor.rand([2, 1, 13, 9], generator: Generator(seed: 2))
        #expect(try model(x).shape == [2, 1, 13, 9])
        // A model file round trip reproduces the output.
        let file = try scratchFolder().appendingPathComponent("unet.safetensors")
        try ModelFile.save(model, task: ModelTask(sliceSpacing: 4, targetSpacing: 1, factors: [2, 6]), to: file)
        model.eval()
        let loaded = try ModelFile.load(file)
        #expect(try (loaded.model(x) - model(x)).abs().max().item() == 0)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(ModelSpec.self, from: Data(#"{"architecture": "attention-unet", "gates": 4}"#.utf8))
        }
        #expect(throws: ModelError.self) { try AttentionUNetConfig(finalActivation: "tanh").validate() }
        #expect(throws: ModelError.self) { try AttentionUNetConfig(inChannels: 3, residualChannel: 3).validate() }
    }
}

@Suite struct ExplanationTests {
    /// The two directions reconstructed apart: their mean is the main job's reconstruction
    /// (where neither direction is clamped), and they disagree somewhere for a real model; for
    /// a silenced model (both are the cubic baseline) they agree exactly.
    @Test func theDirectionsAreReconstructedApart() throws {
        let v = try blobs([20, 22, 7], spacing: [1, 1, 4])
        let model = try gridModel(features: 4)
        let c = try Explanation.directions(v, model: model, targetSpacing: 1)
        let full = try Reconstruction.upsample(v, model: model, targetSpacing: 1).0
        #expect(c.reconstruction.shape == full.shape && c.disagreement.shape == full.shape)
        let range = try full.data.max().item() - full.data.min().item()
        let error = try (c.reconstruction.data - full.data).abs().flatten().quantile(0.5).item()
        #expect(error < 1e-6 * range, "median difference \(error)")
        #expect(try c.disagreement.data.max().item() > 1e-4 * range)
        #expect(try c.disagreement.data.min().item() >= 0)
        let silenced = try Explanation.directions(v, model: gridModel(silenced: true), targetSpacing: 1)
        #expect(try silenced.disagreement.data.abs().max().item() < 1e-5)
    }

    @Test func modelDisagreementIsThePerVoxelSD() throws {
        let a = try blobs([6, 7, 8])
        var b = a
        b.data = try a.data + 2
        let sd = try Explanation.disagreement([a, b])
        #expect(try (sd.data - 1).abs().max().item() < 1e-5)
        var other = a
        other.affine = .scaling([2, 1, 1])
        #expect(throws: ModelError.self) { try Explanation.disagreement([a, other]) }
        #expect(throws: ModelError.self) { try Explanation.disagreement([a]) }
    }

    /// Attention coefficients on the reconstruction's grid, in (0, 1), from an attention-unet;
    /// other architectures and levels that do not exist are refused.
    @Test func attentionMapsLieOnTheOutputGrid() throws {
        let v = try blobs([20, 22, 7], spacing: [1, 1, 4])
        let net = try AttentionUNet(AttentionUNetConfig(features: 4, depth: 2, finalActivation: "identity", residualChannel: 0), generator: Generator(seed: 3))
        let url = try scratchFolder().appendingPathComponent("unet.safetensors")
        try ModelFile.save(net, task: ModelTask(sliceSpacing: 4, targetSpacing: 1, sliceThickness: 4, contrast: "any", clipsIntensities: false,
                                                factors: [2, 6]), to: url)
        let file = try ModelFile.load(url)
        let grid = try Reconstruction.interpolate(v, method: .cubic, targetSpacing: 1)
        for level in [0, 1] {
            let map = try Explanation.attention(v, model: file, level: level, targetSpacing: 1)
            #expect(map.shape == grid.shape && map.affine.maxDifference(grid.affine) < 1e-9)
            #expect(try map.data.min().item() > 0 && map.data.max().item() < 1)
            #expect(try map.data.std().item() > 0)
        }
        #expect(throws: ModelError.self) { try Explanation.attention(v, model: file, level: 2, targetSpacing: 1) }
        #expect(throws: ModelError.self) { try Explanation.attention(v, model: gridModel(), level: 0, targetSpacing: 1) }
    }

    /// GradCAM of a critic: non-negative, finite, on the reconstruction's grid, for a critic that
    /// takes any size (PatchGAN) and one that sees fixed tiles (DCGAN, 16 x 16 tiles of 28 x 20
    /// slices) and the U-Net critic of seed 001; GradCAM of a tile equals the definition computed by hand.
    @Test func criticGradCAMCoversTheReconstruction() throws {
        let v = try blobs([20, 22, 7], spacing: [1, 1, 4])
        let (out, report) = try Reconstruction.upsample(v, model: gridModel(), targetSpacing: 1)
        let critics: [any CriticNetwork] = [
            try PatchGANCritic(PatchGANCriticConfig(features: 4, layers: 2), generator: Generator(seed: 1)),
            try DCGANCritic(DCGANCriticConfig(features: 4, blocks: 2, dropout: 0.5, patch: [16, 16]), generator: Generator(seed: 2)),
            try UNetSNCritic(UNetSNCriticConfig(features: 4), generator: Generator(seed: 3)),
        ]
        for critic in critics {
            let cam = try Explanation.criticGradCAM(out, critic: critic, axis: 2, normalization: report.normalization)
            #expect(cam.shape == out.shape)
            #expect(try cam.data.min().item() >= 0 && cam.data.isFinite().all().itemBool())
            #expect(try cam.data.max().item() > 0)
        }
        // One tile by hand: weights = spatial mean of d(-score)/dA, cam = relu(sum_c w_c A_c).
        let critic = critics[1]
        let tile = try Tensor.rand([1, 1, 16, 16], generator: Generator(seed: 9))
        let a = try critic.features(tile).last!
        let g = try gradients(of: [-critic.scores(fromLastFeatures: a).sum()], withRespectTo: [a])[0]!
        let w: [Float] = try g.mean(dims: [2, 3]).flatten().toArray()
        let maps = try a.detach()
        var byHand = try Tensor.zeros([1, 1, a.shape[2], a.shape[3]])
        for (c, wc) in w.enumerated() { byHand = try byHand + maps.narrow(1, start: c, length: 1) * Double(wc) }
        byHand = try byHand.relu().interpolate(size: [16, 16], mode: .bilinear)
        #expect(try (Explanation.gradCAM(critic, tile) - byHand).abs().max().item() < 1e-6)
    }
}

@Suite struct RealESRGANTests {
    static let fixture = Result { try Safetensors.read(packageRoot.appendingPathComponent("Tests/Fixtures/rrdb/rrdb.safetensors")).tensors }

    static func state(_ prefix: String) throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (k, v) in try fixture.get() where k.hasPrefix(prefix) { out[String(k.dropFirst(prefix.count))] = v }
        return out
    }

    /// Seed 001's generator against its PyTorch twin (bench/rrdb_reference.py; fixture from
    /// Tests/Fixtures/rrdb/make_reference.py), with and without upres's residual option.
    @Test func theRRDBGeneratorEqualsItsPyTorchTwin() throws {
        let f = try Self.fixture.get()
        for (name, residual) in [("rrdb", false), ("rrdb_residual", true)] {
            let net = try RRDBNet(RRDBNetConfig(inChannels: 3, features: 8, blocks: 2, growth: 4, factor: 3, residual: residual))
            try net.loadStateDict(Self.state("\(name).state."), strict: true, source: name)
            net.eval()
            let out = try withNoGrad { try net(f["\(name).input"]!) }
            #expect(out.shape == [2, 1, 15, 7])
            #expect(try (out - f["\(name).output"]!).abs().max().item() < 1e-5, "\(name)")
        }
        let spec = try JSONDecoder().decode(ModelSpec.self, from: Data(#"{"architecture": "rrdb", "factor": 5, "blocks": 1}"#.utf8))
        #expect(spec.contract == .thickSlices(channels: 3, factor: 5))
        #expect(throws: ModelError.self) { try RRDBNetConfig(inChannels: 2).validate() }
    }

    /// Seed 001's U-Net critic with spectral normalization: equal scores in evaluation mode, and
    /// in training mode the power iteration advances u and v as PyTorch's does.
    @Test func theSpectralNormUNetCriticEqualsItsPyTorchTwin() throws {
        let f = try Self.fixture.get()
        let critic = try UNetSNCritic(UNetSNCriticConfig(features: 4), generator: nil)
        try critic.loadStateDict(Self.state("unet.state."), strict: true, source: "unet-sn")
        let x = f["unet.input"]!
        critic.eval()
        let evaluated = try withNoGrad { try critic(x) }
        #expect(evaluated.shape == [2, 1, 19, 13])
        #expect(try (evaluated - f["unet.eval_output"]!).abs().max().item() < 1e-5)
        critic.train()
        let trained = try withNoGrad { try critic(x) }
        #expect(try (trained - f["unet.train_output"]!).abs().max().item() < 1e-5)
        for (k, v) in critic.namedTensors() where k.hasSuffix("weight_u") || k.hasSuffix("weight_v") {
            #expect(try (v - f["unet.after.\(k)"]!).abs().max().item() < 1e-5, "\(k)")
        }
        // Two forward passes in training mode, then the backward pass of both (a critic judging
        // real and generated images): the in-place power iteration must not break the first.
        let twice = try critic(x).sum() + critic(x * 0.5).sum()
        try twice.backward()
        #expect(critic.conv1.weight_orig.grad != nil)
        // u and v are buffers: not trained, but saved.
        #expect(!critic.namedParameters().contains { $0.0.hasSuffix("weight_u") })
    }
}

@Suite struct ResidualAttentionUNetTests {
    /// Seed 004's generator against its PyTorch twin (bench/rau_reference.py; fixture from
    /// Tests/Fixtures/rau/make_reference.py): AdaDM, GroupNorm, self-attention at the bottleneck,
    /// cross-attention to two subject features and the slice position, padding and cropping of a
    /// 13 x 10 input, the residual on the centre slice; with and without the context.
    @Test func theResidualAttentionUNetEqualsItsPyTorchTwin() throws {
        let f = try Safetensors.read(packageRoot.appendingPathComponent("Tests/Fixtures/rau/rau.safetensors")).tensors
        let net = try ResidualAttentionUNet(ResidualAttentionUNetConfig(inChannels: 3, features: 8, multipliers: [1, 2, 2], resBlocks: 1, groups: 4,
                                                                        heads: 2, contextFeatures: 2, positionEncoding: 8, contextDim: 8,
                                                                        crossAttentionFrom: 1))
        var state: [String: Tensor] = [:]
        for (k, v) in f where k.hasPrefix("state.") { state[String(k.dropFirst(6))] = v }
        try net.loadStateDict(state, strict: true, source: "rau fixture")
        net.eval()
        let out = try withNoGrad { try net.forward(f["input"]!, features: f["features"]!, position: f["position"]!) }
        #expect(out.shape == [2, 1, 13, 10])
        #expect(try (out - f["output"]!).abs().max().item() < 1e-5)
        let plain = try withNoGrad { try net(f["input"]!) }
        #expect(try (plain - f["output_default"]!).abs().max().item() < 1e-5)
        // The context matters.
        #expect(try (plain - out).abs().max().item() > 1e-4)
    }

    @Test func theResidualAttentionUNetGoesThroughTheProtocol() throws {
        let spec = try JSONDecoder().decode(ModelSpec.self, from: Data(#"{"architecture": "residual-attention-unet", "inChannels": 5, "features": 8, "groups": 4, "heads": 2, "multipliers": [1, 2]}"#.utf8))
        #expect(spec.contract == .outputGrid(channels: 5))
        let config = spec.configuration as! ResidualAttentionUNetConfig
        #expect(config.residualChannel == 2)
        let model = try spec.makeModel(generator: Generator(seed: 1))
        #expect(try model(Tensor.rand([1, 5, 9, 11])).shape == [1, 1, 9, 11])
        #expect(throws: ModelError.self) { try ResidualAttentionUNetConfig(features: 6, groups: 4).validate() }
        #expect(throws: ModelError.self) { try ResidualAttentionUNetConfig(positionEncoding: 7).validate() }
    }
}

@Suite struct ConditioningTests {
    static let config = ResidualAttentionUNetConfig(inChannels: 3, features: 8, multipliers: [1, 2], resBlocks: 1, groups: 4, heads: 2,
                                                    contextFeatures: 1, positionEncoding: 4, contextDim: 8, crossAttentionFrom: 0)

    /// Plane pairs carry their plane's position across the volume and their subject's features;
    /// training a conditioned model on them moves its context parameters (the context reaches
    /// it), while a plain sampler's batches carry none.
    @Test func theContextReachesAConditionedModelInTraining() throws {
        let v = try blobs([30, 32, 28], spacing: [1, 1, 1])
        var source = DegradedSliceSampler.Source(volume: v.data, acrossAxes: [0, 1, 2], voxelSize: 1, name: "blobs")
        source.features = [0.7]
        let sampler = try DegradedSliceSampler(sources: [source], degradations: DegradationRange(spacing: [4], thicknessRatio: [1], profiles: [.rectangular]),
                                               patch: 16, contract: .outputGrid(channels: 3))
        let b = try sampler.conditionedBatch(size: 6, generator: Generator(seed: 1), augment: true)
        let positions: [Float] = try b.conditioning.position!.toArray()
        #expect(positions.count == 6 && positions.allSatisfy { (0...1).contains($0) } && Set(positions).count > 1)
        #expect(try (b.conditioning.features! - 0.7).abs().max().item() < 1e-6 && b.conditioning.features!.shape == [6, 1])
        var data = DataConfig(patchWidth: 16, validationPatches: 2)
        data.degradation = DegradationRange(spacing: [4], thicknessRatio: [1], profiles: [.rectangular])
        let c = TrainConfig(model: ModelSpec(Self.config), task: ModelTask(sliceSpacing: 4, targetSpacing: 1, factors: [2, 6]), data: data, seed: 2,
                            steps: 3, batchSize: 2, learningRate: 1e-2, warmupSteps: 0, logEvery: 1, validateEvery: 3, checkpointEvery: 3)
        let t = try Trainer(config: c, folder: try scratchFolder().appendingPathComponent("run"), resume: false, data: (sampler, sampler))
        let before = try (t.model as! ResidualAttentionUNet).context_scale!.clone()
        try t.run()
        #expect(try ((t.model as! ResidualAttentionUNet).context_scale! - before).abs().max().item() > 0)
    }

    /// The reconstruction gives a conditioned model each slice's position and the subject's
    /// features: other features, another output; a wrong number of them is refused.
    @Test func theReconstructionPassesTheContext() throws {
        let net = try ResidualAttentionUNet(Self.config, generator: Generator(seed: 4))
        let url = try scratchFolder().appendingPathComponent("rau.safetensors")
        try ModelFile.save(net, task: ModelTask(sliceSpacing: 4, targetSpacing: 1, sliceThickness: 4, contrast: "any", clipsIntensities: false,
                                                factors: [2, 6]), to: url)
        let file = try ModelFile.load(url)
        let v = try blobs([20, 22, 7], spacing: [1, 1, 4])
        let a = try Reconstruction.upsample(v, model: file, targetSpacing: 1, options: .init(context: [0])).0
        let b = try Reconstruction.upsample(v, model: file, targetSpacing: 1, options: .init(context: [3])).0
        #expect(try (a.data - b.data).abs().max().item() > 1e-6)
        #expect(throws: ModelError.self) { try Reconstruction.upsample(v, model: file, targetSpacing: 1, options: .init(context: [1, 2])) }
        // A model without context refuses features.
        #expect(throws: ModelError.self) { try Reconstruction.upsample(v, model: gridModel(), targetSpacing: 1, options: .init(context: [1])) }
    }
}

@Suite struct ContrastFusionTests {
    /// Seed 000's data fusion: a subject's contrasts are channel groups of one pair, cut from the
    /// same plane and degraded alike; the target is the first contrast's.
    @Test func pairsStackTheSubjectsContrasts() throws {
        let t1 = try blobs([30, 32, 28], spacing: [1, 1, 1])
        var source = DegradedSliceSampler.Source(volume: t1.data, acrossAxes: [0, 1, 2], voxelSize: 1, name: "t1")
        source.contrasts = [try (t1.data * -1 + 2).contiguous()]  // a "T2": the same anatomy, inverted
        let degradations = DegradationRange(spacing: [4], thicknessRatio: [0.8], profiles: [.gaussian])
        let s = try DegradedSliceSampler(sources: [source], degradations: degradations, patch: 16, contract: .outputGrid(channels: 2), intensityScale: 0)
        let (x, y) = try s.batch(size: 4, generator: Generator(seed: 3), augment: true)
        #expect(x.shape == [4, 2, 16, 16] && y.shape == [4, 1, 16, 16])
        // The degradation is linear and rows sum to one: channel 1 = 2 - channel 0.
        #expect(try (x.narrow(1, start: 1, length: 1) - (x.narrow(1, start: 0, length: 1) * -1 + 2)).abs().max().item() < 1e-5)
        // With neighbours: 6 channels = 2 contrasts x 3 planes, the centre of the first group the one-contrast input.
        let six = try DegradedSliceSampler(sources: [source], degradations: degradations, patch: 16, contract: .outputGrid(channels: 6), intensityScale: 0)
        let (x6, y6) = try six.batch(size: 4, generator: Generator(seed: 3), augment: true)
        #expect(try (x6.narrow(1, start: 1, length: 1) - x.narrow(1, start: 0, length: 1)).abs().max().item() < 1e-5)
        #expect(try (x6.narrow(1, start: 4, length: 1) - x.narrow(1, start: 1, length: 1)).abs().max().item() < 1e-5)
        #expect(try (y6 - y).abs().max().item() == 0)
        #expect(throws: ModelError.self) {
            try DegradedSliceSampler(sources: [source], degradations: degradations, patch: 16, contract: .outputGrid(channels: 3))
        }
        // A subject from volumes: the contrasts normalized alike; one off the grid is refused, naming it.
        var t2 = t1
        t2.data = try t1.data * 3
        let subject = try DegradedSliceSampler.Source.subject([t1, t2], names: ["t1", "t2"], percentiles: [1, 99], mixture: false)
        let difference = try (subject.contrasts[0] - subject.volume).abs().max().item()
        #expect(subject.contrasts.count == 1 && difference < 1e-5)
        t2.affine = .scaling([1, 1, 1], translation: [1, 0, 0])
        #expect { try DegradedSliceSampler.Source.subject([t1, t2], names: ["t1", "t2"], percentiles: [1, 99], mixture: false) } throws: { e in
            "\(e)".contains("t2: not on the grid of t1")
        }
        #expect(throws: ModelError.self) {
            try DegradedSliceSampler(sources: [source], degradations: degradations, patch: 16, contract: .outputGrid(channels: 2), contrastAugmentation: true)
        }
    }

    /// A fusing model reconstructs from the scan and its other contrasts, which matter; a missing
    /// or misplaced contrast is refused, naming it.
    @Test func theReconstructionFusesContrasts() throws {
        let net = try AttentionUNet(AttentionUNetConfig(inChannels: 2, features: 4, depth: 2, finalActivation: "identity", residualChannel: 0),
                                    generator: Generator(seed: 2))
        let url = try scratchFolder().appendingPathComponent("fused.safetensors")
        try ModelFile.save(net, task: ModelTask(sliceSpacing: 4, targetSpacing: 1, sliceThickness: 4, contrast: "T1w", clipsIntensities: false,
                                                factors: [2, 6], inputContrasts: ["T1w", "T2w"]), to: url)
        let file = try ModelFile.load(url)
        let t1 = try blobs([20, 22, 7], spacing: [1, 1, 4])
        var t2 = t1
        t2.data = try t1.data * -1 + 2
        let a = try Reconstruction.upsample(t1, model: file, targetSpacing: 1, options: .init(contrasts: [t2])).0
        var other = t2
        other.data = try t2.data.flip([0]).contiguous()
        let b = try Reconstruction.upsample(t1, model: file, targetSpacing: 1, options: .init(contrasts: [other])).0
        #expect(try (a.data - b.data).abs().max().item() > 1e-5)
        #expect(throws: ModelError.self) { try Reconstruction.upsample(t1, model: file, targetSpacing: 1) }
        var moved = t2
        moved.affine = .scaling([1, 1, 4], translation: [2, 0, 0])
        #expect(throws: ModelError.self) { try Reconstruction.upsample(t1, model: file, targetSpacing: 1, options: .init(contrasts: [moved])) }
        // Attention maps of a fusing model take the same contrasts.
        let map = try Explanation.attention(t1, model: file, level: 0, targetSpacing: 1, contrasts: [t2])
        #expect(map.shape == a.shape)
    }
}
