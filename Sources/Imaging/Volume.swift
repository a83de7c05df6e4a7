import Torch

/// A 3D (or 4D) image: voxels as a tensor, the voxel-to-world affine, and the facts of the header
/// it came from.
///
/// `data` is indexed `[i, j, k]` (and `[i, j, k, t]` for 4D) exactly like nibabel's
/// `img.dataobj`: i runs fastest on disk. It is float32 unless a reader was asked to keep the
/// file's dtype. `affine` maps (i, j, k) to world (x, y, z) in mm, RAS+.
public struct Volume: @unchecked Sendable {
    public var data: Tensor
    public var affine: Affine
    public var metadata: VolumeMetadata

    public init(data: Tensor, affine: Affine, metadata: VolumeMetadata = VolumeMetadata()) {
        self.data = data
        self.affine = affine
        self.metadata = metadata
    }

    /// The voxel grid's size: 3 (or 4) numbers.
    public var shape: [Int] { data.shape }

    /// Voxel sizes in mm along i, j, k (the affine's column lengths).
    public var spacing: [Double] { affine.spacing }

    /// Orientation code such as "RAS" or "LPI" (nibabel's `aff2axcodes`).
    public var orientation: String { affine.orientationCode }

    /// The world position (mm) of a voxel index (fractional indices allowed).
    public func world(ofVoxel v: [Double]) -> [Double] { affine.apply(v) }

    /// The voxel index (fractional) at a world position; nil when the affine is singular.
    public func voxel(ofWorld p: [Double]) -> [Double]? { affine.inverse()?.apply(p) }
}

/// Facts of the source file that a volume carries along, so that a copy or a result written back
/// keeps them (descriptions, codes, units, extensions) and a sidecar can cite them.
public struct VolumeMetadata: Sendable, Equatable {
    /// The file the volume was read from.
    public var sourcePath: String?
    /// The element type on disk, by its NIfTI name ("int16", "float32", ...).
    public var sourceDType: String?
    /// NIfTI qform_code and sform_code (0 unknown, 1 scanner, 2 aligned, 3 Talairach, 4 MNI152, 5 template).
    public var qformCode: Int = 0
    public var sformCode: Int = 2
    /// The 80-character description field.
    public var description: String = ""
    /// Time between volumes (4D) in seconds, when the file says.
    public var timeStep: Double?
    /// Intent code and name (statistics maps, labels, ...).
    public var intentCode: Int = 0
    public var intentName: String = ""
    /// NIfTI slice-timing fields (dim_info, slice_code, slice_start, slice_end, slice_duration).
    public var dimInfo: UInt8 = 0
    public var sliceCode: Int = 0
    public var sliceStart: Int = 0
    public var sliceEnd: Int = 0
    public var sliceDuration: Double = 0
    /// Display window (cal_min, cal_max).
    public var calMin: Double = 0
    public var calMax: Double = 0
    /// Header extensions (code and raw bytes, without the 8-byte esize/ecode record header),
    /// written back on copy.
    public var extensions: [NIfTIExtension] = []
    /// The acquired slice thickness in mm when the source states it (DICOM SliceThickness,
    /// 0018,0050); nil for NIfTI files, which do not.
    public var sliceThickness: Double?

    public init() {}
}

/// One NIfTI header extension record.
public struct NIfTIExtension: Sendable, Equatable {
    /// 2 DICOM, 4 AFNI, 6 comment, 32 CIFTI, ...
    public var code: Int
    public var content: [UInt8]

    public init(code: Int, content: [UInt8]) {
        self.code = code
        self.content = content
    }
}
