import ArgumentParser
import Imaging
import Torch

import Foundation

/// `upres convert IN OUT`: rewrite a NIfTI file (another dtype, canonical orientation, one volume).
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rewrite a NIfTI file: another dtype, compression by extension, canonical RAS+ orientation.")

    @Argument(help: "Input NIfTI file.") var input: String
    @Argument(help: "Output .nii or .nii.gz.") var output: String

    @Option(help: "Element type on disk: \(NIfTIDataType.allValueStrings.joined(separator: ", ")).")
    var dtype: NIfTIDataType = .float32

    @Flag(help: "Reorder the voxel axes to RAS+ (permutations and flips only; no interpolation).")
    var canonical = false

    @Option(help: "For a 4-D file, keep only this volume (0-based).")
    var volume: Int?

    @Flag(help: "Keep the magnitude of complex data.")
    var magnitude = false

    @Option(help: "NaN/Inf voxels: keep, zero or error.")
    var nonFinite: NonFinitePolicy = .keep

    @Flag(help: "Overwrite the output if it exists.")
    var force = false

    func validate() throws {
        guard output.hasSuffix(".nii") || output.hasSuffix(".nii.gz") else {
            throw ValidationError("output \(output): expected a .nii or .nii.gz file name")
        }
        if let volume, volume < 0 { throw ValidationError("--volume \(volume) must be 0 or more") }
    }

    func run() throws {
        try VolumeIO.checkOutput(output, force: force)
        let options = NIfTIReadOptions(volumeIndex: volume, nonFinite: nonFinite, complex: magnitude ? .magnitude : .error)
        var v = try VolumeIO.read(input, options: options).volume
        try VolumeIO.requireScalar(v, input)
        if canonical { v = try v.canonical() }
        try NIfTI.write(v, to: URL(fileURLWithPath: output), options: NIfTIWriteOptions(dtype: dtype, overwrite: force))
        print("\(output): \(v.shape.map(String.init).joined(separator: "x")) \(dtype) \(v.orientation)")
    }
}
