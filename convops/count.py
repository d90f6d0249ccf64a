"""Exact operation counts for a concrete layer and input shape, evaluated from the derivation.

The sympy expressions of :mod:`convops.derivation` are compiled once per kind into integer code
(:mod:`convops._compile`), so a count is the formula itself, evaluated without floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from ._compile import compile_int
from .derivation import derive
from .layer import Layer, check, check_input, check_output, check_padding_mode

_QUANTITIES = ("psi", "lam", "gamma", "multiplications", "additions", "total", "A")


class _Compiled:
    """The formulas of one kind compiled into two functions of the layer and the input sizes.

    Both take ``(N, *size_in, C_in, C_out, g, b, *k, *s, *d, *padding, *q)`` — for a convolution
    ``padding`` is each dimension's total padding ``2p`` (torch may pad unevenly) — and compute
    the output sizes and, for a transposed kind, ``A`` as intermediate values.
    ``total`` returns ``(total, *size_out)``; ``quantities`` returns the :data:`_QUANTITIES`
    followed by the output sizes.
    """

    def __init__(self, name: str):
        d = derive(name)
        S = d.symbols
        self.transposed = d.kind.transposed
        sizes, padding = d.output_size, S.p
        if not self.transposed:
            padding = sp.symbols(f"padding_total:{S.ndim}", integer=True, nonnegative=True)
            sizes = [size.subs(p, total / 2) for size, p, total in zip(sizes, S.p, padding)]
        params = [S.N, *S.size_in, S.C_in, S.C_out, S.g, S.b, *S.k, *S.s, *S.d, *padding, *S.q]
        steps = list(zip(S.size_out, sizes))
        if self.transposed:
            steps += [*d.A_terms.items(), (S.A, d.A)]
        self.total = compile_int(params, (d.total, *S.size_out), steps)
        values = [getattr(d, q) if q != "A" else (S.A if self.transposed else sp.S.Zero)
                  for q in _QUANTITIES]
        self.quantities = compile_int(params, (*values, *S.size_out), steps)


@lru_cache(maxsize=None)
def _compiled(name: str) -> _Compiled:
    return _Compiled(name)


_PLANS: dict[Layer, tuple] = {}


def _plan(layer: Layer) -> tuple[_Compiled, tuple[int, ...]]:
    """The compiled formulas of ``layer`` and its arguments after the input sizes, checked once."""
    try:
        return _PLANS[layer]
    except (KeyError, TypeError):  # new, or holding an unhashable value that check() refuses
        pass
    check(layer)
    if layer.kind.transposed:
        padding = layer.padding
    else:  # padding_per_side does not depend on the input size for torch's padding options
        padding = [before + after for before, after in layer.padding_per_side(layer.kernel_size)]
    plan = _compiled(layer.kind.name), (
        layer.in_channels, layer.out_channels, layer.groups, int(layer.bias), *layer.kernel_size,
        *layer.stride, *layer.dilation, *padding, *layer.output_padding)
    if len(_PLANS) > 4096:
        _PLANS.clear()
    _PLANS[layer] = plan
    return plan


def _evaluate(module, input_shape, function: str):
    """The layer, the values ``function`` of its compiled formulas returns, and the batch size."""
    layer = module if isinstance(module, Layer) else Layer.from_module(module, validate=False)
    compiled, layer_args = _plan(layer)
    batch, size_in = check_input(layer, input_shape)
    values = getattr(compiled, function)(batch, *size_in, *layer_args)
    size_out = values[-layer.kind.ndim:]
    if min(size_out) < 1 or layer.padding_mode != "zeros":  # torch's checks on sizes
        check_output(layer, input_shape, size_out)
        check_padding_mode(layer, size_in, layer.padding_per_side(size_in))
    return layer, values, batch


def count_ops(module, input_shape) -> int:
    """Exact number of scalar multiplications and additions of ``module`` on an input of ``input_shape``.

    ``module`` is a torch ``Conv1d/2d/3d`` or ``ConvTranspose1d/2d/3d`` (or a :class:`Layer`);
    ``input_shape`` is batched ``(N, C_in, *spatial)`` or unbatched ``(C_in, *spatial)``.
    Raises ``ValueError`` for any layer or input torch would refuse.
    """
    return _evaluate(module, input_shape, "total")[1][0]


@dataclass(frozen=True)
class Breakdown:
    """The terms of the count for one layer and input shape (all exact ints)."""

    kind: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    batch: int
    psi: int  #: filters
    lam: int  #: operations per filter
    gamma: int  #: aggregation and bias additions (per sample)
    A: int | None  #: additions per filter of a transposed convolution; None for a convolution
    multiplications: int
    additions: int
    total: int

    @property
    def macs(self) -> int:
        """Multiply-accumulates, the convention of many counters: one per multiplication."""
        return self.multiplications


def breakdown(module, input_shape) -> Breakdown:
    """ψ, λ, γ, multiplications, additions and the total of ``module`` on ``input_shape``."""
    layer, values, batch = _evaluate(module, input_shape, "quantities")
    size_out = values[-layer.kind.ndim:]
    named = dict(zip(_QUANTITIES, values))
    if not layer.kind.transposed:
        named["A"] = None
    shape = tuple(input_shape)
    out_shape = shape[:-layer.kind.ndim - 1] + (layer.out_channels, *size_out)
    return Breakdown(kind=layer.kind.name, input_shape=shape, output_shape=out_shape, batch=batch,
                     **named)
