#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Torch

/// A neural-network building block, after mlx-swift's `Module`.
///
/// Subclasses declare their tensors and submodules as stored properties; `Module` discovers them by
/// reflection (`Mirror`) and names them with dotted paths equal to PyTorch's `state_dict` keys:
/// a property `conv1` holding a module with a `weight` gives `conv1.weight`, an array of modules
/// `body` gives `body.0.weight`, `body.1.weight`, ... and a dictionary of modules uses its keys.
/// Tensors are references, so loading weights copies into them in place.
open class Module: @unchecked Sendable {
    /// Training mode (dropout active, batch norm updating its statistics) or evaluation mode.
    public private(set) var isTraining = true

    public init() {}

    /// The module's own tensors and direct submodules, found by reflection, in declaration order.
    func children() -> (tensors: [(String, Tensor)], modules: [(String, Module)]) {
        var tensors: [(String, Tensor)] = []
        var modules: [(String, Module)] = []
        var mirror: Mirror? = Mirror(reflecting: self)
        var levels: [Mirror] = []
        while let m = mirror {
            levels.append(m)
            mirror = m.superclassMirror
        }
        // Superclass properties first, like PyTorch's registration order in __init__.
        for m in levels.reversed() {
            for child in m.children {
                guard let raw = child.label else { continue }
                let label = raw.hasPrefix("_") ? String(raw.dropFirst()) : raw
                Self.collect(child.value, label, &tensors, &modules)
            }
        }
        return (tensors, modules)
    }

    private static func collect(_ value: Any, _ label: String, _ tensors: inout [(String, Tensor)],
                                _ modules: inout [(String, Module)]) {
        switch value {
        case let t as Tensor:
            tensors.append((label, t))
        case let t as Tensor?:
            if let t { tensors.append((label, t)) }
        case let m as Module:
            modules.append((label, m))
        case let m as Module?:
            if let m { modules.append((label, m)) }
        case let list as [Module]:
            for (i, m) in list.enumerated() { modules.append(("\(label).\(i)", m)) }
        case let dict as [String: Module]:
            for key in dict.keys.sorted() { modules.append(("\(label).\(key)", dict[key]!)) }
        case let list as [Tensor]:
            for (i, t) in list.enumerated() { tensors.append(("\(label).\(i)", t)) }
        default:
            break
        }
    }

    /// Every tensor of this module and its submodules, with PyTorch-style dotted names.
    public func namedTensors(prefix: String = "") -> [(String, Tensor)] {
        let (tensors, modules) = children()
        var out = tensors.map { (prefix + $0.0, $0.1) }
        for (name, m) in modules { out += m.namedTensors(prefix: prefix + name + ".") }
        return out
    }

    /// The trainable tensors (those that record gradients).
    public func namedParameters() -> [(String, Tensor)] { namedTensors().filter { $0.1.requiresGrad } }

    public func parameters() -> [Tensor] { namedParameters().map(\.1) }

    /// Every submodule, this one first, with dotted names ("" for this one).
    public func namedModules(prefix: String = "") -> [(String, Module)] {
        var out: [(String, Module)] = [(prefix, self)]
        for (name, m) in children().modules {
            out += m.namedModules(prefix: prefix.isEmpty ? name : prefix + "." + name)
        }
        return out
    }

    /// The number of trainable scalars.
    public var parameterCount: Int { parameters().reduce(0) { $0 + $1.count } }

    /// Switches this module and all submodules to training (or evaluation) mode.
    public func train(_ on: Bool = true) {
        for (_, m) in namedModules() { m.isTraining = on }
    }

    /// Switches to evaluation mode.
    public func eval() { train(false) }

    // MARK: state dicts

    /// Name -> tensor, the keys equal to PyTorch's `state_dict()` of the same architecture.
    public func stateDict() -> [String: Tensor] {
        Dictionary(namedTensors(), uniquingKeysWith: { a, _ in a })
    }

    /// Copies `state` into this module's tensors.
    /// - Parameter strict: require exactly the same names (missing and unexpected names are errors).
    /// - Throws: `NNError.stateDict` listing the missing, unexpected and mis-shaped entries.
    public func loadStateDict(_ state: [String: Tensor], strict: Bool = true, source: String = "state dict") throws {
        let own = namedTensors()
        let ownNames = Set(own.map(\.0))
        var problems: [String] = []
        if strict {
            let missing = own.map(\.0).filter { state[$0] == nil }
            let unexpected = state.keys.filter { !ownNames.contains($0) }.sorted()
            if !missing.isEmpty { problems.append("missing \(missing.joined(separator: ", "))") }
            if !unexpected.isEmpty { problems.append("unexpected \(unexpected.joined(separator: ", "))") }
        }
        for (name, tensor) in own {
            guard let value = state[name] else { continue }
            if value.shape != tensor.shape {
                problems.append("\(name) has shape \(value.shape), expected \(tensor.shape)")
            }
        }
        guard problems.isEmpty else { throw NNError.stateDict(source: source, problems: problems) }
        try withNoGrad {
            for (name, tensor) in own {
                guard let value = state[name] else { continue }
                try tensor.copy_(value)
            }
        }
    }

    /// Saves the state dict as safetensors, atomically.
    public func save(to url: URL, metadata: [String: String] = [:]) throws {
        try Safetensors.write(namedTensors(), metadata: metadata, to: url)
    }

    /// Loads a state dict from a safetensors file.
    public func load(from url: URL, strict: Bool = true) throws {
        let contents = try Safetensors.read(url)
        try loadStateDict(contents.tensors, strict: strict, source: url.path)
    }
}

/// Errors of the NN layer.
public enum NNError: Error, LocalizedError, Equatable, Sendable {
    case stateDict(source: String, problems: [String])
    case invalidConfiguration(module: String, message: String)

    public var errorDescription: String? {
        switch self {
        case let .stateDict(source, problems):
            return "\(source): the weights do not match the model: \(problems.joined(separator: "; "))"
        case let .invalidConfiguration(module, message):
            return "\(module): \(message)"
        }
    }
}
