"""Seconds per training step for the PyTorch twins' `train` modes (bench/run): `warm_up` steps
first, then the median over `repeats` runs of `steps` steps, each run divided by `steps`."""
import statistics
import time


def median_step_seconds(step, repeats, warm_up=2, steps=5):
    for _ in range(warm_up):
        step()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        samples.append((time.perf_counter() - t0) / steps)
    return statistics.median(samples)


def main(name, seconds):
    """The twins' command line: `python3 bench/X_reference.py train [--repeats N] [--threads T]`."""
    import argparse
    import os
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["train"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    print(name, seconds(a.repeats, a.threads))
