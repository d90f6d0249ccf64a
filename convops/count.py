"""Exact operation counts for a concrete layer and input shape, evaluated from the derivation.

The sympy expressions of :mod:`convops.derivation` are compiled once per kind into integer code
(:mod:`convops.compiler`), so a count is the formula itself, evaluated without floats.

:func:`count_ops` keeps, for every layer it has seen, a *counter*: the total with everything
that depends on the layer alone already computed, so that a call costs a few arithmetic
operations on the input sizes (the layer is still read anew in every call).  :func:`breakdown`
evaluates every quantity from the full expressions, and is what reports every refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any, Sequence

import sympy as sp

from .compiler import assignments, code, compile_int, define, stage
from .additions import beyond_saturation
from .algorithms import AlgorithmBreakdown, algorithm_breakdown
from .backward import GRADIENTS
from .derivation import derive
from .errors import ConvopsError, flag
from .layer import (_GLOBAL_HOOKS, Layer, check, check_input, check_output, check_padding_mode,
                    own_code, sizes,
                    smallest_input)

QUANTITIES = ("psi", "lam", "gamma", "multiplications", "additions", "total", "A")


@lru_cache(maxsize=None)
def formulas(name: str):
    """The derivation of kind ``name`` in the arguments its compiled functions take.

    Returns ``(derivation, variables, parameters, steps)``: the variables are ``(N, *size_in)``;
    the parameters ``(C_in, C_out, g, b, *k, *s, *d, *padding, *q)``, where for a convolution
    ``padding`` is each dimension's total padding ``2p`` (torch may pad unevenly); the steps are
    ``(symbol, definition)`` pairs of the output sizes and, for a transposed kind, of ``A``.
    """
    d = derive(name)
    S = d.symbols
    sizes, padding = d.output_size, S.p
    if not d.kind.transposed:
        padding = sp.symbols(f"padding_total:{S.ndim}", integer=True, nonnegative=True)
        sizes = [size.subs(p, total / 2) for size, p, total in zip(sizes, S.p, padding)]
    parameters = (S.C_in, S.C_out, S.g, S.b, *S.k, *S.s, *S.d, *padding, *S.q)
    steps = list(zip(S.size_out, sizes))
    if d.kind.transposed:
        steps += [*d.A_terms.items(), (S.A, d.A)]
    return d, (S.N, *S.size_in), parameters, steps


@lru_cache(maxsize=None)
def quantity_formulas(name: str):
    """``(arguments, outputs, intermediates)`` of :func:`_quantities`, as :func:`compile_int`
    takes them (the site's calculator prints the same three as JavaScript)."""
    d, variables, parameters, steps = formulas(name)
    values = [getattr(d, q) if q != "A" else (d.symbols.A if d.kind.transposed else sp.S.Zero)
              for q in QUANTITIES]
    return (*variables, *parameters), (*values, *d.symbols.size_out), steps


@lru_cache(maxsize=None)
def _quantities(name: str):
    """``quantities(N, *size_in, *parameters)`` (see :func:`formulas`): the
    :data:`QUANTITIES` of kind ``name``, followed by the output sizes."""
    return compile_int(*quantity_formulas(name))


@lru_cache(maxsize=None)
def _counter_factory(name: str):
    """``make(*parameters, *smallest)``: a layer's counter, a function of the input shape alone.

    Everything that depends on the layer only is computed in ``make``, once; the counter parses
    the shape, computes the rest of the total and returns it, or returns ``None`` wherever torch
    might refuse the shape (the caller then lets :mod:`convops.layer` say why).
    """
    d, (N, *size_in), parameters, steps = formulas(name)
    S, n = d.symbols, d.symbols.ndim
    staged = stage(parameters, [d.total], [(symbol, _affine_lane(definition, size_in))
                                           for symbol, definition in steps])
    sizes_out = [pair for pair in staged.each if pair[0] in S.size_out]
    rest = [pair for pair in staged.each if pair[0] not in S.size_out]
    smallest = [f"smallest{i}" for i in range(n)]
    sizes = ", ".join(map(str, size_in))
    every_int = " is ".join(f"type({v})" for v in (N, "channels", *size_in))
    lines = [
        f"def make({', '.join(map(str, parameters))}, {', '.join(smallest)}):",
        *assignments(staged.once, "    "),
        "    def count(shape):",
        f"        if len(shape) == {n + 2}:",
        f"            {N}, channels, {sizes} = shape",
        f"        elif len(shape) == {n + 1}:",
        f"            channels, {sizes} = shape",
        f"            {N} = 1",
        "        else:",
        "            return None",
        f"        if not ({every_int} is int) or channels != {S.C_in} or {N} < 0 or "
        + " or ".join(f"{v} < {m}" for v, m in zip(size_in, smallest)) + ":",
        "            return None",
        *assignments(sizes_out, "        "),
        f"        if {' or '.join(f'{v} < 1' for v in S.size_out)}:",
        "            return None",
        *assignments(rest, "        "),
        f"        return {code(staged.outputs[0])}",
        "    return count",
    ]
    return define("\n".join(lines) + "\n", "make")


def _affine_lane(definition, size_in):
    """``definition`` with a lane for input sizes where it is affine in its one input size, if any:
    the per-dimension counts of ``A`` beyond :func:`~convops.additions.beyond_saturation`."""
    (L, *others) = definition.free_symbols & set(size_in) or (None,)
    threshold, form = beyond_saturation(definition, L) if L and not others else (None, definition)
    if form == definition:
        return definition
    return sp.Piecewise((form, L >= threshold), (definition, True))


def layer_parameters(layer: Layer) -> tuple[int, ...]:
    """The layer's values of the parameters of :func:`formulas`."""
    if layer.kind.transposed:
        padding = layer.padding
    else:  # padding_per_side does not depend on the input size for torch's padding options
        padding = [before + after for before, after in layer.padding_per_side(layer.kernel_size)]
    return (layer.in_channels, layer.out_channels, layer.groups, int(layer.bias),
            *layer.kernel_size, *layer.stride, *layer.dilation, *padding, *layer.output_padding)


def _remember(cache: dict, key, value):
    if len(cache) > 4096:
        cache.clear()
    try:
        cache[key] = value
    except TypeError:  # unhashable: not remembered
        pass
    return value


_PLANS: dict[Layer, tuple] = {}


def _plan(layer: Layer) -> tuple:
    """The compiled quantities of ``layer``'s kind and its parameters, checked once."""
    try:
        return _PLANS[layer]
    except (KeyError, TypeError):  # new, or holding an unhashable value that check() refuses
        pass
    check(layer)
    return _remember(_PLANS, layer, (_quantities(layer.kind.name), layer_parameters(layer)))


def _evaluate(module: Any, input_shape: Sequence[int]) -> tuple[Layer, tuple[int, ...], int]:
    """The layer, the values of its compiled quantities, and the batch size."""
    layer = module if isinstance(module, Layer) else Layer.from_module(module, validate=False)
    quantities, parameters = _plan(layer)
    batch, size_in = check_input(layer, input_shape)
    values = quantities(batch, *size_in, *parameters)
    size_out = values[-layer.kind.ndim:]
    if min(size_out) < 1 or layer.padding_mode != "zeros":  # torch's checks on sizes
        # torch gives an empty tensor for an empty batch through a transposed layer whose
        # output is empty; a convolution's output that small it refuses at any batch size.
        if not (layer.kind.transposed and batch == 0 and min(size_out) == 0):
            check_output(layer, input_shape, size_out)
        check_padding_mode(layer, size_in)
    return layer, values, batch


# The attributes of a torch module that define its layer, read straight from its __dict__
# (torch's Module.__getattr__ is slow); with its type, whether it has a bias and its weight's shape
# they key its counter.
_ATTRIBUTES = itemgetter("in_channels", "out_channels", "kernel_size", "stride", "padding",
                         "dilation", "groups", "padding_mode", "output_padding")
_COUNTERS: dict[tuple, object] = {}


def _counter(module, key):
    """The counter of a module or :class:`Layer` (see :func:`_counter_factory`), remembered by
    ``key``; for a module that runs code of its own, its count of what runs, never remembered."""
    if not isinstance(module, Layer) and own_code(module):
        return lambda input_shape: breakdown(module, input_shape).total
    if isinstance(module, Layer):
        layer = module
        check(layer)
    else:
        layer = Layer.from_module(module)
    count = _counter_factory(layer.kind.name)(*layer_parameters(layer), *smallest_input(layer))
    return _remember(_COUNTERS, key, count)


def _forget() -> None:
    """Forget every layer seen so far (for benchmarks of a first count)."""
    _PLANS.clear()
    _COUNTERS.clear()


def count_ops(module: Any, input_shape: Sequence[int], backward: bool = False,
              gradients: Sequence[str] | None = None, algorithm: str = "direct",
              tile: Any = None) -> int:
    """Exact number of scalar multiplications and additions of ``module`` on an input of ``input_shape``.

    ``module`` is a torch ``Conv1d/2d/3d`` or ``ConvTranspose1d/2d/3d`` (or a :class:`Layer`);
    ``input_shape`` is batched ``(N, C_in, *spatial)`` or unbatched ``(C_in, *spatial)``.
    Raises :class:`~convops.errors.ConvopsError` for any layer or input torch would refuse.

    ``backward=True`` counts the backward pass instead (:mod:`convops.backward`): the
    operations of the ``gradients`` named, by default all of ``("input", "weight", "bias")``
    (a first layer, whose input needs no gradient, leaves out ``"input"``).

    It counts what the module's call runs, as :func:`convops.profile` does: a plain torch
    module without hooks (its own or global), parametrizations or a complex weight is counted
    from its attributes; any other (a ``forward`` or ``_conv_forward`` of its own, a hook, a
    parametrization, a fused or QAT module: :func:`~convops.layer.own_code`) runs once on meta
    tensors and its one convolution is counted, or it is refused where it runs more than one.

    The first count of a layer checks its parameters and computes every term that depends on
    them alone; a later count reads the module anew and, if it is unchanged, only evaluates
    what depends on the input shape.

    Examples
    --------
    >>> import torch
    >>> count_ops(torch.nn.Conv2d(3, 64, 7, stride=2, padding=3), (1, 3, 224, 224))
    236027904
    >>> count_ops(torch.nn.ConvTranspose1d(1, 1, 3, stride=2), (1, 1, 4))
    24
    >>> conv = torch.nn.Conv1d(2, 4, kernel_size=3)
    >>> count_ops(conv, (1, 2, 10)), count_ops(conv, (1, 2, 10), backward=True, gradients=("weight", "bias"))
    (384, 388)

    ``algorithm`` other than ``"direct"`` counts what a fast library runs instead
    (:mod:`convops.algorithms`: ``"im2col"``, ``"winograd"``, ``"fft"``, ``"fft_gauss"``, with its
    ``tile``); see :func:`breakdown`.

    >>> count_ops(torch.nn.Conv2d(3, 8, 3), (1, 3, 10, 10), algorithm="winograd", tile=4)
    21240
    """
    if backward is not False or gradients is not None or algorithm != "direct" or tile is not None:
        return breakdown(module, input_shape, backward, gradients, algorithm, tile).total
    try:
        attributes = module.__dict__
        parameters = attributes["_parameters"]
        # torch's global hook dicts, looked up by global_hooks() (the first count of any module
        # calls it, through own_code; until then the IndexError takes the path below)
        if (attributes["_forward_pre_hooks"] or attributes["_forward_hooks"] or _GLOBAL_HOOKS[0]
                or _GLOBAL_HOOKS[1] or "forward" in attributes or "_conv_forward" in attributes):
            raise KeyError("may run code of its own")  # never remembered by its attributes
        bias, weight = parameters["bias"], parameters["weight"]
        key = _ATTRIBUTES(attributes) + (type(module), bias is not None and bias.shape,
                                         weight.shape, weight.dtype)
    except (AttributeError, KeyError, TypeError, RuntimeError, IndexError):  # a Layer, a lazy module, not a convolution
        if not isinstance(module, Layer):  # hooks may change what runs: read it anew every time
            return breakdown(module, input_shape).total
        key = module
    try:
        count = _COUNTERS[key]
    except (KeyError, TypeError):  # not seen yet (or unhashable)
        count = _counter(module, key)
    try:
        total = count(input_shape)
    except TypeError:  # not a sequence
        total = None
    if total is None:  # a shape torch may refuse, or an empty output: the checks decide
        layer, values, batch = _evaluate(module, input_shape)
        total = values[QUANTITIES.index("total")]
    return total


@dataclass(frozen=True)
class Breakdown:
    """The terms of the count for one layer and input shape (all exact ints)."""

    kind: str  #: the module's class name, e.g. ``"Conv2d"``
    input_shape: tuple[int, ...]  #: the input shape counted, batched or not
    output_shape: tuple[int, ...]  #: the output shape torch produces for it
    batch: int  #: N, the batch size (1 for an unbatched input)
    psi: int  #: filters
    lam: int  #: operations per filter
    gamma: int  #: aggregation and bias additions (per sample)
    A: int | None  #: additions per filter of a transposed convolution; None for a convolution
    multiplications: int  #: every multiplication of the layer over the batch
    additions: int  #: every addition of the layer over the batch, bias included
    total: int  #: multiplications + additions = N (psi lam + gamma)

    @property
    def macs(self) -> int:
        """Multiply-accumulates, the convention of many counters: one per multiplication."""
        return self.multiplications

    @property
    def flops(self) -> int:
        """FLOPs as ``FlopCounterMode`` counts a convolution: two per multiply-accumulate, the
        bias left out."""
        return 2 * self.multiplications



def breakdown(module: Any, input_shape: Sequence[int], backward: bool = False,
              gradients: Sequence[str] | None = None, algorithm: str = "direct",
              tile: Any = None) -> Breakdown | BackwardBreakdown | AlgorithmBreakdown:
    """ψ, λ, γ, multiplications, additions and the total of ``module`` on ``input_shape``.

    Accepts what :func:`count_ops` accepts and refuses what it refuses.  ``backward=True``
    gives the :class:`BackwardBreakdown` of the ``gradients`` named instead (see
    :func:`count_ops`).

    Examples
    --------
    >>> import torch
    >>> b = breakdown(torch.nn.ConvTranspose1d(1, 1, 3, stride=2), (1, 1, 4))
    >>> b.output_shape, b.psi, b.lam, b.gamma, b.A
    ((1, 1, 9), 1, 15, 9, 3)
    >>> b.multiplications, b.additions, b.total, b.flops
    (12, 12, 24, 24)
    >>> b = breakdown(torch.nn.Conv1d(2, 4, 3), (1, 2, 10), backward=True)
    >>> b.grad_input, b.grad_bias
    (GradientCount(multiplications=192, additions=172), GradientCount(multiplications=0, additions=28))
    >>> b.flops  # FlopCounterMode's convention: 2 per multiplication
    768

    ``algorithm="im2col"``, ``"winograd"``, ``"fft"`` or ``"fft_gauss"`` (with ``tile``: m for
    Winograd, the FFT size for FFT) gives the :class:`~convops.algorithms.AlgorithmBreakdown` of
    that algorithm, stage by stage (:mod:`convops.algorithms`); the backward pass is counted for
    ``"direct"`` only.

    >>> b = breakdown(torch.nn.Conv2d(3, 8, 3), (1, 3, 10, 10), algorithm="im2col")
    >>> b.parts["gemm"], b.workspace
    (Operations(multiplications=13824, additions=13312), 1728)
    """
    flag("backward", backward)
    if not isinstance(module, Layer) and own_code(module):
        module, input_shape = _what_runs(module, input_shape)
    if algorithm != "direct" or tile is not None:
        return _algorithm_breakdown(module, input_shape, backward or gradients is not None,
                                    algorithm, tile)
    if backward or gradients is not None:
        return _backward_breakdown(module, input_shape, backward, gradients)
    layer, values, batch = _evaluate(module, input_shape)
    size_out = values[-layer.kind.ndim:]
    named = dict(zip(QUANTITIES, values))
    if not layer.kind.transposed:
        named["A"] = None
    shape = sizes(input_shape)
    out_shape = shape[:-layer.kind.ndim - 1] + (layer.out_channels, *size_out)
    return Breakdown(kind=layer.kind.name, input_shape=shape, output_shape=out_shape, batch=batch,
                     **named)


def _algorithm_breakdown(module, input_shape, backward: bool, algorithm, tile) -> AlgorithmBreakdown:
    layer = module if isinstance(module, Layer) else Layer.from_module(module)
    direct = breakdown(layer, input_shape)  # the layer's and the input's refusals first
    if algorithm == "direct":
        raise ConvopsError(f"tile={tile!r}: the direct algorithm has no tile; leave it out")
    if backward:
        raise ConvopsError(f"backward=True counts the direct algorithm only, not algorithm="
                           f"{algorithm!r}: leave algorithm out (or pass 'direct')")
    return algorithm_breakdown(layer, input_shape, algorithm, tile, direct)


def _what_runs(module: Any, input_shape: Sequence[int]) -> tuple[Layer, tuple[int, ...]]:
    """The one convolution ``module`` runs on an input of ``input_shape`` (run once on meta
    tensors under the capture), and its input's shape."""
    from .capture import convolution_run  # loads torch's dispatch machinery, when first needed

    return convolution_run(module, input_shape, own_code(module))


# -- backward -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class GradientCount:
    """The operations of one gradient (exact ints)."""

    multiplications: int
    additions: int

    @property
    def total(self) -> int:
        """Multiplications plus additions."""
        return self.multiplications + self.additions


@dataclass(frozen=True)
class BackwardBreakdown:
    """The operations of the backward pass of one layer and input shape, per gradient.

    A gradient left out of ``gradients`` is ``None``.  ``fold`` is the part of
    ``grad_input.additions`` that folds padded positions back (``padding_mode`` other than
    ``'zeros'``).
    """

    kind: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    batch: int
    gradients: tuple[str, ...]
    grad_input: GradientCount | None
    grad_weight: GradientCount | None
    grad_bias: GradientCount | None
    fold: int

    def _computed(self) -> list[GradientCount]:
        return [getattr(self, f"grad_{g}") for g in self.gradients]

    @property
    def multiplications(self) -> int:
        """Multiplications of the gradients computed."""
        return sum(g.multiplications for g in self._computed())

    @property
    def additions(self) -> int:
        """Additions of the gradients computed."""
        return sum(g.additions for g in self._computed())

    @property
    def total(self) -> int:
        """Every operation of the gradients computed."""
        return self.multiplications + self.additions

    @property
    def flops(self) -> int:
        """FlopCounterMode's convention: 2 FLOPs per multiplication, additions ignored."""
        return 2 * self.multiplications


def _gradients(backward: bool, gradients) -> tuple[str, ...]:
    """The gradients asked for, in torch's order; ``ConvopsError`` names a bad request."""
    if not backward:
        raise ConvopsError(f"gradients={gradients!r} applies to the backward pass: "
                           "pass backward=True")
    if gradients is None:
        return GRADIENTS
    names = (gradients,) if isinstance(gradients, str) else gradients
    try:
        names = set(names)
    except TypeError:
        names = {gradients}
    unknown = names - set(GRADIENTS)
    if unknown:
        raise ConvopsError(f"gradients={gradients!r}: {', '.join(map(repr, sorted(unknown, key=str)))}"
                           f" is not a gradient; choose among {', '.join(GRADIENTS)}")
    return tuple(g for g in GRADIENTS if g in names)


@lru_cache(maxsize=None)
def _backward_quantities(name: str):
    """``quantities(N, *size_in, *parameters)``: multiplications and additions of ``grad_input``,
    ``grad_weight`` and ``grad_bias``.  The parameters are those of :func:`formulas`, except
    that a convolution takes, in place of ``output_padding``, each dimension's padding before
    the input (the start the transposed convolution computing ``grad_input`` crops)."""
    return compile_int(*backward_formulas(name))


@lru_cache(maxsize=None)
def backward_formulas(name: str):
    """``(arguments, outputs, intermediates)`` of :func:`_backward_quantities`."""
    d, variables, parameters, steps = formulas(name)
    S, backward = d.symbols, d.backward
    if not d.kind.transposed:
        parameters = (*parameters[:-S.ndim], *S.p)
    sizes = [pair for pair in steps if pair[0] in S.size_out]
    values = [getattr(backward.gradient(g), quantity)
              for g in GRADIENTS for quantity in ("multiplications", "additions")]
    return (*variables, *parameters), values, sizes + list(backward.terms.items())


@lru_cache(maxsize=None)
def _fold(name: str):
    """``fold(N, *size_in, C_in, *padding_total)``: :attr:`~convops.backward.BackwardDerivation.fold`."""
    return compile_int(*fold_formula(name))


@lru_cache(maxsize=None)
def fold_formula(name: str):
    """``(arguments, fold)`` of :func:`_fold`."""
    d = derive(name)
    S = d.symbols
    totals = sp.symbols(f"padding_total:{S.ndim}", integer=True, nonnegative=True)
    fold = d.backward.fold.subs({p: total / 2 for p, total in zip(S.p, totals)})
    return (S.N, *S.size_in, S.C_in, *totals), fold


def _backward_breakdown(module, input_shape, backward, gradients) -> BackwardBreakdown:
    chosen = _gradients(backward, gradients)
    layer, values, batch = _evaluate(module, input_shape)  # every check of the forward
    n = layer.kind.ndim
    size_in = check_input(layer, input_shape)[1]
    size_out = values[-n:]
    parameters, fold = layer_parameters(layer), 0
    if not layer.kind.transposed:
        pads = layer.padding_per_side(size_in)
        if layer.padding_mode != "zeros":  # the unpadded convolution of the padded input
            totals = [before + after for before, after in pads]
            fold = _fold(layer.kind.name)(batch, *size_in, layer.in_channels, *totals)
            size_in = [L + total for L, total in zip(size_in, totals)]
            pads = [(0, 0)] * n
        parameters = (*parameters[:4 + 3 * n], *(before + after for before, after in pads),
                      *(before for before, _ in pads))
    counts = [0] * 6
    if batch:  # the formulas hold for N >= 1; an empty batch computes no gradient
        counts = list(_backward_quantities(layer.kind.name)(batch, *size_in, *parameters))
        counts[1] += fold  # grad_input's additions
    named = {g: GradientCount(*counts[2 * i:2 * i + 2]) for i, g in enumerate(GRADIENTS)}
    shape = sizes(input_shape)
    return BackwardBreakdown(
        kind=layer.kind.name, input_shape=shape,
        output_shape=shape[:-n - 1] + (layer.out_channels, *size_out), batch=batch,
        gradients=chosen, fold=fold if "input" in chosen else 0,
        **{f"grad_{g}": named[g] if g in chosen else None for g in GRADIENTS})
