"""Writes rau.safetensors: the PyTorch twin's (bench/rau_reference.py) weights (AdaDM moved off
its zero start so that it matters), an input whose sides are not multiples of 4, a context of two
subject features and slice positions, and the outputs with and without the context.

Run from the checkout: /usr/bin/python3 Tests/Fixtures/rau/make_reference.py
"""
import sys
import torch
from safetensors.torch import save_file

sys.path.insert(0, "bench")
from rau_reference import ResidualAttentionUNet

torch.manual_seed(3)
net = ResidualAttentionUNet(in_channels=3, features=8, multipliers=(1, 2, 2), res_blocks=1, groups=4, heads=2,
                            context_features=2, position_encoding=8, context_dim=8, cross_attention_from=1).eval()
with torch.no_grad():
    for name, p in net.named_parameters():
        if "adadm" in name:
            p.uniform_(-0.5, 0.5)
out = {f"state.{k}": v.clone().contiguous() for k, v in net.state_dict().items()}
x = torch.rand(2, 3, 13, 10)
features = torch.tensor([[0.6, 1.0], [0.3, 0.0]])
position = torch.tensor([0.2, 0.7])
with torch.no_grad():
    out["input"], out["features"], out["position"] = x, features, position
    out["output"] = net(x, features, position).contiguous()
    out["output_default"] = net(x).contiguous()
save_file(out, "Tests/Fixtures/rau/rau.safetensors", metadata={"torch": torch.__version__})
print(len(out), "tensors; params", sum(p.numel() for p in net.parameters()))
