"""Winograd's minimal filtering algorithms F(m, r), derived with sympy from interpolation points.

F(m, r) computes ``m`` outputs of an ``r``-tap correlation (what torch's convolution computes)
from ``α = m + r - 1`` inputs with ``α`` multiplications:

.. math:: y = A^T\\left[(G g) \\odot (B^T d)\\right]

The matrices come from the Cook–Toom construction, as Andrew Lavin's wincnn builds them: the
linear convolution of two polynomials is evaluated at ``α - 1`` finite points and at infinity
(the product's leading coefficient), multiplied there, and interpolated back (Lagrange);
transposing that algorithm gives the correlation.  ``A^T`` evaluates (a Vandermonde matrix),
``B^T`` holds the interpolation's polynomials ``∏_{l≠j}(x - a_l)``, and ``G`` evaluates the
filter and carries the interpolation's denominators ``f_j = ∏_{l≠j}(a_j - a_l)``.

Nested, F(m×n, r×s) applies the 1-d matrices along each dimension and needs
``(m + r - 1)(n + s - 1)`` multiplications.

Transform costs are counted two ways: :meth:`Winograd.plain`, the matrix products as written
(a coefficient 0 is skipped, ±1 costs no multiplication; what :mod:`convops.algorithms` counts
and the book's reference executes), and :meth:`Winograd.instructions`, after sympy's
common-subexpression elimination with each multiply-add fused into one instruction, the way
Lavin & Gray (2016) count their 32, 28 and 24 for F(2×2, 3×3).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Sequence

import sympy as sp

from .errors import ConvopsError

#: The finite interpolation points tried in order (wincnn's choice: small, with small
#: reciprocals, so the matrices stay well conditioned); infinity is always the last point.
DEFAULT_POINTS: tuple[sp.Rational, ...] = tuple(sp.Rational(p) for p in (
    0, 1, -1, 2, -2, sp.Rational(1, 2), -sp.Rational(1, 2), 3, -3, sp.Rational(1, 3),
    -sp.Rational(1, 3), 4, -4, sp.Rational(1, 4), -sp.Rational(1, 4)))

TRANSFORMS = ("data", "filter", "inverse")  #: B^T, G and A^T, in the order the algorithm applies them


@dataclass(frozen=True)
class Operations:
    """Multiplications and additions (exact ints): of a transform, or of one stage of an
    algorithm (:class:`convops.algorithms.AlgorithmBreakdown`'s ``parts``).

    Examples
    --------
    >>> import convops
    >>> f = convops.winograd(2, 3)
    >>> f.plain("filter"), f.plain("filter").total
    (Operations(multiplications=6, additions=4), 10)

    See Also
    --------
    convops.winograd : the transforms whose costs these are.
    """

    multiplications: int
    additions: int

    @property
    def total(self) -> int:
        """Multiplications plus additions."""
        return self.multiplications + self.additions


def matrix_cost(matrix: sp.Matrix) -> Operations:
    """The cost of ``matrix @ v`` as written: per row, one multiplication per coefficient other
    than 0 and ±1, and one addition fewer than the row's nonzero coefficients.

    Examples
    --------
    >>> import sympy as sp
    >>> matrix_cost(sp.Matrix([[1, 0, -1], [sp.Rational(1, 2), 1, 3]]))
    Operations(multiplications=2, additions=3)
    """
    mults = adds = 0
    for i in range(matrix.rows):
        row = [c for c in matrix.row(i) if c != 0]
        mults += sum(1 for c in row if abs(c) != 1)
        adds += max(len(row) - 1, 0)
    return Operations(mults, adds)


def linear_instructions(expr: sp.Expr) -> int:
    """Instructions of a linear combination ``Σ c_i s_i`` with fused multiply-adds: one per
    addition, and one multiplication more where every term is scaled (sign changes are free).

    Examples
    --------
    >>> import sympy as sp
    >>> a, b, c = sp.symbols("a b c")
    >>> linear_instructions(a / 2 + b / 2), linear_instructions(a - b / 6 + c), linear_instructions(-a)
    (2, 2, 0)
    """
    terms = sp.Add.make_args(sp.expand(expr))
    scaled = [t for t in terms if abs(t.as_coeff_Mul()[0]) != 1]
    return len(terms) - 1 + (len(scaled) == len(terms))


def _sympy_schedule(matrix: sp.Matrix, v) -> list[tuple[sp.Symbol, sp.Expr]]:
    """sympy's :func:`~sympy.simplify.cse_main.cse`, a lone scaled term inlined."""
    replacements, reduced = sp.cse(list(matrix * sp.Matrix(v)), symbols=sp.numbered_symbols("t"))
    inlined, lines = {}, []
    for symbol, expr in replacements:
        expr = expr.xreplace(inlined)
        if len(sp.Add.make_args(expr)) == 1:
            inlined[symbol] = expr
        else:
            lines.append((symbol, expr))
    return lines + [(sp.Symbol(f"y{i}"), e.xreplace(inlined)) for i, e in enumerate(reduced)]


def _ratio(form: dict, sub: dict):
    """λ with ``form[s] == λ·sub[s]`` for every ``s`` of ``sub``, or None."""
    first = next(iter(sub))
    ratio = form[first] / sub[first] if first in form else None
    return ratio if ratio is not None and all(form.get(s) == ratio * c for s, c in sub.items()) else None


def _shared_sums(forms: list[dict], unit: bool):
    """Sub-sums (of ≥ 2 terms) two forms share up to a factor, in each one's coefficients, or
    (``unit``) scaled to a first coefficient 1."""
    for i, a in enumerate(forms):
        for b in forms[i + 1:]:
            groups: dict = {}
            for s, c in a.items():
                if s in b:
                    groups.setdefault(b[s] / c, []).append(s)
            for shared in (g for g in groups.values() if len(g) >= 2):
                for form in (a, b)[:1 if unit else 2]:
                    yield {s: form[s] / (form[shared[0]] if unit else 1) for s in shared}


def _greedy_schedule(matrix: sp.Matrix, v, unit: bool) -> list[tuple[sp.Symbol, sp.Expr]]:
    """Sub-sums shared by several rows up to a factor, the one saving most additions first."""
    forms = [{v[j]: c for j, c in enumerate(matrix.row(i)) if c != 0} for i in range(matrix.rows)]
    lines = []
    while True:
        scored = [((sum(_ratio(f, sub) is not None for f in forms) - 1) * (len(sub) - 1), i, sub)
                  for i, sub in enumerate(_shared_sums(forms, unit))]
        if not scored:
            break
        sub = max(scored, key=lambda item: (item[0], -item[1]))[2]
        t = sp.Symbol(f"t{len(lines)}")
        lines.append((t, sum(c * s for s, c in sub.items())))
        for form in forms:
            ratio = _ratio(form, sub)
            if ratio is not None:
                for s in sub:
                    del form[s]
                form[t] = ratio
    return lines + [(sp.Symbol(f"y{i}"), sum(c * s for s, c in f.items())) for i, f in enumerate(forms)]


def cse_schedule(matrix: sp.Matrix) -> list[tuple[sp.Symbol, sp.Expr, int]]:
    """The program :func:`matrix_instructions` counts for ``matrix @ v``: ``(name, expression,
    instructions)`` lines, the shared sums (``t0``, ``t1`` …) and then each output (``y0`` …).

    Common-subexpression eliminations are tried, and the shortest program kept: sympy's
    :func:`~sympy.cse`, and a greedy search for sub-sums that several rows share up to a factor
    (``v3 + v4`` in ``v0 + … + v3 + v4`` and ``… + 4·v3 + 4·v4``), with each row's coefficients
    or scaled to a first coefficient 1.  A lone scaled term is fused
    into the multiply-adds that use it.

    Examples
    --------
    >>> import sympy as sp
    >>> half = sp.Rational(1, 2)
    >>> for line in cse_schedule(sp.Matrix([[1, 0, 0], [half, half, half], [half, -half, half]])):
    ...     print(*line)
    t1 v0/2 + v2/2 2
    y0 v0 0
    y1 t1 + v1/2 1
    y2 t1 - v1/2 1
    """
    v = sp.symbols(f"v0:{matrix.cols}")
    schedules = (_sympy_schedule(matrix, v), _greedy_schedule(matrix, v, False),
                 _greedy_schedule(matrix, v, True))
    programs = [[(n, e, linear_instructions(e)) for n, e in lines] for lines in schedules]
    return min(programs, key=lambda lines: sum(n for _, _, n in lines))


def matrix_instructions(matrix: sp.Matrix) -> int:
    """Floating-point instructions of ``matrix @ v`` after sympy's common-subexpression
    elimination, a multiply-add counted once (Lavin & Gray's counting): the sum over
    :func:`cse_schedule`.

    Examples
    --------
    >>> import sympy as sp
    >>> half = sp.Rational(1, 2)
    >>> matrix_instructions(sp.Matrix([[1, 0, 0], [half, half, half], [half, -half, half], [0, 0, 1]]))
    4
    """
    return sum(n for _, _, n in cse_schedule(matrix))


@dataclass(frozen=True)
class Winograd:
    """F(m, r), one dimension: the matrices ``AT`` (m×α), ``G`` (α×r) and ``BT`` (α×α).

    ``points`` are the finite interpolation points used (infinity is the last point).
    """

    m: int
    r: int
    points: tuple[sp.Rational, ...]
    AT: sp.Matrix
    G: sp.Matrix
    BT: sp.Matrix

    @property
    def alpha(self) -> int:
        """The input tile, ``m + r - 1``: also the number of multiplications."""
        return self.m + self.r - 1

    @property
    def multiplications(self) -> int:
        """Elementwise multiplications per tile, ``m + r - 1``."""
        return self.alpha

    def matrix(self, transform: str) -> sp.Matrix:
        """The matrix of ``transform``: ``"data"`` (BT), ``"filter"`` (G) or ``"inverse"`` (AT)."""
        return {"data": self.BT, "filter": self.G, "inverse": self.AT}[transform]

    def plain(self, transform: str) -> Operations:
        """The cost of ``transform`` as a matrix product (:func:`matrix_cost`).

        Examples
        --------
        >>> import convops
        >>> convops.winograd(2, 3).plain("data")
        Operations(multiplications=0, additions=4)

        See Also
        --------
        instructions : the paper's way of counting, after CSE.
        """
        return matrix_cost(self.matrix(transform))

    def instructions(self, transform: str) -> int:
        """Instructions of ``transform`` after CSE, multiply-adds fused (:func:`matrix_instructions`).

        Examples
        --------
        >>> import convops
        >>> convops.winograd(2, 3).instructions("filter")
        4

        See Also
        --------
        plain : the matrix product as written.
        """
        return matrix_instructions(self.matrix(transform))

    def correlation(self) -> sp.Matrix:
        """``AT[(G g) ⊙ (BT d)]`` for symbolic ``g`` and ``d``, simplified (equal to the
        correlation ``y_i = Σ_k g_k d_{i+k}`` exactly when the matrices are right).

        Examples
        --------
        >>> import convops
        >>> convops.winograd(2, 3).correlation()
        Matrix([
        [d0*g0 + d1*g1 + d2*g2],
        [d1*g0 + d2*g1 + d3*g2]])
        """
        d = sp.Matrix(sp.symbols(f"d0:{self.alpha}"))
        g = sp.Matrix(sp.symbols(f"g0:{self.r}"))
        return (self.AT * (self.G * g).multiply_elementwise(self.BT * d)).applyfunc(sp.expand)


def _coefficients(roots) -> list[Fraction]:
    """The coefficients of ``∏ (x - b)`` over ``roots``, lowest power first."""
    c = [Fraction(1)]
    for b in roots:
        c = [Fraction(0)] + c  # x times the product so far, less b times it
        for i in range(len(c) - 1):
            c[i] -= b * c[i + 1]
    return c


def _product(values) -> Fraction:
    result = Fraction(1)
    for v in values:
        result *= v
    return result


def _rational(value: Fraction) -> sp.Rational:
    return sp.Rational(value.numerator, value.denominator)


@lru_cache(maxsize=None)
def _one(m: int, r: int, points: tuple[sp.Rational, ...] | None) -> Winograd:
    alpha = m + r - 1
    if points is None:
        if alpha - 1 > len(DEFAULT_POINTS):
            raise ConvopsError(f"F({m}, {r}) needs {alpha - 1} finite points; the default list has "
                               f"{len(DEFAULT_POINTS)}: pass points=")
        points = DEFAULT_POINTS[:alpha - 1]
    if len(points) != alpha - 1 or len(set(points)) != len(points):
        raise ConvopsError(f"points={points!r}: F({m}, {r}) needs {alpha - 1} distinct finite "
                           "points (infinity is added as the last)")
    q = [Fraction(int(p.p), int(p.q)) for p in points]  # exact, and fast for the site's tables
    f = [_product(a - b for b in q if b != a) for a in q]
    sign = -1 if f and f[0] < 0 else 1  # wincnn's convention: a positive first denominator
    f = [sign * f[0], *f[1:]] if f else f
    rows = [[sign ** (j == 0) * c for c in _coefficients([b for b in q if b != a])] + [0]
            for j, a in enumerate(q)] + [_coefficients(q)]
    BT = sp.Matrix([[_rational(Fraction(c)) for c in row] for row in rows])
    G = sp.Matrix([[_rational(a ** k / fa) for k in range(r)] for a, fa in zip(q, f)]
                  + [[int(k == r - 1) for k in range(r)]])
    AT = sp.Matrix([[_rational(a ** i) for a in q] + [int(i == m - 1)] for i in range(m)])
    return Winograd(m, r, tuple(points), AT, G, BT)


def nested_lines(transform: str, m: Sequence, r: Sequence) -> tuple:
    """How many 1-d transforms each dimension's pass of ``transform`` applies to one tile of
    F(m₀×…, r₀×…): dimension ``i`` after the dimensions before it, whose sizes are already
    transformed (numbers or sympy symbols).

    Examples
    --------
    >>> nested_lines("filter", (2, 2), (3, 3)), nested_lines("inverse", (2, 2), (3, 3))
    ((3, 4), (4, 2))
    """
    alpha = [a + b - 1 for a, b in zip(m, r)]
    before = {"data": alpha, "filter": alpha, "inverse": list(m)}[transform]
    after = {"data": alpha, "filter": list(r), "inverse": alpha}[transform]
    return tuple(sp.prod(before[:i]) * sp.prod(after[i + 1:]) for i in range(len(alpha)))


def nested_cost(transform: str, m: Sequence, r: Sequence, costs: Sequence) -> tuple:
    """``(multiplications, additions)`` of a nested ``transform`` from each dimension's 1-d
    ``costs`` (pairs, or :class:`Operations`), numbers or sympy."""
    lines = nested_lines(transform, m, r)
    pairs = [(c.multiplications, c.additions) if isinstance(c, Operations) else c for c in costs]
    return (sum(n * c[0] for n, c in zip(lines, pairs)), sum(n * c[1] for n, c in zip(lines, pairs)))


@dataclass(frozen=True)
class NestedWinograd:
    """F(m₀×m₁…, r₀×r₁…): the 1-d algorithms of each dimension (``dims``), applied along each
    dimension in turn."""

    dims: tuple[Winograd, ...]

    @property
    def m(self) -> tuple[int, ...]:
        return tuple(w.m for w in self.dims)

    @property
    def r(self) -> tuple[int, ...]:
        return tuple(w.r for w in self.dims)

    @property
    def alpha(self) -> tuple[int, ...]:
        return tuple(w.alpha for w in self.dims)

    @property
    def AT(self) -> tuple[sp.Matrix, ...]:
        return tuple(w.AT for w in self.dims)

    @property
    def G(self) -> tuple[sp.Matrix, ...]:
        return tuple(w.G for w in self.dims)

    @property
    def BT(self) -> tuple[sp.Matrix, ...]:
        return tuple(w.BT for w in self.dims)

    @property
    def multiplications(self) -> int:
        """Elementwise multiplications per tile, ``∏(m_i + r_i - 1)``."""
        return sp.prod(self.alpha)

    def lines(self, transform: str) -> tuple[int, ...]:
        """How many 1-d transforms each dimension's pass applies to a tile (:func:`nested_lines`)."""
        return tuple(int(n) for n in nested_lines(transform, self.m, self.r))

    def plain(self, transform: str) -> Operations:
        """The tile's ``transform`` as 1-d matrix products along each dimension (:func:`matrix_cost`).

        Examples
        --------
        >>> import convops
        >>> convops.winograd((2, 2), (3, 3)).plain("data")  # Lavin & Gray: 32 additions
        Operations(multiplications=0, additions=32)
        """
        return Operations(*nested_cost(transform, self.m, self.r, [w.plain(transform) for w in self.dims]))

    def instructions(self, transform: str) -> int:
        """The tile's ``transform`` in instructions, each 1-d pass after CSE (:func:`matrix_instructions`)."""
        return sum(n * w.instructions(transform) for n, w in zip(self.lines(transform), self.dims))


def winograd(m: int | Sequence[int], r: int | Sequence[int],
             points: Sequence | None = None) -> Winograd | NestedWinograd:
    """F(m, r) (ints) or the nested F(m₀×…, r₀×…) (tuples of 1 to 3 ints), derived from
    interpolation points: :data:`DEFAULT_POINTS` (0, ±1, ±2, ±1/2, …) and infinity, or the
    finite ``points`` given (for a nested algorithm, one sequence per dimension).

    Examples
    --------
    >>> from convops import winograd
    >>> f = winograd(2, 3)
    >>> f.BT.tolist(), f.AT.tolist()
    ([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, -1, 0, 1]], [[1, 1, 1, 0], [0, 1, -1, 1]])
    >>> f.G.tolist()
    [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
    >>> f.correlation().T
    Matrix([[d0*g0 + d1*g1 + d2*g2, d1*g0 + d2*g1 + d3*g2]])
    >>> w = winograd((2, 2), (3, 3))
    >>> w.multiplications, [w.instructions(t) for t in ("data", "filter", "inverse")]
    (16, [32, 28, 24])
    """
    nested = not isinstance(m, int) or not isinstance(r, int)
    ms, rs = _sizes(m, "m"), _sizes(r, "r")
    if len(ms) != len(rs):
        raise ConvopsError(f"m={m!r} and r={r!r} must have the same length")
    if points is not None and not nested:
        points = [points]
    chosen = [None] * len(ms) if points is None else list(points)
    if len(chosen) != len(ms):
        raise ConvopsError(f"points: one sequence per dimension, {len(ms)} needed")
    dims = tuple(_one(a, b, None if p is None else tuple(sp.nsimplify(x) for x in p))
                 for a, b, p in zip(ms, rs, chosen))
    return NestedWinograd(dims) if nested else dims[0]


def _sizes(value, name: str) -> tuple[int, ...]:
    values = (value,) if isinstance(value, int) else tuple(value) if isinstance(value, (tuple, list)) else ()
    if not 1 <= len(values) <= 3 or not all(isinstance(v, int) and not isinstance(v, bool)
                                           and v >= 1 for v in values):
        raise ConvopsError(f"{name}={value!r} must be a positive int or a tuple of 1 to 3 of them")
    return values
