import Foundation
import Testing
@testable import Imaging
import Torch

@Suite struct OrientationTests {
    /// Every axis permutation with every flip: 48 voxel orders of the same anatomy.
    static let orders: [([Int], [Bool])] = {
        let perms = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]]
        var out: [([Int], [Bool])] = []
        for p in perms { for f in 0..<8 { out.append((p, [f & 1 != 0, f & 2 != 0, f & 4 != 0])) } }
        return out
    }()

    @Test func all48OrientationsReturnToCanonicalExactly() throws {
        let base = try Tensor.arange(0, 60, dtype: .float32).reshape([3, 4, 5])
        let ras = Volume(data: base, affine: .scaling([1, 2, 3], translation: [-10, 5, 7]))
        for (perm, flips) in Self.orders {
            // Build the same anatomy stored in another voxel order: permute/flip the data and the affine.
            var m = Affine([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
            var d = try base.permute(perm)
            let dims = (0..<3).filter { flips[$0] }
            if !dims.isEmpty { d = try d.flip(dims) }
            for t in 0..<3 {
                m[perm[t], t] = flips[t] ? -1 : 1
                m[perm[t], 3] = flips[t] ? Double(base.shape[perm[t]] - 1) : 0
            }
            let v = Volume(data: try d.contiguous(), affine: ras.affine * m)
            let c = try v.canonical()
            #expect(c.orientation == "RAS")
            #expect(try c.data.equal(base), "\(perm) \(flips)")
            expectClose(c.affine.m, ras.affine.m, rtol: 0, atol: 1e-12, "\(perm) \(flips)")
            // Corners keep their world positions through a reorientation and back.
            let back = try c.reoriented(to: v.orientation)
            #expect(try back.data.equal(v.data))
            expectClose(back.affine.m, v.affine.m, rtol: 0, atol: 1e-12)
        }
        #expect(throws: ResamplingError.self) { try ras.reoriented(to: "RRS") }
        #expect(throws: ResamplingError.self) { try ras.reoriented(to: "XY") }
    }

    @Test func orientationCodesAndPlanes() throws {
        #expect(Volume(data: try Tensor.zeros([2, 2, 2]), affine: .scaling([-1, 1, 1])).orientation == "LAS")
        let lpi = Volume(data: try Tensor.zeros([2, 3, 4]), affine: .scaling([-1, -1, -1]))
        #expect(lpi.orientation == "LPI")
        // A coronal acquisition: voxel axes (R, S, A).
        let coronal = Volume(data: try Tensor.zeros([2, 3, 4]), affine: Affine(rows: [[1, 0, 0, 0], [0, 0, 5, 0], [0, 1, 0, 0], [0, 0, 0, 1]]))
        #expect(coronal.orientation == "RSA")
        #expect(coronal.axis(normalTo: .coronal) == 2 && coronal.axis(normalTo: .axial) == 1 && coronal.axis(normalTo: .sagittal) == 0)
        // The coarsest axes: thick slices (one), slices degraded in-plane (two), isotropic (three).
        #expect(coronal.coarsestAxes() == [2])
        #expect(Volume(data: try Tensor.zeros([2, 2, 2]), affine: .scaling([2, 1.99, 1])).coarsestAxes() == [0, 1])
        #expect(Volume(data: try Tensor.zeros([2, 2, 2]), affine: .scaling([2, 1.9, 1])).coarsestAxes() == [0])
        #expect(Volume(data: try Tensor.zeros([2, 2, 2]), affine: .scaling([-1, 1, 1])).coarsestAxes() == [0, 1, 2])
        #expect(try coronal.slice(axis: 2, index: 1).shape == [2, 3])
        #expect(throws: ResamplingError.self) { try coronal.slice(axis: 2, index: 4) }
        // Many points at once, both ways.
        let pts = try Tensor([0, 0, 0, 1, 2, 3] as [Double], shape: [2, 3])
        let world = try coronal.worldCoordinates(ofVoxel: pts)
        #expect(try world.toArray(Double.self) == [0, 0, 0, 1, 15, 2])
        #expect(try coronal.voxelCoordinates(ofWorld: world).allClose(pts))
    }
}

@Suite struct CroppingTests {
    @Test func cropAndPadKeepWorldPositions() throws {
        let d = try Tensor.arange(0, 120, dtype: .float32).reshape([4, 5, 6])
        let v = Volume(data: d, affine: Affine(rows: [[0, 2, 0, 1], [-1, 0, 0, 2], [0, 0, 3, 3], [0, 0, 0, 1]]))
        let c = try v.cropped(lower: [1, 2, 3], upper: [3, 5, 6])
        #expect(c.shape == [2, 3, 3])
        // Voxel (0,0,0) of the crop is voxel (1,2,3) of the original, at the same world point.
        #expect(try c.data.select(0, 0).select(0, 0).select(0, 0).item() == d.select(0, 1).select(0, 2).select(0, 3).item())
        expectClose(c.affine.apply([0, 0, 0]), v.affine.apply([1, 2, 3]), rtol: 0, atol: 1e-12)
        let p = try c.padded(before: [1, 0, 2], after: [0, 1, 0], value: -1)
        #expect(p.shape == [3, 4, 5])
        expectClose(p.affine.apply([1, 0, 2]), c.affine.apply([0, 0, 0]), rtol: 0, atol: 1e-12)
        #expect(try p.data.select(0, 0).sum().item() == -20)
        #expect(throws: ResamplingError.self) { try v.cropped(lower: [0, 0, 0], upper: [5, 1, 1]) }
        #expect(throws: ResamplingError.self) { try v.padded(before: [-1, 0, 0], after: [0, 0, 0]) }
    }

    @Test func boundingBoxOfAMask() throws {
        let m = try Tensor.zeros([10, 10, 10], dtype: .uint8)
        try m.narrow(0, start: 2, length: 3).narrow(1, start: 4, length: 1).narrow(2, start: 7, length: 2).fill_(1)
        let v = Volume(data: m, affine: .identity)
        let box = try #require(try v.boundingBox())
        #expect(box.lower == [2, 4, 7] && box.upper == [5, 5, 9])
        let wide = try #require(try v.boundingBox(margin: 3))
        #expect(wide.lower == [0, 1, 4] && wide.upper == [8, 8, 10])
        #expect(try Volume(data: try Tensor.zeros([3, 3, 3]), affine: .identity).boundingBox() == nil)
    }
}

@Suite struct NormalizationTests {
    let v: Volume
    init() throws {
        v = Volume(data: try Tensor.arange(0, 1000, dtype: .float32).reshape([10, 10, 10]) * 0.5 + 3, affine: .identity)
    }

    @Test func minMaxAndItsInverse() throws {
        let (n, p) = try v.normalized(.minMax)
        #expect(try n.data.min().item() == 0 && n.data.max().item() == 1)
        #expect(p.offset == 3 && p.scale == 499.5)
        #expect(try p.invert(n.data).allClose(v.data, rtol: 1e-6))
    }

    @Test func clippedMinMaxUsesNumpysPercentiles() throws {
        let (n, p) = try v.normalized(.clippedMinMax())
        // numpy.percentile(x, [1, 99]) of 3 + 0.5 * (0..999): positions 9.99 and 989.01.
        expectClose([p.clipLow!, p.clipHigh!], [3 + 0.5 * 9.99, 3 + 0.5 * 989.01], rtol: 1e-12)
        #expect(try n.data.min().item() == 0 && n.data.max().item() == 1)
        // Inside the clipping range the inverse is exact; outside, values come back at the bounds.
        let back = try p.invert(n.data)
        let inside = try v.data.ge(p.clipLow!).logicalAnd(v.data.le(p.clipHigh!))
        #expect(try back.maskedSelect(inside).allClose(v.data.maskedSelect(inside), rtol: 1e-6))
        #expect(try back.max().item() <= p.clipHigh! + 1e-3)
        #expect(throws: NormalizationError.self) { try v.normalized(.clippedMinMax(lower: 99, upper: 1)) }
    }

    @Test func zScoreInsideAMask() throws {
        let mask = try v.data.gt(250)
        let (n, p) = try v.normalized(.zScore, mask: mask)
        let inside = try n.data.maskedSelect(mask)
        expectClose([try inside.to(.float64).mean().item(), try inside.to(.float64).std(unbiased: false).item()], [0, 1], rtol: 0, atol: 1e-5)
        #expect(try p.invert(n.data).allClose(v.data, rtol: 1e-5))
        #expect(throws: NormalizationError.self) { try v.normalized(.zScore, mask: Tensor.zeros([10, 10, 10])) }
        #expect(throws: NormalizationError.self) { try v.normalized(.zScore, mask: Tensor.ones([2, 2, 2])) }
    }

    @Test func constantImagesAreRefused() throws {
        let flat = Volume(data: try Tensor.full([4, 4, 4], 7), affine: .identity)
        #expect(throws: NormalizationError.self) { try flat.normalized(.minMax) }
        #expect(throws: NormalizationError.self) { try flat.normalized(.clippedMinMax()) }
        #expect(throws: NormalizationError.self) { try flat.normalized(.zScore) }
    }

    @Test func percentilesOfLargeVolumesUseTheSortRoute() throws {
        // Over libtorch's 16M-element quantile limit.
        let big = try Tensor.arange(0, 17_000_000, dtype: .float64)
        let q = try Percentiles.compute(big, [1, 50, 99])
        expectClose(q, [0.01 * 16_999_999, 0.5 * 16_999_999, 0.99 * 16_999_999], rtol: 1e-9)
    }
}
