import Foundation
import Torch

/// Writes TensorBoard event files (`events.out.tfevents.*`) that `tensorboard --logdir` reads:
/// TFRecord framing (length, masked CRC-32C of the length, the Event protocol buffer, masked
/// CRC-32C of the data) around hand-encoded `Event` messages with scalar and PNG image summaries.
/// Each record is appended and flushed, so a killed run keeps everything logged before.
public final class TensorBoardWriter {
    public let url: URL
    private let handle: FileHandle

    public init(folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost"
        url = folder.appendingPathComponent("events.out.tfevents.\(Int(Date().timeIntervalSince1970)).\(host).\(getpid())")
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw ReportError.cannotWrite(path: url.path, reason: "cannot create the event file")
        }
        handle = try FileHandle(forWritingTo: url)
        var event = ProtoWriter()
        event.double(1, Date().timeIntervalSince1970)
        event.string(3, "brain.Event:2")
        try write(event.bytes)
    }

    deinit { try? handle.close() }

    /// Scalars at a step (tags like "train/loss").
    public func scalars(step: Int, _ values: [String: Double]) throws {
        var summary = ProtoWriter()
        for (tag, v) in values.sorted(by: { $0.key < $1.key }) {
            var value = ProtoWriter()
            value.string(1, tag)
            value.float(2, Float(v))
            summary.message(1, value.bytes)
        }
        try event(step: step, summary: summary.bytes)
    }

    /// A 2-d image (H, W) of intensities, windowed to [0, 1] (clipped) and stored as PNG.
    public func image(step: Int, tag: String, _ t: Tensor) throws {
        let x = try (t.to(.float32).clamp(min: 0, max: 1) * 255).round().to(.uint8).contiguous()
        guard x.rank == 2 else { throw ReportError.invalidImage("TensorBoard image \(tag): expected (H, W), got \(t.shape)") }
        let raster = RasterImage(width: x.shape[1], height: x.shape[0], channels: 1, pixels: try x.toArray(UInt8.self))
        let png = try PNG.encode(raster)
        var image = ProtoWriter()
        image.varint(1, UInt64(raster.height))
        image.varint(2, UInt64(raster.width))
        image.varint(3, 1)
        image.bytes(4, Array(png))
        var value = ProtoWriter()
        value.string(1, tag)
        value.message(4, image.bytes)
        var summary = ProtoWriter()
        summary.message(1, value.bytes)
        try event(step: step, summary: summary.bytes)
    }

    private func event(step: Int, summary: [UInt8]) throws {
        var e = ProtoWriter()
        e.double(1, Date().timeIntervalSince1970)
        e.varint(2, UInt64(bitPattern: Int64(step)))
        e.message(5, summary)
        try write(e.bytes)
    }

    private func write(_ data: [UInt8]) throws {
        var length = UInt64(data.count).littleEndian
        let lengthBytes = withUnsafeBytes(of: &length) { Array($0) }
        var record = lengthBytes
        record += Self.le32(CRC32C.masked(lengthBytes))
        record += data
        record += Self.le32(CRC32C.masked(data))
        try handle.write(contentsOf: Data(record))
        try handle.synchronize()
    }

    static func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24)] }
}

/// CRC-32C (Castagnoli), as TFRecord frames use it.
public enum CRC32C {
    static let table: [UInt32] = (0..<256).map { i in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 == 1 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    public static func checksum(_ data: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in data { c = table[Int((c ^ UInt32(b)) & 0xff)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    /// TFRecord's mask: rotate right by 15 and add a constant.
    public static func masked(_ data: [UInt8]) -> UInt32 {
        let c = checksum(data)
        return ((c >> 15) | (c << 17)) &+ 0xA282_EAD8
    }
}

/// The few protocol-buffer encodings the Event messages need.
struct ProtoWriter {
    var bytes: [UInt8] = []

    mutating func raw(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func key(_ field: Int, _ wire: Int) { raw(UInt64(field << 3 | wire)) }
    mutating func varint(_ field: Int, _ v: UInt64) { key(field, 0); raw(v) }
    mutating func double(_ field: Int, _ v: Double) {
        key(field, 1)
        var b = v.bitPattern.littleEndian
        bytes += withUnsafeBytes(of: &b) { Array($0) }
    }
    mutating func float(_ field: Int, _ v: Float) {
        key(field, 5)
        var b = v.bitPattern.littleEndian
        bytes += withUnsafeBytes(of: &b) { Array($0) }
    }
    mutating func bytes(_ field: Int, _ data: [UInt8]) {
        key(field, 2)
        raw(UInt64(data.count))
        bytes += data
    }
    mutating func string(_ field: Int, _ s: String) { bytes(field, Array(s.utf8)) }
    mutating func message(_ field: Int, _ data: [UInt8]) { bytes(field, data) }
}
