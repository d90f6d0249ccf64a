r"""One N-dimensional derivation of the operation count, instantiated for the six torch modules.

The counting model: a layer is :math:`\psi` filters (one per pair of connected input and output
channels), each doing :math:`\lambda` operations, followed by :math:`\gamma` additions that
aggregate the filters of each output channel and add the bias; over a batch of :math:`N`,

.. math:: \text{total} = N\,(\psi\,\lambda + \gamma).

Convolution and transposed convolution share :math:`\psi` and :math:`\gamma`; they differ in
:math:`\lambda` and in their output sizes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import sympy as sp

from . import additions
from .backward import BackwardDerivation
from .errors import ConvopsError
from .equations import Equations, equation
from .symbols import GAMMA, LAM, PSI, Symbols, latex, symbols


@dataclass(frozen=True)
class Kind:
    """A torch convolution module class as an instance of the derivation.

    Examples
    --------
    >>> from convops import KINDS
    >>> kind = KINDS["ConvTranspose2d"]
    >>> kind.ndim, kind.transposed
    (2, True)
    """

    name: str  #: the class name in ``torch.nn``, e.g. ``"Conv2d"``
    ndim: int  #: number of spatial dimensions
    transposed: bool  #: whether it is a ``ConvTranspose*d``

    @cached_property
    def module(self) -> type:
        """The torch module class (``torch.nn.Conv2d`` …); imports torch on first use.

        Examples
        --------
        >>> from convops.derivation import KINDS
        >>> KINDS["Conv2d"].module
        <class 'torch.nn.modules.conv.Conv2d'>

        See Also
        --------
        kind_of : the kind of a module, a class or a name.
        """
        import torch

        return getattr(torch.nn, self.name)


#: The six modules convops derives, by class name (no torch needed to list them).
KINDS: dict[str, Kind] = {
    kind.name: kind for kind in (
        Kind(f"{prefix}{ndim}d", ndim, prefix == "ConvTranspose")
        for prefix in ("Conv", "ConvTranspose") for ndim in (1, 2, 3)
    )
}


def kind_of(kind: Kind | str | type | object) -> Kind:
    """The :class:`Kind` for a module class, a module instance or a class name such as ``"Conv2d"``.

    A subclass of a torch convolution module has the kind of the torch class it derives from.

    Examples
    --------
    >>> from convops.derivation import kind_of
    >>> kind_of("Conv3d").ndim
    3
    >>> kind_of("Linear")
    Traceback (most recent call last):
    ...
    convops.errors.ConvopsError: kind must be one of Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d (a name, class or module), got 'Linear'
    """
    if isinstance(kind, Kind):
        return kind
    if isinstance(kind, str):
        if kind in KINDS:
            return KINDS[kind]
    else:
        cls = kind if isinstance(kind, type) else type(kind)
        for base in getattr(cls, "__mro__", ()):
            if (base.__name__ in KINDS and base.__module__.startswith("torch.nn.modules")
                    and KINDS[base.__name__].module is base):
                return KINDS[base.__name__]
    raise ConvopsError(f"kind must be one of {', '.join(KINDS)} (a name, class or module), "
                       f"got {kind!r}")


@dataclass(frozen=True)
class Derivation(Equations):
    """The symbolic operation count of one module kind.

    ``psi``, ``lam``, ``gamma`` and ``total`` are sympy expressions in the symbols of
    :attr:`symbols`; the output sizes are symbols too, with their own formulas in
    :attr:`output_size`.

    Examples
    --------
    >>> from convops.derivation import derive
    >>> d = derive("Conv1d")
    >>> d.total
    N*(C_in*C_out*(L_out*k + L_out*(k - 1))/g + C_out*L_out*(C_in/g + b - 1))
    >>> d.simplified(bias=False)
    C_out*L_out*N*(2*C_in*k - g)/g

    See Also
    --------
    derive : the derivation of a kind, cached.
    convops.backward.BackwardDerivation : its backward pass.
    convops.equations.Equations : its equations and their LaTeX.
    """

    kind: Kind
    symbols: Symbols = field(repr=False)

    @property
    def name(self) -> str:
        """The module's class name, e.g. ``"Conv2d"``.

        Examples
        --------
        >>> from convops.derivation import derive
        >>> d = derive("Conv1d")
        >>> d.name
        'Conv1d'
        """
        return self.kind.name

    # -- output size -------------------------------------------------------------------------
    @cached_property
    def output_size(self) -> tuple[sp.Expr, ...]:
        """Each output size as torch computes it from the input size and the parameters.

        ``p`` is torch's padding on each side.  ``padding='same'`` pads ``d (k - 1)`` in all, one
        element more after than before when that is odd; counts then put that total for ``2p``.

        Examples
        --------
        >>> from convops.derivation import derive
        >>> d = derive("Conv1d")
        >>> d.output_size
        (floor((L_in - d*(k - 1) + 2*p - 1)/s) + 1,)
        """
        S = self.symbols
        dims = zip(S.size_in, S.k, S.s, S.d, S.p, S.q)
        if self.kind.transposed:
            return tuple((L - 1) * s - 2 * p + d * (k - 1) + q + 1 for L, k, s, d, p, q in dims)
        return tuple(sp.floor((L + 2 * p - d * (k - 1) - 1) / s) + 1 for L, k, s, d, p, _ in dims)

    # -- psi, lambda, gamma ------------------------------------------------------------------
    @cached_property
    def psi(self) -> sp.Expr:
        """Number of filters: each output channel sees ``C_in / g`` input channels.

        Examples
        --------
        >>> from convops.derivation import derive
        >>> d = derive("Conv1d")
        >>> d.psi
        C_in*C_out/g

        See Also
        --------
        lam : the operations of one filter.
        gamma : the additions that aggregate the filters.
        """
        S = self.symbols
        return S.C_in * S.C_out / S.g

    @cached_property
    def multiplications_per_filter(self) -> sp.Expr:
        """Products one filter computes: every tap at every output position of a convolution,
        every tap times every input element of a transposed one.

        Examples
        --------
        >>> from convops.derivation import derive
        >>> d = derive("Conv1d")
        >>> d.multiplications_per_filter
        L_out*k

        See Also
        --------
        additions_per_filter : the other half of lam.
        """
        S = self.symbols
        # A convolution multiplies every tap at every output position; a transposed one every
        # input element by every tap (products that padding crops are still computed).
        positions = S.size_in if self.kind.transposed else S.size_out
        return sp.Mul(*positions) * sp.Mul(*S.k)

    @cached_property
    def additions_per_filter(self) -> sp.Expr:
        """Additions inside one filter: ``k - 1`` per output position of a convolution, ``A``
        (the products that land where another already did) of a transposed one.

        Examples
        --------
        >>> from convops.derivation import derive
        >>> d = derive("Conv1d")
        >>> d.additions_per_filter
        L_out*(k - 1)
        >>> t = derive('ConvTranspose1d')
        >>> t.additions_per_filter
        A

        See Also
        --------
        multiplications_per_filter : the other half of lam.
        """
        S = self.symbols
        if self.kind.transposed:
            return S.A
        return sp.Mul(*S.size_out) * (sp.Mul(*S.k) - 1)

    @cached_property
    def lam(self) -> sp.Expr:
        """Operations per filter.

        Examples
        --------
        >>> from convops.derivation import derive
        >>> d = derive("Conv1d")
        >>> d.lam
        L_out*k + L_out*(k - 1)

        See Also
        --------
        psi : the number of filters.
        gamma : the additions that aggregate the filters.
        """
        return self.multiplications_per_filter + self.additions_per_filter

    @cached_property
    def gamma(self) -> sp.Expr:
        """Additions that sum the ``C_in / g`` filters of every output element, plus its bias.

        Examples
        --------
        >>> from convops.derivation import derive
        >>> d = derive("Conv1d")
        >>> d.gamma
        C_out*L_out*(C_in/g + b - 1)

        See Also
        --------
        psi : the number of filters.
        lam : the operations of one filter.
        """
        S = self.symbols
        return S.C_out * sp.Mul(*S.size_out) * (S.C_in / S.g - 1 + S.b)

    # -- totals ------------------------------------------------------------------------------
    @cached_property
    def total(self) -> sp.Expr:
        """Every scalar multiplication and addition of the layer over a batch of ``N``.

        Examples
        --------
        >>> from convops.derivation import derive
        >>> d = derive("Conv1d")
        >>> d.total
        N*(C_in*C_out*(L_out*k + L_out*(k - 1))/g + C_out*L_out*(C_in/g + b - 1))

        See Also
        --------
        simplified : the total in one expression, with or without a bias.
        """
        return self.symbols.N * (self.psi * self.lam + self.gamma)

    @cached_property
    def multiplications(self) -> sp.Expr:
        """The multiplications of :attr:`total` (the multiply-accumulates of other counters).

        Examples
        --------
        >>> from convops.derivation import derive
        >>> d = derive("Conv1d")
        >>> d.multiplications
        C_in*C_out*L_out*N*k/g

        See Also
        --------
        additions : the rest of the total.
        """
        return self.symbols.N * self.psi * self.multiplications_per_filter

    @cached_property
    def additions(self) -> sp.Expr:
        """The additions of :attr:`total`: inside the filters, aggregation and bias.

        Examples
        --------
        >>> from convops.derivation import derive
        >>> d = derive("Conv1d")
        >>> d.additions
        N*(C_in*C_out*L_out*(k - 1)/g + C_out*L_out*(C_in/g + b - 1))

        See Also
        --------
        multiplications : the rest of the total.
        """
        return self.symbols.N * (self.psi * self.additions_per_filter + self.gamma)

    def simplified(self, bias: bool) -> sp.Expr:
        """The total for ``bias=True`` or ``bias=False``, simplified.

        Examples
        --------
        >>> from convops.derivation import derive
        >>> d = derive("Conv1d")
        >>> d.simplified(bias=True)
        2*C_in*C_out*L_out*N*k/g

        See Also
        --------
        total : the total as N (psi lam + gamma).
        """
        return _simplified(self.name, bool(bias))

    @cached_property
    def backward(self) -> BackwardDerivation:
        """The backward pass: :class:`~convops.backward.BackwardDerivation`.

        Examples
        --------
        >>> from convops.derivation import derive
        >>> d = derive("Conv1d")
        >>> d.backward.grad_weight.multiplications
        C_in*C_out*L_out*N*k/g

        See Also
        --------
        convops.backward.BackwardDerivation : what it holds.
        """
        return BackwardDerivation(self)

    @cached_property
    def dual(self) -> Derivation:
        """The derivation of the other kind of the same dimensions (a transposed convolution for
        a convolution, and back): the one that computes this kind's ``grad_input``.

        Examples
        --------
        >>> from convops.derivation import derive
        >>> d = derive("Conv1d")
        >>> d.dual.name
        'ConvTranspose1d'
        """
        prefix = "Conv" if self.kind.transposed else "ConvTranspose"
        return derive(f"{prefix}{self.symbols.ndim}d")

    # -- transposed additions ----------------------------------------------------------------
    @cached_property
    def A(self) -> sp.Expr | None:
        """Closed form of the additions per filter ``A`` in the per-dimension counts ``P``, ``Z``
        (transposed kinds; ``None`` otherwise).  :attr:`A_terms` defines those counts.

        Examples
        --------
        >>> from convops.derivation import derive
        >>> t = derive("ConvTranspose1d")
        >>> t.A
        P - Z

        See Also
        --------
        A_terms : the terms A is written in.
        A_explicit : A with its terms substituted.
        """
        if not self.kind.transposed:
            return None
        return additions.closed_form(self.symbols.P, self.symbols.Z)

    @cached_property
    def A_terms(self) -> dict[sp.Symbol, sp.Expr]:
        """The definitions ``A`` is written in, in order: per dimension ``s'``, ``d'`` (the
        stride and dilation divided by their gcd), ``P`` and ``Z`` (which uses ``P``).

        Examples
        --------
        >>> from convops.derivation import derive
        >>> t = derive("ConvTranspose1d")
        >>> list(t.A_terms)
        [s_reduced, d_reduced, P, Z]

        See Also
        --------
        A : the additions per filter written in these terms.
        """
        S, terms = self.symbols, {}
        for i, dim in enumerate(zip(S.size_in, S.k, S.s, S.d, S.p, S.q)):
            L, k, s, d, p, q = dim
            terms[S.s_reduced[i]], terms[S.d_reduced[i]] = additions.reduced(s, d)
            terms[S.P[i]] = additions.products_inside(*dim)
            terms[S.Z[i]] = additions.positions_reached(S.P[i], *dim, S.s_reduced[i], S.d_reduced[i])
        return terms

    @cached_property
    def A_explicit(self) -> sp.Expr | None:
        """``A`` as one expression in the layer's parameters.

        Examples
        --------
        >>> from convops.derivation import derive
        >>> t = derive("ConvTranspose1d")
        >>> t.A_explicit.free_symbols >= set(t.symbols.k)
        True

        See Also
        --------
        A : the same count, written in its terms.
        """
        if not self.kind.transposed:
            return None
        expr = self.A
        for symbol, definition in reversed(self.A_terms.items()):
            expr = expr.subs(symbol, definition)
        return expr

    # -- printing ----------------------------------------------------------------------------
    @cached_property
    def _equations(self) -> dict[str, sp.Eq]:
        S = self.symbols
        psi, lam, gamma = PSI, LAM, GAMMA
        ops = sp.Symbol(rf"\text{{{self.name}}}_{{\text{{ops}}}}")
        eqs = {f"output_size_{i}": sp.Eq(out, expr, evaluate=False)
               for i, (out, expr) in enumerate(zip(S.size_out, self.output_size))}
        eqs.update(
            psi=sp.Eq(psi, self.psi, evaluate=False),
            lam=sp.Eq(lam, sp.factor(self.lam), evaluate=False),
            gamma=sp.Eq(gamma, self.gamma, evaluate=False),
            total=sp.Eq(ops, sp.Mul(S.N, sp.Add(sp.Mul(psi, lam, evaluate=False), gamma,
                                                evaluate=False), evaluate=False), evaluate=False),
            total_bias=sp.Eq(ops, self.simplified(True), evaluate=False),
            total_no_bias=sp.Eq(ops, self.simplified(False), evaluate=False),
        )
        if self.kind.transposed:
            eqs["A"] = sp.Eq(S.A, self.A, evaluate=False)
            for i in range(S.ndim):
                for name, symbol in (("s_reduced", S.s_reduced[i]), ("d_reduced", S.d_reduced[i]),
                                     ("P", S.P[i]), ("Z", S.Z[i])):
                    eqs[f"{name}_{i}"] = sp.Eq(symbol, self.A_terms[symbol], evaluate=False)
        return eqs

    def code(self, quantity: str, language: str = "python") -> str:
        """The right-hand side of one equation (named as in :meth:`latex`) as exact integer code:
        ``"python"`` or ``"javascript"`` (BigInt, calling the functions of ``convops/runtime.js``).

        Symbols are named as in :attr:`symbols` (``C_in``, ``L_in`` …); a quantity written in
        others (``total`` in ``psi``, ``lam``, ``gamma``) needs their code too.  Divisions by
        ``g`` are exact: the caller must check that ``g`` divides both channel counts.

        Examples
        --------
        >>> from convops.derivation import derive
        >>> d = derive("Conv1d")
        >>> d.code("psi")
        'C_out*((C_in)//(g))'
        >>> d.code("output_size_0", "javascript")
        'floorDiv(L_in - d*(k - 1n) + 2n*p - 1n, s) + 1n'
        """
        from .compiler import LANGUAGES

        if language not in LANGUAGES:
            raise ConvopsError(f"language must be one of {', '.join(map(repr, LANGUAGES))}, "
                               f"got {language!r}")
        return LANGUAGES[language](equation(self._all_equations, quantity).rhs)

    def __repr__(self) -> str:
        return f"Derivation({self.name}: total = {self.total})"


@lru_cache(maxsize=None)
def _derive(name: str) -> Derivation:
    kind = KINDS[name]
    return Derivation(kind, symbols(kind.ndim))


@lru_cache(maxsize=None)
def _simplified(name: str, bias: bool) -> sp.Expr:
    d = _derive(name)
    return sp.simplify(d.total.subs(d.symbols.b, int(bias)))


def derive(kind: Kind | str | type | object) -> Derivation:
    """The symbolic derivation for ``kind``: a module class, instance, or name such as ``"Conv2d"``.

    Examples
    --------
    >>> from convops.derivation import derive
    >>> d = derive("Conv1d")
    >>> d.psi, d.gamma
    (C_in*C_out/g, C_out*L_out*(C_in/g + b - 1))
    >>> d.total.subs({d.symbols.b: 0}).equals(d.simplified(bias=False))
    True
    """
    return _derive(kind_of(kind).name)
