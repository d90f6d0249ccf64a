"""ResNet-50's count at 1,000 input sizes: one symbolic trace, against FlopCounterMode at each size.

One run: ``convops.profile(model, (1, 3, "H", "W"))`` traces ResNet-50 once with symbolic sizes;
its ``evaluate`` then gives (multiplications, additions, total) at 1,000 sizes (H and W drawn in
64–1024, H ≠ W; the compilation of the formulas is part of the first call and of the time).
FlopCounterMode runs a meta forward at each size: it is timed at 20 of them and its time for the
1,000 is extrapolated (×50).  At those 20 sizes the symbolic profile must equal the numeric one,
row by row, and FlopCounterMode's convolution FLOPs / 2.  One FlopCounterMode call first warms up
what both need (torch imports Dynamo on a dispatch mode's first use).

    .venv/bin/python benchmarks/symbolic_profile.py [--sizes 1000] [--sampled 20]
"""

from __future__ import annotations

import argparse
import random
import time

import torch

import convops
from convops_book.models import resnet50
from profile_speed import flop_counter  # benchmarks/, beside this file


def flop_counter_multiplications(model, shape) -> int:
    return flop_counter(model, torch.empty(shape, device="meta")) // 2


def main(count: int, sampled: int) -> None:
    with torch.device("meta"):
        model = resnet50().eval()
    rng = random.Random(0)
    sizes = []
    while len(sizes) < count:
        h, w = rng.randint(64, 1024), rng.randint(64, 1024)
        if h != w:
            sizes.append((h, w))
    flop_counter_multiplications(model, (1, 3, 224, 224))  # warm-up

    start = time.perf_counter()
    symbolic = convops.profile(model, (1, 3, "H", "W"))
    traced = time.perf_counter()
    values = [symbolic.evaluate(H=h, W=w) for h, w in sizes]
    swept = time.perf_counter()
    trace_s, evaluate_s = traced - start, swept - traced

    sample = sizes[::count // sampled][:sampled]
    fcm_times, mismatches = [], 0
    for h, w in sample:
        start = time.perf_counter()
        fcm = flop_counter_multiplications(model, (1, 3, h, w))
        fcm_times.append(time.perf_counter() - start)
        numeric = convops.profile(model, (1, 3, h, w))
        value = values[sizes.index((h, w))]
        same = (value == (numeric.multiplications, numeric.additions, numeric.total)
                and symbolic.at(H=h, W=w) == numeric and fcm == numeric.multiplications)
        mismatches += not same
    fcm_each = sum(fcm_times) / len(fcm_times)
    sweep = trace_s + evaluate_s
    print(f"ResNet-50, total = {symbolic.regions[0].total}")
    print(f"symbolic trace and formulas {trace_s:.3f} s; {count} evaluations {evaluate_s:.3f} s "
          f"(first, compiling, included); sweep {sweep:.3f} s")
    print(f"FlopCounterMode {fcm_each * 1e3:.1f} ms per size (mean of {len(sample)}), "
          f"×{count} = {fcm_each * count:.1f} s (extrapolated ×{count // len(sample)})")
    print(f"sweep is {fcm_each * count / sweep:.0f}× faster; at the {len(sample)} sampled sizes "
          f"the symbolic profile equals the numeric one row by row and FlopCounterMode / 2: "
          f"{len(sample) - mismatches}/{len(sample)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, default=1000)
    parser.add_argument("--sampled", type=int, default=20)
    arguments = parser.parse_args()
    main(arguments.sizes, arguments.sampled)
