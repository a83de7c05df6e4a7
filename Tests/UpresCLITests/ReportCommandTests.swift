import Foundation
import Testing

/// Runs a program from PATH and captures its output.
func runTool(_ arguments: [String], in directory: URL? = nil) throws -> CLIResult {
    try runProcess(URL(fileURLWithPath: "/usr/bin/env"), arguments, in: directory)
}

/// Debian's chromium (scripts/bootstrap installs it).
func chromium() throws -> String {
    for name in ["chromium", "chromium-browser", "google-chrome"] where (try? runTool(["which", name]))?.status == 0 { return name }
    throw CLIError("no chromium on PATH; scripts/bootstrap installs Debian's chromium")
}

struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Loads a page in headless Chromium: the number of images that decoded (the page's own count),
/// every console message, and a screenshot.
func loadInChromium(_ page: String, screenshot: String) throws -> (images: String?, imgTags: Int, console: [String]) {
    let browser = try chromium()
    let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"]
    let dom = try runTool([browser] + flags + ["--dump-dom", "file://" + page])
    #expect(dom.status == 0, "\(dom.stderr)")
    let console = dom.stderr.split(separator: "\n").filter { $0.contains(":CONSOLE") }.map(String.init)
    let images = dom.stdout.range(of: #"data-images="(\d+/\d+)""#, options: .regularExpression).map {
        String(dom.stdout[$0].dropFirst("data-images=\"".count).dropLast())
    }
    let html = try String(contentsOfFile: page, encoding: .utf8)
    let shot = try runTool([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1300,2400", "--screenshot=" + screenshot, "file://" + page])
    #expect(shot.status == 0 && FileManager.default.fileExists(atPath: screenshot), "\(shot.stderr)")
    return (images, html.components(separatedBy: "<img ").count - 1, console)
}

@Suite(.serialized) struct ReportCommandTests {
    /// A reconstruction with its sidecar, reference and mask: the page opens in Chromium with no
    /// console message, every image decodes, and the summary holds the metrics; the group page of
    /// two such summaries too. Bad inputs leave no file.
    @Test func reportsOpenInChromiumWithEveryImageDecoded() throws {
        let dir = try scratch()
        func path(_ n: String) -> String { dir.appendingPathComponent(n).path }
        #expect(try runUpres(["resample", colin, path("hr.nii.gz"), "--spacing", "2"]).status == 0)
        let brain = packageRoot.appendingPathComponent("data/samples/colin27/colin27_t1_1mm_brain.nii.gz").path
        #expect(try runUpres(["resample", brain, path("brain.nii.gz"), "--like", path("hr.nii.gz"), "--interp", "nearest"]).status == 0)
        #expect(try runUpres(["simulate", path("hr.nii.gz"), path("lr.nii.gz"), "--model", "slices", "--axis", "axial", "--thickness", "6", "--slice-spacing", "6"]).status == 0)
        for method in ["linear", "sinc"] {
            #expect(try runUpres(["upsample", path("lr.nii.gz"), path("\(method).nii.gz"), "--interp", method, "--spacing", "2"]).status == 0)
            let r = try runUpres(["report", path("\(method).nii.gz"), "-o", path("\(method).html"), "--reference", path("hr.nii.gz"), "--mask", path("brain.nii.gz")])
            #expect(r.status == 0, "\(r.stderr)")
        }
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("sinc.summary.json")))) as? [String: Any])
        let metrics = try #require(summary["metrics"] as? [String: Double])
        #expect(metrics["mask/psnr/upres"] != nil && metrics["mask/psnr/cubic"] != nil && metrics["head/ssim/gain"] != nil, "\(metrics.keys)")
        #expect(summary["page"] as? String == "sinc.html")
        let group = try runUpres(["report", "--group", path("linear.summary.json"), path("sinc.summary.json"), "-o", path("group.html")])
        #expect(group.status == 0, "\(group.stderr)")
        #expect(try String(contentsOfFile: path("group.html"), encoding: .utf8).contains("<a href=\"linear.html\">"))

        for page in ["sinc", "group"] {
            let loaded = try loadInChromium(path("\(page).html"), screenshot: path("\(page).png"))
            #expect(loaded.console.isEmpty, "console: \(loaded.console)")
            #expect(loaded.images == "\(loaded.imgTags)/\(loaded.imgTags)", "\(page): \(String(describing: loaded.images)) of \(loaded.imgTags)")
            #expect(page == "group" || loaded.imgTags == 6)
        }

        // Bad inputs: one message, no file.
        #expect(try runUpres(["resample", brain, path("empty.nii.gz"), "--like", path("hr.nii.gz"), "--interp", "nearest"]).status == 0)
        try Data("[1, 2]".utf8).write(to: URL(fileURLWithPath: path("bad-eval.json")))
        let cases: [([String], String)] = [
            ([path("sinc.nii.gz"), "-o", path("x.html"), "--reference", path("hr.nii.gz"), "--mask", path("lr.nii.gz"), "--no-baseline", "--baseline", path("hr.nii.gz")], "exclude each other"),
            ([path("sinc.nii.gz"), "-o", path("x.htm")], "expected a .html file name"),
            ([path("sinc.nii.gz"), "-o", path("sinc.html")], "already exists; pass --force"),
            ([path("sinc.nii.gz"), "-o", path("x.html"), "--evaluation", path("bad-eval.json")], "bad-eval.json: not the JSON that `upres evaluate --json` prints"),
            (["--group", path("sinc.nii.gz"), "-o", path("x.html")], "--group takes the subjects' summaries"),
            (["--group", path("bad-eval.json"), "-o", path("x.html")], "bad-eval.json: not a subject summary"),
            ([path("missing.nii.gz"), "-o", path("x.html")], "missing.nii.gz"),
        ]
        for (args, message) in cases {
            let r = try runUpres(["report"] + args)
            #expect(r.status != 0 && r.stderr.contains(message), "\(args): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: path("x.html")) && !FileManager.default.fileExists(atPath: path("x.summary.json")), "\(args) left a file")
        }
    }

    /// The BIDS app on a dataset made from the sample data: T1w thick-slice scans, one subject with
    /// two sessions, a subject whose 2 mm scan is not thick (left alone) beside a thick one, and a
    /// corrupt file. Derivatives for the good scans (pybids indexes them with their entities), a
    /// clear error for the corrupt one, a resumed run that redoes nothing, and two shards that
    /// equal one unsharded run.
    @Test func bidsAppRunsADatasetEndToEnd() throws {
        let dir = try scratch()
        let raw = dir.appendingPathComponent("raw")
        func path(_ n: String) -> String { raw.appendingPathComponent(n).path }
        for folder in ["sub-01/anat", "sub-02/ses-1/anat", "sub-02/ses-2/anat", "sub-03/anat", "sub-04/anat"] {
            try FileManager.default.createDirectory(at: raw.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        try Data(#"{"Name": "upres test", "BIDSVersion": "1.9.0"}"#.utf8).write(to: raw.appendingPathComponent("dataset_description.json"))
        let hr = dir.appendingPathComponent("hr.nii.gz").path
        #expect(try runUpres(["resample", colin, hr, "--spacing", "2"]).status == 0)
        let scans: [(String, String, String, String)] = [("sub-01/anat/sub-01_T1w.nii.gz", "axial", "6", "6"),
                                                        ("sub-02/ses-1/anat/sub-02_ses-1_T1w.nii.gz", "coronal", "4", "6"),
                                                        ("sub-02/ses-2/anat/sub-02_ses-2_T1w.nii.gz", "sagittal", "6", "6"),
                                                        ("sub-03/anat/sub-03_acq-thick_T1w.nii.gz", "axial", "4", "4")]
        for (file, axis, thickness, spacing) in scans {
            #expect(try runUpres(["simulate", hr, path(file), "--model", "slices", "--axis", axis, "--thickness", thickness, "--slice-spacing", spacing]).status == 0)
            try FileManager.default.removeItem(atPath: path(file).replacingOccurrences(of: ".nii.gz", with: ".json"))
        }
        try FileManager.default.copyItem(atPath: hr, toPath: path("sub-03/anat/sub-03_T1w.nii.gz"))
        try Data("not a NIfTI file".utf8).write(to: URL(fileURLWithPath: path("sub-04/anat/sub-04_T1w.nii.gz")))

        let out = dir.appendingPathComponent("derivatives").path
        let options = ["--", "--interp", "cubic", "--spacing", "2"]
        let first = try runUpres(["bids", raw.path, out, "participant"] + options)
        #expect(first.status == 1, "\(first.stderr)")
        #expect(first.stderr.contains("sub-04 T1w: FAILED: \(path("sub-04/anat/sub-04_T1w.nii.gz")): sizeof_hdr"), "\(first.stderr)")
        #expect(first.stderr.contains("sub-03 T1w: 2 x 2 x 2 mm voxels, not thick-slice; left as it is"), "\(first.stderr)")
        #expect(first.stderr.contains("4 reconstructed, 0 already done, 1 failed"), "\(first.stderr)")
        let derivatives = scans.map { $0.0.replacingOccurrences(of: "_T1w.nii.gz", with: "_desc-upres_T1w.nii.gz").replacingOccurrences(of: "acq-thick_desc", with: "acq-thick_desc") }
        for d in derivatives {
            #expect(FileManager.default.fileExists(atPath: "\(out)/\(d)"), "\(d)")
            let sidecar = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(out)/\(d)".replacingOccurrences(of: ".nii.gz", with: ".json")))) as? [String: Any])
            #expect((sidecar["Sources"] as? [String])?.first?.hasPrefix("bids:raw:sub-0") == true && sidecar["GeneratedBy"] != nil && sidecar["method"] as? String == "interp-cubic")
        }
        for subject in ["sub-01", "sub-02", "sub-03"] { #expect(FileManager.default.fileExists(atPath: "\(out)/\(subject).html")) }
        #expect(!FileManager.default.fileExists(atPath: "\(out)/sub-04.html") && !FileManager.default.fileExists(atPath: "\(out)/sub-03/anat/sub-03_desc-upres_T1w.nii.gz"))

        // pybids indexes the derivatives with their entities.
        let check = try runTool(["python3", packageRoot.appendingPathComponent("Tests/Fixtures/bids_entities.py").path, raw.path, out])
        #expect(check.status == 0, "pybids failed (run scripts/bootstrap): \(check.stderr)")
        let indexed = try #require(try JSONSerialization.jsonObject(with: Data(check.stdout.utf8)) as? [[String: String]])
        #expect(indexed.count == 4, "\(indexed)")
        #expect(indexed.contains { $0["subject"] == "02" && $0["session"] == "2" && $0["desc"] == "upres" && $0["suffix"] == "T1w" && $0["datatype"] == "anat" })
        #expect(indexed.contains { $0["subject"] == "03" && $0["acquisition"] == "thick" && $0["Sources"] == "bids:raw:sub-03/anat/sub-03_acq-thick_T1w.nii.gz" })

        // Resumed: nothing redone, the files untouched.
        let before = try FileManager.default.attributesOfItem(atPath: "\(out)/\(derivatives[0])")[.modificationDate] as? Date
        let again = try runUpres(["bids", raw.path, out, "participant"] + options)
        #expect(again.stderr.contains("0 reconstructed, 4 already done, 1 failed"), "\(again.stderr)")
        #expect(try FileManager.default.attributesOfItem(atPath: "\(out)/\(derivatives[0])")[.modificationDate] as? Date == before)

        // The group level.
        let group = try runUpres(["bids", raw.path, out, "group"])
        #expect(group.status == 0 && FileManager.default.fileExists(atPath: "\(out)/group_report.html"), "\(group.stderr)")
        let loaded = try loadInChromium("\(out)/sub-02.html", screenshot: dir.appendingPathComponent("sub-02.png").path)
        #expect(loaded.console.isEmpty && loaded.imgTags == 12 && loaded.images == "12/12", "\(loaded)")

        // Two shards equal one run.
        let sharded = dir.appendingPathComponent("sharded").path
        for shard in ["1/2", "2/2"] { _ = try runUpres(["bids", raw.path, sharded, "participant", "--shard", shard, "--no-report"] + options) }
        for d in derivatives {
            #expect(FileManager.default.contents(atPath: "\(sharded)/\(d)") == FileManager.default.contents(atPath: "\(out)/\(d)"), "\(d)")
        }
        let niftis = { (root: String) in (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).filter { $0.hasSuffix(".nii.gz") }.sorted() }
        #expect(niftis(sharded) == niftis(out) && niftis(out).count == 4)

        // Bad uses.
        let cases: [([String], String)] = [
            ([dir.path, out, "participant"], "not a BIDS dataset (no dataset_description.json)"),
            ([raw.path, out, "participant", "--shard", "3/2"], "--shard 3/2: expected I/N"),
            ([raw.path, out, "participant", "--participant-label", "09"], "--participant-label 09: no sub-09"),
            ([raw.path, out, "participant", "--", "--interp", "nearest"], "--interp nearest is not a reconstruction"),
            ([raw.path, dir.appendingPathComponent("empty").path, "group"], "no participant summaries"),
        ]
        for (args, message) in cases {
            let r = try runUpres(["bids"] + args)
            #expect(r.status != 0 && r.stderr.contains(message), "\(args): \(r.stderr)")
        }
    }
}
