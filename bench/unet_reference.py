"""Seed 000's attention U-Net in PyTorch, with upres's state-dict names (twin of
Sources/SuperResolution/Models/AttentionUNet.swift).

Double 3x3 convolution blocks with affine instance normalization and LeakyReLU; 2x2 max pooling
down; 2x2 stride-2 transposed convolutions up; an additive attention gate (Oktay et al. 2018:
alpha = sigmoid(psi(relu(W_g g + W_x x)))) on every skip connection; concatenation; a 1x1 output
convolution and a final sigmoid (or identity), plus optionally one input channel (residual).
Sides that are not multiples of 2^depth are zero-padded and cropped back.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvBlock(nn.Module):
    def __init__(self, cin, cout, slope):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm1 = nn.InstanceNorm2d(cout, affine=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.norm2 = nn.InstanceNorm2d(cout, affine=True)
        self.slope = slope

    def forward(self, x):
        x = F.leaky_relu(self.norm1(self.conv1(x)), self.slope)
        return F.leaky_relu(self.norm2(self.conv2(x)), self.slope)


class AttentionGate(nn.Module):
    def __init__(self, gate, skip, inner):
        super().__init__()
        self.gate_conv = nn.Conv2d(gate, inner, 1)
        self.skip_conv = nn.Conv2d(skip, inner, 1)
        self.psi = nn.Conv2d(inner, 1, 1)

    def forward(self, g, x):
        alpha = torch.sigmoid(self.psi(F.relu(self.gate_conv(g) + self.skip_conv(x))))
        return x * alpha, alpha


class AttentionUNet(nn.Module):
    def __init__(self, in_channels=1, out_channels=1, features=16, depth=4, negative_slope=0.2,
                 final_activation="sigmoid", residual_channel=None):
        super().__init__()
        w = [features << l for l in range(depth + 1)]
        self.depth = depth
        self.encoders = nn.ModuleList(ConvBlock(in_channels if l == 0 else w[l - 1], w[l], negative_slope) for l in range(depth))
        self.bottleneck = ConvBlock(w[depth - 1], w[depth], negative_slope)
        self.ups = nn.ModuleList(nn.ConvTranspose2d(w[l + 1], w[l], 2, stride=2) for l in range(depth))
        self.gates = nn.ModuleList(AttentionGate(w[l], w[l], w[l] // 2) for l in range(depth))
        self.decoders = nn.ModuleList(ConvBlock(2 * w[l], w[l], negative_slope) for l in range(depth))
        self.head = nn.Conv2d(features, out_channels, 1)
        self.final_activation = final_activation
        self.residual_channel = residual_channel

    def forward(self, x, return_attention=False):
        h, w = x.shape[-2:]
        m = 1 << self.depth
        ph, pw = (m - h % m) % m, (m - w % m) % m
        y = F.pad(x, (0, pw, 0, ph))
        skips = []
        for l, enc in enumerate(self.encoders):
            if l > 0:
                y = F.max_pool2d(y, 2)
            y = enc(y)
            skips.append(y)
        y = self.bottleneck(F.max_pool2d(y, 2))
        alphas = [None] * self.depth
        for l in reversed(range(self.depth)):
            up = self.ups[l](y)
            gated, alpha = self.gates[l](up, skips[l])
            y = self.decoders[l](torch.cat([gated, up], 1))
            alphas[l] = alpha[..., : (h + (1 << l) - 1) >> l, : (w + (1 << l) - 1) >> l]
        out = self.head(y)
        if self.final_activation == "sigmoid":
            out = torch.sigmoid(out)
        out = out[..., :h, :w]
        if self.residual_channel is not None:
            out = out + x[:, self.residual_channel : self.residual_channel + 1]
        return (out, alphas) if return_attention else out
