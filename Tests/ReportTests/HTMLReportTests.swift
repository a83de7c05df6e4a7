import Foundation
import Imaging
import Testing
@testable import Report
import Torch

@Suite struct HTMLReportTests {
    @Test func pagesEscapeTextAndCarryTheirImagesInline() throws {
        var page = HTMLPage(title: "a <b> & \"c\"")
        page.section("Slices")
        page.image(png: try PNG.encode(RasterImage(width: 2, height: 2, channels: 1, fill: [7])), alt: "x<y")
        page.table(header: ["k", "v"], rows: [["<script>", HTMLPage.Cell("1", cssClass: "num", link: "sub-01/report.html")]])
        let html = page.render(generator: "upres test")
        #expect(html.contains("<title>a &lt;b&gt; &amp; &quot;c&quot;</title>"))
        #expect(!html.contains("<script>alert") && html.contains("&lt;script&gt;"))
        #expect(html.contains("src=\"data:image/png;base64,iVBOR"))
        #expect(html.contains("<a href=\"#sec-slices\">Slices</a>") && html.contains("<h2 id=\"sec-slices\">"))
        #expect(html.contains("<a href=\"sub-01/report.html\">1</a>"))
        // Nothing from the network.
        #expect(!html.contains("http://") || html.components(separatedBy: "http://").dropFirst().allSatisfy { $0.hasPrefix("www.w3.org/2000/svg") })
        #expect(!html.contains("https://"))
    }

    @Test func modelCardsBecomeHTMLWithoutRawMarkup() {
        let md = """
            # Model card: thick-5-6-t1
            Trained on **MNI152** with `upres train`. <img src=x onerror=alert(1)>

            | split | PSNR |
            |---|---|
            | test | 31.2 |

            - first
            - [docs](https://example.org/a) and [bad](javascript:alert(1))
            1. one
            ```
            a < b
            ```
            """
        let html = Markdown.html(md)
        #expect(html.contains("<h3>Model card: thick-5-6-t1</h3>"))
        #expect(html.contains("<strong>MNI152</strong>") && html.contains("<code>upres train</code>"))
        #expect(html.contains("&lt;img src=x onerror=alert(1)&gt;") && !html.contains("<img"))
        #expect(html.contains("<thead><tr><th>split</th><th>PSNR</th></tr></thead><tbody><tr><td>test</td><td>31.2</td></tr></tbody>"))
        #expect(html.contains("<ul><li>first</li><li><a href=\"https://example.org/a\">docs</a> and [bad](javascript:alert(1))</li></ul>"))
        #expect(html.contains("<ol><li>one</li></ol>") && html.contains("<pre>a &lt; b</pre>"))
    }

    /// Quartiles as numpy's default (linear) percentile gives them; Tukey's fences.
    @Test func outliersAreOutsideTukeysFences() throws {
        let v = [1.0, 2, 3, 4, 100]
        let q = try #require(Robust.quartiles(v.sorted()))
        #expect(q.q1 == 2 && q.median == 3 && q.q3 == 4)  // numpy.percentile([1,2,3,4,100], [25,50,75])
        #expect(Robust.outsideFences(v) == [4])
        #expect(Robust.outsideFences([1.0, 2, .nan, 3, 4]).isEmpty)
        let q2 = try #require(Robust.quartiles([0.5, 1.5, 2.5, 10]))
        #expect(Swift.abs(q2.q1 - 1.25) < 1e-12 && q2.median == 2 && Swift.abs(q2.q3 - 4.375) < 1e-12)
    }

    /// A reconstruction closer to the reference than its baseline: the summary's figures are the
    /// library's metrics, the gains their differences, the per-slice PSNR the direct computation,
    /// and the acquired slices sit where the input's slices are. A worse one gets a warning.
    @Test func subjectReportFiguresAreTheMetrics() throws {
        try manualSeed(3)
        let affine = Affine.scaling([1, 1, 1])
        let ref = try Tensor.rand([24, 20, 30], dtype: .float64) * 100
        let good = try ref + Tensor.randn([24, 20, 30], dtype: .float64) * 2
        let bad = try ref + Tensor.randn([24, 20, 30], dtype: .float64) * 8
        // The input: 5 mm slices along axis 2, centred on the fine slices 2, 7, 12, ...
        let input = Volume(data: try ref.indexSelect(2, Tensor([2, 7, 12, 17, 22, 27] as [Int64])), affine: Affine.scaling([1, 1, 5], translation: [0, 0, 2]))
        var m = [Double](repeating: 0, count: 24 * 20 * 30)
        for i in 4..<20 { for j in 3..<17 { for k in 0..<30 { m[(i * 20 + j) * 30 + k] = 1 } } }
        let maskVolume = Volume(data: try Tensor(m, shape: [24, 20, 30]), affine: affine)
        var inputs = SubjectReport.Inputs(subject: "sub-01", reconstruction: Volume(data: good, affine: affine), reconstructionPath: "sr.nii.gz")
        inputs.reference = Volume(data: ref, affine: affine)
        inputs.referencePath = "hr.nii.gz"
        inputs.baseline = Volume(data: bad, affine: affine)
        inputs.input = input
        inputs.mask = maskVolume
        let (page, summary) = try SubjectReport(inputs).build(page: "report.html")
        let maskT = try maskVolume.data.ne(.double(0))
        #expect(summary.metrics["head/psnr/upres"] == (try FullReference.psnr(good, ref)))
        #expect(summary.metrics["mask/psnr/cubic"] == (try FullReference.psnr(bad, ref, mask: maskT)))
        #expect(summary.metrics["mask/mae/upres"] == (try FullReference.mae(good, ref, mask: maskT)))
        #expect(summary.metrics["head/ssim/upres"] == (try SSIM().compare(good, ref, dims: 3).mean))
        let gain = try #require(summary.metrics["mask/psnr/gain"])
        #expect(gain > 5 && Swift.abs(gain - (summary.metrics["mask/psnr/upres"]! - summary.metrics["mask/psnr/cubic"]!)) < 1e-12)
        #expect(summary.warnings.isEmpty, "\(summary.warnings)")
        let html = page.render(generator: "t")
        #expect(html.contains("PSNR per slice") && html.contains("<h2 id=\"sec-warnings\">Warnings</h2>"))
        #expect(html.components(separatedBy: "<img ").count - 1 == 6)  // 3 planes of slices, 3 of differences

        // Per-slice PSNR: slice 7 along axis 2 inside the mask, by hand.
        let range = try ref.max().item() - ref.min().item()
        let perSlice = try SubjectReport.perSlicePSNR(good, ref, axis: 2, mask: maskT, range: range)
        let d = try (good - ref).select(2, 7), ms = try maskVolume.data.select(2, 7)
        let mse = try ((d * d) * ms).sum().item() / ms.sum().item()
        #expect(Swift.abs(perSlice[7] - 10 * Foundation.log10(range * range / mse)) < 1e-9)
        #expect(try SubjectReport.sliceAxis(input: input, on: inputs.reference!) == 2)
        #expect(try SubjectReport.acquiredSlices(input, on: inputs.reference!, axis: 2) == [2, 7, 12, 17, 22, 27])
        // An input degraded in-plane (2 x 2 x 1 mm, restored by an in-plane model): its slices run
        // along its finest axis, and every reconstructed slice is an acquired one (no marks).
        let blurred = Volume(data: try ref.narrow(0, start: 0, length: 12).narrow(1, start: 0, length: 10), affine: Affine.scaling([2, 2, 1]))
        #expect(SubjectReport.inputSlices(blurred) == (2, true) && SubjectReport.inputSlices(input) == (2, false))
        #expect(try SubjectReport.sliceAxis(input: blurred, on: inputs.reference!) == 2)
        #expect(try SubjectReport.acquiredSlices(blurred, on: inputs.reference!, axis: 2).isEmpty)
        var inPlaneInputs = inputs
        inPlaneInputs.input = blurred
        let inPlanePage = try SubjectReport(inPlaneInputs).build(page: "report.html").page.render(generator: "t")
        #expect(html.contains("acquired slice<") && inPlanePage.contains("each was restored in-plane") && !inPlanePage.contains("acquired slice<"))

        // Reconstruction and baseline swapped: the report says the reconstruction lost.
        inputs.reconstruction = Volume(data: bad, affine: affine)
        inputs.baseline = Volume(data: good, affine: affine)
        let worse = try SubjectReport(inputs).build(page: "report.html").summary
        #expect(worse.warnings.contains { $0.contains("PSNR") && $0.contains("is below cubic's") }, "\(worse.warnings)")

        // An empty mask is an error naming it.
        inputs.mask = Volume(data: try Tensor.zeros([24, 20, 30]), affine: affine)
        inputs.maskPath = "brain.nii.gz"
        #expect(throws: ReportError.invalidInput("brain.nii.gz: the mask has no voxel inside the reference's grid")) {
            try SubjectReport(inputs).build(page: "report.html")
        }
    }

    @Test func groupReportsFlagTheOutlierSubject() throws {
        let subjects = (1...6).map { i -> GroupReport.Subject in
            let gain = i == 4 ? -3.0 : 1.0 + Double(i) * 0.1
            let s = SubjectReport.Summary(subject: "sub-0\(i)", page: "report.html", reconstruction: "sr\(i).nii.gz", reference: "hr.nii.gz",
                                          method: "self-supervised", model: nil, seconds: 10,
                                          metrics: ["mask/psnr/upres": 30 + gain, "mask/psnr/cubic": 30, "mask/psnr/gain": gain],
                                          warnings: i == 2 ? ["something"] : [])
            return GroupReport.Subject(summary: s, link: "sub-0\(i)/report.html")
        }
        let report = GroupReport(title: "group", subjects: subjects)
        let flagged = report.outliers()
        #expect(flagged["mask/psnr/gain"] == [3] && flagged["mask/psnr/upres"] == [3])
        let html = report.build().render(generator: "t")
        #expect(html.contains("<a href=\"sub-04/report.html\">sub-04</a>"))
        #expect(html.contains("sub-04: mask psnr gain = -3.000 is outside the fences"))
        #expect(html.contains("sub-02: something"))
        // Too few subjects: nothing flagged.
        #expect(GroupReport(title: "g", subjects: Array(subjects.prefix(3))).outliers().isEmpty)
    }
}
