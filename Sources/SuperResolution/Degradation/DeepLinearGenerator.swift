import Imaging
import NN
import Torch

/// Seed 003's downsampling generator: a deep linear network (7x7, 5x5 and 3x3 convolutions, then
/// three 1x1 convolutions, no activations and no biases; the last one strides by `factor`), so
/// that the whole network is one 13x13 convolution followed by subsampling. The layers are
/// `body.0` ... `body.5` (PyTorch `nn.Sequential` names).
///
/// On an (N, 1, H, W) input it computes, without padding, y(j) = (x * k)(6 + factor j), k being
/// `kernel()`: the network's response to a single bright voxel.
public final class DeepLinearGenerator: Module, UnaryLayer {
    public static let kernelSizes = [7, 5, 3, 1, 1, 1]
    /// The effective kernel's size: 7 + 5 + 3 - 2 = 13.
    public static let kernelSize = kernelSizes.reduce(1) { $0 + $1 - 1 }

    public let body: Sequential
    public let factor: Int

    /// Takes the six convolutions as they are (tests inject exact weights).
    public init(layers: [Conv2d], factor: Int) throws {
        guard layers.count == Self.kernelSizes.count,
              zip(layers, Self.kernelSizes).allSatisfy({ $0.weight.shape.count == 4 && $0.weight.shape[2] == $1 && $0.weight.shape[3] == $1 }),
              layers.first?.weight.shape[1] == 1, layers.last?.weight.shape[0] == 1 else {
            throw NNError.invalidConfiguration(module: "DeepLinearGenerator", message: "expected six bias-free convolutions 1 -> ... -> 1 of sizes \(Self.kernelSizes)")
        }
        guard factor >= 1 else { throw NNError.invalidConfiguration(module: "DeepLinearGenerator", message: "factor \(factor) must be >= 1") }
        body = Sequential(layers)
        self.factor = factor
        super.init()
    }

    /// PyTorch's default initialization, `width` channels inside.
    public convenience init(width: Int = 64, factor: Int = 2, generator: Generator? = nil) throws {
        var layers: [Conv2d] = []
        for (i, k) in Self.kernelSizes.enumerated() {
            let last = i == Self.kernelSizes.count - 1
            layers.append(try Conv2d(inChannels: i == 0 ? 1 : width, outChannels: last ? 1 : width, kernelSize: k,
                                     stride: last ? factor : 1, bias: false, generator: generator))
        }
        try self.init(layers: layers, factor: factor)
    }

    var convolutions: [Conv2d] { body.layers.map { $0 as! Conv2d } }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try body(x) }

    /// The output size for an input of `n` voxels (valid convolutions, then the stride).
    public static func outputSize(input n: Int, factor: Int) -> Int { n < kernelSize ? 0 : (n - kernelSize) / factor + 1 }

    /// The effective kernel (13, 13): the response to a delta in the middle of a 25x25 image,
    /// every layer without its stride. Differentiable (the regularizers act through it).
    public func kernel() throws -> Tensor {
        let n = 2 * Self.kernelSize - 1
        let w = convolutions[0].weight
        let delta = try Tensor.zeros([1, 1, n, n], dtype: w.dtype)
        try withNoGrad { _ = try delta.narrow(2, start: n / 2, length: 1).narrow(3, start: n / 2, length: 1).fill_(1) }
        var x = delta
        for conv in convolutions { x = try x.conv2d(conv.weight) }
        return try x.reshape([Self.kernelSize, Self.kernelSize])
    }

    /// The effective kernel as a `DegradationKernel` (not normalized).
    public func degradationKernel() throws -> DegradationKernel {
        let k = try withNoGrad { try kernel().to(.float64).contiguous().toArray(Double.self) }
        return try DegradationKernel(weights: k, size: Self.kernelSize, factor: factor)
    }
}
