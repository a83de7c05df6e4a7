import Foundation
import Torch

/// `upres-bench memory`: the resident set size before and after many create-and-drop cycles, in a
/// process of its own (a test process running other tests in parallel cannot measure this).
enum MemoryCheck {
    static func residentBytes() -> Int {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
        return (line.split(separator: " ").compactMap { Int($0) }.first ?? 0) * 1024
    }

    static func run(cycles: Int) throws {
        func cycle() throws {
            let t = try Tensor.zeros([16])
            let u = try t + 1
            _ = try u.sum()
        }
        for _ in 0..<10_000 { try cycle() }  // warm-up: allocator pools, lazy initialisation
        let before = residentBytes()
        for _ in 0..<cycles { try cycle() }
        let after = residentBytes()
        print("memory.cycles", cycles)
        print("memory.rss_before_bytes", before)
        print("memory.rss_growth_bytes", after - before)
        // Failures must not leak either (libtorch 1.13 builds a backtrace per error: ~4 ms each).
        let a = try Tensor.zeros([2, 3]), b = try Tensor.zeros([4, 5])
        for _ in 0..<100 { _ = try? a.matmul(b) }
        let beforeErrors = residentBytes()
        for _ in 0..<1_000 { _ = try? a.matmul(b) }
        print("memory.error_rss_growth_bytes", residentBytes() - beforeErrors)
    }
}
