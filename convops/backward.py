r"""The backward pass of every convolution: the operations of ``grad_input``, ``grad_weight`` and
``grad_bias``, derived in the language of the forward.

The counting model, one gradient at a time (:math:`\Pi(\cdot)` is the product over the spatial
dimensions; the formulas hold for a batch :math:`N \ge 1`, an empty batch computes nothing):

``grad_input``
    is the convolution that computes it, counted exactly as convops counts that module, without
    bias.  For a ``Conv`` it is the transposed convolution of ``grad_output`` with the same
    weight, stride, padding, dilation and groups, ``C_out`` input and ``C_in`` output channels,
    and the output padding :math:`q` that makes its output the input's size.  For a
    ``ConvTranspose`` it is the plain convolution of ``grad_output`` with the same parameters,
    evaluated at the input's positions only (with ``output_padding >= stride`` it could reach
    further, to positions that are no input's gradient).
``padding_mode`` other than ``'zeros'``
    torch pads the input first and convolves it without padding; the gradient is that
    convolution's, on the padded input, and then the pad's backward: each padded position's
    gradient is added to the input position it copies, one addition per padded position
    (:attr:`BackwardDerivation.fold`).
``grad_weight``
    each weight element is multiplied once by the output gradient of every product the forward
    computed with it (:math:`N\,\Pi(L_\text{out})` of them for a convolution,
    :math:`N\,\Pi(L_\text{in})` for a transposed one), and the products are summed: one
    addition fewer.
``grad_bias``
    each output channel sums its :math:`N\,\Pi(L_\text{out})` output gradients.

The transposed convolution computing a convolution's ``grad_input`` crops :math:`p` positions
at the start and :math:`p - q` at the end.  With ``padding='same'`` and an even kernel torch pads
one element more after the input than before, :math:`q` is then :math:`-1`: no torch module, but
the closed form of ``A`` holds for any two crops (it only sums the lattice counts of both ends),
and the compiled count puts the padding before the input, a symbol of its own
(``padding_before``, :func:`convops.plans.backward_formulas`), in ``p``'s place.

So each gradient multiplies exactly as often as the forward does, and ``FlopCounterMode``'s 2
FLOPs per multiplication give twice our multiplications (for ``grad_weight`` of a grouped layer
it counts ``g`` times more: it leaves out the groups there, as of torch 2.13; pull request
pytorch/pytorch#183405 divides by them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import sympy as sp

from .errors import ConvopsError
from .equations import Equations
from .symbols import SPATIAL_NAMES, Symbols, indexed_symbols

if TYPE_CHECKING:
    from .derivation import Derivation

#: The gradients of a convolution, in the order torch returns them.
GRADIENTS = ("input", "weight", "bias")


@dataclass(frozen=True)
class Gradient:
    """The operations of one gradient, as sympy expressions.

    Examples
    --------
    >>> from convops.backward import Gradient
    >>> import sympy as sp
    >>> x = sp.Symbol('x')
    >>> Gradient(2 * x, x - 1)
    Gradient(multiplications=2*x, additions=x - 1)

    See Also
    --------
    BackwardDerivation.gradient : each gradient of a kind.
    """

    multiplications: sp.Expr
    additions: sp.Expr

    @property
    def total(self) -> sp.Expr:
        """Multiplications plus additions.

        Examples
        --------
        >>> from convops.backward import Gradient
        >>> import sympy as sp
        >>> x = sp.Symbol('x')
        >>> Gradient(2 * x, x - 1).total
        3*x - 1
        """
        return self.multiplications + self.additions

    def subs(self, *args: Any, **kwargs: Any) -> Gradient:
        """Both expressions with sympy's ``subs`` applied.

        Examples
        --------
        >>> from convops.backward import Gradient
        >>> import sympy as sp
        >>> x = sp.Symbol('x')
        >>> Gradient(2 * x, x - 1).subs(x, 3)
        Gradient(multiplications=6, additions=2)
        """
        return Gradient(self.multiplications.subs(*args, **kwargs),
                        self.additions.subs(*args, **kwargs))


@dataclass(frozen=True)
class BackwardDerivation(Equations):
    """The symbolic operation count of the backward pass of one module kind.

    ``grad_input``, ``grad_weight`` and ``grad_bias`` are :class:`Gradient` s of sympy expressions
    in the symbols of the forward :class:`~convops.derivation.Derivation`; ``grad_input`` of a
    convolution is written in the per-dimension terms of :attr:`terms` (``q``, ``s'``, ``d'``,
    ``P``, ``Z``, ``A``), as the forward of a transposed convolution is.

    Examples
    --------
    >>> import convops
    >>> b = convops.derive("Conv1d").backward
    >>> b.grad_weight.multiplications
    C_in*C_out*L_out*N*k/g
    >>> b.grad_bias.additions
    C_out*b*(L_out*N - 1)
    >>> b.simplified(False, "bias")
    0
    >>> [k for k in convops.derive("Conv3d").backward.indexed_equations() if len(k) < 10]
    ['fold', 'q', 's_reduced', 'd_reduced', 'P', 'Z', 'A']
    >>> print(convops.derive("Conv3d").backward.latex("q"))
    q_{i} = L_{\\text{in},i} - s_{i} \\left(L_{\\text{out},i} - 1\\right) - d_{i} \\left(k_{i} - 1\\right) + 2 p_{i} - 1

    See Also
    --------
    convops.derivation.Derivation : the forward it is the backward of.
    convops.equations.Equations : its equations, indexed equations and their LaTeX.
    """

    forward: Derivation = field(repr=False)

    @property
    def symbols(self) -> Symbols:
        """The symbols of the forward derivation.

        Examples
        --------
        >>> from convops.derivation import derive
        >>> b = derive("Conv1d").backward
        >>> b.symbols is derive('Conv1d').symbols
        True
        """
        return self.forward.symbols

    @property
    def name(self) -> str:
        """The module's class name, e.g. ``"Conv2d"``.

        Examples
        --------
        >>> from convops.derivation import derive
        >>> b = derive("Conv1d").backward
        >>> b.name
        'Conv1d'
        """
        return self.forward.name

    @property
    def transposed(self) -> bool:
        """Whether the forward is a transposed convolution.

        Examples
        --------
        >>> from convops.derivation import derive
        >>> b = derive("Conv1d").backward
        >>> b.transposed
        False
        """
        return self.forward.kind.transposed

    # -- grad_input --------------------------------------------------------------------------
    @cached_property
    def grad_input(self) -> Gradient:
        """The convolution computing ``grad_input`` from ``grad_output``: the forward count of
        the other kind with the channels swapped, no bias, and the sizes renamed.

        Examples
        --------
        >>> from convops.derivation import derive
        >>> b = derive("Conv1d").backward
        >>> b.grad_input.multiplications
        C_in*C_out*L_out*N*k/g

        See Also
        --------
        grad_weight : the weight's gradient.
        grad_bias : the bias's gradient.
        """
        S, dual = self.symbols, self.forward.dual
        if self.transposed:  # a convolution whose outputs are our input's positions
            sizes = dict(zip(S.size_out, S.size_in))
        else:  # a transposed convolution from our output's size to our input's
            sizes = {**dict(zip(S.size_in, S.size_out)), **dict(zip(S.size_out, S.size_in))}
        swap = {S.C_in: S.C_out, S.C_out: S.C_in, S.b: 0, **sizes}
        return Gradient(dual.multiplications, dual.additions).subs(swap, simultaneous=True)

    @cached_property
    def terms(self) -> dict[sp.Symbol, sp.Expr]:
        """The definitions :attr:`grad_input` is written in, in order (convolutions; empty for
        transposed kinds): per dimension the output padding ``q`` of the transposed convolution
        computing it, then ``s'``, ``d'``, ``P``, ``Z`` as in
        :attr:`~convops.derivation.Derivation.A_terms` from the output's size, and ``A``.

        Examples
        --------
        >>> from convops.derivation import derive
        >>> b = derive("Conv1d").backward
        >>> [str(symbol) for symbol in b.terms]
        ['q', 's_reduced', 'd_reduced', 'P', 'Z', 'A']
        """
        if self.transposed:
            return {}
        S, dual = self.symbols, self.forward.dual
        terms = {q: L_in + 2 * p - (L_out - 1) * s - d * (k - 1) - 1
                 for q, L_in, L_out, k, s, d, p in zip(S.q, S.size_in, S.size_out, S.k, S.s,
                                                      S.d, S.p)}
        sizes = dict(zip(S.size_in, S.size_out))
        terms.update({symbol: definition.subs(sizes) for symbol, definition in dual.A_terms.items()})
        terms[S.A] = dual.A
        return terms

    @cached_property
    def fold(self) -> sp.Expr:
        r"""Additions of the pad's backward for ``padding_mode`` other than ``'zeros'``: one per
        padded position, onto the input position it copies (0 for transposed kinds).

        With such a mode, ``grad_input`` is :attr:`grad_input` of the same layer with padding 0
        on the padded input (:math:`L_\text{in} + 2p` in place of :math:`L_\text{in}`), plus
        these additions.

        Examples
        --------
        >>> from convops.derivation import derive
        >>> b = derive("Conv1d").backward
        >>> b.fold
        2*C_in*N*p
        """
        S = self.symbols
        if self.transposed:
            return sp.S.Zero
        padded = sp.Mul(*(L + 2 * p for L, p in zip(S.size_in, S.p)))
        return S.N * S.C_in * (padded - sp.Mul(*S.size_in))

    # -- grad_weight, grad_bias --------------------------------------------------------------
    @cached_property
    def grad_weight(self) -> Gradient:
        """Per weight element, one product per forward product it took part in, then their sum.

        Examples
        --------
        >>> from convops.derivation import derive
        >>> b = derive("Conv1d").backward
        >>> b.grad_weight.additions
        C_in*C_out*k*(L_out*N - 1)/g

        See Also
        --------
        grad_input : the input's gradient.
        grad_bias : the bias's gradient.
        """
        S = self.symbols
        elements = self.forward.psi * sp.Mul(*S.k)
        positions = S.N * sp.Mul(*S.size_in if self.transposed else S.size_out)
        return Gradient(elements * positions, elements * (positions - 1))

    @cached_property
    def grad_bias(self) -> Gradient:
        """Per output channel, the sum of its output gradients (nothing without bias).

        Examples
        --------
        >>> from convops.derivation import derive
        >>> b = derive("Conv1d").backward
        >>> b.grad_bias
        Gradient(multiplications=0, additions=C_out*b*(L_out*N - 1))

        See Also
        --------
        grad_input : the input's gradient.
        grad_weight : the weight's gradient.
        """
        S = self.symbols
        return Gradient(sp.S.Zero, S.b * S.C_out * (S.N * sp.Mul(*S.size_out) - 1))

    def gradient(self, name: str) -> Gradient:
        """``grad_input``, ``grad_weight`` or ``grad_bias`` by its name in :data:`GRADIENTS`.

        Examples
        --------
        >>> from convops.derivation import derive
        >>> b = derive("Conv1d").backward
        >>> b.gradient('bias') == b.grad_bias
        True
        """
        if name not in GRADIENTS:
            raise ConvopsError(f"gradient must be one of {', '.join(GRADIENTS)}, got {name!r}")
        return getattr(self, f"grad_{name}")

    # -- totals ------------------------------------------------------------------------------
    @cached_property
    def multiplications(self) -> sp.Expr:
        """Multiplications of the three gradients.

        Examples
        --------
        >>> from convops.derivation import derive
        >>> b = derive("Conv1d").backward
        >>> b.multiplications == sum(b.gradient(g).multiplications for g in ('input', 'weight', 'bias'))
        True

        See Also
        --------
        additions : the rest of the total.
        """
        return sum((self.gradient(g).multiplications for g in GRADIENTS), sp.S.Zero)

    @cached_property
    def additions(self) -> sp.Expr:
        """Additions of the three gradients (the fold included).

        Examples
        --------
        >>> from convops.derivation import derive
        >>> b = derive("Conv1d").backward
        >>> b.additions == sum(b.gradient(g).additions for g in ('input', 'weight', 'bias'))
        True

        See Also
        --------
        multiplications : the rest of the total.
        """
        return sum((self.gradient(g).additions for g in GRADIENTS), sp.S.Zero)

    @cached_property
    def total(self) -> sp.Expr:
        """Every operation of the backward pass.

        Examples
        --------
        >>> from convops.derivation import derive
        >>> b = derive("Conv1d").backward
        >>> b.total == b.multiplications + b.additions
        True

        See Also
        --------
        simplified : the total in one expression.
        """
        return self.multiplications + self.additions

    def simplified(self, bias: bool, gradient: str = "total") -> sp.Expr:
        """The operations of one gradient (or of all, ``"total"``) for ``bias=True`` or
        ``bias=False``, simplified.

        Examples
        --------
        >>> from convops.derivation import derive
        >>> b = derive("Conv1d").backward
        >>> b.simplified(False, 'weight')
        C_in*C_out*k*(2*L_out*N - 1)/g
        """
        if gradient != "total":
            self.gradient(gradient)  # refuses an unknown name
        key = (gradient, bool(bias))
        if key not in self._simplified:
            expr = self.total if gradient == "total" else self.gradient(gradient).total
            self._simplified[key] = sp.simplify(expr.subs(self.symbols.b, int(bias)))
        return self._simplified[key]

    @cached_property
    def _simplified(self) -> dict[tuple[str, bool], sp.Expr]:
        return {}

    # -- printing ----------------------------------------------------------------------------
    @cached_property
    def _equations(self) -> dict[str, sp.Eq]:
        S = self.symbols
        eqs = {}
        for g in GRADIENTS:
            gradient = self.gradient(g)
            for quantity in ("multiplications", "additions"):
                lhs = sp.Symbol(rf"\text{{{quantity}}}_{{\text{{grad\_{g}}}}}")
                eqs[f"{g}_{quantity}"] = sp.Eq(lhs, getattr(gradient, quantity), evaluate=False)
        ops = sp.Symbol(rf"\text{{{self.name}}}_{{\text{{backward}}}}")
        eqs["total_bias"] = sp.Eq(ops, self.simplified(True), evaluate=False)
        eqs["total_no_bias"] = sp.Eq(ops, self.simplified(False), evaluate=False)
        if not self.transposed:
            fold = sp.Symbol(r"\text{additions}_{\text{fold}}")
            eqs["fold"] = sp.Eq(fold, self.fold, evaluate=False)
        for symbol, definition in self.terms.items():
            eqs[_term_name(S, symbol)] = sp.Eq(symbol, definition, evaluate=False)
        return eqs

    def describe(self) -> dict[sp.Symbol, str]:
        """What each symbol of :meth:`equations` and :meth:`indexed_equations` stands for: the
        forward's meanings (:meth:`~convops.symbols.Symbols.describe`), except for the terms
        ``grad_input`` is written in, which belong to the transposed convolution computing it
        (whose input is ``grad_output``, of the forward's output size).

        Examples
        --------
        >>> import convops
        >>> b = convops.derive("Conv2d").backward
        >>> b.describe()[b.symbols.q[1]]
        'output padding along W of the transposed convolution computing grad_input'
        """
        meaning = {}
        for S in (self.symbols, indexed_symbols()):
            meaning.update(S.describe())
            if self.transposed:
                continue
            names = ["spatial dimension i"] if S.ndim == 0 else SPATIAL_NAMES[S.ndim]
            by = "the transposed convolution computing grad_input"
            meaning[S.A] = f"additions per filter of {by}"
            for i, name in enumerate(names):
                meaning[S.q[i]] = f"output padding along {name} of {by}"
                meaning[S.P[i]] = (f"products along {name} of {by} (grad_output positions "
                                   f"times taps) that land inside grad_input")
                meaning[S.Z[i]] = f"grad_input positions along {name} that receive a product"
        return meaning

    def __repr__(self) -> str:
        return f"BackwardDerivation({self.name}: total = {self.total})"


def _term_name(S: Symbols, symbol: sp.Symbol) -> str:
    if symbol == S.A:
        return "A"
    for name in ("q", "s_reduced", "d_reduced", "P", "Z"):
        per_dim = getattr(S, name)
        if symbol in per_dim:
            return f"{name}_{per_dim.index(symbol)}"
    raise KeyError(symbol)
