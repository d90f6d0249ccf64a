"""convops.profile against FlopCounterMode and a plain forward, all on the same meta model.

One run times, round by round and interleaved (so that a busy machine slows all three alike):
the model's forward on meta tensors alone; FlopCounterMode around that forward; and
``convops.profile(model, shape).total``, which runs the same forward under its own dispatch mode
and counts every convolution.  It reports the minimum over rounds of each, and the ratios.
"cold" clears convops' caches of layers already counted before every round; "inference" runs
profile under ``torch.inference_mode()``, where the capture decomposes torch's composite
operators (``aten.conv2d`` …) itself.  Goal (issue 25): profile ≤ 0.3 × FlopCounterMode on both
models, in this same run, inference mode included, and equal counts.

profile is faster than the forward alone because batch norm in eval mode, whose output is shaped
like its input, is not recomputed on meta tensors (torch's meta batch norm runs its Python
decomposition, most of a meta forward of these models); every other operation runs as in the
forward.

    .venv/bin/python benchmarks/profile_speed.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

import convops
from convops.caches import forget
from convops_book.models import UNet, resnet50


def forward(model, x):
    with torch.no_grad():
        model(x)


def flop_counter(model, x):
    """FlopCounterMode's FLOPs of the convolutions (it counts the linear layer too), on a model
    already in eval mode on meta: exactly what a user of FlopCounterMode runs."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return sum(n for op, n in counter.get_flop_counts()["Global"].items()
               if "convolution" in str(op))


def cold_profile(model, shape):
    forget()  # every layer and call unseen
    return convops.profile(model, shape).total


def inference_profile(model, shape):
    with torch.inference_mode():
        return convops.profile(model, shape).total


def main(rounds: int) -> int:
    print(f"torch {torch.__version__}; minimum over {rounds} interleaved rounds")
    print(f"{'model':10} {'forward ms':>10} {'FCM ms':>8} {'profile ms':>10} {'cold ms':>8} "
          f"{'infer ms':>8} {'profile/FCM':>11} {'infer/FCM':>9} {'profile/forward':>15} "
          f"{'cold/forward':>12}  counts")
    goals = True
    for name, build, shape in (("ResNet-50", resnet50, (1, 3, 224, 224)),
                               ("U-Net", UNet, (1, 3, 128, 128))):
        with torch.device("meta"):
            model = build().eval()
        x = torch.empty(shape, device="meta")
        tasks = {"forward": lambda: forward(model, x), "FCM": lambda: flop_counter(model, x),
                 "profile": lambda: convops.profile(model, shape).total,
                 "cold": lambda: cold_profile(model, shape),
                 "inference": lambda: inference_profile(model, shape)}
        best = dict.fromkeys(tasks, float("inf"))
        for task in tasks.values():  # warm up: imports, torch's own caches
            task()
        for _ in range(rounds):
            for key, task in tasks.items():
                start = time.perf_counter()
                task()
                best[key] = min(best[key], time.perf_counter() - start)
        profile = convops.profile(model, shape)
        agree = (2 * profile.multiplications == flop_counter(model, x)
                 and inference_profile(model, shape) == profile.total)
        ratio, inference = best["profile"] / best["FCM"], best["inference"] / best["FCM"]
        goals &= agree and max(ratio, inference) <= 0.3
        print(f"{name:10} {best['forward'] * 1e3:10.1f} {best['FCM'] * 1e3:8.1f} "
              f"{best['profile'] * 1e3:10.1f} {best['cold'] * 1e3:8.1f} "
              f"{best['inference'] * 1e3:8.1f} {ratio:11.2f} {inference:9.2f} "
              f"{best['profile'] / best['forward']:15.2f} {best['cold'] / best['forward']:12.2f}  "
              f"{'= FlopCounterMode / 2' if agree else 'DIFFER from FlopCounterMode'}")
    print("goals met" if goals else "GOALS NOT MET")
    return 0 if goals else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    sys.exit(main(parser.parse_args().rounds))
