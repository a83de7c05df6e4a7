"""The PyTorch side of bench/: the same work as `upres-bench`, on Debian's python3-torch (the same
libtorch 1.13 as upres). Prints `name seconds` lines, medians of --repeats runs.

    /usr/bin/python3 bench/torch_reference.py overhead|conv|all [--repeats N] [--threads N] [--iterations N]
"""
import argparse
import statistics
import time

import torch


def per_call(repeats, iterations, body):
    for _ in range(max(iterations // 10, 1)):
        body()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(iterations):
            body()
        samples.append((time.perf_counter() - t0) / iterations)
    return statistics.median(samples)


def overhead(o):
    a = torch.rand(4, generator=torch.Generator().manual_seed(1))
    b = torch.rand(4, generator=torch.Generator().manual_seed(2))
    m = torch.rand(2, 2, generator=torch.Generator().manual_seed(3))

    def autograd_step():
        x = a.detach().requires_grad_(True)
        y = (x * x).sum()
        y.backward()

    cases = [
        ("overhead.add", lambda: a + b),
        ("overhead.mul_scalar", lambda: a * 2.0),
        ("overhead.relu", lambda: a.relu()),
        ("overhead.sum", lambda: a.sum()),
        ("overhead.reshape", lambda: a.reshape(2, 2)),
        ("overhead.zeros", lambda: torch.zeros(4)),
        ("overhead.matmul", lambda: m.matmul(m)),
        ("overhead.autograd_step", autograd_step),
    ]
    for name, body in cases:
        print(name, per_call(o.repeats, o.iterations, body), flush=True)


def conv(o):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 64, 96, 96, generator=g).requires_grad_(True)
    w = (torch.randn(64, 64, 3, 3, generator=g) * 0.05).requires_grad_(True)
    bias = torch.zeros(64).requires_grad_(True)

    def step():
        y = torch.nn.functional.conv2d(x, w, bias, padding=1)
        y.sum().backward()
        x.grad = None
        w.grad = None
        bias.grad = None

    for _ in range(2):
        step()
    samples = []
    for _ in range(o.repeats):
        t0 = time.perf_counter()
        for _ in range(o.conv_iterations):
            step()
        samples.append((time.perf_counter() - t0) / o.conv_iterations)
    print("conv2d_fwd_bwd.8x64x96x96", statistics.median(samples), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("which", nargs="?", default="all", choices=["overhead", "conv", "all"])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--iterations", type=int, default=20000)
    p.add_argument("--conv-iterations", type=int, default=5)
    o = p.parse_args()
    import os
    torch.set_num_threads(o.threads or os.cpu_count())
    if o.which in ("overhead", "all"):
        overhead(o)
    if o.which in ("conv", "all"):
        conv(o)


if __name__ == "__main__":
    main()
