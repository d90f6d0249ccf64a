r"""The additions per filter of a transposed convolution, in closed form.

A transposed convolution multiplies every input element by every kernel tap and scatters each
product to output position :math:`o = i s + j d - p` (input index ``i``, tap ``j``).  Where
:math:`n_o` products land on the same position they are summed, which takes
:math:`n_o - 1` additions, so the additions per filter are

.. math:: A = \sum_o \max(n_o - 1, 0) = \sum_o n_o - \#\{o : n_o \ge 1\}

over the positions kept in the output.  Both sums factor over the spatial dimensions (a product
lands on ``o`` exactly when it lands on every coordinate of ``o``), so
:math:`A = \prod_d P_d - \prod_d Z_d` with, per dimension, :math:`P` the products that land inside
the output and :math:`Z` the output positions that receive at least one.

Both reduce to one lattice count, :math:`F(T)`, the number of pairs ``(i, j)`` with
:math:`i s + j d < T`: ``padding`` crops :math:`F(p)` products from the start and, by the
symmetry :math:`(i, j) \mapsto (L-1-i, k-1-j)`, :math:`F(p - q)` from the end.  Two pairs land on
the same position exactly when they differ by a multiple of :math:`(d', -s')` with
:math:`s' = s/\gcd(s, d)`, :math:`d' = d/\gcd(s, d)`; counting one pair per position gives the
positions reached.  :math:`F` is a floor sum, evaluated exactly in :math:`O(\log)` steps, so ``A``
costs nothing that grows with the input or the kernel.
"""

from __future__ import annotations

import math
from typing import Sequence, Union

import sympy as sp

#: A size or parameter: an int, or a sympy expression of one.
Size = Union[int, sp.Expr]


def floor_sum(n: int, m: int, a: int, b: int) -> int:
    """``sum(floor((a*t + b) / m) for t in range(n))`` for ``n, a, b >= 0``, ``m >= 1``.

    Euclid-like reduction: each step swaps the roles of ``m`` and ``a``, so it takes
    :math:`O(\\log m)` steps.  The algorithm is ``floor_sum`` of the AtCoder Library
    (``atcoder/math.hpp``, released under CC0), restricted to non-negative ``a`` and ``b``.

    Examples
    --------
    >>> from convops.additions import floor_sum
    >>> floor_sum(5, 3, 2, 1), sum((2 * t + 1) // 3 for t in range(5))
    (7, 7)
    """
    total = 0
    while True:
        if a >= m:
            total += n * (n - 1) // 2 * (a // m)
            a %= m
        if b >= m:
            total += n * (b // m)
            b %= m
        y_max = a * n + b
        if y_max < m:
            return total
        n, b = divmod(y_max, m)
        m, a = a, m


def lattice_count(L: int, k: int, s: int, d: int, T: int) -> int:
    """Number of pairs ``(i, j)``, ``0 <= i < L``, ``0 <= j < k``, with ``i*s + j*d < T``.

    Zero when ``L`` or ``k`` is not positive.

    Examples
    --------
    >>> from convops.additions import lattice_count
    >>> lattice_count(4, 3, 2, 1, 5), sum(i * 2 + j < 5 for i in range(4) for j in range(3))
    (7, 7)
    """
    if L <= 0 or k <= 0 or T <= 0:
        return 0
    if T <= s and T <= d:  # only i = j = 0
        return 1
    if T > (L - 1) * s + (k - 1) * d:
        return L * k
    # Taps j with j*d < T contribute ceil((T - j*d) / s) inputs each, at most L.
    taps = min(k, -(-T // d))
    full_taps = min(taps, max(0, -(-(T - (L - 1) * s) // d)))
    # The partial taps, counted backwards from the last one, form a floor sum.
    partial = taps - full_taps
    return full_taps * L + floor_sum(partial, s, d, T + s - 1 - (taps - 1) * d)


def saturation(k: int, s: int, d: int, T: int) -> int:
    """An input size ``L*`` from which ``lattice_count(L, k, s, d, T)`` no longer grows with ``L``.

    A pair with ``i*s + j*d < T`` has ``i < ceil(T / s)``, so every ``L >= ceil(T / s)`` counts
    the same pairs.  When no pair can count (``k`` or ``T`` not positive) the count is 0 for
    every ``L`` and so is ``L*``.

    Examples
    --------
    >>> from convops.additions import lattice_count, saturation
    >>> saturation(3, 2, 1, 7), [lattice_count(L, 3, 2, 1, 7) for L in (3, 4, 5, 6)]
    (4, [9, 10, 10, 10])
    """
    if k <= 0 or T <= 0:
        return 0
    return -(-T // s)


class LatticeCount(sp.Function):
    r""":math:`F_{L,k,s,d}(T)`: pairs ``(i, j)`` in ``[0, L) x [0, k)`` with :math:`i s + j d < T`.

    An integer, never negative, as sympy is told (so ``floor`` of it is itself); it evaluates at
    integer arguments (:func:`lattice_count`) and rewrites as the double sum it counts.

    Examples
    --------
    >>> import sympy as sp
    >>> from convops.additions import LatticeCount, lattice_count
    >>> L, k, s, d, T = sp.symbols("L k s d T", integer=True, positive=True)
    >>> F = LatticeCount(L, k, s, d, T)
    >>> sp.floor(F) == F, F.is_nonnegative
    (True, True)
    >>> values = {L: 4, k: 3, s: 2, d: 1, T: 5}
    >>> F.rewrite(sp.Sum).subs(values).doit(), F.subs(values), lattice_count(4, 3, 2, 1, 5)
    (7, 7, 7)

    See Also
    --------
    lattice_count : the count at ints, in O(log) steps.
    lattice_count_definition : the defining sum, with its indices named.
    Saturation : the input size from which the count stops growing.
    """

    nargs = 5
    is_integer = True
    is_nonnegative = True

    @classmethod
    def eval(cls, L: sp.Expr, k: sp.Expr, s: sp.Expr, d: sp.Expr, T: sp.Expr) -> sp.Expr | None:
        """The count for integer arguments, 0 where ``T`` cannot be positive; else unevaluated."""
        if all(arg.is_Integer for arg in (L, k, s, d, T)):
            return sp.Integer(lattice_count(*map(int, (L, k, s, d, T))))
        if T.is_nonpositive:
            return sp.S.Zero
        return None

    def _eval_rewrite_as_Sum(self, L, k, s, d, T, **kwargs):
        r"""The count as what it counts: :math:`\sum_m \sum_j [\,m s + j d < T\,]`."""
        m, j = sp.Dummy("m", integer=True, nonnegative=True), \
            sp.Dummy("j", integer=True, nonnegative=True)
        return sp.Sum(Iverson(sp.StrictLessThan(m * s + j * d, T)), (m, 0, L - 1), (j, 0, k - 1))

    def _latex(self, printer):
        L, k, s, d, T = (printer._print(arg) for arg in self.args)
        return rf"F_{{{L},\,{k}}}^{{{s},\,{d}}}\left({T}\right)"


class Iverson(sp.Function):
    r""":math:`[\,\text{condition}\,]`: 1 where the condition holds, 0 where it does not.

    A conjunction is printed one condition a line, so that a bracket over every dimension stays
    as narrow as one dimension's condition.

    Examples
    --------
    >>> import sympy as sp
    >>> from convops.additions import Iverson
    >>> i, j = sp.symbols("i j", integer=True)
    >>> Iverson(sp.Eq(i, 1)).subs(i, 1), Iverson(sp.Eq(i, 1)).subs(i, 2)
    (1, 0)
    >>> print(sp.latex(Iverson(sp.And(sp.Eq(i, 1), sp.Eq(j, 2)))))
    \left[\begin{array}{l} i = 1 \wedge\\ j = 2 \end{array}\right]
    """

    nargs = 1
    is_integer = True

    @classmethod
    def eval(cls, condition: sp.Basic) -> sp.Expr | None:
        """1 or 0 once ``condition`` is decided; else unevaluated."""
        if condition in (sp.true, sp.false):
            return sp.Integer(condition == sp.true)
        return None

    def _latex(self, printer):
        condition = self.args[0]
        if not isinstance(condition, sp.And):
            return rf"\left[{printer._print(condition)}\right]"
        rows = r" \wedge\\ ".join(printer._print(c) for c in sorted(condition.args,
                                                                      key=sp.default_sort_key))
        return rf"\left[\begin{{array}}{{l}} {rows} \end{{array}}\right]"


def lattice_count_definition() -> sp.Eq:
    r"""The definition of :math:`F`, the lattice count :class:`LatticeCount` evaluates:
    :math:`F_{L,k}^{s,d}(T) = \sum_{m=0}^{L-1} \sum_{j=0}^{k-1} [\,m s + j d < T\,]`.  The input
    index is ``m``, not ``i``: on the pages ``i`` is the spatial dimension.

    Examples
    --------
    >>> from convops.additions import lattice_count, lattice_count_definition
    >>> definition = lattice_count_definition()
    >>> L, k, s, d, T = sorted(definition.lhs.free_symbols, key=definition.lhs.args.index)
    >>> values = {L: 4, k: 3, s: 2, d: 1, T: 5}
    >>> definition.rhs.subs(values).doit(), lattice_count(4, 3, 2, 1, 5)
    (7, 7)
    """
    L, k, s, d = sp.symbols("L k s d", integer=True, positive=True)
    T = sp.Symbol("T", integer=True)
    count = LatticeCount(L, k, s, d, T)
    total = count.rewrite(sp.Sum)
    (m, *_), (j, *_) = total.limits
    named = {m: sp.Symbol("m", integer=True, nonnegative=True),
             j: sp.Symbol("j", integer=True, nonnegative=True)}
    return sp.Eq(count, total.xreplace(named), evaluate=False)


class Saturation(sp.Function):
    """:func:`saturation` as a sympy function.

    Examples
    --------
    >>> from convops.additions import Saturation, saturation
    >>> Saturation(3, 2, 1, 7), saturation(3, 2, 1, 7)
    (4, 4)

    See Also
    --------
    saturation : the same at ints.
    LatticeCount : the count it saturates.
    """

    nargs = 4
    is_integer = True

    @classmethod
    def eval(cls, k: sp.Expr, s: sp.Expr, d: sp.Expr, T: sp.Expr) -> sp.Expr | None:
        """:func:`saturation` for integer arguments; else unevaluated."""
        if all(arg.is_Integer for arg in (k, s, d, T)):
            return sp.Integer(saturation(*map(int, (k, s, d, T))))
        return None


class Gcd(sp.Function):
    """Greatest common divisor of two positive integers (sympy's ``gcd`` is the polynomial one).

    Examples
    --------
    >>> from convops.additions import Gcd
    >>> import sympy as sp
    >>> Gcd(12, 18), Gcd(sp.Symbol('x'), sp.Symbol('x'))
    (6, x)
    """

    nargs = 2
    is_integer = True
    is_positive = True

    @classmethod
    def eval(cls, a: sp.Expr, b: sp.Expr) -> sp.Expr | None:
        """The gcd of two integers, or of a value with itself; else unevaluated."""
        if a.is_Integer and b.is_Integer:
            return sp.Integer(math.gcd(int(a), int(b)))
        if a == b:
            return a
        return None

    def _latex(self, printer):
        a, b = (printer._print(arg) for arg in self.args)
        return rf"\gcd\left({a}, {b}\right)"


#: Python implementations of the functions above, for compiling expressions to integer code.
NUMERIC_FUNCTIONS = {"LatticeCount": lattice_count, "Saturation": saturation, "Gcd": math.gcd}


def products_inside(L: Size, k: Size, s: Size, d: Size, p: Size, q: Size) -> sp.Expr:
    """:math:`P`: products that land inside the output along one dimension.

    Arguments are sympy expressions or ints: input size, kernel size, stride, dilation, padding,
    output_padding.  ``padding`` crops :math:`F(p)` products from the start and
    :math:`F(p - q)` from the end.

    Examples
    --------
    >>> from convops.additions import products_inside
    >>> products_inside(4, 3, 2, 1, 1, 1)  # 12 products, one cropped at the start
    11
    """
    return L * k - LatticeCount(L, k, s, d, p) - LatticeCount(L, k, s, d, p - q)


def reduced(s: Size, d: Size) -> tuple[sp.Expr, sp.Expr]:
    r""":math:`s' = s / \gcd(s, d)` and :math:`d' = d / \gcd(s, d)`.

    Examples
    --------
    >>> from convops.additions import reduced
    >>> reduced(4, 6)
    (2, 3)
    """
    gcd = Gcd(s, d)
    return s / gcd, d / gcd


def positions_reached(P: Size, L: Size, k: Size, s: Size, d: Size, p: Size, q: Size,
                      s_reduced: Size, d_reduced: Size) -> sp.Expr:
    r""":math:`Z`: output positions reached by at least one product, given :math:`P`.

    Two pairs land on the same position exactly when they differ by a multiple of
    :math:`(d', -s')`.  Of the pairs landing inside, those with a predecessor
    :math:`(i - d', j + s')` in the box land where another pair already did; they form the box
    :math:`[0, L - d') \times [0, k - s')` shifted by :math:`s d' = \operatorname{lcm}(s, d)`,
    less the ones that padding crops.

    Examples
    --------
    >>> from convops.additions import positions_reached, products_inside
    >>> # L=4, k=3, s=2, d=1, no padding: positions 0..8 are all reached
    >>> positions_reached(products_inside(4, 3, 2, 1, 0, 0), 4, 3, 2, 1, 0, 0, 2, 1)
    9
    """
    lcm = s * d_reduced

    def repeated(T):
        return LatticeCount(L - d_reduced, k - s_reduced, s, d, T - lcm)

    return P - sp.Max(L - d_reduced, 0) * sp.Max(k - s_reduced, 0) + repeated(p) + repeated(p - q)


def closed_form(P: Sequence[Size], Z: Sequence[Size]) -> sp.Expr:
    r""":math:`A = \prod_d P_d - \prod_d Z_d` from the per-dimension counts.

    Examples
    --------
    >>> from convops.additions import closed_form
    >>> closed_form((12, 5), (9, 5))  # 60 products land on 45 positions: 15 additions
    15
    """
    return sp.Mul(*P) - sp.Mul(*Z)


def beyond_saturation(expr: sp.Expr, L: sp.Symbol) -> tuple[sp.Expr, sp.Expr]:
    r"""``(threshold, form)``: for every input size ``L >= threshold``, ``expr`` equals ``form``.

    ``expr`` is a per-dimension count such as :math:`P` or :math:`Z`, in which ``L`` appears
    linearly, inside lattice counts :math:`F_{L+c,\dots}` and inside :math:`\max(a, L + c)`.
    From :math:`L + c` = :func:`saturation` on, a lattice count is the constant it tends to, and
    from :math:`L + c = a` on, the maximum is :math:`L + c`, so ``form`` is affine in ``L`` with
    coefficients that depend on the layer only.

    Examples
    --------
    >>> import sympy as sp
    >>> from convops.additions import beyond_saturation, products_inside
    >>> L = sp.Symbol("L", integer=True, positive=True)
    >>> threshold, form = beyond_saturation(products_inside(L, 3, 2, 1, 1, 0), L)
    >>> threshold, form
    (1, 3*L - 2)
    >>> [products_inside(n, 3, 2, 1, 1, 0) for n in (1, 2, 3)], [form.subs(L, n) for n in (1, 2, 3)]
    ([1, 4, 7], [1, 4, 7])
    """
    bounds = []

    def offset(size):  # c in size = L + c
        c = sp.expand(size - L)
        return c if L not in c.free_symbols else None

    def saturated_count(size, *rest):
        c = offset(size)
        if c is None or any(L in arg.free_symbols for arg in rest):
            return LatticeCount(size, *rest)
        bound = Saturation(*rest)
        bounds.append(bound - c)
        return LatticeCount(bound, *rest)

    def saturated_max(*args):
        growing = [arg for arg in args if L in arg.free_symbols]
        if len(args) != 2 or len(growing) != 1 or offset(growing[0]) is None:
            return sp.Max(*args)
        (constant,) = set(args) - set(growing)
        bounds.append(constant - offset(growing[0]))
        return growing[0]

    form = expr.replace(LatticeCount, saturated_count).replace(sp.Max, saturated_max)
    return sp.Max(*bounds) if bounds else sp.S.NegativeInfinity, form
