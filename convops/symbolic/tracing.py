"""One symbolic trace of a model: fake tensors whose sizes are torch symbols (a ``ShapeEnv``, as
``torch.export`` uses, without compiling anything) run through the model once, each
convolution counted as formulas in the user's sizes, every decision torch took on the sizes kept
as a condition: a :class:`~convops.symbolic.regions.Region`."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Callable

import sympy as sp
import torch
import torch._decomp
from torch.utils._sympy.numbers import int_oo
from torch._dispatch.python import enable_python_dispatcher
from torch._guards import GuardSource, Source
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.fx.experimental.symbolic_shapes import DimDynamic, ShapeEnv

from ..capture import Call, Capture, run
from ..inputs import default_dtype, describe, first_shape, map_inputs
from ..count import Breakdown
from ..errors import ConvopsError
from ..layer import Layer
from ..profiling import LayerProfile, rows
from .counting import symbolic_counts
from .regions import Region, Specialization
from .sizes import parse_size, symbol_names
from .torch_setup import quiet, tracing
from .translation import Translator, plain

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


#: How long a trace may run, in seconds: checked before each operation the model dispatches, and
#: after the run before each convolution is counted, each row's shapes are rewritten in the
#: user's sizes and each condition is, so a trace stops within one such step of it (milliseconds
#: to a few hundred).
TRACE_SECONDS = 30.0


class TraceTooSlow(ConvopsError):
    """A symbolic trace that ran past :data:`TRACE_SECONDS`.

    Examples
    --------
    >>> from convops.symbolic.tracing import TraceTooSlow
    >>> import convops
    >>> issubclass(TraceTooSlow, convops.ConvopsError)
    True

    See Also
    --------
    TRACE_SECONDS : how long a trace may run.
    """


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


def trace(model: torch.nn.Module, inputs: tuple, kw_inputs: dict, mode: str = "eval") -> Region:
    """One symbolic trace of ``model``: the :class:`Region` of the sizes it runs at (each
    symbolic size at its hint, ``"H=224"``, or a large default).

    Examples
    --------
    >>> import torch
    >>> from convops.symbolic import trace
    >>> region = trace(torch.nn.Conv1d(2, 4, 1), (("N=2", 2, "L=1"),), {})
    >>> region.total, [str(s) for s in region.specializations]
    (16*N, ['L specialised to 1 at the start: torch fixes sizes 0 and 1'])

    See Also
    --------
    convops.symbolic.symbolic_profile : a profile of every region traced, tracing on request.
    """
    deadline = time.monotonic() + TRACE_SECONDS
    env = ShapeEnv(duck_shape=False)  # sizes with equal hints stay distinct symbols
    sizes, symbols, fixed, traced_at = _symbolic_sizes(env, symbol_names(inputs, kw_inputs))
    capture = _SymbolicCapture(env, deadline, type(model).__name__)
    ran = _run(model, inputs, kw_inputs, mode, sizes, capture, traced_at)
    translate = Translator(env, symbols)
    layers = _counted_rows(ran, env, symbols, translate, capture)
    specializations = (*fixed, *_specializations(env, symbols, capture, ran.calls, ran.names,
                                                 translate))
    guards = _guards(env, translate, capture.check_deadline)
    shown = map_inputs((inputs, kw_inputs), lambda v: v if isinstance(v, torch.Tensor) else
                        tuple(parse_size(s)[0] if isinstance(s, str) else s for s in v))
    records = {path: dataclasses.replace(record, output_shape=None if record.output_shape is None
               else tuple(plain(translate(v)) for v in record.output_shape))
               for path, record in ran.modules.items()}  # in the user's symbols, as the calls
    return Region(model, first_shape(shown), layers, describe(*shown), mode, None,
                  records, symbols=tuple(symbols.values()), guards=guards,
                  specializations=specializations, traced_at=tuple(traced_at))


def _symbolic_sizes(env: ShapeEnv, names: dict[str, int | None]):
    """``(sizes, symbols, fixed, traced_at)``: each name's size to trace with (a torch symbolic
    int, or the int 0 or 1 torch fixes), torch's symbols to the user's, the specialisations of
    sizes traced at 0 or 1, and the size each name is traced at."""
    sizes, symbols, fixed, traced_at = {}, {}, [], []
    for i, (name, hint) in enumerate(names.items()):
        hint = FIRST_HINT + HINT_STEP * i if hint is None else hint
        traced_at.append((name, hint))
        if hint in (0, 1):  # torch's traces fix these sizes: a region of its own
            sizes[name] = hint
            fixed.append(Specialization(name, hint, "the start", "torch fixes sizes 0 and 1"))
            continue
        # from 1, not torch's 2: a trace that takes every size to be 2 or more would answer the
        # model's own `if x.shape[-1] == 1` without keeping the decision
        symbol = env.create_symbol(hint, _SizeSource(name), dynamic_dim=DimDynamic.DYNAMIC,
                                   do_not_specialize_zero_one=True)
        env.constrain_symbol_range(symbol, compiler_min=1, compiler_max=int_oo)
        sizes[name] = env.create_symintnode(symbol, hint=hint)
        symbols[symbol] = sp.Symbol(name, integer=True, positive=True)
    return sizes, symbols, fixed, traced_at


def _run(model, inputs: tuple, kw_inputs: dict, mode: str, sizes: dict, capture: _SymbolicCapture,
         traced_at: list):
    """The model run once on fake tensors of the symbolic ``sizes``, captured."""
    fake = FakeTensorMode(shape_env=capture.env, allow_non_fake_inputs=True)
    fake.cache_enabled = False  # its entries, checked on symbolic sizes, cost more than a miss
    dtype = default_dtype(model) if isinstance(model, torch.nn.Module) else torch.float32

    def make_input(value):  # called inside the fake mode
        if isinstance(value, torch.Tensor):
            return _fake(fake, value)
        return torch.empty([sizes[parse_size(v)[0]] if isinstance(v, str) else v
                            for v in value], dtype=dtype, device="meta")

    try:
        with fake, quiet(), tracing():
            return run(model, inputs, kw_inputs, make_input, lambda tensor: _fake(fake, tensor),
                       capture, mode=mode)
    except TraceTooSlow:
        raise
    except ConvopsError as error:
        at = ", ".join(f"{name}={hint}" for name, hint in traced_at)
        raise ConvopsError(
            f"tracing at {at}: {error}. If the model takes only some sizes, give one to trace "
            "at, e.g. 'H=224' in the shape") from error.__cause__ or error


def _counted_rows(ran, env: ShapeEnv, symbols: dict, translate: Translator,
                  capture: _SymbolicCapture) -> tuple[LayerProfile, ...]:
    """The rows of the run, each convolution counted as formulas and checked against the output
    shape torch gave at the trace's sizes, the shapes in the user's symbols."""
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
        counted = rows(ran.calls, ran.names, count)
    except ConvopsError as error:  # rows names the call; a trace past its deadline says more
        if isinstance(error.__cause__, TraceTooSlow):
            raise error.__cause__ from None
        raise
    layers = []
    for layer in counted:
        capture.check_deadline()
        layers.append(_translated(layer, translate))
    return tuple(layers)


def _fake(fake: FakeTensorMode, tensor: torch.Tensor) -> torch.Tensor:
    """A fake meta tensor of ``tensor``'s shape and dtype, its sizes static."""
    meta = tensor if tensor.is_meta else torch.empty_like(tensor, device="meta")
    return fake.from_tensor(meta, static_shapes=True)


def _translated(layer: LayerProfile, translate) -> LayerProfile:
    """A row with its shapes in the user's symbols (the counted ones are already)."""
    if layer.breakdown is not None:
        return dataclasses.replace(layer, input_shape=layer.breakdown.input_shape,
                                   output_shape=layer.breakdown.output_shape)
    shapes = [None if s is None else tuple(plain(translate(v)) for v in s)
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
