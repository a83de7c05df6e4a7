import Imaging
import Torch

/// A picture of a degradation kernel: each weight a `cell` x `cell` square coloured on the
/// diverging map (blue negative, white 0, red positive) with the window +-max|k|, so that negative
/// lobes show; the kernel's rows are the image's rows. Below it, a caption with the size, factor,
/// the window and the row/column axes.
public enum KernelImage {
    public static func render(_ kernel: DegradationKernel, cell: Int = 16, caption: [String] = []) throws -> RasterImage {
        let n = kernel.size, side = n * cell
        let peak = kernel.weights.map(abs).max() ?? 0
        let window = peak > 0 ? peak : 1
        let lines = ["\(n)x\(n) kernel, factor \(kernel.factor), +-\(String(format: "%.3g", window))"] + caption
        let lineHeight = BitmapFont.height() + 2
        let width = Swift.max(side, (lines.map { BitmapFont.width(of: $0) }.max() ?? 0) + 4)
        var image = RasterImage(width: width, height: side + 4 + lines.count * lineHeight, channels: 3, fill: [0, 0, 0])
        let lut = try Colormap.diverging.table()!.contiguous().toArray(UInt8.self)
        for r in 0..<n {
            for c in 0..<n {
                let t = Swift.max(-1, Swift.min(1, kernel.weights[r * n + c] / window))
                let index = Int(((t + 1) / 2 * 255).rounded())
                let colour = Array(lut[(index * 3)..<(index * 3 + 3)])
                for y in (r * cell)..<((r + 1) * cell) {
                    for x in (c * cell)..<((c + 1) * cell) {
                        for ch in 0..<3 { image.pixels[(y * width + x) * 3 + ch] = colour[ch] }
                    }
                }
            }
        }
        for (i, line) in lines.enumerated() {
            BitmapFont.draw(line, into: &image, x: 2, y: side + 4 + i * lineHeight)
        }
        return image
    }
}
