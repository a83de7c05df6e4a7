"""The reference side of the imaging benchmarks: nibabel reading and writing .nii.gz,
scipy.ndimage.zoom (order 3 and 1), scikit-image's 3-D SSIM, and the thick-slice and k-space
simulations in numpy/scipy, on the same volumes as
`upres-bench nifti|resample|ssim|simulate`.
Prints `name seconds` lines, medians of --repeats runs (after one warm-up).

    python3 bench/imaging_reference.py nifti|resample [--repeats N] [--threads N]
"""
import argparse
import os
import statistics
import tempfile
import time


def timed(repeats, body):
    body()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        body()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def nifti(o, root):
    import nibabel as nib
    import numpy as np

    files = ["colin27/colin27_t1_1mm.nii.gz", "mni152/mni152_2009a_t1_1mm.nii.gz", "colin27/colin27_t1_05mm.nii.gz"]
    with tempfile.TemporaryDirectory() as tmp:
        for f in files:
            path = os.path.join(root, f)
            name = os.path.basename(f).replace(".nii.gz", "")
            # upres reads into float32 with the scaling applied: get_fdata(dtype=float32) does the same.
            read = timed(o.repeats, lambda: nib.load(path).get_fdata(dtype=np.float32))
            print(f"nifti.read_gz.{name}", read, flush=True)
            img = nib.load(path)
            data = img.get_fdata(dtype=np.float32)
            out = os.path.join(tmp, "w.nii.gz")
            # A new float32 image (the source header would make nibabel write its uint8 type instead).
            write = timed(o.repeats, lambda: nib.save(nib.Nifti1Image(data, img.affine), out))
            print(f"nifti.write_gz_float32.{name}", write, flush=True)


def resample(o, root):
    import nibabel as nib
    import numpy as np
    import scipy.ndimage as ndi

    data = nib.load(os.path.join(root, "colin27/colin27_t1_1mm.nii.gz")).get_fdata(dtype=np.float32)
    thick = np.ascontiguousarray(data[:, :, ::6])
    assert thick.shape == (181, 217, 31)
    for order, name in [(3, "cubic"), (1, "linear")]:
        s = timed(o.repeats, lambda: ndi.zoom(thick, (1, 1, 181 / 31), order=order))
        print(f"resample.{name}.181x217x31_to_181x217x181", s, flush=True)


def ssim(o, root):
    import nibabel as nib
    import numpy as np
    import scipy.ndimage as ndi
    from skimage.metrics import structural_similarity

    # float64 (get_fdata's default): scikit-image then computes in float64, the figure the issue
    # quotes (~1.8 s); upres computes in float32 and agrees within 1e-4 (Tests/ImagingTests/MetricsTests).
    ref = nib.load(os.path.join(root, "colin27/colin27_t1_1mm.nii.gz")).get_fdata()
    blurred = ndi.gaussian_filter(ref, 1.0, mode="reflect", truncate=4.0)
    s = timed(o.repeats, lambda: structural_similarity(blurred, ref, gaussian_weights=True, sigma=1.5,
                                                       use_sample_covariance=False, data_range=254))
    print("ssim3d.181x217x181", s, flush=True)


def simulate(o, root):
    import nibabel as nib
    import numpy as np
    import scipy.ndimage as ndi

    data = nib.load(os.path.join(root, "colin27/colin27_t1_1mm.nii.gz")).get_fdata(dtype=np.float32)
    n = data.shape[2]
    # 5 mm / 6 mm axial slices, rectangular profile: the 5-voxel box average around each slice
    # centre (upres lays the 30 centres symmetrically: voxels 3, 9, ..., 177).
    count = (n - 5) // 6 + 1
    first = (n - 1) / 2 - (count - 1) / 2 * 6
    centres = (first + 6 * np.arange(count)).astype(int)

    def thick():
        box = ndi.uniform_filter1d(data, size=5, axis=2, mode="constant")
        return np.ascontiguousarray(box[:, :, centres])

    s = timed(o.repeats, thick)
    print("simulate.thick-5-6.181x217x181", s, flush=True)

    # k-space x4 on the axial plane: FFT over the in-plane axes, keep the central quarter of each
    # axis, inverse FFT, magnitude.
    def keep(n, f=4):
        m = max(1, round(n / f))
        q = np.fft.fftfreq(n) * n
        return ((q >= -(m // 2)) & (q < m - m // 2)).astype(np.float64)

    mask = keep(data.shape[0])[:, None, None] * keep(data.shape[1])[None, :, None]
    s = timed(o.repeats, lambda: np.abs(np.fft.ifftn(np.fft.fftn(data, axes=(0, 1)) * mask, axes=(0, 1))).astype(np.float32))
    print("simulate.kspace-x4.181x217x181", s, flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("which", choices=["nifti", "resample", "ssim", "simulate"])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=None)
    o = p.parse_args()
    root = os.environ.get("UPRES_DATA", "data/samples")
    {"nifti": nifti, "resample": resample, "ssim": ssim, "simulate": simulate}[o.which](o, root)


if __name__ == "__main__":
    main()
