"""The translation of torch's size functions to sympy: complete for torch's table, each entry equal
to torch's own evaluation of the function, and reached by a model whose sizes use it, its counts
equal to the numeric profile at concrete sizes."""

import inspect
import itertools
import math

import pytest
import sympy as sp
import torch
import torch.nn.functional as F
import torch.utils._sympy.functions as torch_sympy
from torch import nn
from torch.fx.experimental.symbolic_shapes import ShapeEnv

import convops
from convops.symbolic import tracing, translation
from convops.symbolic.translation import REFUSED, TORCH_FUNCTIONS, Translator


@pytest.fixture(autouse=True)
def _time_to_trace(monkeypatch):
    """Room for a loaded test machine: the traces' speed is the benchmarks' to measure."""
    monkeypatch.setattr(tracing, "TRACE_SECONDS", 120.0)


def torchs_size_functions() -> set[type]:
    return {value for value in vars(torch_sympy).values()
            if inspect.isclass(value) and issubclass(value, sp.Basic)
            and value.__module__ == torch_sympy.__name__}


def test_every_size_function_of_torch_is_translated_or_refused():
    functions = torchs_size_functions()
    assert len(functions) >= 40  # the listing found torch's table
    assert functions == set(TORCH_FUNCTIONS) | set(REFUSED)
    assert not set(TORCH_FUNCTIONS) & set(REFUSED)


# Arguments at which torch's own classes evaluate each function (within its contract: a
# nonnegative dividend for Mod, an exact quotient for CleanDiv …); floats are binary-exact.
INTS = [-7, -3, -1, 0, 1, 2, 5, 8, 13]
POSITIVE = [1, 2, 3, 4, 7]
FLOATS = [-3.5, -2.5, -1.5, -0.75, -0.5, 0.0, 0.5, 1.5, 2.5, 2.75, 3.0, 4.5]
ARGUMENTS = {
    torch_sympy.FloorDiv: itertools.product(INTS, [-3, -2, 1, 2, 3, 5]),
    torch_sympy.CleanDiv: [(a * b, b) for a in INTS for b in POSITIVE],
    torch_sympy.CeilDiv: itertools.product([0, 1, 2, 5, 8, 13], POSITIVE),
    torch_sympy.IntTrueDiv: itertools.product(INTS, [-4, -2, 1, 2, 4]),
    torch_sympy.FloatTrueDiv: itertools.product(FLOATS, [-2.0, 0.5, 2.0, 4.0]),
    torch_sympy.FloorToInt: [(x,) for x in FLOATS],
    torch_sympy.CeilToInt: [(x,) for x in FLOATS],
    torch_sympy.TruncToInt: [(x,) for x in FLOATS],
    torch_sympy.TruncToFloat: [(x,) for x in FLOATS],
    torch_sympy.RoundToInt: [(x,) for x in FLOATS],
    torch_sympy.ToFloat: [(x,) for x in INTS],
    torch_sympy.Identity: [(x,) for x in INTS],
    torch_sympy.PythonMod: itertools.product(INTS, [-3, -2, 2, 3, 5]),
    torch_sympy.Mod: itertools.product([0, 1, 2, 5, 8, 13], POSITIVE),
    torch_sympy.ModularIndexing: itertools.product([0, 5, 13, 29], [1, 2, 3], [2, 3, 4]),
    torch_sympy.Max: itertools.product(INTS, INTS[::3]),
    torch_sympy.Min: itertools.product(INTS, INTS[::3]),
    torch_sympy.PowByNatural: itertools.product(INTS, [0, 1, 2, 3]),
    torch_sympy.FloatPow: itertools.product(FLOATS, [0.0, 1.0, 2.0, 3.0]),
    torch_sympy.LShift: itertools.product([0, 1, 5, 13], [0, 1, 3]),
    torch_sympy.RShift: itertools.product([0, 1, 5, 13, 29], [0, 1, 3]),
    torch_sympy.Where: itertools.product([True, False], INTS[::4], INTS[1::4]),
}


def _sympy(value):
    if isinstance(value, bool):
        return sp.true if value else sp.false
    return sp.Float(value) if isinstance(value, float) else sp.Integer(value)


def _ours(value):
    """An argument as the translation sees it: torch's float constants as exact rationals."""
    return translation.exact_float(value) if isinstance(value, sp.Float) else value


def test_every_translated_function_has_arguments_to_check():
    assert set(ARGUMENTS) == set(TORCH_FUNCTIONS)


@pytest.mark.parametrize("function", sorted(TORCH_FUNCTIONS, key=lambda f: f.__name__),
                         ids=lambda f: f.__name__)
def test_each_translation_equals_torchs_own_evaluation(function):
    for arguments in ARGUMENTS[function]:
        values = [_sympy(a) for a in arguments]
        theirs = function(*values)
        ours = TORCH_FUNCTIONS[function](*map(_ours, values))
        assert ours.is_number and float(ours) == float(theirs), (function.__name__, arguments,
                                                                 ours, theirs)


@pytest.mark.parametrize("function", sorted(REFUSED, key=lambda f: f.__name__),
                         ids=lambda f: f.__name__)
def test_each_refused_function_is_refused_with_its_reason(function):
    env = ShapeEnv()
    symbol = sp.Symbol("s0", integer=True, positive=True)
    H = sp.Symbol("H", integer=True, positive=True)
    size = sp.Basic.__new__(function, symbol, sp.Integer(2))  # unevaluated, as in a shape
    with pytest.raises(convops.ConvopsError, match=f"{function.__name__}: .*concrete sizes"):
        Translator(env, {symbol: H}).translate(sp.Add(size, symbol, evaluate=False))


def test_a_float_constant_not_exact_in_binary_is_refused():
    model = Resized(lambda x: F.interpolate(x, scale_factor=0.1))
    with pytest.raises(convops.ConvopsError, match="float 0.1 in a size is not exact in binary"):
        convops.profile(model, (1, 3, "H", "W"))


class Resized(nn.Module):
    """A convolution after ``resize(x)``: its input sizes are ``resize``'s size expressions."""

    def __init__(self, resize):
        super().__init__()
        self.conv, self.resize = nn.Conv2d(3, 4, 3, padding=1), resize

    def forward(self, x):
        return self.conv(self.resize(x))


#: Models whose sizes torch writes with each size function, and the functions they reach.
MODELS = {
    "interpolate(scale_factor=0.5)": (lambda x: F.interpolate(x, scale_factor=0.5),
                                      {torch_sympy.TruncToInt, torch_sympy.ToFloat}),
    "interpolate(scale_factor=1.5)": (lambda x: F.interpolate(x, scale_factor=1.5),
                                      {torch_sympy.TruncToInt, torch_sympy.ToFloat}),
    "ceil division (math.ceil(W / 3))": (lambda x: x[..., :math.ceil(x.shape[-1] / 3)],
                                         {torch_sympy.CeilToInt, torch_sympy.IntTrueDiv,
                                          torch_sympy.Min}),
    "floor (math.floor(W / 3))": (lambda x: x[..., :math.floor(x.shape[-1] / 3)],
                                  {torch_sympy.FloorToInt, torch_sympy.IntTrueDiv}),
    "round(W / 2), ties to even": (lambda x: x[..., :round(x.shape[-1] / 2)],
                                   {torch_sympy.RoundToInt}),
    "int(W / 2.5), a float division": (lambda x: x[..., :int(x.shape[-1] / 2.5)],
                                       {torch_sympy.FloatTrueDiv, torch_sympy.TruncToInt}),
    "Python's modulo (pad to a multiple of 4)": (lambda x: F.pad(x, (0, (-x.shape[-1]) % 4)),
                                                 {torch_sympy.PythonMod}),
    "torch's Mod ((4 - W % 4) % 4)": (lambda x: F.pad(x, (0, (4 - x.shape[-1] % 4) % 4)),
                                      {torch_sympy.Mod}),
    "sym_max(W // 2, 5), every third row": (
        lambda x: x[..., ::3, :torch.sym_max(x.shape[-1] // 2, 5)],
        {torch_sympy.FloorDiv, torch_sympy.Max}),
}


@pytest.mark.parametrize("name", MODELS)
def test_a_model_whose_sizes_use_a_size_function_counts_as_the_numeric_profile(name,
                                                                               monkeypatch):
    resize, functions = MODELS[name]
    reached = set()
    for function in functions:
        def counted(*args, function=function, translate=TORCH_FUNCTIONS[function]):
            reached.add(function)
            return translate(*args)
        monkeypatch.setitem(TORCH_FUNCTIONS, function, counted)
    model = Resized(resize)
    symbolic = convops.profile(model, (1, 3, "H", "W"))
    assert reached == functions
    for h, w in [(12, 20), (9, 13), (16, 15), (30, 17), (10, 50), (24, 7)]:
        numeric = convops.profile(model, (1, 3, h, w))
        at = symbolic.at(H=h, W=w)
        assert (at.total, at.multiplications, at.additions) == \
            (numeric.total, numeric.multiplications, numeric.additions), (h, w)
        assert symbolic.evaluate(H=h, W=w) == \
            (numeric.multiplications, numeric.additions, numeric.total)
