"""Compile sympy expressions of convops into plain Python functions on integers.

The compiled code divides with ``//`` wherever the expression divides, so every count stays an
exact Python ``int``; the derivation guarantees each such division is exact (``g`` divides both
channel counts), and ``floor`` becomes floor division.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from .additions import NUMERIC_FUNCTIONS


class _IntegerPrinter(PythonCodePrinter):
    def _quotient(self, numerator, denominator) -> str:
        return f"(({self._print(numerator)})//({self._print(denominator)}))"

    def _print_Mul(self, expr):
        numerator, denominator = sp.fraction(expr)
        if denominator == 1:
            return super()._print_Mul(expr)
        return self._quotient(numerator, denominator)

    def _print_Pow(self, expr, rational=False):
        if expr.exp.is_negative:
            return self._quotient(sp.S.One, expr.base ** -expr.exp)
        return super()._print_Pow(expr, rational)

    def _print_Rational(self, expr):
        return self._quotient(expr.p, expr.q)

    def _print_floor(self, expr):
        return self._quotient(*sp.fraction(sp.together(expr.args[0])))

    def _print_LatticeCount(self, expr):
        # F(T) = 0 for T <= 0, the usual case at the far end: skip the call there.
        args = [self._print(arg) for arg in expr.args]
        return f"(LatticeCount({', '.join(args)}) if {args[-1]} > 0 else 0)"

    def _print_Max(self, expr):
        return f"max({', '.join(self._print(arg) for arg in expr.args)})"


def compile_int(args, expr, intermediates=()):
    """A Python function of ``args`` (symbols) that evaluates ``expr`` in exact integer arithmetic.

    ``intermediates`` are ``(symbol, definition)`` pairs, in order, that ``expr`` (and later
    definitions) may use: each is computed once, as a local variable.  (sympy's automatic common
    subexpressions are not used: they could split an exact quotient into a ``1 // g`` factor.)
    """
    namespace = dict(NUMERIC_FUNCTIONS, max=max)
    printer = _IntegerPrinter(
        {"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": True})
    return sp.lambdify(args, expr, modules=[namespace], printer=printer, docstring_limit=0,
                       cse=lambda exprs: (list(intermediates), exprs))
