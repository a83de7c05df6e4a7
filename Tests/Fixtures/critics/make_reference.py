"""Writes critics.safetensors: the PyTorch twins' (bench/critic_reference.py) weights, inputs,
outputs, WGAN-GP penalties and the penalties' gradients, for the Swift critics to match.

Run from the checkout: /usr/bin/python3 Tests/Fixtures/critics/make_reference.py
(Debian's python3-torch 1.13 and PyPI safetensors).
"""
import sys
import torch
from safetensors.torch import save_file

sys.path.insert(0, "bench")
from critic_reference import DCGANCritic, PatchGANCritic, gradient_penalty

torch.manual_seed(7)
out = {}
cases = [
    ("dcgan", DCGANCritic(features=4, blocks=2, patch=(12, 8)), (3, 1, 12, 8)),
    ("patchgan", PatchGANCritic(features=4, layers=2), (2, 1, 16, 20)),
]
for name, critic, shape in cases:
    critic = critic.double().eval()
    for k, v in critic.state_dict().items():
        out[f"{name}.state.{k}"] = v.contiguous()
    real = torch.rand(shape, dtype=torch.float64)
    fake = torch.rand(shape, dtype=torch.float64)
    eps = torch.rand((shape[0], 1, 1, 1), dtype=torch.float64)
    out[f"{name}.real"], out[f"{name}.fake"], out[f"{name}.eps"] = real, fake, eps
    out[f"{name}.output"] = critic(real).detach()
    gp = gradient_penalty(critic, real, fake, eps)
    out[f"{name}.penalty"] = gp.detach().reshape(1)
    # (A bias right before the output does not change the input gradient: its gradient is 0.)
    grads = torch.autograd.grad(gp, list(critic.parameters()), allow_unused=True)
    for (k, p), g in zip(critic.named_parameters(), grads):
        out[f"{name}.penalty_grad.{k}"] = (torch.zeros_like(p) if g is None else g).contiguous()
save_file(out, "Tests/Fixtures/critics/critics.safetensors", metadata={"torch": torch.__version__})
print(len(out), "tensors, torch", torch.__version__)
