"""The pictures ``docs/javascripts/picture.js`` draws, run under node, against torch and loops.

Every case of the module pages and random small layers of all six kinds: each output value the
picture draws (scatter and gather views alike) must be torch's output at that position, with the
picture's own small integer inputs, weights and bias; each position's products and additions must
equal a plain Python loop over the input and the taps (torch giving the output size); the drawn
filter's tallies must add up to convops' λ, and the picture's ψ lines, λ and the aggregation of
the filter maps to the total that convops' executed reference counts.
"""

from __future__ import annotations

import itertools
import random
import re
from math import prod

import pytest
import torch

import convops
from convops import KINDS
from convops.reference import run

from convops_book.pictures import PAGE_PICTURES, cases, page_pictures, pictures
from picture_facts import check_counts, read, shape_of

RANDOM_CASES = 60


def torch_output(layer_text: str, sample: dict) -> tuple[torch.Tensor, torch.nn.Module, torch.Tensor]:
    module = convops.Layer.parse(layer_text).to_module().double()
    with torch.no_grad():
        module.weight.copy_(torch.tensor(sample["w"], dtype=torch.float64).reshape(module.weight.shape))
        if module.bias is not None:
            module.bias.copy_(torch.tensor(sample["b"], dtype=torch.float64))
    x = torch.tensor(sample["x"], dtype=torch.float64).reshape(1, module.in_channels, *sample["sizeIn"])
    with torch.no_grad():
        return module(x), module, x


def check(layer_text: str, result: dict) -> None:
    facts = read(result["html"])
    sample = result["sample"]
    layer = convops.Layer.parse(layer_text)
    assert facts["root"]["layer"] == layer_text and facts["root"]["filter"] == "0,0"
    assert shape_of(facts["root"]["input"])[2:] == tuple(sample["sizeIn"])
    y, module, x = torch_output(layer_text, sample)
    size_out = tuple(y.shape[2:])
    # every output position is drawn, with torch's value (in both views of a transposed layer)
    assert set(facts["positions"]) == set(itertools.product(*map(range, size_out)))
    for view in ("positions", "gather") if layer.kind.transposed else ("positions",):
        for o, a in facts[view].items():
            assert int(a["texts"][0]) == y[(0, 0) + o].item(), (layer_text, view, o)
    products, additions = check_counts(layer, facts, sample["sizeIn"], size_out)
    b = convops.breakdown(module, tuple(x.shape))
    assert (products, additions) == (int(facts["root"]["tally-products"]), int(facts["root"]["tally-additions"]))
    assert products + additions == b.lam == int(facts["root"]["lam"])
    # the whole layer: ψ lines (block-diagonal by group, as a loop over channel pairs finds them),
    # each doing λ, and each output value adding its filter maps and the bias
    g = layer.groups
    pairs = [(i, o) for i in range(layer.in_channels) for o in range(layer.out_channels)
             if i // (layer.in_channels // g) == o // (layer.out_channels // g)]
    drawn_links = facts["links"] or [(0, 0)] * (layer.in_channels == layer.out_channels == 1)
    assert sorted(drawn_links) == sorted(pairs) and int(facts["root"]["links"]) == len(pairs)
    maps = {o: sum(1 for _, oo in pairs if oo == o) for o in range(layer.out_channels)}
    aggregation = sum((maps[o] - 1 + layer.bias) * prod(size_out) for o in maps)
    _, counter = run(module, x)
    assert len(pairs) * (products + additions) + aggregation == counter.total
    assert int(facts["root"]["gamma"]) == aggregation == b.gamma


def random_layer(rng: random.Random) -> tuple[str, str]:
    name = rng.choice(list(KINDS))
    kind = KINDS[name]
    n = kind.ndim
    for _ in range(100):
        g = rng.choice([1, 1, 2])
        k = [rng.randint(1, 3) for _ in range(n)]
        s = [rng.randint(1, 3) for _ in range(n)]
        d = [rng.randint(1, 2) for _ in range(n)]
        p = [rng.randint(0, 2) for _ in range(n)]
        size = [rng.randint(1, 5 if n < 3 else 3) for _ in range(n)]
        extra = ""
        if kind.transposed:
            q = [rng.randrange(max(a, b)) for a, b in zip(s, d)]
            extra = f", output_padding={tuple(q)}"
        else:
            mode = rng.choice(["zeros", "zeros", "reflect", "replicate", "circular"])
            extra = f", padding_mode='{mode}'"
        text = (f"{name}({g * rng.randint(1, 2)}, {g * rng.randint(1, 2)}, {tuple(k)}, stride={tuple(s)}, "
                f"padding={tuple(p)}, dilation={tuple(d)}, groups={g}, bias={rng.random() < 0.5}{extra})")
        shape = (1, int(re.search(r"\((\d+)", text)[1]), *size)
        try:
            layer = convops.Layer.parse(text)
            convops.breakdown(layer.to_module(), shape)
        except convops.ConvopsError:
            continue
        return text, ", ".join(map(str, shape))
    raise AssertionError("no layer")


@pytest.fixture(scope="module")
def drawn():
    rng = random.Random(28)
    requests = [(layer, shape) for kind in KINDS for _, layer, shape in cases(kind)]
    requests += [(layer, shape) for layer, shape, _ in PAGE_PICTURES.values()]
    requests += [random_layer(rng) for _ in range(RANDOM_CASES)]
    results = pictures([{"layer": layer, "input": shape, "sample": True} for layer, shape in requests])
    return list(zip(requests, results))


def test_every_value_is_torchs_and_every_tally_a_loops(drawn):
    checked = 0
    for (layer, _), result in drawn:
        if result["sample"] is None:  # a kernel too large to draw on any input: said so
            assert "data-picture-too-large" in result["html"], layer
            continue
        check(layer, result)
        checked += 1
    assert checked >= len(drawn) - 5


def test_the_cases_show_what_they_are_about(drawn):
    """Padding cells where there is padding, inserted zeros where a transposed layer strides,
    cropped positions and positions no product reaches where conv_arithmetic has them."""
    facts = {request: read(result["html"]) for request, result in drawn}
    by_title = {(kind, title): facts[layer, shape] for kind in KINDS for title, layer, shape in cases(kind)}
    assert by_title[("Conv2d", "Full padding, no strides")]["padding"] == 9 * 9 - 5 * 5  # 2 each side
    assert by_title[("Conv2d", "No padding, no strides")]["padding"] == 0
    strided = by_title[("ConvTranspose2d", "No padding, strides, transposed")]
    assert strided["inserted"] == 3 * 3 - 2 * 2  # a 2×2 input with one zero between
    assert by_title[("ConvTranspose2d", "Padding, strides, transposed")]["cropped"]
    # padding beyond d·(k-1): the gather view crops the zero-inserted input instead of padding it
    result = pictures([{"layer": "ConvTranspose1d(1, 1, 2, padding=2)", "input": "1, 1, 4", "sample": True}])[0]
    check("ConvTranspose1d(1, 1, 2, padding=2)", result)
    assert result["html"].count("data-trimmed") == 2 and "data-padding" not in result["html"]
    # output_padding beyond padding, and a stride beyond the kernel's reach: positions no product
    # reaches, drawn with 0 products, their value the bias
    for layer in ("ConvTranspose1d(1, 1, 3, stride=2, output_padding=1)", "ConvTranspose1d(1, 1, 2, stride=3)"):
        result = pictures([{"layer": layer, "input": "1, 1, 3", "sample": True}])[0]
        check(layer, result)
        zeros = [o for o, a in read(result["html"])["positions"].items() if a["products"] == "0"]
        assert zeros == ([(7,)] if "output_padding" in layer else [(2,), (5,)]), layer


def test_a_picture_too_large_is_drawn_on_the_largest_input_that_fits():
    layer = "ConvTranspose2d(256, 128, 4, stride=2, padding=1)"
    html = pictures([{"layer": layer, "input": "1, 256, 64, 64"}])[0]["html"]
    root = read(html)["root"]
    assert root["fitted"] == "1, 256, 64, 64"
    size = shape_of(root["input"])[2:]
    assert max(size) < 64 and "the largest that fits" in html
    bigger = pictures([{"layer": layer, "input": f"1, 256, {size[0] + 1}, {size[1] + 1}"}])[0]["html"]
    assert "data-fitted" in bigger  # one more element in each dimension no longer fits


def test_pictures_weigh_at_most_150_kb_a_page():
    for owner in (*KINDS, *PAGE_PICTURES):
        assert len(page_pictures(owner).encode()) <= 150_000, owner
