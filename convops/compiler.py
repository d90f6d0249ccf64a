"""Compile sympy expressions of convops into exact integer code: Python functions and JavaScript.

Every printer prints the *integer normal form* of an expression (:func:`normal_form`), built
once, at compile time: an expression in which every subexpression is an integer and the only
division is :class:`Quotient`, the floor division of an integer numerator by a positive integer
denominator.  ``floor(x/7 + Mod(6*x, 7)/7)`` becomes ``Quotient(x + Mod(6*x, 7), 7)``, whatever
form sympy left it in.  Outside a floor, a division is kept only where the normal form shows it
is exact (``g`` divides both channel counts, a gcd divides its arguments, a numerator's terms
share the denominator's factors); any other is refused at compile time with a
:class:`~convops.errors.ConvopsError`, never printed as a floor division that might round.

:mod:`convops.counters` writes a layer's counter with these printers: what depends on the layer
only, done once per layer, and what depends on the input size too, done in every call.
"""

from __future__ import annotations

import keyword
import linecache
import math
import re
from functools import lru_cache, reduce

import sympy as sp
from sympy.printing.jscode import JavascriptCodePrinter
from sympy.printing.pycode import PythonCodePrinter

from .additions import NUMERIC_FUNCTIONS, Gcd, Iverson, LatticeCount, Saturation
from .errors import ConvopsError
from .symbols import symbols


class Quotient(sp.Function):
    """``floor(n / d)`` for an integer ``n`` and a positive integer ``d``: the one division of the
    normal form (``//`` in Python, ``floorDiv`` in JavaScript).

    Examples
    --------
    >>> x = sp.Symbol("x", integer=True)
    >>> Quotient(7, 2), Quotient(x, 1), Quotient(x, 3), code(Quotient(x, 3))
    (3, x, Quotient(x, 3), '((x)//(3))')

    See Also
    --------
    IfElse : the normal form's other function.
    """

    nargs = 2
    is_integer = True

    @classmethod
    def eval(cls, n: sp.Expr, d: sp.Expr) -> sp.Expr | None:
        """The quotient of two integers, or ``n`` over 1; else unevaluated.

        >>> Quotient.eval(sp.Integer(-7), sp.Integer(2)), Quotient.eval(sp.Symbol("n"), sp.Integer(2))
        (-4, None)
        """
        if n.is_Integer and d.is_Integer:
            return sp.Integer(int(n) // int(d))
        if d == 1:
            return n
        return None

    def _eval_is_nonnegative(self):
        return self.args[0].is_nonnegative

    def _eval_is_negative(self):
        return self.args[0].is_negative


class IfElse(sp.Function):
    """``then`` where ``condition`` holds, else ``otherwise``: the normal form's ``Piecewise``.

    sympy's arithmetic leaves it alone (a product or power of a ``Piecewise`` is rebuilt with its
    conditions solved for a symbol, which brings fractions back).  ``otherwise`` is ``nan`` where
    no branch of the ``Piecewise`` applies (``None`` in Python, ``undefined`` in JavaScript).

    Examples
    --------
    >>> x = sp.Symbol("x", integer=True)
    >>> IfElse(x > 0, x, -x).is_integer, compile_int((x,), IfElse(x > 0, x, -x))(-3)
    (True, 3)

    See Also
    --------
    Quotient : the normal form's division.
    """

    nargs = 3

    def _both(self, assumption: str) -> bool | None:
        """True or False where both values agree on ``assumption``; else unknown."""
        then, otherwise = (getattr(value, assumption) for value in self.args[1:])
        return then if then == otherwise else None

    def _eval_is_integer(self):
        return self._both("is_integer")

    def _eval_is_positive(self):
        return self._both("is_positive")

    def _eval_is_negative(self):
        return self._both("is_negative")


_S = symbols(1)
#: Divisions torch makes exact: groups divide both channel counts (convops.layer checks it, and
#: a calculator must too), so ``C_in / g`` is printed as an exact quotient.
EXACT_DIVISORS: dict[sp.Symbol, tuple[sp.Symbol, ...]] = {_S.g: (_S.C_in, _S.C_out)}

#: The integer functions of convops, each evaluated on integer arguments.
_INTEGER_FUNCTIONS = (Gcd, LatticeCount, Saturation)


def _refuse(expr, why: str):
    raise ConvopsError(f"cannot compile {expr} to exact integer code: {why}")


def _factors(d: sp.Expr) -> tuple[int, dict[sp.Expr, int]]:
    """A positive denominator as its integer coefficient and its other factors with exponents."""
    coefficient, rest = d.as_coeff_Mul()
    return int(coefficient), {b: int(e) for b, e in rest.as_powers_dict().items() if b != 1}


def _divides(divisor: sp.Expr, factor: sp.Expr) -> bool:
    """Whether ``divisor`` provably divides ``factor`` (not counting ``divisor == factor``)."""
    if isinstance(divisor, Gcd):
        return factor in divisor.args
    return factor in EXACT_DIVISORS.get(divisor, ())


def _divide_term(term: sp.Expr, base: sp.Expr) -> sp.Expr | None:
    """``term / base`` without a fraction, or ``None`` where that cannot be shown exact."""
    powers = term.as_powers_dict()
    if base in powers and powers[base] >= 1:
        return term / base
    for factor in powers:
        if _divides(base, factor):
            return term / factor * Quotient(factor, base)
    return None


def _divide(n: sp.Expr, base: sp.Expr) -> sp.Expr | None:
    whole = _divide_term(n, base)
    if whole is not None:
        return whole
    terms = [_divide_term(t, base) for t in sp.Add.make_args(n)]
    return None if None in terms else sp.Add(*terms)


def _reduced(n: sp.Expr, d: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """``n / d`` with every factor of ``d`` that provably divides ``n`` divided out."""
    if n == 0:
        return sp.S.Zero, sp.S.One
    coefficient, bases = _factors(d)
    common = math.gcd(coefficient, *(int(t.as_coeff_Mul()[0]) for t in sp.Add.make_args(n)))
    if common > 1:
        n, coefficient = sp.Add(*(t / common for t in sp.Add.make_args(n))), coefficient // common
    left = sp.Integer(coefficient)
    for base, exponent in bases.items():
        for used in range(exponent):
            divided = _divide(n, base)
            if divided is None:
                left *= base ** (exponent - used)
                break
            n = divided
    return n, left


def _common(fractions) -> tuple[list[sp.Expr], sp.Expr]:
    """The numerators of ``fractions`` over their least common denominator, and that."""
    if all(d == 1 for _, d in fractions):
        return [n for n, _ in fractions], sp.S.One
    factored = [_factors(d) for _, d in fractions]
    coefficient = math.lcm(*(c for c, _ in factored))
    exponents: dict[sp.Expr, int] = {}
    for _, bases in factored:
        for base, e in bases.items():
            exponents[base] = max(exponents.get(base, 0), e)
    numerators = [
        n * (coefficient // c) * sp.Mul(*(b ** (e - bases.get(b, 0)) for b, e in exponents.items()))
        for (n, _), (c, bases) in zip(fractions, factored)]
    return numerators, coefficient * sp.Mul(*(b ** e for b, e in exponents.items()))


def _integer(expr) -> sp.Expr:
    n, d = _fraction(expr)
    if d != 1:
        _refuse(expr, f"it divides {n} by {d}, which may leave a remainder (floor it if a floor "
                      "division is meant)")
    return n


def _nonzero_sign(expr: sp.Expr) -> int:
    if expr.is_positive:
        return 1
    if expr.is_negative:
        return -1
    return 0


def _fraction(expr) -> tuple[sp.Expr, sp.Expr]:
    """``(n, d)``: ``expr == n / d`` with ``n`` in integer normal form and ``d`` a positive one."""
    if expr.is_Rational:
        return sp.Integer(expr.p), sp.Integer(expr.q)
    if expr.is_Symbol or expr is sp.nan:  # nan: where no branch of a Piecewise applies
        return expr, sp.S.One
    if isinstance(expr, Quotient):  # built by the normal form, its denominator positive
        return Quotient(*map(_integer, expr.args)), sp.S.One
    if isinstance(expr, sp.Add):
        numerators, d = _common([_fraction(a) for a in expr.args])
        return _reduced(sp.Add(*numerators), d)
    if isinstance(expr, sp.Mul):
        fractions = [_fraction(a) for a in expr.args]
        return _reduced(sp.Mul(*(n for n, _ in fractions)), sp.Mul(*(d for _, d in fractions)))
    if isinstance(expr, sp.Pow):
        return _power(expr)
    if isinstance(expr, (sp.floor, sp.ceiling)):
        n, d = _fraction(expr.args[0])
        if isinstance(expr, sp.floor):
            return Quotient(n, d), sp.S.One
        return -Quotient(-n, d), sp.S.One
    if isinstance(expr, (sp.Mod, sp.Max, sp.Min)):
        numerators, d = _common([_fraction(a) for a in expr.args])
        return expr.func(*numerators, evaluate=False), d
    if isinstance(expr, sp.Abs):
        n, d = _fraction(expr.args[0])
        return sp.Max(n, -n, evaluate=False), d
    if isinstance(expr, sp.Piecewise):
        numerators, d = _common([_fraction(e) for e, _ in expr.args])
        conditions = [_boolean(c) for _, c in expr.args]
        otherwise = sp.nan  # no branch applies
        if conditions and conditions[-1] == sp.true:
            conditions.pop()
            otherwise = numerators.pop()
        return reduce(lambda rest, branch: IfElse(*branch, rest),
                      reversed(list(zip(conditions, numerators))), otherwise), d
    if isinstance(expr, Iverson):
        return IfElse(_boolean(expr.args[0]), 1, 0), sp.S.One
    if isinstance(expr, IfElse):  # built by the normal form; its parts again, once staged
        condition, *values = expr.args
        return IfElse(_boolean(condition), *map(_integer, values)), sp.S.One
    if isinstance(expr, _INTEGER_FUNCTIONS):
        return expr.func(*map(_integer, expr.args)), sp.S.One
    _refuse(expr, f"{type(expr).__name__} has no exact integer form in convops")


def _power(expr: sp.Pow) -> tuple[sp.Expr, sp.Expr]:
    base, exponent = expr.args
    if exponent.is_Integer:
        n, d = _fraction(base)
        if exponent >= 0:
            return n ** exponent, d ** exponent
        sign = _nonzero_sign(n)
        if not sign:
            _refuse(expr, f"it divides by {base}, which may be zero or negative")
        return sign ** -exponent * d ** -exponent, (sign * n) ** -exponent
    if exponent.is_integer and exponent.is_nonnegative:
        return _integer(base) ** _integer(exponent), sp.S.One
    _refuse(expr, f"the exponent {exponent} may not be a non-negative integer")


_CONDITIONS = (sp.core.relational.Relational, sp.logic.boolalg.BooleanFunction,
               sp.logic.boolalg.BooleanAtom)


def _boolean(condition) -> sp.Basic:
    """``condition`` with each side of each comparison in integer normal form."""
    if condition in (sp.true, sp.false):
        return condition
    if isinstance(condition, sp.core.relational.Relational):
        (a, da), (b, db) = _fraction(condition.lhs), _fraction(condition.rhs)
        if da != db:  # both positive: cross-multiplying keeps the comparison
            a, b = a * db, b * da
        return condition.func(a, b, evaluate=False)
    if isinstance(condition, (sp.And, sp.Or, sp.Not, sp.Xor)):
        return condition.func(*map(_boolean, condition.args))
    _refuse(condition, f"{type(condition).__name__} is not a condition convops can compile")


@lru_cache(maxsize=4096)
def normal_form(expr: sp.Basic) -> sp.Basic:
    """``expr`` in integer normal form: equal to it for every integer value of its symbols, every
    subexpression an integer, every division a :class:`Quotient` by a positive denominator.

    :class:`~convops.errors.ConvopsError` where that cannot be shown: a division that may leave a
    remainder outside a floor, a division by something that may be zero or negative, a float.

    Examples
    --------
    >>> x = sp.Symbol("x", integer=True, positive=True)
    >>> normal_form(sp.floor(sp.Mul(sp.Rational(1, 7), x + sp.Mod(6 * x, 7), evaluate=False)))
    Quotient(x + Mod(6*x, 7), 7)
    >>> S = symbols(1)
    >>> normal_form(S.C_in * S.C_out / S.g)
    C_out*Quotient(C_in, g)
    >>> normal_form(x / 2)
    Traceback (most recent call last):
    ...
    convops.errors.ConvopsError: cannot compile x/2 to exact integer code: it divides x by 2, which may leave a remainder (floor it if a floor division is meant)
    """
    expr = sp.sympify(expr)
    return _boolean(expr) if isinstance(expr, _CONDITIONS) else _integer(expr)


class _IntegerPrinter:
    """What every printer of the normal form shares: it prints nothing else."""

    def doprint(self, expr, assign_to=None):
        return super().doprint(normal_form(expr), assign_to)

    def _call(self, name: str, expr) -> str:
        return f"{name}({', '.join(self._print(arg) for arg in expr.args)})"

    def _print_Max(self, expr):
        return self._call("max", expr)

    def _print_Min(self, expr):
        return self._call("min", expr)

    def _print_Saturation(self, expr):
        return self._call("Saturation", expr)

    def _print_Rational(self, expr):
        raise ConvopsError(f"{expr} is not in integer normal form")

    def _print_IfElse(self, expr):
        condition, then, otherwise = map(self._print, expr.args)
        return self._if_else(condition, then, otherwise)


class _PythonPrinter(_IntegerPrinter, PythonCodePrinter):
    def _print_Quotient(self, expr):
        return "(({})//({}))".format(*map(self._print, expr.args))

    def _print_Mod(self, expr):
        return "(({}) % ({}))".format(*map(self._print, expr.args))

    def _if_else(self, condition, then, otherwise):
        return f"(({then}) if {condition} else ({otherwise}))"

    def _print_NaN(self, expr):
        return "None"

    def _print_LatticeCount(self, expr):
        # F(T) = 0 for T <= 0, the usual case at the far end: skip the call there.
        return f"({self._call('LatticeCount', expr)} if {self._print(expr.args[-1])} > 0 else 0)"


_PYTHON = _PythonPrinter(
    {"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": True})

#: Names a JavaScript expression cannot use for a variable: its reserved words, and the runtime's.
_JAVASCRIPT_RESERVED = frozenset("""
    await break case catch class const continue debugger default delete do else enum export extends
    false finally for function if implements import in instanceof interface let new null package
    private protected public return static super switch this throw true try typeof var void while
    with yield undefined NaN Infinity arguments eval
    floorDiv mod max min gcd LatticeCount Saturation""".split())


class _JavascriptPrinter(_IntegerPrinter, JavascriptCodePrinter):
    """BigInt JavaScript calling the functions of ``convops/runtime.js``."""

    def _print_Integer(self, expr):
        return f"{expr.p}n"

    _print_Zero = _print_Integer

    def _print_Symbol(self, expr):
        name = _PYTHON._print(expr)
        if name in _JAVASCRIPT_RESERVED or not re.fullmatch(r"[A-Za-z_$][\w$]*", name):
            raise ConvopsError(f"symbol {name!r} cannot be a JavaScript variable: rename it")
        return name

    def _print_Quotient(self, expr):
        return self._call("floorDiv", expr)

    def _print_Mod(self, expr):
        return self._call("mod", expr)

    def _print_Gcd(self, expr):
        return self._call("gcd", expr)

    def _print_LatticeCount(self, expr):
        return self._call("LatticeCount", expr)

    def _print_Pow(self, expr):
        # Parenthesised whole: JavaScript refuses a unary minus right before **.
        return "(({}) ** ({}))".format(*map(self._print, expr.args))

    def _print_Relational(self, expr):
        op = {"==": "===", "!=": "!=="}.get(expr.rel_op, expr.rel_op)
        return f"({self._print(expr.lhs)} {op} {self._print(expr.rhs)})"

    def _print_BooleanTrue(self, expr):
        return "true"

    def _print_BooleanFalse(self, expr):
        return "false"

    def _if_else(self, condition, then, otherwise):
        return f"({condition} ? {then} : {otherwise})"

    def _print_NaN(self, expr):
        return "undefined"


_JAVASCRIPT = _JavascriptPrinter({"strict": True})


def code(expr) -> str:
    """``expr`` as a Python expression in exact integer arithmetic (its :func:`normal_form`).

    Examples
    --------
    >>> x = sp.Symbol("x", integer=True)
    >>> code(sp.floor(x / 3 + sp.Rational(1, 2)) + sp.Max(x, 0))
    '((2*x + 3)//(6)) + max(0, x)'
    """
    return _PYTHON.doprint(expr)


def javascript(expr) -> str:
    """``expr`` as a JavaScript expression in BigInt arithmetic (its :func:`normal_form`).

    Integers carry the ``n`` suffix, symbols are named as in :func:`code`, and the only functions
    called are those ``convops/runtime.js`` exports: ``floorDiv``, ``mod`` (both with Python's
    floor semantics), ``max``, ``min``, ``gcd``, ``LatticeCount`` and ``Saturation``.

    Examples
    --------
    >>> x = sp.Symbol("x", integer=True)
    >>> javascript(sp.floor(x / 3 + sp.Rational(1, 2)) + sp.Max(x, 0))
    'floorDiv(2n*x + 3n, 6n) + max(0n, x)'
    >>> javascript(sp.Piecewise((x, x > 0), (-x, True)))
    '((x > 0n) ? x : -x)'
    """
    return _JAVASCRIPT.doprint(expr)


#: The printers :meth:`convops.Derivation.code` offers, by language.
LANGUAGES = {"python": code, "javascript": javascript}


def _namespace() -> dict:
    return dict(NUMERIC_FUNCTIONS, max=max, min=min)


def compile_int(args, expr, intermediates=()):
    """A Python function of ``args`` (symbols) that evaluates ``expr`` in exact integer arithmetic.

    ``intermediates`` are ``(symbol, definition)`` pairs, in order, that ``expr`` (and later
    definitions) may use: each is computed once, as a local variable.  Each expression is printed
    in its :func:`normal_form`, built here, once.

    Examples
    --------
    >>> x, y = sp.symbols("x y", integer=True)
    >>> compile_int((x,), [sp.floor(y / 3), y + 1], [(y, 2 * x)])(5)
    [3, 11]

    See Also
    --------
    code : the Python each expression is printed as.
    """
    return sp.lambdify(args, expr, modules=[_namespace()], printer=_PYTHON, docstring_limit=0,
                       cse=lambda exprs: (list(intermediates), exprs))


def assignments(pairs, indent: str) -> list[str]:
    """``symbol = definition`` lines of Python for ``(symbol, definition)`` pairs.

    >>> x, y = sp.symbols("x y", integer=True)
    >>> assignments([(y, sp.floor(x / 2))], "    ")
    ['    y = ((x)//(2))']
    """
    return [f"{indent}{symbol} = {code(definition)}" for symbol, definition in pairs]


def define(source: str, name: str):
    """The function ``name`` that ``source`` defines, with the numeric functions in scope.

    >>> define("def common(a, b): return Gcd(a, b)", "common")(12, 18)
    6
    """
    filename = f"<convops {name} {len(linecache.cache)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # tracebacks
    namespace = _namespace()
    exec(compile(source, filename, "exec"), namespace)
    return namespace[name]
