import Foundation
import Testing
@testable import Torch

/// Direct-loop references for small inputs.
enum Naive {
    /// 2-d cross-correlation (PyTorch's conv2d): x (N, C, H, W), w (O, C/groups, kh, kw).
    static func conv2d(_ x: [Double], _ xs: [Int], _ w: [Double], _ ws: [Int], bias: [Double]?,
                       stride: [Int], padding: [Int], dilation: [Int], groups: Int) -> ([Double], [Int]) {
        let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3])
        let (o, cg, kh, kw) = (ws[0], ws[1], ws[2], ws[3])
        let oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) / stride[0] + 1
        let ow = (wd + 2 * padding[1] - dilation[1] * (kw - 1) - 1) / stride[1] + 1
        var out = [Double](repeating: 0, count: n * o * oh * ow)
        let og = o / groups
        for b in 0..<n { for oc in 0..<o { for y in 0..<oh { for xx in 0..<ow {
            var s = bias?[oc] ?? 0
            let g = oc / og
            for ic in 0..<cg { for i in 0..<kh { for j in 0..<kw {
                let iy = y * stride[0] - padding[0] + i * dilation[0]
                let ix = xx * stride[1] - padding[1] + j * dilation[1]
                guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
                let ci = g * cg + ic
                s += x[((b * c + ci) * h + iy) * wd + ix] * w[((oc * cg + ic) * kh + i) * kw + j]
            } } }
            out[((b * o + oc) * oh + y) * ow + xx] = s
        } } } }
        _ = c
        return (out, [n, o, oh, ow])
    }

    /// Transposed 2-d convolution by scattering each input value through the kernel.
    static func convTranspose2d(_ x: [Double], _ xs: [Int], _ w: [Double], _ ws: [Int], stride: Int, padding: Int,
                                outputPadding: Int) -> ([Double], [Int]) {
        let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3])
        let (o, kh, kw) = (ws[1], ws[2], ws[3])
        let oh = (h - 1) * stride - 2 * padding + kh + outputPadding
        let ow = (wd - 1) * stride - 2 * padding + kw + outputPadding
        var out = [Double](repeating: 0, count: n * o * oh * ow)
        for b in 0..<n { for ic in 0..<c { for y in 0..<h { for xx in 0..<wd {
            let v = x[((b * c + ic) * h + y) * wd + xx]
            for oc in 0..<o { for i in 0..<kh { for j in 0..<kw {
                let ty = y * stride - padding + i, tx = xx * stride - padding + j
                guard ty >= 0, ty < oh, tx >= 0, tx < ow else { continue }
                out[((b * o + oc) * oh + ty) * ow + tx] += v * w[((ic * o + oc) * kh + i) * kw + j]
            } } }
        } } } }
        return (out, [n, o, oh, ow])
    }
}

@Suite struct ConvolutionTests {
    @Test func conv2dAgainstDirectLoops() throws {
        let xs = [2, 4, 7, 6]
        let x = try fixed(xs, seed: 1)
        let xv = try x.toArray(Double.self)
        for (stride, padding, dilation, groups) in [([1, 1], [0, 0], [1, 1], 1), ([2, 1], [1, 2], [1, 1], 1),
                                                    ([1, 1], [2, 2], [2, 1], 2), ([1, 2], [1, 0], [1, 1], 4)] {
            let ws = [4, 4 / groups, 3, 2]
            let w = try fixed(ws, seed: 2)
            let b = try fixed([4], seed: 3)
            let (expected, shape) = Naive.conv2d(xv, xs, try w.toArray(Double.self), ws, bias: try b.toArray(Double.self),
                                                 stride: stride, padding: padding, dilation: dilation, groups: groups)
            let y = try x.conv2d(w, bias: b, stride: stride, padding: padding, dilation: dilation, groups: groups)
            #expect(y.shape == shape)
            try expectClose(y, expected, rtol: 1e-12, atol: 1e-12, "conv2d s\(stride) p\(padding) d\(dilation) g\(groups)")
        }
    }

    @Test func conv1dAnd3dReduceToConv2d() throws {
        // conv1d on (N, C, L) equals conv2d on (N, C, 1, L) with a (O, C, 1, k) kernel.
        let x = try fixed([1, 2, 9], seed: 4), w = try fixed([3, 2, 3], seed: 5)
        let a = try x.conv1d(w, stride: [2], padding: [1])
        let b = try x.unsqueeze(2).conv2d(w.unsqueeze(2), stride: [1, 2], padding: [0, 1]).squeeze(2)
        try expectClose(a, try b.toArray(Double.self), rtol: 1e-12)
        // conv3d with a kernel of depth 1 on a depth-1 volume equals conv2d.
        let x3 = try fixed([1, 2, 1, 5, 5], seed: 6), w3 = try fixed([2, 2, 1, 3, 3], seed: 7)
        let c = try x3.conv3d(w3, padding: [0, 1, 1])
        let d = try x3.squeeze(2).conv2d(w3.squeeze(2), padding: [1])
        try expectClose(c.squeeze(2), try d.toArray(Double.self), rtol: 1e-12)
        // A 3x3x3 kernel of ones sums the neighbourhood: check one interior voxel by hand.
        let ramp = try Tensor.arange(0, 27, dtype: .float64).reshape([1, 1, 3, 3, 3])
        #expect(try ramp.conv3d(Tensor.ones([1, 1, 3, 3, 3], dtype: .float64)).item() == 351)
        // Unbatched input, as torch.nn.functional accepts.
        #expect(try x.squeeze(0).conv1d(w).shape == [3, 7])
    }

    @Test func transposedConvolutionsScatter() throws {
        let xs = [1, 2, 3, 4], ws = [2, 3, 3, 2]
        let x = try fixed(xs, seed: 8), w = try fixed(ws, seed: 9)
        for (s, p, op) in [(1, 0, 0), (2, 1, 1), (3, 0, 2)] {
            let (expected, shape) = Naive.convTranspose2d(try x.toArray(Double.self), xs, try w.toArray(Double.self), ws,
                                                          stride: s, padding: p, outputPadding: op)
            let y = try x.convTranspose2d(w, stride: [s], padding: [p], outputPadding: [op])
            #expect(y.shape == shape)
            try expectClose(y, expected, rtol: 1e-12, atol: 1e-12, "conv_transpose2d s\(s) p\(p) op\(op)")
        }
        // 1-d and 3-d agree with the 2-d scatter on degenerate dimensions.
        let x1 = try fixed([1, 2, 5], seed: 10), w1 = try fixed([2, 3, 3], seed: 11)
        let a = try x1.convTranspose1d(w1, stride: [2])
        let b = try x1.unsqueeze(2).convTranspose2d(w1.unsqueeze(2), stride: [1, 2]).squeeze(2)
        try expectClose(a, try b.toArray(Double.self), rtol: 1e-12)
        let x3 = try fixed([1, 2, 1, 3, 3], seed: 12), w3 = try fixed([2, 1, 1, 2, 2], seed: 13)
        let c = try x3.convTranspose3d(w3, stride: [1, 2, 2])
        let d = try x3.squeeze(2).convTranspose2d(w3.squeeze(2), stride: [2])
        try expectClose(c.squeeze(2), try d.toArray(Double.self), rtol: 1e-12)
    }

    @Test func linearIsXWTransposePlusB() throws {
        let x = try Tensor([1, 2, 3, 4] as [Double], shape: [2, 2])
        let w = try Tensor([1, 0, 2, 1, -1, 1] as [Double], shape: [3, 2])
        let b = try Tensor([0.5, 0, -1] as [Double])
        #expect(try x.linear(w, bias: b).toArray(Double.self) == [1.5, 4, 0, 3.5, 10, 0])
    }
}

@Suite struct PoolingTests {
    let x: Tensor  // 1x1x4x4 ramp 0..15
    init() throws { x = try Tensor.arange(0, 16, dtype: .float64).reshape([1, 1, 4, 4]) }

    @Test func maxAndAveragePooling() throws {
        #expect(try x.maxPool2d(kernelSize: [2]).toArray(Double.self) == [5, 7, 13, 15])
        #expect(try x.avgPool2d(kernelSize: [2]).toArray(Double.self) == [2.5, 4.5, 10.5, 12.5])
        #expect(try x.maxPool2d(kernelSize: [3], stride: [1]).toArray(Double.self) == [10, 11, 14, 15])
        #expect(try x.maxPool2d(kernelSize: [3], stride: [2], ceilMode: true).shape == [1, 1, 2, 2])
        // Padding with and without counting the zeros.
        let withPad = try x.avgPool2d(kernelSize: [2], stride: [2], padding: [1])
        #expect(try withPad.toArray(Double.self)[0] == 0 / 4)
        #expect(try withPad.toArray(Double.self)[1] == (1 + 2) / 4.0)
        let noPad = try x.avgPool2d(kernelSize: [2], stride: [2], padding: [1], countIncludePad: false)
        #expect(try noPad.toArray(Double.self)[1] == (1 + 2) / 2.0)
        let d = try x.maxPool2d(kernelSize: [2], stride: [1], dilation: [2])
        #expect(try d.toArray(Double.self) == [10, 11, 14, 15])
        let cube = try Tensor.arange(0, 64, dtype: .float64).reshape([1, 1, 4, 4, 4])
        #expect(try cube.maxPool3d(kernelSize: [2]).toArray(Double.self) == [21, 23, 29, 31, 53, 55, 61, 63])
        #expect(try cube.avgPool3d(kernelSize: [4]).item() == 31.5)
        #expect(throws: TorchError.self) { try x.maxPool2d(kernelSize: [5]) }
        #expect(throws: TorchError.self) { try x.maxPool2d(kernelSize: [2, 2, 2]) }
    }

    @Test func adaptivePooling() throws {
        #expect(try x.adaptiveAvgPool2d(outputSize: [1]).item() == 7.5)
        #expect(try x.adaptiveMaxPool2d(outputSize: [2]).toArray(Double.self) == [5, 7, 13, 15])
        // 4 -> 3 bins: [0,2), [1,3), [2,4) along each axis.
        let a = try x.adaptiveAvgPool2d(outputSize: [3, 3]).toArray(Double.self)
        #expect(a[0] == (0 + 1 + 4 + 5) / 4.0 && a[4] == (5 + 6 + 9 + 10) / 4.0)
        let cube = try Tensor.arange(0, 8, dtype: .float64).reshape([1, 1, 2, 2, 2])
        #expect(try cube.adaptiveAvgPool3d(outputSize: [1]).item() == 3.5)
        #expect(try cube.adaptiveMaxPool3d(outputSize: [1]).item() == 7)
    }
}

@Suite struct InterpolationTests {
    @Test func nearestRepeatsSamples() throws {
        let x = try Tensor([1, 2, 3, 4] as [Double], shape: [1, 1, 2, 2])
        #expect(try x.interpolate(scaleFactor: [2]).toArray(Double.self) == [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
        #expect(try x.interpolate(size: [2, 4]).toArray(Double.self) == [1, 1, 2, 2, 3, 3, 4, 4])
        let v = try Tensor([1, 2, 3] as [Double], shape: [1, 1, 3])
        #expect(try v.interpolate(size: [6]).toArray(Double.self) == [1, 1, 2, 2, 3, 3])
        let c = try Tensor.arange(0, 8, dtype: .float64).reshape([1, 1, 2, 2, 2])
        #expect(try c.interpolate(scaleFactor: [2]).shape == [1, 1, 4, 4, 4])
    }

    @Test func linearModesReproduceRampsWithAlignedCorners() throws {
        // A linear ramp sampled with align_corners = true stays an exact ramp.
        let v = try Tensor([0, 3, 6] as [Double], shape: [1, 1, 3])
        try expectClose(v.interpolate(size: [7], mode: .linear, alignCorners: true), [0, 1, 2, 3, 4, 5, 6], rtol: 1e-12)
        let plane = try Tensor([0, 2, 4, 6] as [Double], shape: [1, 1, 2, 2])  // f(y, x) = 4y + 2x
        let up = try plane.interpolate(size: [3, 3], mode: .bilinear, alignCorners: true)
        try expectClose(up, [0, 1, 2, 2, 3, 4, 4, 5, 6], rtol: 1e-12)
        let cube = try Tensor([0, 1, 2, 3, 4, 5, 6, 7] as [Double], shape: [1, 1, 2, 2, 2])
        let tri = try cube.interpolate(size: [3, 3, 3], mode: .trilinear, alignCorners: true)
        try expectClose(tri.select(4, 1).select(3, 1).select(2, 1), [3.5], rtol: 1e-12)
        // align_corners = false (half-pixel centres): 2 -> 4 samples at -0.25, 0.25, 0.75, 1.25 (clamped).
        let h = try Tensor([0, 4] as [Double], shape: [1, 1, 2]).interpolate(size: [4], mode: .linear)
        try expectClose(h, [0, 1, 3, 4], rtol: 1e-12)
    }

    @Test func bicubicUsesTheMinus075Kernel() throws {
        // One output between samples 1 and 2 of [0, 0, 1, 0, 0] at align_corners = true, t = 0.5:
        // weights of Keys' kernel with A = -0.75 at distances 1.5, 0.5, 0.5, 1.5.
        let a = -0.75
        func k(_ d: Double) -> Double {
            let x = Swift.abs(d)
            if x <= 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
            return 0
        }
        let row = try Tensor([0, 0, 1, 0, 0] as [Double], shape: [1, 1, 1, 5])
        let out = try row.interpolate(size: [1, 9], mode: .bicubic, alignCorners: true)
        // Output 3 sits at input position 1.5: neighbours 0, 1, 2, 3 with distances 1.5, 0.5, 0.5, 1.5.
        expectClose(try out.toArray(Double.self)[3], k(0.5), rtol: 1e-12)
        expectClose(try out.toArray(Double.self)[5], k(0.5), rtol: 1e-12)
        expectClose(try out.toArray(Double.self)[1], k(1.5) * 0 + k(0.5) * 0 + k(0.5) * 0 + k(1.5) * 1, atol: 1e-12)
        #expect(throws: TorchError.self) { try row.interpolate(size: [2, 2], mode: .trilinear) }
        #expect(throws: TorchError.self) { try row.interpolate(size: [2, 2], scaleFactor: [2]) }
        #expect(throws: TorchError.self) { try row.interpolate(size: [2, 2], alignCorners: true) }
    }
}

@Suite struct GridSamplingTests {
    let img: Tensor  // 1x1x3x4, values 0..11
    init() throws { img = try Tensor.arange(0, 12, dtype: .float64).reshape([1, 1, 3, 4]) }

    func identityGrid(h: Int, w: Int) throws -> Tensor {
        let ys = try Tensor.linspace(-1, 1, steps: h, dtype: .float64)
        let xs = try Tensor.linspace(-1, 1, steps: w, dtype: .float64)
        let g = try Tensor.meshgrid([ys, xs])
        return try Tensor.stack([g[1], g[0]], dim: -1).unsqueeze(0)  // last axis (x, y)
    }

    @Test func identityAndShift() throws {
        let grid = try identityGrid(h: 3, w: 4)
        for mode in [GridSampleMode.bilinear, .nearest, .bicubic] {
            try expectClose(img.gridSample(grid, mode: mode, alignCorners: true), try img.toArray(Double.self), rtol: 1e-12, atol: 1e-12, "\(mode)")
        }
        // Shift by one pixel in x (2 / (w - 1) in normalised units): zeros enter from the right.
        let shifted = try grid + Tensor([2.0 / 3, 0] as [Double])
        let s = try img.gridSample(shifted, alignCorners: true).toArray(Double.self)
        #expect(s == [1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0])
        let b = try img.gridSample(shifted, paddingMode: .border, alignCorners: true).toArray(Double.self)
        #expect(b == [1, 2, 3, 3, 5, 6, 7, 7, 9, 10, 11, 11])
        let r = try img.gridSample(shifted, paddingMode: .reflection, alignCorners: true).toArray(Double.self)
        #expect(r == [1, 2, 3, 2, 5, 6, 7, 6, 9, 10, 11, 10])
        // Halfway between columns 0 and 1 with bilinear sampling.
        let half = try Tensor([-1 + 1.0 / 3, -1] as [Double], shape: [1, 1, 1, 2])
        expectClose(try img.gridSample(half, alignCorners: true).item(), 0.5, rtol: 1e-12)
    }

    @Test func threeDimensionalSampling() throws {
        let vol = try Tensor.arange(0, 8, dtype: .float64).reshape([1, 1, 2, 2, 2])  // value = 4z + 2y + x
        // The centre of the cube averages all eight corners.
        let centre = try Tensor.zeros([1, 1, 1, 1, 3], dtype: .float64)
        expectClose(try vol.gridSample(centre, alignCorners: true).item(), 3.5, rtol: 1e-12)
        // Corner (x=1, y=-1, z=1) -> index z=1, y=0, x=1 -> 5.
        let corner = try Tensor([1, -1, 1] as [Double], shape: [1, 1, 1, 1, 3])
        #expect(try vol.gridSample(corner, mode: .nearest, alignCorners: true).item() == 5)
    }

    @Test func affineGridOfTheIdentity() throws {
        let theta = try Tensor([1, 0, 0, 0, 1, 0] as [Double], shape: [1, 2, 3])
        let grid = try Tensor.affineGrid(theta, size: [1, 1, 3, 4], alignCorners: true)
        try expectClose(grid, try identityGrid(h: 3, w: 4).toArray(Double.self), rtol: 1e-12, atol: 1e-12)
        let theta3 = try Tensor.eye(3, 4, dtype: .float64).unsqueeze(0)
        #expect(try Tensor.affineGrid(theta3, size: [1, 1, 2, 3, 4]).shape == [1, 2, 3, 4, 3])
    }
}

@Suite struct RearrangementTests {
    @Test func pixelShufflePlacesChannelsOnTheGrid() throws {
        // Channel c = i * r + j goes to offset (i, j) of each r x r block.
        let x = try Tensor.arange(0, 8, dtype: .float64).reshape([1, 4, 1, 2])
        let y = try x.pixelShuffle(2)
        #expect(y.shape == [1, 1, 2, 4])
        #expect(try y.toArray(Double.self) == [0, 2, 1, 3, 4, 6, 5, 7])
        #expect(try y.pixelUnshuffle(2).equal(x))
        #expect(throws: TorchError.self) { try Tensor.zeros([1, 3, 2, 2]).pixelShuffle(2) }
    }

    @Test func unfoldAndFold() throws {
        let x = try Tensor.arange(0, 16, dtype: .float64).reshape([1, 1, 4, 4])
        let cols = try x.unfold(kernelSize: [2], stride: [2])
        #expect(cols.shape == [1, 4, 4])
        // The first column is the top-left 2x2 block.
        #expect(try cols.select(2, 0).toArray(Double.self) == [0, 1, 4, 5])
        #expect(try cols.fold(outputSize: [4, 4], kernelSize: [2], stride: [2]).equal(x))
        // Overlapping blocks: fold sums, so fold(unfold(x)) = x * (number of blocks covering a pixel).
        let over = try x.unfold(kernelSize: [3], padding: [1]).fold(outputSize: [4, 4], kernelSize: [3], padding: [1])
        let counts = try Tensor.ones([1, 1, 4, 4], dtype: .float64).unfold(kernelSize: [3], padding: [1])
            .fold(outputSize: [4, 4], kernelSize: [3], padding: [1])
        #expect(try counts.toArray(Double.self) == [4, 6, 6, 4, 6, 9, 9, 6, 6, 9, 9, 6, 4, 6, 6, 4])
        try expectClose(over, try (x * counts).toArray(Double.self), rtol: 1e-12)
    }

    @Test func dropout() throws {
        try manualSeed(5)
        let x = try Tensor.ones([100_000], dtype: .float64)
        #expect(try x.dropout(p: 0).equal(x))
        #expect(try x.dropout(p: 1).sum().item() == 0)
        #expect(try x.dropout(p: 0.5, training: false).equal(x))
        let d = try x.dropout(p: 0.25)
        let kept = try d.gt(0).to(.float64).mean().item()
        expectClose(kept, 0.75, atol: 0.01)
        expectClose(try d.max().item(), 1 / 0.75, rtol: 1e-12)
        #expect(throws: TorchError.self) { try x.dropout(p: 1.5) }
    }
}
