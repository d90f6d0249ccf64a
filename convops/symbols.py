"""The sympy symbols of the derivations, named and printed the way the pages write them.

Every symbol is an integer with the sign it has in torch, so sympy may simplify soundly:
channels, sizes, kernel taps, strides and dilations are positive; paddings, the bias flag
and the transposed additions are non-negative.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp
from .errors import ConvopsError

#: Names of the spatial dimensions, as torch's documentation writes them.
SPATIAL_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


#: LaTeX for every symbol whose name sympy would not print as the pages do (``C_in`` -> C_{in}).
LATEX_NAMES: dict[sp.Symbol, str] = {}


def _symbol(name: str, latex: str, **assumptions) -> sp.Symbol:
    symbol = sp.Symbol(name, integer=True, **assumptions)
    LATEX_NAMES[symbol] = latex
    return symbol


def latex(expr: sp.Basic, **settings) -> str:
    """LaTeX of ``expr`` with convops' symbol names (``C_{\\text{in}}`` rather than ``C_{in}``).

    Examples
    --------
    >>> S = symbols(1)
    >>> latex(S.g * S.k[0] * S.d_reduced[0])
    "d' g k"
    """
    return sp.latex(expr, symbol_names=LATEX_NAMES, **settings)


@dataclass(frozen=True)
class Symbols:
    """The symbols of one derivation with ``ndim`` spatial dimensions.

    Per-dimension symbols are tuples ordered like torch's shapes (first spatial dimension first).
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
    q: tuple[sp.Symbol, ...]  #: output_padding (transposed only)
    s_reduced: tuple[sp.Symbol, ...]  #: s' = s / gcd(s, d) (transposed only)
    d_reduced: tuple[sp.Symbol, ...]  #: d' = d / gcd(s, d) (transposed only)
    P: tuple[sp.Symbol, ...]  #: products landing inside the output (transposed only)
    Z: tuple[sp.Symbol, ...]  #: output positions reached by a product (transposed only)

    def describe(self) -> dict[sp.Symbol, str]:
        """What each symbol stands for, in torch's words."""
        meaning = {
            self.N: "batch size (1 for unbatched input)",
            self.C_in: "in_channels",
            self.C_out: "out_channels",
            self.g: "groups",
            self.b: "1 if bias else 0",
            self.A: "additions per filter of the transposed convolution",
        }
        for i, name in enumerate(SPATIAL_NAMES[self.ndim]):
            meaning[self.size_in[i]] = f"input size along {name} (x.shape[{i - self.ndim}])"
            meaning[self.size_out[i]] = f"output size along {name} (y.shape[{i - self.ndim}])"
        for attr, torch_name in (("k", "kernel_size"), ("s", "stride"), ("d", "dilation"),
                                 ("p", "padding"), ("q", "output_padding")):
            for i, sym in enumerate(getattr(self, attr)):
                meaning[sym] = f"{torch_name}[{i}]"
        for i, name in enumerate(SPATIAL_NAMES[self.ndim]):
            meaning[self.s_reduced[i]] = f"reduced stride, stride[{i}] / gcd(stride[{i}], dilation[{i}])"
            meaning[self.d_reduced[i]] = (f"reduced dilation, dilation[{i}] / "
                                          f"gcd(stride[{i}], dilation[{i}])")
            meaning[self.P[i]] = f"products landing inside the output along {name}"
            meaning[self.Z[i]] = f"output positions along {name} that receive a product"
        return meaning


@lru_cache(maxsize=None)
def symbols(ndim: int) -> Symbols:
    """The symbols for ``ndim`` (1, 2 or 3) spatial dimensions.

    Examples
    --------
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

    return Symbols(
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
        q=per_dim("q", nonnegative=True),
        s_reduced=per_dim("s_r", "s'", positive=True),
        d_reduced=per_dim("d_r", "d'", positive=True),
        P=per_dim("P", nonnegative=True),
        Z=per_dim("Z", nonnegative=True),
    )
