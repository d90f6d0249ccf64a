"""Symbolic counting: convops' breakdown of a layer on an input shape of sympy expressions, the
twin of :func:`convops.breakdown` (which evaluates the same derivation at ints)."""

from __future__ import annotations

from ..count import Breakdown
from ..layer import Layer
from ..plans import QUANTITIES, Parameters, plan
from .translation import merge_floors, plain


def symbolic_counts(layer: Layer, shape_in: tuple) -> Breakdown:
    """convops' breakdown of ``layer`` on an input shape of sympy expressions.

    Examples
    --------
    >>> import sympy as sp
    >>> from convops.layer import Layer
    >>> from convops.symbolic.counting import symbolic_counts
    >>> L = sp.Symbol("L", integer=True, positive=True)
    >>> counts = symbolic_counts(Layer.create("Conv1d", 2, 4, 3, stride=2), (1, 2, L))
    >>> counts.output_shape, counts.multiplications
    ((1, 4, floor(L/2 - 3/2) + 1), 24*floor(L/2 - 3/2) + 24)
    """
    p = plan(layer.kind.name)
    d = p.derivation
    batch, _, *sizes = shape_in
    values = (dict(zip(p.parameters, Parameters.of(layer))) | {p.batch: batch}
              | dict(zip(p.size_in, sizes)))
    for symbol, definition in p.steps:
        values[symbol] = merge_floors(definition.xreplace(values))
    S = d.symbols
    counts = {q: plain(getattr(d, q).xreplace(values)) for q in QUANTITIES if q != "A"}
    shape_out = (batch, layer.out_channels, *(plain(values[s]) for s in S.size_out))
    return Breakdown(kind=layer.kind.name, input_shape=tuple(shape_in), output_shape=shape_out,
                     batch=batch, A=plain(values[S.A]) if layer.kind.transposed else None,
                     **counts)

