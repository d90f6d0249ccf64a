"""By hand, not in CI: the symbolic profile of torchvision's and timm's models at random sizes.

Run it in a side environment with torchvision and timm installed next to torch 2.13.0 without
their dependencies (see ``zoo_check.py``; torchvision's meta registrations stubbed), e.g.

    PYTHONPATH=. /tmp/zoo17/bin/python benchmarks/symbolic_zoo.py --log /tmp/zoo.jsonl

Each model is built on meta and traced once with symbolic sizes (``(1, 3, "H", "W")``; video
models ``(1, 3, "T", "H", "W")``), at convops' default sizes, or where the model refuses those,
at its own input size.  Then at 5 random sizes the model accepts (the numeric profile runs
there), one of them below 64 px, ``at`` is checked against the numeric profile: the total and
every convolution call's breakdown.  Each size is answered from a stored region, by a re-trace
(a new region) or by a numeric fallback; a model counts as *stored* when every size came from
the regions of its first trace.  Every model runs in a forked process with a time limit
(``--timeout``); one JSON line per model goes to ``--log``, and a summary is printed at the end
(``--summary LOG`` prints it from a log).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import statistics
import sys
import time
import traceback
import types

sys.modules.setdefault("torchvision._meta_registrations",
                       types.ModuleType("torchvision._meta_registrations"))

import torch  # noqa: E402

import convops  # noqa: E402

#: timm families the issue names, then others, smallest variants: at least 60 models.
TIMM = [
    "swin_tiny_patch4_window7_224", "swinv2_cr_tiny_ns_224", "mobilevit_xxs", "mobilevit_s",
    "mobilevitv2_050", "mobilevitv2_100", "efficientvit_b0", "efficientvit_m0", "efficientvit_b1",
    "convnext_atto", "convnext_nano", "convnext_tiny", "convnextv2_atto", "resnet18", "resnet50",
    "resnet50d", "resnext26ts", "seresnext26d_32x4d", "efficientnet_b0", "tf_efficientnet_b0",
    "efficientnetv2_rw_t", "mobilenetv3_small_050", "mobilenetv3_large_100", "mobilenetv4_conv_small",
    "tf_mobilenetv3_large_100", "mixnet_s", "tf_mixnet_s", "ghostnet_100", "ghostnetv2_100",
    "regnetx_002", "regnety_002", "rexnet_100", "densenet121", "dla34", "dpn68", "hrnet_w18_small",
    "repvgg_a0", "mnasnet_small", "fbnetc_100", "lcnet_050", "tinynet_e", "cspresnet50",
    "cspdarknet53", "darknet17", "vovnet39a", "ese_vovnet19b_dw", "selecsls42b", "res2net50_14w_8s",
    "resnest14d", "inception_v3", "xception41", "nasnetalarge", "pnasnet5large", "edgenext_xx_small",
    "fastvit_t8", "poolformer_s12", "coatnet_0_rw_224", "maxvit_tiny_rw_224", "levit_128s",
    "vit_small_r26_s32_224", "efficientformer_l1", "repvit_m1", "tresnet_m", "hardcorenas_a",
    "gernet_s", "nf_resnet26", "dm_nfnet_f0", "skresnet18",
    "visformer_tiny", "inception_next_tiny",
]


def symbolic_shape(kind: str) -> tuple:
    return (1, 3, "T", "H", "W") if kind == "video" else (1, 3, "H", "W")


def default_size(kind: str, model) -> dict:
    config = getattr(model, "pretrained_cfg", None) or {}
    if kind == "video":  # MViT's position embeddings take 16 × 224 × 224 only
        side = 224 if type(model).__name__ == "MViT" else 112
        return {"T": 16, "H": side, "W": side}
    _, h, w = config.get("input_size", (3, 224, 224))
    return {"H": h, "W": w}


def random_sizes(kind: str, rng: random.Random, small: bool) -> dict:
    low, high = (16, 63) if small else (64, 512)
    sizes = {"H": rng.randint(low, high), "W": rng.randint(low, high)}
    return ({"T": rng.randint(1, 24)} | sizes) if kind == "video" else sizes


def concrete(kind: str, sizes: dict) -> tuple:
    return tuple(sizes.get(v, v) if isinstance(v, str) else v for v in symbolic_shape(kind))


def conv_rows(profile) -> list:
    return [(layer.name, layer.breakdown) for layer in profile.counted]


def build(source: str, name: str):
    if source == "timm":
        import timm
        return timm.create_model(name, pretrained=False)
    from torchvision import models
    options = {"weights_backbone": None} if source == "segmentation" else {}
    return models.get_model(name, **options)


def check_model(source: str, name: str, seed: int) -> dict:
    """Everything measured on one model (run in a forked process)."""
    kind = "video" if source == "video" else "image"
    result = {"model": f"{source} {name}", "sizes": []}
    with torch.device("meta"):
        model = build(source, name).eval()
    start = time.perf_counter()
    try:
        symbolic = convops.profile(model, symbolic_shape(kind))
    except convops.ConvopsError as error:
        if "ran past" in str(error):
            raise
        hints = default_size(kind, model)  # a model that refuses convops' default sizes
        result["traced_at"] = hints
        start = time.perf_counter()
        symbolic = convops.profile(model, tuple(f"{v}={hints[v]}" if isinstance(v, str) else v
                                                for v in symbolic_shape(kind)))
    result["trace_s"] = time.perf_counter() - start
    result["guards"] = len(symbolic.guards)
    rng = random.Random(f"{seed} {name}")
    # one size below 64 px (10 draws), then the model's own size and random ones (30 draws)
    draws = [random_sizes(kind, rng, True) for _ in range(10)]
    draws += [default_size(kind, model)] + [random_sizes(kind, rng, False) for _ in range(29)]
    small_found = False
    for sizes in draws:
        small = min(sizes["H"], sizes["W"]) < 64
        if len(result["sizes"]) == 5 or (small and small_found):
            continue
        try:
            numeric = convops.profile(model, concrete(kind, sizes))
        except convops.ConvopsError:
            continue  # a size the model refuses: not one it accepts
        small_found |= small
        regions = len(symbolic.regions)
        entry = {"sizes": sizes}
        started = time.perf_counter()
        try:
            answer = symbolic.at(**sizes)
        except convops.ConvopsError as error:
            entry |= {"how": "refused", "error": str(error)[:400]}
        else:
            entry["how"] = ("fallback" if answer.fallback else
                            "re-trace" if len(symbolic.regions) > regions else "stored")
            entry["exact"] = (answer.total == numeric.total
                              and conv_rows(answer) == conv_rows(numeric))
            if answer.fallback:
                entry["error"] = answer.fallback[:400]
        entry["at_s"] = time.perf_counter() - started
        result["sizes"].append(entry)
    result["regions"] = len(symbolic.regions)
    return result


def _worker(connection, source, name, seed):
    torch.set_num_threads(1)
    try:
        connection.send(check_model(source, name, seed))
    except Exception as error:  # noqa: BLE001 - a by-hand survey reports every failure
        connection.send({"model": f"{source} {name}", "failed": f"{type(error).__name__}: "
                         f"{str(error)[:600]}", "where": traceback.format_exc(limit=-2)[-600:]})


def run_one(source: str, name: str, seed: int, timeout: float) -> dict:
    receive, send = multiprocessing.Pipe(duplex=False)
    process = multiprocessing.get_context("fork").Process(target=_worker,
                                                          args=(send, source, name, seed))
    started = time.perf_counter()
    process.start()
    if receive.poll(timeout):
        result = receive.recv()
    else:
        result = {"model": f"{source} {name}", "failed": f"timed out after {timeout:g} s"}
    process.kill()
    process.join()
    result["wall_s"] = time.perf_counter() - started
    return result


def models_to_check(which: str) -> list[tuple[str, str]]:
    from torchvision import models

    # RegNet computes its widths with tensors while it is built: on the CPU, not on meta.
    params = models.regnet.BlockParams.from_init_params.__func__

    def on_cpu(cls, *args, **kwargs):
        with torch.device("cpu"):
            return params(cls, *args, **kwargs)

    models.regnet.BlockParams.from_init_params = classmethod(on_cpu)
    chosen = []
    if which in ("all", "torchvision"):
        for source, module in (("classification", models), ("segmentation", models.segmentation),
                               ("video", models.video)):
            chosen += [(source, name) for name in models.list_models(module=module)]
    if which in ("all", "timm"):
        import timm
        chosen += [("timm", name) for name in dict.fromkeys(TIMM) if timm.is_model(name)]
    return chosen


def summary(results: list[dict]) -> None:
    ran = [r for r in results if "failed" not in r]
    stored = [r for r in ran if r["sizes"] and all(
        s.get("how") == "stored" and s.get("exact") for s in r["sizes"])]
    retraced = [r for r in ran if any(s.get("how") == "re-trace" for s in r["sizes"])]
    fallback = [r for r in ran if any(s.get("how") == "fallback" for s in r["sizes"])]
    wrong = [r for r in ran if any(s.get("exact") is False for s in r["sizes"])]
    refused = [r for r in ran if any(s.get("how") == "refused" for s in r["sizes"])]
    times = [r["trace_s"] for r in ran]
    n = len(results)
    print(f"{n} models: {len(stored)} ({100 * len(stored) / n:.1f}%) exact from the regions of "
          f"their first trace at every size; {len(retraced)} ({100 * len(retraced) / n:.1f}%) "
          f"with re-traces; {len(fallback)} ({100 * len(fallback) / n:.1f}%) with numeric "
          f"fallbacks; {len(wrong)} with a wrong value; {len(refused)} with a refused size; "
          f"{n - len(ran)} failed")
    if times:
        print(f"trace time: median {statistics.median(times):.2f} s, max {max(times):.2f} s "
              f"({max(ran, key=lambda r: r['trace_s'])['model']})")
    for r in results:
        if "failed" in r:
            print(f"  FAILED {r['model']}: {r['failed']}")
    for r in retraced:
        hows = " ".join(s.get("how", "") for s in r["sizes"])
        print(f"  re-traced {r['model']}: {r['regions']} regions ({hows}), trace {r['trace_s']:.1f} s,"
              f" slowest answer {max(s.get('at_s', 0) for s in r['sizes']):.1f} s")
    for r in ran:
        for s in r["sizes"]:
            if s.get("how") in ("fallback", "refused") or s.get("exact") is False:
                print(f"  {s.get('how')} {r['model']} at {s['sizes']}: exact={s.get('exact')} "
                      f"{s.get('error', '')}")
        if len(r["sizes"]) < 5:
            print(f"  {r['model']}: {len(r['sizes'])} accepted sizes found")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--which", choices=("all", "torchvision", "timm"), default="all")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log", default="symbolic_zoo.jsonl")
    parser.add_argument("--only", help="comma-separated model names to check (default: all)")
    parser.add_argument("--summary", metavar="LOG", help="print the summary of a log and stop")
    arguments = parser.parse_args()
    if arguments.summary:
        with open(arguments.summary) as log:
            summary([json.loads(line) for line in log])
        return
    results = []
    chosen = models_to_check(arguments.which)
    if arguments.only:
        chosen = [(s, n) for s, n in chosen if n in arguments.only.split(",")]
    for source, name in chosen:
        result = run_one(source, name, arguments.seed, arguments.timeout)
        results.append(result)
        with open(arguments.log, "a") as log:
            log.write(json.dumps(result) + "\n")
        hows = [s.get("how", "") + ("" if s.get("exact", True) else "!") for s in
                result.get("sizes", [])]
        print(f"{result['model']:45} {result.get('trace_s', 0):7.2f} s  "
              f"{result.get('failed', ' '.join(hows))}"[:300], flush=True)
    summary(results)


if __name__ == "__main__":
    main()
