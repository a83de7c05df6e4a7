import Foundation
import Testing

/// 100,000 tensor create-and-drop cycles leave the resident size flat, measured in a process of
/// its own (`upres-bench memory`), since tests running in parallel here allocate too.
@Test func createAndDropCyclesLeaveTheResidentSizeFlat() throws {
    let p = Process()
    p.executableURL = upresBinary().deletingLastPathComponent().appendingPathComponent("upres-bench")
    p.arguments = ["memory"]
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    #expect(p.terminationStatus == 0)
    var values: [String: Int] = [:]
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: " ")
        if parts.count == 2, let v = Int(parts[1]) { values[String(parts[0])] = v }
    }
    #expect(values["memory.cycles"] == 100_000)
    // 100,000 leaked handles of ~200 bytes would be ~20 MB; allow allocator noise only.
    let growth = try #require(values["memory.rss_growth_bytes"])
    #expect(growth < 4 << 20, "resident size grew by \(growth) bytes")
    let errors = try #require(values["memory.error_rss_growth_bytes"])
    #expect(errors < 2 << 20, "1,000 failed operations grew the resident size by \(errors) bytes")
}
