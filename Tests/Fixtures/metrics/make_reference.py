"""Records scikit-image's full-reference metrics on Colin 27 and a degraded copy, for upres's tests.

Run from the package root after `scripts/bootstrap`:
    python3 -m pip install nibabel==5.4.2 scikit-image==0.26.0 numpy
    python3 Tests/Fixtures/metrics/make_reference.py
Reference: data/samples/colin27/colin27_t1_1mm.nii.gz as float64. Test image, computed the same way
in the Swift test: each pair of axial slices (2m, 2m+1) replaced by its mean (the last slice kept),
plus a ripple 4 sin(0.37 i) cos(0.23 j) sin(0.11 k + 1). SSIM with Wang's settings
(gaussian_weights, sigma 1.5, use_sample_covariance False, K1 0.01, K2 0.03, data_range = range of
the reference), in 3-D and per axial slice.
"""
import json

import nibabel as nib
import numpy as np


def colin_pair():
    """The reference (Colin 27, float64) and its degraded test image."""
    ref = np.asarray(nib.load("data/samples/colin27/colin27_t1_1mm.nii.gz").dataobj, dtype=np.float64)
    test = ref.copy()
    n = ref.shape[2]
    for m in range(n // 2):
        avg = 0.5 * (ref[:, :, 2 * m] + ref[:, :, 2 * m + 1])
        test[:, :, 2 * m] = avg
        test[:, :, 2 * m + 1] = avg
    i, j, k = np.meshgrid(*[np.arange(s, dtype=np.float64) for s in ref.shape], indexing="ij")
    test += 4 * np.sin(0.37 * i) * np.cos(0.23 * j) * np.sin(0.11 * k + 1)
    return ref, test


def main():
    # scikit-image only here: make_perceptual_reference.py imports colin_pair from a Python without it.
    import skimage
    from skimage.metrics import mean_squared_error, normalized_root_mse, peak_signal_noise_ratio, structural_similarity

    ref, test = colin_pair()
    R = float(ref.max() - ref.min())
    wang = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, K1=0.01, K2=0.03, data_range=R)
    out = {
        "skimage": skimage.__version__,
        "data_range": R,
        "mse": float(mean_squared_error(ref, test)),
        "psnr": float(peak_signal_noise_ratio(ref, test, data_range=R)),
        "nrmse_euclidean": float(normalized_root_mse(ref, test, normalization="euclidean")),
        "nrmse_min_max": float(normalized_root_mse(ref, test, normalization="min-max")),
        "nrmse_mean": float(normalized_root_mse(ref, test, normalization="mean")),
        "ssim_3d": float(structural_similarity(ref, test, **wang)),
        "ssim_slices": {str(s): float(structural_similarity(ref[:, :, s], test[:, :, s], **wang)) for s in (40, 90, 130)},
    }
    _, full = structural_similarity(ref, test, full=True, **wang)
    out["ssim_map_mean_inside_mask"] = float(full[ref > 20].mean())
    with open("Tests/Fixtures/metrics/reference.json", "w") as fh:
        json.dump(out, fh, indent=1, allow_nan=False)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
