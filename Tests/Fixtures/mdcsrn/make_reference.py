"""Writes mdcsrn.safetensors: the PyTorch twins' (bench/mdcsrn_reference.py) weights, inputs
and outputs: a small mDCSRN with and without the residual, and the 3-D PatchGAN critic (patchgan, dimensions 3).

Run from the checkout: /usr/bin/python3 Tests/Fixtures/mdcsrn/make_reference.py
"""
import sys
import torch
from safetensors.torch import save_file

sys.path.insert(0, "bench")
from mdcsrn_reference import MDCSRN, PatchGAN3d

torch.manual_seed(2)
out = {}
for name, residual in (("mdcsrn", True), ("mdcsrn_plain", False)):
    net = MDCSRN(in_channels=1, features=4, growth=3, blocks=2, units=2, residual=residual).eval()
    for k, v in net.state_dict().items():
        out[f"{name}.state.{k}"] = v.contiguous()
    x = torch.rand(2, 1, 9, 10, 11)
    with torch.no_grad():
        out[f"{name}.input"], out[f"{name}.output"] = x, net(x).contiguous()
critic = PatchGAN3d(in_channels=1, features=4, layers=2).eval()
for k, v in critic.state_dict().items():
    out[f"critic.state.{k}"] = v.contiguous()
x = torch.rand(2, 1, 13, 12, 14)
with torch.no_grad():
    out["critic.input"], out["critic.output"] = x, critic(x).contiguous()
save_file(out, "Tests/Fixtures/mdcsrn/mdcsrn.safetensors", metadata={"torch": torch.__version__})
print(len(out), "tensors, torch", torch.__version__)
