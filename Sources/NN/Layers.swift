import Torch

/// Something callable on one tensor: a layer or a whole network.
public protocol UnaryLayer: Module {
    func callAsFunction(_ x: Tensor) throws -> Tensor
}

/// PyTorch's default initialization for linear and convolution layers (kaiming-uniform with
/// a = sqrt(5), which is uniform in +-1/sqrt(fanIn) for the weight, and the same bound for the bias).
func defaultInit(_ shape: [Int], fanIn: Int, generator: Generator?) throws -> Tensor {
    let bound = 1 / Double(fanIn).squareRoot()
    return try Tensor.empty(shape).uniform_(-bound, bound, generator: generator)
}

/// y = x W^T + b (`torch.nn.Linear`).
public final class Linear: Module, UnaryLayer {
    public let weight: Tensor
    public let bias: Tensor?

    /// Takes the tensors as they are (tests inject exact weights).
    public init(weight: Tensor, bias: Tensor?) {
        self.weight = weight
        self.bias = bias
        super.init()
    }

    public convenience init(inFeatures: Int, outFeatures: Int, bias: Bool = true, generator: Generator? = nil) throws {
        let w = try defaultInit([outFeatures, inFeatures], fanIn: inFeatures, generator: generator).requiresGrad(true)
        let b = bias ? try defaultInit([outFeatures], fanIn: inFeatures, generator: generator).requiresGrad(true) : nil
        self.init(weight: w, bias: b)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try x.linear(weight, bias: bias) }
}

/// 2-d convolution (`torch.nn.Conv2d`).
public final class Conv2d: Module, UnaryLayer {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: [Int]
    public let padding: [Int]
    public let dilation: [Int]
    public let groups: Int

    public init(weight: Tensor, bias: Tensor?, stride: [Int] = [1], padding: [Int] = [0], dilation: [Int] = [1],
                groups: Int = 1) {
        self.weight = weight
        self.bias = bias
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        super.init()
    }

    public convenience init(inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                            dilation: Int = 1, groups: Int = 1, bias: Bool = true, generator: Generator? = nil) throws {
        guard inChannels % groups == 0, outChannels % groups == 0 else {
            throw NNError.invalidConfiguration(
                module: "Conv2d", message: "channels \(inChannels) -> \(outChannels) are not divisible by groups \(groups)")
        }
        let fanIn = inChannels / groups * kernelSize * kernelSize
        let w = try defaultInit([outChannels, inChannels / groups, kernelSize, kernelSize], fanIn: fanIn,
                                generator: generator).requiresGrad(true)
        let b = bias ? try defaultInit([outChannels], fanIn: fanIn, generator: generator).requiresGrad(true) : nil
        self.init(weight: w, bias: b, stride: [stride], padding: [padding], dilation: [dilation], groups: groups)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try x.conv2d(weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}

/// max(0, x).
public final class ReLU: Module, UnaryLayer {
    public override init() { super.init() }
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try x.relu() }
}

/// Layers applied in order; named `0`, `1`, ... as in `torch.nn.Sequential`.
public final class Sequential: Module, UnaryLayer {
    public let layers: [any UnaryLayer]

    public init(_ layers: [any UnaryLayer]) {
        self.layers = layers
        super.init()
    }

    override func children() -> (tensors: [(String, Tensor)], modules: [(String, Module)]) {
        ([], layers.enumerated().map { ("\($0.offset)", $0.element as Module) })
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try layers.reduce(x) { try $1($0) }
    }
}
