"""Records what nibabel reads from the sample files and nibabel's own corpus, for upres's NIfTI tests.

Run from the package root after `scripts/bootstrap`:
    python3 -m pip install nibabel==5.4.2 numpy
    python3 Tests/Fixtures/nifti/make_reference.py
Writes Tests/Fixtures/nifti/reference.json: per file, the shape, the on-disk dtype, nibabel's
`img.affine`, the qform/sform codes, and NaN-aware statistics of `get_fdata()` over the first
volume with values at fixed voxel indices (null where the voxel is NaN).
"""
import json
import os

import nibabel as nib
import numpy as np

root = "data/samples"
files = [
    "colin27/colin27_t1_1mm.nii.gz",
    "colin27/colin27_t1_1mm_brain.nii.gz",
    "colin27/colin27_t1_05mm.nii.gz",
    "mni152/mni152_2009a_t1_1mm.nii.gz",
    "mni152/mni152_2009a_gm_1mm.nii.gz",
    "mni152/mni152_2009a_wm_1mm.nii.gz",
    "nibabel-corpus/anatomical.nii",
    "nibabel-corpus/functional.nii",
    "nibabel-corpus/example4d.nii.gz",
    "nibabel-corpus/example_nifti2.nii.gz",
    "nibabel-corpus/standard.nii.gz",
    "nibabel-corpus/reoriented_anat_moved.nii",
    "nibabel-corpus/resampled_anat_moved.nii",
]
out = {"nibabel": nib.__version__, "numpy": np.__version__, "files": {}}
rng = np.random.default_rng(0)
for f in files:
    img = nib.load(os.path.join(root, f))
    data = np.asanyarray(img.dataobj)
    first = img.get_fdata()
    if first.ndim > 3:
        first = first[..., 0]
    shape3 = first.shape
    idx = [[int(rng.integers(0, s)) for s in shape3] for _ in range(20)]
    hdr = img.header
    out["files"][f] = {
        "shape": [int(s) for s in img.shape],
        "dtype": str(img.get_data_dtype()),
        "affine": img.affine.tolist(),
        "qform_code": int(hdr["qform_code"]),
        "sform_code": int(hdr["sform_code"]),
        "orientation": "".join(nib.aff2axcodes(img.affine)),
        "zooms": [float(z) for z in hdr.get_zooms()[:3]],
        "nan_count": int(np.isnan(first).sum()),
        "min": float(np.nanmin(first)),
        "max": float(np.nanmax(first)),
        "mean": float(np.nanmean(first)),
        "sum": float(np.nansum(first)),
        "indices": idx,
        "values": [None if np.isnan(first[tuple(i)]) else float(first[tuple(i)]) for i in idx],
    }
    print(f, img.shape, img.get_data_dtype(), "".join(nib.aff2axcodes(img.affine)))
with open("Tests/Fixtures/nifti/reference.json", "w") as fh:
    json.dump(out, fh, indent=1, allow_nan=False)
