import Foundation

/// The part of Markdown that model cards use, as HTML: headings, paragraphs, bullet and numbered
/// lists, pipe tables, fenced code, and inline `code`, **bold** and [links](url). Everything is
/// escaped first; no raw HTML passes through.
public enum Markdown {
    public static func html(_ text: String) -> String {
        var out: [String] = []
        var paragraph: [String] = []
        var list: (ordered: Bool, items: [String])? = nil
        var table: [[String]] = []
        var code: [String]? = nil

        func flushParagraph() {
            if !paragraph.isEmpty { out.append("<p>" + inline(paragraph.joined(separator: " ")) + "</p>") }
            paragraph = []
        }
        func flushList() {
            if let l = list {
                let tag = l.ordered ? "ol" : "ul"
                out.append("<\(tag)>" + l.items.map { "<li>\(inline($0))</li>" }.joined() + "</\(tag)>")
            }
            list = nil
        }
        func flushTable() {
            guard !table.isEmpty else { return }
            let rows = table.filter { !$0.allSatisfy { $0.allSatisfy { "-: ".contains($0) } && !$0.isEmpty } }
            var html = "<table>"
            if let head = rows.first { html += "<thead><tr>" + head.map { "<th>\(inline($0))</th>" }.joined() + "</tr></thead>" }
            html += "<tbody>" + rows.dropFirst().map { "<tr>" + $0.map { "<td>\(inline($0))</td>" }.joined() + "</tr>" }.joined() + "</tbody></table>"
            out.append(html)
            table = []
        }
        func flushAll() { flushParagraph(); flushList(); flushTable() }

        for raw in text.components(separatedBy: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if code != nil {
                if line.hasPrefix("```") {
                    out.append("<pre>" + HTMLPage.escape(code!.joined(separator: "\n")) + "</pre>")
                    code = nil
                } else {
                    code!.append(raw)
                }
                continue
            }
            if line.hasPrefix("```") { flushAll(); code = []; continue }
            if line.isEmpty { flushAll(); continue }
            if let level = heading(line) {
                flushAll()
                let h = Swift.min(6, level + 2)  // the page has h1 and h2 already
                out.append("<h\(h)>\(inline(String(line.dropFirst(level)).trimmingCharacters(in: .whitespaces)))</h\(h)>")
                continue
            }
            if line.hasPrefix("|") {
                flushParagraph(); flushList()
                var cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
                if cells.first == "" { cells.removeFirst() }
                if cells.last == "" { cells.removeLast() }
                table.append(cells)
                continue
            }
            if let item = bullet(line) {
                flushParagraph(); flushTable()
                if list?.ordered != item.ordered { flushList(); list = (item.ordered, []) }
                list!.items.append(item.text)
                continue
            }
            if list != nil && raw.hasPrefix("  ") {  // a continuation of the last item
                list!.items[list!.items.count - 1] += " " + line
                continue
            }
            flushList(); flushTable()
            paragraph.append(line)
        }
        if let code { out.append("<pre>" + HTMLPage.escape(code.joined(separator: "\n")) + "</pre>") }
        flushAll()
        return out.joined(separator: "\n")
    }

    static func heading(_ line: String) -> Int? {
        let hashes = line.prefix { $0 == "#" }.count
        return (1...6).contains(hashes) && line.dropFirst(hashes).first == " " ? hashes : nil
    }

    static func bullet(_ line: String) -> (ordered: Bool, text: String)? {
        if line.hasPrefix("- ") || line.hasPrefix("* ") { return (false, String(line.dropFirst(2))) }
        let digits = line.prefix { $0.isNumber }
        if !digits.isEmpty, line.dropFirst(digits.count).hasPrefix(". ") { return (true, String(line.dropFirst(digits.count + 2))) }
        return nil
    }

    /// Inline code, bold and links in escaped text.
    static func inline(_ text: String) -> String {
        var out = ""
        var rest = Substring(text)
        while let tick = rest.firstIndex(of: "`") {
            out += emphasis(String(rest[..<tick]))
            let after = rest[rest.index(after: tick)...]
            guard let end = after.firstIndex(of: "`") else { out += emphasis(String(rest[tick...])); return out }
            out += "<code>" + HTMLPage.escape(String(after[..<end])) + "</code>"
            rest = after[after.index(after: end)...]
        }
        return out + emphasis(String(rest))
    }

    static func emphasis(_ text: String) -> String {
        var s = HTMLPage.escape(text)
        // **bold**
        while let a = s.range(of: "**"), let b = s.range(of: "**", range: a.upperBound..<s.endIndex) {
            s = s.replacingCharacters(in: a.lowerBound..<b.upperBound, with: "<strong>" + s[a.upperBound..<b.lowerBound] + "</strong>")
        }
        // [text](url): only http(s) and relative links.
        var out = "", rest = Substring(s)
        while let open = rest.range(of: "["), let mid = rest.range(of: "](", range: open.upperBound..<rest.endIndex),
              let close = rest.range(of: ")", range: mid.upperBound..<rest.endIndex) {
            let url = String(rest[mid.upperBound..<close.lowerBound])
            out += rest[..<open.lowerBound]
            if url.hasPrefix("javascript:") || url.contains(" ") {
                out += rest[open.lowerBound..<close.upperBound]
            } else {
                out += "<a href=\"\(url)\">\(rest[open.upperBound..<mid.lowerBound])</a>"
            }
            rest = rest[close.upperBound...]
        }
        return out + rest
    }
}
