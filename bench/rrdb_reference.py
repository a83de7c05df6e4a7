"""Seed 001's Real-ESRGAN networks in PyTorch, with upres's state-dict names (basicsr's):
twins of Sources/SuperResolution/Models/RRDBNet.swift and the unet-sn critic of Critics.swift.

RRDBNet: conv_first, residual-in-residual dense blocks (5 densely connected 3x3 convolutions,
LeakyReLU 0.2, residual scale 0.2), conv_body with a long skip, nearest upsampling of the rows
(the slice axis) by the factor, conv_up1, conv_hr, conv_last; optionally plus the linear
interpolation of the centre slice (upres's residual option).
UNetDiscriminatorSN: Real-ESRGAN's U-Net discriminator with torch.nn.utils.spectral_norm.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm

from edsr_reference import EDSR


class ResidualDenseBlock(nn.Module):
    def __init__(self, f, g):
        super().__init__()
        self.conv1 = nn.Conv2d(f, g, 3, 1, 1)
        self.conv2 = nn.Conv2d(f + g, g, 3, 1, 1)
        self.conv3 = nn.Conv2d(f + 2 * g, g, 3, 1, 1)
        self.conv4 = nn.Conv2d(f + 3 * g, g, 3, 1, 1)
        self.conv5 = nn.Conv2d(f + 4 * g, f, 3, 1, 1)

    def forward(self, x):
        a = lambda t: F.leaky_relu(t, 0.2)
        x1 = a(self.conv1(x))
        x2 = a(self.conv2(torch.cat((x, x1), 1)))
        x3 = a(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = a(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class RRDB(nn.Module):
    def __init__(self, f, g):
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = ResidualDenseBlock(f, g), ResidualDenseBlock(f, g), ResidualDenseBlock(f, g)

    def forward(self, x):
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    def __init__(self, in_channels=3, out_channels=1, features=32, blocks=4, growth=16, factor=6, residual=False):
        super().__init__()
        self.conv_first = nn.Conv2d(in_channels, features, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(features, growth) for _ in range(blocks)])
        self.conv_body = nn.Conv2d(features, features, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(features, features, 3, 1, 1)
        self.conv_hr = nn.Conv2d(features, features, 3, 1, 1)
        self.conv_last = nn.Conv2d(features, out_channels, 3, 1, 1)
        self.factor, self.residual = factor, residual
        self._interp = {}

    def forward(self, x):
        feat = self.conv_first(x)
        y = self.conv_body(self.body(feat)) + feat
        y = F.interpolate(y, scale_factor=(self.factor, 1), mode="nearest")
        y = F.leaky_relu(self.conv_up1(y), 0.2)
        out = self.conv_last(F.leaky_relu(self.conv_hr(y), 0.2))
        if self.residual:
            c = x[:, x.shape[1] // 2 : x.shape[1] // 2 + 1]
            # The thick-slice models' shared convention (EDSR's base interpolation).
            m = EDSR.interpolator(self, x.shape[2]).to(x.dtype)
            out = out + torch.einsum("jh,nchw->ncjw", m, c)
        return out


class UNetDiscriminatorSN(nn.Module):
    def __init__(self, in_channels=1, features=32):
        super().__init__()
        f = features
        sn = spectral_norm
        self.conv0 = nn.Conv2d(in_channels, f, 3, 1, 1)
        self.conv1 = sn(nn.Conv2d(f, 2 * f, 4, 2, 1, bias=False))
        self.conv2 = sn(nn.Conv2d(2 * f, 4 * f, 4, 2, 1, bias=False))
        self.conv3 = sn(nn.Conv2d(4 * f, 8 * f, 4, 2, 1, bias=False))
        self.conv4 = sn(nn.Conv2d(8 * f, 4 * f, 3, 1, 1, bias=False))
        self.conv5 = sn(nn.Conv2d(4 * f, 2 * f, 3, 1, 1, bias=False))
        self.conv6 = sn(nn.Conv2d(2 * f, f, 3, 1, 1, bias=False))
        self.conv7 = sn(nn.Conv2d(f, f, 3, 1, 1, bias=False))
        self.conv8 = sn(nn.Conv2d(f, f, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(f, 1, 3, 1, 1)

    def forward(self, x):
        h, w = x.shape[-2:]
        x = F.pad(x, (0, (8 - w % 8) % 8, 0, (8 - h % 8) % 8))
        a = lambda t: F.leaky_relu(t, 0.2)
        up = lambda t: F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)
        x0 = a(self.conv0(x))
        x1 = a(self.conv1(x0))
        x2 = a(self.conv2(x1))
        x3 = a(self.conv3(x2))
        x4 = a(self.conv4(up(x3))) + x2
        x5 = a(self.conv5(up(x4))) + x1
        x6 = a(self.conv6(up(x5))) + x0
        out = self.conv9(a(self.conv8(a(self.conv7(x6)))))
        return out[..., :h, :w]


def train_step_seconds(repeats, threads):
    """Seconds per adversarial step of configs/real-esrgan.yaml's networks (bench/run rrdb): a critic
    update on BCE, then a generator update on L1 + 0.05 x BCE; batch 6 of 3 x 16 x 64 -> 64 x 64."""
    from step_timing import median_step_seconds
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    g = RRDBNet(in_channels=3, features=32, blocks=4, growth=16, factor=4, residual=True)
    d = UNetDiscriminatorSN(features=16)
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.9, 0.99))
    opt_d = torch.optim.Adam(d.parameters(), lr=1e-4, betas=(0.9, 0.99))
    x, y = torch.rand(6, 3, 16, 64), torch.rand(6, 1, 64, 64)
    bce = F.binary_cross_entropy_with_logits

    def step():
        with torch.no_grad():
            fake = g(x)
        real_score, fake_score = d(y), d(fake)
        loss = bce(real_score, torch.ones_like(real_score)) + bce(fake_score, torch.zeros_like(fake_score))
        opt_d.zero_grad(set_to_none=True)
        loss.backward()
        opt_d.step()
        for p in d.parameters():
            p.requires_grad_(False)
        pred = g(x)
        score = d(pred)
        total = F.l1_loss(pred, y) + 0.05 * bce(score, torch.ones_like(score))
        opt_g.zero_grad(set_to_none=True)
        total.backward()
        opt_g.step()
        for p in d.parameters():
            p.requires_grad_(True)

    return median_step_seconds(step, repeats)


if __name__ == "__main__":
    from step_timing import main
    main("train.rrdb32x4-unetsn16-bce.step", train_step_seconds)
