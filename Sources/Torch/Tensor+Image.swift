import CTorch

/// Interpolation modes of ``Tensor/interpolate(size:scaleFactor:mode:alignCorners:)``.
public enum InterpolationMode: String, Sendable {
    case nearest, linear, bilinear, bicubic, trilinear
}

/// Sampling modes of ``Tensor/gridSample(_:mode:paddingMode:alignCorners:)``.
public enum GridSampleMode: Int32, Sendable {
    case bilinear = 0, nearest = 1, bicubic = 2
}

/// What ``Tensor/gridSample(_:mode:paddingMode:alignCorners:)`` returns outside the input.
public enum GridPaddingMode: Int32, Sendable {
    case zeros = 0, border = 1, reflection = 2
}

/// How a loss combines its elements.
public enum LossReduction: Int32, Sendable {
    case none = 0, mean = 1, sum = 2
}

extension Tensor {
    // MARK: convolution

    /// Convolution over `spatial` dimensions (`at::convolution`), the engine of conv1d/2d/3d and
    /// their transposes. Input (N, C, *spatial) or unbatched (C, *spatial).
    func convolution(
        _ operation: StaticString, spatial: Int, weight: Tensor, bias: Tensor?, stride: [Int], padding: [Int],
        dilation: [Int], transposed: Bool, outputPadding: [Int], groups: Int
    ) throws -> Tensor {
        let stride = try expanded(stride, to: spatial, operation, "stride")
        let padding = try expanded(padding, to: spatial, operation, "padding")
        let dilation = try expanded(dilation, to: spatial, operation, "dilation")
        let outputPadding = try expanded(outputPadding, to: spatial, operation, "output padding")
        // Unbatched input, as torch.nn.functional accepts it.
        let unbatched = rank == spatial + 1
        let input = unbatched ? try unsqueeze(0) : self
        guard input.rank == spatial + 2 else {
            throw TorchError.invalidArgument(
                operation: "\(operation)",
                message: "expected a \(spatial + 1)-d or \(spatial + 2)-d input, got shape \(shape)")
        }
        let out = try withExtendedLifetime((input, weight, bias)) {
            try withInt64s(stride) { s, _ in
                try withInt64s(padding) { p, _ in
                    try withInt64s(dilation) { d, _ in
                        try withInt64s(outputPadding) { o, _ in
                            try make(operation) {
                                upt_convolution(
                                    $0, input.handle, weight.handle, bias?.handle, s, p, d, Int32(spatial),
                                    transposed, o, Int64(groups))
                            }
                        }
                    }
                }
            }
        }
        return unbatched ? try out.squeeze(0) : out
    }

    /// 1-d convolution (`torch.nn.functional.conv1d`); weight (out, in / groups, k).
    public func conv1d(_ weight: Tensor, bias: Tensor? = nil, stride: [Int] = [1], padding: [Int] = [0],
                       dilation: [Int] = [1], groups: Int = 1) throws -> Tensor {
        try convolution("conv1d", spatial: 1, weight: weight, bias: bias, stride: stride, padding: padding,
                        dilation: dilation, transposed: false, outputPadding: [0], groups: groups)
    }

    /// 2-d convolution (`torch.nn.functional.conv2d`); weight (out, in / groups, kh, kw).
    public func conv2d(_ weight: Tensor, bias: Tensor? = nil, stride: [Int] = [1], padding: [Int] = [0],
                       dilation: [Int] = [1], groups: Int = 1) throws -> Tensor {
        try convolution("conv2d", spatial: 2, weight: weight, bias: bias, stride: stride, padding: padding,
                        dilation: dilation, transposed: false, outputPadding: [0], groups: groups)
    }

    /// 3-d convolution (`torch.nn.functional.conv3d`); weight (out, in / groups, kd, kh, kw).
    public func conv3d(_ weight: Tensor, bias: Tensor? = nil, stride: [Int] = [1], padding: [Int] = [0],
                       dilation: [Int] = [1], groups: Int = 1) throws -> Tensor {
        try convolution("conv3d", spatial: 3, weight: weight, bias: bias, stride: stride, padding: padding,
                        dilation: dilation, transposed: false, outputPadding: [0], groups: groups)
    }

    /// Transposed 1-d convolution; weight (in, out / groups, k).
    public func convTranspose1d(_ weight: Tensor, bias: Tensor? = nil, stride: [Int] = [1], padding: [Int] = [0],
                                outputPadding: [Int] = [0], groups: Int = 1, dilation: [Int] = [1]) throws -> Tensor {
        try convolution("conv_transpose1d", spatial: 1, weight: weight, bias: bias, stride: stride, padding: padding,
                        dilation: dilation, transposed: true, outputPadding: outputPadding, groups: groups)
    }

    /// Transposed 2-d convolution; weight (in, out / groups, kh, kw).
    public func convTranspose2d(_ weight: Tensor, bias: Tensor? = nil, stride: [Int] = [1], padding: [Int] = [0],
                                outputPadding: [Int] = [0], groups: Int = 1, dilation: [Int] = [1]) throws -> Tensor {
        try convolution("conv_transpose2d", spatial: 2, weight: weight, bias: bias, stride: stride, padding: padding,
                        dilation: dilation, transposed: true, outputPadding: outputPadding, groups: groups)
    }

    /// Transposed 3-d convolution; weight (in, out / groups, kd, kh, kw).
    public func convTranspose3d(_ weight: Tensor, bias: Tensor? = nil, stride: [Int] = [1], padding: [Int] = [0],
                                outputPadding: [Int] = [0], groups: Int = 1, dilation: [Int] = [1]) throws -> Tensor {
        try convolution("conv_transpose3d", spatial: 3, weight: weight, bias: bias, stride: stride, padding: padding,
                        dilation: dilation, transposed: true, outputPadding: outputPadding, groups: groups)
    }

    /// y = x W^T + b (`torch.nn.functional.linear`).
    public func linear(_ weight: Tensor, bias: Tensor? = nil) throws -> Tensor {
        try withExtendedLifetime((weight, bias)) {
            try make("linear") { upt_linear($0, handle, weight.handle, bias?.handle) }
        }
    }

    // MARK: pooling

    func pool(
        _ operation: StaticString, spatial: Int, kernel: [Int], stride: [Int]?, padding: [Int],
        _ body: (UnsafeMutablePointer<upt_tensor?>, UnsafePointer<Int64>, UnsafePointer<Int64>, UnsafePointer<Int64>) -> Int32
    ) throws -> Tensor {
        let k = try expanded(kernel, to: spatial, operation, "kernel size")
        let s = try expanded(stride ?? kernel, to: spatial, operation, "stride")
        let p = try expanded(padding, to: spatial, operation, "padding")
        return try withInt64s(k) { kp, _ in
            try withInt64s(s) { sp, _ in
                try withInt64s(p) { pp, _ in try make(operation) { body($0, kp, sp, pp) } }
            }
        }
    }

    func maxPool(_ operation: StaticString, spatial: Int, kernelSize: [Int], stride: [Int]?, padding: [Int],
                 dilation: [Int], ceilMode: Bool) throws -> Tensor {
        let d = try expanded(dilation, to: spatial, operation, "dilation")
        return try withInt64s(d) { dp, _ in
            try pool(operation, spatial: spatial, kernel: kernelSize, stride: stride, padding: padding) {
                upt_max_pool($0, handle, Int32(spatial), $1, $2, $3, dp, ceilMode)
            }
        }
    }

    func avgPool(_ operation: StaticString, spatial: Int, kernelSize: [Int], stride: [Int]?, padding: [Int],
                 ceilMode: Bool, countIncludePad: Bool) throws -> Tensor {
        try pool(operation, spatial: spatial, kernel: kernelSize, stride: stride, padding: padding) {
            upt_avg_pool($0, handle, Int32(spatial), $1, $2, $3, ceilMode, countIncludePad)
        }
    }

    /// Max pooling over 2 dimensions; the stride defaults to the kernel size.
    public func maxPool2d(kernelSize: [Int], stride: [Int]? = nil, padding: [Int] = [0], dilation: [Int] = [1],
                          ceilMode: Bool = false) throws -> Tensor {
        try maxPool("max_pool2d", spatial: 2, kernelSize: kernelSize, stride: stride, padding: padding,
                    dilation: dilation, ceilMode: ceilMode)
    }

    public func maxPool3d(kernelSize: [Int], stride: [Int]? = nil, padding: [Int] = [0], dilation: [Int] = [1],
                          ceilMode: Bool = false) throws -> Tensor {
        try maxPool("max_pool3d", spatial: 3, kernelSize: kernelSize, stride: stride, padding: padding,
                    dilation: dilation, ceilMode: ceilMode)
    }

    public func avgPool2d(kernelSize: [Int], stride: [Int]? = nil, padding: [Int] = [0], ceilMode: Bool = false,
                          countIncludePad: Bool = true) throws -> Tensor {
        try avgPool("avg_pool2d", spatial: 2, kernelSize: kernelSize, stride: stride, padding: padding,
                    ceilMode: ceilMode, countIncludePad: countIncludePad)
    }

    public func avgPool3d(kernelSize: [Int], stride: [Int]? = nil, padding: [Int] = [0], ceilMode: Bool = false,
                          countIncludePad: Bool = true) throws -> Tensor {
        try avgPool("avg_pool3d", spatial: 3, kernelSize: kernelSize, stride: stride, padding: padding,
                    ceilMode: ceilMode, countIncludePad: countIncludePad)
    }

    func adaptivePool(_ operation: StaticString, spatial: Int, outputSize: [Int], max: Bool) throws -> Tensor {
        let s = try expanded(outputSize, to: spatial, operation, "output size")
        return try withInt64s(s) { sp, _ in
            try make(operation) {
                max ? upt_adaptive_max_pool($0, handle, Int32(spatial), sp)
                    : upt_adaptive_avg_pool($0, handle, Int32(spatial), sp)
            }
        }
    }

    public func adaptiveAvgPool2d(outputSize: [Int]) throws -> Tensor {
        try adaptivePool("adaptive_avg_pool2d", spatial: 2, outputSize: outputSize, max: false)
    }
    public func adaptiveAvgPool3d(outputSize: [Int]) throws -> Tensor {
        try adaptivePool("adaptive_avg_pool3d", spatial: 3, outputSize: outputSize, max: false)
    }
    public func adaptiveMaxPool2d(outputSize: [Int]) throws -> Tensor {
        try adaptivePool("adaptive_max_pool2d", spatial: 2, outputSize: outputSize, max: true)
    }
    public func adaptiveMaxPool3d(outputSize: [Int]) throws -> Tensor {
        try adaptivePool("adaptive_max_pool3d", spatial: 3, outputSize: outputSize, max: true)
    }

    // MARK: resampling

    /// Resizes the spatial dimensions of an (N, C, *spatial) tensor (`torch.nn.functional.interpolate`):
    /// give either the output `size` or the `scaleFactor`s (one value applies to every dimension).
    public func interpolate(
        size: [Int]? = nil, scaleFactor: [Double]? = nil, mode: InterpolationMode = .nearest, alignCorners: Bool = false
    ) throws -> Tensor {
        let spatial = rank - 2
        guard spatial >= 1 && spatial <= 3 else {
            throw TorchError.invalidArgument(
                operation: "interpolate", message: "expected a 3-d, 4-d or 5-d input, got shape \(shape)")
        }
        guard (size == nil) != (scaleFactor == nil) else {
            throw TorchError.invalidArgument(
                operation: "interpolate", message: "give exactly one of size and scaleFactor")
        }
        if let size {
            let s = try expanded(size, to: spatial, "interpolate", "size")
            return try withInt64s(s) { sp, _ in
                try make("interpolate") {
                    upt_interpolate($0, handle, mode.rawValue, sp, nil, Int32(spatial), alignCorners)
                }
            }
        }
        var scales = scaleFactor!
        if scales.count == 1 { scales = Array(repeating: scales[0], count: spatial) }
        guard scales.count == spatial else {
            throw TorchError.invalidArgument(
                operation: "interpolate", message: "\(scales.count) scale factors for \(spatial) spatial dimensions")
        }
        return try scales.withUnsafeBufferPointer { sc in
            try make("interpolate") {
                upt_interpolate($0, handle, mode.rawValue, nil, sc.baseAddress, Int32(spatial), alignCorners)
            }
        }
    }

    /// Samples the input at the normalized coordinates of `grid` (`torch.nn.functional.grid_sample`):
    /// input (N, C, H, W) with grid (N, Ho, Wo, 2), or (N, C, D, H, W) with grid (N, Do, Ho, Wo, 3);
    /// the last grid axis is (x, y[, z]) in [-1, 1].
    public func gridSample(
        _ grid: Tensor, mode: GridSampleMode = .bilinear, paddingMode: GridPaddingMode = .zeros,
        alignCorners: Bool = false
    ) throws -> Tensor {
        try withExtendedLifetime(grid) {
            try make("grid_sample") {
                upt_grid_sample($0, handle, grid.handle, mode.rawValue, paddingMode.rawValue, alignCorners)
            }
        }
    }

    /// The sampling grid of a batch of affine matrices (`torch.nn.functional.affine_grid`):
    /// theta (N, 2, 3) for size (N, C, H, W), or (N, 3, 4) for (N, C, D, H, W).
    public static func affineGrid(_ theta: Tensor, size: [Int], alignCorners: Bool = false) throws -> Tensor {
        try withExtendedLifetime(theta) {
            try withInt64s(size) { s, n in
                try make("affine_grid") { upt_affine_grid($0, theta.handle, s, n, alignCorners) }
            }
        }
    }

    /// (N, C r^2, H, W) -> (N, C, H r, W r).
    public func pixelShuffle(_ upscaleFactor: Int) throws -> Tensor {
        try make("pixel_shuffle") { upt_pixel_shuffle($0, handle, Int64(upscaleFactor)) }
    }

    /// (N, C, H r, W r) -> (N, C r^2, H, W).
    public func pixelUnshuffle(_ downscaleFactor: Int) throws -> Tensor {
        try make("pixel_unshuffle") { upt_pixel_unshuffle($0, handle, Int64(downscaleFactor)) }
    }

    /// Sliding local blocks of a 4-d (N, C, H, W) tensor as columns (`torch.nn.functional.unfold`):
    /// the result is (N, C * kh * kw, L).
    public func unfold(kernelSize: [Int], dilation: [Int] = [1], padding: [Int] = [0], stride: [Int] = [1]) throws -> Tensor {
        let k = try expanded(kernelSize, to: 2, "unfold", "kernel size")
        let d = try expanded(dilation, to: 2, "unfold", "dilation")
        let p = try expanded(padding, to: 2, "unfold", "padding")
        let s = try expanded(stride, to: 2, "unfold", "stride")
        return try withInt64s(k + d + p + s) { a, _ in
            try make("unfold") { upt_im2col($0, handle, a, a + 2, a + 4, a + 6) }
        }
    }

    /// The inverse gathering of ``unfold(kernelSize:dilation:padding:stride:)``, summing overlaps
    /// (`torch.nn.functional.fold`).
    public func fold(outputSize: [Int], kernelSize: [Int], dilation: [Int] = [1], padding: [Int] = [0],
                     stride: [Int] = [1]) throws -> Tensor {
        let o = try expanded(outputSize, to: 2, "fold", "output size")
        let k = try expanded(kernelSize, to: 2, "fold", "kernel size")
        let d = try expanded(dilation, to: 2, "fold", "dilation")
        let p = try expanded(padding, to: 2, "fold", "padding")
        let s = try expanded(stride, to: 2, "fold", "stride")
        return try withInt64s(o + k + d + p + s) { a, _ in
            try make("fold") { upt_col2im($0, handle, a, a + 2, a + 4, a + 6, a + 8) }
        }
    }

    /// Zeroes elements with probability `p` and scales the rest by 1 / (1 - p) when training.
    public func dropout(p: Double = 0.5, training: Bool = true) throws -> Tensor {
        try make("dropout") { upt_dropout($0, handle, p, training) }
    }

    // MARK: normalization

    /// `torch.nn.functional.batch_norm`; updates the running statistics in place when training.
    public func batchNorm(
        runningMean: Tensor?, runningVar: Tensor?, weight: Tensor? = nil, bias: Tensor? = nil,
        training: Bool, momentum: Double = 0.1, eps: Double = 1e-5
    ) throws -> Tensor {
        try withExtendedLifetime((runningMean, runningVar, weight, bias)) {
            try make("batch_norm") {
                upt_batch_norm($0, handle, weight?.handle, bias?.handle, runningMean?.handle, runningVar?.handle,
                               training, momentum, eps)
            }
        }
    }

    /// `torch.nn.functional.instance_norm`.
    public func instanceNorm(
        runningMean: Tensor? = nil, runningVar: Tensor? = nil, weight: Tensor? = nil, bias: Tensor? = nil,
        useInputStats: Bool = true, momentum: Double = 0.1, eps: Double = 1e-5
    ) throws -> Tensor {
        try withExtendedLifetime((runningMean, runningVar, weight, bias)) {
            try make("instance_norm") {
                upt_instance_norm($0, handle, weight?.handle, bias?.handle, runningMean?.handle, runningVar?.handle,
                                  useInputStats, momentum, eps)
            }
        }
    }

    /// `torch.nn.functional.group_norm`.
    public func groupNorm(groups: Int, weight: Tensor? = nil, bias: Tensor? = nil, eps: Double = 1e-5) throws -> Tensor {
        try withExtendedLifetime((weight, bias)) {
            try make("group_norm") { upt_group_norm($0, handle, Int64(groups), weight?.handle, bias?.handle, eps) }
        }
    }

    /// `torch.nn.functional.layer_norm` over the trailing `normalizedShape`.
    public func layerNorm(normalizedShape: [Int], weight: Tensor? = nil, bias: Tensor? = nil, eps: Double = 1e-5) throws -> Tensor {
        try withExtendedLifetime((weight, bias)) {
            try withInt64s(normalizedShape) { s, n in
                try make("layer_norm") { upt_layer_norm($0, handle, s, n, weight?.handle, bias?.handle, eps) }
            }
        }
    }

    // MARK: losses

    public func l1Loss(_ target: Tensor, reduction: LossReduction = .mean) throws -> Tensor {
        try withExtendedLifetime(target) {
            try make("l1_loss") { upt_l1_loss($0, handle, target.handle, reduction.rawValue) }
        }
    }

    public func mseLoss(_ target: Tensor, reduction: LossReduction = .mean) throws -> Tensor {
        try withExtendedLifetime(target) {
            try make("mse_loss") { upt_mse_loss($0, handle, target.handle, reduction.rawValue) }
        }
    }

    /// Binary cross-entropy on logits (numerically stable), with optional element and positive weights.
    public func binaryCrossEntropyWithLogits(
        _ target: Tensor, weight: Tensor? = nil, posWeight: Tensor? = nil, reduction: LossReduction = .mean
    ) throws -> Tensor {
        try withExtendedLifetime((target, weight, posWeight)) {
            try make("binary_cross_entropy_with_logits") {
                upt_bce_with_logits($0, handle, target.handle, weight?.handle, posWeight?.handle, reduction.rawValue)
            }
        }
    }
}
