"""A T2-like Colin 27 for the quality benchmark: the brain's three tissue classes re-mapped so that
CSF is brightest and white matter darkest, the head outside the brain kept as it is.

The classes are found by a Gaussian mixture (seed 004's idea) and each class mean gets a new
intensity. Between two class means the map is linear (the partial-volume model: a voxel that is
part CSF and part grey matter has the volume-weighted mean of both signals, in T1 and in T2 alike),
and beyond the outer means it continues with the end segments' slopes, so texture inside a class
survives. An earlier version mapped each voxel through the mixture's posterior (a soft
classification): that sent mixed voxels to one class or the other, drew false rims around the
ventricles and made the scan harder than any real T2 (brain PSNR of cubic 18.0 dB).

    python3 bench/make_t2_like.py colin27_t1_1mm.nii.gz colin27_t1_1mm_brain.nii.gz out.nii.gz

Uses nibabel and numpy only; the mixture is fitted by EM on the brain's voxels (deterministic start
at the quartiles).
"""
import sys

import nibabel as nib
import numpy as np


def fit_gmm(x, k=3, iterations=100):
    q = np.quantile(x, [(i + 1) / (k + 1) for i in range(k)])
    mu, sd, w = q.astype(np.float64), np.full(k, (x.max() - x.min()) / (4 * k)), np.full(k, 1 / k)
    for _ in range(iterations):
        z = (x[:, None] - mu) / sd
        logp = -0.5 * z * z - np.log(sd) + np.log(w)
        logp -= logp.max(axis=1, keepdims=True)
        r = np.exp(logp)
        r /= r.sum(axis=1, keepdims=True)
        nk = r.sum(axis=0) + 1e-12
        mu = (r * x[:, None]).sum(axis=0) / nk
        sd = np.sqrt((r * (x[:, None] - mu) ** 2).sum(axis=0) / nk).clip(1e-3)
        w = nk / len(x)
    order = np.argsort(mu)
    return mu[order], sd[order], w[order]


def main(t1_path, brain_path, out_path):
    t1 = nib.load(t1_path)
    x = np.asarray(t1.dataobj, dtype=np.float64)
    brain = np.asarray(nib.load(brain_path).dataobj) > 0
    values = x[brain]
    mu, sd, _ = fit_gmm(values)  # CSF, GM, WM in T1
    top = mu[2] + 2 * sd[2]
    new_mu = np.array([0.95, 0.6, 0.35]) * top  # CSF brightest, WM darkest
    mapped = np.interp(values, mu, new_mu)
    low, high = values < mu[0], values > mu[2]
    mapped[low] = new_mu[0] + (values[low] - mu[0]) * (new_mu[1] - new_mu[0]) / (mu[1] - mu[0])
    mapped[high] = new_mu[2] + (values[high] - mu[2]) * (new_mu[2] - new_mu[1]) / (mu[2] - mu[1])
    y = x.copy()
    y[brain] = np.clip(mapped, 0, None)
    img = nib.Nifti1Image(y.astype(np.float32), t1.affine, t1.header)
    img.set_data_dtype(np.float32)
    nib.save(img, out_path)
    print(f"{out_path}: T1 class means {np.round(mu, 1).tolist()} -> {np.round(new_mu, 1).tolist()}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
