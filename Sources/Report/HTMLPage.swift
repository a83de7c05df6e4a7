import Foundation

/// A self-contained HTML page, the form every upres report takes: inline CSS, images as PNG data
/// URIs, plots as inline SVG, no script or font from the network, so that it opens from disk, can
/// be mailed, and stays readable in ten years.
///
/// One small inline script counts the images that decoded and writes the count to the body's
/// `data-images` attribute ("decoded/total"); when one fails it shows a banner. It writes nothing to
/// the console, so a console message while loading a report is a bug (the tests check both).
public struct HTMLPage: Sendable {
    /// A table cell: text, a CSS class (`num`, `good`, `bad`, `flag`) and an optional link.
    public struct Cell: Sendable, ExpressibleByStringLiteral {
        public var text: String
        public var cssClass: String?
        public var link: String?
        public init(_ text: String, cssClass: String? = nil, link: String? = nil) {
            self.text = text
            self.cssClass = cssClass
            self.link = link
        }
        public init(stringLiteral value: String) { self.init(value) }
    }

    public var title: String
    var parts: [String] = []
    var contents: [(id: String, title: String)] = []

    public init(title: String) { self.title = title }

    /// A section heading, listed in the page's table of contents unless `listed` is false.
    public mutating func section(_ text: String, listed: Bool = true) {
        var id = "sec-" + String(text.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" })
        if contents.contains(where: { $0.id == id }) || parts.contains(where: { $0.hasPrefix("<h2 id=\"\(id)\"") }) { id += "-\(parts.count + 1)" }
        if listed { contents.append((id, text)) }
        parts.append("<h2 id=\"\(id)\">\(Self.escape(text))</h2>")
    }

    /// Another page's sections after this one's.
    public mutating func append(_ other: HTMLPage) {
        for c in other.contents where !contents.contains(where: { $0.id == c.id }) { contents.append(c) }
        parts += other.parts
    }

    public mutating func subheading(_ text: String) { parts.append("<h3>\(Self.escape(text))</h3>") }

    public mutating func paragraph(_ text: String, cssClass: String? = nil) {
        parts.append("<p\(cssClass.map { " class=\"\($0)\"" } ?? "")>\(Self.escape(text))</p>")
    }

    /// A list of warnings in a highlighted box; "no warnings" when empty.
    public mutating func warnings(_ items: [String]) {
        guard !items.isEmpty else {
            parts.append("<p class=\"ok\">No warnings.</p>")
            return
        }
        parts.append("<ul class=\"warnings\">" + items.map { "<li>\(Self.escape($0))</li>" }.joined() + "</ul>")
    }

    /// A PNG, inline.
    public mutating func image(png: Data, alt: String, caption: String? = nil) {
        var html = "<figure><img alt=\"\(Self.escape(alt))\" src=\"data:image/png;base64,\(png.base64EncodedString())\">"
        if let caption { html += "<figcaption>\(Self.escape(caption))</figcaption>" }
        parts.append(html + "</figure>")
    }

    /// An SVG drawing, inline.
    public mutating func svg(_ svg: String, caption: String? = nil) {
        parts.append("<figure>\(svg)\(caption.map { "<figcaption>\(Self.escape($0))</figcaption>" } ?? "")</figure>")
    }

    /// A table; without a header, a two-column list of names and values.
    public mutating func table(header: [String]? = nil, rows: [[Cell]], caption: String? = nil) {
        var html = "<table>"
        if let caption { html += "<caption>\(Self.escape(caption))</caption>" }
        if let header { html += "<thead><tr>" + header.map { "<th>\(Self.escape($0))</th>" }.joined() + "</tr></thead>" }
        html += "<tbody>"
        for row in rows {
            html += "<tr>" + row.map { c in
                let text = c.link.map { "<a href=\"\(Self.escape($0))\">\(Self.escape(c.text))</a>" } ?? Self.escape(c.text)
                return "<td\(c.cssClass.map { " class=\"\($0)\"" } ?? "")>\(text)</td>"
            }.joined() + "</tr>"
        }
        parts.append(html + "</tbody></table>")
    }

    /// Text shown as is (JSON, logs), folded under a summary line unless `open`.
    public mutating func preformatted(_ text: String, summary: String, open: Bool = false) {
        parts.append("<details\(open ? " open" : "")><summary>\(Self.escape(summary))</summary><pre>\(Self.escape(text))</pre></details>")
    }

    /// Already-formed HTML (from `Markdown.html`, for example), folded under a summary line.
    public mutating func folded(html: String, summary: String, open: Bool = false) {
        parts.append("<details\(open ? " open" : "")><summary>\(Self.escape(summary))</summary><div class=\"card\">\(html)</div></details>")
    }

    /// The whole page.
    public func render(generator: String) -> String {
        let toc = contents.isEmpty ? "" : "<nav>" + contents.map { "<a href=\"#\($0.id)\">\(Self.escape($0.title))</a>" }.joined(separator: " · ") + "</nav>"
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="generator" content="\(Self.escape(generator))">
            <title>\(Self.escape(title))</title>
            <style>\(Self.css)</style></head>
            <body>
            <header><h1>\(Self.escape(title))</h1>\(toc)</header>
            <div id="image-check" class="warnings" hidden></div>
            <main>
            \(parts.joined(separator: "\n"))
            </main>
            <footer>\(Self.escape(generator))</footer>
            <script>\(Self.imageCheck)</script>
            </body></html>

            """
    }

    /// Writes the page atomically (refuses an existing file unless `overwrite`).
    public func write(to url: URL, generator: String, overwrite: Bool = false) throws {
        if !overwrite && FileManager.default.fileExists(atPath: url.path) { throw ReportError.exists(path: url.path) }
        do { try Data(render(generator: generator).utf8).write(to: url, options: .atomic) } catch {
            throw ReportError.cannotWrite(path: url.path, reason: "\(error)")
        }
    }

    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(ch)
            }
        }
        return out
    }

    static let css = """
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
        header{background:#1f2a44;color:#fff;padding:14px 24px}header h1{margin:0 0 6px;font-size:20px}
        nav a{color:#cfe0ff;text-decoration:none;font-size:13px}main{padding:8px 24px 24px;max-width:1500px}
        h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:28px;font-size:17px}h3{font-size:15px;margin:18px 0 6px}
        figure{margin:10px 0}figure img{max-width:100%;image-rendering:pixelated;border:1px solid #ccc;background:#000}
        figure svg{max-width:100%;height:auto;background:#fff;border:1px solid #ddd}
        figcaption{color:#555;font-size:12px;margin-top:3px}
        table{border-collapse:collapse;margin:8px 0;background:#fff;font-size:13px}caption{text-align:left;color:#555;padding:4px 0}
        th,td{border:1px solid #ddd;padding:3px 8px;text-align:left}th{background:#eef1f6}
        td.num{text-align:right;font-variant-numeric:tabular-nums}td.good{background:#e3f5e1}td.bad{background:#fde2e1}
        td.flag{background:#fde2e1;font-weight:600}
        ul.warnings,div.warnings{background:#fff4e5;border:1px solid #f0b429;padding:8px 8px 8px 28px;border-radius:4px}
        div.warnings{padding-left:12px}p.ok{color:#2d7a2d}
        details{margin:8px 0}summary{cursor:pointer;color:#1f4e99}pre{background:#f1f1f1;padding:8px;overflow:auto;font-size:12px;max-height:480px}
        .card{background:#fff;border:1px solid #ddd;padding:4px 14px}footer{color:#777;font-size:12px;padding:12px 24px}
        """

    /// Counts decoded images; shows a banner when one failed. Writes nothing to the console.
    static let imageCheck = """
        window.addEventListener("load",function(){var i=Array.prototype.slice.call(document.images);\
        var ok=i.filter(function(x){return x.complete&&x.naturalWidth>0}).length;\
        document.body.setAttribute("data-images",ok+"/"+i.length);\
        if(ok<i.length){var b=document.getElementById("image-check");b.hidden=false;\
        b.textContent=(i.length-ok)+" of "+i.length+" images in this report failed to decode.";}});
        """
}
