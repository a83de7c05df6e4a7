import Foundation
import Testing
@testable import Imaging
import Torch

/// What nibabel 5.4.2 reads from each sample and corpus file (Tests/Fixtures/nifti/make_reference.py).
struct NibabelReference: @unchecked Sendable {
    let files: [String: [String: Any]]

    static let shared: NibabelReference? = {
        let url = fixturesRoot.appendingPathComponent("nifti/reference.json")
        guard let data = try? Data(contentsOf: url),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let files = json["files"] as? [String: [String: Any]] else { return nil }
        return NibabelReference(files: files)
    }()
}

@Suite struct NIfTIReferenceTests {
    static let names = NibabelReference.shared.map { Array($0.files.keys).sorted() } ?? []

    @Test func theReferenceCoversEverySampleFile() {
        #expect(Self.names.count == 13, "Tests/Fixtures/nifti/reference.json is missing or unreadable")
    }

    @Test(arguments: names)
    func readsAsNibabelReads(_ name: String) throws {
        let ref = try #require(NibabelReference.shared?.files[name])
        let url = try sample(name)
        let image = try NIfTI.read(url, options: NIfTIReadOptions(volumeIndex: (ref["shape"] as! [Int]).count > 3 ? 0 : nil))
        let v = image.volume
        let shape = ref["shape"] as! [Int]
        #expect(v.shape == Array(shape.prefix(3)), "\(name)")
        let affine = (ref["affine"] as! [[Double]]).flatMap { $0 }
        expectClose(v.affine.m, affine, rtol: 0, atol: 1e-5, "\(name) affine")
        #expect(v.orientation == ref["orientation"] as! String, "\(name)")
        #expect(v.metadata.qformCode == ref["qform_code"] as! Int)
        #expect(v.metadata.sformCode == ref["sform_code"] as! Int)
        let d = try v.data.to(.float64)
        let nan = try d.isNaN()
        #expect(try nan.sum().itemInt() == ref["nan_count"] as! Int, "\(name) NaN count")
        let finite = try d.maskedSelect(nan.logicalNot())
        expectClose([try finite.min().item(), try finite.max().item()], [ref["min"] as! Double, ref["max"] as! Double], rtol: 1e-6, "\(name) range")
        expectClose([try finite.mean().item()], [ref["mean"] as! Double], rtol: 1e-6, "\(name) mean")
        let indices = ref["indices"] as! [[Int]]
        let values = try indices.map { i in try d.select(0, i[0]).select(0, i[1]).select(0, i[2]).item() }
        let expected = (ref["values"] as! [Any]).map { ($0 as? Double) ?? .nan }
        expectClose(values, expected, rtol: 1e-6, atol: 1e-6, "\(name) voxels")
    }

    @Test func fourDimensionalFilesReadWhole() throws {
        let url = try sample("nibabel-corpus/functional.nii")
        let all = try NIfTI.readVolume(url)
        #expect(all.shape == [17, 21, 3, 20])
        let third = try NIfTI.readVolume(url, options: NIfTIReadOptions(volumeIndex: 2))
        #expect(try third.data.equal(all.data.select(3, 2)))
        #expect(throws: NIfTIError.self) { try NIfTI.readVolume(url, options: NIfTIReadOptions(volumeIndex: 20)) }
    }

    @Test func extensionsAreKept() throws {
        let image = try NIfTI.read(try sample("nibabel-corpus/example4d.nii.gz"), options: NIfTIReadOptions(volumeIndex: 0))
        let ext = image.volume.metadata.extensions
        #expect(ext.count == 2)
        #expect(ext.allSatisfy { $0.code == 6 })  // comments
        #expect(image.header.voxOffset == 416)
    }
}
