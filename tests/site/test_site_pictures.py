"""The pictures in Chromium: the calculator's picture of random small layers, and a module page's.

The calculator draws the reader's layer (``docs/javascripts/picture.js``) each time it evaluates:
over random 1-d and 2-d layers, forward and transposed, with stride, dilation, padding and
output_padding, each picture's per-position products and additions must equal a plain loop
(tests/picture_facts.py, torch giving the output size), its tallies convops' λ.  A module page's
static pictures step with the buttons, the slider and the keyboard, and show without JavaScript.
Each page is visited once.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from urllib.parse import urlencode

import pytest
import torch

import convops

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the facts' reader
from picture_facts import check_counts, read, shape_of  # noqa: E402

CASES = 120
SEED = 28
KINDS_DRAWN = ("Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d")

#: Each query evaluated as a permalink's, then the calculator's picture as HTML (or null).
DRAW_ALL = """(queries) => {
  const root = document.querySelector(".convops-calculator");
  return queries.map((q) => {
    window.convopsCalculator.fromQuery(q);
    return root.querySelector(".convops-calc-picture [data-picture]")?.outerHTML ?? null;
  });
}"""


def _ints(values) -> str:
    return str(values[0]) if len(set(values)) == 1 else f"({', '.join(map(str, values))})"


def random_small_layer(rng: random.Random) -> tuple[str, str]:
    """A small 1-d or 2-d layer torch accepts, as the calculator's text, and its input shape."""
    while True:
        name = rng.choice(KINDS_DRAWN)
        n = int(name[-2])
        g = rng.choice([1, 1, 2])
        k, s, d = ([rng.randint(1, top) for _ in range(n)] for top in (3, 3, 2))
        args = [f"{g * rng.randint(1, 2)}", f"{g * rng.randint(1, 2)}", _ints(k), f"stride={_ints(s)}",
                f"dilation={_ints(d)}", f"groups={g}", f"bias={rng.choice(['True', 'False'])}"]
        if name.startswith("ConvTranspose"):
            args.append(f"padding={_ints([rng.randint(0, 2) for _ in range(n)])}")
            args.append(f"output_padding={_ints([rng.randrange(max(a, b)) for a, b in zip(s, d)])}")
        else:
            padding = rng.choice(["'same'", "'valid'", _ints([rng.randint(0, 2) for _ in range(n)])])
            if padding == "'same'":
                args[3] = "stride=1"
            args.append(f"padding={padding}")
            args.append(f"padding_mode='{rng.choice(['zeros', 'zeros', 'reflect', 'replicate', 'circular'])}'")
        text = f"{name}({', '.join(args)})"
        shape = (1, int(args[0]), *(rng.randint(1, 7) for _ in range(n)))
        try:
            convops.breakdown(convops.Layer.parse(text).to_module(), shape)
        except convops.ConvopsError:
            continue
        return text, ", ".join(map(str, shape))


def torch_size_out(layer: convops.Layer, shape: tuple[int, ...]) -> tuple[int, ...]:
    with torch.no_grad():
        return tuple(layer.to_module()(torch.zeros(shape)).shape[2:])


def test_the_calculator_draws_each_layer_with_a_loops_counts(visit):
    rng = random.Random(SEED)
    cases = [random_small_layer(rng) for _ in range(CASES)]
    assert {text.split("(")[0] for text, _ in cases} == set(KINDS_DRAWN)
    assert any("stride=2" in t or "stride=3" in t for t, _ in cases)
    assert any("dilation=2" in t for t, _ in cases) and any("output_padding=1" in t for t, _ in cases)
    visit.goto("calculator/")
    visit.page.wait_for_selector(".convops-calculator[data-state]")
    drawn = visit.page.evaluate(DRAW_ALL, ["?" + urlencode({"layer": t, "input": s}) for t, s in cases])
    checked = 0
    for (text, shape), html in zip(cases, drawn):
        assert html, f"no picture of {text} on {shape}"
        facts = read(html)
        assert facts["root"]["layer"] == text and facts["root"]["filter"] == "0,0"
        layer = convops.Layer.parse(text)
        drawn_shape = shape_of(facts["root"]["input"])
        if "fitted" not in facts["root"]:
            assert drawn_shape == shape_of(shape)
        size_out = torch_size_out(layer, drawn_shape)
        products, additions = check_counts(layer, facts, drawn_shape[2:], size_out)
        assert products + additions == convops.breakdown(layer.to_module(), drawn_shape).lam == int(facts["root"]["lam"])
        checked += 1
    assert checked >= 100
    assert not visit.problems


def test_the_calculators_example_is_drawn_on_the_largest_input_that_fits(visit):
    visit.goto("calculator/")
    visit.page.wait_for_selector(".convops-calc-picture [data-picture]")
    facts = read(visit.page.inner_html(".convops-calc-picture"))
    assert facts["root"]["fitted"] == visit.page.input_value(".convops-calculator input[name=input]")
    assert "the largest that fits" in visit.page.inner_text(".convops-calc-picture")
    assert not visit.problems


STEP_STATE = """(view) => ({
  current: [...view.querySelectorAll("[data-grid] > .cv-cur")].map((e) => e.dataset.position ?? ""),
  taps: view.querySelectorAll("[data-grid] > .cv-tap").length,
  slider: view.querySelector(".cv-steps input").value,
  said: view.querySelector(".cv-steps output").textContent,
})"""


def test_a_module_pages_pictures_step_and_show_without_javascript(visit, build, browser, base_url):
    visit.goto("notebooks/conv2d/")
    view = visit.page.wait_for_selector(".cv-pic .cv-view .cv-steps")
    view = visit.page.query_selector(".cv-pic .cv-view")
    first = visit.page.evaluate(STEP_STATE, view)
    assert first["current"] == ["0,0"] and first["taps"] == 9 and first["slider"] == "0"
    view.query_selector("button[data-move='1']").click()
    after = visit.page.evaluate(STEP_STATE, view)
    assert after["current"] == ["0,1"] and after["slider"] == "1" and "output (0, 1)" in after["said"]
    view.query_selector("svg").focus()
    visit.page.keyboard.press("End")
    last = visit.page.evaluate(STEP_STATE, view)
    assert last["current"] == ["1,1"] and "9 products, 8 additions" in last["said"]
    assert not visit.problems
    # without JavaScript: the same pictures, static, and no controls that would do nothing
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(base_url + "notebooks/conv2d/")
        assert page.locator(".cv-pic svg [data-position]").count() > 0
        assert page.locator(".cv-steps").count() == 0
        assert page.locator(".cv-pic [data-grid] > .cv-cur").count() == page.locator(".cv-pic .cv-view").count()
    finally:
        context.close()


def test_reduced_motion_offers_no_playing(build, browser, base_url):
    context = browser.new_context(reduced_motion="reduce")
    try:
        page = context.new_page()
        page.goto(base_url, wait_until="networkidle")
        page.wait_for_selector(".cv-pic .cv-steps")
        assert page.locator(".cv-pic .cv-play").first.is_hidden()
        assert page.locator(".cv-pic .cv-steps button[data-move]").first.is_visible()
    finally:
        context.close()
