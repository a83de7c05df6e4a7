import ArgumentParser
import Imaging
import Torch

import Foundation

/// `upres convert IN OUT`: rewrite a NIfTI file (another dtype, canonical orientation, one volume).
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rewrite a NIfTI file, or a DICOM series folder as NIfTI: another dtype, compression by extension, canonical RAS+ orientation.",
        discussion: """
            A DICOM folder (GDCM through ITK) becomes a volume with its geometry: slices ordered along \
            their normal, the spacing from their positions (not SliceThickness), the orientation from \
            ImageOrientationPatient. Beside the output, a JSON sidecar records the series (UID, \
            description, modality, SliceThickness: upsample reads the acquired thickness from it). A \
            folder with several series needs --series UID (--list-series lists them); a tilted or \
            unevenly spaced stack is refused.
            """)

    @Argument(help: "Input NIfTI file or DICOM series folder.") var input: String
    @Argument(help: "Output .nii or .nii.gz (not with --list-series).") var output: String?

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

    @Option(help: "The DICOM series to convert when the folder holds several (see --list-series).")
    var series: String?

    @Flag(name: .customLong("list-series"), help: "List the DICOM series of the folder and stop.")
    var listSeries = false

    @Flag(help: "Overwrite the output if it exists.")
    var force = false

    func validate() throws {
        if listSeries {
            guard output == nil else { throw ValidationError("--list-series lists the series and writes nothing; leave out the output") }
            return
        }
        guard let output else { throw ValidationError("give the output .nii or .nii.gz") }
        guard output.hasSuffix(".nii") || output.hasSuffix(".nii.gz") else {
            throw ValidationError("output \(output): expected a .nii or .nii.gz file name")
        }
        if let volume, volume < 0 { throw ValidationError("--volume \(volume) must be 0 or more") }
    }

    func run() throws {
        let url = URL(fileURLWithPath: input)
        if listSeries || series != nil {
            guard DICOM.isFolder(url) else { throw CLIError("\(input): --series and --list-series apply to a DICOM folder") }
        }
        if listSeries {
            let all: [DICOM.Series]
            do { all = try DICOM.series(in: url) } catch let e as DICOM.Failure { throw CLIError(e.message) }
            if all.isEmpty { throw CLIError("\(input): no DICOM series found") }
            for s in all { print("\(s.uid)  \(s.files) files") }
            return
        }
        let output = self.output!
        try VolumeIO.checkOutput(output, force: force)
        var v: Volume
        var dicom: DICOM.Info? = nil
        if DICOM.isFolder(url) {
            do { (v, dicom) = try DICOM.read(url, series: series) } catch let e as DICOM.Failure { throw CLIError(e.message) }
            try VolumeIO.checkOutput(Sidecar.path(for: output), force: force)
        } else {
            let options = NIfTIReadOptions(volumeIndex: volume, nonFinite: nonFinite, complex: magnitude ? .magnitude : .error)
            v = try VolumeIO.read(input, options: options).volume
        }
        try VolumeIO.requireScalar(v, input)
        if canonical { v = try v.canonical() }
        try NIfTI.write(v, to: URL(fileURLWithPath: output), options: NIfTIWriteOptions(dtype: dtype, overwrite: force))
        if let dicom {
            do {
                try Sidecar.write(DICOMRecord(tool: "upres \(UpresVersion.string)", command: "convert", input: input, output: output,
                                              SeriesInstanceUID: dicom.seriesUID, SeriesDescription: dicom.seriesDescription,
                                              Modality: dicom.modality, SliceThickness: dicom.sliceThickness, files: dicom.files,
                                              spacing: v.spacing),
                                  to: Sidecar.path(for: output), overwrite: force)
            } catch {
                try? FileManager.default.removeItem(atPath: output)
                throw error
            }
        }
        print("\(output): \(v.shape.map(String.init).joined(separator: "x")) \(dtype) \(v.orientation)")
    }
}

/// The sidecar of a DICOM conversion (BIDS-style names for the DICOM fields).
struct DICOMRecord: Codable {
    var tool: String
    var command: String
    var input: String
    var output: String
    var SeriesInstanceUID: String
    var SeriesDescription: String
    var Modality: String
    var SliceThickness: Double?
    var files: Int
    var spacing: [Double]
}
