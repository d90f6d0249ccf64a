"""The symbolic profile at every size the model accepts: regions, re-traces, numeric fallbacks.

Each model here is minimal and holds one thing that real models do (resize to the input's size,
upsample by a factor, pad to a window, collapse a stage to size 1, choose a path by size).  Every
expected number comes from an executed check: the numeric profile at that size, row by row, and
FlopCounterMode; never from the formula itself.
"""

import functools
import json
import os
import types

import pytest
import sympy as sp
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st
from torch import nn

import convops
from convops import reference
from convops.symbolic import tracing, translation
from convops_book.models import ResNet


@pytest.fixture(autouse=True)
def _time_to_trace(monkeypatch):
    """Room for a loaded test machine: the traces' speed is the benchmarks' to measure."""
    monkeypatch.setattr(tracing, "TRACE_SECONDS", 120.0)


def assert_exact(symbolic, model, shape, **sizes):
    """``at`` and ``evaluate`` at ``sizes`` equal the numeric profile, row by row for the
    convolutions, and FlopCounterMode; returns how it answered: stored, re-trace or fallback."""
    regions = len(symbolic.regions)
    concrete = tuple(sizes.get(v, v) if isinstance(v, str) else v for v in shape)
    numeric = convops.profile(model, concrete)
    at = symbolic.at(**sizes)
    assert [(c.name, c.breakdown) for c in at.counted] == \
        [(c.name, c.breakdown) for c in numeric.counted]
    assert at.total == numeric.total
    assert symbolic.evaluate(**sizes) == (numeric.multiplications, numeric.additions,
                                          numeric.total)
    flops = reference.flop_counter_convolution_flops(model, concrete)
    assert 2 * at.multiplications == flops
    return "fallback" if at.fallback else "re-trace" if len(symbolic.regions) > regions \
        else "stored"


class ResizeToInput(nn.Module):
    """A segmentation head: down by 2, back to the input's size by bilinear interpolation."""

    def __init__(self):
        super().__init__()
        self.down, self.head = nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.Conv2d(4, 2, 3)

    def forward(self, x):
        y = F.interpolate(self.down(x), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(y)


class UpsampleByFactor(nn.Module):
    """Down by 2, up by ``scale_factor=2`` (nn.Upsample), a convolution on the result."""

    def __init__(self):
        super().__init__()
        self.down, self.up = nn.Conv2d(3, 4, 3, stride=2), nn.Upsample(scale_factor=2)
        self.head = nn.Conv2d(4, 2, 3, padding=1)

    def forward(self, x):
        return self.head(self.up(self.down(x)))


@pytest.mark.parametrize("model", [ResizeToInput(), UpsampleByFactor()],
                         ids=["size of the input", "scale_factor"])
def test_resizing_to_a_size_from_the_input_is_a_formula_in_it(model):
    shape = (1, 3, "H", "W")
    symbolic = convops.profile(model, shape)
    H, W = symbolic.symbols
    assert symbolic.regions[0].formula("total", "head").free_symbols == {H, W}
    for h, w in [(17, 33), (64, 40), (9, 128), (300, 17)]:
        assert assert_exact(symbolic, model, shape, H=h, W=w) == "stored"


class WindowPad(nn.Module):
    """As Swin: pad the width to a multiple of the window, cut it into windows, a convolution
    per window (the windows a batch)."""

    window = 7

    def __init__(self):
        super().__init__()
        self.embed, self.mix = nn.Conv2d(3, 8, 4, stride=4), nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        x = self.embed(x)
        s = self.window
        x = F.pad(x, (0, (s - x.shape[-1] % s) % s))
        n, c, h, w = x.shape
        windows = x.view(n, c, h, w // s, s).permute(0, 3, 1, 2, 4).reshape(-1, c, h, s)
        return self.mix(windows)


def test_window_padding_is_exact_at_every_residue():
    model, shape = WindowPad(), (1, 3, "H", "W")
    symbolic = convops.profile(model, shape)
    H, W = symbolic.symbols
    assert symbolic.regions[0].formula("total", "mix").free_symbols == {H, W}
    answers = [assert_exact(symbolic, model, shape, H=h, W=w)
               for h, w in [(224, 224), (100, 57), (31, 250), (29, 29), (64, 4)]]
    assert "fallback" not in answers


@functools.cache
def _window_pad():
    return convops.profile(WindowPad(), (1, 3, "H", "W"))


@given(st.integers(4, 200), st.integers(4, 200))
@settings(max_examples=4 if os.environ.get("CONVOPS_HYPOTHESIS") != "thorough" else 200)
def test_window_padding_at_random_sizes(h, w):
    assert_exact(_window_pad(), WindowPad(), (1, 3, "H", "W"), H=h, W=w)


def test_a_stage_collapsing_to_size_1_stays_in_the_first_region():
    """ResNet's last stage is 1 pixel high below 33 px.  What runs does not change, and torch's
    size-oblivious trace keeps no decision about it (by default it kept ``≠ 1`` for every stage
    from its residual sums' broadcasting), so the first region answers there, at batch 1, and at
    a 1-pixel input too."""
    model, shape = ResNet((1, 1, 1, 1), num_classes=10), ("N", 3, "H", "W")
    symbolic = convops.profile(model, shape)
    for n, h, w in [(2, 64, 64), (2, 17, 40), (3, 20, 60), (1, 3, 2), (1, 1, 9)]:
        assert assert_exact(symbolic, model, shape, N=n, H=h, W=w) == "stored"
    assert len(symbolic.regions) == 1


class ShuffleHead(nn.Module):
    """As ShuffleNet: channels shuffled (a transpose made contiguous); as ConvNeXt, channels
    last, then a head that pools to 1 × 1 (``AdaptiveAvgPool2d``) before its 1 × 1
    convolution."""

    def __init__(self):
        super().__init__()
        self.stem, self.down = nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.Conv2d(8, 8, 2, stride=2)
        self.pool, self.head = nn.AdaptiveAvgPool2d(1), nn.Conv2d(8, 10, 1)

    def forward(self, x):
        n, c, h, w = (y := self.stem(x)).shape
        y = y.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)
        y = self.down(y).permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)  # channels last
        return self.head(self.pool(y))


@pytest.mark.parametrize("h, w", [(64, 64), (5, 40), (3, 4), (7, 9)])
def test_questions_about_strides_alone_stay_open(h, w):
    """Whether the shuffled tensor is contiguous, and the memory format of the pooled one, are
    questions about strides: torch's C++ decides them at the trace's sizes (each is answered
    apart where the down-sampled size is 1), the trace leaves them open."""
    model, shape = ShuffleHead(), (1, 3, "H", "W")
    symbolic = convops.profile(model, shape)
    assert assert_exact(symbolic, model, shape, H=h, W=w) == "stored"
    assert len(symbolic.regions) == 1


@functools.cache
def _shuffle_head():
    return convops.profile(ShuffleHead(), (1, 3, "H", "W"))


@given(st.integers(3, 90), st.integers(3, 90))
@settings(max_examples=4 if os.environ.get("CONVOPS_HYPOTHESIS") != "thorough" else 200,
          deadline=None)
def test_questions_about_strides_at_random_sizes(h, w):
    assert assert_exact(_shuffle_head(), _shuffle_head().model, (1, 3, "H", "W"), H=h, W=w) \
        == "stored"


class ResponseNorm(nn.Module):
    """As ConvNeXt V2's global response norm: ``addcmul`` of parameters and a feature map of
    symbolic size (torch's meta function broadcasts them with an int-only ``expand``)."""

    def __init__(self):
        super().__init__()
        self.conv, self.head = nn.Conv2d(3, 4, 3, stride=2), nn.Conv2d(4, 2, 1)
        self.weight, self.bias = nn.Parameter(torch.ones(4)), nn.Parameter(torch.zeros(4))

    def forward(self, x):
        y = self.conv(x).permute(0, 2, 3, 1)
        y = torch.addcmul(self.bias.view(1, 1, 1, 4), self.weight.view(1, 1, 1, 4), y)
        return self.head(y.permute(0, 3, 1, 2))


def test_parameters_broadcast_to_a_symbolic_size():
    model, shape = ResponseNorm(), (1, 3, "H", "W")
    symbolic = convops.profile(model, shape)
    for h, w in [(3, 3), (40, 17), (224, 224)]:
        assert assert_exact(symbolic, model, shape, H=h, W=w) == "stored"


class OneWide(nn.Module):
    """A block that runs only on outputs one pixel wide: the model's own question about size 1."""

    def __init__(self):
        super().__init__()
        self.stem, self.extra = nn.Conv2d(3, 4, 1), nn.Conv2d(4, 4, 1)

    def forward(self, x):
        y = self.stem(x)
        return self.extra(y) if y.shape[-1] == 1 else y


def test_the_models_own_question_about_size_1_chooses_a_region():
    model, shape = OneWide(), (1, 3, "H", "W")
    symbolic = convops.profile(model, shape)
    assert assert_exact(symbolic, model, shape, H=5, W=2) == "stored"
    assert assert_exact(symbolic, model, shape, H=5, W=1) == "re-trace"
    assert [any(c.name == "extra" for c in r.counted) for r in symbolic.regions] == [False, True]


class SkipSum(nn.Module):
    """A U-Net's skip: the input plus its half-size features upsampled by 2, defined only where
    the width is even."""

    def __init__(self):
        super().__init__()
        self.down, self.head = nn.Conv2d(3, 3, 2, stride=2), nn.Conv2d(3, 2, 3)

    def forward(self, x):
        return self.head(x + F.interpolate(self.down(x), scale_factor=2))


def test_a_size_the_model_refuses_is_refused_not_counted():
    model, shape = SkipSum(), (1, 3, "H", "W")
    symbolic = convops.profile(model, shape)
    assert assert_exact(symbolic, model, shape, H=8, W=30) == "stored"
    assert not symbolic.holds(H=8, W=31)
    with pytest.raises(convops.ConvopsError, match=r"W = 2·⌊W/2⌋ fails.*the model refuses them.*broadcast"):
        symbolic.at(H=8, W=31)


class Branchy(nn.Module):
    """A block that runs only on inputs wider than 64: the guard chooses the path."""

    def __init__(self):
        super().__init__()
        self.stem, self.extra = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        y = self.stem(x)
        if x.shape[-1] > 64:
            y = self.extra(y)
        return y


def test_a_guard_that_chooses_the_path_is_kept_and_each_path_is_a_region():
    model, shape = Branchy(), (1, 3, "H", "W")
    symbolic = convops.profile(model, shape)  # traced at W = 320: the extra block runs
    W = symbolic.symbols[1]
    assert (W > 64) in symbolic.guards
    assert not symbolic.holds(H=8, W=64)
    assert assert_exact(symbolic, model, shape, H=8, W=64) == "re-trace"
    assert [any(c.name == "extra" for c in r.counted) for r in symbolic.regions] == [True, False]
    assert assert_exact(symbolic, model, shape, H=30, W=65) == "stored"
    assert assert_exact(symbolic, model, shape, H=30, W=12) == "stored"
    extra = symbolic.formula("total", "extra")  # the block that ran in one region only
    H = symbolic.symbols[0]
    assert extra.subs({H: 30, W: 12}) == 0
    assert extra.subs({H: 30, W: 65}) == convops.profile(model.extra, (1, 4, 30, 65)).total
    text = symbolic.formula_text()  # two formulas, each with its condition, then the rest
    assert len(text.splitlines()) == 3 and "W > 64" in text and "W ≤ 64" in text
    assert text.endswith("not traced  otherwise")
    tex = symbolic.latex()
    assert tex.startswith(r"\begin{cases}") and r"\text{not traced}" in tex
    assert r"\wedge" not in tex and r"\text{if }" in tex


def test_a_failed_re_trace_answers_from_a_numeric_profile_and_says_so(monkeypatch):
    model, shape = Branchy(), (1, 3, "H", "W")
    symbolic = convops.profile(model, shape)
    monkeypatch.setattr(tracing, "TRACE_SECONDS", 0.0)
    assert assert_exact(symbolic, model, shape, H=8, W=64) == "fallback"
    answer = symbolic.at(H=8, W=64)
    assert "numeric profile" in answer.fallback and "ran past 0 s" in answer.fallback
    assert answer.fallback in answer.summary() and "W > 64 fails" in answer.fallback
    assert len(symbolic.regions) == 1


def test_a_trace_past_its_deadline_says_what_made_it_slow(monkeypatch):
    monkeypatch.setattr(tracing, "TRACE_SECONDS", 0.0)
    with pytest.raises(convops.ConvopsError, match=r"trace of WindowPad ran past 0 s, in .* "
                       r"after \d+ operations \(\d+ ms each.*the \d+ decisions"):
        convops.profile(WindowPad(), (1, 3, "H", "W"))


def test_the_deadline_holds_after_the_run_too(monkeypatch):
    """Rewriting the rows' shapes and the conditions in the user's sizes is timed as well."""
    clock = types.SimpleNamespace(now=0.0)
    monkeypatch.setattr(tracing, "time", types.SimpleNamespace(monotonic=lambda: clock.now))
    translated = tracing._translated

    def slow(layer, translate):  # each row takes 100 s of the 120 s the fixture allows
        clock.now += 100.0
        return translated(layer, translate)

    monkeypatch.setattr(tracing, "_translated", slow)
    with pytest.raises(tracing.TraceTooSlow, match="ran past 120 s, in counting"):
        convops.profile(WindowPad(), (1, 3, "H", "W"))


def test_a_model_that_changed_is_not_traced_again():
    model = Branchy()
    symbolic = convops.profile(model, (1, 3, "H", "W"))
    model.extra = nn.Conv2d(4, 4, 5, padding=2)
    with pytest.raises(convops.ConvopsError, match="Branchy changed since it was profiled"):
        symbolic.at(H=8, W=8)


def test_to_json_holds_every_region_with_its_conditions():
    model = Branchy()
    symbolic = convops.profile(model, (1, 3, "H", "W"))
    symbolic.at(H=8, W=8)
    document = json.loads(symbolic.to_json())
    assert len(document["regions"]) == 2 and "model" not in document["regions"][0]
    H, W = sp.symbols("H W", integer=True, positive=True)
    for region, (h, w) in zip(document["regions"], [(30, 100), (30, 20)]):
        assert any("W" in condition for condition in region["conditions"])
        total = sp.sympify(region["totals"]["total"], locals={"H": H, "W": W})
        assert total.subs({H: h, W: w}) == convops.profile(model, (1, 3, h, w)).total
    total = sp.sympify(document["totals"]["total"], locals={"H": H, "W": W})
    assert total.subs({H: 30, W: 20}) == convops.profile(model, (1, 3, 30, 20)).total


def test_a_regions_conditions_hold_torchs_deferred_checks_as_well_as_its_guards():
    from torch.fx.experimental.symbolic_shapes import DimDynamic, ShapeEnv

    env = ShapeEnv(duck_shape=False, prefer_deferred_runtime_asserts_over_guards=True)
    h = env.create_symbol(40, tracing._SizeSource("H"), DimDynamic.DYNAMIC,
                          do_not_specialize_zero_one=True)
    H = sp.Symbol("H", integer=True, positive=True)
    translate = translation.Translator(env, {h: H})
    assert tracing._guards(env, translate) == ()
    env.guard_or_defer_runtime_assert(sp.Eq(sp.Mod(h, 4), 0), "H a multiple of 4")
    assert not env.guards and tracing._guards(env, translate) == (sp.Eq(sp.Mod(H, 4), 0),)
