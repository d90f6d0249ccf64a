"""im2col, Winograd and FFT counts held to executed, instrumented implementations (the book's
``convops_book.fast``), their outputs to torch's; the Cook–Toom matrices to the correlation."""

import pytest
import sympy as sp
import torch
from convops_book import fast
from hypothesis import given, settings, strategies as st

import convops
from convops import ConvopsError, breakdown, count_ops

# each example executes a whole algorithm in Python loops: a sixth of the profile's examples
FEW = settings(max_examples=max(10, settings.default.max_examples // 6))
KINDS = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}


@st.composite
def layers(draw, fast_algorithm: bool):
    """A random convolution and input: channels, groups, batch, sizes not multiples of the tile;
    stride and dilation 1 for Winograd and FFT."""
    n = draw(st.sampled_from([1, 2, 2, 2, 3]))
    g = draw(st.integers(1, 2))
    c_in, c_out = g * draw(st.integers(1, 2)), g * draw(st.integers(1, 2))
    k = tuple(draw(st.integers(1, 4 if n < 3 else 3)) for _ in range(n))
    stride = dilation = 1
    if not fast_algorithm:
        stride, dilation = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    padding = draw(st.integers(0, 2))
    mode = draw(st.sampled_from(["zeros", "zeros", "circular", "replicate"]))
    extent = [dilation * (r - 1) + 1 for r in k]
    size = tuple(draw(st.integers(max(e - 2 * padding, max(padding, 1)), e + (9 if n < 3 else 4)))
                 for e in extent)
    module = KINDS[n](c_in, c_out, k, stride=stride, padding=padding, dilation=dilation, groups=g,
                      bias=draw(st.booleans()), padding_mode=mode).double()
    batch = draw(st.integers(1, 2))
    return module, (batch, c_in, *size)


def _check(module, shape, algorithm, tile=None):
    x = torch.randn(shape, dtype=torch.float64)
    y, stages = fast.measured(module, x, algorithm, tile)
    expected = module(x)
    scale = expected.abs().max().item() + 1e-300
    assert torch.allclose(y, expected, rtol=1e-9, atol=1e-9 * scale), (y - expected).abs().max()
    b = breakdown(module, shape, algorithm=algorithm, tile=tile)
    assert {name: (p.multiplications, p.additions) for name, p in b.parts.items()} == stages
    assert b.total == count_ops(module, shape, algorithm=algorithm, tile=tile)
    assert b.output_shape == tuple(expected.shape)
    return b


@FEW
@given(layers(False))
def test_im2col_executed(case):
    module, shape = case
    b = _check(module, shape, "im2col")
    assert b.total == count_ops(module, shape)  # the same arithmetic as the direct algorithm
    assert b.workspace == fast.im2col_conv(module, torch.zeros(shape, dtype=torch.float64))[1]["gemm"].workspace


@FEW
@given(layers(True), st.integers(1, 4))
def test_winograd_executed(case, m):
    module, shape = case
    _check(module, shape, "winograd", m)


@FEW
@given(layers(True), st.sampled_from(["fft", "fft_gauss"]), st.sampled_from([None, 4, 8, 16]))
def test_fft_executed(case, algorithm, alpha):
    module, shape = case
    if alpha is not None and alpha < max(module.kernel_size):
        alpha = None
    _check(module, shape, algorithm, alpha)


@pytest.mark.parametrize("m, r", [(m, r) for m in range(1, 7) for r in range(1, 6)])
def test_cook_toom_correlation(m, r):
    f = convops.winograd(m, r)
    d, g = sp.symbols(f"d0:{m + r - 1}"), sp.symbols(f"g0:{r}")
    assert f.correlation() == sp.Matrix([sum(g[k] * d[i + k] for k in range(r)) for i in range(m)])
    assert f.multiplications == m + r - 1


def test_cook_toom_points():
    f = convops.winograd(2, 3, points=[0, 2, -2])
    assert f.points == (0, 2, -2)
    d, g = sp.symbols("d0:4"), sp.symbols("g0:3")
    assert f.correlation()[1] == sp.expand(sum(g[k] * d[1 + k] for k in range(3)))
    with pytest.raises(ConvopsError, match="distinct"):
        convops.winograd(2, 3, points=[0, 1, 1])
    with pytest.raises(ConvopsError, match="tuple of 1 to 3"):
        convops.winograd((2, 2, 2, 2), (3, 3, 3, 3))


def test_paper_transform_counts():
    """Lavin & Gray's 32, 28 and 24 for F(2×2, 3×3), counted by the FMA/CSE counting; the plain
    counts against an executed transform of one tile."""
    w = convops.winograd((2, 2), (3, 3))
    assert [w.instructions(t) for t in ("data", "filter", "inverse")] == [32, 28, 24]
    w4 = convops.winograd((4, 4), (3, 3))  # the paper's 156 and 100 (its filter's 72: the book)
    assert (w4.instructions("data"), w4.instructions("inverse")) == (156, 100)
    conv = torch.nn.Conv2d(1, 1, 3, bias=False).double()
    _, stages = fast.winograd_conv(conv, torch.randn(1, 1, 4, 4, dtype=torch.float64), 2)
    for transform, stage in (("data", "data_transform"), ("filter", "filter_transform"),
                             ("inverse", "inverse_transform")):
        cost = w.plain(transform)
        assert (cost.multiplications, cost.additions) == (stages[stage].multiplications,
                                                          stages[stage].additions)


@pytest.mark.parametrize("layer, request_, match", [
    (torch.nn.Conv2d(2, 2, 3, stride=2), dict(algorithm="winograd"), "stride-1"),
    (torch.nn.Conv2d(2, 2, 3, dilation=2), dict(algorithm="fft"), "dilation"),
    (torch.nn.ConvTranspose2d(2, 2, 3), dict(algorithm="im2col"), "convolutions"),
    (torch.nn.Conv2d(2, 2, 3), dict(algorithm="fft", tile=6), "power of two"),
    (torch.nn.Conv2d(2, 2, 3), dict(algorithm="fft", tile=2), "power of two"),
    (torch.nn.Conv2d(2, 2, 3), dict(algorithm="im2col", tile=2), "no tile"),
    (torch.nn.Conv2d(2, 2, 3), dict(tile=2), "no tile"),
    (torch.nn.Conv2d(2, 2, 3), dict(algorithm="winograd", tile=(2, 2, 2)), "one per dimension"),
    (torch.nn.Conv2d(2, 2, 3), dict(algorithm="strassen"), "choose among"),
    (torch.nn.Conv2d(2, 2, 3), dict(algorithm="winograd", backward=True), "backward=True"),
    (torch.nn.Conv2d(2, 2, 3), dict(algorithm="winograd", tile=20), "points"),
])
def test_refusals(layer, request_, match):
    with pytest.raises(ConvopsError, match=match):
        breakdown(layer, (1, 2, 9, 9), **request_)
    with pytest.raises(ConvopsError, match=match):
        count_ops(layer, (1, 2, 9, 9), **request_)


def test_direct_is_the_default():
    conv = torch.nn.Conv2d(3, 8, 3)
    assert breakdown(conv, (1, 3, 10, 10), algorithm="direct") == breakdown(conv, (1, 3, 10, 10))
    assert count_ops(conv, (1, 3, 10, 10), algorithm="direct") == count_ops(conv, (1, 3, 10, 10))


def test_empty_batch_counts_nothing():
    b = breakdown(torch.nn.Conv2d(2, 2, 3), (0, 2, 9, 9), algorithm="winograd")
    assert b.total == 0 and b.output_shape == (0, 2, 7, 7)


@pytest.mark.parametrize("m, r", [(2, 3), (4, 3), (6, 3), (3, 2), (4, 5)])
def test_cse_programs_compute_the_transforms(m, r):
    """Each counted program computes its matrix product exactly, and counts no more than the
    plain product's operations."""
    from convops.cook_toom import cse_schedule, linear_instructions

    f = convops.winograd(m, r)
    for transform in ("data", "filter", "inverse"):
        matrix = f.matrix(transform)
        values = {}
        for name, expr, n in cse_schedule(matrix):
            assert n == linear_instructions(expr)
            values[name] = sp.expand(expr.xreplace(values))
        v = sp.Matrix(sp.symbols(f"v0:{matrix.cols}"))
        assert [values[sp.Symbol(f"y{i}")] for i in range(matrix.rows)] == list(matrix * v)
        assert f.instructions(transform) <= f.plain(transform).total


def test_profile_counts_what_the_algorithm_applies_to():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.Conv2d(8, 8, 3, stride=2), torch.nn.ConvTranspose2d(8, 4, 2))
    shape = (2, 3, 12, 12)
    p = convops.profile(model, shape, algorithm="winograd", tile=4)
    assert convops.algorithms.fell_back(p) == ("2", "3")
    assert "2 of 3 calls counted as direct: 2, 3" in p.summary()
    direct = convops.profile(model, shape)
    first = breakdown(model[0], shape, algorithm="winograd", tile=4)
    assert p.counted[0].breakdown == first
    assert p.total == first.total + sum(layer.total for layer in direct.counted[1:])
    with pytest.raises(ConvopsError, match="forward at concrete sizes"):
        convops.profile(model, shape, algorithm="fft", backward=True)
    with pytest.raises(ConvopsError, match="choose among"):
        convops.profile(model, shape, algorithm="fast")


def test_cli_algorithm(capsys):
    from convops.cli import main

    assert main(["count", "Conv2d(3, 8, 3, padding=1)", "--input", "1,3,10,10",
                 "--algorithm", "winograd", "--tile", "4", "--json"]) == 0
    import json
    report = json.loads(capsys.readouterr().out)
    b = breakdown(torch.nn.Conv2d(3, 8, 3, padding=1), (1, 3, 10, 10), algorithm="winograd", tile=4)
    assert report["total"] == b.total and report["tile"] == [4, 4]
    assert report["parts"]["elementwise"]["multiplications"] == b.parts["elementwise"].multiplications
    assert main(["count", "Conv2d(3, 8, 3, stride=2)", "--input", "1,3,10,10",
                 "--algorithm", "fft"]) == 2
    assert "stride-1" in capsys.readouterr().err
