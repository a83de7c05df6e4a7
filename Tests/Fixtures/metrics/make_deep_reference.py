"""Records piq's LPIPS and DISTS on axial slices of Colin 27 and a degraded copy, for upres's tests.

Run from the package root with Debian's python3-torch (the libtorch upres uses), as
make_perceptual_reference.py (piq 0.8.0 over python3-torchvision):
    /usr/bin/python3 Tests/Fixtures/metrics/make_deep_reference.py
upres ships no ImageNet weights and the real ones are too large to check in, so both sides use
weights that a counter-based generator defines (splitmix64 of the running index, also written in
Tests/ImagingTests/DeepFeatureTests.swift): every value of the VGG16 backbone (torchvision's 13
convolutions, in state-dict order, weight then bias), then LPIPS's five linear layers, then DISTS's
alpha and beta, takes the next number u in [0, 1):
    convolution weights (2u - 1) sqrt(6 / fan_in)  (He-uniform, so activations keep their scale)
    convolution biases  (2u - 1) 0.05
    LPIPS linear        u / channels
    DISTS alpha, beta   u, then both divided by their joint sum
piq's downloads (torchvision's vgg16 and its own weights) are replaced by these.
Images: the slices of make_perceptual_reference.py (40, 90, 130, scaled by the reference's range
to [0, 1], float64), and slice 90 repeated 2 x 2 per pixel (362 x 434), which DISTS scales to 256.
"""
import copy
import json
import os
import sys

import numpy as np
import piq
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_reference import colin_pair  # noqa: E402

piq_perceptual = sys.modules["piq.perceptual"]
GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def uniform(start, count):
    """splitmix64 of the indices start ..< start + count, as doubles in [0, 1)."""
    with np.errstate(over="ignore"):
        z = (np.arange(start, start + count, dtype=np.uint64) + np.uint64(1)) * GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


class Stream:
    def __init__(self):
        self.next = 0

    def take(self, shape):
        n = int(np.prod(shape))
        u = uniform(self.next, n).reshape(shape)
        self.next += n
        return u


stream = Stream()
features = torchvision.models.vgg16().features
state = {}
for name, p in features.state_dict().items():
    u = stream.take(tuple(p.shape))
    if name.endswith("weight"):
        fan_in = p.shape[1] * p.shape[2] * p.shape[3]
        v = (2 * u - 1) * np.sqrt(6.0 / fan_in)
    else:
        v = (2 * u - 1) * 0.05
    state[name] = torch.from_numpy(v.astype(np.float32))
features.load_state_dict(state)
channels = [64, 128, 256, 512, 512]
lpips = [torch.from_numpy((stream.take((1, c, 1, 1)) / c).astype(np.float32)) for c in channels]
alpha, beta = stream.take((1, 1475, 1, 1)), stream.take((1, 1475, 1, 1))
total = alpha.sum() + beta.sum()
dists = {"alpha": torch.from_numpy(alpha / total), "beta": torch.from_numpy(beta / total)}


class VGG:
    def __init__(self):
        self.features = copy.deepcopy(features)  # DISTS swaps the pooling layers in place


piq_perceptual.vgg16 = lambda pretrained=True, progress=False: VGG()
heads = {"lpips": lpips, "dists": dists}
torch.hub.load_state_dict_from_url = lambda url, progress=False: heads["lpips" if "lpips" in url else "dists"]

ref, test = colin_pair()
lo, R = ref.min(), ref.max() - ref.min()
slices = [40, 90, 130]


def batch(v, repeat=1):
    s = np.stack([np.kron(v[:, :, z], np.ones((repeat, repeat))) for z in slices])[:, None]
    return torch.from_numpy(np.clip((s - lo) / R, 0, 1)).repeat(1, 3, 1, 1)


x, y = batch(test), batch(ref)
out = {"piq": piq.__version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
       "slices": slices, "generated_values": stream.next}
with torch.no_grad():
    out["lpips"] = piq.LPIPS(reduction="none")(x, y).tolist()
    out["dists"] = piq.DISTS(reduction="none")(x, y).tolist()
    big_x, big_y = batch(test, 2)[1:2], batch(ref, 2)[1:2]
    out["dists_repeated_2x2_slice_90"] = piq.DISTS(reduction="none")(big_x, big_y).tolist()
    out["lpips_repeated_2x2_slice_90"] = piq.LPIPS(reduction="none")(big_x, big_y).tolist()
with open("Tests/Fixtures/metrics/deep_reference.json", "w") as fh:
    json.dump(out, fh, indent=1, allow_nan=False)
print(json.dumps(out, indent=1))
