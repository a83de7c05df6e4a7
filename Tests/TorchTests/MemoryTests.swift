import Foundation
import Testing
@testable import Torch

/// Resident set size in bytes, from /proc/self/status.
func residentBytes() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
    let kb = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
    return kb * 1024
}

@Suite(.serialized) struct MemoryTests {
    @Test func createAndDropCyclesLeaveTheResidentSizeFlat() throws {
        func cycle() throws {
            let t = try Tensor.zeros([16])
            let u = try t + 1
            _ = try u.sum()
        }
        for _ in 0..<10_000 { try cycle() }  // warm-up: allocator pools, lazy initialisation
        let before = residentBytes()
        for _ in 0..<100_000 { try cycle() }
        let after = residentBytes()
        // 100,000 leaked handles of ~200 bytes would be ~20 MB; allow allocator noise only.
        #expect(after - before < 4 << 20, "resident size grew by \(after - before) bytes")
    }

    /// libtorch 1.13 builds a symbolised backtrace for every c10::Error (about 4 ms each here),
    /// so this loop is short; it still catches a leaked handle or message per failure.
    @Test func errorsDoNotLeak() throws {
        let a = try Tensor.zeros([2, 3]), b = try Tensor.zeros([4, 5])
        for _ in 0..<100 { _ = try? a.matmul(b) }
        let before = residentBytes()
        for _ in 0..<1_000 { _ = try? a.matmul(b) }
        #expect(residentBytes() - before < 2 << 20)
    }
}
