"""The adversarial training step of upres-bench's `gan` benchmark in PyTorch, with the twins:
seed 000's attention U-Net (bench/unet_reference.py) against seed 004's PatchGAN critic
(bench/critic_reference.py) under WGAN-GP (lambda 10, Adam betas 0, 0.9): a critic update with
the gradient penalty, then a generator update on L1 + 0.01 x the adversarial term; batch 4 of
64 x 64. Prints the median seconds per step.

    /usr/bin/python3 bench/gan_reference.py --repeats 3 --threads 2
"""
import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from critic_reference import PatchGANCritic, gradient_penalty
from unet_reference import AttentionUNet

ap = argparse.ArgumentParser()
ap.add_argument("--repeats", type=int, default=3)
ap.add_argument("--threads", type=int, default=os.cpu_count())
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
g = AttentionUNet(features=16, depth=4, final_activation="identity", residual_channel=0)
d = PatchGANCritic(features=32, layers=3)
opt_g = torch.optim.Adam(g.parameters(), lr=1e-4, betas=(0, 0.9))
opt_d = torch.optim.Adam(d.parameters(), lr=1e-4, betas=(0, 0.9))
x, y, e = torch.rand(4, 1, 64, 64), torch.rand(4, 1, 64, 64), torch.rand(4, 1, 1, 1)


def step():
    with torch.no_grad():
        fake = g(x)
    loss = d(fake).mean() - d(y).mean() + 10 * gradient_penalty(d, y, fake, e)
    opt_d.zero_grad(set_to_none=True)
    loss.backward()
    opt_d.step()
    for p in d.parameters():
        p.requires_grad_(False)
    pred = g(x)
    total = F.l1_loss(pred, y) - 0.01 * d(pred).mean()
    opt_g.zero_grad(set_to_none=True)
    total.backward()
    opt_g.step()
    for p in d.parameters():
        p.requires_grad_(True)


step()
step()
samples = []
for _ in range(a.repeats):
    t0 = time.perf_counter()
    for _ in range(5):
        step()
    samples.append((time.perf_counter() - t0) / 5)
print("train.gan.unet16-patchgan32-wgangp", statistics.median(samples))
