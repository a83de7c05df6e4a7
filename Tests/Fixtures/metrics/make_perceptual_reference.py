"""Records piq's perceptual metrics on axial slices of Colin 27 and a degraded copy, for upres's tests.

Run from the package root with Debian's python3-torch (the libtorch upres uses), after
`scripts/bootstrap --bench`:
    apt-get install --no-install-recommends python3-torchvision      # piq imports it
    /usr/bin/python3 -m pip install --break-system-packages --no-deps piq==0.8.0
    /usr/bin/python3 Tests/Fixtures/metrics/make_perceptual_reference.py
Images: the reference and test of make_reference.py (pairs of axial slices averaged plus a ripple),
axial slices 40, 90 and 130, scaled as upres scales them for the perceptual metrics:
(v - min(reference)) / (max(reference) - min(reference)), clipped to [0, 1], in float64; piq
called with data_range 1 on (3, 1, H, W) batches, test first, reference second.
BRISQUE: piq's 36 natural-scene features of the same test slices (two scales, the second one
MATLAB-style bicubic imresize to half size) and piq's score with the SVR taken from
brisque_test_model.svm, a libsvm model file written here with 40 random support vectors (seed 5)
and the gamma and rho piq uses (0.05, -153.591); piq's downloaded weights are replaced by it.
piq's imresize casts every input to float32 (its cast_input tests `dtype != float32 or dtype !=
float64`, which is always true), so its half-scale features carry float32 rounding (up to 7e-6
relative here); "brisque_features_float64_resize" has the same features with that cast skipped.
"""
import json

import os
import sys

import numpy as np
import piq
import torch

piq_brisque = sys.modules["piq.brisque"]  # the module; piq.brisque is the function

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_reference import colin_pair  # noqa: E402

ref, test = colin_pair()
lo, R = ref.min(), ref.max() - ref.min()
slices = [40, 90, 130]


def batch(v):
    s = np.stack([v[:, :, z] for z in slices])[:, None]
    return torch.from_numpy(np.clip((s - lo) / R, 0, 1))


x, y = batch(test), batch(ref)
out = {"piq": piq.__version__, "torch": torch.__version__, "slices": slices}
out["vifp"] = piq.vif_p(x, y, data_range=1.0, reduction="none").tolist()
out["haarpsi"] = piq.haarpsi(x, y, data_range=1.0, reduction="none").tolist()
out["fsim"] = piq.fsim(x, y, data_range=1.0, reduction="none", chromatic=False).tolist()
out["vsi"] = piq.vsi(x, y, data_range=1.0, reduction="none").tolist()

# BRISQUE features per scale, as piq.brisque computes them, and the score under a known SVR.
nss = piq_brisque._natural_scene_statistics
x255 = x * 255
half = piq.functional.imresize(x255, sizes=(x255.size(2) // 2, x255.size(3) // 2))
out["brisque_features"] = torch.cat([nss(x255), nss(half)], dim=-1).tolist()
rng = np.random.default_rng(5)
sv = rng.uniform(-1, 1, size=(40, 36))
coef = rng.normal(0, 20, size=40)
with open("Tests/Fixtures/metrics/brisque_test_model.svm", "w") as fh:
    fh.write("svm_type epsilon_svr\nkernel_type rbf\ngamma 0.05\nnr_class 2\ntotal_sv 40\nrho -153.591\nSV\n")
    for c, v in zip(coef, sv):
        fh.write(repr(float(c)) + " " + " ".join(f"{i + 1}:{float(t)!r}" for i, t in enumerate(v)) + " \n")
piq_brisque.load_url = lambda *a, **k: (torch.from_numpy(coef), torch.from_numpy(sv.copy()))
out["brisque_score"] = piq.brisque(x, data_range=1.0, reduction="none").tolist()
resize = sys.modules["piq.functional.resize"]
cast_input = resize.cast_input
resize.cast_input = lambda t: (t, None)
half64 = piq.functional.imresize(x255, sizes=(x255.size(2) // 2, x255.size(3) // 2))
out["brisque_features_float64_resize"] = torch.cat([nss(x255), nss(half64)], dim=-1).tolist()
resize.cast_input = cast_input
with open("Tests/Fixtures/metrics/perceptual_reference.json", "w") as fh:
    json.dump(out, fh, indent=1, allow_nan=False)
print(json.dumps(out, indent=1))
