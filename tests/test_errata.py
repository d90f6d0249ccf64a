import numpy as np
import pytest
import sympy as sp
import torch

import convops
from convops_book import errata
from convops.reference import additions_by_ones, run


def _zero(expr) -> bool:
    return sp.simplify(expr) == 0


@pytest.mark.parametrize("bias", [True, False])
def test_conv1d_page_is_right(bias):
    # The control: the Conv1d page's simplification follows from its terms and equals convops'.
    assert _zero(errata.conv1d_totals()[bias] - errata.conv_totals_from_terms(1, bias))
    assert _zero(errata.conv1d_totals()[bias] - convops.derive("Conv1d").simplified(bias))


@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_page_terms_are_convops_but_its_totals_are_not(bias):
    d = convops.derive("Conv2d")
    assert _zero(errata.conv_totals_from_terms(2, bias) - d.simplified(bias))
    assert not _zero(errata.conv2d_totals()[bias] - d.simplified(bias))


def test_conv2d_page_errors_in_closed_form():
    S = convops.derive("Conv2d").symbols
    H, W = S.size_out
    d = convops.derive("Conv2d")
    # bias=True: one extra ψ·H·W per sample; bias=False: C_out·H·W·(C_in - 1) too few.
    assert _zero(errata.conv2d_totals()[True] - d.simplified(True) - S.N * d.psi * H * W)
    assert _zero(errata.conv2d_totals()[False] - d.simplified(False) + S.N * S.C_out * H * W * (S.C_in - 1))


def test_conv2d_page_disagrees_with_the_instrumented_count():
    torch.manual_seed(0)
    for bias in (True, False):
        module = torch.nn.Conv2d(4, 6, 3, groups=2, bias=bias)
        x = torch.randn(1, 4, 5, 5)
        _, counter = run(module, x)
        page = errata.conv2d_totals()[bias].subs(errata.substitutions(module, x.shape))
        assert counter.total == convops.count_ops(module, tuple(x.shape)) != page


def test_convtranspose1d_lam_uses_output_length():
    d = convops.derive("ConvTranspose1d")
    S = d.symbols
    assert _zero(errata.convtranspose1d_lam() - d.lam - S.k[0] * (S.size_out[0] - S.size_in[0]))
    for bias in (True, False):
        # The page's totals follow from its λ, so the error is λ alone.
        assert _zero(errata.convtranspose1d_totals()[bias] - errata.convtranspose1d_totals_from_terms(bias))
        assert not _zero(errata.convtranspose1d_totals()[bias] - d.simplified(bias))


def test_convtranspose1d_page_disagrees_with_the_instrumented_count():
    module = torch.nn.ConvTranspose1d(2, 2, 3, stride=2, bias=False)
    x = torch.randn(1, 2, 4)
    _, counter = run(module, x)
    values = errata.substitutions(module, x.shape)
    page = errata.convtranspose1d_totals()[False].subs(values)
    assert counter.total == convops.count_ops(module, tuple(x.shape)) != page


@pytest.mark.parametrize("args", [((4,), 2, 3), ((3, 2), (1, 2), (4, 1)), ((2,), 3, 2, 1, 0, 1)])
def test_ones_trick_expression_is_the_unclipped_sum(args):
    size_in = args[0]
    ndim = len(size_in)
    names = ("kernel_size", "stride", "dilation", "padding", "output_padding")
    module = getattr(torch.nn, f"ConvTranspose{ndim}d")(1, 1, **dict(zip(names, args[1:])), bias=False)
    values = errata.substitutions(module, (1, 1, *size_in))
    S = convops.derive(module).symbols
    P = [convops.derive(module).A_terms[P].subs(values) for P in S.P]
    page = errata.ones_trick_additions(ndim).subs(dict(zip(S.P, P))).subs(values)
    assert page == additions_by_ones(*args, clip=False)


def test_ones_trick_goes_negative_with_gaps():
    assert additions_by_ones((4,), 2, stride=3, clip=False) < 0 == additions_by_ones((4,), 2, stride=3)


def test_correlation_note():
    signal, kernel = [1, 2, 3, 4, 5], [4, 3]
    note = errata.correlation_note()
    torch_xcorr = torch.nn.functional.conv1d(torch.tensor([[signal]]), torch.tensor([[kernel]]))[0, 0]
    numpy_conv = np.convolve(signal, kernel)
    page, right = note["cross-correlation"]
    assert [errata.evaluate_note(right, signal, kernel, n) for n in range(4)] == torch_xcorr.tolist()
    assert errata.evaluate_note(page, signal, kernel, 1) != torch_xcorr[1]
    page, right = note["convolution"]
    assert [errata.evaluate_note(right, signal, kernel, n) for n in range(6)] == numpy_conv.tolist()
    assert errata.evaluate_note(page, signal, kernel, 1) != numpy_conv[1]


def test_substitutions_cover_every_free_symbol_of_the_total():
    module = torch.nn.ConvTranspose2d(2, 4, (2, 3), stride=(2, 1), padding=(1, 0), output_padding=(1, 0),
                                      groups=2)
    shape = (3, 2, 4, 5)
    values = errata.substitutions(module, shape)
    d = convops.derive(module)
    assert d.total.subs(values) == convops.count_ops(module, shape)
    assert d.A_explicit.subs(values) == values[d.symbols.A]


def test_versus_marks_the_page_wrong_and_convops_right():
    module = torch.nn.Conv2d(4, 6, 3, groups=2)
    table = errata.versus(errata.conv2d_totals()[True], module, (1, 4, 5, 5))
    assert [row[-1] for row in table.rows] == ["✗", "✓", "✓"]
    assert table.rows[1][1] == f"{convops.count_ops(module, (1, 4, 5, 5)):,}"


def test_equations_render_with_convops_names():
    eqs = errata.equations()
    assert set(eqs) >= {"conv2d_total_bias", "conv2d_total_no_bias", "convtranspose1d_lam",
                        "ones_trick_additions", "convolution", "convolution_page",
                        "cross-correlation", "cross-correlation_page"}
    latex = errata.equation("convtranspose1d_lam")._repr_latex_()
    assert r"L_{\text{out}}" in latex and r"\lambda_{\text{page}}" in latex
    with pytest.raises(ValueError, match="conv2d_total_bias"):
        errata.equation("nope")
