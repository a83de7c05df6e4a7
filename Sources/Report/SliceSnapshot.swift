import Imaging
import Torch

/// Side-by-side slices of several volumes at the same world position, with one intensity window:
/// the picture `upres snapshot` writes and every later report reuses.
///
/// The display plane comes from the `gridPanel` volume (the first by default) in canonical (RAS+) orientation; its pixels are
/// as fine as the finest voxel among the volumes, and each volume is sampled at the pixels' world
/// positions (nearest by default, so thick slices show as the blocks they are). Images are shown
/// in neurological convention: the subject's right on the right, superior (or anterior) up.
public struct SliceSnapshot {
    public struct Panel {
        public var volume: Volume
        public var label: String
        public init(volume: Volume, label: String) {
            self.volume = volume
            self.label = label
        }
    }

    public var panels: [Panel]
    public var plane: Plane = .axial
    /// The slice index along the plane's axis of the `gridPanel` volume (canonical); nil: the middle.
    public var slice: Int?
    /// Intensity window; nil: the 1st and 99th percentiles of all panels together.
    public var window: (Double, Double)?
    public var interpolation: Interpolation = .nearest
    public var colormap: Colormap = .gray
    /// The panel whose grid sets the plane, the slice index and the pixel layout (default the first).
    public var gridPanel: Int = 0

    public init(panels: [Panel], plane: Plane = .axial, slice: Int? = nil, window: (Double, Double)? = nil,
                interpolation: Interpolation = .nearest, colormap: Colormap = .gray) {
        self.panels = panels
        self.plane = plane
        self.slice = slice
        self.window = window
        self.interpolation = interpolation
        self.colormap = colormap
    }

    /// The slice index used (the middle when not given) and the world coordinate it sits at.
    public func resolvedSlice() throws -> (index: Int, world: Double) {
        guard panels.indices.contains(gridPanel) else { throw ReportError.invalidImage("a snapshot needs at least one volume") }
        let first = panels[gridPanel]
        let c = try first.volume.canonical()
        let axis = plane.worldAxis
        let n = c.shape[axis]
        let index = slice ?? (n - 1) / 2
        guard (0..<n).contains(index) else {
            throw ReportError.invalidImage("slice \(index) is outside 0..<\(n) along the \(plane) axis of \(first.label)")
        }
        var p = [0.0, 0.0, 0.0]
        p[axis] = Double(index)
        return (index, c.affine.apply(p)[axis])
    }

    /// Renders the panels into one RGB image.
    public func render(scale: Int? = nil) throws -> RasterImage {
        guard panels.indices.contains(gridPanel) else { throw ReportError.invalidImage("a snapshot needs at least one volume") }
        let c = try panels[gridPanel].volume.canonical()
        let axis = plane.worldAxis
        let (index, _) = try resolvedSlice()
        // In-plane axes of the canonical grid: columns then rows (rows drawn top = high index).
        let inPlane = (0..<3).filter { $0 != axis }
        let colAxis = inPlane[0], rowAxis = inPlane[1]
        let step = panels.flatMap { $0.volume.spacing }.min() ?? 1
        let sp = c.spacing
        let cols = Swift.max(1, Int((Double(c.shape[colAxis]) * sp[colAxis] / step).rounded()))
        let rows = Swift.max(1, Int((Double(c.shape[rowAxis]) * sp[rowAxis] / step).rounded()))
        // Voxel coordinates (canonical grid) of each pixel centre, field of view kept.
        func positions(_ a: Int, _ m: Int) -> [Double] {
            let n = Double(c.shape[a]), r = n / Double(m)
            return (0..<m).map { (Double($0) + 0.5) * r - 0.5 }
        }
        let colPos = try Tensor(positions(colAxis, cols))
        let rowPos = try Tensor(Array(positions(rowAxis, rows).reversed()))
        let grid = try Tensor.meshgrid([rowPos, colPos])  // rows x cols
        var coords = [Tensor](repeating: try Tensor.zeros([rows, cols], dtype: .float64), count: 3)
        coords[rowAxis] = grid[0]
        coords[colAxis] = grid[1]
        coords[axis] = try Tensor.full([rows, cols], .double(Double(index)), dtype: .float64)
        let world = try c.worldCoordinates(ofVoxel: Tensor.stack(coords, dim: -1))
        var images: [Tensor] = []
        for p in panels {
            var d = p.volume
            if d.shape.count > 3 { d = Volume(data: try d.data.flatten(startDim: 3).select(3, 0), affine: d.affine) }
            guard d.data.dtype.isFloatingPoint || d.data.dtype.isInteger else {
                throw ReportError.invalidImage("\(p.label): \(d.data.dtype) voxels cannot be shown as intensities")
            }
            images.append(try d.sample(atWorld: world, interpolation: interpolation))
        }
        let (lo, hi) = try window ?? {
            let all = try Tensor.cat(images.map { try $0.flatten() })
            let finite = try all.maskedSelect(all.isFinite())
            let q = try Percentiles.compute(finite, [1, 99])
            return q[1] > q[0] ? (q[0], q[1]) : (q[0], q[0] + 1)
        }()
        let zoom = scale ?? Swift.max(1, Swift.min(4, Int((400.0 / Double(Swift.max(rows, cols))).rounded())))
        let gap = 6, band = BitmapFont.height(scale: 1) + 6
        let w = cols * zoom, h = rows * zoom
        var canvas = RasterImage(width: panels.count * w + (panels.count + 1) * gap, height: h + band + 2 * gap,
                                 channels: 3, fill: [0, 0, 0])
        let lut = try colormap.table()
        for (k, img) in images.enumerated() {
            var g: Tensor
            if colormap == .labels {
                g = try img.nanToNum(nan: 0).round().clamp(min: 0, max: 255).to(.uint8)
            } else {
                g = try ((img.nanToNum(nan: lo) - lo) / (hi - lo)).clamp(min: 0, max: 1) * 255
                g = try g.round().to(.uint8)
            }
            if zoom > 1 {
                g = try g.unsqueeze(0).unsqueeze(0).to(.float32).interpolate(scaleFactor: [Double(zoom)]).squeeze(0).squeeze(0).to(.uint8)
            }
            if let lut { g = try lut.indexSelect(0, g.flatten().to(.int64)).reshape([g.size(0), g.size(1), 3]) }
            let x = gap + k * (w + gap)
            canvas.paste(try RasterImage(tensor: g), x: x, y: band + gap)
            let label = fit(panels[k].label, width: w)
            BitmapFont.draw(label, into: &canvas, x: x, y: gap, color: [255, 210, 0])
        }
        return canvas
    }

    func fit(_ text: String, width: Int) -> String {
        let maxChars = Swift.max(4, width / BitmapFont.width(of: "x"))
        return text.count <= maxChars ? text : "..." + String(text.suffix(maxChars - 3))
    }
}

/// How a snapshot maps values to colours.
public enum Colormap: String, Sendable, CaseIterable {
    /// Black to white across the window.
    case gray
    /// Blue (the window's low end) through white (its middle) to red (its high end): signed
    /// differences with a symmetric window.
    case diverging
    /// A fixed colour per integer label (0 black), for segmentations; the window is not used.
    case labels

    /// The 256 x 3 uint8 lookup table (nil for gray).
    func table() throws -> Tensor? {
        var rgb: [UInt8] = []
        switch self {
        case .gray:
            return nil
        case .diverging:
            for i in 0..<256 {
                let t = Double(i) / 255 * 2 - 1  // -1 ... 1
                let a = 1 - Swift.abs(t)
                let (r, g, b) = t < 0 ? (a, a, 1.0) : (1.0, a, a)
                rgb += [r, g, b].map { UInt8(($0 * 255).rounded()) }
            }
        case .labels:
            let palette: [[UInt8]] = [[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
                                      [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212],
                                      [0, 128, 128], [220, 190, 255], [170, 110, 40], [255, 250, 200], [128, 0, 0]]
            for i in 0..<256 { rgb += palette[i == 0 ? 0 : 1 + (i - 1) % (palette.count - 1)] }
        }
        return try Tensor(rgb, shape: [256, 3])
    }
}
