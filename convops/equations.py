"""The equations of a derivation, printed: one scaffold for the forward
(:class:`~convops.derivation.Derivation`) and the backward
(:class:`~convops.backward.BackwardDerivation`), and the functions it is made of: one equation
by name, its LaTeX, and a family of per-dimension equations as one in a generic dimension."""

from __future__ import annotations

from functools import cached_property

import sympy as sp

from .errors import ConvopsError
from .symbols import Symbols, indexed_symbols, latex, per_dimension


class Equations:
    """The printed equations of a derivation, the scaffold the forward
    (:class:`~convops.derivation.Derivation`) and the backward
    (:class:`~convops.backward.BackwardDerivation`) share: a subclass has :attr:`symbols` and
    computes ``_equations``, its formulas as sympy equations keyed by quantity (a per-dimension
    family as ``key_0``, ``key_1`` …), once.

    Examples
    --------
    >>> import convops
    >>> d = convops.derive("Conv2d")
    >>> list(d.equations())[:3], list(d.indexed_equations())[:2]
    (['output_size_0', 'output_size_1', 'psi'], ['output_size', 'psi'])
    >>> print(d.latex("output_size"))
    L_{\\text{out},i} = \\left\\lfloor{\\frac{L_{\\text{in},i} - d_{i} \\left(k_{i} - 1\\right) + 2 p_{i} - 1}{s_{i}}}\\right\\rfloor + 1

    See Also
    --------
    indexed : a family of per-dimension equations as one, in a generic dimension ``i``.
    equation_latex : one equation's LaTeX, or a refusal naming the known quantities.
    """

    symbols: Symbols

    def equations(self) -> dict[str, sp.Eq]:
        """Every formula as a sympy equation, in the order of the derivation (a copy: the
        cached one is shared).

        Examples
        --------
        >>> import convops
        >>> list(convops.derive('Conv1d').equations())[:3]
        ['output_size_0', 'psi', 'lam']

        See Also
        --------
        indexed_equations : the per-dimension families as one.
        """
        return dict(self._equations)

    def indexed_equations(self) -> dict[str, sp.Eq]:
        """:meth:`equations` with each family of per-dimension equations (``output_size_0``,
        ``output_size_1`` …) as one equation in a generic dimension ``i``, keyed without the
        index (``output_size``): dimension 0's, its symbols renamed to those of
        :func:`indexed_symbols` (for one dimension, the equation itself).

        Examples
        --------
        >>> import convops
        >>> list(convops.derive('Conv2d').indexed_equations())[:2]
        ['output_size', 'psi']

        See Also
        --------
        equations : every equation, per dimension.
        """
        return dict(self._indexed_equations)

    def latex(self, quantity: str) -> str:
        r"""LaTeX of one equation of :meth:`equations` or :meth:`indexed_equations`, its symbols
        in reading order.

        Examples
        --------
        >>> import convops
        >>> print(convops.derive('Conv1d').latex('psi'))
        \psi = \frac{C_{\text{in}} C_{\text{out}}}{g}
        """
        return equation_latex(self._all_equations, quantity)

    @cached_property
    def _indexed_equations(self) -> dict[str, sp.Eq]:
        return indexed(self.symbols, self._equations)

    @cached_property
    def _all_equations(self) -> dict[str, sp.Eq]:
        return {**self._equations, **self._indexed_equations}


def equation_latex(equations: dict[str, sp.Eq], quantity: str) -> str:
    """LaTeX of ``equations[quantity]``; :class:`ConvopsError` naming the known quantities.

    Examples
    --------
    >>> import sympy as sp
    >>> from convops.equations import equation_latex
    >>> from convops.symbols import symbols
    >>> S = symbols(1)
    >>> print(equation_latex({"q": sp.Eq(S.q[0], S.k[0] - 1)}, "q"))
    q = k - 1
    """
    return latex(equation(equations, quantity))


def equation(equations: dict[str, sp.Eq], quantity: str) -> sp.Eq:
    """``equations[quantity]``; :class:`ConvopsError` naming the known quantities.

    Examples
    --------
    >>> import sympy as sp
    >>> from convops.equations import equation
    >>> from convops.symbols import symbols
    >>> S = symbols(1)
    >>> equation({"q": sp.Eq(S.q[0], S.k[0] - 1)}, "lambda")
    Traceback (most recent call last):
    ...
    convops.errors.ConvopsError: quantity must be one of q, got 'lambda'
    """
    if quantity not in equations:
        raise ConvopsError(f"quantity must be one of {', '.join(equations)}, got {quantity!r}")
    return equations[quantity]


def indexed(S: Symbols, equations: dict[str, sp.Eq]) -> dict[str, sp.Eq]:
    """``equations`` (keyed as :meth:`~convops.derivation.Derivation.equations`, in the symbols ``S``) with each family
    of per-dimension equations (``key_0``, ``key_1`` …) as one equation keyed ``key``: dimension
    0's, its symbols renamed to those of :func:`convops.symbols.indexed_symbols` (for one
    dimension, the equation itself); the other equations as they are, in the same order.

    Examples
    --------
    >>> import sympy as sp
    >>> from convops.equations import indexed
    >>> from convops.symbols import symbols
    >>> S = symbols(2)
    >>> eqs = {f"q_{i}": sp.Eq(q, k - 1) for i, (q, k) in enumerate(zip(S.q, S.k))}
    >>> indexed(S, eqs)
    {'q': Eq(q_i, k_i - 1)}
    """
    generic = {} if S.ndim == 1 else per_dimension(S, 0, indexed_symbols())
    result = {}
    for key, eq in equations.items():
        family, _, index = key.rpartition("_")
        if index.isdigit():
            if index == "0":
                result[family] = eq.xreplace(generic)
        else:
            result[key] = eq
    return result
