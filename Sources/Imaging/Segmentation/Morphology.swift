import Torch

/// Binary morphology with a cube structuring element, as max pooling (voxels outside the volume
/// count as background for dilation and as foreground for erosion, so erosion does not eat in from
/// the volume's border).
enum Morphology {
    static func dilate(_ m: Tensor, radius: Int) throws -> Tensor {
        let k = 2 * radius + 1
        return try m.to(.float32).unsqueeze(0).unsqueeze(0).maxPool3d(kernelSize: [k, k, k], stride: [1, 1, 1], padding: [radius, radius, radius])
            .squeeze(0).squeeze(0).gt(.double(0.5))
    }

    static func erode(_ m: Tensor, radius: Int) throws -> Tensor {
        try dilate(m.logicalNot(), radius: radius).logicalNot()
    }
}
