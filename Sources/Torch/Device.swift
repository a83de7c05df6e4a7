import CTorch

/// Where a tensor lives: the CPU or a CUDA device (`cuda:N`).
public enum Device: Hashable, Sendable, CustomStringConvertible, LosslessStringConvertible {
    case cpu
    case cuda(Int)

    /// The first CUDA device.
    public static let gpu = Device.cuda(0)

    init(_ c: upt_device) {
        self = c.type == Int32(UPT_CUDA.rawValue) ? .cuda(Int(max(c.index, 0))) : .cpu
    }

    var c: upt_device {
        switch self {
        case .cpu: upt_device(type: Int32(UPT_CPU.rawValue), index: -1)
        case .cuda(let i): upt_device(type: Int32(UPT_CUDA.rawValue), index: Int32(i))
        }
    }

    /// Parses `cpu`, `cuda` or `cuda:N`.
    public init?(_ text: String) {
        let t = text.lowercased()
        if t == "cpu" { self = .cpu; return }
        if t == "cuda" { self = .cuda(0); return }
        guard t.hasPrefix("cuda:"), let n = Int(t.dropFirst(5)), n >= 0 else { return nil }
        self = .cuda(n)
    }

    public var description: String {
        switch self {
        case .cpu: "cpu"
        case .cuda(let i): "cuda:\(i)"
        }
    }
}
