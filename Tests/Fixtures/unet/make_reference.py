"""Writes unet.safetensors: the PyTorch twin's (bench/unet_reference.py) weights, an input whose
sides are not multiples of 16 (padding and cropping are exercised), its output and attention maps.

Run from the checkout: /usr/bin/python3 Tests/Fixtures/unet/make_reference.py
"""
import sys
import torch
from safetensors.torch import save_file

sys.path.insert(0, "bench")
from unet_reference import AttentionUNet

torch.manual_seed(11)
out = {}
net = AttentionUNet(in_channels=3, features=4, depth=3, final_activation="sigmoid").eval()
for k, v in net.state_dict().items():
    out[f"state.{k}"] = v.contiguous()
x = torch.rand(2, 3, 21, 26)
with torch.no_grad():
    y, alphas = net(x, return_attention=True)
out["input"], out["output"] = x, y.contiguous()
for l, a in enumerate(alphas):
    out[f"attention.{l}"] = a.contiguous()
save_file(out, "Tests/Fixtures/unet/unet.safetensors", metadata={"torch": torch.__version__})
print(len(out), "tensors; output", tuple(y.shape), "params", sum(p.numel() for p in net.parameters()))
