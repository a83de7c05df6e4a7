"""The reconstruction fixture: a brain crop of Colin 27 acquired as 5 mm slices every 6 mm (a
rectangular profile, the slice centres on voxels), and what the PyTorch twin of upres's
reconstruction (bench/edsr_reference.py `reconstruct`) makes of it with the shipped model
thick-5-6-t1. The Swift test runs `Reconstruction.upsample` on the same crop and compares.

    /usr/bin/python3 Tests/Fixtures/reconstruction/make_reference.py

Versions: PyTorch 1.13 (Debian python3-torch, the libtorch upres links), nibabel 5.4, numpy 1.24.
"""
import os
import sys

import nibabel as nib
import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.abspath(os.path.join(here, "..", "..", ".."))
sys.path.insert(0, os.path.join(root, "bench"))
from edsr_reference import EDSR, reconstruct  # noqa: E402

torch.set_num_threads(1)
colin = nib.load(os.path.join(root, "data/samples/colin27/colin27_t1_1mm.nii.gz"))
hr = np.asarray(colin.dataobj, dtype=np.float64)[60:100, 90:130, 40:94]  # 40 x 40 x 54 inside the brain
# Slices k = 0..8 centred on voxels 6k + 2, each the mean of voxels 6k .. 6k + 4 (5 mm thick, 6 mm apart).
lr = np.stack([hr[:, :, 6 * k:6 * k + 5].mean(axis=2) for k in range(9)], axis=2).astype(np.float32)
affine = colin.affine.copy()
affine = affine @ np.array([[1, 0, 0, 60], [0, 1, 0, 90], [0, 0, 6, 42], [0, 0, 0, 1]], dtype=np.float64)
model, config, task = EDSR.from_upres(os.path.join(root, "models/thick-5-6-t1/model.safetensors"))
model.eval()
out = reconstruct(model, config, task, lr)
nib.save(nib.Nifti1Image(lr, affine), os.path.join(here, "colin27_crop_thick-5-6.nii.gz"))
nib.save(nib.Nifti1Image(out, np.eye(4)), os.path.join(here, "colin27_crop_thick-5-6_torch.nii.gz"))
print("lr", lr.shape, "out", out.shape, "range", float(out.min()), float(out.max()))
