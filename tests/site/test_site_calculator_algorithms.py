"""The calculator's fast algorithms (im2col, Winograd, FFT) in Chromium against convops.

Random layers of all six kinds through the page's own path (a permalink's query), each with an
algorithm and a tile, or none: every stage's ``data-value`` must equal
:func:`convops.breakdown` with that ``algorithm`` and ``tile``, and every refusal must name the
parameter convops' :class:`~convops.ConvopsError` names.
"""

from __future__ import annotations

import random
import re
from urllib.parse import urlencode

import pytest
from test_site_calculator import EVALUATE_ALL, READ, open_calculator, parameter_of, random_layer

from convops import ConvopsError, Layer, breakdown
from convops.algorithms import ALGORITHMS

CASES = 300
SEED = 29


def random_case(rng: random.Random) -> dict:
    spec, shape = random_layer(rng, huge=rng.random() < 0.05)
    while "Transpose" in spec and rng.random() < 0.85:  # a few: every algorithm refuses them
        spec, shape = random_layer(rng, huge=rng.random() < 0.05)
    if rng.random() < 0.8:  # Winograd and FFT need stride 1 and dilation 1: most layers here
        spec = re.sub(r"(stride|dilation)=(\d+|\([^)]*\)|\[[^]]*\])", r"\1=1", spec)
    algorithm = rng.choice(ALGORITHMS[1:] + ("direct",))
    tile = rng.choice(["", "", "", "2", "4", "8", "3", "2", "4", "16", "0", "2,3", "x"])
    return {"layer": spec, "shape": shape, "algorithm": algorithm, "tile": tile,
            "backward": rng.random() < 0.1}


def query(case: dict) -> str:
    fields = {"layer": case["layer"], "input": ", ".join(map(str, case["shape"])),
              "algorithm": case["algorithm"], "tile": case["tile"]}
    return "?" + urlencode(fields | ({"backward": "1"} if case["backward"] else {}))


def expected(case: dict) -> dict:
    tile = None
    if case["tile"]:  # text that is not an int reads as a tile convops refuses, after the input
        values = [int(v) if v.strip().isdigit() else -1 for v in case["tile"].split(",")]
        tile = values[0] if len(values) == 1 else tuple(values)
    try:
        b = breakdown(Layer.parse(case["layer"]), case["shape"], case["backward"],
                      algorithm=case["algorithm"], tile=tile)
    except ConvopsError as error:
        return {"refusal": parameter_of(str(error))}
    if case["algorithm"] == "direct" and tile is None:
        return {"direct": True}
    values = {f"{name}:{q}": str(getattr(p, q)) for name, p in b.parts.items()
              for q in ("multiplications", "additions")}
    values |= {q: str(getattr(b, q)) for q in ("multiplications", "additions", "total")}
    values["output_shape"] = ",".join(map(str, b.output_shape))
    if b.workspace is not None:
        values["workspace"] = str(b.workspace)
    return {"values": values}


@pytest.fixture(scope="module")
def cases() -> list[dict]:
    rng = random.Random(SEED)
    return [random_case(rng) for _ in range(CASES)]


def test_cases_reach_every_algorithm(cases):
    outcomes = [(c, expected(c)) for c in cases]
    counted = {c["algorithm"] for c, o in outcomes if "values" in o}
    assert counted == set(ALGORITHMS[1:])
    assert {"algorithm", "tile", "backward"} <= {o.get("refusal") for _, o in outcomes}


def test_every_stage_and_refusal_matches_convops(visit, cases):
    open_calculator(visit)
    results = visit.page.evaluate(EVALUATE_ALL, [[query(c) for c in cases], READ])
    wrong = []
    for case, result in zip(cases, results):
        want = expected(case)
        if "direct" in want:  # the direct algorithm: test_site_calculator's
            continue
        got = {k: v for k, v in result.items() if k != "text"}
        if got != want:
            wrong.append(f"{query(case)}: page {result}, convops {want}")
    assert wrong == []
    assert visit.problems == []
