import Foundation
import Testing
@testable import Imaging
import Torch

/// The package root (for data/samples and Tests/Fixtures).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let samplesRoot = packageRoot.appendingPathComponent("data/samples")
let fixturesRoot = packageRoot.appendingPathComponent("Tests/Fixtures")

/// A sample file, or a test failure saying how to get it.
func sample(_ relative: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> URL {
    let url = samplesRoot.appendingPathComponent(relative)
    guard FileManager.default.fileExists(atPath: url.path) else {
        Issue.record("sample data \(relative) is missing: run `make bootstrap` (scripts/bootstrap)", sourceLocation: sourceLocation)
        throw CancellationError()
    }
    return url
}

/// A fresh temporary folder.
func scratchDirectory() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("upres-imaging-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

func closeEnough(_ a: Double, _ b: Double, rtol: Double, atol: Double = 0) -> Bool {
    (a.isNaN && b.isNaN) || abs(a - b) <= atol + rtol * abs(b)
}

func expectClose(_ a: [Double], _ b: [Double], rtol: Double = 1e-6, atol: Double = 1e-9, _ label: String = "",
                 sourceLocation: SourceLocation = #_sourceLocation) {
    guard a.count == b.count else {
        Issue.record("\(label): \(a.count) values, expected \(b.count)", sourceLocation: sourceLocation)
        return
    }
    for (i, (x, y)) in zip(a, b).enumerated() where !closeEnough(x, y, rtol: rtol, atol: atol) {
        Issue.record("\(label) [\(i)]: expected \(y), observed \(x), relative error \(abs(x - y) / max(abs(y), 1e-300))",
                     sourceLocation: sourceLocation)
        return
    }
}
