import Foundation
import Testing
@testable import NN
@testable import Torch

/// A small network shaped like EDSR's naming: head, body.N.conv1/conv2, tail.
final class TinyBlock: Module {
    let conv1: Conv2d
    let conv2: Conv2d
    init(_ channels: Int, generator: Generator) throws {
        conv1 = try Conv2d(inChannels: channels, outChannels: channels, kernelSize: 3, padding: 1, generator: generator)
        conv2 = try Conv2d(inChannels: channels, outChannels: channels, kernelSize: 3, padding: 1, generator: generator)
        super.init()
    }
}

final class TinyNet: Module {
    let head: Conv2d
    let body: [TinyBlock]
    let tail: Linear
    let scale: Tensor
    init(generator: Generator) throws {
        head = try Conv2d(inChannels: 1, outChannels: 4, kernelSize: 3, padding: 1, generator: generator)
        body = [try TinyBlock(4, generator: generator), try TinyBlock(4, generator: generator)]
        tail = try Linear(inFeatures: 4, outFeatures: 2, generator: generator)
        scale = try Tensor.ones([1])  // a buffer: saved, not trained
        super.init()
    }
}

@Suite struct ModuleTests {
    @Test func namesTensorsLikePyTorchStateDicts() throws {
        let net = try TinyNet(generator: Generator(seed: 1))
        // PyTorch's order: the module's own tensors, then each child's, recursively.
        #expect(net.namedTensors().map(\.0) == [
            "scale", "head.weight", "head.bias",
            "body.0.conv1.weight", "body.0.conv1.bias", "body.0.conv2.weight", "body.0.conv2.bias",
            "body.1.conv1.weight", "body.1.conv1.bias", "body.1.conv2.weight", "body.1.conv2.bias",
            "tail.weight", "tail.bias",
        ])
        #expect(!net.namedParameters().map(\.0).contains("scale"))
        // 1*4*9+4 + 4 convs of (4*4*9+4) + 4*2+2
        #expect(net.parameterCount == 40 + 4 * 148 + 10)
        #expect(net.namedModules().map(\.0) == ["", "head", "body.0", "body.0.conv1", "body.0.conv2", "body.1",
                                                "body.1.conv1", "body.1.conv2", "tail"])
    }

    @Test func trainAndEvalReachEverySubmodule() throws {
        let net = try TinyNet(generator: Generator(seed: 1))
        net.eval()
        #expect(net.namedModules().allSatisfy { !$0.1.isTraining })
        net.train()
        #expect(net.namedModules().allSatisfy { $0.1.isTraining })
    }

    @Test func defaultInitIsPyTorchsUniformBound() throws {
        let conv = try Conv2d(inChannels: 8, outChannels: 16, kernelSize: 3, generator: Generator(seed: 3))
        let bound = 1 / (8.0 * 9).squareRoot()
        let w = try conv.weight.toArray(Float.self)
        #expect(w.allSatisfy { abs(Double($0)) <= bound })
        #expect(w.map { abs(Double($0)) }.max()! > 0.9 * bound)
    }

    @Test func stateDictRoundTripsThroughSafetensors() throws {
        let a = try TinyNet(generator: Generator(seed: 1))
        let b = try TinyNet(generator: Generator(seed: 2))
        let x = try Tensor.randn([1, 1, 5, 5], generator: Generator(seed: 9))
        #expect(try !a.head(x).equal(b.head(x)))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tiny-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try a.save(to: url, metadata: ["arch": "tiny"])
        try b.load(from: url)
        #expect(try a.head(x).equal(b.head(x)))
        for (name, t) in a.namedTensors() { #expect(try t.equal(b.stateDict()[name]!), "\(name)") }
        // Loading keeps b's parameters trainable leaves.
        #expect(b.head.weight.requiresGrad && b.head.weight.isLeaf)
    }

    @Test func strictLoadingNamesEveryProblem() throws {
        let net = try TinyNet(generator: Generator(seed: 1))
        var state = net.stateDict()
        state["head.weight"] = try Tensor.zeros([4, 1, 5, 5])
        state.removeValue(forKey: "tail.bias")
        state["extra.weight"] = try Tensor.zeros([1])
        do {
            try net.loadStateDict(state, source: "w.safetensors")
            Issue.record("a mismatched state dict loaded")
        } catch let NNError.stateDict(source, problems) {
            #expect(source == "w.safetensors")
            let text = problems.joined(separator: "; ")
            #expect(text.contains("missing tail.bias"))
            #expect(text.contains("unexpected extra.weight"))
            #expect(text.contains("head.weight has shape [4, 1, 5, 5], expected [4, 1, 3, 3]"))
        }
        // Non-strict loading still refuses wrong shapes but accepts missing and extra names.
        state["head.weight"] = try Tensor.zeros([4, 1, 3, 3])
        try net.loadStateDict(state, strict: false)
        #expect(try net.head.weight.abs().sum().item() == 0)
    }

    @Test func sequentialNamesAndRunsLayersInOrder() throws {
        let l1 = Linear(weight: try Tensor([2, 0, 0, 3] as [Float], shape: [2, 2]), bias: try Tensor([1, -10] as [Float]))
        let seq = Sequential([l1, ReLU(), Linear(weight: try Tensor([1, 1] as [Float], shape: [1, 2]), bias: nil)])
        #expect(seq.namedTensors().map(\.0) == ["0.weight", "0.bias", "2.weight"])
        // [1, 2] -> [3, -4] -> [3, 0] -> 3
        #expect(try seq(Tensor([1, 2] as [Float], shape: [1, 2])).item() == 3)
    }

    @Test func rejectsImpossibleConfigurations() throws {
        #expect(throws: NNError.self) { try Conv2d(inChannels: 3, outChannels: 4, kernelSize: 3, groups: 2) }
    }
}
