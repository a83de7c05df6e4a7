/// A fixed-size bitmap font for labels in PNG reports (file names, plane, slice), so that reports need
/// no font files. Glyphs: printable ASCII; other characters draw as '?'.
public enum BitmapFont {
    /// The width in pixels of `text` at `scale`.
    public static func width(of text: String, scale: Int = 1) -> Int { text.count * cellWidth * scale }

    public static func height(scale: Int = 1) -> Int { cellHeight * scale }

    /// Draws `text` with its top-left corner at (x, y), clipped to the image.
    public static func draw(_ text: String, into image: inout RasterImage, x: Int, y: Int,
                            color: [UInt8] = [255, 255, 255], scale: Int = 1) {
        var cx = x
        for ch in text.unicodeScalars {
            let code = Int(ch.value)
            let glyph = glyphs[(32...126).contains(code) ? code - 32 : Int(("?" as Unicode.Scalar).value) - 32]
            for (row, mask) in glyph.enumerated() where mask != 0 {
                for col in 0..<cellWidth where mask & (1 << UInt16(cellWidth - 1 - col)) != 0 {
                    for dy in 0..<scale {
                        for dx in 0..<scale {
                            let px = cx + col * scale + dx, py = y + row * scale + dy
                            guard px >= 0, px < image.width, py >= 0, py < image.height else { continue }
                            for c in 0..<image.channels {
                                image.pixels[(py * image.width + px) * image.channels + c] = color[Swift.min(c, color.count - 1)]
                            }
                        }
                    }
                }
            }
            cx += cellWidth * scale
        }
    }
}
