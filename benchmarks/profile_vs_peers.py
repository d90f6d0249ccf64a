"""convops.profile against FlopCounterMode, fvcore, ptflops, thop and moduleprofiler on whole models.

For each model, in the same run: the time each tool takes (median of repeats) and its count of the
model's convolutions, reconciled with convops to the last operation by converting the tool's
convention exactly (convops.peers.PEERS[...].expected, summed layer by layer).

    .venv/bin/python benchmarks/profile_vs_peers.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import statistics
import time
import warnings
from fractions import Fraction

import torch
from torch import nn

import convops
from convops.peers import PEERS
from convops_book.models import UNet, resnet50

CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def _other_leaf_types(model):
    return {type(m) for m in model.modules() if not isinstance(m, CONV) and not list(m.children())}


def flop_counter(model, shape):
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.empty(shape, device="meta"))
    return sum(n for op, n in counter.get_flop_counts()["Global"].items() if "convolution" in str(op))


def fvcore(model, shape):
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, torch.zeros(shape))
    analysis.unsupported_ops_warnings(False)
    return analysis.by_operator()["conv"]


def ptflops(model, shape):
    from ptflops import get_model_complexity_info

    macs, _ = get_model_complexity_info(
        model, shape, as_strings=False, print_per_layer_stat=False, backend="pytorch",
        input_constructor=lambda s: torch.empty(s, device="meta"),
        ignore_modules=list(_other_leaf_types(model)),
        backend_specific_config={"count_functional": False})
    return macs


def thop(model, shape):
    from thop import profile

    skip = {t: (lambda m, x, y: None) for t in _other_leaf_types(model)}
    ops, _ = profile(model, (torch.empty(shape, device="meta"),), custom_ops=skip, verbose=False)
    return float(ops)


def moduleprofiler(model, shape):
    from moduleprofiler import ModuleProfiler

    data = ModuleProfiler().estimate_ops(model, torch.zeros(shape))
    modules = dict(model.named_modules())
    return sum(row["ops"] for name, row in data.items() if isinstance(modules.get(name), CONV))


#: tool -> (function, device it runs on: meta where the tool works on meta tensors)
TOOLS = {"FlopCounterMode": (flop_counter, "meta"), "fvcore": (fvcore, "cpu"),
         "ptflops": (ptflops, "meta"), "thop": (thop, "meta"), "moduleprofiler": (moduleprofiler, "cpu")}


def expected(model, profile, tool) -> Fraction:
    """convops' per-layer counts converted to ``tool``'s convention, summed."""
    modules = dict(model.named_modules())
    return sum(PEERS[tool].expected(convops.Layer.from_module(modules[layer.name]), layer.input_shape,
                                    layer.breakdown) for layer in profile.counted)


def explained(model, profile, tool, value) -> str:
    """How the tool's count differs: its own formula (emulated) and the bugs that apply."""
    modules, peer, emulated, bugs = dict(model.named_modules()), PEERS[tool], Fraction(0), set()
    for layer in profile.counted:
        args = (convops.Layer.from_module(modules[layer.name]), layer.input_shape, layer.breakdown)
        emulated += peer.emulate(*args)
        bugs.update(bug.name for bug in peer.bugs if bug.applies(*args))
    if Fraction(value) != emulated:
        return "UNEXPLAINED"
    return "its formula, exactly: " + "; ".join(sorted(bugs))


def timed(function, repeats):
    times, value = [], None
    for _ in range(repeats + 1):  # the first call warms caches and is not timed
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            value = function()
            times.append(time.perf_counter() - start)
    return statistics.median(times[1:]), value


def main(repeats: int) -> None:
    torch.manual_seed(0)
    for model, shape in ((resnet50(), (1, 3, 224, 224)), (UNet(), (1, 3, 128, 128))):
        model.eval()
        meta = copy.deepcopy(model).to("meta")
        base, profile = timed(lambda: convops.profile(model, shape), repeats)
        print(f"\n{type(model).__name__} on {shape}: {len(profile.counted)} convolution calls, "
              f"convops.profile {base * 1e3:.1f} ms, total {profile.total:,} "
              f"({profile.multiplications:,} multiplications + {profile.additions:,} additions)")
        print(f"{'tool':16} {'runs on':8} {'time ms':>9} {'time / convops':>15} {'tool count':>16} "
              f"{'convops, converted':>19}  reconciled")
        for tool, (function, device) in TOOLS.items():
            if not PEERS[tool].available:
                print(f"{tool:16} not installed")
                continue
            target = meta if device == "meta" else model
            seconds, value = timed(lambda: function(target, shape), repeats)
            want = expected(model, profile, tool)
            print(f"{tool:16} {device:8} {seconds * 1e3:9.1f} {seconds / base:15.2f} "
                  f"{float(value):16,.0f} {float(want):19,.0f}  "
                  f"{'exact' if Fraction(value) == want else explained(model, profile, tool, value)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    main(parser.parse_args().repeats)
