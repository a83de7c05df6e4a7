import Testing
@testable import Torch

@Test func smoke() throws {
    let a = try Tensor([1.0, 2, 3, 4] as [Float], shape: [2, 2])
    let b = try a * a + 1
    #expect(try b.toArray(Float.self) == [2, 5, 10, 17])
    #expect(b.shape == [2, 2])
    #expect(try b.sum().item() == 34)
    let x = try Tensor.randn([3, 3]).requiresGrad(true)
    let y = try (x * x).sum()
    try y.backward()
    let g = try #require(x.grad)
    #expect(try g.allClose(x * 2))
    #expect(throws: TorchError.self) { try a.matmul(Tensor.zeros([3, 3])) }
    do { _ = try a.matmul(Tensor.zeros([3, 3])) } catch { print(error) }
    print(TorchRuntime.threads, TorchRuntime.version)
}
