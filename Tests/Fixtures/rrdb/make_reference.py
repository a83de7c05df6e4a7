"""Writes rrdb.safetensors: the PyTorch twins' (bench/rrdb_reference.py) weights, inputs and
outputs: the RRDB generator (with and without the residual), and the spectral-norm U-Net critic
in evaluation mode and after one training-mode forward pass (its power iteration advanced).

Run from the checkout: /usr/bin/python3 Tests/Fixtures/rrdb/make_reference.py
"""
import sys
import torch
from safetensors.torch import save_file

sys.path.insert(0, "bench")
from rrdb_reference import RRDBNet, UNetDiscriminatorSN

torch.manual_seed(5)
out = {}
for name, residual in (("rrdb", False), ("rrdb_residual", True)):
    net = RRDBNet(in_channels=3, features=8, blocks=2, growth=4, factor=3, residual=residual).eval()
    for k, v in net.state_dict().items():
        out[f"{name}.state.{k}"] = v.contiguous()
    x = torch.rand(2, 3, 5, 7)
    with torch.no_grad():
        out[f"{name}.input"], out[f"{name}.output"] = x, net(x).contiguous()

critic = UNetDiscriminatorSN(in_channels=1, features=4)
critic.train()
with torch.no_grad():
    critic(torch.rand(1, 1, 16, 16))  # advance u and v once: a critic mid-training
for k, v in critic.state_dict().items():
    out[f"unet.state.{k}"] = v.clone().contiguous()
x = torch.rand(2, 1, 19, 13)
critic.eval()
with torch.no_grad():
    out["unet.input"], out["unet.eval_output"] = x, critic(x).contiguous()
critic.train()
with torch.no_grad():
    out["unet.train_output"] = critic(x).contiguous()
for k, v in critic.state_dict().items():
    if k.endswith("weight_u") or k.endswith("weight_v"):
        out[f"unet.after.{k}"] = v.clone().contiguous()
save_file(out, "Tests/Fixtures/rrdb/rrdb.safetensors", metadata={"torch": torch.__version__})
print(len(out), "tensors, torch", torch.__version__)
