import Imaging
import NN
import Torch

/// Square patches drawn from a set of 2-D images with probability proportional to the gradient
/// magnitude at the patch's centre (seed 003: "the regions with greater intensity variance better
/// reflect the effects of low-pass filtration"), plus a floor of `floor` times the mean magnitude
/// so that flat regions are rare but possible. Seeded.
public final class GradientPatchSampler {
    public let patch: Int
    let images: [Tensor]
    /// Cumulative probabilities over (image, top, left), and where each image's block starts.
    let cumulative: [Double]
    let starts: [Int]
    let generator: Generator

    /// `images`: (H, W) tensors, each side >= `patch`.
    public init(images: [Tensor], patch: Int, floor: Double = 0.05, generator: Generator) throws {
        guard !images.isEmpty else { throw DegradationError.invalid("no images to draw patches from") }
        self.patch = patch
        self.images = try images.map { try $0.to(.float32).contiguous() }
        self.generator = generator
        var weights: [Tensor] = []
        var starts: [Int] = [], count = 0
        let sobel = try EdgePatchCritic.sobel(dtype: .float64)
        for (i, image) in images.enumerated() {
            guard image.rank == 2, image.shape[0] >= patch, image.shape[1] >= patch else {
                throw DegradationError.invalid("image \(i) of shape \(image.shape) is smaller than a \(patch)x\(patch) patch")
            }
            let (h, w) = (image.shape[0], image.shape[1])
            let x = try image.to(.float64).reshape([1, 1, h, w]).pad([1, 1, 1, 1], mode: .replicate)
            let magnitude = try (x.conv2d(sobel.x).square() + x.conv2d(sobel.y).square()).sqrt().reshape([h, w])
            let centres = try magnitude.narrow(0, start: patch / 2, length: h - patch + 1).narrow(1, start: patch / 2, length: w - patch + 1)
            weights.append(try centres.reshape([-1]))
            starts.append(count)
            count += (h - patch + 1) * (w - patch + 1)
        }
        let all = try Tensor.cat(weights, dim: 0)
        let mean = try all.mean().item()
        let cumulative = try (all + (mean > 0 ? floor * mean : 1)).cumsum(dim: 0).contiguous().toArray(Double.self)
        self.cumulative = cumulative
        self.starts = starts
    }

    /// The image index and top-left corner of a patch for a uniform draw u in [0, 1).
    func location(_ u: Double) -> (image: Int, top: Int, left: Int) {
        let target = u * cumulative.last!
        var lo = 0, hi = cumulative.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cumulative[mid] > target { hi = mid } else { lo = mid + 1 }
        }
        var i = 0
        while i + 1 < starts.count && starts[i + 1] <= lo { i += 1 }
        let width = images[i].shape[1] - patch + 1
        let k = lo - starts[i]
        return (i, k / width, k % width)
    }

    /// `count` patches as (count, 1, patch, patch) float32.
    public func draw(_ count: Int) throws -> Tensor {
        let u = try Tensor.empty([count], dtype: .float64).uniform_(0, 1, generator: generator).toArray(Double.self)
        let patches = try u.map { u -> Tensor in
            let l = location(u)
            return try images[l.image].narrow(0, start: l.top, length: patch).narrow(1, start: l.left, length: patch)
        }
        return try Tensor.stack(patches, dim: 0).unsqueeze(1).contiguous()
    }
}
