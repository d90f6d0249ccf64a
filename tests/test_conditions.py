"""Conditions printed for people (convops.symbols.condition_text / condition_latex): math and
words that mean what sympy's condition means, and the messages that use them."""

from __future__ import annotations

import math
import random
import re

import pytest
import sympy as sp

import convops
from convops.symbols import condition_latex, condition_text
from convops.symbolic import readable
from convops_book.models import UNet

H, W = sp.symbols("H W", integer=True, positive=True)

#: Conditions of the kinds torch's traces take, with every notation the printer writes.
CONDITIONS = [
    sp.Ne(sp.floor((H - 1) / 32) + 1, 1),
    sp.Eq(2 * sp.floor(H / 8), sp.floor(H / 4)),
    sp.And(H >= 3, W >= 3),
    sp.Or(sp.Eq(sp.Mod(H, 8), 0), W < 2 * H),
    sp.And(sp.Ne(sp.ceiling(W / 3), H ** 2), sp.Or(H <= W, W > 5)),
]

#: The printer's notation back to Python, to evaluate the text it printed.
_PYTHON = [("⌊", "math.floor("), ("⌋", ")"), ("⌈", "math.ceil("), ("⌉", ")"), ("≠", "!="),
           ("≥", ">="), ("≤", "<="), (" mod ", " % "), ("·", "*"), ("^", "**")]


def _evaluate(text: str, values: dict) -> bool:
    python = re.sub(r"(?<![<>!=])=(?!=)", "==", text)
    for printed, code in _PYTHON:
        python = python.replace(printed, code)
    return eval(python, {"math": math}, values)


@pytest.mark.parametrize("condition", CONDITIONS, ids=str)
def test_condition_text_means_the_condition(condition):
    """The printed text, read back as Python, holds exactly where sympy's condition holds."""
    text = condition_text(condition)
    assert not re.search(r"\b(Ne|Eq|floor|ceiling|Mod|And|Or)\(", text), text
    rng = random.Random(0)
    for _ in range(200):
        values = {"H": rng.randint(1, 80), "W": rng.randint(1, 80)}
        expected = bool(condition.subs({H: values["H"], W: values["W"]}))
        assert _evaluate(text, values) == expected, (text, values)


def test_condition_latex_joins_conditions_in_words():
    tex = condition_latex(sp.And(sp.Ne(sp.floor(H / 32), 0), sp.Or(W > 32, H < 2)))
    assert r"\text{ and }" in tex and r"\text{ or }" in tex and r"\wedge" not in tex
    assert r"\lfloor" in tex and r"\neq" in tex


def test_a_broken_condition_is_refused_in_math_not_sympy():
    """The message of sizes outside the trace names the condition as math."""
    symbolic = convops.profile(UNet(width=2, depth=2), (1, 3, "H", "W"))
    with pytest.raises(convops.ConvopsError) as refused:
        symbolic.at(H=10, W=8)
    message = str(refused.value)
    broken = next(g for g in symbolic.guards if not g.subs({symbolic.symbols[0]: 10,
                                                            symbolic.symbols[1]: 8}))
    assert condition_text(readable(broken)) in message and "⌊" in message
    assert not re.search(r"\b(Ne|Eq|floor)\(", message), message
    assert symbolic.latex("guards") and r"\wedge" not in symbolic.latex("guards")
