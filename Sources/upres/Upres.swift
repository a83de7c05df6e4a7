import ArgumentParser
import Torch

/// The upres command-line tool: thin shells over the library (parse, call, print).
@main
struct Upres: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upres",
        abstract: "Deep-learning super-resolution of brain MRI.",
        discussion: """
            upres turns clinical low-resolution scans (thick 2D slices, 1.5T/3T) into high-resolution \
            volumes, and gives researchers what surrounds that job: simulation, training, reconstruction, \
            evaluation and reports. Run `upres doctor` to check the installation.
            """,
        version: UpresVersion.string,
        subcommands: [Info.self, Convert.self, Resample.self, N4.self, Register.self, BrainMask.self, Segment.self, Preprocess.self, Simulate.self, Degrade.self, Train.self, Upsample.self, BIDSApp.self, Explain.self, Models.self, Snapshot.self, Evaluate.self, ReportCommand.self, Doctor.self]
    )
}

/// The version of upres, reported by `--version` and written into every sidecar.
enum UpresVersion {
    static let string = "0.1.0"
}
