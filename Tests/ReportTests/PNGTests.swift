import Foundation
import Testing
@testable import Report
import Torch

@Suite struct PNGTests {
    @Test(arguments: [1, 3, 4])
    func roundTripsThroughLibpng(_ channels: Int) throws {
        let w = 7, h = 5
        let pixels = (0..<(w * h * channels)).map { UInt8(($0 * 37) % 256) }
        let image = RasterImage(width: w, height: h, channels: channels, pixels: pixels)
        let data = try PNG.encode(image)
        #expect(Array(data.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        #expect(try PNG.decode(data) == image)
    }

    @Test func imageFromATensor() throws {
        let t = try Tensor([0, 128, 255, 7, 8, 9] as [UInt8], shape: [2, 3])
        let img = try RasterImage(tensor: t)
        #expect(img.width == 3 && img.height == 2 && img.channels == 1)
        #expect(img.pixels == [0, 128, 255, 7, 8, 9])
        #expect(throws: ReportError.self) { try RasterImage(tensor: Tensor.zeros([2, 3, 5])) }
    }

    @Test func writesAtomicallyAndRefusesToOverwrite() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("upres-png-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent("a.png")
        let img = RasterImage(width: 2, height: 2, channels: 1, fill: [9])
        try PNG.write(img, to: url)
        #expect(throws: ReportError.exists(path: url.path)) { try PNG.write(img, to: url) }
        try PNG.write(RasterImage(width: 2, height: 2, channels: 1, fill: [200]), to: url, overwrite: true)
        #expect(try PNG.decode(Data(contentsOf: url)).pixels == [200, 200, 200, 200])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["a.png"])
        #expect(throws: ReportError.self) { try PNG.encode(RasterImage(width: 0, height: 0, channels: 1, pixels: [])) }
    }

    @Test func drawsTextInsideTheImage() throws {
        var img = RasterImage(width: 80, height: 20, channels: 3, fill: [0, 0, 0])
        BitmapFont.draw("upres 1mm", into: &img, x: 2, y: 2, color: [255, 200, 0])
        let lit = stride(from: 0, to: img.pixels.count, by: 3).filter { img.pixels[$0] == 255 }.count
        #expect(lit > 30)
        #expect(BitmapFont.width(of: "abc", scale: 2) == 36)
        // Drawing off the edge clips instead of crashing.
        BitmapFont.draw("clipped text", into: &img, x: 70, y: 15, scale: 3)
        if let out = ProcessInfo.processInfo.environment["UPRES_KEEP_PNG"] {
            try PNG.write(img, to: URL(fileURLWithPath: out), overwrite: true)
        }
    }
}

@Suite struct TensorBoardTests {
    @Test func recordsAreFramedWithCRC32C() throws {
        // The standard CRC-32C check value.
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("upres-tb-\(UUID().uuidString)")
        let w = try TensorBoardWriter(folder: dir)
        try w.scalars(step: 3, ["train/loss": 0.5])
        try w.image(step: 3, tag: "val/sr", Tensor.rand([4, 5]))
        // Walk the records: length, masked CRC of the length, data, masked CRC of the data.
        let bytes = Array(try Data(contentsOf: w.url))
        var offset = 0, records = 0
        while offset < bytes.count {
            let lengthBytes = Array(bytes[offset..<(offset + 8)])
            let length = lengthBytes.enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
            func le32(_ at: Int) -> UInt32 { (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[at + $1]) << (8 * UInt32($1)) } }
            #expect(le32(offset + 8) == CRC32C.masked(lengthBytes))
            let data = Array(bytes[(offset + 12)..<(offset + 12 + length)])
            #expect(le32(offset + 12 + length) == CRC32C.masked(data))
            offset += 16 + length
            records += 1
        }
        #expect(records == 3 && offset == bytes.count)
    }
}
