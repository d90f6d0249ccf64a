"""A whole model's count as a formula in its input sizes.

``convops.profile(model, (1, 3, "H", "W"))`` runs the model once on fake tensors whose sizes are
torch symbols (a ``ShapeEnv``, as ``torch.export`` uses, without compiling anything): each
``aten.convolution`` then sees its input sizes as torch's sympy expressions of those symbols.  They
are rewritten in the user's names (``H``, ``W``, ``N`` …) and substituted into convops'
derivation with the call's parameters, so every call's counts, and the model's, are sympy
expressions.

The trace follows one path through the model: every decision torch makes on a size (a guard) is
kept, and the formulas hold where all of them do.  :meth:`SymbolicProfile.at` checks them; a
size that tracing had to fix to one value (a specialisation) is reported with the call that did it.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, Iterable

import sympy as sp
import torch
import torch._decomp
import torch.utils._sympy.functions as torch_sympy
from torch._guards import GuardSource, Source
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.fx.experimental.symbolic_shapes import DimDynamic, ShapeEnv

from ._compile import compile_int
from .count import Breakdown, _QUANTITIES, _formulas, _parameters
from .errors import ConvopsError
from .layer import Layer
from .capture import META_LIMITS, Call, Capture, default_dtype, describe, first_shape, map_inputs, run
from .profiling import LayerProfile, Profile, rows
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
class SymbolicProfile(Profile):
    """A :class:`Profile` whose counts and shapes are sympy expressions in ``symbols``.

    ``guards`` are the conditions on the sizes under which the trace holds; ``specializations``
    the sizes tracing fixed, and where.

    Examples
    --------
    >>> import torch, convops
    >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU())
    >>> p = convops.profile(model, (1, 3, "H", "W"))
    >>> p.multiplications
    216*(floor(H/2 - 3/2) + 1)*(floor(W/2 - 3/2) + 1)
    >>> p.evaluate(H=32, W=17), p.at(H=32, W=17).total
    ((25920, 25920, 51840), 51840)
    >>> text = p.latex("multiplications")  # the floors as torch writes them: of (H - 3) / 2
    >>> "lfloor" in text and "{H - 3}{2}" in text
    True
    """

    symbols: tuple[sp.Symbol, ...] = ()
    guards: tuple[sp.Basic, ...] = ()
    specializations: tuple[Specialization, ...] = ()

    def summary(self) -> str:
        """One sentence: the calls, the total as a formula, and the sizes it is written in."""
        names = ", ".join(map(str, self.symbols))
        text = (f"{self.model_name} on input {self.inputs} ({self.ran}): {len(self.counted)} "
                "convolution calls, "
                f"counted as formulas in {names}")
        if self.specializations:
            text += "; " + "; ".join(map(str, self.specializations))
        return text

    def latex(self, quantity: str = "total", module: str | None = None) -> str:
        """LaTeX of :meth:`formula` (``total``, ``multiplications`` or ``additions`` of the model
        or of ``module``), to cite; ``guards``: the conditions of the trace, separated by
        commas.  Floors read ``floor((H - 1) / 2)``."""
        if quantity == "guards":
            return r",\quad ".join(condition_latex(readable(guard)) for guard in self.guards)
        return super().latex(quantity, module)

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
        return compile_int(self.symbols, list(expressions) or [sp.S.Zero]), slots

    @cached_property
    def _quantities(self):
        return compile_int(self.symbols, [self.multiplications, self.additions, self.total])

    @cached_property
    def _check_guards(self):
        return compile_int(self.symbols, list(self.guards)) if self.guards else None

    def holds(self, **sizes: int) -> bool:
        """Whether every condition the trace took (:attr:`guards`) holds at ``sizes``."""
        if self._check_guards is None:
            return True
        held = self._check_guards(*(sizes[str(s)] for s in self.symbols))
        return all(held) if isinstance(held, (list, tuple)) else bool(held)

    def _sizes(self, sizes: dict) -> list[int]:
        names = {str(s) for s in self.symbols}
        unknown = set(sizes) - names - {s.size for s in self.specializations}
        missing = names - set(sizes)
        if unknown or missing:
            raise ConvopsError(f"sizes {sorted(sizes)}: give exactly {', '.join(sorted(names))}")
        for special in self.specializations:
            value = sizes.get(special.size, special.value)
            if isinstance(special.value, int) and value != special.value:
                raise ConvopsError(f"{special.size}={value}: {special}; the formulas hold only "
                                   f"for {special.size}={special.value}")
        values = [sizes[str(s)] for s in self.symbols]
        if not all(type(v) is int and v > 0 for v in values):
            raise ConvopsError(f"sizes {sizes} must be positive ints")
        if not self.holds(**sizes):
            held = self._check_guards(*values)
            held = held if isinstance(held, (list, tuple)) else [held]
            broken = next(g for g, ok in zip(self.guards, held) if not ok)
            raise ConvopsError(f"sizes {sizes} break {condition_text(readable(broken))}, a "
                               "condition the trace took: profile the model at these sizes instead")
        return values

    def evaluate(self, **sizes: int) -> tuple[int, int, int]:
        """``(multiplications, additions, total)`` at ``sizes``, exact ints, fast: one compiled
        function of the sizes.  Refuses sizes that break a condition the trace took."""
        return tuple(self._quantities(*self._sizes(sizes)))

    def at(self, **sizes: int) -> Profile:
        """The numeric profile at ``sizes`` (e.g. ``at(H=224, W=224)``): every count an exact int.

        Refuses sizes that break a condition the trace took (see :attr:`guards`)."""
        function, slots = self._table
        computed = function(*self._sizes(sizes))
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
        inputs = re.sub(r"\b(" + "|".join(map(re.escape, sizes)) + r")\b",
                        lambda match: str(sizes[match.group(1)]), self.inputs)
        shape = None if self.input_shape is None else tuple(
            sizes[v] if isinstance(v, str) else v for v in self.input_shape)
        at_sizes = {symbol: sizes[str(symbol)] for symbol in self.symbols}
        modules = {path: dataclasses.replace(record, output_shape=None if record.output_shape is None
                   else tuple(int(sp.sympify(v).subs(at_sizes)) for v in record.output_shape))
                   for path, record in self.modules.items()}
        return Profile(self.model, shape, tuple(layers), inputs, self.mode, self.device, modules)

    def plot(self, along: str, values: Iterable[int], quantity: str = "total", ax: Any = None,
             **fixed: int | str) -> Any:
        """``quantity`` (``total``, ``multiplications`` or ``additions``) against the size
        ``along`` over ``values``, exact at each; the other sizes are ints or the name of a size
        they equal (``plot("H", range(64, 1025, 32), W="H")``).  Draws on ``ax`` (default: a new
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

    def __call__(self, value) -> sp.Expr:
        if isinstance(value, (int, bool)):
            return sp.Integer(value)
        node = getattr(value, "node", None)
        expr = self.env.simplify(node.expr if node is not None else value)
        return self.translate(expr)

    def translate(self, expr):
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


class _SymbolicCapture(Capture):
    """Also notes after which call each specialisation of a size appeared."""

    def __init__(self, env: ShapeEnv):
        super().__init__()
        self.env, self.seen, self.specialized_at = env, 0, {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in _DECOMPOSED:  # no kernel takes symbolic sizes: torch's decomposition does
            out = torch._decomp.decomposition_table[func](*args, **(kwargs or {}))
            self.calls.append(Call(func, self.stack[-1] if self.stack else None, args, kwargs, out))
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


def symbolic_profile(model: torch.nn.Module, inputs: tuple, kw_inputs: dict,
                     mode: str = "eval") -> SymbolicProfile:
    """:func:`convops.profile` where a shape holds a string: see the module's docstring.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Conv1d(2, 4, 3, padding=1)
    >>> symbolic_profile(model, (("N", 2, "L=50"),), {}).total
    48*L*N
    """
    names = _symbol_names([v for v in map_inputs((inputs, kw_inputs), lambda v: v if not
                           isinstance(v, torch.Tensor) else ())], {})
    env = ShapeEnv(duck_shape=False)  # sizes with equal hints stay distinct symbols
    fake = FakeTensorMode(shape_env=env, allow_non_fake_inputs=True)
    sizes, symbols = {}, {}
    for i, (name, hint) in enumerate(names.items()):
        hint = hint or FIRST_HINT + HINT_STEP * i
        symbol = env.create_symbol(hint, _SizeSource(name), dynamic_dim=DimDynamic.DYNAMIC)
        sizes[name] = env.create_symintnode(symbol, hint=hint)
        symbols[symbol] = sp.Symbol(name, integer=True, positive=True)
    dtype = default_dtype(model) if isinstance(model, torch.nn.Module) else torch.float32

    def make_input(value):  # called inside the fake mode
        if isinstance(value, torch.Tensor):
            return _fake(fake, value)
        return torch.empty([sizes[_parse_size(v)[0]] if isinstance(v, str) else v
                            for v in value], dtype=dtype, device="meta")


    capture = _SymbolicCapture(env)
    try:
        with fake, _quiet():
            trace = run(model, inputs, kw_inputs, make_input, lambda tensor: _fake(fake, tensor),
                        capture, mode=mode)
    except ConvopsError as error:
        at = ", ".join(f"{name}={int(size)}" for name, size in sizes.items())
        raise ConvopsError(
            f"tracing at {at}: {error}. If the model takes only some sizes, give one to trace "
            "at, e.g. 'H=224' in the shape") from error.__cause__ or error
    calls, modules = trace.calls, trace.names
    translate = _Translator(env, symbols)
    hints = {user: int(hint) for symbol, user in symbols.items()
             for hint in [(getattr(env, "backed_var_to_val", None) or env.var_to_val)[symbol]]}

    def count(layer: Layer, shape_in, shape_out) -> Breakdown:
        counts = symbolic_counts(layer, tuple(map(translate, shape_in)))
        theirs = tuple(map(translate, shape_out))
        ours_at, theirs_at = (tuple(sp.sympify(s).subs(hints) for s in shape)
                              for shape in (counts.output_shape, theirs))
        if ours_at != theirs_at:  # the derivation and torch must agree on every call
            raise RuntimeError(f"{layer}: convops computes output shape {counts.output_shape}, "
                               f"torch gives {theirs} (at {hints}: {ours_at} and {theirs_at})")
        return counts

    layers = [_translated(layer, translate) for layer in rows(calls, modules, count)]
    specializations = _specializations(env, symbols, capture, calls, modules, translate)
    guards = _guards(env, translate)
    shown = map_inputs((inputs, kw_inputs), lambda v: v if isinstance(v, torch.Tensor) else
                        tuple(_parse_size(s)[0] if isinstance(s, str) else s for s in v))
    modules = {path: dataclasses.replace(record, output_shape=None if record.output_shape is None
               else tuple(_plain(translate(v)) for v in record.output_shape))
               for path, record in trace.modules.items()}  # in the user's symbols, as the calls
    return SymbolicProfile(model, first_shape(shown), tuple(layers), describe(*shown), mode,
                           None, modules, tuple(symbols.values()), guards, specializations)


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


def _guards(env, translate) -> tuple:
    """The conditions torch took on the sizes, in the user's symbols, each once."""
    found = {}
    for guard in env.guards:
        condition = translate(env.simplify(guard.expr))
        if condition is not sp.true:
            found.setdefault(str(condition), condition)
    return tuple(found.values())
