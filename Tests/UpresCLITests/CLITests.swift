import Foundation
import Testing

/// Runs the built `upres` binary (next to the test bundle) and captures its output and exit code.
struct CLIResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

func upresBinary() -> URL {
    let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    return exe.deletingLastPathComponent().appendingPathComponent("upres")
}

func runUpres(_ arguments: [String], environment: [String: String] = [:]) throws -> CLIResult {
    try runProcess(upresBinary(), arguments, environment: environment)
}

/// Runs an executable and captures its output and exit code.
func runProcess(_ executable: URL, _ arguments: [String], environment: [String: String] = [:], in directory: URL? = nil) throws -> CLIResult {
    let p = Process()
    p.executableURL = executable
    p.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    p.environment = env
    if let directory { p.currentDirectoryURL = directory }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return CLIResult(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                     stderr: String(decoding: e, as: UTF8.self))
}

@Suite struct CLITests {
    @Test func versionAndHelp() throws {
        let v = try runUpres(["--version"])
        #expect(v.status == 0)
        #expect(v.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ".").count == 3)
        let h = try runUpres(["--help"])
        #expect(h.status == 0)
        #expect(h.stdout.contains("doctor"))
        #expect(h.stdout.contains("super-resolution"))
    }

    @Test func doctorReportsTheEngine() throws {
        let r = try runUpres(["doctor"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.range(of: #"libtorch +\d+\.\d+"#, options: .regularExpression) != nil, "\(r.stdout)")
        #expect(r.stdout.contains("engine check   ok"))
        #expect(r.stdout.contains("CUDA devices"))
        #expect(r.stdout.contains("sample data"))
    }

    @Test func doctorJSONIsValidJSON() throws {
        let r = try runUpres(["doctor", "--json", "--threads", "1"])
        #expect(r.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect(object?["threads"] as? Int == 1)
        #expect(object?["engine_ok"] as? Bool == true)
        #expect((object?["libtorch_version"] as? String)?.first?.isNumber == true)
    }

    @Test func doctorSaysWhatToRunWhenSamplesAreMissing() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("upres-nodata-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        // Point every candidate at an empty folder: UPRES_DATA, and a working directory without data/.
        let p = Process()
        p.executableURL = upresBinary()
        p.arguments = ["doctor", "--json"]
        p.currentDirectoryURL = empty
        p.environment = ProcessInfo.processInfo.environment.merging(["UPRES_DATA": empty.path]) { $1 }
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        #expect(object?["missing_sample_groups"] != nil)
    }

    @Test func badFlagsFailWithAClearMessage() throws {
        let t = try runUpres(["doctor", "--threads", "0"])
        #expect(t.status != 0)
        #expect(t.stderr.contains("--threads 0 must be at least 1"))
        let d = try runUpres(["doctor", "--device", "tpu"])
        #expect(d.status != 0)
        #expect(d.stderr.contains("'tpu' is not a device"))
        let c = try runUpres(["doctor", "--device", "cuda:0"])
        #expect(c.status != 0)
        #expect(c.stderr.contains("CUDA"))
        let u = try runUpres(["frobnicate"])
        #expect(u.status != 0)
    }
}
