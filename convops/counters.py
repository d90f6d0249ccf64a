"""A layer's counter, the function of an input shape :func:`convops.count_ops` calls: the total
split (:func:`stage`) into what depends on the layer only, computed once per layer, and what
depends on the input size too, computed in every call, and written as Python
(:func:`compile_counter`) with :mod:`convops.compiler`'s printer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from .additions import beyond_saturation
from .compiler import assignments, code, define, normal_form


def compile_counter(batch, size_in, parameters, steps, derivation):
    """``make(*parameters, *smallest)``: a layer's counter, a function of an input shape alone.

    Everything that depends on the layer only (``parameters``, the smallest input size torch
    accepts per dimension) is computed in ``make``, once (:func:`stage`); the counter parses the
    shape, computes the rest of ``derivation``'s total and returns it, or returns ``None``
    wherever torch might refuse the shape (the caller then lets :mod:`convops.layer` say why).
    ``steps`` are the ``(symbol, definition)`` pairs of the output sizes, and of what the total
    is written in; each definition of ``A``'s terms gets a lane for input sizes where it is
    affine (:func:`_affine_lane`).

    Examples
    --------
    >>> from convops.plans import Parameters, plan
    >>> from convops.layer import Layer
    >>> p = plan("Conv1d")
    >>> make = compile_counter(p.batch, p.size_in, p.parameters, p.steps, p.derivation)
    >>> make(*Parameters.of(Layer.create("Conv1d", 2, 4, 3)), 3)((1, 2, 10))
    384

    See Also
    --------
    convops.plans.counter : this, once per kind.
    """
    S, n, N = derivation.symbols, derivation.symbols.ndim, batch
    staged = stage(list(parameters), [derivation.total],
                   [(symbol, _affine_lane(definition, size_in)) for symbol, definition in steps])
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


@dataclass
class Staged:
    """A computation split by :func:`stage`: ``once`` depends on the constants only.

    >>> x, n = sp.symbols("x n", integer=True)
    >>> stage([n], [x * n * (n + 1) + x])
    Staged(once=[(_c0, n*(n + 1))], each=[], outputs=[_c0*x + x])
    """

    once: list[tuple[sp.Symbol, sp.Expr]] = field(default_factory=list)
    each: list[tuple[sp.Symbol, sp.Expr]] = field(default_factory=list)
    outputs: list[sp.Expr] = field(default_factory=list)


def stage(constants, outputs, intermediates=()) -> Staged:
    """Split ``outputs`` (with their ``intermediates``, as in :func:`compile_int`) in two.

    ``once`` defines every intermediate and every largest subexpression that depends on
    ``constants`` only (a layer's parameters); ``each`` and ``outputs`` are what is left, written
    in those definitions.  Staging works on the :func:`normal_form`, where every subexpression is
    an integer, so any of them may be computed ahead; a sum or product keeps its order of
    evaluation except that its constant terms are grouped.

    Examples
    --------
    >>> x, y, n = sp.symbols("x y n", integer=True)
    >>> staged = stage([n], [y * n ** 2], [(y, x + n)])
    >>> staged.once, staged.each, staged.outputs
    ([(_c0, n**2)], [(y, n + x)], [_c0*y])

    See Also
    --------
    compile_counter : a layer's counter, written that way.
    """
    return _Stager(constants).run(list(map(normal_form, outputs)),
                                  [(symbol, normal_form(definition))
                                   for symbol, definition in intermediates])


class _Stager:
    def __init__(self, constants):
        self.known = set(constants)
        self.result = Staged()
        self.names: dict[sp.Expr, sp.Symbol] = {}

    def run(self, outputs, intermediates) -> Staged:
        for symbol, definition in intermediates:
            if self.is_known(definition):
                self.result.once.append((symbol, definition))
                self.known.add(symbol)
            else:
                self.result.each.append((symbol, self.stage(definition)))
        self.result.outputs = [self.stage(output) for output in outputs]
        return self.result

    def is_known(self, expr) -> bool:
        return expr.free_symbols <= self.known

    def hoist(self, expr):
        """A name for ``expr``, computed once (atoms need none)."""
        if expr.is_Atom:
            return expr
        if expr not in self.names:
            self.names[expr] = sp.Symbol(f"_c{len(self.names)}", integer=True)
            self.result.once.append((self.names[expr], expr))
        return self.names[expr]

    def stage(self, expr):
        if expr.is_Atom:
            return expr
        if self.is_known(expr) and isinstance(expr, sp.Expr):  # conditions stay in place
            return self.hoist(expr)
        if isinstance(expr, (sp.Add, sp.Mul)):
            known = [arg for arg in expr.args if self.is_known(arg)]
            rest = [self.stage(arg) for arg in expr.args if not self.is_known(arg)]
            return expr.func(*rest, self.hoist(expr.func(*known)))
        return expr.func(*map(self.stage, expr.args))
