import Foundation
import Synchronization
import Testing
import Torch

#if canImport(Glibc)
import Glibc
#endif

struct SocketError: Error, CustomStringConvertible {
    let description: String
}

/// A TCP port on the loopback that was free a moment ago (bound to port 0, read back, released).
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw SocketError(description: "socket() failed (errno \(errno))") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw SocketError(description: "bind() to 127.0.0.1:0 failed (errno \(errno))") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Runs several `upres` invocations at once (the ranks of one group), each on its own thread.
func runUpresTogether(_ invocations: [(arguments: [String], environment: [String: String])]) -> [Result<CLIResult, Error>] {
    let results = Mutex<[Int: Result<CLIResult, Error>]>([:])
    let done = DispatchGroup()
    for (i, call) in invocations.enumerated() {
        done.enter()
        Thread {
            let r = Result { try runUpres(call.arguments, environment: call.environment) }
            results.withLock { $0[i] = r }
            done.leave()
        }.start()
    }
    done.wait()
    return results.withLock { table in invocations.indices.map { table[$0]! } }
}

@Suite(.serialized) struct DataParallelCommandTests {
    /// A tiny EDSR that moves in a few steps (no warm-up, a large rate).
    func config(_ dir: URL, manifest: String) throws -> String {
        let path = dir.appendingPathComponent("tiny.yaml")
        try """
        name: tiny
        steps: 4
        warmupSteps: 0
        learningRate: 0.001
        logEvery: 1
        validateEvery: 4
        checkpointEvery: 2
        threads: 1
        model: {architecture: edsr, inChannels: 3, outChannels: 1, features: 4, blocks: 1, residualScale: 0.1, factor: 6, upsampleFeatures: 2}
        data:
          manifest: \(manifest)
          validationPatches: 2
        """.write(to: path, atomically: true, encoding: .utf8)
        return path.path
    }

    func maxDifference(_ a: String, _ b: String) throws -> Double {
        let x = try Safetensors.read(URL(fileURLWithPath: a)).tensors, y = try Safetensors.read(URL(fileURLWithPath: b)).tensors
        #expect(Set(x.keys) == Set(y.keys) && !x.isEmpty)
        return try x.keys.map { k in try (x[k]! - y[k]!).abs().max().item() }.max() ?? .infinity
    }

    /// Two processes with batch B each (one given flags, one torchrun's variables) end with the
    /// weights of one process with batch 2B; a two-process run stopped halfway and resumed ends
    /// where the uninterrupted one does; only rank 0 writes the run folder.
    @Test(.enabled(if: ProcessGroup.isAvailable, "built without Gloo headers"))
    func twoRanksEqualOneProcessWithTheCombinedBatch() throws {
        let dir = try scratch()
        let ds = dir.appendingPathComponent("ds").path
        let sim = try runUpres(["simulate", "--dataset", ds, colin, "--preset", "thick-5-6", "--direction", "axial", "--split", "1", "0", "0"])
        #expect(sim.status == 0, "\(sim.stderr)")
        let yaml = try config(dir, manifest: ds + "/manifest.json")
        func pair(_ run: String, extra: [String] = [], resume: Bool = false) throws -> [CLIResult] {
            let port = try freeLoopbackPort()
            let head = resume ? ["train", "--resume", run] : ["train", "--config", yaml, "--out", run, "--batch-size", "2"]
            return try runUpresTogether([
                (head + ["--quiet", "--world-size", "2", "--rank", "0", "--master-port", "\(port)"] + extra, [:]),
                (head + ["--quiet"] + extra, ["WORLD_SIZE": "2", "RANK": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "\(port)"]),
            ]).map { try $0.get() }
        }
        let parallel = dir.appendingPathComponent("parallel").path
        let ranks = try pair(parallel)
        #expect(ranks[0].status == 0 && ranks[1].status == 0, "\(ranks[0].stderr)\n\(ranks[1].stderr)")
        #expect(ranks[1].stdout.contains("rank 1 of 2: finished at step 4"), "\(ranks[1].stdout)")
        let single = dir.appendingPathComponent("single").path
        let s = try runUpres(["train", "--config", yaml, "--out", single, "--batch-size", "4", "--quiet"])
        #expect(s.status == 0, "\(s.stderr)")
        let small = dir.appendingPathComponent("small").path
        #expect(try runUpres(["train", "--config", yaml, "--out", small, "--batch-size", "2", "--quiet"]).status == 0)

        let difference = try maxDifference(parallel + "/model.safetensors", single + "/model.safetensors")
        #expect(difference <= 1e-5, "2 ranks x batch 2 against 1 process x batch 4: max |difference| \(difference)")
        // The comparison can tell: one process with batch 2 trains elsewhere.
        let apart = try maxDifference(small + "/model.safetensors", single + "/model.safetensors")
        #expect(apart > 1e-4, "batch 2 against batch 4: max |difference| \(apart)")
        // Rank 0's log: one line per step and the validation, with the combined batch's loss.
        let lines = try String(contentsOfFile: parallel + "/log.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 5, "\(lines)")

        // Stopped at step 2 and resumed by both ranks: the same weights as without the stop.
        let resumed = dir.appendingPathComponent("resumed").path
        let first = try pair(resumed, extra: ["--max-steps", "2"])
        #expect(first.allSatisfy { $0.status == 0 } && !FileManager.default.fileExists(atPath: resumed + "/model.safetensors"),
                "\(first.map(\.stderr))")
        let second = try pair(resumed, resume: true)
        #expect(second.allSatisfy { $0.status == 0 }, "\(second.map(\.stderr))")
        #expect(try maxDifference(resumed + "/model.safetensors", parallel + "/model.safetensors") == 0)
    }

    /// WGAN-GP with two critic updates per step: the critic's gradients are averaged too, and the
    /// gradient penalty's mixing weights are the combined batch's, so model and critic match.
    @Test(.enabled(if: ProcessGroup.isAvailable, "built without Gloo headers"))
    func anAdversarialRunOnTwoRanksEqualsOneProcess() throws {
        let dir = try scratch()
        let ds = dir.appendingPathComponent("ds").path
        #expect(try runUpres(["simulate", "--dataset", ds, colin, "--preset", "thick-5-6", "--direction", "axial", "--split", "1", "0", "0"]).status == 0)
        let yaml = try config(dir, manifest: ds + "/manifest.json")
        let adversarial = ["--set", #"adversarial={"critic": {"architecture": "patchgan", "features": 4, "layers": 2}, "loss": "wasserstein", "#
                           + #""weight": 0.1, "criticSteps": 2, "gradientPenalty": 10, "learningRate": 0.001, "betas": [0, 0.9], "startStep": 0}"#]
        let parallel = dir.appendingPathComponent("parallel").path, single = dir.appendingPathComponent("single").path
        let port = try freeLoopbackPort()
        let ranks = runUpresTogether((0..<2).map { rank in
            (["train", "--config", yaml, "--out", parallel, "--batch-size", "2", "--quiet", "--world-size", "2", "--rank", "\(rank)",
              "--master-port", "\(port)"] + adversarial, [:])
        })
        for r in ranks {
            let result = try r.get()
            #expect(result.status == 0, "\(result.stderr)")
        }
        let s = try runUpres(["train", "--config", yaml, "--out", single, "--batch-size", "4", "--quiet"] + adversarial)
        #expect(s.status == 0, "\(s.stderr)")
        for file in ["model.safetensors", "critic.safetensors"] {
            let difference = try maxDifference(parallel + "/" + file, single + "/" + file)
            #expect(difference <= 1e-5, "\(file): max |difference| \(difference)")
        }
    }

    /// A rank outside the world, a port out of range, and a master nobody serves: one message,
    /// a non-zero exit, no run folder.
    @Test func badGroupsFailClearlyWithoutFiles() throws {
        let dir = try scratch()
        let yaml = try config(dir, manifest: dir.appendingPathComponent("unused.json").path)
        let run = dir.appendingPathComponent("run").path
        let outside = try runUpres(["train", "--config", yaml, "--out", run, "--world-size", "2", "--rank", "2"])
        #expect(outside.status != 0 && outside.stderr.contains("rank 2 is not in 0..<2 (the world size is 2)"), "\(outside.stderr)")
        let env = try runUpres(["train", "--config", yaml, "--out", run], environment: ["WORLD_SIZE": "2", "RANK": "3"])
        #expect(env.status != 0 && env.stderr.contains("rank 3 is not in 0..<2"), "\(env.stderr)")
        let port = try runUpres(["train", "--config", yaml, "--out", run, "--world-size", "2", "--master-port", "0"])
        #expect(port.status != 0 && port.stderr.contains("master port 0 is not in 1...65535"), "\(port.stderr)")
        let lonely = try runUpres(["train", "--config", yaml, "--out", run, "--rank", "1"])
        #expect(lonely.status != 0 && lonely.stderr.contains("needs a world size"), "\(lonely.stderr)")
        #expect(!FileManager.default.fileExists(atPath: run))

        // A real dataset, so that only the group can fail.
        let ds = dir.appendingPathComponent("ds").path
        #expect(try runUpres(["simulate", "--dataset", ds, colin, "--preset", "thick-5-6", "--direction", "axial", "--split", "1", "0", "0"]).status == 0)
        let real = try config(dir, manifest: ds + "/manifest.json")
        for rank in ["1", "0"] where ProcessGroup.isAvailable {
            let free = try freeLoopbackPort()
            let r = try runUpres(["train", "--config", real, "--out", run, "--world-size", "2", "--rank", rank,
                                  "--master-port", "\(free)", "--dist-timeout", "2"])
            #expect(r.status == 1, "rank \(rank)")
            #expect(r.stderr.contains("rank \(rank) of 2 could not join the group at 127.0.0.1:\(free) within 2 s"), "\(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "one message: \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: run), "rank \(rank) left files")
        }
    }
}
