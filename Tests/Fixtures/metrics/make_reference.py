"""Records scikit-image's full-reference metrics on Colin 27 and a degraded copy, for upres's tests.

Run from the package root after `scripts/bootstrap`:
    python3 -m pip install nibabel==5.4.2 scikit-image==0.26.0 numpy
    python3 Tests/Fixtures/metrics/make_reference.py
Reference: data/samples/colin27/colin27_t1_1mm.nii.gz as float64. Test image, computed the same way
in the Swift test: each pair of axial slices (2m, 2m+1) replaced by its mean (the last slice kept),
plus a ripple 4 sin(0.37 i) cos(0.23 j) sin(0.11 k + 1). SSIM with Wang's settings
(gaussian_weights, sigma 1.5, use_sample_covariance False, K1 0.01, K2 0.03, data_range = range of
the reference), in 3-D and per axial slice.
MAE (scikit-image has none) is numpy's mean(|test - reference|); NMSE is normalized_root_mse's
euclidean value squared (||test - reference||^2 / ||reference||^2).
Masked metrics ("masked"): the mask is reference > 20; each scikit-image function is given the
voxels the mask selects (1-D arrays), PSNR's data_range is the reference's range inside the mask,
and SSIM is the mean of the full 3-D map (data_range the same in-mask range) over the mask's voxels.
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
    def flat(t, r, data_range):
        """The voxel-wise metrics of two arrays (flattened or masked)."""
        return {
            "mse": float(mean_squared_error(r, t)),
            "mae": float(np.mean(np.abs(t - r))),
            "rmse": float(np.sqrt(mean_squared_error(r, t))),
            "nmse": float(normalized_root_mse(r, t, normalization="euclidean") ** 2),
            "psnr": float(peak_signal_noise_ratio(r, t, data_range=data_range)),
            "nrmse_euclidean": float(normalized_root_mse(r, t, normalization="euclidean")),
            "nrmse_min_max": float(normalized_root_mse(r, t, normalization="min-max")),
            "nrmse_mean": float(normalized_root_mse(r, t, normalization="mean")),
        }

    out = {
        "skimage": skimage.__version__,
        "mae": float(np.mean(np.abs(test - ref))),
        "rmse": float(np.sqrt(mean_squared_error(ref, test))),
        "nmse": float(normalized_root_mse(ref, test, normalization="euclidean") ** 2),
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
    mask = ref > 20
    out["ssim_map_mean_inside_mask"] = float(full[mask].mean())
    R_mask = float(ref[mask].max() - ref[mask].min())
    masked = flat(test[mask], ref[mask], R_mask)
    masked["data_range"] = R_mask
    _, full_mask_range = structural_similarity(ref, test, full=True, **{**wang, "data_range": R_mask})
    masked["ssim"] = float(full_mask_range[mask].mean())
    out["masked"] = masked
    with open("Tests/Fixtures/metrics/reference.json", "w") as fh:
        json.dump(out, fh, indent=1, allow_nan=False)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
