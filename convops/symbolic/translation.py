"""Torch's size expressions in the user's symbols and sympy's own functions.

A symbolic trace sees every size as torch's sympy expression of its own symbols, written with
torch's size functions (``FloorDiv``, ``CeilToInt``, ``PythonMod`` …, in
``torch.utils._sympy.functions``).  :class:`Translator` rewrites them in the user's names
(``H``, ``W`` …) and in sympy's ``floor``, ``Mod``, ``Max`` …, through one table,
:data:`TORCH_FUNCTIONS`, with an entry for every size function torch can put in a shape: a
function torch has that the table does not name is refused, never passed on.
"""

from __future__ import annotations

from functools import lru_cache

import sympy as sp
import torch.utils._sympy.functions as torch_sympy
from torch.fx.experimental.symbolic_shapes import ShapeEnv

from ..capture import META_LIMITS
from ..errors import ConvopsError


def floor(x: sp.Expr) -> sp.Expr:
    """``floor(x)``, its argument expanded (so that floors of equal values are one expression).

    Examples
    --------
    >>> import sympy as sp
    >>> from convops.symbolic.translation import floor
    >>> H = sp.Symbol('H', integer=True, positive=True)
    >>> floor((H - 3) / 2), floor(sp.Rational(7, 2))
    (floor(H/2 - 3/2), 3)

    See Also
    --------
    ceiling : the other rounding, as a floor.
    """
    return sp.floor(sp.expand(x))


def ceiling(x: sp.Expr) -> sp.Expr:
    """``ceiling(x)`` written as a floor, ``-floor(-x)``: one function for both.

    Examples
    --------
    >>> import sympy as sp
    >>> from convops.symbolic.translation import ceiling
    >>> H = sp.Symbol('H', integer=True, positive=True)
    >>> ceiling(H / 3), ceiling(sp.Rational(7, 2))
    (-floor(-H/3), 4)

    See Also
    --------
    floor : the other rounding.
    """
    return -floor(-x)


def truncate(x: sp.Expr) -> sp.Expr:
    """``x`` rounded toward zero, as Python's ``int(x)`` and ``math.trunc``.

    Examples
    --------
    >>> import sympy as sp
    >>> from convops.symbolic.translation import truncate
    >>> truncate(sp.Rational(-7, 2)), truncate(sp.Rational(7, 2)), truncate(sp.Symbol('H', positive=True) / 2)
    (-3, 3, floor(H/2))

    See Also
    --------
    round_half_even : Python's round.
    """
    return sp.Piecewise((floor(x), x >= 0), (ceiling(x), True))


def round_half_even(x: sp.Expr) -> sp.Expr:
    """``x`` rounded to the nearest integer, a tie to the even one, as Python's ``round(x)``.

    Examples
    --------
    >>> import sympy as sp
    >>> from convops.symbolic.translation import round_half_even
    >>> [round_half_even(sp.Rational(n, 2)) for n in (1, 3, 5, -1)], [round(n / 2) for n in (1, 3, 5, -1)]
    ([0, 2, 2, 0], [0, 2, 2, 0])

    See Also
    --------
    truncate : Python's int.
    """
    nearest = floor(x + sp.S.Half)
    tie_to_odd = sp.Eq(sp.Mod(x + sp.S.Half, 2), 1)  # x + 1/2 an odd integer: x = 2m + 1/2
    return sp.Piecewise((nearest - 1, tie_to_odd), (nearest, True))


def _power(base: sp.Expr, exponent: sp.Expr) -> sp.Expr:
    if not exponent.is_integer:
        raise ConvopsError(f"a size raised to the power {exponent}: convops counts sizes that are "
                           "integers, exactly; a fractional power is not one")
    return base ** exponent


#: Each of torch's size functions with a sympy form, as a function of its translated arguments.
#: Torch's floats are exact here (sympy's rationals): a float torch computes from sizes
#: (``ToFloat``, a true division) is floored, ceiled, truncated or rounded before it is a size,
#: and for sizes below 2**52 the float and the exact value round to the same integer.
TORCH_FUNCTIONS = {
    torch_sympy.FloorDiv: lambda a, b: floor(a / b),
    torch_sympy.CleanDiv: lambda a, b: floor(a / b),  # a FloorDiv torch knows exact
    torch_sympy.CeilDiv: lambda a, b: ceiling(a / b),
    torch_sympy.IntTrueDiv: lambda a, b: a / b,
    torch_sympy.FloatTrueDiv: lambda a, b: a / b,
    torch_sympy.FloorToInt: floor,
    torch_sympy.CeilToInt: ceiling,
    torch_sympy.TruncToInt: truncate,
    torch_sympy.TruncToFloat: truncate,
    torch_sympy.RoundToInt: round_half_even,
    torch_sympy.ToFloat: lambda x: x,
    torch_sympy.Identity: lambda x: x,
    torch_sympy.PythonMod: sp.Mod,  # Python's: the sign of the divisor, as sympy's
    torch_sympy.Mod: sp.Mod,  # torch's, for a nonnegative dividend and a positive divisor
    torch_sympy.ModularIndexing: lambda a, b, c: sp.Mod(floor(a / b), c),
    torch_sympy.Max: sp.Max,
    torch_sympy.Min: sp.Min,
    torch_sympy.PowByNatural: _power,
    torch_sympy.FloatPow: _power,
    torch_sympy.LShift: lambda a, b: a * 2 ** b,
    torch_sympy.RShift: lambda a, b: floor(a / 2 ** b),
    torch_sympy.Where: lambda condition, a, b: sp.Piecewise((a, condition), (b, True)),
}

#: Torch's size functions convops refuses, each with the reason.
REFUSED = {
    torch_sympy.RoundDecimal: "rounds to decimal digits, which binary floats hold inexactly",
    torch_sympy.BitwiseFn_bitwise_and: "a bitwise operation on sizes has no closed form",
    torch_sympy.BitwiseFn_bitwise_or: "a bitwise operation on sizes has no closed form",
    torch_sympy.BitwiseFn_bitwise_xor: "a bitwise operation on sizes has no closed form",
    torch_sympy.IsNonOverlappingAndDenseIndicator: "a question about strides, not a size",
    torch_sympy.MinMaxBase: "the base class of Max and Min, never an expression of its own",
    **{function: f"{function.__name__.removeprefix('OpaqueUnaryFn_')} of a size is irrational "
                 "in general: torch fixes the size (a specialisation) or rounds it in floats"
       for function in vars(torch_sympy).values()
       if isinstance(function, type) and function.__name__.startswith("OpaqueUnaryFn_")},
}

#: The most bits of a float constant's odd numerator that convops takes as exact: its product
#: with any size below 2**32 is then exact in a double, as torch computes it.
FLOAT_BITS = 21


def exact_float(value: sp.Float) -> sp.Rational:
    """A float constant of torch's (a scale factor) as the rational it is exactly, where torch's
    arithmetic with it in doubles is exact (:data:`FLOAT_BITS`); else a refusal.

    Examples
    --------
    >>> import sympy as sp
    >>> from convops.symbolic.translation import exact_float
    >>> exact_float(sp.Float(1.5)), exact_float(sp.Float(0.5))
    (3/2, 1/2)
    >>> exact_float(sp.Float(0.1))
    Traceback (most recent call last):
    ...
    convops.errors.ConvopsError: the float 0.1 in a size is not exact in binary ...
    """
    exact = sp.Rational(float(value))
    odd = exact.p >> (exact.p & -exact.p).bit_length() - 1 if exact.p else 0
    if abs(odd).bit_length() > FLOAT_BITS:
        raise ConvopsError(f"the float {float(value)!r} in a size is not exact in binary (a "
                           "scale factor such as 0.1 or 1/3): torch rounds its products in "
                           "doubles; use a scale that is (0.5, 0.25, 1.5) or profile at concrete "
                           "sizes")
    return exact


class Translator:
    """Rewrites torch's size expressions in the user's symbols and sympy's own functions.

    Examples
    --------
    >>> import sympy as sp, torch.utils._sympy.functions as torch_sympy
    >>> from torch.fx.experimental.symbolic_shapes import ShapeEnv
    >>> from convops.symbolic.translation import Translator
    >>> s0, H = sp.Symbol('s0', integer=True, positive=True), sp.Symbol('H', integer=True, positive=True)
    >>> Translator(ShapeEnv(), {s0: H}).translate(torch_sympy.FloorDiv(s0 - 3, 2) + 1)
    floor(H/2 - 3/2) + 1

    See Also
    --------
    TORCH_FUNCTIONS : the table it translates with.
    """

    def __init__(self, env: ShapeEnv, symbols: dict):
        self.env, self.symbols = env, symbols
        self.done: dict = {}  # guards and sizes share most of their subexpressions

    def __call__(self, value) -> sp.Expr:
        if isinstance(value, (int, bool)):
            return sp.Integer(value)
        node = getattr(value, "node", None)
        expr = self.env.simplify(node.expr if node is not None else value)
        return self.translate(expr)

    def translate(self, expr: sp.Basic) -> sp.Basic:
        """``expr``, torch's, in the user's symbols and sympy's functions (each subexpression
        translated once).

        Examples
        --------
        >>> import sympy as sp, torch.utils._sympy.functions as torch_sympy
        >>> from torch.fx.experimental.symbolic_shapes import ShapeEnv
        >>> from convops.symbolic.translation import Translator
        >>> s0, H = sp.Symbol('s0', integer=True, positive=True), sp.Symbol('H', integer=True, positive=True)
        >>> Translator(ShapeEnv(), {s0: H}).translate(torch_sympy.CeilToInt(torch_sympy.IntTrueDiv(s0, 3)))
        -floor(-H/3)
        """
        done = self.done.get(expr)
        if done is None:
            done = self.done[expr] = self._translate(expr)
        return done

    def _translate(self, expr):
        if expr.is_Atom:
            if expr.is_Symbol:
                if expr not in self.symbols and str(expr).startswith("u"):  # unbacked
                    raise ConvopsError(f"a size that depends on a tensor's values ({expr}: "
                                       f"nonzero, a boolean mask, unique …). {META_LIMITS}")
                if expr not in self.symbols:
                    raise ConvopsError(f"size {expr} is not one of the symbolic sizes given")
                return self.symbols[expr]
            return exact_float(expr) if expr.is_Float else expr
        function = type(expr)
        if function in REFUSED:
            raise ConvopsError(f"a size computed with torch's {function.__name__}: "
                               f"{REFUSED[function]}; profile at concrete sizes")
        args = [self.translate(arg) for arg in expr.args]
        if function in TORCH_FUNCTIONS:
            return TORCH_FUNCTIONS[function](*args)
        if function.__module__.startswith("torch"):
            raise ConvopsError(f"torch's size function {function.__name__} has no sympy form "
                               "in convops")
        return expr.func(*args)


@lru_cache(maxsize=4096)
def readable(expr: sp.Basic) -> sp.Basic:
    """``expr`` with each floor's argument over one denominator, as torch writes sizes: for
    printing only (sympy would distribute the denominator again in any further arithmetic).

    Examples
    --------
    >>> import sympy as sp
    >>> from convops.symbolic.translation import readable
    >>> H = sp.Symbol("H", integer=True, positive=True)
    >>> readable(sp.floor(H / 4 - sp.Rational(1, 4)) + 1)
    floor((H - 1)/4) + 1
    """
    return expr.replace(lambda e: isinstance(e, sp.floor),
                        lambda e: sp.floor(sp.together(e.args[0]), evaluate=False))


@lru_cache(maxsize=4096)
def merge_floors(expr: sp.Expr) -> sp.Expr:
    """Nested floors merged: ``floor((floor(x) + c) / b) = floor((x + c) / b)`` for an integer
    ``c`` and a positive integer ``b``, so output sizes read as torch writes them.

    Examples
    --------
    >>> import sympy as sp
    >>> from convops.symbolic.translation import merge_floors
    >>> H = sp.Symbol("H", integer=True, positive=True)
    >>> merge_floors(sp.floor((sp.floor((H - 3) / 2) + 1 - 3) / 3))
    floor(H/6 - 7/6)
    """

    def rule(term):
        argument = term.args[0]
        denominator = sp.ilcm(1, *(sp.fraction(t.as_coeff_Mul()[0])[1]
                                   for t in sp.Add.make_args(argument)))
        numerator = sp.expand(argument * denominator)
        inner = [t for t in sp.Add.make_args(numerator) if isinstance(t, sp.floor)]
        if len(inner) != 1 or not (numerator - inner[0]).is_integer:
            return term
        return sp.floor(sp.expand((inner[0].args[0] + numerator - inner[0]) / denominator))

    return expr.replace(lambda e: isinstance(e, sp.floor), rule)


def plain(expr: sp.Basic) -> sp.Basic | int:
    """``expr`` as a Python int where it is a sympy integer (as the numeric profile's shapes
    hold them), else as it is.

    Examples
    --------
    >>> import sympy as sp
    >>> from convops.symbolic.translation import plain
    >>> plain(sp.Integer(3)), type(plain(sp.Integer(3))).__name__, plain(sp.Symbol('H'))
    (3, 'int', H)
    """
    return int(expr) if isinstance(expr, sp.Integer) else expr


