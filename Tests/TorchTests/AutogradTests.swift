import Testing
@testable import Torch

@Suite struct AutogradTests {
    @Test func leavesAndAccumulation() throws {
        let x = try Tensor([1, 2, 3] as [Double]).requiresGrad(true)
        #expect(x.requiresGrad && x.isLeaf && x.grad == nil)
        let y = try (x * x).sum()
        #expect(!y.isLeaf && y.requiresGrad)
        try y.backward(retainGraph: true)
        #expect(try x.grad!.toArray(Double.self) == [2, 4, 6])
        try y.backward()  // accumulates
        #expect(try x.grad!.toArray(Double.self) == [4, 8, 12])
        // The graph is gone after a backward without retainGraph: a second one throws, not crashes.
        #expect(throws: TorchError.self) { try y.backward() }
        try x.zeroGrad(setToNone: false)
        #expect(try x.grad!.toArray(Double.self) == [0, 0, 0])
        try x.zeroGrad()
        #expect(x.grad == nil)
        try x.setGrad(Tensor([9, 9, 9] as [Double]))
        #expect(try x.grad!.toArray(Double.self) == [9, 9, 9])
        try x.setGrad(nil)
        #expect(x.grad == nil)
        #expect(throws: TorchError.self) { try Tensor([1] as [Int]).requiresGrad(true) }
    }

    @Test func nonScalarOutputsNeedAGradient() throws {
        let x = try Tensor([1, 2] as [Double]).requiresGrad(true)
        let y = try x * 3
        #expect(throws: TorchError.self) { try y.backward() }
        try y.backward(Tensor([1, 10] as [Double]))
        #expect(try x.grad!.toArray(Double.self) == [3, 30])
    }

    @Test func detachAndNoGrad() throws {
        let x = try Tensor([2] as [Double]).requiresGrad(true)
        let d = try x.detach()
        #expect(!d.requiresGrad && d.sharesStorage(with: x))
        let y = try withNoGrad { try x * 2 }
        #expect(!y.requiresGrad)
        #expect(isGradEnabled)
        // The mode is restored even when the body throws.
        struct Boom: Error {}
        #expect(throws: Boom.self) { try withNoGrad { throw Boom() } }
        #expect(isGradEnabled)
        try withGradEnabled(false) {
            #expect(!isGradEnabled)
            let inner = try withGradEnabled(true) { try x * 2 }
            #expect(inner.requiresGrad)
        }
        let z = try (x * 2)
        try z.detach_()
        #expect(!z.requiresGrad)
    }

    @Test func gradientsOfSelectedInputs() throws {
        let a = try Tensor([1, 2] as [Double]).requiresGrad(true)
        let b = try Tensor([3, 4] as [Double]).requiresGrad(true)
        let c = try Tensor([5] as [Double]).requiresGrad(true)
        let y = try (a * b).sum()
        let g = try gradients(of: [y], withRespectTo: [a, b, c], retainGraph: true, allowUnused: true)
        #expect(try g[0]!.toArray(Double.self) == [3, 4])
        #expect(try g[1]!.toArray(Double.self) == [1, 2])
        #expect(g[2] == nil)
        #expect(a.grad == nil)  // autograd.grad leaves .grad alone
        #expect(throws: TorchError.self) { try gradients(of: [y], withRespectTo: [c]) }
        #expect(throws: TorchError.self) { try gradients(of: [y], withRespectTo: [a], gradOutputs: [nil, nil]) }
    }

    @Test func gradientsOfGradients() throws {
        let x = try Tensor([2, -1] as [Double]).requiresGrad(true)
        let y = try x.pow(3).sum()
        let dx = try gradients(of: [y], withRespectTo: [x], createGraph: true)[0]!
        #expect(try dx.toArray(Double.self) == [12, 3])  // 3x^2
        let d2 = try gradients(of: [dx.sum()], withRespectTo: [x])[0]!
        #expect(try d2.toArray(Double.self) == [12, -6])  // 6x
    }

    @Test func gradientPenaltyReachesTheWeights() throws {
        // WGAN-GP: penalty = (||d D(x) / d x|| - 1)^2 with D(x) = sum(w * x^2); its gradient
        // with respect to w must flow through the input gradient.
        let w = try Tensor([0.5, 2] as [Double]).requiresGrad(true)
        let x = try Tensor([1, 3] as [Double]).requiresGrad(true)
        let d = try (w * x * x).sum()
        let gx = try gradients(of: [d], withRespectTo: [x], createGraph: true)[0]!  // 2 w x
        let penalty = try (gx.norm() - 1).square()
        try penalty.backward()
        // By hand: g = (2 w1 x1, 2 w2 x2) = (1, 12); |g| = sqrt(145);
        // d penalty / d w_i = 2 (|g| - 1) * g_i / |g| * 2 x_i.
        let n = (145.0).squareRoot()
        try expectClose(w.grad!, [2 * (n - 1) * 1 / n * 2 * 1, 2 * (n - 1) * 12 / n * 2 * 3], rtol: 1e-12)
    }
}
