import Torch

extension SliceAcquisition {
    /// One line of a thin-voxel image acquired as thick slices and interpolated back onto its own
    /// grid: the (n x n) matrix `interpolation(acquisition(x))` along one axis, and the rows that
    /// fall inside the acquired slices' extent (others are 0).
    ///
    /// This is how an in-plane line of a multi-slice scan is made to look like its through-plane
    /// lines (SMORE's idea): the slices are centred at `phase + k * spacing / voxelSize` voxels
    /// (k = 0, 1, ... while inside the line), integrated over `profile` x `thickness`, and the
    /// result is sampled at every voxel with `interpolation`, exactly as `upres upsample`
    /// interpolates a scan's slices onto its output grid.
    /// - Parameters:
    ///   - n: voxels along the line; `voxelSize` their size in mm.
    ///   - phase: the first slice centre, in voxels (0 ..< spacing / voxelSize).
    public func reinterpolationOperator(n: Int, voxelSize: Double, phase: Double,
                                        interpolation: Interpolation = .cubic) throws -> (matrix: Tensor, rows: Range<Int>) {
        let step = spacing / voxelSize
        var centres: [Double] = []
        var c = phase
        while c <= Double(n - 1) + 1e-9 { centres.append(c); c += step }
        guard centres.count >= 2 else {
            throw DegradationError.invalid("a line of \(n) voxels of \(fmt(voxelSize)) mm holds fewer than two slices \(fmt(spacing)) mm apart")
        }
        let k = centres.count
        let acquire = try Tensor(operatorMatrix(centres: centres, n: n, voxelSize: voxelSize), shape: [k, n])
        let positions = (0..<n).map { (Double($0) - phase) / step }
        let back = try interpolation.axisMatrix(positions: positions, n: k)
        let first = Swift.max(0, Int((phase - step / 2).rounded(.up)))
        let last = Swift.min(n - 1, Int((centres[k - 1] + step / 2).rounded(.down)))
        return (try back.matmul(acquire), first..<(last + 1))
    }
}
