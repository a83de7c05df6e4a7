"""The critics of upres's adversarial training in PyTorch, with upres's state-dict names.

Twins of Sources/SuperResolution/Models/Critics.swift:
- DCGANCritic (seed 000): blocks of 4x4 stride-2 convolutions + LeakyReLU + dropout, a one-filter
  3x3 convolution, flatten, one dense layer to a logit.
- PatchGANCritic (seed 004): 4x4 convolutions (stride 2, the last stride 1), layer normalization
  over (C, H, W) with per-channel affine (GroupNorm with one group), LeakyReLU 0.2, and a final
  4x4 convolution to one score per patch.
And WGAN-GP's gradient penalty as Gulrajani et al. write it.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class DCGANCritic(nn.Module):
    def __init__(self, in_channels=1, features=32, blocks=4, dropout=0.5, negative_slope=0.2, patch=(64, 64)):
        super().__init__()
        chans = [in_channels] + [features << i for i in range(blocks)]
        self.blocks = nn.ModuleList(nn.Conv2d(chans[i], chans[i + 1], 4, stride=2, padding=1) for i in range(blocks))
        self.dropout = dropout
        self.slope = negative_slope
        self.head = nn.Conv2d(chans[-1], 1, 3, padding=1)
        self.dense = nn.Linear((patch[0] >> blocks) * (patch[1] >> blocks), 1)

    def forward(self, x):
        for conv in self.blocks:
            x = F.dropout(F.leaky_relu(conv(x), self.slope), self.dropout, self.training)
        return self.dense(self.head(x).flatten(1))


class PatchGANCritic(nn.Module):
    def __init__(self, in_channels=1, features=32, layers=3, negative_slope=0.2):
        super().__init__()
        convs = [nn.Conv2d(in_channels, features, 4, stride=2, padding=1)]
        norms = []
        chans = features
        for i in range(1, layers + 1):
            out = features << min(i, 3)
            convs.append(nn.Conv2d(chans, out, 4, stride=2 if i < layers else 1, padding=1))
            norms.append(nn.GroupNorm(1, out))
            chans = out
        self.convs = nn.ModuleList(convs)
        self.norms = nn.ModuleList(norms)
        self.head = nn.Conv2d(chans, 1, 4, padding=1)
        self.slope = negative_slope

    def forward(self, x):
        x = F.leaky_relu(self.convs[0](x), self.slope)
        for conv, norm in zip(self.convs[1:], self.norms):
            x = F.leaky_relu(norm(conv(x)), self.slope)
        return self.head(x)


def gradient_penalty(critic, real, fake, eps):
    """mean((|grad D(x_hat)|_2 - 1)^2), x_hat = eps real + (1 - eps) fake, differentiable."""
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    score = critic(mixed)
    (g,) = torch.autograd.grad(score, mixed, torch.ones_like(score), create_graph=True)
    return ((g.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
