import CPNG
import Torch

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An 8-bit image in memory: rows top to bottom, `channels` 1 (gray), 3 (RGB) or 4 (RGBA).
public struct RasterImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var channels: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * channels, "pixel buffer does not match the size")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// A blank image filled with one value per channel.
    public init(width: Int, height: Int, channels: Int, fill: [UInt8]) {
        precondition(fill.count == channels)
        self.width = width
        self.height = height
        self.channels = channels
        var p = [UInt8](repeating: 0, count: width * height * channels)
        for i in 0..<(width * height) { for c in 0..<channels { p[i * channels + c] = fill[c] } }
        pixels = p
    }

    /// An image from a 2-d uint8 tensor (height, width) or 3-d (height, width, channels).
    public init(tensor: Tensor) throws {
        let t = tensor.dtype == .uint8 ? tensor : try tensor.to(.uint8)
        let s = t.shape
        guard s.count == 2 || (s.count == 3 && [1, 3, 4].contains(s[2])) else {
            throw ReportError.invalidImage("expected a (height, width) or (height, width, 1|3|4) tensor, got \(s)")
        }
        self.init(width: s[1], height: s[0], channels: s.count == 2 ? 1 : s[2], pixels: try t.contiguous().toArray(UInt8.self))
    }

    /// The same image with 3 channels.
    public func rgb() -> RasterImage {
        if channels == 3 { return self }
        var out = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            for c in 0..<3 { out[i * 3 + c] = pixels[i * channels + (channels == 1 ? 0 : c)] }
        }
        return RasterImage(width: width, height: height, channels: 3, pixels: out)
    }

    /// Copies `other` with its top-left corner at (x, y), clipped to this image.
    public mutating func paste(_ other: RasterImage, x: Int, y: Int) {
        let src = other.channels == channels ? other : (channels == 3 ? other.rgb() : other)
        precondition(src.channels == channels, "paste needs matching channels")
        for row in 0..<src.height {
            let ty = y + row
            guard ty >= 0 && ty < height else { continue }
            for col in 0..<src.width {
                let tx = x + col
                guard tx >= 0 && tx < width else { continue }
                for c in 0..<channels {
                    pixels[(ty * width + tx) * channels + c] = src.pixels[(row * src.width + col) * channels + c]
                }
            }
        }
    }
}

/// Errors of the report layer.
public enum ReportError: Error, LocalizedError, Equatable, Sendable {
    case invalidImage(String)
    case cannotWrite(path: String, reason: String)
    case exists(path: String)
    /// An input a report cannot use (an empty mask, a malformed evaluation table).
    case invalidInput(String)

    public var errorDescription: String? {
        switch self {
        case .invalidImage(let m): "image: \(m)"
        case .invalidInput(let m): m
        case let .cannotWrite(path, reason): "\(path): cannot be written (\(reason))"
        case .exists(let path): "\(path): already exists; pass --force to overwrite it"
        }
    }
}

/// PNG encoding through libpng.
public enum PNG {
    /// The PNG bytes of an image.
    public static func encode(_ image: RasterImage) throws -> Data {
        guard image.width > 0, image.height > 0 else {
            throw ReportError.invalidImage("a PNG needs a positive size, got \(image.width)x\(image.height)")
        }
        var imageStruct = png_image()
        imageStruct.version = UInt32(PNG_IMAGE_VERSION)
        imageStruct.width = UInt32(image.width)
        imageStruct.height = UInt32(image.height)
        switch image.channels {
        case 1: imageStruct.format = UInt32(PNG_FORMAT_GRAY)
        case 3: imageStruct.format = UInt32(PNG_FORMAT_RGB)
        case 4: imageStruct.format = UInt32(PNG_FORMAT_RGB) | UInt32(PNG_FORMAT_FLAG_ALPHA)
        default: throw ReportError.invalidImage("\(image.channels) channels; PNG output takes 1, 3 or 4")
        }
        let stride = Int32(image.width * image.channels)
        // First ask libpng for the size, then encode into a buffer of that size.
        var size: png_alloc_size_t = 0
        let ok1 = image.pixels.withUnsafeBytes { raw in
            png_image_write_to_memory(&imageStruct, nil, &size, 0, raw.baseAddress, stride, nil)
        }
        guard ok1 != 0, size > 0 else {
            throw ReportError.invalidImage("libpng: \(message(of: imageStruct))")
        }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        let ok2 = bytes.withUnsafeMutableBytes { out in
            image.pixels.withUnsafeBytes { raw in
                png_image_write_to_memory(&imageStruct, out.baseAddress, &size, 0, raw.baseAddress, stride, nil)
            }
        }
        png_image_free(&imageStruct)
        guard ok2 != 0 else { throw ReportError.invalidImage("libpng: \(message(of: imageStruct))") }
        return Data(bytes.prefix(Int(size)))
    }

    /// Writes an image as PNG atomically; refuses to replace an existing file unless `overwrite`.
    public static func write(_ image: RasterImage, to url: URL, overwrite: Bool = false) throws {
        if !overwrite && FileManager.default.fileExists(atPath: url.path) {
            throw ReportError.exists(path: url.path)
        }
        let data = try encode(image)
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw ReportError.cannotWrite(path: url.path, reason: "\(error)")
        }
    }

    /// Decodes PNG bytes (any PNG libpng reads) to 8-bit gray, RGB or RGBA.
    public static func decode(_ data: Data) throws -> RasterImage {
        var img = png_image()
        img.version = UInt32(PNG_IMAGE_VERSION)
        let ok = data.withUnsafeBytes { raw in png_image_begin_read_from_memory(&img, raw.baseAddress, raw.count) }
        guard ok != 0 else { throw ReportError.invalidImage("not a PNG (\(message(of: img)))") }
        let channels: Int
        switch img.format & 0x3 {
        case 0: channels = 1; img.format = UInt32(PNG_FORMAT_GRAY)
        case 1: channels = 2; img.format = UInt32(PNG_FORMAT_GA)
        case 2: channels = 3; img.format = UInt32(PNG_FORMAT_RGB)
        default: channels = 4; img.format = UInt32(PNG_FORMAT_RGB) | UInt32(PNG_FORMAT_FLAG_ALPHA)
        }
        let (w, h) = (Int(img.width), Int(img.height))
        var pixels = [UInt8](repeating: 0, count: w * h * channels)
        let ok2 = pixels.withUnsafeMutableBytes { out in
            png_image_finish_read(&img, nil, out.baseAddress, Int32(w * channels), nil)
        }
        guard ok2 != 0 else { throw ReportError.invalidImage("libpng: \(message(of: img))") }
        if channels == 2 {  // gray + alpha: keep the gray
            return RasterImage(width: w, height: h, channels: 1, pixels: stride(from: 0, to: pixels.count, by: 2).map { pixels[$0] })
        }
        return RasterImage(width: w, height: h, channels: channels, pixels: pixels)
    }

    private static func message(of image: png_image) -> String {
        var m = image.message
        return withUnsafeBytes(of: &m) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
