"""A whole model's count as a formula in its input sizes.

``convops.profile(model, (1, 3, "H", "W"))`` runs the model once on fake tensors whose sizes are
torch symbols (a ``ShapeEnv``, as ``torch.export`` uses, without compiling anything): each
``aten.convolution`` then sees its input sizes as torch's sympy expressions of those symbols.  They
are rewritten in the user's names (``H``, ``W``, ``N`` …) and substituted into convops'
derivation with the call's parameters, so every call's counts, and the model's, are sympy
expressions.

The trace follows one path through the model: every decision torch makes on a size (a guard) is
kept, and the formulas hold where all of them do, a :class:`Region` of sizes (a size that tracing
had to fix to one value, a specialisation, is reported with the call that did it).  No guard is
dropped: one that chooses a path (``if H > 64``) decides which convolutions run.  Torch asks
its own questions about sizes size-obliviously (``guard_or_false``: broadcasting, contiguity,
strides): by torch's contract those take the general path, which gives the same result at size 1,
or check the size at run time, and such a check is kept as a condition.  So a stage that
collapses to one pixel stays in the region, and the model's own ``if x.shape[-1] == 1`` is still
a decision.  At a size outside the regions traced so far, :meth:`SymbolicProfile.at` traces again
there and keeps the new region.

Resizing to a size computed from the input (``F.interpolate(x, size=y.shape[-2:])``, or by a
``scale_factor``) runs under torch's Python dispatcher, whose decompositions take symbolic sizes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, Callable, Iterable

import sympy as sp
import torch
import torch._decomp
import torch.utils._sympy.functions as torch_sympy
from torch.utils._sympy.numbers import int_oo
from torch._dispatch.python import enable_python_dispatcher
from torch._prims_common import is_contiguous_for_memory_format_or_false
from torch._guards import GuardSource, Source
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.fx.experimental.symbolic_shapes import DimDynamic, ShapeEnv

from ._compile import compile_int
from .count import Breakdown, _QUANTITIES, _formulas, _parameters
from .errors import ConvopsError
from .layer import Layer
from .capture import META_LIMITS, Call, Capture, default_dtype, describe, first_shape, map_inputs, run
from .profiling import LayerProfile, Profile, rows
from .report import compact
from .symbols import condition_latex, condition_text, latex

#: The size each symbol takes while tracing (the first symbol 256, then 320, 384 …): large and
#: distinct, so that no decision torch takes on them is one that holds only for small sizes.
FIRST_HINT, HINT_STEP = 256, 64


@dataclass(frozen=True)
class _SizeSource(Source):
    """Names a symbolic size for torch's ShapeEnv (as torch.export's dynamic dims do)."""

    size: str

    @property
    def _name_template(self) -> str:
        return self.size

    @property
    def guard_source(self) -> GuardSource:
        return GuardSource.CONSTANT


@dataclass(frozen=True)
class Specialization:
    """A symbolic size that tracing fixed: to ``value`` (an int, or an expression in the others)."""

    size: str
    value: object
    where: str  #: the call running when it happened: ``module path (aten op)``
    why: str  #: torch's source location of the decision

    def __str__(self) -> str:
        value = condition_text(readable(sp.sympify(self.value)))
        return f"{self.size} specialised to {value} at {self.where}: {self.why}"


@dataclass(frozen=True, repr=False)
class Region(Profile):
    """One trace: a :class:`Profile` whose counts and shapes are sympy expressions in
    ``symbols``, exact where its conditions hold.

    ``guards`` are the decisions torch took on the sizes while tracing (every one kept: a guard
    that chooses a path through the model decides which operations run), ``specializations``
    the sizes tracing fixed, and where; ``traced_at`` the sizes it ran at.
    """

    symbols: tuple[sp.Symbol, ...] = ()
    guards: tuple[sp.Basic, ...] = ()
    specializations: tuple[Specialization, ...] = ()
    traced_at: tuple[tuple[str, int], ...] = ()

    @cached_property
    def condition(self) -> sp.Basic:
        """Where the region's formulas hold: every guard, and every specialised size's value."""
        fixed = [sp.Eq(sp.Symbol(s.size, integer=True, positive=True), sp.sympify(s.value))
                 for s in self.specializations]
        return sp.And(*self.guards, *fixed)

    def describe(self) -> str:
        """Where the region holds, in words, and where it was traced."""
        at = ", ".join(f"{name}={size}" for name, size in self.traced_at)
        where = condition_text(readable(self.condition)) if self.condition is not sp.true \
            else "every size"
        return f"{where} (traced at {at})"

    def _printable(self, expr):
        return readable(expr)

    # -- evaluation ------------------------------------------------------------------------------
    @cached_property
    def _table(self):
        """Every value of the table as an index into the values of one compiled function of the
        sizes (its distinct expressions), or as the int it is."""
        expressions, slots = {}, []

        def slot(value):
            value = sp.sympify(value)
            if value.is_Integer:
                return int(value)
            return -1 - expressions.setdefault(value, len(expressions))

        for layer in self.layers:
            shapes = [tuple(map(slot, s)) if s is not None else None
                      for s in (layer.input_shape, layer.output_shape)]
            counts = None if layer.breakdown is None else tuple(
                slot(_zero_if_none(getattr(layer.breakdown, q))) for q in _BREAKDOWN_FIELDS)
            slots.append((*shapes, counts))
        return _exact_function(self.symbols, list(expressions) or [sp.S.Zero]), slots

    @cached_property
    def _quantities(self):
        return _exact_function(self.symbols, [self.multiplications, self.additions, self.total])

    @cached_property
    def _check_guards(self):
        return _exact_function(self.symbols, list(self.guards)) if self.guards else None

    def broken(self, sizes: dict[str, int]) -> sp.Basic | None:
        """The first of the region's conditions that ``sizes`` break, or ``None``."""
        values = {sp.Symbol(name, integer=True, positive=True): v for name, v in sizes.items()}
        for special in self.specializations:
            if sp.sympify(special.value).xreplace(values) != sizes[special.size]:
                return sp.Eq(sp.Symbol(special.size, integer=True, positive=True),
                             sp.sympify(special.value))
        if self._check_guards is None:
            return None
        held = self._check_guards(*(sizes[str(s)] for s in self.symbols))
        held = held if isinstance(held, (list, tuple)) else [held]
        return next((g for g, ok in zip(self.guards, held) if not ok), None)

    def evaluate(self, **sizes: int) -> tuple[int, int, int]:
        """``(multiplications, additions, total)`` at ``sizes``, where the region holds."""
        return tuple(self._quantities(*(sizes[str(s)] for s in self.symbols)))

    def at(self, **sizes: int) -> Profile:
        """The numeric profile at ``sizes``, where the region holds: every count an exact int."""
        function, slots = self._table
        computed = function(*(sizes[str(s)] for s in self.symbols))
        computed = computed if isinstance(computed, (list, tuple)) else [computed]

        def value(s):
            return s if s >= 0 else computed[-1 - s]

        layers = []
        for layer, (shape_in, shape_out, counts) in zip(self.layers, slots):
            shape_in = None if shape_in is None else tuple(map(value, shape_in))
            shape_out = None if shape_out is None else tuple(map(value, shape_out))
            numbers = None
            if counts is not None:
                fields = dict(zip(_BREAKDOWN_FIELDS, map(value, counts)))
                if layer.breakdown.A is None:
                    fields["A"] = None
                numbers = dataclasses.replace(layer.breakdown, input_shape=shape_in,
                                              output_shape=shape_out, **fields)
            layers.append(dataclasses.replace(layer, input_shape=shape_in, output_shape=shape_out,
                                              breakdown=numbers))
        at_sizes = {sp.Symbol(name, integer=True, positive=True): v for name, v in sizes.items()}
        modules = {path: dataclasses.replace(record, output_shape=None if record.output_shape is None
                   else tuple(int(sp.sympify(v).xreplace(at_sizes)) for v in record.output_shape))
                   for path, record in self.modules.items()}
        return Profile(self.model, _concrete(self.input_shape, sizes), tuple(layers),
                       _with_sizes(self.inputs, sizes), self.mode, self.device, modules)


@dataclass(frozen=True, repr=False)
class SymbolicProfile(Profile):
    """A :class:`Profile` whose counts are formulas in ``symbols``, one per region of sizes.

    Each trace follows one path through the model and holds where the decisions torch took on
    the sizes (its guards) hold: a :class:`Region`.  The profile starts with the region of the
    sizes it was traced at; :meth:`at` and :meth:`evaluate` at a size outside every known region
    trace the model again there (at most :data:`TRACE_SECONDS` each, and :data:`MAX_REGIONS`
    regions in all) and keep the new region, so that later sizes in it are answered from its
    formulas.  Where a re-trace fails, the answer comes from a numeric profile at those sizes,
    marked as such (:attr:`Profile.fallback`); a size the model itself refuses is refused with
    the model's reason.  For this the profile keeps the model and its inputs: a re-trace runs the
    model as it is then, so a model whose modules, parameters or buffers changed since is refused
    (its regions describe the model as it was); a change to its code is not seen.

    The table, the rows and the module formulas show the first region (its conditions under
    :attr:`guards`); :meth:`formula`, :meth:`latex`, :attr:`total` and :meth:`to_json` hold every
    region's.

    Examples
    --------
    >>> import torch, convops
    >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU())
    >>> p = convops.profile(model, (1, 3, "H", "W"))
    >>> p.evaluate(H=32, W=17), p.at(H=32, W=17).total
    ((25920, 25920, 51840), 51840)
    >>> text = p.latex("multiplications")  # the floors as torch writes them: of (H - 3) / 2
    >>> "lfloor" in text and "{H - 3}{2}" in text
    True
    >>> line = convops.profile(torch.nn.Conv1d(2, 4, 3, stride=2), (1, 2, "L"))
    >>> print(line.formula_text())
    48·⌊(L - 3)/2⌋ + 48  if L ≥ 3
    not traced  otherwise

    A size traced at 1 is fixed there (torch fixes sizes 0 and 1); a size outside the regions
    traced so far is traced when first asked for, and kept:

    >>> pointwise = torch.nn.Conv2d(3, 8, 1)
    >>> row = convops.profile(pointwise, (1, 3, "H=1", "W"))
    >>> row.holds(H=4, W=17), row.at(H=4, W=17).total, convops.profile(pointwise, (1, 3, 4, 17)).total
    (False, 3264, 3264)
    >>> len(row.regions), row.holds(H=9, W=2), row.holds(H=1, W=40)
    (2, True, True)
    """

    symbols: tuple[sp.Symbol, ...] = ()
    _regions: list = field(default_factory=list, compare=False)
    #: the inputs, keyword inputs, the model's fingerprint and the numeric profile, to re-trace
    _recipe: tuple = field(default=(), compare=False)

    @property
    def regions(self) -> tuple[Region, ...]:
        """The regions traced so far, the first the profile's own, in order of tracing."""
        return tuple(self._regions)

    @property
    def guards(self) -> tuple[sp.Basic, ...]:
        """The first region's conditions: the decisions torch took on the sizes."""
        return self._regions[0].guards

    @property
    def specializations(self) -> tuple[Specialization, ...]:
        """The sizes the first region's trace fixed."""
        return self._regions[0].specializations

    # -- formulas across regions -----------------------------------------------------------------
    def formula(self, quantity: str = "total", module: str | None = None):
        """``quantity`` of the model or of ``module`` in every region: one formula where one
        region covers every size, else a ``Piecewise`` of each region's formula and condition
        (regions with the same formula merged), ``nan`` (not traced) elsewhere."""
        pieces: dict = {}
        refusals = []
        for region in self._regions:
            try:
                value = sp.sympify(region.formula(quantity, module))
            except ConvopsError as error:  # a module that did not run in this region: 0
                refusals.append(error)
                value = sp.S.Zero
            pieces[value] = sp.Or(pieces.get(value, sp.false), region.condition)
        if len(refusals) == len(self._regions):
            raise refusals[0]
        if any(condition is sp.true for condition in pieces.values()):
            return next(v for v, c in pieces.items() if c is sp.true)
        return sp.Piecewise(*pieces.items(), (sp.nan, True), evaluate=False)  # as traced

    @property
    def multiplications(self):
        """Multiplications of every counted call, as :meth:`formula` gives them."""
        return self.formula("multiplications")

    @property
    def additions(self):
        """Additions of every counted call, as :meth:`formula` gives them."""
        return self.formula("additions")

    @property
    def total(self):
        """Operations of every counted call, as :meth:`formula` gives them."""
        return self.formula("total")

    def latex(self, quantity: str = "total", module: str | None = None,
              width: int | None = None) -> str:
        """LaTeX of :meth:`formula` (same arguments), to cite: cases in proper math, each
        region's formula (broken over lines of about ``width`` characters) and its condition in
        words, "not traced" for the other sizes; ``guards``: the first region's conditions."""
        if quantity == "guards":
            return r",\quad ".join(condition_latex(readable(guard)) for guard in self.guards)
        value = self.formula(quantity, module)
        if not isinstance(value, sp.Piecewise):
            return latex(readable(value), width)
        rows = [rf"{latex(readable(v), width)} & \text{{if }} {condition_latex(readable(c))}"
                for v, c in value.args[:-1]]
        return (r"\begin{cases} " + r" \\ ".join([*rows, r"\text{not traced} & \text{otherwise}"])
                + r" \end{cases}")

    def formula_text(self, quantity: str = "total", module: str | None = None) -> str:
        """:meth:`formula` as text for people: one line per region, ``formula  if condition``,
        and ``not traced  otherwise``."""
        value = self.formula(quantity, module)
        if not isinstance(value, sp.Piecewise):
            return condition_text(readable(value))
        return "\n".join([*(f"{condition_text(readable(v))}  if {condition_text(readable(c))}"
                            for v, c in value.args[:-1]), "not traced  otherwise"])

    def summary(self) -> str:
        """One sentence: the calls, the regions of sizes and where each holds."""
        names = ", ".join(map(str, self.symbols))
        regions = "; ".join(f"region {i}: {region.describe()}"
                            + "".join(f", {special}" for special in region.specializations)
                            for i, region in enumerate(self._regions, 1))
        return (f"{self.model_name} on input {self.inputs} ({self.ran}): {len(self.counted)} "
                f"convolution calls, counted as formulas in {names}, in {len(self._regions)} "
                f"region{'s' * (len(self._regions) > 1)} of sizes ({regions})")

    def _printable(self, expr):
        return readable(expr)

    def _summary(self) -> str:
        traced = "; ".join(", ".join(f"{n}={v}" for n, v in region.traced_at)
                           for region in self._regions)
        return (f"{self.model_name} on {self.inputs}, {self.ran}: {len(self.counted)} convolution "
                f"calls, counted as formulas in {', '.join(map(str, self.symbols))}, in "
                f"{len(self._regions)} region{'s' * (len(self._regions) > 1)} of sizes (traced "
                f"at {traced}); the table shows the first; every region's: "
                "profile.formula_text(quantity, module), profile.latex(…), profile.regions"
                + "".join(f"; {special}" for special in self.specializations))

    def __repr__(self) -> str:
        first = compact(readable(self._regions[0].total), 60, readable)
        return (f"<{type(self).__name__} of {self.model_name} on {self.inputs}, {self.mode}: "
                f"{len(self.counted)} convolution calls, {first} operations in region 1 of "
                f"{len(self._regions)}>")

    def to_json(self) -> str:
        """:meth:`Profile.to_json` of the first region, its totals those of every region (as
        :meth:`formula`), and ``regions``: each region's conditions, specialisations, the sizes
        it was traced at and its totals, as text and LaTeX."""
        document = json.loads(super().to_json())
        for quantity in ("multiplications", "additions", "total"):
            document["totals"][quantity] = str(readable(self.formula(quantity)))
        document["totals"]["macs"] = document["totals"]["multiplications"]
        document["totals"]["flops"] = str(readable(2 * self.multiplications))
        document["regions"] = [{
            "conditions": [condition_text(readable(g)) for g in region.guards],
            "conditions_latex": [condition_latex(readable(g)) for g in region.guards],
            "specializations": [str(special) for special in region.specializations],
            "traced_at": dict(region.traced_at),
            "totals": {q: str(readable(region.formula(q))) for q in _EVALUATED},
            "latex": {q: latex(readable(region.formula(q))) for q in _EVALUATED},
        } for region in self._regions]
        return json.dumps(document, indent=2, ensure_ascii=False)

    # -- sizes -----------------------------------------------------------------------------------
    def holds(self, **sizes: int) -> bool:
        """Whether a region traced so far holds at ``sizes`` (no tracing)."""
        sizes = self._checked(sizes)
        return any(region.broken(sizes) is None for region in self._regions)

    def evaluate(self, **sizes: int) -> tuple[int, int, int]:
        """``(multiplications, additions, total)`` at ``sizes``, exact ints: from the compiled
        formulas of the region that holds there, found as :meth:`at` finds it."""
        answer = self._answer(self._checked(sizes))
        if isinstance(answer, Region):
            return answer.evaluate(**sizes)
        return answer.multiplications, answer.additions, answer.total

    def at(self, **sizes: int) -> Profile:
        """The numeric profile at ``sizes`` (e.g. ``at(H=224, W=224)``): every count an exact int,
        from the formulas of a region that holds there, traced now if none does (see the class),
        or from a numeric profile, marked in :attr:`Profile.fallback`."""
        answer = self._answer(self._checked(sizes))
        return answer.at(**sizes) if isinstance(answer, Region) else answer

    def _checked(self, sizes: dict) -> dict[str, int]:
        names = [str(s) for s in self.symbols]
        if sorted(sizes) != sorted(names):
            raise ConvopsError(f"sizes {sorted(sizes)}: give exactly {', '.join(names)}")
        if not all(type(v) is int and v > 0 for v in sizes.values()):
            raise ConvopsError(f"sizes {sizes} must be positive ints")
        return sizes

    def _answer(self, sizes: dict[str, int]) -> Region | Profile:
        """The region that holds at ``sizes``, a new one traced there, or a numeric profile."""
        for region in self._regions:
            if region.broken(sizes) is None:
                return region
        inputs, kw_inputs, fingerprint, numeric_profile = self._recipe
        if _fingerprint(self.model) != fingerprint:
            raise ConvopsError(f"{self.model_name} changed since it was profiled (its modules, "
                               "parameters or buffers differ): its regions describe the model as "
                               "it was; profile it again")
        at = _with_hints((inputs, kw_inputs), sizes)
        outside = (f"outside the traced regions "
                   f"({condition_text(readable(self._regions[0].broken(sizes)))} fails)")
        if len(self._regions) >= MAX_REGIONS:
            why = f"{outside}, and the profile holds {MAX_REGIONS} regions already"
        else:
            try:
                region = trace(self.model, *at, self.mode)
            except ConvopsError as error:
                why = f"{outside}, and a trace there failed: {error}"
            else:
                self._regions.append(region)
                return region
        concrete = map_inputs(at, lambda v: v if isinstance(v, torch.Tensor) else tuple(
            int(_parse_size(s)[1]) if isinstance(s, str) else s for s in v))
        try:
            numeric = numeric_profile(self.model, *concrete[0], mode=self.mode, **concrete[1])
        except ConvopsError as error:
            raise ConvopsError(f"sizes {sizes}, {outside}: the model refuses them: {error}") \
                from error
        return dataclasses.replace(numeric, fallback=f"counted by a numeric profile at these "
                                                     f"sizes: {why}")

    def plot(self, along: str, values: Iterable[int], quantity: str = "total", ax: Any = None,
             **fixed: int | str) -> Any:
        """``quantity`` (``total``, ``multiplications`` or ``additions``) against the size
        ``along`` over ``values``, exact at each (:meth:`evaluate`: a size outside the regions
        traced so far is traced); the other sizes are ints or the name of a size they equal
        (``plot("H", range(64, 1025, 32), W="H")``).  Draws on ``ax`` (default: a new
        figure's) with matplotlib, imported here; returns the axes.

        Examples
        --------
        >>> import torch, convops
        >>> p = convops.profile(torch.nn.Conv2d(3, 8, 3), (1, 3, "H", "W"))
        >>> line, = p.plot("H", [8, 16, 32], W="H").lines
        >>> list(line.get_ydata()) == [p.evaluate(H=s, W=s)[2] for s in (8, 16, 32)]
        True
        """
        import matplotlib.pyplot as plt

        ax = ax or plt.figure().gca()
        xs, column = list(values), _EVALUATED.index(quantity)
        ys = [self.evaluate(**{along: x} | {k: x if v == along else v for k, v in fixed.items()})
              [column] for x in xs]
        ax.plot(xs, ys, label=quantity)
        others = ", ".join(f"{k} = {v}" for k, v in fixed.items())
        ax.set_xlabel(f"{along} ({others})" if others else along)
        ax.set_ylabel("operations")
        return ax


#: A re-trace of :meth:`SymbolicProfile.at` adds a region; past this many, sizes outside them
#: are answered by numeric profiles (a model whose formulas change with every size, as one that
#: pads to a multiple of a window, would otherwise trace again at every size asked).
MAX_REGIONS = 16


def _exact_function(symbols: tuple, expressions: list):
    """The values of ``expressions`` at sizes, exactly: compiled to integer code, or where the
    sound compiler refuses one (a division by a size that may be 0, as a reshape to ``-1`` of a
    padded size writes it), evaluated by sympy; a condition whose value is undefined there
    (``nan``: a division by zero) does not hold."""
    try:
        return compile_int(symbols, expressions)
    except ConvopsError:
        def evaluate(*values):
            at = dict(zip(symbols, map(sp.Integer, values)))
            results = [e.xreplace(at) for e in expressions]
            results = [bool(r) if isinstance(r, sp.logic.boolalg.Boolean) else
                       int(r) if r.is_Integer else False for r in results]
            return results if len(results) > 1 else results[0]
        return evaluate


def _concrete(shape, sizes: dict):
    return None if shape is None else tuple(sizes[v] if isinstance(v, str) else v for v in shape)


def _with_sizes(text: str, sizes: dict) -> str:
    return re.sub(r"\b(" + "|".join(map(re.escape, sizes)) + r")\b",
                  lambda match: str(sizes[match.group(1)]), text)


def _with_hints(value, sizes: dict):
    """The inputs with every symbolic size traced at ``sizes``: ``"H"`` becomes ``"H=32"``."""
    return map_inputs(value, lambda v: v if isinstance(v, torch.Tensor) else tuple(
        f"{_parse_size(s)[0]}={sizes[_parse_size(s)[0]]}" if isinstance(s, str) else s
        for s in v))


def _fingerprint(model) -> tuple:
    """What a re-trace must find unchanged: the modules, and the parameters' and buffers' shapes
    and dtypes."""
    if not isinstance(model, torch.nn.Module):
        return ()
    return (tuple((name, type(m).__name__) for name, m in model.named_modules()),
            tuple((name, tuple(t.shape), t.dtype) for name, t in
                  (*model.named_parameters(), *model.named_buffers())))


_EVALUATED = ("multiplications", "additions", "total")


def _zero_if_none(value):
    return sp.S.Zero if value is None else value


_BREAKDOWN_FIELDS = ("batch", "psi", "lam", "gamma", "A", "multiplications", "additions", "total")


# -- from torch's expressions to convops' --------------------------------------------------------
def _floor_div(a, b):
    return sp.floor(sp.expand(a / b))


_TORCH_FUNCTIONS = {
    torch_sympy.FloorDiv: _floor_div,
    torch_sympy.CeilDiv: lambda a, b: -_floor_div(-a, b),  # ceilings as floors: one function
    torch_sympy.IntTrueDiv: lambda a, b: a / b,  # exact: sympy's rationals
    torch_sympy.CeilToInt: lambda x: -sp.floor(sp.expand(-x)),
    torch_sympy.FloorToInt: lambda x: sp.floor(sp.expand(x)),
    torch_sympy.ToFloat: lambda x: x,
    torch_sympy.CleanDiv: lambda a, b: a / b,
    torch_sympy.PythonMod: sp.Mod,
    torch_sympy.Mod: sp.Mod,
    torch_sympy.Max: sp.Max,
    torch_sympy.Min: sp.Min,
    torch_sympy.Identity: lambda x: x,
}


class _Translator:
    """Rewrites torch's size expressions in the user's symbols and sympy's own functions."""

    def __init__(self, env: ShapeEnv, symbols: dict):
        self.env, self.symbols = env, symbols
        self.done: dict = {}  # guards and sizes share most of their subexpressions

    def __call__(self, value) -> sp.Expr:
        if isinstance(value, (int, bool)):
            return sp.Integer(value)
        node = getattr(value, "node", None)
        expr = self.env.simplify(node.expr if node is not None else value)
        return self.translate(expr)

    def translate(self, expr):
        done = self.done.get(expr)
        if done is None:
            done = self.done[expr] = self._translate(expr)
        return done

    def _translate(self, expr):
        if expr.is_Atom:
            if expr.is_Symbol:
                if expr not in self.symbols and str(expr).startswith("u"):  # unbacked
                    raise ConvopsError(f"a size that depends on a tensor's values ({expr}: "
                                       f"nonzero, a boolean mask, unique …). {META_LIMITS}")
                if expr not in self.symbols:
                    raise ConvopsError(f"size {expr} is not one of the symbolic sizes given")
                return self.symbols[expr]
            return expr
        args = [self.translate(arg) for arg in expr.args]
        function = type(expr)
        if function in _TORCH_FUNCTIONS:
            return _TORCH_FUNCTIONS[function](*args)
        if function.__module__.startswith("torch"):
            raise ConvopsError(f"torch's size function {function.__name__} has no sympy form "
                               "in convops")
        return expr.func(*args)


@lru_cache(maxsize=4096)
def readable(expr: sp.Basic) -> sp.Basic:
    """``expr`` with each floor's argument over one denominator, as torch writes sizes: for
    printing only (sympy would distribute the denominator again in any further arithmetic).

    Examples
    --------
    >>> H = sp.Symbol("H", integer=True, positive=True)
    >>> readable(sp.floor(H / 4 - sp.Rational(1, 4)) + 1)
    floor((H - 1)/4) + 1
    """
    return expr.replace(lambda e: isinstance(e, sp.floor),
                        lambda e: sp.floor(sp.together(e.args[0]), evaluate=False))


@lru_cache(maxsize=4096)
def merge_floors(expr: sp.Expr) -> sp.Expr:
    """Nested floors merged: ``floor((floor(x) + c) / b) = floor((x + c) / b)`` for an integer
    ``c`` and a positive integer ``b``, so output sizes read as torch writes them.

    Examples
    --------
    >>> H = sp.Symbol("H", integer=True, positive=True)
    >>> merge_floors(sp.floor((sp.floor((H - 3) / 2) + 1 - 3) / 3))
    floor(H/6 - 7/6)
    """

    def rule(term):
        argument = term.args[0]
        denominator = sp.ilcm(1, *(sp.fraction(t.as_coeff_Mul()[0])[1]
                                   for t in sp.Add.make_args(argument)))
        numerator = sp.expand(argument * denominator)
        inner = [t for t in sp.Add.make_args(numerator) if isinstance(t, sp.floor)]
        if len(inner) != 1 or not (numerator - inner[0]).is_integer:
            return term
        return sp.floor(sp.expand((inner[0].args[0] + numerator - inner[0]) / denominator))

    return expr.replace(lambda e: isinstance(e, sp.floor), rule)


def symbolic_counts(layer: Layer, shape_in: tuple) -> Breakdown:
    """convops' breakdown of ``layer`` on an input shape of sympy expressions.

    Examples
    --------
    >>> L = sp.Symbol("L", integer=True, positive=True)
    >>> counts = symbolic_counts(Layer.create("Conv1d", 2, 4, 3, stride=2), (1, 2, L))
    >>> counts.output_shape, counts.multiplications
    ((1, 4, floor(L/2 - 3/2) + 1), 24*floor(L/2 - 3/2) + 24)
    """
    d, (N, *size_in), parameters, steps = _formulas(layer.kind.name)
    batch, _, *sizes = shape_in
    values = dict(zip(parameters, _parameters(layer))) | {N: batch} | dict(zip(size_in, sizes))
    for symbol, definition in steps:
        values[symbol] = merge_floors(definition.xreplace(values))
    S = d.symbols
    counts = {q: _plain(getattr(d, q).xreplace(values)) for q in _QUANTITIES if q != "A"}
    shape_out = (batch, layer.out_channels, *(_plain(values[s]) for s in S.size_out))
    return Breakdown(kind=layer.kind.name, input_shape=tuple(shape_in), output_shape=shape_out,
                     batch=batch, A=_plain(values[S.A]) if layer.kind.transposed else None,
                     **counts)


def _plain(expr):
    return int(expr) if isinstance(expr, sp.Integer) else expr


# -- tracing ---------------------------------------------------------------------------------------
#: Operations whose kernels refuse symbolic sizes (e.g. padding computed from the input's size).
_DECOMPOSED = {torch.ops.aten.constant_pad_nd.default}
#: Operations whose meta functions broadcast to a symbolic size through a C++ kernel that takes
#: only ints (``expand``), unless torch's Python dispatcher runs them.
_PYTHON_DISPATCHED = {torch.ops.aten.addcmul.default, torch.ops.aten.addcdiv.default}


class _SymbolicCapture(Capture):
    """Also notes after which call each specialisation of a size appeared, and stops a trace
    that runs past its deadline."""

    def __init__(self, env: ShapeEnv, deadline: float, model_name: str):
        super().__init__()
        self.env, self.seen, self.specialized_at = env, 0, {}
        self.deadline, self.model_name = deadline, model_name

    def check_deadline(self) -> None:
        """Raise :class:`TraceTooSlow`, saying where the trace was, past the deadline."""
        if time.monotonic() <= self.deadline:
            return
        where = self.where(self.stack[-1]) if self.stack else "counting the convolutions"
        each = 1000 * TRACE_SECONDS / max(len(self.calls), 1)
        raise TraceTooSlow(
            f"the symbolic trace of {self.model_name} ran past {TRACE_SECONDS:g} s, in {where} "
            f"after {len(self.calls)} operations ({each:.0f} ms each, where a numeric profile "
            f"takes well under 1 ms): torch reasons about every size expression of every "
            f"operation against the {len(self.env.guards)} decisions it took on the symbolic "
            "sizes (guards), which is slow for long models and for sizes built of remainders "
            "and floors (window padding); profile at concrete sizes instead, or make fewer "
            "sizes symbolic")

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.check_deadline()
        if func in _DECOMPOSED:  # no kernel takes symbolic sizes: torch's decomposition does
            out = torch._decomp.decomposition_table[func](*args, **(kwargs or {}))
            self.calls.append(Call(func, self.stack[-1] if self.stack else None, args, kwargs, out))
        elif func in _PYTHON_DISPATCHED:
            with enable_python_dispatcher():
                out = super().__torch_dispatch__(func, types, args, kwargs)
        else:
            out = super().__torch_dispatch__(func, types, args, kwargs)
        if len(self.env.replacements) != self.seen:
            for symbol in self.env.replacements:
                self.specialized_at.setdefault(symbol, len(self.calls) - 1)
            self.seen = len(self.env.replacements)
        return out


def _symbol_names(value, names: dict) -> dict:
    """``{name: hint or None}`` of the symbolic sizes, in order: ``"H"``, or ``"H=224"`` with the
    size to trace at."""
    if isinstance(value, str):
        name, hint = _parse_size(value)
        if names.setdefault(name, hint) != hint and hint is not None:
            raise ConvopsError(f"size {value!r}: {name} is traced at {names[name]} elsewhere")
    elif isinstance(value, (tuple, list)):
        for v in value:
            _symbol_names(v, names)
    elif isinstance(value, dict):
        for v in value.values():
            _symbol_names(v, names)
    return names


def _parse_size(text: str) -> tuple[str, int | None]:
    name, equals, hint = text.partition("=")
    name = name.strip()
    if not name.isidentifier() or (equals and not hint.strip().isdigit()):
        raise ConvopsError(f"symbolic size {text!r} must be a name, e.g. 'H', or a name and the "
                           "size to trace at, e.g. 'H=224'")
    return name, int(hint) if equals else None


def symbolic_profile(model: torch.nn.Module, inputs: tuple, kw_inputs: dict, mode: str,
                     numeric: Callable[..., Profile]) -> SymbolicProfile:
    """:func:`convops.profile` where a shape holds a string: see the module's docstring.
    ``numeric(model, *inputs, mode=mode, **kw_inputs)`` is the numeric profile that answers
    where a re-trace fails (:func:`convops.profile`, which calls this).

    Examples
    --------
    >>> import torch, convops
    >>> model = torch.nn.Conv1d(2, 4, 3, padding=1)
    >>> symbolic_profile(model, (("N", 2, "L=50"),), {}, "eval", convops.profile).total
    48*L*N
    """
    first = trace(model, inputs, kw_inputs, mode)
    names = _symbol_names([v for v in map_inputs((inputs, kw_inputs), lambda v: v if not
                           isinstance(v, torch.Tensor) else ())], {})
    symbols = tuple(sp.Symbol(name, integer=True, positive=True) for name in names)
    return SymbolicProfile(model, first.input_shape, first.layers, first.inputs, mode, None,
                           first.modules, symbols=symbols, _regions=[first],
                           _recipe=(inputs, kw_inputs, _fingerprint(model), numeric))


#: How long a trace may run, in seconds: checked before each operation the model dispatches, and
#: after the run before each convolution is counted, each row's shapes are rewritten in the
#: user's sizes and each condition is, so a trace stops within one such step of it (milliseconds
#: to a few hundred).
TRACE_SECONDS = 30.0


class TraceTooSlow(ConvopsError):
    """A symbolic trace that ran past :data:`TRACE_SECONDS`."""


def trace(model: torch.nn.Module, inputs: tuple, kw_inputs: dict, mode: str = "eval") -> Region:
    """One symbolic trace of ``model``: the :class:`Region` of the sizes it runs at (each
    symbolic size at its hint, ``"H=224"``, or a large default).

    Examples
    --------
    >>> import torch
    >>> region = trace(torch.nn.Conv1d(2, 4, 1), (("N=2", 2, "L=1"),), {})
    >>> region.total, [str(s) for s in region.specializations]
    (16*N, ['L specialised to 1 at the start: torch fixes sizes 0 and 1'])
    """
    deadline = time.monotonic() + TRACE_SECONDS
    names = _symbol_names([v for v in map_inputs((inputs, kw_inputs), lambda v: v if not
                           isinstance(v, torch.Tensor) else ())], {})
    env = ShapeEnv(duck_shape=False)  # sizes with equal hints stay distinct symbols
    fake = FakeTensorMode(shape_env=env, allow_non_fake_inputs=True)
    fake.cache_enabled = False  # its entries, checked on symbolic sizes, cost more than a miss
    sizes, symbols, fixed, traced_at = {}, {}, [], []
    for i, (name, hint) in enumerate(names.items()):
        hint = FIRST_HINT + HINT_STEP * i if hint is None else hint
        traced_at.append((name, hint))
        if hint in (0, 1):  # torch's traces fix these sizes: a region of its own
            sizes[name] = hint
            fixed.append(Specialization(name, hint, "the start",
                                        "torch fixes sizes 0 and 1"))
            continue
        # from 1, not torch's 2: a trace that takes every size to be 2 or more would answer the
        # model's own `if x.shape[-1] == 1` without keeping the decision
        symbol = env.create_symbol(hint, _SizeSource(name), dynamic_dim=DimDynamic.DYNAMIC,
                                   do_not_specialize_zero_one=True)
        env.constrain_symbol_range(symbol, compiler_min=1, compiler_max=int_oo)
        sizes[name] = env.create_symintnode(symbol, hint=hint)
        symbols[symbol] = sp.Symbol(name, integer=True, positive=True)
    dtype = default_dtype(model) if isinstance(model, torch.nn.Module) else torch.float32

    def make_input(value):  # called inside the fake mode
        if isinstance(value, torch.Tensor):
            return _fake(fake, value)
        return torch.empty([sizes[_parse_size(v)[0]] if isinstance(v, str) else v
                            for v in value], dtype=dtype, device="meta")

    capture = _SymbolicCapture(env, deadline, type(model).__name__)
    try:
        with fake, _quiet(), _tracing():
            ran = run(model, inputs, kw_inputs, make_input, lambda tensor: _fake(fake, tensor),
                      capture, mode=mode)
    except TraceTooSlow:
        raise
    except ConvopsError as error:
        at = ", ".join(f"{name}={hint}" for name, hint in traced_at)
        raise ConvopsError(
            f"tracing at {at}: {error}. If the model takes only some sizes, give one to trace "
            "at, e.g. 'H=224' in the shape") from error.__cause__ or error
    calls, modules = ran.calls, ran.names
    translate = _Translator(env, symbols)
    hints = {user: int(hint) for symbol, user in symbols.items()
             for hint in [(getattr(env, "backed_var_to_val", None) or env.var_to_val)[symbol]]}

    def count(layer: Layer, shape_in, shape_out) -> Breakdown:
        capture.check_deadline()
        counts = symbolic_counts(layer, tuple(map(translate, shape_in)))
        theirs = tuple(map(translate, shape_out))
        ours_at, theirs_at = (tuple(sp.sympify(s).subs(hints) for s in shape)
                              for shape in (counts.output_shape, theirs))
        if ours_at != theirs_at:  # the derivation and torch must agree on every call
            raise RuntimeError(f"{layer}: convops computes output shape {counts.output_shape}, "
                               f"torch gives {theirs} (at {hints}: {ours_at} and {theirs_at})")
        return counts

    try:
        counted = rows(calls, modules, count)
    except ConvopsError as error:  # rows names the call; a trace past its deadline says more
        if isinstance(error.__cause__, TraceTooSlow):
            raise error.__cause__ from None
        raise
    layers = []
    for layer in counted:
        capture.check_deadline()
        layers.append(_translated(layer, translate))
    specializations = (*fixed, *_specializations(env, symbols, capture, calls, modules,
                                                 translate))
    guards = _guards(env, translate, capture.check_deadline)
    shown = map_inputs((inputs, kw_inputs), lambda v: v if isinstance(v, torch.Tensor) else
                        tuple(_parse_size(s)[0] if isinstance(s, str) else s for s in v))
    records = {path: dataclasses.replace(record, output_shape=None if record.output_shape is None
               else tuple(_plain(translate(v)) for v in record.output_shape))
               for path, record in ran.modules.items()}  # in the user's symbols, as the calls
    return Region(model, first_shape(shown), tuple(layers), describe(*shown), mode, None,
                  records, symbols=tuple(symbols.values()), guards=guards,
                  specializations=specializations, traced_at=tuple(traced_at))


@contextmanager
def _tracing():
    """Torch as the trace needs it: size-oblivious (:func:`_size_oblivious`), with three torch
    functions replaced for the trace's time by ones of the same value that take symbolic sizes
    or leave a question about strides open (:func:`_interpolate`, :func:`_contiguous`,
    :func:`_adaptive_avg_pool2d`)."""
    functional = torch.nn.functional
    with _size_oblivious(), _patched(functional, "interpolate", _interpolate), \
            _patched(torch.Tensor, "contiguous", _contiguous), \
            _patched(functional, "adaptive_avg_pool2d", _adaptive_avg_pool2d):
        yield


@contextmanager
def _patched(owner, name: str, replacement: Callable):
    """``owner.name`` is ``replacement(original)`` inside, as it was after."""
    own = owner.__dict__.get(name)  # none: inherited (TensorBase's methods)
    setattr(owner, name, replacement(getattr(owner, name)))
    try:
        yield
    finally:
        if own is None:
            delattr(owner, name)
        else:
            setattr(owner, name, own)


def _interpolate(original):
    """``F.interpolate`` under torch's Python dispatcher, whose decompositions take symbolic
    output sizes (its C++ kernels want ints): resizing to the input's size, or by a scale
    factor, stays a formula.  Only there: elsewhere the Python dispatcher slows a trace about
    threefold and renames operations (batch norm's) that the numeric profile lists."""
    def interpolate(*args, **kwargs):
        with enable_python_dispatcher():
            return original(*args, **kwargs)
    return interpolate


def _contiguous(_original):
    """``x.contiguous()`` that copies where torch cannot tell the tensor contiguous at every size.

    ``Tensor.contiguous`` asks torch's C++ whether the tensor is contiguous, a question decided
    at the trace's sizes and kept (a transposed tensor is contiguous where a size is 1): a guard
    about strides only.  The value is the tensor's either way, so a copy where the answer is open
    changes no size and no convolution that runs."""
    def contiguous(self, memory_format=torch.contiguous_format):
        if is_contiguous_for_memory_format_or_false(self, memory_format=memory_format):
            return self
        return self.clone(memory_format=memory_format)
    return contiguous


def _adaptive_avg_pool2d(original):
    """``F.adaptive_avg_pool2d`` to 1 × 1 as torch computes it, the mean over the last two
    dimensions, without the memory-format question its C++ asks of the input's strides."""
    def adaptive_avg_pool2d(input, output_size):
        size = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * 2
        if tuple(size) == (1, 1) and not input.is_quantized:
            return input.mean((-1, -2), keepdim=True)
        return original(input, output_size)
    return adaptive_avg_pool2d


@contextmanager
def _size_oblivious():
    """Trace with torch's size-oblivious reasoning on the symbolic sizes.

    Inside torch, a question about a size that has a general answer and a fast path for size 1
    (broadcasting ``a + b`` of equal sizes, contiguity, strides) is asked with ``guard_or_false``:
    by torch's contract, either path gives the same result, or the general path is taken with a
    check deferred to run time (``torch._check``), which :func:`_guards` keeps as a condition.
    By default torch still decides such a question at the trace's sizes and keeps the decision
    (``size ≠ 1``), so that a stage one pixel high would be outside the region though nothing
    that runs changes; size-oblivious, it keeps none of them.  A question the model asks in its
    own code (``if x.shape[-1] == 1``) is still a decision, kept."""
    with torch.fx.experimental._config.patch(backed_size_oblivious=True):
        yield


@contextmanager
def _quiet():
    """Keep torch's fake-tensor logger from printing a traceback of an error that becomes a
    :class:`ConvopsError` (it logs every failing operator at ERROR level)."""
    logger = logging.getLogger("torch._subclasses.fake_tensor")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _fake(fake: FakeTensorMode, tensor: torch.Tensor) -> torch.Tensor:
    """A fake meta tensor of ``tensor``'s shape and dtype, its sizes static."""
    meta = tensor if tensor.is_meta else torch.empty_like(tensor, device="meta")
    return fake.from_tensor(meta, static_shapes=True)


def _translated(layer: LayerProfile, translate) -> LayerProfile:
    """A row with its shapes in the user's symbols (the counted ones are already)."""
    if layer.breakdown is not None:
        return dataclasses.replace(layer, input_shape=layer.breakdown.input_shape,
                                   output_shape=layer.breakdown.output_shape)
    shapes = [None if s is None else tuple(_plain(translate(v)) for v in s)
              for s in (layer.input_shape, layer.output_shape)]
    return dataclasses.replace(layer, input_shape=shapes[0], output_shape=shapes[1])


def _specializations(env, symbols, capture, calls, modules, translate):
    found = []
    for symbol, user in symbols.items():
        value = env.replacements.get(symbol)
        if value is None:
            continue
        index = capture.specialized_at.get(symbol)
        where = "before the first operation"
        if index is not None:
            func, module = calls[index][:2]
            where = f"{modules.get(module, type(module).__name__)} ({func.overloadpacket})"
        why = str(getattr(env, "replacements_slocs", {}).get(symbol, "torch fixed the size"))
        value = translate(value)
        found.append(Specialization(str(user), int(value) if value.is_Integer else value, where,
                                    why))
    return tuple(found)


def _guards(env, translate, check_deadline: Callable[[], None] = lambda: None) -> tuple:
    """Where the trace holds, in the user's symbols, each condition once: the decisions torch
    took on the sizes (guards), and the checks it deferred to run time (``torch._check`` on the
    path it chose for a size it did not decide).  The sizes start in the range 1 to ∞, which
    torch narrows from these alone: the range adds no condition."""
    asserts = [a.expr for each in env.deferred_runtime_asserts.values() for a in each]
    found = {}
    for expr in (*(guard.expr for guard in env.guards), *asserts):
        check_deadline()
        # the sizes fixed since substituted; torch's simplify costs more
        parts = sp.And.make_args(translate.translate(env.replace(expr)))
        for condition in sorted(parts, key=sp.default_sort_key):  # an And's order is a set's
            if condition is not sp.true:
                found.setdefault(str(condition), condition)
    return tuple(found.values())
