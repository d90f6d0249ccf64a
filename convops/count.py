"""Exact operation counts for a concrete layer and input shape, evaluated from the derivation.

The sympy expressions of :mod:`convops.derivation` are compiled once per kind into integer code
(:mod:`convops.plans`, :mod:`convops.compiler`), so a count is the formula itself, evaluated
without floats.

:func:`count_ops` keeps, for every layer it has seen, a *counter*: the total with everything
that depends on the layer alone already computed, so that a call costs a few arithmetic
operations on the input sizes (the layer is still read anew in every call).  :func:`breakdown`
evaluates every quantity from the full expressions, and is what reports every refusal.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Sequence

from . import plans
from .algorithms import AlgorithmBreakdown, algorithm_breakdown
from .backward import GRADIENTS
from .caches import BoundedCache
from .errors import ConvopsError, flag
from .layer import (GLOBAL_HOOKS, Layer, check, check_input, check_output, check_padding_mode,
                    own_code, sizes, smallest_input)
from .plans import QUANTITIES, Parameters



def _plan(layer: Layer) -> tuple:
    """The compiled forward of ``layer``'s kind and its parameters' values, checked once."""
    try:
        return _PLANS.entries[layer]
    except (KeyError, TypeError):  # new, or holding an unhashable value that check() refuses
        pass
    check(layer)
    return _PLANS.remember(layer, (plans.forward(layer.kind.name), tuple(Parameters.of(layer))))


def _evaluate(module: Any, input_shape: Sequence[int]) -> tuple[Layer, tuple[int, ...], int]:
    """The layer, the values its compiled forward returns (:data:`~convops.plans.QUANTITIES`,
    then the output sizes), and the batch size."""
    layer = module if isinstance(module, Layer) else Layer.from_module(module, validate=False)
    forward, parameters = _plan(layer)
    batch, size_in = check_input(layer, input_shape)
    values = forward(batch, *size_in, *parameters)
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
_PLANS = BoundedCache()  #: a Layer's compiled forward and parameters
_COUNTERS = BoundedCache()  #: a layer's counter, by its module's attributes or the Layer
_COUNTER_OF = _COUNTERS.entries  # count_ops' lookup


def _counter(module, key):
    """The counter of a module or :class:`Layer` (see :func:`convops.plans.counter`), remembered
    by ``key``; for a module that runs code of its own, its count of what runs, never remembered."""
    if not isinstance(module, Layer) and own_code(module):
        return lambda input_shape: breakdown(module, input_shape).total
    if isinstance(module, Layer):
        layer = module
        check(layer)
    else:
        layer = Layer.from_module(module)
    count = plans.counter(layer.kind.name)(*Parameters.of(layer), *smallest_input(layer))
    return _COUNTERS.remember(key, count)


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
        if (attributes["_forward_pre_hooks"] or attributes["_forward_hooks"] or GLOBAL_HOOKS[0]
                or GLOBAL_HOOKS[1] or "forward" in attributes or "_conv_forward" in attributes):
            raise KeyError("may run code of its own")  # never remembered by its attributes
        bias, weight = parameters["bias"], parameters["weight"]
        key = _ATTRIBUTES(attributes) + (type(module), bias is not None and bias.shape,
                                         weight.shape, weight.dtype)
    except (AttributeError, KeyError, TypeError, RuntimeError, IndexError):  # a Layer, a lazy module, not a convolution
        if not isinstance(module, Layer):  # hooks may change what runs: read it anew every time
            return breakdown(module, input_shape).total
        key = module
    try:
        count = _COUNTER_OF[key]
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
    """The terms of the count for one layer and input shape (all exact ints).

    Examples
    --------
    >>> import torch
    >>> b = breakdown(torch.nn.Conv1d(2, 4, 3), (1, 2, 10))
    >>> b.kind, b.output_shape, b.psi, b.lam, b.gamma, b.A
    ('Conv1d', (1, 4, 8), 8, 40, 64, None)
    >>> b.multiplications + b.additions == b.total == b.batch * (b.psi * b.lam + b.gamma)
    True

    See Also
    --------
    BackwardBreakdown : the same for the backward pass.
    """

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
        """Multiply-accumulates, the convention of many counters: one per multiplication.

        >>> import torch
        >>> breakdown(torch.nn.Conv1d(2, 4, 3), (1, 2, 10)).macs
        192
        """
        return self.multiplications

    @property
    def flops(self) -> int:
        """FLOPs as ``FlopCounterMode`` counts a convolution: two per multiply-accumulate, the
        bias left out.

        >>> import torch
        >>> breakdown(torch.nn.Conv1d(2, 4, 3), (1, 2, 10)).flops
        384
        """
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
    """The operations of one gradient (exact ints).

    Examples
    --------
    >>> import torch
    >>> b = breakdown(torch.nn.Conv1d(2, 4, 3), (1, 2, 10), backward=True)
    >>> b.grad_bias, b.grad_bias.total
    (GradientCount(multiplications=0, additions=28), 28)

    See Also
    --------
    BackwardBreakdown : every gradient of a layer.
    """

    multiplications: int
    additions: int

    @property
    def total(self) -> int:
        """Multiplications plus additions.

        >>> GradientCount(multiplications=3, additions=2).total
        5
        """
        return self.multiplications + self.additions


@dataclass(frozen=True)
class BackwardBreakdown:
    """The operations of the backward pass of one layer and input shape, per gradient.

    A gradient left out of ``gradients`` is ``None``.  ``fold`` is the part of
    ``grad_input.additions`` that folds padded positions back (``padding_mode`` other than
    ``'zeros'``).

    Examples
    --------
    >>> import torch
    >>> conv = torch.nn.Conv1d(2, 4, 3, padding=1, padding_mode="circular")
    >>> b = breakdown(conv, (1, 2, 10), backward=True, gradients=("input", "weight"))
    >>> b.gradients, b.grad_bias, b.fold
    (('input', 'weight'), None, 4)
    >>> b.total == b.grad_input.total + b.grad_weight.total == b.multiplications + b.additions
    True

    See Also
    --------
    Breakdown : the forward's.
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
        """Multiplications of the gradients computed.

        >>> import torch
        >>> b = breakdown(torch.nn.Conv1d(2, 4, 3), (1, 2, 10), backward=True, gradients="bias")
        >>> b.multiplications
        0
        """
        return sum(g.multiplications for g in self._computed())

    @property
    def additions(self) -> int:
        """Additions of the gradients computed.

        >>> import torch
        >>> b = breakdown(torch.nn.Conv1d(2, 4, 3), (1, 2, 10), backward=True, gradients="bias")
        >>> b.additions
        28
        """
        return sum(g.additions for g in self._computed())

    @property
    def total(self) -> int:
        """Every operation of the gradients computed.

        >>> import torch
        >>> b = breakdown(torch.nn.Conv1d(2, 4, 3), (1, 2, 10), backward=True, gradients="bias")
        >>> b.total
        28
        """
        return self.multiplications + self.additions

    @property
    def flops(self) -> int:
        """FlopCounterMode's convention: 2 FLOPs per multiplication, additions ignored.

        >>> import torch
        >>> breakdown(torch.nn.Conv1d(2, 4, 3), (1, 2, 10), backward=True).flops
        768
        """
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


def _backward_breakdown(module, input_shape, backward, gradients) -> BackwardBreakdown:
    chosen = _gradients(backward, gradients)
    layer, values, batch = _evaluate(module, input_shape)  # every check of the forward
    n = layer.kind.ndim
    size_in = check_input(layer, input_shape)[1]
    size_out = values[-n:]
    parameters, fold = Parameters.of(layer), 0
    if not layer.kind.transposed:
        pads = layer.padding_per_side(size_in)
        if layer.padding_mode != "zeros":  # the unpadded convolution of the padded input
            totals = [before + after for before, after in pads]
            fold = plans.fold(layer.kind.name)(batch, *size_in, layer.in_channels, *totals)
            size_in = [L + total for L, total in zip(size_in, totals)]
            pads = [(0, 0)] * n
        parameters = dataclasses.replace(
            parameters, padding=tuple(before + after for before, after in pads),
            output_padding=(), padding_before=tuple(before for before, _ in pads))
    named = {g: GradientCount(0, 0) for g in GRADIENTS}
    if batch:  # the formulas hold for N >= 1; an empty batch computes no gradient
        values = dict(zip(plans.BACKWARD_QUANTITIES,
                          plans.backward(layer.kind.name)(batch, *size_in, *parameters)))
        named = {g: GradientCount(values[g, "multiplications"], values[g, "additions"])
                 for g in GRADIENTS}
        named["input"] = GradientCount(named["input"].multiplications,
                                       named["input"].additions + fold)
    shape = sizes(input_shape)
    return BackwardBreakdown(
        kind=layer.kind.name, input_shape=shape,
        output_shape=shape[:-n - 1] + (layer.out_channels, *size_out), batch=batch,
        gradients=chosen, fold=fold if "input" in chosen else 0,
        **{f"grad_{g}": named[g] if g in chosen else None for g in GRADIENTS})
