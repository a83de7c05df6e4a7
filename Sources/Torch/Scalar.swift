import CTorch

/// A number handed to libtorch. Integers stay integers, so `intTensor + 1` stays an integer tensor
/// as in PyTorch, while `intTensor + 1.5` promotes to the default float type.
public enum Scalar: Sendable, Equatable, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral
{
    case double(Double)
    case int(Int64)
    case bool(Bool)

    public init(integerLiteral value: Int) { self = .int(Int64(value)) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(_ value: Double) { self = .double(value) }
    public init(_ value: Float) { self = .double(Double(value)) }
    public init(_ value: Int) { self = .int(Int64(value)) }

    var c: upt_scalar {
        switch self {
        case .double(let d): upt_scalar(kind: 0, f: d, i: 0)
        case .int(let i): upt_scalar(kind: 1, f: Double(i), i: i)
        case .bool(let b): upt_scalar(kind: 2, f: b ? 1 : 0, i: b ? 1 : 0)
        }
    }

    public var doubleValue: Double {
        switch self {
        case .double(let d): d
        case .int(let i): Double(i)
        case .bool(let b): b ? 1 : 0
        }
    }
}
