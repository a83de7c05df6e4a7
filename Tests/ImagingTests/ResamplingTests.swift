import Foundation
import Testing
@testable import Imaging
import Torch

struct ScipyReference: @unchecked Sendable {
    let json: [String: Any]
    static let shared: ScipyReference? = {
        guard let data = try? Data(contentsOf: fixturesRoot.appendingPathComponent("resampling/reference.json")),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return ScipyReference(json: json)
    }()
}

@Suite struct ResamplingTests {
    /// The crop of Colin 27 the reference was computed on.
    func crop() throws -> Volume {
        let v = try NIfTI.readVolume(try sample("colin27/colin27_t1_1mm.nii.gz"))
        let d = try v.data.to(.float64).narrow(0, start: 50, length: 40).narrow(1, start: 60, length: 50).narrow(2, start: 60, length: 30)
        return Volume(data: d, affine: v.affine)
    }

    @Test(arguments: [(Interpolation.linear, 1, 1e-5), (.cubic, 3, 1e-3)])
    func agreesWithScipyMapCoordinates(_ method: Interpolation, _ order: Int, _ tolerance: Double) throws {
        let ref = try #require(ScipyReference.shared?.json, "Tests/Fixtures/resampling/reference.json is missing")
        let v = try crop()
        let points = try Tensor((ref["points"] as! [[Double]]).flatMap { $0 }, shape: [3000, 3])
        let values = try v.sample(atVoxel: points, interpolation: method).toArray(Double.self)
        let expected = ref["map_coordinates_order\(order)"] as! [Double]
        let range = ref["range"] as! Double
        let worst = zip(values, expected).map { abs($0 - $1) }.max()!
        #expect(worst <= tolerance * range, "order \(order): worst difference \(worst) (\(worst / range) of the range)")
    }

    @Test(arguments: [(Interpolation.linear, 1, 1e-5), (.cubic, 3, 1e-3)])
    func zoomAgreesWithScipy(_ method: Interpolation, _ order: Int, _ tolerance: Double) throws {
        let ref = try #require(ScipyReference.shared?.json)
        let v = try crop()
        // scipy's zoom with grid_mode=False puts the first and last samples on the old ones.
        let m = ref["zoom_shape"] as! [Int]
        var t = Affine.identity
        for a in 0..<3 { t[a, a] = Double(v.shape[a] - 1) / Double(m[a] - 1) }
        let z = try v.resampled(onto: Grid(shape: m, affine: v.affine * t), interpolation: method, antiAlias: false)
        #expect(z.shape == m)
        let idx = ref["zoom_indices"] as! [[Int]]
        let values = try idx.map { i in try z.data.select(0, i[0]).select(0, i[1]).select(0, i[2]).item() }
        let expected = ref["zoom_order\(order)"] as! [Double]
        let range = ref["range"] as! Double
        let worst = zip(values, expected).map { abs($0 - $1) }.max()!
        #expect(worst <= tolerance * range, "zoom order \(order): worst difference \(worst)")
        let mean = try z.data.to(.float64).mean().item()
        #expect(abs(mean - (ref["zoom_order\(order)_mean"] as! Double)) <= tolerance * range)
    }

    @Test(arguments: Interpolation.allCases)
    func theSeparableAndGeneralPathsAgree(_ method: Interpolation) throws {
        // A zoom computed through matrices equals the same zoom sampled point by point.
        let v = try crop()
        let grid = try v.grid(shape: [30, 45, 55])
        let fast = try v.resampled(onto: grid, interpolation: method, antiAlias: false)
        guard let inv = v.affine.inverse() else { throw ResamplingError.invalid("singular") }
        let m = inv * grid.affine
        let general = try v.general(m, target: grid.shape, interpolation: method, antiAlias: false)
        let diff = try (fast.data.to(.float64) - general).abs().max().item()
        #expect(diff < (method == .nearest ? 1e-9 : 1e-6) * 96, "\(method): \(diff)")
    }

    /// The last axis's pass runs slab by slab into the result's type: the same values as one
    /// whole float64 pass rounded to float32, for any slab size and whichever axis is last.
    @Test func slabWiseLastPassEqualsOneWholePass() throws {
        let x = try Tensor.rand([9, 11, 7], dtype: .float64, generator: Generator(seed: 2))
        let v = Volume(data: try x.to(.float32), affine: .identity)
        for (shape, spacing) in [([9, 11, 20], [1.0, 1, 0.35]), ([25, 11, 7], [0.36, 1, 1]), ([17, 21, 13], [0.5, 0.5, 0.5])] {
            let grid = Grid(shape: shape, affine: .scaling(spacing))
            let m = v.affine.inverse()! * grid.affine
            let axes = try #require(Volume.axisAlignment(m))
            let whole = try v.separable(m, axes: axes, target: shape, interpolation: .cubic, antiAlias: false, result: .float64, slabElements: 1 << 30)
            for slab in [1, 7 * 20, 1000] {
                let slabs = try v.separable(m, axes: axes, target: shape, interpolation: .cubic, antiAlias: false, result: .float32, slabElements: slab)
                #expect(slabs.dtype == .float32 && slabs.shape == shape)
                #expect(try (slabs.to(.float64) - whole.to(.float32).to(.float64)).abs().max().item() == 0, "\(shape), slab \(slab)")
                // Laid out first axis fastest (NIfTI's order): the same values.
                let disk = try v.separable(m, axes: axes, target: shape, interpolation: .cubic, antiAlias: false, result: .float32,
                                           slabElements: slab, diskOrder: true)
                #expect(try disk.permute([2, 1, 0]).isContiguous)
                #expect(try (disk - slabs).abs().max().item() == 0)
            }
        }
    }

    @Test func identityGridReproducesTheInput() throws {
        let v = try crop()
        for method in Interpolation.allCases {
            let same = try v.resampled(like: v, interpolation: method)
            #expect(try (same.data.to(.float64) - v.data).abs().max().item() < 1e-9, "\(method)")
        }
    }

    @Test func nearestNeverInventsValuesAndKeepsLabelTypes() throws {
        let labels = try Tensor.randint(0, 4, [9, 8, 7], generator: Generator(seed: 3)).to(.int16)
        let v = Volume(data: labels, affine: .scaling([1, 1, 3]))
        let up = try v.resampled(toSpacing: [1], interpolation: .nearest)
        #expect(up.data.dtype == .int16)
        #expect(up.shape == [9, 8, 21])
        let seen = Set(try up.data.flatten().toArray(Int16.self))
        #expect(seen.isSubset(of: [0, 1, 2, 3]))
    }

    @Test func gridsKeepTheFieldOfView() throws {
        // 31 slices of 6 mm -> 186 slices of 1 mm over the same extent, centred.
        let v = Volume(data: try Tensor.zeros([4, 5, 31]), affine: .scaling([1, 1, 6], translation: [10, 20, 30]))
        let g = try v.grid(spacing: [1, 1, 1])
        #expect(g.shape == [4, 5, 186])
        expectClose(g.affine.spacing, [1, 1, 1], rtol: 1e-12)
        // The centre of the field of view stays put.
        let c0 = v.affine.apply([1.5, 2, 15]), c1 = g.affine.apply([1.5, 2, 92.5])
        expectClose(c1, c0, rtol: 0, atol: 1e-9)
        // The edges of the field of view too: half a voxel beyond the first and last centres.
        expectClose([g.affine.apply([0, 0, -0.5])[2]], [v.affine.apply([0, 0, -0.5])[2]], rtol: 0, atol: 1e-9)
        #expect(throws: ResamplingError.self) { try v.grid(spacing: [0, 1, 1]) }
        #expect(throws: ResamplingError.self) { try v.grid(shape: [1, 2]) }
    }

    @Test func rotatedGridsResampleThroughWorldCoordinates() throws {
        // A smooth volume sampled on a grid rotated by 90 degrees about z equals the permuted data.
        let axes = try Tensor.meshgrid([Tensor.arange(0, 6, dtype: .float64), Tensor.arange(0, 7, dtype: .float64),
                                        Tensor.arange(0, 5, dtype: .float64)])
        let d = try (axes[0] * 0.4).sin() + (axes[1] * 0.3).cos() + axes[2] * 0.1
        let v = Volume(data: d, affine: .identity)
        // Target index (i, j, k) -> world (-j + 6, i, k): a rotation with a shift.
        let target = Grid(shape: [7, 6, 5], affine: Affine(rows: [[0, -1, 0, 5], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]))
        for method in Interpolation.allCases {
            let r = try v.resampled(onto: target, interpolation: method, antiAlias: false)
            // Value at target (i, j, k) = d[5 - j, i, k].
            let expected = try d.flip([0]).permute([1, 0, 2])
            #expect(try (r.data - expected).abs().max().item() < 1e-6, "\(method)")
        }
        // A true rotation (30 degrees) goes through the general path and stays close to linear's answer.
        let c = cos(Double.pi / 6), s = sin(Double.pi / 6)
        let rot = Grid(shape: [6, 7, 5], affine: Affine(rows: [[c, -s, 0, 1], [s, c, 0, -1], [0, 0, 1, 0], [0, 0, 0, 1]]))
        let lin = try v.resampled(onto: rot, interpolation: .linear, antiAlias: false)
        let cub = try v.resampled(onto: rot, interpolation: .cubic, antiAlias: false)
        let sinc = try v.resampled(onto: rot, interpolation: .sinc, antiAlias: false)
        #expect(try (lin.data - cub.data).abs().mean().item() < 0.1)
        #expect(try (cub.data - sinc.data).abs().mean().item() < 0.1)
    }

    @Test func sincReproducesBandLimitedSignals() throws {
        // A slow cosine (period 16 samples) upsampled x3 with Lanczos stays within 1% of the truth.
        let n = 64
        let x = try Tensor.arange(0, .int(Int64(n)), dtype: .float64)
        let signal = try (x * (2 * Double.pi / 16)).cos()
        let v = Volume(data: try signal.reshape([n, 1, 1]).expand([n, 4, 4]).contiguous(), affine: .identity)
        let up = try v.resampled(toShape: [n * 3, 4, 4], interpolation: .sinc)
        let positions = (0..<(n * 3)).map { (Double($0) + 0.5) / 3 - 0.5 }
        let truth = positions.map { cos($0 * 2 * Double.pi / 16) }
        let got = try up.data.select(1, 0).select(1, 0).toArray(Double.self)
        let interior = (12..<(n * 3 - 12))
        let worst = interior.map { abs(got[$0] - truth[$0]) }.max()!
        #expect(worst < 0.01, "worst \(worst)")
    }

    @Test func antiAliasingSuppressesHighFrequencies() throws {
        // A 0/1 alternating pattern downsampled by 3 lands on samples 1, 4, 7, ...: without a blur
        // it aliases into a full-contrast pattern; with the blur it averages to 0.5.
        let pattern = try Tensor.arange(0, 63, dtype: .float64) % 2
        let v = Volume(data: try pattern.reshape([63, 1, 1]).expand([63, 2, 2]).contiguous(), affine: .identity)
        let plain = try v.resampled(toShape: [21, 2, 2], interpolation: .linear, antiAlias: false)
        let smooth = try v.resampled(toShape: [21, 2, 2], interpolation: .linear, antiAlias: true)
        let interior = { (t: Tensor) throws -> Tensor in try t.narrow(0, start: 2, length: 17) }
        #expect(try interior(plain.data).std().item() > 0.4)
        let spread = try interior(smooth.data).std().item()
        #expect(spread < 0.05, "blurred spread \(spread)")
        #expect(abs(try interior(smooth.data).mean().item() - 0.5) < 0.05)
    }
}
