"""Records scipy.ndimage's interpolation on a crop of Colin 27, for upres's resampling tests.

Run from the package root after `scripts/bootstrap`:
    python3 -m pip install nibabel==5.4.2 scipy numpy
    python3 Tests/Fixtures/resampling/make_reference.py
The crop is data[50:90, 60:110, 60:90] of data/samples/colin27/colin27_t1_1mm.nii.gz (float64).
Records `map_coordinates` (mode 'constant', prefilter on) of orders 1 and 3 at 3000 seeded points
inside the grid, and `zoom` to (40, 50, 75) (grid_mode False: the corner samples coincide) of
orders 1 and 3 at 2000 seeded output voxels, with the mean of each zoomed volume.
"""
import json

import nibabel as nib
import numpy as np
import scipy
import scipy.ndimage as ndi

img = nib.load("data/samples/colin27/colin27_t1_1mm.nii.gz")
crop = np.asarray(img.dataobj, dtype=np.float64)[50:90, 60:110, 60:90]
rng = np.random.default_rng(42)
pts = np.stack([rng.uniform(0, s - 1, 3000) for s in crop.shape])
out = {"scipy": scipy.__version__, "crop": [[50, 90], [60, 110], [60, 90]],
       "range": float(crop.max() - crop.min()), "points": pts.T.tolist()}
for order in (1, 3):
    out[f"map_coordinates_order{order}"] = ndi.map_coordinates(crop, pts, order=order, mode="constant").tolist()
zoom_shape = (40, 50, 75)
idx = [[int(rng.integers(0, s)) for s in zoom_shape] for _ in range(2000)]
out["zoom_shape"] = list(zoom_shape)
out["zoom_indices"] = idx
for order in (1, 3):
    z = ndi.zoom(crop, [a / b for a, b in zip(zoom_shape, crop.shape)], order=order, mode="constant", grid_mode=False)
    assert z.shape == zoom_shape
    out[f"zoom_order{order}"] = [float(z[tuple(i)]) for i in idx]
    out[f"zoom_order{order}_mean"] = float(z.mean())
with open("Tests/Fixtures/resampling/reference.json", "w") as fh:
    json.dump(out, fh, allow_nan=False)
print("scipy", scipy.__version__, "range", out["range"])
