import ArgumentParser
import Imaging
import Report
import Torch

import Foundation

/// `upres snapshot FILE... -o OUT.png`.
struct Snapshot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Render the same slice of several volumes side by side to a PNG.",
        discussion: """
            The slice is taken at the same world position in every file (through the first file's \
            canonical grid), with one shared intensity window, so a low-resolution scan, its \
            reconstruction and the reference line up.
            """)

    @Argument(help: "NIfTI files, shown left to right.") var files: [String]

    @Option(name: .shortAndLong, help: "The PNG to write.") var output: String

    @Option(help: "axial, coronal or sagittal.") var plane: Plane = .axial

    @Option(help: "Slice index along the plane's axis of the first file (canonical RAS+); default: the middle.")
    var slice: Int?

    @Option(parsing: .upToNextOption, help: "Intensity window LOW HIGH (default: 1st-99th percentile of all panels).")
    var window: [Double] = []

    @Option(help: "Sampling: nearest (default; shows voxels as they are) or linear, cubic, sinc.")
    var interp: Interpolation = .nearest

    @Flag(help: "Overwrite the output if it exists.") var force = false

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give at least one NIfTI file") }
        guard output.hasSuffix(".png") else { throw ValidationError("-o \(output): expected a .png file name") }
        if !window.isEmpty {
            guard window.count == 2, window[0] < window[1] else { throw ValidationError("--window takes LOW HIGH with LOW < HIGH") }
        }
        if let slice, slice < 0 { throw ValidationError("--slice \(slice) must be 0 or more") }
    }

    func run() throws {
        try VolumeIO.checkOutput(output, force: force)
        var panels: [SliceSnapshot.Panel] = []
        for f in files {
            let v = try VolumeIO.read(f, options: NIfTIReadOptions(volumeIndex: nil, complex: .magnitude)).volume
            try VolumeIO.requireScalar(v, f)
            let s = v.spacing
            panels.append(.init(volume: v, label: "\(URL(fileURLWithPath: f).lastPathComponent) \(s.map { String(format: "%g", $0) }.joined(separator: "x"))mm"))
        }
        let snap = SliceSnapshot(panels: panels, plane: plane, slice: slice,
                                 window: window.isEmpty ? nil : (window[0], window[1]), interpolation: interp)
        let (index, world) = try snap.resolvedSlice()
        let image = try snap.render()
        try PNG.write(image, to: URL(fileURLWithPath: output), overwrite: force)
        print("\(output): \(plane) slice \(index) (world \(String(format: "%.1f", world)) mm), \(files.count) panel(s), \(image.width)x\(image.height)")
    }
}
