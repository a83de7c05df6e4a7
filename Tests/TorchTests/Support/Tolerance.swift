import Testing
@testable import Torch

/// Checks that two arrays agree elementwise within `atol + rtol * |expected|`, printing the first
/// offending index with expected, observed and the relative error (swift-numerics' closeEnough).
func expectClose(_ observed: [Double], _ expected: [Double], rtol: Double = 1e-6, atol: Double = 1e-9,
                 _ label: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    guard observed.count == expected.count else {
        Issue.record("\(label) \(observed.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
        return
    }
    for (i, (o, e)) in zip(observed, expected).enumerated() {
        let ok = (o.isNaN && e.isNaN) || (o == e) || Swift.abs(o - e) <= atol + rtol * Swift.abs(e)
        if !ok {
            let rel = Swift.abs(o - e) / Swift.max(Swift.abs(e), 1e-300)
            Issue.record("\(label) [\(i)]: expected \(e), observed \(o), relative error \(rel)", sourceLocation: sourceLocation)
            return
        }
    }
}

/// The same for a tensor against expected values (any dtype, compared in float64).
func expectClose(_ tensor: Tensor, _ expected: [Double], rtol: Double = 1e-6, atol: Double = 1e-9,
                 _ label: String = "", sourceLocation: SourceLocation = #_sourceLocation) throws {
    expectClose(try tensor.toArray(Double.self), expected, rtol: rtol, atol: atol, label, sourceLocation: sourceLocation)
}

func expectClose(_ observed: Double, _ expected: Double, rtol: Double = 1e-6, atol: Double = 1e-9,
                 _ label: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    expectClose([observed], [expected], rtol: rtol, atol: atol, label, sourceLocation: sourceLocation)
}

/// Runs `body` for each value, labelling failures with it (swift-collections' withEvery).
func withEvery<S: Sequence>(_ label: String, in values: S, _ body: (S.Element) throws -> Void,
                            sourceLocation: SourceLocation = #_sourceLocation) {
    for v in values {
        do { try body(v) } catch {
            Issue.record("\(label) = \(v): \(error)", sourceLocation: sourceLocation)
        }
    }
}

/// A float64 tensor with values from a fixed pseudo-random sequence (no libtorch RNG involved).
func fixed(_ shape: [Int], seed: UInt64 = 1, scale: Double = 1, offset: Double = 0) throws -> Tensor {
    var state = seed &* 6364136223846793005 &+ 1442695040888963407
    let n = shape.reduce(1, *)
    let values = (0..<n).map { _ -> Double in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return offset + scale * (Double(state >> 11) / Double(1 << 53) * 2 - 1)
    }
    return try Tensor(values, shape: shape)
}
