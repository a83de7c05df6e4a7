import Synchronization

/// Failures injected into the shim funnel, for tests of error paths that libtorch rarely takes
/// (see `Tensor+Testing.swift`).

enum FailureInjection {

    static let armed = Atomic<Bool>(false)
    static let pending = Mutex<[String: String]>([:])


    static var isArmed: Bool { armed.load(ordering: .relaxed) }


    static func take(_ operation: StaticString) -> TorchError? {
        let name = "\(operation)"
        return pending.withLock { table -> TorchError? in
            guard let message = table.removeValue(forKey: name) else { return nil }
            if table.isEmpty { armed.store(false, ordering: .relaxed) }
            return .libtorch(operation: name, message: message)
        }
    }

    static func arm(_ operation: String, message: String) {
        pending.withLock { $0[operation] = message }
        armed.store(true, ordering: .relaxed)
    }
}
