import Foundation
import Testing

/// Tissue segmentation against MNI152's own tissue maps (thresholded at 0.5), on MNI152 and on a
/// copy with a +-40% bias field, at 2 mm to keep the suite fast. At 1 mm (bench): GM Dice 0.874 and
/// WM 0.933 on MNI152, 0.874 and 0.929 on the biased copy (0.865 and 0.897 without N4).
@Suite(.serialized) struct SegmentCommandTests {
    let mni = packageRoot.appendingPathComponent("data/samples/mni152")

    func dice(_ a: String, label: Int, _ reference: String, threshold: Double) throws -> Double {
        // Through upres evaluate's segmentation agreement: the labels against the map thresholded.
        let dir = try scratch()
        let binary = dir.appendingPathComponent("ref.nii.gz").path
        let r = try runTool(["python3", "-c", """
            import nibabel as nb, numpy as np, sys
            m = nb.load(sys.argv[1]); d = m.get_fdata() / 255.0 > \(threshold)
            nb.save(nb.Nifti1Image(d.astype(np.uint8) * \(label), m.affine), sys.argv[2])
            """, reference, binary])
        #expect(r.status == 0, "\(r.stderr)")
        let e = try runUpres(["evaluate", "--reference", a, "--test", a, "--segmentation", binary, "--test-segmentation", a, "--metrics", "segmentation", "--json"])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(e.stdout.utf8)) as? [[String: Any]], "\(e.stderr)")
        let metrics = try #require(rows.last?["metrics"] as? [String: [String: Any]])
        return try #require(metrics["seg \(label)"]?["dice"] as? Double, "\(metrics.keys)")
    }

    @Test(arguments: [false, true])
    func tissuesAgreeWithTheAtlasMaps(biased: Bool) throws {
        let dir = try scratch()
        let t1 = dir.appendingPathComponent("t1.nii.gz").path
        #expect(try runUpres(["resample", mni.appendingPathComponent("mni152_2009a_t1_1mm.nii.gz").path, t1, "--spacing", "2"]).status == 0)
        var input = t1
        if biased {
            input = dir.appendingPathComponent("biased.nii.gz").path
            #expect(try runUpres(["simulate", t1, input, "--model", "slices", "--axis", "axial", "--thickness", "2", "--slice-spacing", "2", "--bias", "0.4", "--seed", "3"]).status == 0)
        }
        let out = dir.appendingPathComponent("seg").path
        let r = try runUpres(["segment", input, out])
        #expect(r.status == 0, "\(r.stderr)")
        for name in ["csf", "gm", "wm", "labels", "mask"] { #expect(FileManager.default.fileExists(atPath: "\(out)/\(name).nii.gz")) }
        let labels = "\(out)/labels.nii.gz"
        for (label, map) in [(2, "gm"), (3, "wm")] {
            let reference = dir.appendingPathComponent("\(map)-2mm.nii.gz").path
            #expect(try runUpres(["resample", mni.appendingPathComponent("mni152_2009a_\(map)_1mm.nii.gz").path, reference, "--like", t1]).status == 0)
            let d = try dice(labels, label: label, reference, threshold: 0.5)
            #expect(d >= 0.85, "\(map) Dice \(d) (biased: \(biased))")
        }
    }

    @Test func badInputsGetOneMessage() throws {
        let dir = try scratch()
        let t1 = dir.appendingPathComponent("t1.nii.gz").path
        #expect(try runUpres(["resample", mni.appendingPathComponent("mni152_2009a_t1_1mm.nii.gz").path, t1, "--spacing", "4"]).status == 0)
        let other = dir.appendingPathComponent("other.nii.gz").path
        #expect(try runUpres(["resample", t1, other, "--spacing", "5"]).status == 0)
        let empty = dir.appendingPathComponent("empty.nii.gz").path
        #expect(try runTool(["python3", "-c", "import nibabel as nb, numpy as np, sys; m = nb.load(sys.argv[1]); nb.save(nb.Nifti1Image(np.zeros(m.shape, np.uint8), m.affine), sys.argv[2])", t1, empty]).status == 0)
        let cases: [([String], String)] = [
            ([t1, other, dir.appendingPathComponent("a").path], "not on \(t1)'s grid"),
            ([t1, dir.appendingPathComponent("b").path, "--mask", empty], "the mask is empty"),
            ([t1, dir.appendingPathComponent("c").path, "--wmh"], "--wmh needs a FLAIR"),
            ([t1, dir.appendingPathComponent("d").path, "--contrasts", "T1w", "T2w"], "--contrasts names 2 contrasts for 1 scans"),
        ]
        for (args, message) in cases {
            let r = try runUpres(["segment"] + args)
            #expect(r.status != 0 && r.stderr.contains(message), "\(args): \(r.stderr)")
        }
        for f in ["a", "b", "c", "d"] { #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path)) }
    }
}

@Suite struct PreprocessCommandTests {
    /// Seed 004's chain on a biased MNI152 at 3 mm registered to Colin 27: every step recorded, the
    /// output on the reference's grid, 0..1 inside the brain (clipped min-max), the mask beside it.
    @Test func theChainRunsAndRecordsEveryStep() throws {
        let dir = try scratch()
        func path(_ n: String) -> String { dir.appendingPathComponent(n).path }
        let mni = packageRoot.appendingPathComponent("data/samples/mni152/mni152_2009a_t1_1mm.nii.gz").path
        #expect(try runUpres(["resample", mni, path("mni3.nii.gz"), "--spacing", "3"]).status == 0)
        #expect(try runUpres(["simulate", path("mni3.nii.gz"), path("biased.nii.gz"), "--model", "slices", "--axis", "axial", "--thickness", "3",
                              "--slice-spacing", "3", "--bias", "0.3", "--seed", "2"]).status == 0)
        #expect(try runUpres(["resample", colin, path("colin3.nii.gz"), "--spacing", "3"]).status == 0)
        let r = try runUpres(["preprocess", path("biased.nii.gz"), path("pre.nii.gz"), "--reference", path("colin3.nii.gz"), "--skull-strip"])
        #expect(r.status == 0, "\(r.stderr)")
        let sidecar = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("pre.json")))) as? [String: Any])
        let steps = (sidecar["steps"] as? [[String: Any]])?.compactMap { $0["step"] as? String }
        #expect(steps == ["n4", "brain-mask", "n4-in-mask", "register", "normalize"])
        #expect((sidecar["normalization"] as? [String: Any])?["method"] as? String == "clipped-min-max" && sidecar["transform"] != nil)
        let info = try runUpres(["info", path("pre.nii.gz"), path("colin3.nii.gz"), path("pre_mask.nii.gz"), "--json"])
        let files = try #require(try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [[String: Any]])
        #expect(files[0]["shape"] as? [Int] == files[1]["shape"] as? [Int] && files[2]["shape"] as? [Int] == files[1]["shape"] as? [Int])
        let bad = try runUpres(["preprocess", path("biased.nii.gz"), path("x.nii.gz"), "--affine"])
        #expect(bad.status != 0 && bad.stderr.contains("--affine applies to the registration to --reference"))
    }
}
