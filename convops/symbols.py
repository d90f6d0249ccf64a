"""The sympy symbols of the derivations, named and printed the way the pages write them.

Every symbol is an integer with the sign it has in torch, so sympy may simplify soundly:
channels, sizes, kernel taps, strides and dilations are positive; paddings, the bias flag
and the transposed additions are non-negative.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.pretty.pretty import PrettyPrinter
from sympy.printing.str import StrPrinter

from .errors import ConvopsError

#: Names of the spatial dimensions, as torch's documentation writes them.
SPATIAL_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


#: LaTeX for every symbol whose name sympy would not print as the pages do (``C_in`` -> C_{in}).
LATEX_NAMES: dict[sp.Symbol, str] = {}

#: Reading order of the symbols in printed formulas: the batch, the pieces of the count, the
#: channels, groups and bias, the sizes, then the kernel, stride, dilation and padding, and last
#: what the transposed additions are written in.  sympy alone sorts factors and terms by name.
READING_ORDER = ("N", "psi", "lam", "gamma", "C_in", "C_out", "g", "b", "size_in", "size_out",
                 "k", "s", "d", "p", "q", "s_reduced", "d_reduced", "P", "Z", "A")

#: Rank of every symbol in :data:`READING_ORDER` (per-dimension symbols by dimension within it).
_RANKS: dict[sp.Symbol, int] = {}


def _symbol(name: str, latex: str, **assumptions) -> sp.Symbol:
    symbol = sp.Symbol(name, integer=True, **assumptions)
    LATEX_NAMES[symbol] = latex
    return symbol


def _ranked(symbol: sp.Symbol, group: str, index: int = 0) -> sp.Symbol:
    _RANKS[symbol] = READING_ORDER.index(group) * 10 + index
    return symbol


#: The pieces of the counting model, total = N (psi lambda + gamma), as symbols to print.
PSI = _ranked(_symbol("psi", r"\psi", nonnegative=True), "psi")
LAM = _ranked(_symbol("lam", r"\lambda", nonnegative=True), "lam")
GAMMA = _ranked(_symbol("gamma", r"\gamma", nonnegative=True), "gamma")


def _in_reading_order(expr: sp.Basic) -> tuple[sp.Basic, dict[sp.Symbol, sp.Symbol]]:
    """``expr`` with every ranked symbol renamed so that sympy's sort by name is reading order,
    and the map from each renamed symbol back to the original."""
    renamed = {symbol: sp.Symbol(f"{_RANKS[symbol]:03d}{symbol.name}", **symbol.assumptions0)
               for symbol in expr.free_symbols if symbol in _RANKS}
    return expr.xreplace(renamed), {new: old for old, new in renamed.items()}


def latex(expr: sp.Basic, width: int | None = None, **settings) -> str:
    """LaTeX of ``expr`` with convops' symbol names (``C_{\\text{in}}`` rather than ``C_{in}``),
    factors and terms in :data:`READING_ORDER` (``N C_{\\text{in}} C_{\\text{out}}``, sizes, kernel).

    With ``width`` (in characters of the rendered formula, roughly), a sum wider than that is
    broken over aligned lines, term by term (:func:`latex_lines`); without it, one line.

    Examples
    --------
    >>> import sympy as sp
    >>> from convops.symbols import latex, symbols
    >>> S = symbols(2)
    >>> print(latex(S.k[0] * S.size_out[1] * S.C_in * S.N))
    N C_{\\text{in}} W_{\\text{out}} k_0
    >>> print(latex(sp.Eq(S.g, S.k[0] + S.k[1] - S.s[0]), width=8))
    \\begin{aligned} g &= k_0 + k_1\\\\ &\\quad - s_0 \\end{aligned}
    """
    if width is not None:
        return latex_lines(expr, width, **settings)
    ordered, original = _in_reading_order(expr)
    return sp.latex(ordered, symbol_names=_names(original), **settings)


def _names(original: dict[sp.Symbol, sp.Symbol]) -> dict[sp.Symbol, str]:
    """LaTeX names of convops' symbols and of their reading-order stand-ins (``original``)."""
    return {**LATEX_NAMES, **{new: LATEX_NAMES.get(old, old.name) for new, old in original.items()}}


#: What a LaTeX command shows as, for :func:`rendered_length`: nothing, or one character.
_INVISIBLE = re.compile(r"\\(?:left|right|text|mathrm|operatorname|displaystyle|quad|qquad|,|;|!)"
                        r"(?![a-zA-Z])|[{}_^ &]")
_COMMAND = re.compile(r"\\[a-zA-Z]+")


def _group_end(tex: str, start: int) -> int:
    """The index of the brace that closes the one at ``tex[start]``."""
    depth = 0
    for i in range(start, len(tex)):
        depth += {"{": 1, "}": -1}.get(tex[i], 0)
        if depth == 0:
            return i
    raise ValueError(f"unbalanced braces in {tex!r}")


def rendered_length(tex: str) -> int:
    """About how many characters wide ``tex`` renders: commands that draw one symbol count one,
    layout commands, braces and spaces none, a fraction its wider part.

    Examples
    --------
    >>> from convops.symbols import rendered_length
    >>> rendered_length(r"\\frac{C_{\\text{in}} C_{\\text{out}}}{g}"), rendered_length(r"\\psi + 1")
    (7, 3)
    """
    start = tex.find(r"\substack{")
    if start >= 0:  # stacked limits: as wide as the widest row
        end = _group_end(tex, start + 9)
        rows = tex[start + 10:end].split(r"\\")
        return (rendered_length(tex[:start]) + max(map(rendered_length, rows))
                + rendered_length(tex[end + 1:]))
    start = tex.find(r"\frac{")
    if start >= 0:
        numerator_end = _group_end(tex, start + 5)
        denominator_end = _group_end(tex, numerator_end + 1)
        wider = max(rendered_length(tex[start + 6:numerator_end]),
                    rendered_length(tex[numerator_end + 2:denominator_end]))
        return rendered_length(tex[:start]) + wider + rendered_length(tex[denominator_end + 1:])
    return len(_COMMAND.sub("x", _INVISIBLE.sub("", tex)))


def latex_lines(expr: sp.Basic, width: int, **settings) -> str:
    """LaTeX of ``expr`` (an equation or an expression) in lines of about ``width`` characters
    (:func:`rendered_length`, the left-hand side counted on the first): the terms of the right-hand
    side's sum (of a product, its longest sum, in brackets after the other factors), in reading
    order, fill a line until the next would pass ``width``, and continue on the next line,
    aligned after the ``=``.  A formula that fits, or has no sum, stays on one line, as
    :func:`latex` prints it.

    Examples
    --------
    >>> import sympy as sp
    >>> from convops.symbols import latex_lines, symbols
    >>> S = symbols(1)
    >>> print(latex_lines(sp.Eq(S.g, S.N * (S.k[0] + S.s[0] + S.d[0])), width=8))
    \\begin{aligned} g &= N \\Big( k + s\\\\ &\\quad + d \\Big) \\end{aligned}
    """
    ordered, original = _in_reading_order(expr)
    printer = LatexPrinter({"symbol_names": _names(original), **settings})
    one_line = printer.doprint(ordered)
    lhs, rhs = (ordered.lhs, ordered.rhs) if isinstance(ordered, sp.Eq) else (None, ordered)
    outer, inner = _split_factor(rhs)
    if rendered_length(one_line) <= width or inner is None:
        return one_line
    first = f"{printer.doprint(lhs)} &= " if lhs is not None else "& "
    indent = rendered_length(first) + 2  # every line starts after the left side and a \quad
    if outer != 1:  # the factor, then the sum in brackets that span the lines
        first += rf"{printer._print(outer)} \Big( "
    lines, line = [], first
    for term in printer._as_ordered_terms(inner):
        text = _sum_lines(printer, term, width)
        piece = text if line == first else (
            f" - {text[1:].lstrip()}" if text.startswith("-") else f" + {text}")
        if line != first and rendered_length(line + piece) + (indent if lines else 0) > width:
            lines.append(line)
            line, piece = "", piece.lstrip()
        line += piece
    lines.append(line + (r" \Big)" if outer != 1 else ""))
    return r"\begin{aligned} " + "\\\\ &\\quad ".join(lines) + r" \end{aligned}"


def _sum_lines(printer: LatexPrinter, term: sp.Expr, width: int) -> str:
    """A term of the sum :func:`latex_lines` breaks; a sum of a product wider than ``width`` with
    its first factor after the sum sign, the other factors on a line of their own."""
    text = printer._print(term)
    if (rendered_length(text) <= width or not isinstance(term, sp.Sum)
            or not isinstance(term.function, sp.Mul)):
        return text
    first, *rest = term.function.as_ordered_factors()
    mark = sp.Dummy()
    head = printer._print(sp.Sum(mark, *term.limits)).replace(printer._print(mark), "").rstrip()
    return (rf"{head} {printer.parenthesize(first, PRECEDENCE['Mul'])}\\ &\qquad\quad "
            + printer._print(sp.Mul(*rest, evaluate=False)))


def _split_factor(expr: sp.Expr) -> tuple[sp.Expr, sp.Add | None]:
    """``expr`` as a factor times the sum to break over lines: ``(1, expr)`` for a sum, the
    product's sum of most terms and the rest of the product for a product, ``(expr, None)``
    where there is no sum to break."""
    if isinstance(expr, sp.Add):
        return sp.S.One, expr
    sums = [factor for factor in sp.Mul.make_args(expr) if isinstance(factor, sp.Add)]
    if not sums:
        return expr, None
    inner = max(sums, key=lambda s: len(s.args))
    return sp.Mul(*(f for f in sp.Mul.make_args(expr) if f is not inner), evaluate=False), inner


class _ReadingOrderPretty(PrettyPrinter):
    def __init__(self, original: dict[sp.Symbol, sp.Symbol], **settings):
        super().__init__(settings)
        self._original = original

    def _print_Symbol(self, e, bold_name=False):
        e = self._original.get(e, e)
        reduced = re.fullmatch(r"([sd])_reduced_?(\w*)", e.name)
        if reduced:  # s_reduced prints as the math writes it: s′ (s′₀ …)
            index = reduced.group(2)
            e = sp.Symbol(f"{reduced.group(1)}′" + (f"_{index}" if index else ""))
        return super()._print_Symbol(e, bold_name)

    def _print_MinMaxBase(self, e):  # sympy has no pretty form of Max: it would print str(e)
        return self._print_Function(e)


def pretty(expr: sp.Basic) -> str:
    """``expr`` as sympy's Unicode pretty print, in :data:`READING_ORDER` like :func:`latex`.

    Examples
    --------
    >>> import sympy as sp
    >>> from convops.symbols import pretty, symbols
    >>> S = symbols(1)
    >>> print(pretty(S.k[0] * S.N))
    N⋅k
    >>> print(pretty(sp.Max(0, S.size_in[0] - S.d_reduced[0])))
    Max(0, Lᵢₙ - d′)
    """
    ordered, original = _in_reading_order(expr)
    return _ReadingOrderPretty(original, use_unicode=True).doprint(ordered)


#: How a condition's parts read: relations as math, connectives in words.
_RELATIONS = {"==": "=", "!=": "≠", ">=": "≥", "<=": "≤", ">": ">", "<": "<"}
_CONNECTIVES = {sp.And: "and", sp.Or: "or"}


class _ConditionText(StrPrinter):
    """sympy's str printer with math for what it writes as function calls (``Ne(a, b)``,
    ``floor(x)``, ``Mod(a, b)``): text a person reads in a message."""

    def __init__(self, original: dict[sp.Symbol, sp.Symbol]):
        super().__init__()
        self._original = original

    def _print_Symbol(self, e):
        return super()._print_Symbol(self._original.get(e, e))

    def _print_Relational(self, e):
        return f"{self._print(e.lhs)} {_RELATIONS[e.rel_op]} {self._print(e.rhs)}"

    def _print_And(self, e):
        parts = [self._print(a) if a.is_Relational else f"({self._print(a)})" for a in e.args]
        return f" {_CONNECTIVES[type(e)]} ".join(parts)

    _print_Or = _print_And

    def _print_Not(self, e):
        return f"not ({self._print(e.args[0])})"

    def _print_floor(self, e):
        return f"⌊{self._print(e.args[0])}⌋"

    def _print_ceiling(self, e):
        return f"⌈{self._print(e.args[0])}⌉"

    def _print_Mod(self, e):
        return f"({self.parenthesize(e.args[0], 60)} mod {self.parenthesize(e.args[1], 60)})"

    def _print_Pow(self, e, rational=False):
        return super()._print_Pow(e, rational).replace("**", "^")

    def _print_Mul(self, e):
        return super()._print_Mul(e).replace("*", "·")


def condition_text(expr: sp.Basic) -> str:
    """A condition (or any expression) as text for people, in :data:`READING_ORDER`: relations
    as ``≠ ≥ ≤``, conditions joined by ``and``/``or``, floors as ``⌊x⌋``, never sympy's
    ``Ne(...)`` or ``floor(...)``.

    Examples
    --------
    >>> import sympy as sp
    >>> from convops.symbols import condition_text
    >>> H, W = sp.symbols("H W", integer=True, positive=True)
    >>> condition_text(sp.Ne(sp.floor(sp.together((H - 1) / 32)) + 1, 1))
    '⌊(H - 1)/32⌋ + 1 ≠ 1'
    >>> condition_text(sp.And(sp.Eq(2 * sp.floor(H / 8), sp.floor(H / 4)), sp.Or(W < 3, W > 9)))
    '(W > 9 or W < 3) and 2·⌊H/8⌋ = ⌊H/4⌋'
    >>> condition_text(sp.Eq(sp.Mod(H, 8), 0))
    '(H mod 8) = 0'
    """
    ordered, original = _in_reading_order(expr)
    return _ConditionText(original).doprint(ordered)


def condition_latex(expr: sp.Basic) -> str:
    """LaTeX of a condition for people, like :func:`latex`, with its parts joined by
    ``\\text{ and }``/``\\text{ or }`` rather than sympy's logic symbols (``\\wedge``).

    Examples
    --------
    >>> import sympy as sp
    >>> from convops.symbols import condition_latex
    >>> H, W = sp.symbols("H W", integer=True, positive=True)
    >>> print(condition_latex(sp.And(sp.Ne(sp.floor(H / 32), 0), W > 32)))
    W > 32 \\text{ and } \\left\\lfloor{\\frac{H}{32}}\\right\\rfloor \\neq 0
    """
    if type(expr) in _CONNECTIVES:
        word = rf" \text{{ {_CONNECTIVES[type(expr)]} }} "
        return word.join(condition_latex(a) if a.is_Relational
                         else rf"\left({condition_latex(a)}\right)" for a in expr.args)
    return latex(expr)


@dataclass(frozen=True)
class Symbols:
    """The symbols of one derivation with ``ndim`` spatial dimensions.

    Per-dimension symbols are tuples ordered like torch's shapes (first spatial dimension first).

    Examples
    --------
    >>> from convops.symbols import symbols
    >>> S = symbols(2)
    >>> S.size_in, S.k
    ((H_in, W_in), (k0, k1))

    See Also
    --------
    symbols : the symbols of a number of dimensions.
    indexed_symbols : the symbols of a generic dimension i.
    """

    ndim: int
    N: sp.Symbol  #: batch size
    C_in: sp.Symbol  #: input channels
    C_out: sp.Symbol  #: output channels
    g: sp.Symbol  #: groups
    b: sp.Symbol  #: 1 with bias, 0 without
    A: sp.Symbol  #: additions per filter of a transposed convolution
    size_in: tuple[sp.Symbol, ...]  #: input sizes
    size_out: tuple[sp.Symbol, ...]  #: output sizes
    k: tuple[sp.Symbol, ...]  #: kernel_size
    s: tuple[sp.Symbol, ...]  #: stride
    d: tuple[sp.Symbol, ...]  #: dilation
    p: tuple[sp.Symbol, ...]  #: padding (per side, as torch's int padding)
    #: output_padding (transposed only): 0 or more in a torch module, and -1 in the transposed
    #: convolution computing the grad_input of a convolution padded one more after than before
    #: (:mod:`convops.backward`): an integer of no declared sign
    q: tuple[sp.Symbol, ...]
    s_reduced: tuple[sp.Symbol, ...]  #: s' = s / gcd(s, d) (transposed only)
    d_reduced: tuple[sp.Symbol, ...]  #: d' = d / gcd(s, d) (transposed only)
    P: tuple[sp.Symbol, ...]  #: products landing inside the output (transposed only)
    Z: tuple[sp.Symbol, ...]  #: output positions reached by a product (transposed only)

    def describe(self) -> dict[sp.Symbol, str]:
        """What each symbol stands for, in torch's words.

        Examples
        --------
        >>> from convops.symbols import indexed_symbols, symbols
        >>> symbols(2).describe()[symbols(2).k[1]]
        'kernel_size[1]'
        >>> indexed_symbols().describe()[indexed_symbols().size_out[0]]
        'output size along spatial dimension i (y.shape[i - ndim])'
        """
        meaning = {
            self.N: "batch size (1 for unbatched input)",
            self.C_in: "in_channels",
            self.C_out: "out_channels",
            self.g: "groups",
            self.b: "1 if bias else 0",
            self.A: "additions per filter of the transposed convolution",
        }
        if self.ndim == 0:  # indexed_symbols(): one generic dimension i
            dims = [("i", "spatial dimension i", "i - ndim]")]
        else:
            dims = [(str(i), name, f"{i - self.ndim}]")
                    for i, name in enumerate(SPATIAL_NAMES[self.ndim])]
        for i, (index, name, shape) in enumerate(dims):
            meaning[self.size_in[i]] = f"input size along {name} (x.shape[{shape})"
            meaning[self.size_out[i]] = f"output size along {name} (y.shape[{shape})"
        for attr, torch_name in (("k", "kernel_size"), ("s", "stride"), ("d", "dilation"),
                                 ("p", "padding"), ("q", "output_padding")):
            for i, sym in enumerate(getattr(self, attr)):
                meaning[sym] = f"{torch_name}[{dims[i][0]}]"
        for i, (index, name, _) in enumerate(dims):
            meaning[self.s_reduced[i]] = (f"reduced stride, stride[{index}] / "
                                          f"gcd(stride[{index}], dilation[{index}])")
            meaning[self.d_reduced[i]] = (f"reduced dilation, dilation[{index}] / "
                                          f"gcd(stride[{index}], dilation[{index}])")
            meaning[self.P[i]] = f"products landing inside the output along {name}"
            meaning[self.Z[i]] = f"output positions along {name} that receive a product"
        return meaning


@lru_cache(maxsize=None)
def symbols(ndim: int) -> Symbols:
    """The symbols for ``ndim`` (1, 2 or 3) spatial dimensions.

    Examples
    --------
    >>> from convops.symbols import symbols
    >>> S = symbols(2)
    >>> S.size_in, S.k
    ((H_in, W_in), (k0, k1))
    """
    if ndim not in SPATIAL_NAMES:
        raise ConvopsError(f"ndim must be 1, 2 or 3, got {ndim!r}")
    names = SPATIAL_NAMES[ndim]

    def per_dim(letter: str, latex: str | None = None, **assumptions) -> tuple[sp.Symbol, ...]:
        latex = latex or letter
        if ndim == 1:
            return (_symbol(letter, latex, **assumptions),)
        return tuple(_symbol(f"{letter}{i}", f"{latex}_{i}", **assumptions) for i in range(ndim))

    return _rank(Symbols(
        ndim=ndim,
        N=_symbol("N", "N", positive=True),
        C_in=_symbol("C_in", r"C_{\text{in}}", positive=True),
        C_out=_symbol("C_out", r"C_{\text{out}}", positive=True),
        g=_symbol("g", "g", positive=True),
        b=_symbol("b", "b", nonnegative=True),
        A=_symbol("A", "A", nonnegative=True),
        size_in=tuple(_symbol(f"{n}_in", rf"{n}_{{\text{{in}}}}", positive=True) for n in names),
        size_out=tuple(_symbol(f"{n}_out", rf"{n}_{{\text{{out}}}}", positive=True) for n in names),
        k=per_dim("k", positive=True),
        s=per_dim("s", positive=True),
        d=per_dim("d", positive=True),
        p=per_dim("p", nonnegative=True),
        q=per_dim("q"),
        s_reduced=per_dim("s_reduced", "s'", positive=True),
        d_reduced=per_dim("d_reduced", "d'", positive=True),
        P=per_dim("P", nonnegative=True),
        Z=per_dim("Z", nonnegative=True),
    ))


def _rank(S: Symbols) -> Symbols:
    for group in READING_ORDER:
        value = getattr(S, group, None)
        if isinstance(value, sp.Symbol):
            _ranked(value, group)
        elif isinstance(value, tuple):
            for i, symbol in enumerate(value):
                _ranked(symbol, group, i)
    return S


@lru_cache(maxsize=None)
def indexed_symbols() -> Symbols:
    """The per-dimension symbols of a generic dimension ``i``: ``L_{\\text{in},i}``, ``k_i`` …

    One formula in these stands for the same formula along every spatial dimension (``ndim`` is
    0: the tuples hold one symbol each; the other symbols are those of every derivation).

    Examples
    --------
    >>> from convops.symbols import indexed_symbols, latex
    >>> S = indexed_symbols()
    >>> print(latex(S.size_out[0] - S.k[0] * S.s_reduced[0]))
    L_{\\text{out},i} - k_{i} s'_{i}
    """
    S = symbols(1)

    def indexed(letter: str, latex: str, **assumptions) -> tuple[sp.Symbol, ...]:
        return (_symbol(f"{letter}_i", f"{latex}_{{i}}", **assumptions),)

    return _rank(Symbols(
        ndim=0, N=S.N, C_in=S.C_in, C_out=S.C_out, g=S.g, b=S.b, A=S.A,
        size_in=(_symbol("L_in_i", r"L_{\text{in},i}", positive=True),),
        size_out=(_symbol("L_out_i", r"L_{\text{out},i}", positive=True),),
        k=indexed("k", "k", positive=True),
        s=indexed("s", "s", positive=True),
        d=indexed("d", "d", positive=True),
        p=indexed("p", "p", nonnegative=True),
        q=indexed("q", "q"),
        s_reduced=indexed("s_reduced", "s'", positive=True),
        d_reduced=indexed("d_reduced", "d'", positive=True),
        P=indexed("P", "P", nonnegative=True),
        Z=indexed("Z", "Z", nonnegative=True),
    ))


def per_dimension(S: Symbols, i: int, into: Symbols) -> dict[sp.Symbol, sp.Symbol]:
    """Each per-dimension symbol of dimension ``i`` of ``S`` mapped to its counterpart in ``into``.

    Examples
    --------
    >>> from convops.symbols import indexed_symbols, per_dimension, symbols
    >>> S = symbols(2)
    >>> per_dimension(S, 1, indexed_symbols())[S.k[1]]
    k_i

    See Also
    --------
    indexed_symbols : the symbols of a generic dimension ``i``.
    """
    return {getattr(S, name)[i]: getattr(into, name)[0]
            for name in ("size_in", "size_out", "k", "s", "d", "p", "q", "s_reduced", "d_reduced",
                         "P", "Z")}
