"""Plans: each kind's derivation in the arguments its compiled functions take, compiled once.

A :class:`Plan` holds the derivation of one kind with its arguments in named groups: the batch,
the input sizes, and the layer's :class:`Parameters`.  :func:`forward_formulas`,
:func:`backward_formulas` and :func:`fold_formulas` give the expressions to compute, as
:class:`Formulas` (what :func:`~convops.compiler.compile_int` compiles, and what the site's
calculator prints as JavaScript); :func:`forward`, :func:`backward`, :func:`fold` and
:func:`counter` are those compiled, once per kind.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterator, NamedTuple

import sympy as sp

from .backward import GRADIENTS
from .compiler import compile_int
from .counters import compile_counter
from .derivation import Derivation, derive
from .layer import Layer

#: The totals of a count, as :class:`~convops.count.Breakdown`, profiles and the CLI name them.
TOTALS = ("multiplications", "additions", "total")
#: Every quantity of a count, as :class:`~convops.count.Breakdown` names them, in the order the
#: forward's compiled function returns them (then the output sizes; the site's calculator reads
#: them in this order).
QUANTITIES = ("psi", "lam", "gamma", *TOTALS, "A")
#: What the backward's compiled function returns, in order: per gradient of
#: :data:`~convops.backward.GRADIENTS`, its multiplications and additions.
BACKWARD_QUANTITIES = tuple((g, q) for g in GRADIENTS for q in ("multiplications", "additions"))


@dataclass(frozen=True)
class Parameters:
    """A layer's parameters in named groups, in the order compiled functions take them
    (iterating gives them flat); sympy symbols in a :class:`Plan`, ints for a layer.

    Examples
    --------
    >>> p = Parameters.of(Layer.create("Conv2d", 3, 8, 3, padding=(1, 0)))
    >>> p.kernel_size, p.padding, tuple(p)
    ((3, 3), (2, 0), (3, 8, 1, 1, 3, 3, 1, 1, 1, 1, 2, 0, 0, 0))

    See Also
    --------
    plan : the symbols of a kind's parameters.
    """

    in_channels: Any
    out_channels: Any
    groups: Any
    bias: Any  #: 1 with a bias, else 0
    kernel_size: tuple
    stride: tuple
    dilation: tuple
    #: per dimension: a convolution's total padding, before plus after (torch may pad unevenly;
    #: the derivation's ``p`` is half of it), a transposed kind's ``padding``
    padding: tuple
    output_padding: tuple = ()  #: ``q`` (0 for a convolution); absent from a convolution's backward
    #: a convolution's backward only: the padding before the input, where the transposed
    #: convolution computing ``grad_input`` starts
    padding_before: tuple = ()

    def __iter__(self) -> Iterator:
        # the fields' own values, not dataclasses.astuple's deep copies (a counter's cache key)
        for field in dataclasses.fields(self):
            group = getattr(self, field.name)
            yield from group if isinstance(group, tuple) else (group,)

    @classmethod
    def of(cls, layer: Layer) -> Parameters:
        """``layer``'s values (a convolution's padding before and after depends not on the input
        size for any of torch's padding options).

        >>> Parameters.of(Layer.create("Conv1d", 2, 4, 4, padding="same")).padding  # 1 + 2
        (3,)
        """
        padding = layer.padding
        if not layer.kind.transposed:
            padding = tuple(before + after
                            for before, after in layer.padding_per_side(layer.kernel_size))
        return cls(layer.in_channels, layer.out_channels, layer.groups, int(layer.bias),
                   layer.kernel_size, layer.stride, layer.dilation, padding, layer.output_padding)


class Formulas(NamedTuple):
    """Expressions to compile into one function: its ``arguments``, its ``outputs`` (a list, or
    one expression) and the ``intermediates`` computed before them, ``(symbol, definition)``.

    Examples
    --------
    >>> f = forward_formulas("Conv1d")
    >>> f.arguments[:3], len(f.outputs) == len(QUANTITIES) + 1, [str(s) for s, _ in f.intermediates]
    ((N, L_in, C_in), True, ['L_out'])
    """

    arguments: tuple
    outputs: Any
    intermediates: tuple = ()


@dataclass(frozen=True)
class Plan:
    """The derivation of one kind in the arguments its compiled functions take.

    Examples
    --------
    >>> p = plan("ConvTranspose1d")
    >>> p.arguments
    (N, L_in, C_in, C_out, g, b, k, s, d, p, q)
    >>> [str(symbol) for symbol, _ in p.steps]
    ['L_out', 's_reduced', 'd_reduced', 'P', 'Z', 'A']
    """

    derivation: Derivation
    batch: sp.Symbol
    size_in: tuple
    parameters: Parameters
    #: ``(symbol, definition)`` of the output sizes and, for a transposed kind, of ``A``
    steps: tuple

    @property
    def arguments(self) -> tuple:
        """``(N, *size_in, *parameters)``.

        >>> plan("Conv2d").arguments[:5]
        (N, H_in, W_in, C_in, C_out)
        """
        return (self.batch, *self.size_in, *self.parameters)

    @property
    def output_sizes(self) -> tuple:
        """The steps that define the output sizes.

        >>> plan("Conv1d").output_sizes
        ((L_out, floor((L_in - d*(k - 1) + padding_total0 - 1)/s) + 1),)
        """
        size_out = self.derivation.symbols.size_out
        return tuple(step for step in self.steps if step[0] in size_out)


def _totals(n: int) -> tuple:
    return sp.symbols(f"padding_total:{n}", integer=True, nonnegative=True)


@lru_cache(maxsize=None)
def plan(name: str) -> Plan:
    """The :class:`Plan` of kind ``name``: a convolution's output sizes are written in its total
    padding per dimension (``p`` is half of it).

    Examples
    --------
    >>> plan("Conv1d").parameters
    Parameters(in_channels=C_in, out_channels=C_out, groups=g, bias=b, kernel_size=(k,), stride=(s,), dilation=(d,), padding=(padding_total0,), output_padding=(q,), padding_before=())
    """
    d = derive(name)
    S = d.symbols
    sizes, padding = d.output_size, S.p
    if not d.kind.transposed:
        padding = _totals(S.ndim)
        sizes = [size.subs(p, total / 2) for size, p, total in zip(sizes, S.p, padding)]
    parameters = Parameters(S.C_in, S.C_out, S.g, S.b, S.k, S.s, S.d, padding, S.q)
    steps = list(zip(S.size_out, sizes))
    if d.kind.transposed:
        steps += [*d.A_terms.items(), (S.A, d.A)]
    return Plan(d, S.N, S.size_in, parameters, tuple(steps))


@lru_cache(maxsize=None)
def forward_formulas(name: str) -> Formulas:
    """The :data:`QUANTITIES` of kind ``name`` (``A`` is 0 for a convolution), then the output
    sizes, in the :attr:`Plan.arguments`.

    Examples
    --------
    >>> forward_formulas("Conv1d").outputs[-1]
    L_out

    See Also
    --------
    backward_formulas, fold_formulas : the backward's.
    """
    p = plan(name)
    d = p.derivation
    values = [getattr(d, q) if q != "A" else (d.symbols.A if d.kind.transposed else sp.S.Zero)
              for q in QUANTITIES]
    return Formulas(p.arguments, (*values, *d.symbols.size_out), p.steps)


def backward_parameters(p: Plan) -> Parameters:
    """The parameters of kind ``p``'s backward: a convolution's take, in place of
    ``output_padding``, the padding before the input.

    Examples
    --------
    >>> backward_parameters(plan("Conv1d")).padding_before
    (padding_before0,)
    >>> backward_parameters(plan("ConvTranspose1d")) == plan("ConvTranspose1d").parameters
    True
    """
    if p.derivation.kind.transposed:
        return p.parameters
    before = sp.symbols(f"padding_before:{p.derivation.symbols.ndim}", integer=True,
                        nonnegative=True)
    return dataclasses.replace(p.parameters, output_padding=(), padding_before=before)


@lru_cache(maxsize=None)
def backward_formulas(name: str) -> Formulas:
    """The :data:`BACKWARD_QUANTITIES` of kind ``name``, in its :func:`backward_parameters`.

    The backward's derivation writes a convolution's padding per side, ``p``; its
    ``grad_input`` is the transposed convolution that starts at the padding before the input,
    which takes ``p``'s place here (the two differ where torch pads unevenly).

    Examples
    --------
    >>> backward_formulas("Conv1d").arguments[-2:]
    (padding_total0, padding_before0)

    See Also
    --------
    forward_formulas, fold_formulas
    """
    p = plan(name)
    S, backward = p.derivation.symbols, p.derivation.backward
    parameters = backward_parameters(p)
    before = dict(zip(S.p, parameters.padding_before))
    values = [getattr(backward.gradient(g), quantity).xreplace(before)
              for g, quantity in BACKWARD_QUANTITIES]
    terms = [(symbol, definition.xreplace(before)) for symbol, definition in backward.terms.items()]
    return Formulas((p.batch, *p.size_in, *parameters), values, (*p.output_sizes, *terms))


@lru_cache(maxsize=None)
def fold_formulas(name: str) -> Formulas:
    """:attr:`~convops.backward.BackwardDerivation.fold` of kind ``name`` in
    ``(N, *size_in, C_in, *padding_total)``.

    Examples
    --------
    >>> fold_formulas("Conv1d")
    Formulas(arguments=(N, L_in, C_in, padding_total0), outputs=C_in*N*padding_total0, intermediates=())

    See Also
    --------
    forward_formulas, backward_formulas
    """
    d = derive(name)
    S = d.symbols
    totals = _totals(S.ndim)
    fold = d.backward.fold.subs({p: total / 2 for p, total in zip(S.p, totals)})
    return Formulas((S.N, *S.size_in, S.C_in, *totals), fold)


@lru_cache(maxsize=None)
def forward(name: str) -> Callable[..., tuple[int, ...]]:
    """:func:`forward_formulas` compiled: ``forward(name)(N, *size_in, *parameters)``.

    Examples
    --------
    >>> forward("Conv1d")(1, 10, *Parameters.of(Layer.create("Conv1d", 2, 4, 3)))
    (8, 40, 64, 192, 192, 384, 0, 8)
    """
    return compile_int(*forward_formulas(name))


@lru_cache(maxsize=None)
def backward(name: str) -> Callable[..., tuple[int, ...]]:
    """:func:`backward_formulas` compiled: ``backward(name)(N, *size_in, *parameters)`` with the
    parameters of :func:`backward_parameters`.

    Examples
    --------
    >>> import dataclasses
    >>> values = Parameters.of(Layer.create("Conv1d", 2, 4, 3))
    >>> values = dataclasses.replace(values, output_padding=(), padding_before=(0,))
    >>> dict(zip(BACKWARD_QUANTITIES, backward("Conv1d")(1, 10, *values)))[("bias", "additions")]
    28
    """
    return compile_int(*backward_formulas(name))


@lru_cache(maxsize=None)
def fold(name: str) -> Callable[..., int]:
    """:func:`fold_formulas` compiled: ``fold(name)(N, *size_in, C_in, *padding_total)``.

    Examples
    --------
    >>> fold("Conv1d")(1, 10, 2, 2)  # 2 channels, 2 padded positions each
    4
    """
    return compile_int(*fold_formulas(name))


@lru_cache(maxsize=None)
def counter(name: str) -> Callable[..., Callable[[Any], int | None]]:
    """``make(*parameters, *smallest)``: a layer's counter, the function of an input shape
    :func:`convops.count_ops` calls (see :func:`~convops.counters.compile_counter`).

    Examples
    --------
    >>> layer = Layer.create("Conv1d", 2, 4, 3)
    >>> count = counter("Conv1d")(*Parameters.of(layer), 3)
    >>> count((1, 2, 10)), count((1, 2, 2)), count((1, 3, 10))
    (384, None, None)
    """
    p = plan(name)
    return compile_counter(p.batch, p.size_in, p.parameters, p.steps, p.derivation)
