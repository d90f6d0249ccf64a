"""The defining sums as array operations (unfold + einsum, scatter + einsum) reproduce torch."""

import random

import pytest
import torch

from convops import KINDS, latex
from convops_book import definition


def _random_layer(rng: random.Random, name: str):
    kind = KINDS[name]
    n = kind.ndim
    g = rng.choice([1, 2])
    args = dict(kernel_size=tuple(rng.randint(1, 3) for _ in range(n)),
                stride=tuple(rng.randint(1, 3) for _ in range(n)),
                dilation=tuple(rng.randint(1, 2) for _ in range(n)), groups=g,
                bias=rng.random() < 0.5)
    if kind.transposed:
        args["padding"] = tuple(rng.randint(0, 1) for _ in range(n))
        args["output_padding"] = tuple(rng.randrange(max(s, d)) for s, d in zip(args["stride"], args["dilation"]))
    else:
        args["padding"] = tuple(rng.randint(0, 2) for _ in range(n))
        args["padding_mode"] = rng.choice(["zeros", "reflect", "replicate", "circular"])
    module = kind.module(2 * g, 2 * g, **args)
    sizes = tuple(rng.randint(3, 6) for _ in range(n))
    batch = (rng.randint(1, 2),) if rng.random() < 0.7 else ()
    return module, batch + (2 * g,) + sizes


@pytest.mark.parametrize("name", list(KINDS))
def test_array_form_of_the_definition_reproduces_torch(name):
    rng = random.Random(name)
    form = definition.scatter_einsum if KINDS[name].transposed else definition.unfold_einsum
    checked = 0
    while checked < 12:
        module, shape = _random_layer(rng, name)
        x = torch.randn(shape, generator=torch.Generator().manual_seed(rng.randrange(1000)))
        with torch.no_grad():
            try:
                expected = module(x)
            except RuntimeError:  # a layer torch refuses for this input (kernel beyond it)
                continue
            assert torch.allclose(form(module, x), expected, atol=1e-5), (module, shape)
        checked += 1


@pytest.mark.parametrize("name", list(KINDS))
def test_defining_equation_uses_the_derivations_symbols(name):
    tex = latex(definition.defining_equation(name))
    assert r"C_{\text{in}}" in tex and "{b}_{j}" in tex
    assert ("p_" in tex or "p =" in tex or " p " in tex) == KINDS[name].transposed


def test_tap_map_describes_itself():
    shown = definition.tap_map(torch.nn.Conv1d(1, 1, 3, stride=2, padding=2, dilation=2), (1, 1, 11))
    # 11 + 2·2 = 15 padded positions; (15 − 2·2 − 1) // 2 + 1 = 6 windows
    assert "6 rows" in shown.alt and "15 columns" in shown.alt and "(4): padding" in shown.alt
