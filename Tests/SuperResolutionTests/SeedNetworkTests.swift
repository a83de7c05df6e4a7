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
