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
"""
import json

import os
import sys

import numpy as np
import piq
import torch

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
with open("Tests/Fixtures/metrics/perceptual_reference.json", "w") as fh:
    json.dump(out, fh, indent=1, allow_nan=False)
print(json.dumps(out, indent=1))
