"""The symbolic derivation: each simplification is a claim, checked by sympy."""

import pytest
import sympy as sp

import convops
from convops.derivation import KINDS

KIND_NAMES = list(KINDS)


@pytest.mark.parametrize("name", KIND_NAMES)
@pytest.mark.parametrize("bias", [True, False])
def test_simplified_totals_follow_from_psi_lambda_gamma(name, bias):
    d = convops.derive(name)
    S = d.symbols
    unsimplified = S.N * (d.psi * d.lam + d.gamma)
    assert sp.simplify(d.simplified(bias) - unsimplified.subs(S.b, int(bias))) == 0


@pytest.mark.parametrize("name", KIND_NAMES)
def test_multiplications_and_additions_make_the_total(name):
    d = convops.derive(name)
    assert sp.simplify(d.multiplications + d.additions - d.total) == 0


@pytest.mark.parametrize("name", KIND_NAMES)
def test_symbols_carry_their_assumptions(name):
    d = convops.derive(name)
    for symbol in d.total.free_symbols:
        assert symbol.is_integer and symbol.is_nonnegative, symbol


def test_derive_accepts_names_classes_and_modules():
    import torch

    by_name = convops.derive("ConvTranspose2d")
    assert convops.derive(torch.nn.ConvTranspose2d) is by_name
    assert convops.derive(torch.nn.ConvTranspose2d(1, 1, 2)) is by_name


@pytest.mark.parametrize("name", KIND_NAMES)
def test_every_equation_prints_as_latex(name):
    d = convops.derive(name)
    for quantity in d.equations():
        text = d.latex(quantity)
        assert "=" in text and "Symbol" not in text
    assert r"C_{\text{in}}" in d.latex("psi")
    with pytest.raises(ValueError, match="quantity"):
        d.latex("omega")


def test_conv_and_transposed_share_psi_and_gamma_and_differ_in_lambda():
    conv, transposed = convops.derive("Conv2d"), convops.derive("ConvTranspose2d")
    assert conv.psi == transposed.psi and conv.gamma == transposed.gamma
    S = conv.symbols
    assert sp.expand(transposed.lam - S.A - sp.Mul(*S.size_in, *S.k)) == 0
    assert sp.expand(conv.lam - sp.Mul(*S.size_out) * (2 * sp.Mul(*S.k) - 1)) == 0


def test_uncropped_additions_depend_on_stride_and_dilation_through_their_gcd():
    d = convops.derive("ConvTranspose1d")
    S = d.symbols
    L, k, s, dil = S.size_in[0], S.k[0], S.s[0], S.d[0]
    uncropped = d.A_explicit.subs({S.p[0]: 0, S.q[0]: 0})
    gcd = convops.additions.Gcd(s, dil)
    assert uncropped == sp.Max(0, L - dil / gcd) * sp.Max(0, k - s / gcd)


@pytest.mark.parametrize("name", KIND_NAMES)
def test_formulas_print_in_reading_order(name):
    """N first, then channels, then sizes, then the kernel: not sympy's alphabetical order."""
    d = convops.derive(name)
    S = d.symbols
    sizes = S.size_in if d.kind.transposed else S.size_out
    expected = [S.N, S.C_in, S.C_out, *sizes, *S.k]
    tex = d.latex("total_bias")
    positions = [tex.index(convops.symbols.LATEX_NAMES[symbol]) for symbol in expected]
    assert positions == sorted(positions), tex
    assert d.latex("total").endswith(r"N \left(\psi \lambda + \gamma\right)")
    plain = convops.symbols.pretty(d.equations()["total_no_bias"].rhs)
    assert plain.index("N") < plain.index("C")


@pytest.mark.parametrize("name", KIND_NAMES)
def test_indexed_formulas_are_each_dimension_renamed(name):
    """One formula in a generic dimension i stands for the formula of every dimension."""
    from convops.symbols import indexed_symbols

    d = convops.derive(name)
    S, generic, eqs = d.symbols, indexed_symbols(), d.equations()
    families = [key for key in d.indexed_equations() if f"{key}_0" in eqs]
    assert "output_size" in families and (d.kind.transposed == ("Z" in families))
    for family in families:
        for i in range(S.ndim):
            per_dim = {getattr(generic, attr)[0]: getattr(S, attr)[i]
                       for attr in ("size_in", "size_out", "k", "s", "d", "p", "q", "s_reduced",
                                    "d_reduced", "P", "Z")}
            indexed = d.indexed_equations()[family]
            if S.ndim == 1:
                assert indexed == eqs[f"{family}_0"]
            else:
                assert indexed.xreplace(per_dim) == eqs[f"{family}_{i}"]
                assert "_{i}" in d.latex(family)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_the_reduced_stride_and_dilation_have_one_name_in_code_equations_and_the_cli(ndim):
    """s' is ``s_reduced`` everywhere a name is written (the symbol, the equation's key, the CLI's
    quantity) and s' where it is printed as math."""
    from convops.symbols import indexed_symbols, latex, symbols

    t = convops.derive(f"ConvTranspose{ndim}d")
    for field, math in (("s_reduced", "s'"), ("d_reduced", "d'")):
        for i, symbol in enumerate(getattr(symbols(ndim), field)):
            assert symbol.name == (field if ndim == 1 else f"{field}{i}")
            assert latex(symbol).startswith(math)
            assert f"{field}_{i}" in t.equations()
        assert field in t.indexed_equations()
        assert getattr(indexed_symbols(), field)[0].name.startswith(field)
