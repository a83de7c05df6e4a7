import Foundation
import Testing
@testable import Imaging
import Torch

/// LPIPS and DISTS against piq 0.8.0 (Tests/Fixtures/metrics/make_deep_reference.py) with weights
/// that both sides generate from the same counter-based sequence, on the slices of the perceptual
/// fixture, in float32 (as piq runs VGG16). Measured: LPIPS within 1.9e-8 relative (3.8e-8 on
/// the 2 x 2 repeated slice), DISTS within 2.7e-6 (2.4e-7): tested at 1e-6 and 1e-5.
@Suite struct DeepFeatureTests {
    /// splitmix64 of the indices start ..< start + count, as doubles in [0, 1) (the fixture's `uniform`).
    static func uniform(_ start: Int, _ count: Int) -> [Double] {
        (0..<count).map { i in
            var z = UInt64(start + i + 1) &* 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return Double(z >> 11) * 0x1p-53
        }
    }

    /// The fixture's weights: VGG16 (torchvision names), LPIPS's linear layers, DISTS's alpha and beta.
    nonisolated(unsafe) static let weights: (vgg: [String: Tensor], lpips: [String: Tensor], dists: [String: Tensor]) = {
        var next = 0
        func take(_ shape: [Int], _ f: (Double) -> Double) -> Tensor {
            let n = shape.reduce(1, *)
            defer { next += n }
            return try! Tensor(uniform(next, n).map { Float(f($0)) }, shape: shape)
        }
        var vgg: [String: Tensor] = [:]
        var inputs = 3
        for (i, out) in zip(VGGFeatures.convolutionIndices, [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]) {
            let scale = (6.0 / Double(inputs * 9)).squareRoot()
            vgg["features.\(i).weight"] = take([out, inputs, 3, 3]) { (2 * $0 - 1) * scale }
            vgg["features.\(i).bias"] = take([out]) { (2 * $0 - 1) * 0.05 }
            inputs = out
        }
        var lpips: [String: Tensor] = [:]
        for (i, c) in VGGFeatures.featureChannels.enumerated() { lpips["lin\(i)"] = take([1, c, 1, 1]) { $0 / Double(c) } }
        let alpha = uniform(next, 1475), beta = uniform(next + 1475, 1475)
        let total = alpha.reduce(0, +) + beta.reduce(0, +)
        let dists = ["alpha": try! Tensor(alpha.map { $0 / total }, shape: [1, 1475, 1, 1]),
                     "beta": try! Tensor(beta.map { $0 / total }, shape: [1, 1475, 1, 1])]
        return (vgg, lpips, dists)
    }()

    func fixture() throws -> [String: Any] {
        let data = try Data(contentsOf: fixturesRoot.appendingPathComponent("metrics/deep_reference.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func agreeWithPiq() throws {
        let r = try fixture()
        let backbone = try VGGFeatures(tensors: Self.weights.vgg, file: "generated")
        let lpips = try LPIPS(backbone: backbone, tensors: Self.weights.lpips, file: "generated")
        let dists = try DISTS(backbone: backbone, tensors: Self.weights.dists, file: "generated")
        let (test, ref) = try MetricsTests().pair()
        let lo = try ref.min().item(), range = try ref.max().item() - lo
        let slices = try #require(r["slices"] as? [Int])
        func batch(_ v: Tensor) throws -> Tensor { try (Tensor.stack(slices.map { try v.select(2, $0) }) - lo) / range }
        let x = try batch(test), y = try batch(ref)
        expectClose(try lpips.compute(x, y), try #require(r["lpips"] as? [Double]), rtol: 1e-6, atol: 0, "lpips")
        expectClose(try dists.compute(x, y), try #require(r["dists"] as? [Double]), rtol: 1e-5, atol: 0, "dists")
        // Slice 90 repeated 2 x 2 per pixel (362 x 434): DISTS first scales it to 256 x 307.
        func repeated(_ t: Tensor) throws -> Tensor {
            let s = try t.select(0, 1)
            return try s.unsqueeze(1).unsqueeze(3).expand([s.size(0), 2, s.size(1), 2]).reshape([2 * s.size(0), 2 * s.size(1)])
        }
        expectClose(try dists.compute(repeated(x), repeated(y)), try #require(r["dists_repeated_2x2_slice_90"] as? [Double]), rtol: 1e-5, atol: 0, "dists 2x2")
        expectClose(try lpips.compute(repeated(x), repeated(y)), try #require(r["lpips_repeated_2x2_slice_90"] as? [Double]), rtol: 1e-6, atol: 0, "lpips 2x2")
        // Identical images are at distance 0.
        expectClose(try lpips.compute(y, y), [0, 0, 0], atol: 1e-9, "lpips identical")
        expectClose(try dists.compute(y, y), [0, 0, 0], atol: 1e-6, "dists identical")
        // The generated network is alive to its last block, so the agreement covers every layer.
        let f = try backbone.features(VGGFeatures.standardize(VGGFeatures.prepare(y, y, name: "test")), pooling: .max)
        for (i, map) in f.enumerated() {
            let active = try map.gt(0).to(.float64).mean().item()
            #expect(active > 0.05 && active < 0.95, "feature map \(i): \(active) of the activations are positive")
        }
    }

    @Test func weightFileErrors() throws {
        let dir = try scratchDirectory()
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "no error" } catch { return "\(error)" }
        }
        // A PyTorch pickle (zip container) is refused with the conversion to run.
        let pth = dir.appendingPathComponent("vgg16-397923af.pth")
        try Data([0x50, 0x4B, 0x03, 0x04, 0, 0, 0, 0]).write(to: pth)
        var m = message { _ = try VGGFeatures(contentsOf: pth) }
        #expect(m.contains("vgg16-397923af.pth") && m.contains("PyTorch pickle") && m.contains("safetensors.torch"), "\(m)")
        // A missing tensor, a wrong shape and negative weights name the file and the tensor.
        var vgg = Self.weights.vgg
        vgg["features.28.bias"] = nil
        m = message { _ = try VGGFeatures(tensors: vgg, file: "vgg.safetensors") }
        #expect(m.contains("vgg.safetensors") && m.contains("features.28.bias"), "\(m)")
        vgg = Self.weights.vgg
        vgg["features.5.weight"] = try Tensor.zeros([128, 32, 3, 3])
        m = message { _ = try VGGFeatures(tensors: vgg, file: "vgg.safetensors") }
        #expect(m.contains("features.5.weight") && m.contains("[128, 64, 3, 3]"), "\(m)")
        // Names behind a prefix are found.
        let prefixed = Dictionary(uniqueKeysWithValues: Self.weights.vgg.map { ("net.\($0.key)", $0.value) })
        let backbone = try VGGFeatures(tensors: prefixed, file: "prefixed")
        var lin = Self.weights.lpips
        lin["lin2"] = try Tensor.full([1, 256, 1, 1], -1.0, dtype: .float32)
        m = message { _ = try LPIPS(backbone: backbone, tensors: lin, file: "lpips.safetensors") }
        #expect(m.contains("lpips.safetensors") && m.contains("lin2") && m.contains("non-negative"), "\(m)")
        m = message { _ = try DISTS(backbone: backbone, tensors: ["alpha": Self.weights.dists["alpha"]!], file: "dists.safetensors") }
        #expect(m.contains("dists.safetensors") && m.contains("'beta'"), "\(m)")
        // A safetensors file round-trips; a truncated one is named.
        let good = dir.appendingPathComponent("lpips.safetensors")
        try Safetensors.write(Self.weights.lpips, to: good)
        _ = try LPIPS(backbone: backbone, contentsOf: good)
        let bad = dir.appendingPathComponent("truncated.safetensors")
        try Data(try Data(contentsOf: good).prefix(100)).write(to: bad)
        m = message { _ = try LPIPS(backbone: backbone, contentsOf: bad) }
        #expect(m.contains("truncated.safetensors") && m.contains("LPIPS weights"), "\(m)")
        // Images too small for four poolings, or of different shapes.
        let lpips = try LPIPS(backbone: backbone, tensors: Self.weights.lpips, file: "generated")
        #expect(throws: MetricError.self) { try lpips.compute(Tensor.zeros([12, 40]), Tensor.zeros([12, 40])) }
        #expect(throws: MetricError.self) { try lpips.compute(Tensor.zeros([32, 40]), Tensor.zeros([40, 32])) }
    }
}
