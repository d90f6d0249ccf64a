"""Exact operation counts for a concrete layer and input shape, evaluated from the derivation.

The sympy expressions of :mod:`convops.derivation` are compiled once per kind into integer code
(:mod:`convops._compile`), so a count is the formula itself, evaluated without floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from . import additions
from ._compile import compile_int
from .derivation import derive
from .layer import Layer, check_input, check_output, check_padding_mode

_QUANTITIES = ("psi", "lam", "gamma", "multiplications", "additions", "total")


class _Compiled:
    """The compiled formulas of one kind."""

    def __init__(self, name: str):
        d = derive(name)
        S = d.symbols
        self.transposed = d.kind.transposed
        # A convolution's output size is written with 2p; torch's padding may be uneven
        # ('same' with an even kernel), so it is compiled for the total padding P = 2p.
        sizes, padding = d.output_size, S.p
        if not self.transposed:
            # Total padding of each dimension, P = 2p.
            padding = sp.symbols(f"padding_total:{S.ndim}", integer=True, nonnegative=True)
            sizes = [size.subs(p, total / 2) for size, p, total in zip(sizes, S.p, padding)]
        self.output_size = compile_int([*S.size_in, *S.k, *S.s, *S.d, *padding, *S.q], tuple(sizes))
        args = [S.N, S.C_in, S.C_out, S.g, S.b, *S.size_in, *S.size_out, *S.k, S.A]
        for quantity in _QUANTITIES:
            setattr(self, quantity, compile_int(args, getattr(d, quantity)))
        if self.transposed:
            # A from the per-dimension counts P_d, Z_d, each computed once.
            args = [*S.size_in, *S.k, *S.s, *S.d, *S.p, *S.q]
            counts = []
            for i, (P, Z) in enumerate(zip(S.P, S.Z)):
                gcd = additions.Gcd(S.s[i], S.d[i])
                gcd_value = sp.Symbol(f"gcd{i}", integer=True, positive=True)
                counts += [(gcd_value, gcd), (P, d.A_terms[P]),
                           (Z, d.A_terms[Z].xreplace({gcd: gcd_value}))]
            self.A = compile_int(args, d.A, counts)


@lru_cache(maxsize=None)
def _compiled(name: str) -> _Compiled:
    return _Compiled(name)


def _arguments(layer: Layer, input_shape):
    """The values of the derivation's symbols for ``layer`` on ``input_shape``, and its output shape."""
    batch, size_in = check_input(layer, input_shape)
    compiled = _compiled(layer.kind.name)
    k, s, d, q = layer.kernel_size, layer.stride, layer.dilation, layer.output_padding
    if compiled.transposed:
        size_out = compiled.output_size(*size_in, *k, *s, *d, *layer.padding, *q)
        check_output(layer, input_shape, size_out)
        A = compiled.A(*size_in, *k, *s, *d, *layer.padding, *q)
    else:
        pads = layer.padding_per_side(size_in)
        size_out = compiled.output_size(*size_in, *k, *s, *d, *(a + b for a, b in pads), *q)
        check_output(layer, input_shape, size_out)
        check_padding_mode(layer, size_in, pads)
        A = 0
    args = (batch, layer.in_channels, layer.out_channels, layer.groups, int(layer.bias),
            *size_in, *size_out, *k, A)
    out_shape = tuple(input_shape)[:-layer.kind.ndim - 1] + (layer.out_channels, *size_out)
    return compiled, args, out_shape


def _layer(module) -> Layer:
    return module if isinstance(module, Layer) else Layer.from_module(module)


def count_ops(module, input_shape) -> int:
    """Exact number of scalar multiplications and additions of ``module`` on an input of ``input_shape``.

    ``module`` is a torch ``Conv1d/2d/3d`` or ``ConvTranspose1d/2d/3d`` (or a :class:`Layer`);
    ``input_shape`` is batched ``(N, C_in, *spatial)`` or unbatched ``(C_in, *spatial)``.
    Raises ``ValueError`` for any layer or input torch would refuse.
    """
    compiled, args, _ = _arguments(_layer(module), input_shape)
    return compiled.total(*args)


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
    layer = _layer(module)
    compiled, args, out_shape = _arguments(layer, input_shape)
    values = {quantity: getattr(compiled, quantity)(*args) for quantity in _QUANTITIES}
    return Breakdown(kind=layer.kind.name, input_shape=tuple(input_shape), output_shape=out_shape,
                     batch=args[0], A=args[-1] if compiled.transposed else None, **values)
