import CITK
import Foundation
import Torch

/// DICOM series (GDCM through ITK): a folder of files becomes a volume with its geometry.
///
/// Slices are ordered by their position along the slice normal (ImagePositionPatient projected on
/// the cross product of ImageOrientationPatient's cosines); the spacing between slices comes from
/// those positions, never from SliceThickness, which is kept apart as the acquired thickness (a
/// 5 mm slice every 6 mm has SliceThickness 5 and a spacing of 6). A folder with several series,
/// a gantry-tilted stack and a stack with uneven gaps are refused with their reason.
public enum DICOM {
    public struct Series: Equatable, Sendable {
        public var uid: String
        public var files: Int
    }

    public struct Info: Codable, Equatable, Sendable {
        public var seriesUID: String
        public var files: Int
        /// SliceThickness (0018,0050) in mm; nil when absent.
        public var sliceThickness: Double?
        public var seriesDescription: String
        public var modality: String
        /// The angle between the slice normal and the line through the slice positions.
        public var tiltDegrees: Double
        /// The largest minus the smallest distance between consecutive slices, mm.
        public var spacingSpread: Double
    }

    public struct Failure: Error, LocalizedError, Equatable {
        public let message: String
        public var errorDescription: String? { message }
    }

    /// The largest gantry tilt accepted, in degrees.
    public static let maximumTilt = 0.1

    /// Whether `url` is a folder (the form a DICOM series takes here).
    public static func isFolder(_ url: URL) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &d) && d.boolValue
    }

    /// The series in a folder (its files only, not its subfolders), sorted by UID.
    public static func series(in folder: URL) throws -> [Series] {
        var uids: UnsafeMutablePointer<CChar>? = nil
        var counts: UnsafeMutablePointer<Int64>? = nil
        var n: Int32 = 0
        guard citk_dicom_series(folder.path, &uids, &counts, &n) == 0 else {
            throw Failure(message: "\(folder.path): \(String(cString: citk_last_error()))")
        }
        defer {
            citk_free(uids)
            citk_free(counts)
        }
        var out: [Series] = []
        var p = uids!
        for i in 0..<Int(n) {
            let uid = String(cString: p)
            out.append(Series(uid: uid, files: Int(counts![i])))
            p += uid.utf8.count + 1
        }
        return out
    }

    /// Reads one series of a folder: `uid`, or the only one there.
    public static func read(_ folder: URL, series uid: String? = nil) throws -> (volume: Volume, info: Info) {
        guard isFolder(folder) else { throw Failure(message: "\(folder.path): not a folder of DICOM files") }
        let all = try series(in: folder)
        guard !all.isEmpty else { throw Failure(message: "\(folder.path): no DICOM series found (a folder of DICOM files is expected)") }
        let chosen: Series
        if let uid {
            guard let s = all.first(where: { $0.uid == uid }) else {
                throw Failure(message: "\(folder.path): no series \(uid) (series: \(all.map(\.uid).joined(separator: ", ")))")
            }
            chosen = s
        } else {
            guard all.count == 1 else {
                throw Failure(message: "\(folder.path): \(all.count) series are mixed in this folder (\(all.map { "\($0.uid): \($0.files) files" }.joined(separator: "; "))); convert one with `upres convert FOLDER OUT.nii.gz --series UID`")
            }
            chosen = all[0]
        }
        var data: UnsafeMutablePointer<Float>? = nil
        var g = citk_geometry()
        var thickness = 0.0, tilt = 0.0, spread = 0.0
        var description = [CChar](repeating: 0, count: 256), modality = [CChar](repeating: 0, count: 16)
        guard citk_dicom_read(folder.path, chosen.uid, &data, &g, &thickness, &tilt, &spread, &description, &modality) == 0 else {
            throw Failure(message: "\(folder.path): \(String(cString: citk_last_error()))")
        }
        defer { citk_free(data) }
        let count = Int(g.size.0 * g.size.1 * g.size.2)
        let values = Array(UnsafeBufferPointer(start: data, count: count))
        let info = Info(seriesUID: chosen.uid, files: chosen.files, sliceThickness: thickness > 0 ? thickness : nil,
                        seriesDescription: String(cString: description), modality: String(cString: modality),
                        tiltDegrees: tilt, spacingSpread: spread)
        guard tilt <= maximumTilt else {
            throw Failure(message: String(format: "%@: the slices are stacked at %.2f degrees from their normal (gantry tilt); upres reads orthogonal stacks only (dcm2niix corrects tilt)", folder.path, tilt))
        }
        let spacing = withUnsafeBytes(of: g.spacing) { Array($0.bindMemory(to: Double.self)) }
        guard spread <= Swift.max(0.01, 0.01 * spacing[2]) else {
            throw Failure(message: String(format: "%@: the distance between slices varies by %.3g mm (missing slices or a mixed series?)", folder.path, spread))
        }
        var meta = VolumeMetadata()
        meta.sourcePath = folder.path
        meta.sourceDType = "dicom"
        meta.description = String(info.seriesDescription.prefix(80))
        meta.sliceThickness = info.sliceThickness
        meta.qformCode = 1
        meta.sformCode = 1
        var volume = try ITKBridge.volume(values, geometry: g, metadata: meta)
        if g.size.2 == 1, let t = info.sliceThickness {
            // One slice: its extent along the normal is its thickness (as dcm2niix writes it).
            var a = volume.affine
            let s = spacing[2]
            for r in 0..<3 { a.m[r * 4 + 2] *= t / s }
            volume.affine = a
        }
        return (volume, info)
    }
}
