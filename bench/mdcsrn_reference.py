"""Seed 002's mDCSRN in PyTorch, with upres's state-dict names: the twin of
Sources/SuperResolution/Models/MDCSRN.swift (and of the patchgan critic with dimensions 3 in Critics.swift).

mDCSRN: conv_first (3x3x3, features), dense blocks whose input is every earlier level's output
(conv_first's and each earlier block's, concatenated), each unit ELU then a 3x3x3 convolution
adding `growth` channels, a 1x1x1 compressor back to `features`; conv_last (ELU, 1x1x1) on all
levels; plus the input when residual.

    python3 bench/mdcsrn_reference.py                       # the parameter count of the seed-sized network
    python3 bench/mdcsrn_reference.py train --repeats 3      # seconds per training step (bench/run mdcsrn)
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class DenseBlock3d(nn.Module):
    def __init__(self, c, f, g, units):
        super().__init__()
        self.layers = nn.ModuleList([nn.Conv3d(c + i * g, g, 3, 1, 1) for i in range(units)])
        self.compress = nn.Conv3d(c + units * g, f, 1)

    def forward(self, x):
        maps = [x]
        for layer in self.layers:
            maps.append(layer(F.elu(torch.cat(maps, 1))))
        return self.compress(torch.cat(maps, 1))


class MDCSRN(nn.Module):
    def __init__(self, in_channels=1, features=32, growth=16, blocks=4, units=4, residual=True):
        super().__init__()
        self.conv_first = nn.Conv3d(in_channels, features, 3, 1, 1)
        self.blocks = nn.ModuleList([DenseBlock3d(features * (b + 1), features, growth, units) for b in range(blocks)])
        self.conv_last = nn.Conv3d(features * (blocks + 1), 1, 1)
        self.residual = residual

    def forward(self, x):
        levels = [self.conv_first(x)]
        for block in self.blocks:
            levels.append(block(torch.cat(levels, 1)))
        out = self.conv_last(F.elu(torch.cat(levels, 1)))
        return out + x[:, :1] if self.residual else out


class PatchGAN3d(nn.Module):
    def __init__(self, in_channels=1, features=16, layers=2, slope=0.2):
        super().__init__()
        convs = [nn.Conv3d(in_channels, features, 4, 2, 1)]
        norms = []
        c = features
        for i in range(1, layers + 1):
            out = features << min(i, 3)
            convs.append(nn.Conv3d(c, out, 4, 2 if i < layers else 1, 1))
            norms.append(nn.GroupNorm(1, out))
            c = out
        self.convs, self.norms = nn.ModuleList(convs), nn.ModuleList(norms)
        self.head = nn.Conv3d(c, 1, 4, 1, 1)
        self.slope = slope

    def forward(self, x):
        h = F.leaky_relu(self.convs[0](x), self.slope)
        for conv, norm in zip(self.convs[1:], self.norms):
            h = F.leaky_relu(norm(conv(h)), self.slope)
        return self.head(h)


def train_step_seconds(repeats, threads):
    """Seconds per training step of configs/mdcsrn-kspace-x4.yaml's network: Adam, L1, 4 x 32^3."""
    import statistics
    import time
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = MDCSRN(features=16, growth=8, blocks=3, units=3)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = torch.rand(4, 1, 32, 32, 32), torch.rand(4, 1, 32, 32, 32)

    def step():
        loss = F.l1_loss(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(3):
            step()
        samples.append((time.perf_counter() - t0) / 3)
    return statistics.median(samples)


if __name__ == "__main__":
    import argparse
    import os
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", nargs="?", default="params", choices=["params", "train"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    if a.mode == "train":
        print("train.mdcsrn16x8x3x3.step", train_step_seconds(a.repeats, a.threads))
    else:
        net = MDCSRN()
        print("mDCSRN (32 features, growth 16, 4 blocks of 4 units):", sum(p.numel() for p in net.parameters()), "parameters")
