"""By hand, not in CI: convops.profile against FlopCounterMode on torchvision's and timm's models.

Neither torchvision nor timm is a dependency of convops.  Run this in a side environment where
they are installed next to torch 2.13.0 without their dependencies, e.g.

    python3 -m venv /tmp/zoo
    /tmp/zoo/bin/pip install torch==2.13.0
    /tmp/zoo/bin/pip install --no-deps "torchvision==0.28.*" timm huggingface_hub safetensors
    PYTHONPATH=. /tmp/zoo/bin/python benchmarks/zoo_check.py [--timm-sample 0]

torchvision's compiled operators do not load on a CPU-only torch, so its meta registrations are
replaced by an empty module before ``import torchvision``; its models then build on meta.  Every
model is built under ``torch.device("meta")``; for each, the multiplications convops counts are
compared with FlopCounterMode's convolution FLOPs / 2 on the same model, and the time of
``convops.profile`` with FlopCounterMode's.  torchvision's detection models are left out: their
box selection (``nonzero``) depends on data, so neither tool can run them on meta.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import traceback
import types

sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import convops  # noqa: E402

#: The timm models whose convolutions pad in ``forward`` (issue 11), and a few more families.
TIMM = ["tf_efficientnet_b0", "tf_mobilenetv3_large_100", "tf_mixnet_l", "tf_efficientnet_el",
        "efficientnet_b2_pruned", "dm_nfnet_f2", "nasnetalarge", "vit_small_r26_s32_224"]


def flop_counter(model, inputs):
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(*inputs)
    flops = sum(n for op, n in counter.get_flop_counts()["Global"].items()
                if "convolution" in str(op))
    return flops


def best(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - start)
    return min(times), value


def check(name, build, shapes, repeats, results):
    try:
        with torch.device("meta"):
            model = build().eval()
        inputs = [torch.empty(shape, device="meta") for shape in shapes]
        try:
            fcm_time, flops = best(lambda: flop_counter(model, inputs), repeats)
        except Exception as error:  # noqa: BLE001
            print(f"{name:40} skipped: FlopCounterMode fails, {error!r}"[:300], flush=True)
            return
        convops_time, profile = best(lambda: convops.profile(model, *shapes), repeats)
        refused = [layer for layer in profile.not_counted if layer.op == "aten.convolution"]
        ok = 2 * profile.multiplications == flops and not refused
        results.append((name, ok, convops_time / fcm_time, ""))
        status = "exact" if ok else f"MISMATCH {2 * profile.multiplications} vs {flops}"
        print(f"{name:40} {status:10} calls {len(profile.counted):4}  "
              f"profile/FCM {convops_time / fcm_time:5.2f}", flush=True)
    except Exception as error:  # noqa: BLE001 - a by-hand survey reports every failure and goes on
        results.append((name, False, None, repr(error)))
        print(f"{name:40} FAILED {error!r}"[:300], flush=True)
        traceback.print_exc(limit=-3, file=sys.stdout)


def _on_cpu(function, *args, **kwargs):
    with torch.device("cpu"):
        return function(*args, **kwargs)


def main(repeats: int, timm_sample: int) -> None:
    import torchvision
    from torchvision import models

    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}")
    # RegNet computes its widths with tensors while it is built: on the CPU, not on meta.
    block_params = models.regnet.BlockParams.from_init_params.__func__
    models.regnet.BlockParams.from_init_params = classmethod(
        lambda cls, *a, **k: _on_cpu(block_params, cls, *a, **k))
    results = []
    for module, shape in ((models, (1, 3, 224, 224)), (models.segmentation, (1, 3, 224, 224)),
                          (models.video, (1, 3, 16, 112, 112))):
        for name in models.list_models(module=module):
            size = shape
            if name in ("mvit_v1_b", "mvit_v2_s", "s3d") or name.startswith("swin3d"):
                size = (1, 3, 16, 224, 224)
            if name == "inception_v3":
                size = (1, 3, 299, 299)
            options = {"weights_backbone": None} if module is models.segmentation else {}
            check(f"torchvision {name}", lambda: models.get_model(name, **options), [size],
                  repeats, results)
    for name in models.list_models(module=models.optical_flow):  # two images in
        check(f"torchvision {name}", lambda: models.get_model(name), [(1, 3, 128, 160)] * 2,
              repeats, results)
    try:
        import timm
    except ImportError:
        timm = None
    if timm is not None:
        print(f"timm {timm.__version__}")
        names = TIMM + [n for n in timm.list_models()[::max(1, len(timm.list_models()) // max(
            timm_sample, 1))][:timm_sample] if n not in TIMM]
        for name in names:
            def build(name=name):
                return timm.create_model(name, pretrained=False)
            with torch.device("meta"):
                config = timm.create_model(name, pretrained=False).pretrained_cfg
            check(f"timm {name}", build, [(1, *config["input_size"])], repeats, results)
    ratios = [r for _, ok, r, _ in results if r is not None]
    failures = [(n, e) for n, ok, r, e in results if not ok]
    print(f"\n{len(results)} models, {len(results) - len(failures)} exact, {len(failures)} failed "
          f"or mismatched; profile/FlopCounterMode time: median {statistics.median(ratios):.2f}, "
          f"max {max(ratios):.2f} (min of {repeats} rounds each)")
    for name, error in failures:
        print(f"  {name}: {error or 'mismatch'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timm-sample", type=int, default=20,
                        help="timm models beyond the eight of issue 11, evenly spaced in its list")
    arguments = parser.parse_args()
    main(arguments.repeats, arguments.timm_sample)
