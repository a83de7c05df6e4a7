import Testing
@testable import Torch

@Suite struct ErrorTests {
    /// The message of a TorchError thrown by `body`; records an issue when nothing is thrown.
    func message(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> (String, String) {
        do {
            try body()
            Issue.record("no error was thrown", sourceLocation: sourceLocation)
        } catch let TorchError.libtorch(operation, message) {
            return (operation, message)
        } catch let TorchError.invalidArgument(operation, message) {
            return (operation, message)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
        return ("", "")
    }

    func expectClean(_ op: String, _ expectedOp: String, _ msg: String, contains: String,
                     sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(op == expectedOp, sourceLocation: sourceLocation)
        #expect(msg.contains(contains), "\(msg)", sourceLocation: sourceLocation)
        #expect(!msg.contains("\n"), "\(msg)", sourceLocation: sourceLocation)
        #expect(!msg.contains("Exception raised from"), sourceLocation: sourceLocation)
    }

    @Test func shapeMismatchesNameTheOperation() throws {
        let a = try Tensor.zeros([2, 3]), b = try Tensor.zeros([4, 5])
        var (op, msg) = message { _ = try a.matmul(b) }
        expectClean(op, "matmul", msg, contains: "cannot be multiplied")
        (op, msg) = message { _ = try a + b }
        expectClean(op, "add", msg, contains: "must match")
        (op, msg) = message { _ = try Tensor.zeros([1, 3, 8, 8]).conv2d(Tensor.zeros([4, 2, 3, 3])) }
        expectClean(op, "conv2d", msg, contains: "channels")
        (op, msg) = message { _ = try Tensor.cat([a, b], dim: 0) }
        expectClean(op, "cat", msg, contains: "Sizes of tensors must match")
        let e = TorchError.libtorch(operation: "matmul", message: "x")
        #expect(e.localizedDescription == "matmul: x")
    }

    @Test func wrongDTypesAndIndices() throws {
        var (op, msg) = message { _ = try Tensor.zeros([2, 2], dtype: .int64).matmul(Tensor.zeros([2, 2])) }
        #expect(op == "matmul" && !msg.isEmpty)
        (op, msg) = message { _ = try Tensor.zeros([1, 1, 4, 4], dtype: .bool).conv2d(Tensor.zeros([1, 1, 3, 3], dtype: .bool)) }
        #expect(op == "conv2d" && !msg.isEmpty)
        (op, msg) = message { _ = try Tensor.zeros([3]).select(0, 5) }
        expectClean(op, "select", msg, contains: "out of range")
        (op, msg) = message { _ = try Tensor.zeros([3]).sum(dim: 4) }
        expectClean(op, "sum", msg, contains: "out of range")
        (op, msg) = message { _ = try Tensor.zeros([3]).indexSelect(0, Tensor([7] as [Int])) }
        #expect(op == "index_select" && !msg.isEmpty)
        (op, msg) = message { _ = try Tensor.zeros([3]).narrow(0, start: 2, length: 4) }
        #expect(op == "narrow")
    }

    @Test func cudaAbsentIsAnErrorNotACrash() throws {
        guard TorchRuntime.cudaDeviceCount == 0 else { return }
        var (op, msg) = message { _ = try Tensor.zeros([2]).to(.cuda(0)) }
        #expect(op == "to" && !msg.isEmpty && !msg.contains("\n"))
        (op, msg) = message { _ = try Tensor.zeros([2], device: .cuda(0)) }
        #expect(op == "zeros" && !msg.isEmpty)
        (op, _) = message { _ = try Tensor.randn([2], device: .cuda(1)) }
        #expect(op == "randn")
        #expect(throws: Never.self) { try TorchRuntime.synchronize(.cpu) }
    }

    @Test func swiftSideChecks() throws {
        var (op, msg) = message { _ = try Tensor([1, 2, 3] as [Float], shape: [2, 2]) }
        expectClean(op, "Tensor(_:shape:)", msg, contains: "3 values cannot fill shape [2, 2]")
        (op, msg) = message { _ = try Tensor.zeros([4]).split(0) }
        expectClean(op, "split", msg, contains: "must be positive")
        (op, _) = message { _ = try Tensor.zeros([4]).roll([1, 2], dims: [0]) }
        #expect(op == "roll")
        (op, _) = message { _ = try Tensor.zeros([1, 1, 4]).interpolate(size: [8], scaleFactor: [2]) }
        #expect(op == "interpolate")
        (op, _) = message { _ = try Tensor.zeros([1, 1, 4, 4]).conv2d(Tensor.zeros([1, 1, 3, 3]), stride: [1, 2, 3]) }
        #expect(op == "conv2d")
        (op, _) = message { try TorchRuntime.setThreads(0) }
        #expect(op == "set_num_threads")
    }

    @Test func injectedFailuresPassThroughTheFunnel() throws {
        Tensor._injectFailure(operation: "relu", message: "injected")
        let (op, msg) = message { _ = try Tensor.zeros([2]).relu() }
        #expect(op == "relu" && msg == "injected")
        // One-shot: the next call works again, and the library keeps working after errors.
        #expect(try Tensor.zeros([2]).relu().count == 2)
        let e = try? Tensor.zeros([2]).matmul(Tensor.zeros([3]))
        #expect(e == nil)
        #expect(try (Tensor.ones([2]) * 3).sum().item() == 6)
    }

    @Test func libtorchErrorsFromTheShimKeepTheFirstLine() throws {
        #expect(upt_debug_throw_check("first line\nsecond line") == "first line")
    }
}

import CTorch

/// Raises a libtorch error inside the shim and returns the message the error slot kept.
func upt_debug_throw_check(_ text: String) -> String {
    _ = upt_debug_throw(text)
    return String(cString: upt_last_error())
}
