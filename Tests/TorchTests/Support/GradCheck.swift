import Testing
@testable import Torch

/// Compares the analytic gradients of a scalar function of float64 tensors with central finite
/// differences (eps 1e-6), as torch.autograd.gradcheck does.
func gradCheck(_ label: String, _ inputs: [Tensor], eps: Double = 1e-6, rtol: Double = 1e-5, atol: Double = 1e-7,
               sourceLocation: SourceLocation = #_sourceLocation, _ f: ([Tensor]) throws -> Tensor) throws {
    let leaves = try inputs.map { try $0.to(.float64).detach().requiresGrad(true) }
    let out = try f(leaves)
    guard out.count == 1 else {
        Issue.record("\(label): the function must return one value, got shape \(out.shape)", sourceLocation: sourceLocation)
        return
    }
    let analytic = try gradients(of: [out.sum()], withRespectTo: leaves, allowUnused: true)
    for (k, leaf) in leaves.enumerated() {
        let base = try leaf.detach().clone()
        let n = base.count
        var numeric = [Double](repeating: 0, count: n)
        let flat = try base.reshape([n])
        var args = try leaves.map { try $0.detach() }
        args[k] = base
        try withNoGrad {
            for i in 0..<n {
                let v = try flat.select(0, i).item()
                try flat.select(0, i).fill_(.double(v + eps))
                let plus = try f(args).item()
                try flat.select(0, i).fill_(.double(v - eps))
                let minus = try f(args).item()
                try flat.select(0, i).fill_(.double(v))
                numeric[i] = (plus - minus) / (2 * eps)
            }
        }
        let a = try analytic[k].map { try $0.toArray(Double.self) } ?? [Double](repeating: 0, count: n)
        expectClose(a, numeric, rtol: rtol, atol: atol, "\(label) d/d(input \(k))", sourceLocation: sourceLocation)
    }
}
