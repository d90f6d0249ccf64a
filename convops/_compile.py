"""Compile sympy expressions of convops into plain Python functions on integers.

The compiled code divides with ``//`` wherever the expression divides, so every count stays an
exact Python ``int``; the derivation guarantees each such division is exact (``g`` divides both
channel counts), and ``floor`` becomes floor division.

:func:`stage` splits a computation in two: what depends on the layer only, done once per layer,
and what depends on the input size too, done in every call.
"""

from __future__ import annotations

import linecache
from dataclasses import dataclass, field

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


_PRINTER = _IntegerPrinter(
    {"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": True})


def _namespace() -> dict:
    return dict(NUMERIC_FUNCTIONS, max=max)


def compile_int(args, expr, intermediates=()):
    """A Python function of ``args`` (symbols) that evaluates ``expr`` in exact integer arithmetic.

    ``intermediates`` are ``(symbol, definition)`` pairs, in order, that ``expr`` (and later
    definitions) may use: each is computed once, as a local variable.  (sympy's automatic common
    subexpressions are not used: they could split an exact quotient into a ``1 // g`` factor.)
    """
    return sp.lambdify(args, expr, modules=[_namespace()], printer=_PRINTER, docstring_limit=0,
                       cse=lambda exprs: (list(intermediates), exprs))


def code(expr) -> str:
    """``expr`` as a Python expression in exact integer arithmetic."""
    return _PRINTER.doprint(expr)


def assignments(pairs, indent: str) -> list[str]:
    """``symbol = definition`` lines of Python for ``(symbol, definition)`` pairs."""
    return [f"{indent}{symbol} = {code(definition)}" for symbol, definition in pairs]


def define(source: str, name: str):
    """The function ``name`` that ``source`` defines, with the numeric functions in scope."""
    filename = f"<convops {name} {len(linecache.cache)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # tracebacks
    namespace = _namespace()
    exec(compile(source, filename, "exec"), namespace)
    return namespace[name]


@dataclass
class Staged:
    """A computation split by :func:`stage`: ``once`` depends on the constants only."""

    once: list[tuple[sp.Symbol, sp.Expr]] = field(default_factory=list)
    each: list[tuple[sp.Symbol, sp.Expr]] = field(default_factory=list)
    outputs: list[sp.Expr] = field(default_factory=list)


def stage(constants, outputs, intermediates=()) -> Staged:
    """Split ``outputs`` (with their ``intermediates``, as in :func:`compile_int`) in two.

    ``once`` defines every intermediate and every largest subexpression that depends on
    ``constants`` only (a layer's parameters); ``each`` and ``outputs`` are what is left, written
    in those definitions.  A sum or product keeps its order of evaluation except that its
    constant terms are grouped, and a quotient keeps its whole numerator, so every division
    stays as exact as in the expression.
    """
    return _Stager(constants).run(outputs, intermediates)


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
        if self.is_known(expr):
            return self.hoist(expr)
        if expr.is_Atom:
            return expr
        if isinstance(expr, sp.floor):
            numerator, denominator = sp.fraction(sp.together(expr.args[0]))
            return sp.floor(self.stage(numerator) / self.stage(denominator), evaluate=False)
        if isinstance(expr, sp.Mul):
            numerator, denominator = sp.fraction(expr)
            if denominator != 1:
                return sp.Mul(self.stage(numerator), sp.Pow(self.stage(denominator), -1))
        if isinstance(expr, (sp.Add, sp.Mul)):
            known = [arg for arg in expr.args if self.is_known(arg)]
            rest = [self.stage(arg) for arg in expr.args if not self.is_known(arg)]
            return expr.func(*rest, self.hoist(expr.func(*known)))
        return expr.func(*map(self.stage, expr.args))
