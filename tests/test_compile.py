"""The compiler: printed Python and JavaScript equal sympy's own exact value, for every input.

Random expressions of every form the counts and the traced guards use (floors of rationals,
nested floors, Mod, Max/Min, Piecewise, comparisons, Gcd, LatticeCount, Saturation), built both
evaluated and unevaluated, are compiled and run on random integers, negative and beyond 2**53
where the form allows, and compared with sympy's evaluation of the same expression.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import convops
from convops import compiler
from convops.additions import Gcd, Iverson, LatticeCount, Saturation
from convops.derivation import KINDS

#: Examples per property: 10**4 in the thorough profile, a few hundred by default.
BUDGET = 10_000 if os.environ.get("CONVOPS_HYPOTHESIS") == "thorough" else 300

X, Y = sp.symbols("x y", integer=True)  # any sign
P = sp.Symbol("p", integer=True, positive=True)
SYMBOLS = (X, Y, P)
RUNTIME = Path(convops.__file__).with_name("runtime.js")

evaluate = st.booleans()
small = st.integers(-12, 12).map(sp.Integer)
positive_constant = st.integers(1, 9).map(sp.Integer)
nonzero_constant = st.one_of(positive_constant, positive_constant.map(lambda c: -c))
rational_constant = st.builds(sp.Rational, st.integers(-12, 12), st.integers(1, 9))


def _node(build, *strategies) -> st.SearchStrategy:
    """``build(evaluate, *drawn)``, evaluated or not; what sympy itself refuses to build is skipped."""
    def tolerant(*args):
        try:
            return build(*args)
        except (TypeError, ValueError):
            return None

    return st.builds(tolerant, evaluate, *strategies).filter(lambda expr: expr is not None)


def _pair(function, *strategies) -> st.SearchStrategy:
    return _node(lambda ev, *args: function(*args, evaluate=ev), *strategies)


def _piecewise(value, condition, otherwise=st.just(sp.true)) -> st.SearchStrategy:
    """Two branches, the second taken ``otherwise``."""
    return _node(lambda ev, a, c, b, d: sp.Piecewise((a, c), (b, d), evaluate=ev),
                 value, condition, value, otherwise)


@lru_cache(maxsize=None)
def integers(depth: int) -> st.SearchStrategy:
    """Integer-valued expressions."""
    leaf = st.one_of(st.sampled_from(SYMBOLS), small)
    if depth == 0:
        return leaf
    sub, rational, positive = integers(depth - 1), rationals(depth - 1), positives(depth - 1)
    condition = conditions(depth - 1)
    several = st.lists(sub, min_size=2, max_size=3)
    return st.one_of(
        leaf,
        _pair(sp.Add, sub, sub), _pair(sp.Mul, sub, sub),
        _pair(sp.floor, rational), _pair(sp.ceiling, rational),
        _pair(sp.Mod, sub, st.one_of(positive, nonzero_constant)),
        _node(lambda ev, args: sp.Max(*args, evaluate=ev), several),
        _node(lambda ev, args: sp.Min(*args, evaluate=ev), several),
        _piecewise(sub, condition), _pair(Iverson, condition), _pair(sp.Abs, sub),
        _pair(sp.Pow, sub, st.sampled_from([2, 3])),
        _pair(Gcd, positive, positive),
        _pair(LatticeCount, sub, sub, positive, positive, sub),
        _pair(Saturation, sub, positive, positive, sub),
    )


@lru_cache(maxsize=None)
def positives(depth: int) -> st.SearchStrategy:
    """Expressions sympy can tell are positive: moduli, denominators, strides."""
    leaf = st.one_of(st.just(P), positive_constant)
    if depth == 0:
        return leaf
    return st.one_of(leaf, _pair(sp.Max, integers(depth - 1), positive_constant),
                     _pair(sp.Add, st.just(P), positive_constant))


@lru_cache(maxsize=None)
def rationals(depth: int) -> st.SearchStrategy:
    """Rational-valued expressions: what a floor, a ceiling or a comparison takes."""
    leaf = st.one_of(st.sampled_from(SYMBOLS), rational_constant)
    if depth == 0:
        return leaf
    sub, whole, positive = rationals(depth - 1), integers(depth - 1), positives(depth - 1)
    return st.one_of(
        leaf, whole,
        _pair(sp.Add, sub, sub), _pair(sp.Mul, rational_constant, sub), _pair(sp.Mul, whole, sub),
        _node(lambda ev, a, b: sp.Mul(a, sp.Pow(b, -1, evaluate=ev), evaluate=ev), sub, positive),
        _pair(sp.Mod, sub, rational_constant.filter(lambda c: c > 0)),
        _pair(sp.Max, sub, sub), _pair(sp.Min, sub, sub), _piecewise(sub, conditions(depth - 1)),
    )


RELATIONS = (sp.Eq, sp.Ne, sp.Lt, sp.Le, sp.Gt, sp.Ge)


@lru_cache(maxsize=None)
def conditions(depth: int) -> st.SearchStrategy:
    """Conditions as torch's guards write them: comparisons of sizes, and their combinations."""
    side = rationals(max(depth - 1, 0))
    compare = _node(lambda ev, r, a, b: r(a, b, evaluate=ev), st.sampled_from(RELATIONS), side, side)
    if depth == 0:
        return compare
    sub = conditions(depth - 1)
    return st.one_of(compare, _node(lambda ev, a, b: sp.And(a, b), sub, sub),
                     _node(lambda ev, a, b: sp.Or(a, b), sub, sub), _node(lambda ev, a: sp.Not(a), sub))


# At the top only, a Piecewise that may have no value (sympy's nan): nowhere to propagate it.
expressions = st.one_of(integers(2), conditions(1),
                        _piecewise(integers(1), conditions(0), conditions(0)))
values = st.one_of(st.integers(-40, 40), st.integers(-2**70, 2**70))
inputs = st.lists(st.fixed_dictionaries({X: values, Y: values, P: values.map(lambda v: abs(v) + 1)}),
                  min_size=1, max_size=4)


def _evaluated(expr, at: dict):
    """``expr`` at ``at``, built anew from the leaves up, so that sympy evaluates every node on
    numbers (``xreplace`` would leave an unevaluated node that has no symbol as it is)."""
    if expr.is_Symbol:
        return sp.Integer(at[expr])
    if not expr.args:
        return expr
    return expr.func(*(_evaluated(arg, at) for arg in expr.args))


def exact(expr, at: dict):
    """sympy's own value of ``expr`` at ``at``: an int, a bool, or ``None`` where a ``Piecewise``
    has no branch that applies."""
    value = _evaluated(sp.sympify(expr), at)
    if isinstance(value, sp.logic.boolalg.BooleanAtom):
        return bool(value)
    if value is sp.nan or isinstance(value, sp.Piecewise):  # no branch applies (or is left)
        return None
    assert value.is_Integer, (expr, at, value)
    return int(value)


def compiled(expr):
    return compiler.compile_int(SYMBOLS, expr)


@settings(max_examples=BUDGET)
@given(expressions, inputs)
def test_compiled_python_equals_sympy(expr, points):
    function = compiled(expr)
    for at in points:
        assert function(*(at[s] for s in SYMBOLS)) == exact(expr, at), (expr, at)


def test_the_unevaluated_guard_of_the_issue():
    """torch's guards build ``floor((x + Mod(6x, 7)) / 7)`` with the 1/7 outside the sum."""
    x = sp.Symbol("x", integer=True, positive=True)
    guard = sp.floor(sp.Mul(sp.Rational(1, 7), sp.Add(x, sp.Mod(6 * x, 7)), evaluate=False))
    function = compiler.compile_int([x], guard)
    assert [function(n) for n in range(1, 30)] == [exact(guard, {x: n}) for n in range(1, 30)]


@pytest.mark.parametrize("expr, why", [
    (X / 2, "may leave a remainder"),
    (X * Y / 3 + 1, "may leave a remainder"),
    (1 / X, "may be zero or negative"),
    (sp.floor(X / Y), "may be zero or negative"),
    (sp.Float(1.5) * X, "Float"),
    (sp.sqrt(P), "exponent"),
    (sp.sin(X), "sin"),
])
def test_what_cannot_be_exact_is_refused_at_compile_time(expr, why):
    with pytest.raises(convops.ConvopsError, match=why):
        compiler.code(expr)


def test_a_division_is_kept_where_it_is_exact():
    S = convops.derive("ConvTranspose1d").symbols
    s_reduced = S.s[0] / Gcd(S.s[0], S.d[0])
    assert compiler.code(S.C_in * S.C_out / S.g + s_reduced) == \
        "C_out*((C_in)//(g)) + ((s)//(Gcd(s, d)))"
    assert compiler.code((2 * X + 4 * Y) / 2 + (P * X + P) / P) == "2*x + 2*y + 1"


def _valid_values(symbols: set, rng: random.Random) -> dict:
    """Random values of a derivation's symbols that torch could see: g divides the channels."""
    at = {s: rng.randint(1, 9) if s.is_positive else rng.randint(0, 6) for s in symbols}
    for name in ("C_in", "C_out"):
        channels = next((s for s in symbols if s.name == name), None)
        groups = next((s for s in symbols if s.name == "g"), None)
        if channels is not None and groups is not None:
            at[channels] = at[groups] * rng.randint(1, 5)
    return at


@pytest.mark.parametrize("name", list(KINDS))
def test_every_equation_compiles_exactly(name):
    """Each equation of the derivation, as Python, equals sympy's value on layers torch accepts."""
    rng = random.Random(name)
    for quantity, equation in convops.derive(name).equations().items():
        symbols = sorted(equation.rhs.free_symbols, key=str)
        function = compiler.compile_int(symbols, equation.rhs)
        for _ in range(20):
            at = _valid_values(set(symbols), rng)
            assert function(*(at[s] for s in symbols)) == exact(equation.rhs, at), (quantity, at)


def test_code_prints_a_quantity_in_either_language():
    d = convops.derive("ConvTranspose2d")
    assert d.code("psi") == "C_out*((C_in)//(g))"
    assert d.code("s_reduced", "javascript") == "floorDiv(s_i, gcd(s_i, d_i))"
    with pytest.raises(convops.ConvopsError, match="language must be one of 'python', "):
        d.code("psi", "c")
    with pytest.raises(convops.ConvopsError, match="quantity must be one of"):
        d.code("omega")


# -- JavaScript ------------------------------------------------------------------------------------
_NODE_WORKER = """
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
const runtime = await import(pathToFileURL(process.argv[2]));
const names = Object.keys(runtime);
for await (const line of createInterface({ input: process.stdin })) {
  const { expr, args } = JSON.parse(line);
  let answer;
  try {
    const f = new Function(...names, ...Object.keys(args), `return (${expr});`);
    answer = { value: String(f(...names.map((n) => runtime[n]), ...Object.values(args).map(BigInt))) };
  } catch (error) {
    answer = { error: String(error) };
  }
  process.stdout.write(JSON.stringify(answer) + "\\n");
}
"""


class Node:
    """One node process that evaluates printed expressions with convops/runtime.js in scope."""

    def __init__(self, directory: Path):
        node = shutil.which("node")
        assert node, "node is missing: `make setup` installs it"
        script, runtime = directory / "worker.mjs", directory / "runtime.mjs"
        script.write_text(_NODE_WORKER)
        shutil.copy(RUNTIME, runtime)  # .mjs: an ES module whatever package.json says
        self.process = subprocess.Popen([node, str(script), str(runtime)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, bufsize=1)

    def __call__(self, expr: str, at: dict) -> str:
        request = {"expr": expr, "args": {str(s): str(v) for s, v in at.items()}}
        self.process.stdin.write(json.dumps(request) + "\n")
        return json.loads(self.process.stdout.readline()).get("value", "error")

    def close(self):
        self.process.stdin.close()
        self.process.wait()


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    worker = Node(tmp_path_factory.mktemp("node"))
    yield worker
    worker.close()


def _as_javascript(value) -> str:
    if value is None:
        return "undefined"
    return str(value).lower() if isinstance(value, bool) else str(value)


@settings(max_examples=BUDGET)
@given(expressions, inputs)
def test_printed_javascript_equals_sympy(node, expr, points):
    text = compiler.javascript(expr)
    for at in points:
        assert node(text, at) == _as_javascript(exact(expr, at)), (expr, text, at)


def test_javascript_integers_are_bigints(node):
    """Beyond 2**53 a JavaScript number is no longer exact: every integer must be a BigInt."""
    expr = (2**53 + 1) * X + 1
    assert node(compiler.javascript(expr), {X: 3}) == str(3 * (2**53 + 1) + 1)


@pytest.mark.parametrize("name", list(KINDS))
def test_every_equation_runs_as_javascript(node, name):
    rng = random.Random(name)
    d = convops.derive(name)
    for quantity, equation in d.equations().items():
        text = d.code(quantity, "javascript")
        for _ in range(5):
            at = _valid_values(equation.rhs.free_symbols, rng)
            assert node(text, at) == str(exact(equation.rhs, at)), (quantity, text, at)


def test_the_runtime_exports_what_the_printer_calls():
    source = RUNTIME.read_text()
    exported = set(re.findall(r"^export function (\w+)", source, re.M))
    assert exported == {"floorDiv", "mod", "max", "min", "gcd", "LatticeCount", "Saturation"}
    for name in exported:  # each says which Python it mirrors, on the line above
        above = source[:source.index(f"export function {name}(")].rstrip().splitlines()[-1]
        assert above.startswith("//") and ("Python" in above or "convops." in above or
                                           "math." in above), name
