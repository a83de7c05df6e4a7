"""Seed 004's residual attention U-Net in PyTorch, with upres's state-dict names (twin of
Sources/SuperResolution/Models/ResidualAttentionUNet.swift).

Residual blocks (GroupNorm, SiLU, 3x3 conv, twice) with AdaDM (the branch scaled by
exp(w log std(x) + b), std per sample over the block input); max pooling down, nearest upsampling
+ 3x3 conv up; self-attention at the bottleneck; cross-attention to context tokens (one per
subject feature: feature x scale + shift; one for the slice position: a linear map of its
sinusoidal encoding) on the deeper levels; the centre slice added to the output.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class AdaDMResBlock(nn.Module):
    def __init__(self, cin, cout, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(min(groups, cin), cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.adadm_weight = nn.Parameter(torch.zeros(1))
        self.adadm_bias = nn.Parameter(torch.zeros(1))
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        dev = x.flatten(1).std(dim=1, unbiased=False).clamp(min=1e-6).reshape(-1, 1, 1, 1)
        h = h * torch.exp(self.adadm_weight * dev.log() + self.adadm_bias)
        return (self.skip(x) if self.skip is not None else x) + h


class SpatialAttention(nn.Module):
    def __init__(self, channels, groups, heads, context_dim=None):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.attention = nn.MultiheadAttention(channels, heads, batch_first=True)
        self.context_proj = nn.Linear(context_dim, channels) if context_dim else None

    def forward(self, x, context=None):
        n, c, h, w = x.shape
        tokens = self.norm(x).reshape(n, c, h * w).transpose(1, 2)
        other = self.context_proj(context) if self.context_proj is not None else tokens
        out, _ = self.attention(tokens, other, other, need_weights=False)
        return x + out.transpose(1, 2).reshape(n, c, h, w)


class UNetLevel(nn.Module):
    def __init__(self, blocks, cross):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.cross = cross

    def forward(self, x, context):
        for b in self.blocks:
            x = b(x)
        return self.cross(x, context) if self.cross is not None else x


def position_encoding(p, dims):
    half = dims // 2
    freqs = torch.tensor([1000 / 10000 ** (2 * i / dims) for i in range(half)], dtype=p.dtype)
    angles = p.reshape(-1, 1) * freqs.reshape(1, -1)
    return torch.cat([angles.sin(), angles.cos()], 1)


class ResidualAttentionUNet(nn.Module):
    def __init__(self, in_channels=3, out_channels=1, features=16, multipliers=(1, 2, 2, 2), res_blocks=2, groups=8, heads=4,
                 context_features=0, position_encoding=16, context_dim=32, cross_attention_from=2, residual_channel=1):
        super().__init__()
        w = [m * features for m in multipliers]
        levels = len(w)
        has_context = context_features > 0 or position_encoding > 0
        ctx = context_dim if has_context else None
        cross = lambda l, c: SpatialAttention(c, groups, heads, ctx) if ctx and l >= cross_attention_from else None
        self.conv_in = nn.Conv2d(in_channels, w[0], 3, padding=1)
        self.down = nn.ModuleList(
            UNetLevel([AdaDMResBlock((w[0] if l == 0 else w[l - 1]) if b == 0 else w[l], w[l], groups) for b in range(res_blocks)], cross(l, w[l]))
            for l in range(levels))
        d = w[-1]
        self.mid_block1 = AdaDMResBlock(d, d, groups)
        self.mid_attention = SpatialAttention(d, groups, heads)
        self.mid_cross = cross(levels, d)
        self.mid_block2 = AdaDMResBlock(d, d, groups)
        self.upsample = nn.ModuleList(nn.Conv2d(w[l + 1], w[l + 1], 3, padding=1) for l in range(levels - 1))
        ups = []
        for l in range(levels):
            incoming = (d if l == levels - 1 else w[l + 1]) + w[l]
            ups.append(UNetLevel([AdaDMResBlock(incoming if b == 0 else w[l], w[l], groups) for b in range(res_blocks)], cross(l, w[l])))
        self.up = nn.ModuleList(ups)
        self.norm_out = nn.GroupNorm(groups, w[0])
        self.conv_out = nn.Conv2d(w[0], out_channels, 3, padding=1)
        self.context_scale = nn.Parameter(torch.randn(context_features, ctx) * 0.02) if ctx and context_features else None
        self.context_shift = nn.Parameter(torch.randn(context_features, ctx) * 0.02) if ctx and context_features else None
        self.position_proj = nn.Linear(position_encoding, ctx) if ctx and position_encoding else None
        self.position_dims, self.context_features, self.has_context = position_encoding, context_features, has_context
        self.levels, self.residual_channel = levels, residual_channel

    def context_tokens(self, n, features, position, dtype):
        if not self.has_context:
            return None
        tokens = []
        if self.context_scale is not None:
            f = features if features is not None else torch.zeros(n, self.context_features, dtype=dtype)
            tokens.append(f.unsqueeze(2) * self.context_scale.unsqueeze(0) + self.context_shift.unsqueeze(0))
        if self.position_proj is not None:
            p = position if position is not None else torch.full((n,), 0.5, dtype=dtype)
            tokens.append(self.position_proj(position_encoding(p, self.position_dims)).unsqueeze(1))
        return torch.cat(tokens, 1)

    def forward(self, x, features=None, position=None):
        h, w = x.shape[-2:]
        m = 1 << (self.levels - 1)
        y = F.pad(x, (0, (m - w % m) % m, 0, (m - h % m) % m))
        context = self.context_tokens(x.shape[0], features, position, x.dtype)
        y = self.conv_in(y)
        skips = []
        for l, level in enumerate(self.down):
            if l > 0:
                y = F.max_pool2d(y, 2)
            y = level(y, context)
            skips.append(y)
        y = self.mid_attention(self.mid_block1(y))
        if self.mid_cross is not None:
            y = self.mid_cross(y, context)
        y = self.mid_block2(y)
        for l in reversed(range(self.levels)):
            if l < self.levels - 1:
                y = self.upsample[l](F.interpolate(y, scale_factor=2, mode="nearest"))
            y = self.up[l](torch.cat([y, skips[l]], 1), context)
        out = self.conv_out(F.silu(self.norm_out(y)))[..., :h, :w]
        if self.residual_channel is not None:
            out = out + x[:, self.residual_channel : self.residual_channel + 1]
        return out


def train_step_seconds(repeats, threads):
    """Seconds per training step of configs/residual-attention-unet.yaml's generator (bench/run rau):
    Adam, L1, batch 4 of 3 x 64 x 64 with slice positions."""
    from step_timing import median_step_seconds
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = ResidualAttentionUNet()
    opt = torch.optim.Adam(net.parameters(), lr=5e-4)
    x, y, position = torch.rand(4, 3, 64, 64), torch.rand(4, 1, 64, 64), torch.rand(4)

    def step():
        loss = F.l1_loss(net(x, position=position), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return median_step_seconds(step, repeats)


if __name__ == "__main__":
    from step_timing import main
    main("train.rau16-1222.step", train_step_seconds)
