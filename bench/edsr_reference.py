"""EDSR in PyTorch with upres's state-dict names, for the training and reconstruction benchmarks
and as the documented interchange with PyTorch.

    python3 bench/edsr_reference.py train [--steps N] [--threads N]
    python3 bench/edsr_reference.py upsample MODEL.safetensors LR.nii.gz [--threads N]
    python3 bench/edsr_reference.py export MODEL.safetensors OUT.pt      # a plain PyTorch state dict

Interchange: upres model files are safetensors whose tensor names are this module's state_dict
keys (head, body.N.conv1, body.N.conv2, body_conv, upsample, tail) and whose metadata holds the
architecture ("upres.config") and the task ("upres.task") as JSON. `EDSR.from_upres(path)` loads
one; `save_upres(model, config, task, path)` writes one that `upres upsample --model path` reads.
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class ResidualBlock(nn.Module):
    def __init__(self, features, scale):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)
        self.scale = scale

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(x))) * self.scale


class EDSR(nn.Module):
    """The same network as Sources/SuperResolution/EDSR.swift."""

    def __init__(self, inChannels=3, outChannels=1, features=32, blocks=6, residualScale=0.1, factor=6, upsampleFeatures=8, **_):
        super().__init__()
        self.inChannels, self.factor, self.upsampleFeatures = inChannels, factor, upsampleFeatures
        self.head = nn.Conv2d(inChannels, features, 3, padding=1)
        self.body = nn.ModuleList([ResidualBlock(features, residualScale) for _ in range(blocks)])
        self.body_conv = nn.Conv2d(features, features, 3, padding=1)
        if factor > 1:
            self.upsample = nn.Conv2d(features, upsampleFeatures * factor, 3, padding=1)
            self.tail = nn.Conv2d(upsampleFeatures, outChannels, 3, padding=1)
        else:
            self.upsample = None
            self.tail = nn.Conv2d(features, outChannels, 3, padding=1)
        self._interp = {}

    def interpolator(self, h):
        if h not in self._interp:
            s = self.factor
            w = torch.zeros(s * h, h)
            for j in range(s * h):
                p = min(max(j // s + (j % s - s // 2) / s, 0), h - 1)
                i0 = int(p)
                t = p - i0
                w[j, i0] += 1 - t
                if t > 0:
                    w[j, i0 + 1] += t
            self._interp[h] = w
        return self._interp[h]

    def forward(self, x):
        centre = x[:, self.inChannels // 2:self.inChannels // 2 + 1]
        h = self.head(x)
        y = h
        for block in self.body:
            y = block(y)
        y = self.body_conv(y) + h
        if self.upsample is None:
            return self.tail(y) + centre
        y = self.upsample(y)
        n, c, hh, w = y.shape
        oc = c // self.factor
        y = y.reshape(n, oc, self.factor, 1, hh, w).permute(0, 1, 4, 2, 5, 3).reshape(n, oc, hh * self.factor, w)
        base = torch.matmul(self.interpolator(x.shape[2]), centre)  # (sH x H) along the rows
        return self.tail(F.relu(y)) + base

    @staticmethod
    def from_upres(path):
        from safetensors import safe_open
        with safe_open(path, "pt") as f:
            meta = f.metadata()
            config = json.loads(meta["upres.config"])
            model = EDSR(**config)
            model.load_state_dict({k: f.get_tensor(k) for k in f.keys()}, strict=True)
        return model, config, json.loads(meta.get("upres.task", "{}"))


def save_upres(model, config, task, path):
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path,
              metadata={"format": "pt", "upres.config": json.dumps(config), "upres.task": json.dumps(task)})


def train(o):
    """The same EDSR, batch and steps as `upres-bench train`: Adam, L1, random batches."""
    torch.manual_seed(0)
    model = EDSR()
    opt = torch.optim.Adam(model.parameters(), lr=2e-4)
    x = torch.rand(8, 3, 8, 48)
    y = torch.rand(8, 1, 48, 48)

    def steps(n):
        for _ in range(n):
            loss = F.l1_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

    steps(3)
    samples = []
    for _ in range(o.repeats):
        t0 = time.perf_counter()
        steps(o.steps)
        samples.append(time.perf_counter() - t0)
    print(f"train.edsr32x6.{o.steps}steps", statistics.median(samples), flush=True)


def reconstruct(model, config, task, x):
    """`upres upsample --model` for a thick-slice model, slices along the last axis, in-plane
    voxels already at the target: min-max on the task's percentiles (clipped for models that
    clip, the clipped part restored through the model's linear base), both in-plane directions
    with the model's neighbour channels (edge slices repeated), averaged, the inverse
    normalization, nothing below the input's minimum, and zero where every input voxel around
    is zero. Returns float32 (X, Y, factor Z)."""
    import numpy as np
    lo_p, hi_p = task.get("normalizationPercentiles", [1, 99])
    x64 = x.astype(np.float64)
    p1, p99 = np.percentile(x64, [lo_p, hi_p])
    unclipped = torch.from_numpy(((x64 - p1) / (p99 - p1)).astype(np.float32))
    clips = task.get("clipsIntensities", True) is not False
    xn = unclipped.clamp(0, 1) if clips else unclipped
    s, c = config["factor"], config["inChannels"]
    half = c // 2
    out = torch.zeros(x.shape[0], x.shape[1], x.shape[2] * s)
    with torch.no_grad():
        for axis in (0, 1):
            stack = xn if axis == 0 else xn.permute(1, 0, 2)
            padded = torch.cat([stack[:1].expand(half, -1, -1), stack, stack[-1:].expand(half, -1, -1)], 0)
            res = []
            for start in range(0, stack.shape[0], 16):
                n = min(16, stack.shape[0] - start)
                inp = torch.stack([padded[start + k:start + k + n] for k in range(c)], 1).transpose(2, 3).contiguous()
                res.append(model(inp)[:, 0].transpose(1, 2))
            vol = torch.cat(res, 0)
            out += vol if axis == 0 else vol.permute(1, 0, 2)
    out = out / 2
    if clips:
        excess = (unclipped - xn).reshape(-1, x.shape[2])
        out += torch.matmul(excess, model.interpolator(x.shape[2]).t()).reshape(out.shape)
    out = (out.double() * (p99 - p1) + p1).clamp(min=float(x64.min()))
    zero = torch.from_numpy((x64 == 0).astype(np.float64)).reshape(-1, x.shape[2])
    background = torch.matmul(zero, model.interpolator(x.shape[2]).double().t()).reshape(out.shape) >= 1 - 1e-6
    out[background] = 0
    return out.float().numpy()


def upsample(o):
    """Whole-volume reconstruction as `upres upsample --model` does it, timed with reading and
    writing the files."""
    import nibabel as nib
    import numpy as np
    t0 = time.perf_counter()
    model, config, task = EDSR.from_upres(o.model)
    model.eval()
    img = nib.load(o.input)
    x = np.asarray(img.dataobj, dtype=np.float32)
    out = reconstruct(model, config, task, x)
    s = config["factor"]
    scale = np.eye(4)
    scale[2, 2] = 1 / s
    scale[2, 3] = -(s // 2) / s
    nib.save(nib.Nifti1Image(out, img.affine @ scale), o.output)
    shape = "x".join(str(n) for n in x.shape)
    print(f"upsample.edsr.{shape}_to_1mm", time.perf_counter() - t0, flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("which", choices=["train", "upsample", "export"])
    p.add_argument("model", nargs="?")
    p.add_argument("input", nargs="?")
    p.add_argument("--output", default="/tmp/upres-bench-torch-sr.nii.gz")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    o = p.parse_args()
    if o.threads:
        torch.set_num_threads(o.threads)
    if o.which == "train":
        train(o)
    elif o.which == "upsample":
        upsample(o)
    else:
        model, _, _ = EDSR.from_upres(o.model)
        torch.save(model.state_dict(), o.input)
        print(f"{o.input}: PyTorch state dict with {sum(p.numel() for p in model.parameters())} parameters", file=sys.stderr)


if __name__ == "__main__":
    main()
