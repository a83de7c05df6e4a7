"""The reference side of `upres-bench perceptual`: piq 0.8.0 on Debian's python3-torch (the same
libtorch 1.13), on the same 8 axial slices (80 to 87) of Colin 27 against 0.9 x + 10, scaled by the
reference's range to [0, 1]. VIFp, HaarPSI, FSIM and VSI on float64 (N, 1, H, W) batches; LPIPS and
DISTS on float32 (N, 3, H, W) batches with torchvision's VGG16 at its random initialization and
random linear / alpha-beta weights (piq's downloads replaced; the timing does not depend on them);
then torchvision's VGG16 features of 16 random images in batches of 2, 8 and 16.
Prints `name seconds` lines, medians of --repeats runs (after one warm-up).

    /usr/bin/python3 bench/perceptual_reference.py [--repeats N] [--threads N]
"""
import argparse
import os
import sys

import nibabel as nib
import numpy as np
import piq
import torch
import torchvision

from imaging_reference import timed  # bench/ is the script's directory, first on sys.path


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    o = p.parse_args()
    torch.set_num_threads(o.threads)
    root = os.environ.get("UPRES_DATA", "data/samples")
    ref = np.asarray(nib.load(os.path.join(root, "colin27/colin27_t1_1mm.nii.gz")).dataobj, dtype=np.float64)
    test = ref * 0.9 + 10
    lo, rng = ref.min(), ref.max() - ref.min()

    def slices(v):
        return torch.from_numpy(np.ascontiguousarray(((v[:, :, 80:88] - lo) / rng).transpose(2, 0, 1)))[:, None]

    x, y = slices(test).clamp(0, 1), slices(ref).clamp(0, 1)
    for name, f in [("vifp", lambda: piq.vif_p(x, y, data_range=1.0, reduction="none")),
                    ("haarpsi", lambda: piq.haarpsi(x, y, data_range=1.0, reduction="none")),
                    ("fsim", lambda: piq.fsim(x, y, data_range=1.0, reduction="none", chromatic=False)),
                    ("vsi", lambda: piq.vsi(x, y, data_range=1.0, reduction="none"))]:
        with torch.no_grad():
            print(f"perceptual.{name}.8x181x217", timed(o.repeats, f), flush=True)

    torch.manual_seed(0)
    piq_perceptual = sys.modules["piq.perceptual"]
    piq_perceptual.vgg16 = lambda pretrained=True, progress=False: torchvision.models.vgg16()
    heads = {"lpips": [torch.rand(1, c, 1, 1) for c in [64, 128, 256, 512, 512]],
             "dists": {"alpha": torch.rand(1, 1475, 1, 1) / 2950, "beta": torch.rand(1, 1475, 1, 1) / 2950}}
    torch.hub.load_state_dict_from_url = lambda url, progress=False: heads["lpips" if "lpips" in url else "dists"]
    x3, y3 = x.float().repeat(1, 3, 1, 1), y.float().repeat(1, 3, 1, 1)
    lpips, dists = piq.LPIPS(reduction="none"), piq.DISTS(reduction="none")
    with torch.no_grad():
        print("perceptual.lpips.8x181x217", timed(o.repeats, lambda: lpips(x3, y3)), flush=True)
        print("perceptual.dists.8x181x217", timed(o.repeats, lambda: dists(x3, y3)), flush=True)
        # torchvision's VGG16 features (up to relu5_3, as upres) of 16 images in batches of 2, 8 and 16.
        vgg = torchvision.models.vgg16().features[:30].eval()
        images = torch.rand(16, 3, 181, 217)
        for b in [2, 8, 16]:
            batch = images[:b].contiguous()
            print(f"perceptual.vgg16_16x181x217.batch{b}", timed(o.repeats, lambda: [vgg(batch) for _ in range(16 // b)]), flush=True)


if __name__ == "__main__":
    main()
