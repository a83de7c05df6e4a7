import CTorch

/// A group of processes that reduce and share tensors: libtorch's c10d with the Gloo backend,
/// meeting at a `TCPStore` (what `torch.distributed.init_process_group("gloo")` builds).
///
/// Rank 0 serves the store at `masterAddress:masterPort` and waits for every rank; the group is
/// ready when the initializer returns on every process. Collectives act in place and return when
/// complete; a peer that is gone or late beyond the timeout makes them throw.
public final class ProcessGroup: @unchecked Sendable {
    let handle: upt_process_group

    /// Where the processes meet and who this one is.
    public struct Configuration: Equatable, Sendable {
        public var worldSize: Int
        public var rank: Int
        public var masterAddress: String
        public var masterPort: Int
        /// Bound on the rendezvous and on every collective, in seconds.
        public var timeout: Double
        /// The network interface Gloo binds to (torchrun's GLOO_SOCKET_IFNAME); nil: this host's
        /// name, or the loopback address when the master is on this host.
        public var interface: String?
        /// The store at the master is already served by the launcher (torchrun's agent with
        /// TORCHELASTIC_USE_AGENT_STORE=True): every rank joins it as a client, its keys under
        /// "/worker/attempt_N" (TORCHELASTIC_RESTART_COUNT) as torch.distributed does.
        public var launcherStore: Int?

        public init(worldSize: Int, rank: Int, masterAddress: String = "127.0.0.1", masterPort: Int = 29500,
                    timeout: Double = 300, interface: String? = nil, launcherStore: Int? = nil) {
            self.worldSize = worldSize
            self.rank = rank
            self.masterAddress = masterAddress
            self.masterPort = masterPort
            self.timeout = timeout
            self.interface = interface
            self.launcherStore = launcherStore
        }

        /// The torchrun / `torch.distributed` environment: WORLD_SIZE, RANK, MASTER_ADDR,
        /// MASTER_PORT (and GLOO_SOCKET_IFNAME); nil when WORLD_SIZE is not set.
        /// - Throws: `TorchError.invalidArgument` naming a variable that is not a number.
        public init?(environment: [String: String]) throws {
            guard let c = try Self.resolve(worldSize: nil, rank: nil, masterAddress: nil, masterPort: nil, timeout: nil,
                                           environment: environment) else { return nil }
            self = c
        }

        /// Explicit values (command-line flags), each absent one taken from the torchrun
        /// environment (WORLD_SIZE, RANK, MASTER_ADDR, MASTER_PORT, GLOO_SOCKET_IFNAME), else its
        /// default; nil when neither gives a world size (one process).
        /// - Throws: `TorchError.invalidArgument` for a rank or master given without a world size,
        ///   or an environment variable that is not a number.
        public static func resolve(worldSize: Int?, rank: Int?, masterAddress: String?, masterPort: Int?, timeout: Double?,
                                   environment: [String: String]) throws -> Configuration? {
            func int(_ name: String) throws -> Int? {
                guard let text = environment[name] else { return nil }
                guard let v = Int(text) else {
                    throw TorchError.invalidArgument(operation: "process_group", message: "\(name)=\(text) is not an integer")
                }
                return v
            }
            guard let size = try worldSize ?? int("WORLD_SIZE") else {
                if rank != nil || masterAddress != nil || masterPort != nil {
                    throw TorchError.invalidArgument(operation: "process_group",
                                                     message: "a rank or master address needs a world size (--world-size, or WORLD_SIZE)")
                }
                return nil
            }
            return Configuration(worldSize: size, rank: try rank ?? int("RANK") ?? 0,
                                 masterAddress: masterAddress ?? environment["MASTER_ADDR"].flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1",
                                 masterPort: try masterPort ?? int("MASTER_PORT") ?? 29500, timeout: timeout ?? 300,
                                 interface: environment["GLOO_SOCKET_IFNAME"].flatMap { $0.isEmpty ? nil : $0 },
                                 launcherStore: environment["TORCHELASTIC_USE_AGENT_STORE"] == "True"
                                     ? try int("TORCHELASTIC_RESTART_COUNT") ?? 0 : nil)
        }

        /// Every problem with the values, one message each (empty when valid).
        public func problems() -> [String] {
            var out: [String] = []
            if worldSize < 1 { out.append("world size \(worldSize) must be >= 1") }
            if rank < 0 || (worldSize >= 1 && rank >= worldSize) {
                out.append("rank \(rank) is not in 0..<\(Swift.max(worldSize, 1)) (the world size is \(worldSize))")
            }
            if !(1...65535).contains(masterPort) { out.append("master port \(masterPort) is not in 1...65535") }
            if masterAddress.isEmpty { out.append("the master address is empty") }
            if !(timeout > 0) { out.append("timeout \(timeout) s must be > 0") }
            return out
        }

        public func validate() throws {
            let p = problems()
            if !p.isEmpty { throw TorchError.invalidArgument(operation: "process_group", message: p.joined(separator: "; ")) }
        }

        /// Whether the master is this host's loopback (all ranks on one machine).
        var masterIsLoopback: Bool {
            masterAddress == "localhost" || masterAddress == "::1" || masterAddress.hasPrefix("127.")
        }
    }

    public let configuration: Configuration

    /// Whether this build has c10d's Gloo backend (the shim built with the Gloo headers).
    public static var isAvailable: Bool { upt_dist_available() }

    /// Joins the group (blocks until every rank has joined, or the timeout).
    /// - Throws: `TorchError` for invalid values, a master that cannot be reached, a port in use,
    ///   or ranks missing at the timeout.
    public init(_ configuration: Configuration) throws {
        try configuration.validate()
        TorchRuntime.ensureConfigured()
        self.configuration = configuration
        let (kind, name): (Int32, String) = configuration.interface.map { (2, $0) }
            ?? (configuration.masterIsLoopback ? (1, "127.0.0.1") : (0, ""))
        var out: upt_process_group?
        let prefix = configuration.launcherStore.map { "/worker/attempt_\($0)" } ?? ""
        try check("process_group") {
            upt_dist_new(&out, configuration.masterAddress, Int32(configuration.masterPort), Int32(configuration.rank),
                         Int32(configuration.worldSize), Int64((configuration.timeout * 1000).rounded()), kind, name,
                         configuration.launcherStore != nil, prefix)
        }
        guard let out else { throw TorchError.libtorch(operation: "process_group", message: "returned no group") }
        handle = out
    }

    deinit { upt_dist_free(handle) }

    public var rank: Int { Int(upt_dist_rank(handle)) }
    public var worldSize: Int { Int(upt_dist_world_size(handle)) }

    /// Sums every tensor over the ranks in place (`all_reduce(op=SUM)`), divided by the world
    /// size with `average`. The list may mix shapes and dtypes; it travels as one buffer per dtype.
    public func allReduce(_ tensors: [Tensor], average: Bool = false) throws {
        try check("allreduce") { withHandles(tensors) { upt_dist_allreduce(handle, $0, $1, average) } }
    }

    /// Every rank's tensors take rank `root`'s values, in place (`broadcast(src=root)`).
    public func broadcast(_ tensors: [Tensor], from root: Int = 0) throws {
        try check("broadcast") { withHandles(tensors) { upt_dist_broadcast(handle, $0, $1, Int32(root)) } }
    }

    /// Returns when every rank has reached it.
    public func barrier() throws {
        try check("barrier") { upt_dist_barrier(handle) }
    }
}
