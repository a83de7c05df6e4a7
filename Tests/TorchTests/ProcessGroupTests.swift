import Foundation
import Testing
@testable import Torch

#if canImport(Glibc)
import Glibc
#endif

/// A TCP port on the loopback that was free a moment ago (bound to port 0, read back, released).
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TorchError.invalidArgument(operation: "test", message: "socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw TorchError.invalidArgument(operation: "test", message: "bind() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Runs `body(rank)` for every rank on its own thread; returns each rank's result or error.
func onRanks<R: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) throws -> R) -> [Result<R, Error>] {
    let results = Mutex<[Int: Result<R, Error>]>([:])
    let done = DispatchGroup()
    for rank in 0..<count {
        done.enter()
        Thread {
            let r = Result { try body(rank) }
            results.withLock { $0[rank] = r }
            done.leave()
        }.start()
    }
    done.wait()
    return results.withLock { table in (0..<count).map { table[$0]! } }
}

import Synchronization

@Suite(.serialized) struct ProcessGroupTests {
    /// Two ranks on threads of this process: allreduce (sum and average) over tensors of several
    /// shapes and dtypes, broadcast from rank 0, barrier.
    @Test(.enabled(if: ProcessGroup.isAvailable, "built without Gloo headers"))
    func twoRanksReduceAndBroadcast() throws {
        let port = try freeLoopbackPort()
        let results = onRanks(2) { rank -> [[Double]] in
            let group = try ProcessGroup(.init(worldSize: 2, rank: rank, masterPort: port, timeout: 30))
            #expect(group.rank == rank && group.worldSize == 2)
            let a = try Tensor([Float(1 + rank), 2, 3, 4]).reshape([2, 2])
            let b = try Tensor([10 * Double(rank + 1)])  // float64
            try group.allReduce([a, b])
            let mean = try Tensor([Float(2 * rank), 4] as [Float])
            try group.allReduce([mean], average: true)
            let weights = try Tensor([Float(rank + 5), Float(rank + 6)] as [Float]).requiresGrad(true)
            let strided = try Tensor([Float(rank), 0, Float(rank), 0]).slice(0, step: 2)  // not contiguous
            try group.broadcast([weights, strided], from: 0)
            try group.barrier()
            return [try a.to(.float64).flatten().toArray(), try b.toArray(), try mean.to(.float64).toArray(),
                    try weights.to(.float64).toArray(), try strided.to(.float64).toArray()]
        }
        for (rank, r) in results.enumerated() {
            let v = try r.get()
            #expect(v[0] == [3, 4, 6, 8], "rank \(rank)")
            #expect(v[1] == [30], "rank \(rank)")
            #expect(v[2] == [1, 4], "rank \(rank)")
            #expect(v[3] == [5, 6] && v[4] == [0, 0], "rank \(rank): rank 0's values")
        }
    }

    @Test func invalidConfigurationsAndAnAbsentMasterFailClearly() throws {
        for (config, expected) in [
            (ProcessGroup.Configuration(worldSize: 2, rank: 2), "rank 2 is not in 0..<2"),
            (ProcessGroup.Configuration(worldSize: 0, rank: 0), "world size 0 must be >= 1"),
            (ProcessGroup.Configuration(worldSize: 2, rank: 1, masterPort: 70000), "master port 70000 is not in 1...65535"),
        ] {
            #expect(throws: TorchError.self) { try ProcessGroup(config) }
            #expect(config.problems().contains { $0.contains(expected) }, "\(config.problems())")
        }
        // Rank 1 of 2 with nobody serving the port: one error after the timeout, no hang.
        let port = try freeLoopbackPort()
        let start = Date()
        do {
            _ = try ProcessGroup(.init(worldSize: 2, rank: 1, masterPort: port, timeout: 2))
            Issue.record("joined a group without a master")
        } catch let TorchError.libtorch(operation, message) {
            #expect(operation == "process_group" && !message.isEmpty && !message.contains("\n"), "\(message)")
        }
        #expect(Date().timeIntervalSince(start) < 30)
    }

    @Test func torchrunEnvironment() throws {
        #expect(try ProcessGroup.Configuration(environment: [:]) == nil)
        let c = try #require(try ProcessGroup.Configuration(environment: ["WORLD_SIZE": "4", "RANK": "3", "MASTER_ADDR": "node1",
                                                                           "MASTER_PORT": "29400", "GLOO_SOCKET_IFNAME": "eth1"]))
        #expect(c == ProcessGroup.Configuration(worldSize: 4, rank: 3, masterAddress: "node1", masterPort: 29400, interface: "eth1"))
        #expect(throws: TorchError.self) { try ProcessGroup.Configuration(environment: ["WORLD_SIZE": "two"]) }
        // torchrun's static rendezvous: its agent already serves the store; every rank is a client.
        let agent = try #require(try ProcessGroup.Configuration(environment: ["WORLD_SIZE": "2", "RANK": "0", "TORCHELASTIC_USE_AGENT_STORE": "True",
                                                                               "TORCHELASTIC_RESTART_COUNT": "3"]))
        #expect(agent.launcherStore == 3 && c.launcherStore == nil)
        // Flags first, each absent one from the environment (Slurm scripts pass the rank, export the master).
        let mixed = try ProcessGroup.Configuration.resolve(worldSize: 2, rank: 1, masterAddress: nil, masterPort: nil, timeout: 5,
                                                           environment: ["MASTER_ADDR": "node0", "MASTER_PORT": "29501", "RANK": "0"])
        #expect(mixed == ProcessGroup.Configuration(worldSize: 2, rank: 1, masterAddress: "node0", masterPort: 29501, timeout: 5))
        #expect(try ProcessGroup.Configuration.resolve(worldSize: nil, rank: nil, masterAddress: nil, masterPort: nil, timeout: nil,
                                                       environment: ["MASTER_ADDR": "node0"]) == nil)
        #expect(throws: TorchError.self) {
            try ProcessGroup.Configuration.resolve(worldSize: nil, rank: 1, masterAddress: nil, masterPort: nil, timeout: nil, environment: [:])
        }
    }
}
