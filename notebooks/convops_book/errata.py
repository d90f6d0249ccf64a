r"""The reference pages' formulas, written as sympy expressions in convops' symbols.

The notebook ``errata.ipynb`` sets each beside what :mod:`convops.derivation` derives and refutes
it on a concrete layer.  Every expression here is transcribed from a page, wrong or not (the
Conv1d page's totals are right, and serve as the control); none is used to count anything.

- ``conv2d.md``: the simplified totals do not follow from the page's own :math:`\psi, \lambda,
  \gamma` (:func:`conv2d_totals`).
- ``convtranspose1d.md``: :math:`\lambda` multiplies :math:`L_{\text{out}}` by the kernel size,
  where every *input* element is multiplied by the kernel (:func:`convtranspose1d_lam`); its
  ones-trick :math:`\sum_o (n_o - 1)` counts :math:`-1` at every position no product reaches
  (:func:`ones_trick_additions`).
- ``conv1d.md`` and ``conv2d.md``: the note defining convolution and cross-correlation indexes
  the signal with :math:`n` alone (:func:`correlation_note`).
"""

from __future__ import annotations

import sympy as sp

from convops.count import breakdown
from convops.derivation import derive
from convops.symbols import symbols


def _conv_terms(ndim: int) -> dict[str, sp.Expr]:
    """The pages' :math:`\\psi, \\lambda, \\gamma` of a convolution (the same as convops')."""
    S = symbols(ndim)
    taps, positions = sp.Mul(*S.k), sp.Mul(*S.size_out)
    return {
        "psi": S.C_in * S.C_out / S.g,
        "lam": positions * (2 * taps - 1),
        "gamma": S.C_out * positions * (S.C_in / S.g - 1 + S.b),
    }


def _from_terms(ndim: int, terms: dict[str, sp.Expr], bias: bool) -> sp.Expr:
    S = symbols(ndim)
    return (S.N * (terms["psi"] * terms["lam"] + terms["gamma"])).subs(S.b, int(bias))


def conv1d_totals() -> dict[bool, sp.Expr]:
    """``conv1d.md``'s simplified totals, by bias (correct: the control case)."""
    S = symbols(1)
    (k,), (L,) = S.k, S.size_out
    return {True: S.N * S.C_in * S.C_out * L * 2 * k / S.g,
            False: S.N * S.C_out * L * (S.C_in * 2 * k - S.g) / S.g}


def conv2d_totals() -> dict[bool, sp.Expr]:
    """``conv2d.md``'s simplified totals, by bias (both wrong)."""
    S = symbols(2)
    (k0, k1), (H, W) = S.k, S.size_out
    return {True: S.N * S.C_in * S.C_out * H * W * (2 * k0 * k1 + 1) / S.g,
            False: S.N * S.C_in * S.C_out * H * W * (2 * k0 * k1 - S.g) / S.g}


def conv_totals_from_terms(ndim: int, bias: bool) -> sp.Expr:
    """:math:`N(\\psi\\lambda + \\gamma)` from a convolution page's own terms, not simplified."""
    return _from_terms(ndim, _conv_terms(ndim), bias)


def convtranspose1d_lam() -> sp.Expr:
    """``convtranspose1d.md``'s operations per filter: :math:`L_{\\text{out}} k + A` (wrong)."""
    S = symbols(1)
    return S.size_out[0] * S.k[0] + S.A


def convtranspose1d_totals() -> dict[bool, sp.Expr]:
    """``convtranspose1d.md``'s simplified totals, by bias (they follow from its wrong λ)."""
    S = symbols(1)
    (k,), (L,) = S.k, S.size_out
    with_bias = S.N * S.C_in * S.C_out / S.g * (L * (k + 1) + S.A)
    return {True: with_bias, False: with_bias - S.N * S.C_out * L}


def convtranspose1d_totals_from_terms(bias: bool) -> sp.Expr:
    """:math:`N(\\psi\\lambda + \\gamma)` from ``convtranspose1d.md``'s own terms."""
    d = derive("ConvTranspose1d")  # ψ and γ are the page's; only λ differs
    return _from_terms(1, {"psi": d.psi, "lam": convtranspose1d_lam(), "gamma": d.gamma}, bias)


def ones_trick_additions(ndim: int) -> sp.Expr:
    r"""The pages' additions per filter, :math:`\sum_o (n_o - 1)`, in the closed form's counts.

    :math:`\sum_o n_o` is :math:`\prod_d P_d`, the products landing inside the output, and the sum
    runs over all :math:`\prod_d \text{size}_{\text{out}, d}` positions, reached or not.
    """
    S = symbols(ndim)
    return sp.Mul(*S.P) - sp.Mul(*S.size_out)


def correlation_note() -> dict[str, tuple[sp.Expr, sp.Expr]]:
    """The pages' definitions of convolution and cross-correlation, each with the correct one.

    ``{"convolution": (page, correct), "cross-correlation": (page, correct)}``, as sums over the
    kernel index ``k`` of the signal ``f`` and kernel ``g`` (sympy ``IndexedBase``), at output
    index ``n``, with kernel length ``K``.
    """
    f, g = sp.IndexedBase("f"), sp.IndexedBase("g")
    n, k = sp.symbols("n k", integer=True, nonnegative=True)
    K = sp.Symbol("K", integer=True, positive=True)
    taps = (k, 0, K - 1)
    return {
        "convolution": (sp.Sum(f[n] * g[n - k], taps), sp.Sum(f[n - k] * g[k], taps)),
        "cross-correlation": (sp.Sum(f[n] * g[n + k], taps), sp.Sum(f[n + k] * g[k], taps)),
    }


def evaluate_note(expr: sp.Expr, signal, kernel, n: int) -> sp.Expr:
    """One of :func:`correlation_note`'s sums at output index ``n`` for concrete sequences
    (indices outside a sequence read as zero)."""
    f = sp.IndexedBase("f")
    index_n = next(s for s in expr.free_symbols if s.name == "n")
    index_K = next(s for s in expr.free_symbols if s.name == "K")
    summed = expr.subs({index_n: n, index_K: len(kernel)}).doit()

    def value(sequence):
        return lambda i: sequence[int(i)] if 0 <= int(i) < len(sequence) else 0

    return summed.replace(lambda e: isinstance(e, sp.Indexed), lambda e: sp.Integer(
        value(signal if e.base == f else kernel)(e.indices[0])))


def substitutions(module, input_shape) -> dict[sp.Symbol, sp.Expr]:
    """The value of every symbol of ``module``'s derivation on ``input_shape``, the additions per
    filter ``A`` of a transposed convolution included (for evaluating the pages' expressions)."""
    from .notebook import symbol_values

    values = symbol_values(module, input_shape)
    A = breakdown(module, tuple(input_shape)).A
    if A is not None:
        values[derive(module).symbols.A] = sp.Integer(A)
    return values


def versus(page: sp.Expr, module, input_shape, quantity: str = "total"):
    """A :class:`convops_book.notebook.Table` of one count three ways on a concrete layer: the page's
    expression evaluated there, convops' formula, and the instrumented run of
    :func:`convops.reference.run` (``quantity`` is ``"total"``, ``"multiplications"`` or
    ``"additions"``)."""
    import torch

    from .notebook import Table, describe_layer
    from convops.reference import run

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(tuple(input_shape), generator=generator, dtype=module.weight.dtype)
    with torch.no_grad():
        _, counter = run(module, x)
    values = (("the page's formula", int(page.subs(substitutions(module, input_shape)))),
              ("convops' formula", getattr(breakdown(module, input_shape), quantity)),
              ("instrumented run", getattr(counter, quantity)))
    measured = values[-1][1]
    return Table(("source", quantity, "equals the instrumented run"),
                 tuple((name, f"{value:,}", "✓" if value == measured else "✗")
                       for name, value in values),
                 caption=describe_layer(module, input_shape))


def equations() -> dict[str, sp.Eq]:
    """Every formula of the pages transcribed here, as a sympy equation named the way the pages
    name it, with a "page" subscript (the correct definitions of the note have none)."""
    def named(name: str, subscript: bool = True) -> sp.Symbol:
        return sp.Symbol(rf"\text{{{name}}}_{{\text{{page}}}}" if subscript else rf"\text{{{name}}}")

    eqs = {
        "conv2d_total_bias": sp.Eq(named("Conv2d"), conv2d_totals()[True], evaluate=False),
        "conv2d_total_no_bias": sp.Eq(named("Conv2d"), conv2d_totals()[False], evaluate=False),
        "convtranspose1d_lam": sp.Eq(sp.Symbol(r"\lambda_{\text{page}}"), convtranspose1d_lam(),
                                     evaluate=False),
        "ones_trick_additions": sp.Eq(sp.Symbol(r"A_{\text{page}}"), ones_trick_additions(1),
                                      evaluate=False),
    }
    for name, (page, right) in correlation_note().items():
        eqs[f"{name}_page"] = sp.Eq(named(name), page, evaluate=False)
        eqs[name] = sp.Eq(named(name, subscript=False), right, evaluate=False)
    return eqs


def equation(key: str):
    """One of :func:`equations`, shown by :func:`convops_book.notebook.equation`."""
    from .notebook import equation as show

    eqs = equations()
    if key not in eqs:
        raise ValueError(f"key must be one of {', '.join(eqs)}, got {key!r}")
    return show(eqs[key])


def by_bias(differences: dict[bool, sp.Expr]):
    r"""The differences of a page's totals, one line per bias case, labelled, as
    ``IPython.display.Math`` (not sympy's list of expressions).

    Examples
    --------
    >>> import sympy as sp
    >>> print(by_bias({True: sp.Integer(0), False: sp.Integer(0)}).data)
    \begin{aligned} \text{bias=True:} &\quad 0 \\ \text{bias=False:} &\quad 0 \end{aligned}
    """
    from IPython.display import Math

    from convops.symbols import latex

    lines = r" \\ ".join(rf"\text{{bias={bias}:}} &\quad {latex(d)}" for bias, d in differences.items())
    return Math(rf"\begin{{aligned}} {lines} \end{{aligned}}")
