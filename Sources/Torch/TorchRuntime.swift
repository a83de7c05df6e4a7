import CTorch
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Facts about the libtorch in use and process-wide settings.
public enum TorchRuntime {
    /// libtorch's version, for example "1.13.0".
    public static var version: String { String(cString: upt_torch_version()) }

    /// libtorch's build configuration (`torch.__config__.show()`).
    public static var buildConfiguration: String {
        var out: UnsafeMutablePointer<CChar>?
        guard upt_build_config(&out) == 0, let out else { return "" }
        defer { upt_free_string(out) }
        return String(cString: out)
    }

    /// libtorch's parallelism report (`torch.__config__.parallel_info()`).
    public static var parallelInfo: String {
        var out: UnsafeMutablePointer<CChar>?
        guard upt_parallel_info(&out) == 0, let out else { return "" }
        defer { upt_free_string(out) }
        return String(cString: out)
    }

    /// Hands the memory that freed tensors left in the C heap back to the system (glibc's
    /// `malloc_trim`). Between large short-lived allocations, such as one batch's activations
    /// after another, glibc keeps freed blocks mapped; over a long reconstruction that is about
    /// 1 GB of resident memory nothing uses. A no-op without glibc.
    public static func releaseFreedMemory() {
        _ = upt_release_freed_memory()
    }

    public static var hasMKLDNN: Bool { upt_has_mkldnn() }
    public static var hasOpenMP: Bool { upt_has_openmp() }

    /// The number of intra-op threads libtorch uses.
    public static var threads: Int {
        ensureConfigured()
        return Int(upt_get_num_threads())
    }

    /// Sets the number of intra-op threads (`torch.set_num_threads`).
    public static func setThreads(_ n: Int) throws {
        guard n >= 1 else {
            throw TorchError.invalidArgument(operation: "set_num_threads", message: "thread count \(n) is below 1")
        }
        configured.withLock { $0 = true }
        try check("set_num_threads") { upt_set_num_threads(Int32(n)) }
    }

    /// The number of CUDA devices (0 with a CPU-only libtorch).
    public static var cudaDeviceCount: Int { Int(upt_cuda_device_count()) }
    public static var isCUDAAvailable: Bool { upt_cuda_is_available() }

    /// Waits for the work queued on a CUDA device (-1: the current one).
    public static func synchronize(_ device: Device = .cpu) throws {
        guard case .cuda(let i) = device else { return }
        try check("cuda_synchronize") { upt_cuda_synchronize(Int32(i)) }
    }

    private static let configured = Mutex(false)
    private static let configuredFast = Atomic<Bool>(false)

    /// Applies the default thread count once per process: every core, unless `OMP_NUM_THREADS`
    /// says otherwise (libtorch's own default can be one thread).

    static func ensureConfigured() {
        if configuredFast.load(ordering: .acquiring) { return }
        defer { configuredFast.store(true, ordering: .releasing) }
        let first = configured.withLock { done -> Bool in
            if done { return false }
            done = true
            return true
        }
        guard first else { return }
        if ProcessInfo.processInfo.environment["OMP_NUM_THREADS"] == nil {
            _ = upt_set_num_threads(Int32(max(1, ProcessInfo.processInfo.activeProcessorCount)))
        }
    }
}
