import Foundation
import Torch

/// Deep-feature perceptual metrics on 2-D images, as piq 0.8 defines them (seed 001): LPIPS
/// (Zhang et al. 2018, VGG16 with learned linear weights) and DISTS (Ding et al. 2020, VGG16 with
/// L2 pooling and learned structure and texture weights). Both need ImageNet-trained weights that
/// upres does not ship: the VGG16 backbone (torchvision's `vgg16` state dict) and each metric's
/// own weights, given as safetensors files (see `DeepFeatureWeights`).
///
/// Images are (N, H, W) or (H, W) grey-level slices scaled to [0, 1] (values outside are clipped),
/// repeated to three channels and standardized with ImageNet's mean and standard deviation, as piq
/// does. The test comes first, the reference second; one distance per image, 0 for identical
/// images. The network runs in float32, the statistics in float64.
public enum DeepFeatureWeights {
    /// Reads the tensors of a weights file: safetensors only. PyTorch pickles (`.pth`, `.pt`) are
    /// refused with the one-line conversion, since reading them would mean running pickle code.
    public static func read(_ url: URL, role: String) throws -> [String: Tensor] {
        let path = url.path
        if let handle = FileHandle(forReadingAtPath: path) {
            let head = handle.readData(ofLength: 4)
            try? handle.close()
            let zip = head.starts(with: [0x50, 0x4B, 0x03, 0x04])
            let pickle = head.first == 0x80 && head.count > 1 && head[head.startIndex + 1] <= 5
            if zip || pickle {
                throw MetricError.invalidArgument("""
                    \(path): the \(role) is a PyTorch pickle (torch.save); upres reads safetensors. Convert it once with \
                    python3 -c "import torch, safetensors.torch as s; d = torch.load('\(url.lastPathComponent)', map_location='cpu'); \
                    d = d if isinstance(d, dict) else {f'lin{i}': w for i, w in enumerate(d)}; \
                    s.save_file({k: v.float().contiguous() for k, v in d.items() if torch.is_tensor(v)}, '\(url.deletingPathExtension().lastPathComponent).safetensors')"
                    """)
            }
        }
        do {
            return try Safetensors.read(url).tensors
        } catch let e as TorchError {
            throw MetricError.invalidArgument("\(path): the \(role) cannot be read: \(e)")
        }
    }

    /// The tensor stored under the first of `names` that the file has (also accepted behind any
    /// prefix ending in "."), as contiguous float32 of the expected number of elements, reshaped
    /// to `shape`.
    static func tensor(_ tensors: [String: Tensor], _ names: [String], shape: [Int], file: String, role: String) throws -> Tensor {
        var found: (String, Tensor)?
        for name in names {
            if let t = tensors[name] { found = (name, t); break }
            if let key = tensors.keys.sorted().first(where: { $0.hasSuffix("." + name) }) { found = (key, tensors[key]!); break }
        }
        guard let (key, t) = found else {
            throw MetricError.invalidArgument("\(file): the \(role) has no tensor '\(names[0])'" + (names.count > 1 ? " (nor \(names.dropFirst().map { "'\($0)'" }.joined(separator: ", ")))" : ""))
        }
        let count = shape.reduce(1, *)
        guard t.count == count, t.dtype.isFloatingPoint else {
            throw MetricError.invalidArgument("\(file): '\(key)' of the \(role) is \(t.dtype) \(t.shape); expected floating point \(shape)")
        }
        let values = try t.to(.float32).contiguous().reshape(shape)
        guard try values.isFinite().all().itemBool() else {
            throw MetricError.invalidArgument("\(file): '\(key)' of the \(role) holds NaN or infinite values")
        }
        return values
    }
}

/// The convolutional part of VGG16 or VGG19 (torchvision's `vgg16().features`,
/// `vgg19().features`; which one the weights say), giving the activations after relu1_2,
/// relu2_2, relu3_3 (VGG19: relu3_4), relu4_3 (relu4_4) and relu5_3 (relu5_4). LPIPS and DISTS
/// take VGG16; perceptual losses either (seed 001 uses VGG19).
public struct VGGFeatures: @unchecked Sendable {
    public enum Variant: String, Sendable { case vgg16, vgg19 }
    /// torchvision's indices of VGG16's 13 convolutions in `features`, and their output channels.
    public static let convolutionIndices = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    static let outputChannels = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    /// VGG19's 16 convolutions.
    public static let vgg19ConvolutionIndices = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
    static let vgg19OutputChannels = [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512]
    /// The channels of the five feature maps (both variants).
    public static let featureChannels = [64, 128, 256, 512, 512]

    /// Between blocks: torchvision's 2 x 2 max pooling (LPIPS), or DISTS's L2 pooling (a 3 x 3
    /// Hann window, stride 2, padding 1, on the squares, then the square root).
    public enum Pooling: Sendable { case max, l2 }

    public let variant: Variant
    let layers: [(weight: Tensor, bias: Tensor)]
    /// Convolutions per block; a feature map is taken at the end of each block.
    let blocks: [Int]

    /// From torchvision's state dict names (`features.0.weight`, `features.0.bias`, ...; any
    /// prefix before `features.` is accepted, as are the bare `0.weight` ...). VGG19 when the
    /// weights hold its last convolution (`features.34`), else VGG16.
    public init(tensors: [String: Tensor], file: String) throws {
        let nineteen = tensors.keys.contains { $0.hasSuffix("features.34.weight") || $0 == "34.weight" }
        variant = nineteen ? .vgg19 : .vgg16
        blocks = nineteen ? [2, 2, 4, 4, 4] : [2, 2, 3, 3, 3]
        let (indices, channels) = nineteen ? (Self.vgg19ConvolutionIndices, Self.vgg19OutputChannels) : (Self.convolutionIndices, Self.outputChannels)
        var inputs = 3
        var layers: [(Tensor, Tensor)] = []
        for (i, out) in zip(indices, channels) {
            let role = nineteen ? "VGG19 backbone" : "VGG16 backbone"
            let w = try DeepFeatureWeights.tensor(tensors, ["features.\(i).weight", "\(i).weight"], shape: [out, inputs, 3, 3], file: file, role: role)
            let b = try DeepFeatureWeights.tensor(tensors, ["features.\(i).bias", "\(i).bias"], shape: [out], file: file, role: role)
            layers.append((w, b))
            inputs = out
        }
        self.layers = layers
    }

    /// Reads a safetensors file of torchvision's VGG16 or VGG19 weights (the classifier's are ignored).
    public init(contentsOf url: URL) throws {
        try self.init(tensors: DeepFeatureWeights.read(url, role: "VGG backbone"), file: url.path)
    }

    /// The five feature maps of (N, 3, H, W) float32 images, already standardized.
    public func features(_ x: Tensor, pooling: Pooling) throws -> [Tensor] {
        var h = x
        var out: [Tensor] = []
        var next = 0
        for (b, count) in blocks.enumerated() {
            if b > 0 { h = try pool(h, pooling) }
            for _ in 0..<count {
                let (w, bias) = layers[next]
                h = try h.conv2d(w, bias: bias, padding: [1]).relu()
                next += 1
            }
            out.append(h)
        }
        return out
    }

    func pool(_ h: Tensor, _ pooling: Pooling) throws -> Tensor {
        switch pooling {
        case .max:
            return try h.maxPool2d(kernelSize: [2], stride: [2])
        case .l2:
            // piq's hann_filter(3): the inner taps of a 5-point Hann window, (0.5, 1, 0.5), outer product, normalized.
            let c = h.size(1)
            let window = try Tensor([0.25, 0.5, 0.25, 0.5, 1, 0.5, 0.25, 0.5, 0.25], shape: [1, 1, 3, 3]) / 4
            let kernel = try window.to(h.dtype).expand([c, 1, 3, 3]).contiguous()
            return try (h.square().conv2d(kernel, stride: [2], padding: [1], groups: c) + 1e-12).sqrt()
        }
    }

    /// (N, H, W) or (H, W) grey images in [0, 1] as one (2N, 3, H, W) float32 batch, clipped: the
    /// test's N images, then the reference's.
    static func prepare(_ test: Tensor, _ reference: Tensor, name: String) throws -> Tensor {
        guard test.shape == reference.shape else {
            throw MetricError.shapeMismatch("\(name): test shape \(test.shape) differs from reference shape \(reference.shape)")
        }
        guard test.rank == 2 || test.rank == 3 else {
            throw MetricError.invalidArgument("\(name) compares 2-D images (H, W) or batches (N, H, W), got shape \(test.shape)")
        }
        let h = test.size(-2), w = test.size(-1)
        guard h >= 16, w >= 16 else {
            throw MetricError.invalidArgument("\(name) needs images of at least 16 x 16 pixels (VGG16 pools four times), got \(h) x \(w)")
        }
        func grey(_ t: Tensor) throws -> Tensor {
            let x = test.rank == 2 ? try t.unsqueeze(0) : t
            return try x.to(.float32).clamp(min: .double(0), max: .double(1)).unsqueeze(1)
        }
        return try Tensor.cat([grey(test), grey(reference)], dim: 0).expand([-1, 3, -1, -1]).contiguous()
    }

    /// `distance` of each test image and its reference, given the (2, 3, H, W) batch of the two.
    /// One pair per pass through the network: on the CPU, VGG16 on batches of 2 runs about 20%
    /// faster than on batches of 8 or 16 (bench/: the feature maps of larger batches leave the cache).
    static func pairwise(_ both: Tensor, _ distance: (Tensor) throws -> Double) throws -> [Double] {
        let n = both.size(0) / 2
        return try (0..<n).map { i in
            try distance(Tensor.cat([both.narrow(0, start: i, length: 1), both.narrow(0, start: n + i, length: 1)], dim: 0))
        }
    }

    /// ImageNet standardization of (N, 3, H, W) images in [0, 1], as VGG16 expects.
    public static func standardize(_ x: Tensor) throws -> Tensor {
        let mean = try Tensor([0.485, 0.456, 0.406], shape: [1, 3, 1, 1]).to(.float32)
        let sd = try Tensor([0.229, 0.224, 0.225], shape: [1, 3, 1, 1]).to(.float32)
        return try (x - mean) / sd
    }
}

/// LPIPS with VGG16 as piq computes it: each feature map unit-normalized across channels, the
/// squared differences weighted per channel by the learned linear layer, averaged over space and
/// summed over channels and layers. Lower is more similar.
public struct LPIPS: @unchecked Sendable {
    public let backbone: VGGFeatures
    /// The five linear weights, (1, C, 1, 1).
    let linear: [Tensor]

    /// The linear weights from the tensors of a file: `lin0` ... `lin4` (piq's list, saved in
    /// order) or the original implementation's `lin0.model.1.weight` ..., each of C values.
    public init(backbone: VGGFeatures, tensors: [String: Tensor], file: String) throws {
        guard backbone.variant == .vgg16 else { throw MetricError.invalidArgument("LPIPS is defined on VGG16 features; the backbone weights given are VGG19's") }
        self.backbone = backbone
        linear = try VGGFeatures.featureChannels.enumerated().map { i, c in
            let w = try DeepFeatureWeights.tensor(tensors, ["lin\(i).model.1.weight", "lin\(i).weight", "lin\(i)", "\(i)"],
                                                  shape: [1, c, 1, 1], file: file, role: "LPIPS weights")
            guard try w.lt(0).any().itemBool() == false else {
                throw MetricError.invalidArgument("\(file): 'lin\(i)' of the LPIPS weights has negative values; LPIPS's linear weights are non-negative")
            }
            return w
        }
    }

    public init(backbone: VGGFeatures, contentsOf url: URL) throws {
        try self.init(backbone: backbone, tensors: DeepFeatureWeights.read(url, role: "LPIPS weights"), file: url.path)
    }

    /// One distance per image of (N, H, W) or (H, W) slices in [0, 1].
    public func compute(_ test: Tensor, _ reference: Tensor) throws -> [Double] {
        try VGGFeatures.pairwise(VGGFeatures.prepare(test, reference, name: "LPIPS")) { pair in
            var total = 0.0
            for (f, w) in zip(try backbone.features(VGGFeatures.standardize(pair), pooling: .max), linear) {
                let unit = try f / (f.square().sum(dims: [1], keepdim: true).sqrt() + 1e-10)
                let d = try (unit.narrow(0, start: 0, length: 1) - unit.narrow(0, start: 1, length: 1)).square()
                total += try (d * w).mean(dims: [2, 3]).to(.float64).sum().item()
            }
            return total
        }
    }
}

/// DISTS as piq computes it: on the image and the five L2-pooled VGG16 feature maps, per channel,
/// a structure term (2 mu_x mu_y + c) / (mu_x^2 + mu_y^2 + c) and a texture term
/// (2 cov_xy + c) / (var_x + var_y + c) with c = 1e-6, weighted by the learned alpha and beta and
/// summed; the distance is 1 minus that sum. Images whose shorter side exceeds 256 pixels are first
/// scaled (bilinear) so that it is 256. Lower is more similar.
public struct DISTS: @unchecked Sendable {
    public let backbone: VGGFeatures
    /// Alpha and beta split per feature map (image, then the five VGG16 maps), (1, C, 1, 1).
    let alpha: [Tensor]
    let beta: [Tensor]
    static let channels = [3] + VGGFeatures.featureChannels

    /// From tensors `alpha` and `beta` of 1475 values each (3 + 64 + 128 + 256 + 512 + 512). They
    /// are divided by their joint sum, as the original implementation does (piq's published
    /// weights already sum to 1).
    public init(backbone: VGGFeatures, tensors: [String: Tensor], file: String) throws {
        guard backbone.variant == .vgg16 else { throw MetricError.invalidArgument("DISTS is defined on VGG16 features; the backbone weights given are VGG19's") }
        self.backbone = backbone
        let total = Self.channels.reduce(0, +)
        let a = try DeepFeatureWeights.tensor(tensors, ["alpha"], shape: [total], file: file, role: "DISTS weights").to(.float64)
        let b = try DeepFeatureWeights.tensor(tensors, ["beta"], shape: [total], file: file, role: "DISTS weights").to(.float64)
        guard try a.lt(0).any().itemBool() == false, try b.lt(0).any().itemBool() == false else {
            throw MetricError.invalidArgument("\(file): the DISTS weights alpha and beta must be non-negative")
        }
        let sum = try (a.sum() + b.sum()).item()
        guard sum > 0 else { throw MetricError.invalidArgument("\(file): the DISTS weights alpha and beta are all zero") }
        func split(_ t: Tensor) throws -> [Tensor] {
            var start = 0
            return try Self.channels.map { c in
                defer { start += c }
                return try (t.narrow(0, start: start, length: c) / sum).reshape([1, c, 1, 1])
            }
        }
        alpha = try split(a)
        beta = try split(b)
    }

    public init(backbone: VGGFeatures, contentsOf url: URL) throws {
        try self.init(backbone: backbone, tensors: DeepFeatureWeights.read(url, role: "DISTS weights"), file: url.path)
    }

    /// One distance per image of (N, H, W) or (H, W) slices in [0, 1].
    public func compute(_ test: Tensor, _ reference: Tensor) throws -> [Double] {
        var both = try VGGFeatures.prepare(test, reference, name: "DISTS")
        let shorter = Swift.min(both.size(2), both.size(3))
        if shorter > 256 {
            both = try both.interpolate(scaleFactor: [256 / Double(shorter)], mode: .bilinear)
        }
        let c = 1e-6
        return try VGGFeatures.pairwise(both) { pair in
            var total = 0.0
            for (k, f) in ([pair] + (try backbone.features(VGGFeatures.standardize(pair), pooling: .l2))).enumerated() {
                // Per-channel moments in float32 over the map (as piq on float32 input), then float64.
                let x = try f.narrow(0, start: 0, length: 1), y = try f.narrow(0, start: 1, length: 1)
                let mx = try x.mean(dims: [2, 3], keepdim: true), my = try y.mean(dims: [2, 3], keepdim: true)
                let vx = try (x - mx).square().mean(dims: [2, 3], keepdim: true).to(.float64)
                let vy = try (y - my).square().mean(dims: [2, 3], keepdim: true).to(.float64)
                let cov = try ((x - mx) * (y - my)).mean(dims: [2, 3], keepdim: true).to(.float64)
                let mx64 = try mx.to(.float64), my64 = try my.to(.float64)
                let structure = try (mx64 * my64 * 2 + c) / (mx64.square() + my64.square() + c)
                let texture = try (cov * 2 + c) / (vx + vy + c)
                total += try (structure * alpha[k] + texture * beta[k]).sum().item()
            }
            return 1 - total
        }
    }
}
