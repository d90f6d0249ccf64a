"""Lavin & Gray (2016), "Fast Algorithms for Convolutional Neural Networks": the paper's numbers
next to convops' (the chapter "What fast libraries run", ``notebooks/fast_algorithms.ipynb``).

The ``PAPER_*`` constants are the paper's published values, typed from it; every number they are
compared with is computed by convops (:func:`convops.winograd`, :func:`convops.breakdown`) or
measured by executing the book's implementations (:mod:`convops_book.fast`).
"""

from __future__ import annotations

import math
from typing import Sequence

import sympy as sp
import torch

import convops
from convops.cook_toom import cse_schedule, linear_instructions
from convops_book import fast
from convops_book.notebook import Table

#: (m, r) → the paper's multiplications per tile: Winograd's, then direct's (§4.1, §4.2, §5)
PAPER_MULTIPLICATIONS = {((2, 2), (3, 3)): (16, 36), ((4, 4), (3, 3)): (36, 144),
                         ((6, 6), (3, 3)): (64, 324), ((3, 3), (2, 2)): (16, 36)}
#: (m, r) → the paper's data, filter and inverse transform instructions (§4.1, §4.2)
PAPER_TRANSFORMS = {((2, 2), (3, 3)): (32, 28, 24), ((4, 4), (3, 3)): (156, 72, 100),
                    ((4,), (3,)): (13, 8, 10)}
#: Table 1: tile m of F(m×m, 3×3) → α′ (and β′, γ′, δ′ where the issue's copy gives them)
PAPER_TABLE1 = {1: (9.00, None, None, None), 2: (4.00, 2.00, 1.75, 1.50),
                4: (2.25, 4.33, 2.00, 2.78), 6: (1.78, None, None, None)}
#: Table 1's FFT rows, r = 3: FFT size α → α′ with 4 and with 3 real multiplications
PAPER_FFT = {8: (4.44, 3.33), 16: (2.94, None), 32: (2.42, None), 64: (2.20, None),
             128: (2.10, None), 256: (2.05, 1.54)}
PAPER_VGG_E_GFLOPS = 39.02  #: VGG-E's convolution layers at N = 1, 2 FLOPs per multiply-add
TRANSFORMS = ("data", "filter", "inverse")


def _mark(ours, paper) -> str:
    return "✓" if paper is not None and ours == paper else ("—" if paper is None else "≠")


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def tile_name(m: Sequence[int], r: Sequence[int]) -> str:
    """``F(2×2, 3×3)`` for ``m = (2, 2)``, ``r = (3, 3)``."""
    return f"F({'×'.join(map(str, m))}, {'×'.join(map(str, r))})"


def multiplications_table() -> Table:
    """Multiplications per tile: :func:`convops.winograd`'s and the direct algorithm's (one per
    output and tap) against the paper's."""
    rows = []
    for (m, r), (paper_w, paper_d) in PAPER_MULTIPLICATIONS.items():
        ours_w, ours_d = convops.winograd(m, r).multiplications, math.prod(m) * math.prod(r)
        rows.append((tile_name(m, r), str(ours_w), str(paper_w), str(ours_d), str(paper_d),
                     f"{ours_d / ours_w:.2f}×",
                     "✓" if (ours_w, ours_d) == (paper_w, paper_d) else "✗"))
    return Table(("algorithm", "Winograd", "paper", "direct", "paper", "saving", ""),
                 tuple(rows), "Multiplications per output tile")


def transforms_table() -> Table:
    """Each transform counted two ways, beside the paper's count."""
    rows = []
    for (m, r), paper in PAPER_TRANSFORMS.items():
        w = convops.winograd(m, r)
        for transform, theirs in zip(TRANSFORMS, paper):
            plain = w.plain(transform)
            fused = w.instructions(transform)
            rows.append((tile_name(m, r), transform, f"{plain.multiplications} + {plain.additions}",
                         str(fused), str(theirs), _mark(fused, theirs)))
    return Table(("algorithm", "transform", "plain: mult. + add.", "CSE, FMA = 1", "paper", ""),
                 tuple(rows), "Transform costs per tile")


def table1() -> Table:
    """Table 1's α′ (multiplications per output) and β′, γ′, δ′ (data, filter and inverse
    transform instructions per tile element, the paper's counting) for F(m×m, 3×3)."""
    rows = []
    for m, paper in PAPER_TABLE1.items():
        w = convops.winograd((m, m), (3, 3))
        alpha2 = math.prod(w.alpha)
        ours = [alpha2 / m ** 2] + ([w.instructions(t) / alpha2 for t in TRANSFORMS] if m > 1
                                     else [None] * 3)
        name = "direct" if m == 1 else tile_name((m, m), (3, 3))
        for symbol, value, theirs in zip(("α′", "β′", "γ′", "δ′"), ours, paper):
            if value is not None or theirs is not None:
                rows.append((name, symbol, _fmt(value), _fmt(theirs),
                             _mark(_fmt(value), None if theirs is None else _fmt(theirs))))
    return Table(("algorithm", "", "convops", "paper", ""), tuple(rows),
                 "Table 1: per-output multiplications and per-element transform costs")


def fft_multiplications_per_output(alpha: int, gauss: bool, r: int = 3) -> float:
    """α′ of the FFT of size ``alpha``: the ``elementwise`` multiplications of
    :func:`convops.breakdown` on one channel pair and one tile of ``α - r + 1`` outputs per side."""
    m = alpha - r + 1
    b = convops.breakdown(torch.nn.Conv2d(1, 1, r, bias=False), (1, 1, alpha, alpha),
                          algorithm="fft_gauss" if gauss else "fft", tile=alpha)
    return b.parts["elementwise"].multiplications / m ** 2


def fft_table() -> Table:
    """Table 1's FFT rows: α′ for FFT sizes 8 to 256, r = 3, with 4 and 3 real multiplications
    per complex product; ✓ where every value the paper gives is reproduced."""
    rows = []
    for alpha, paper in PAPER_FFT.items():
        ours = [_fmt(fft_multiplications_per_output(alpha, gauss)) for gauss in (False, True)]
        theirs = [_fmt(v) for v in paper]
        same = all(t in ("—", o) for o, t in zip(ours, theirs))
        rows.append((str(alpha), ours[0], theirs[0], ours[1], theirs[1], "✓" if same else "✗"))
    return Table(("FFT size α", "α′, 4 mult.", "paper", "α′, 3 mult.", "paper", ""), tuple(rows),
                 "Table 1, FFT: multiplications per output (4 or 3 per complex product)")


def convolution_inputs(model: torch.nn.Module, input_shape: Sequence[int]):
    """``(name, module, input shape)`` of each convolution ``model`` runs, from one run on meta
    tensors."""
    seen = []
    hooks = [module.register_forward_pre_hook(
        lambda module, args, name=name: seen.append((name, module, tuple(args[0].shape))))
        for name, module in model.named_modules() if isinstance(module, torch.nn.Conv2d)]
    try:
        with torch.no_grad():
            model.to("meta")(torch.empty(input_shape, device="meta"))
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def model_multiplications(model, input_shape, algorithm: str = "direct", tile=None) -> int:
    """Multiplications of every convolution of ``model`` under ``algorithm``."""
    return sum(convops.breakdown(module, shape, algorithm=algorithm, tile=tile).multiplications
               for _, module, shape in convolution_inputs(model, input_shape))


def accuracy(m: int | None, seed: int = 0, channels: int = 32, size: int = 24) -> float:
    """Largest absolute error, in fp32, of the direct algorithm (``m=None``: im2col's GEMM, an
    accumulation in order) or F(m×m, 3×3), against float64, on one random layer and input."""
    torch.manual_seed(seed)
    conv = torch.nn.Conv2d(channels, channels, 3, padding=1, bias=False)
    x = torch.randn(1, channels, size, size)
    exact = fast.im2col_conv(conv.double(), x.double())[0]
    conv = conv.float()
    y = fast.im2col_conv(conv, x)[0] if m is None else fast.winograd_conv(conv, x, m)[0]
    return (y.double() - exact).abs().max().item()


def accuracy_table(tiles: Sequence[int] = (2, 4, 6), seeds: Sequence[int] = (0, 1, 2)) -> Table:
    """Table 4's comparison: each algorithm's largest fp32 error over a few random layers, and
    its ratio to direct's, both rounded to one significant figure (stable across CPUs)."""
    direct = max(accuracy(None, s) for s in seeds)
    rows = [("direct (GEMM)", f"{direct:.0e}", "1×")]
    for m in tiles:
        error = max(accuracy(m, s) for s in seeds)
        rows.append((tile_name((m, m), (3, 3)), f"{error:.0e}", f"{float(f'{error / direct:.1g}'):g}×"))
    return Table(("algorithm", "largest fp32 error", "relative to direct"), tuple(rows),
                 "Table 4: fp32 error against float64")


def measured_table(cases) -> Table:
    """For each ``(module, input shape, algorithm, tile)``: convops' total beside the total the
    book's instrumented implementation executed, and ✓ where every stage agrees and the output
    equals ``F.conv2d`` (float64, 1e-9 relative)."""
    rows = []
    for module, shape, algorithm, tile in cases:
        module = module.double()
        x = torch.randn(shape, dtype=torch.float64)
        y, stages = fast.measured(module, x, algorithm, tile)
        b = convops.breakdown(module, shape, algorithm=algorithm, tile=tile)
        agree = {k: (p.multiplications, p.additions) for k, p in b.parts.items()} == stages
        expected = module(x)
        close = torch.allclose(y, expected, rtol=1e-9, atol=1e-9 * expected.abs().max().item())
        rows.append((repr(module), str(tuple(shape)), algorithm, "—" if tile is None else str(tile), f"{b.total:,}",
                     f"{sum(sum(v) for v in stages.values()):,}", "✓" if agree and close else "✗"))
    return Table(("layer", "input", "algorithm", "tile", "convops", "executed", ""), tuple(rows),
                 "Counted against executed")


def model_table(model, input_shape, cases=(("direct", None), ("im2col", None), ("winograd", 2),
                                            ("winograd", 4), ("winograd", 6), ("fft", None),
                                            ("fft", 32))) -> Table:
    """``model``'s convolutions under each algorithm: GFLOPs as the paper counts them (2 per
    multiplication), and every operation, counted."""
    rows = []
    for algorithm, tile in cases:
        totals = [convops.breakdown(module, shape, algorithm=algorithm, tile=tile)
                  for _, module, shape in convolution_inputs(model, input_shape)]
        mults = sum(b.multiplications for b in totals)
        rows.append((algorithm, "—" if tile is None else str(tile), f"{2 * mults / 1e9:.2f}",
                     f"{sum(b.total for b in totals) / 1e9:.2f}"))
    return Table(("algorithm", "tile", "GFLOPs (2 × mult.)", "G operations (all)"), tuple(rows),
                 "VGG-E's convolutions, N = 1, 224 × 224")


def per_output_curves(tiles=range(1, 9), alphas=(4, 8, 16, 32, 64, 128, 256), r: int = 3):
    """Multiplications per output against the output tile m per side: Winograd F(m×m, r×r) and
    the FFT (4 and 3 real multiplications per complex product), r × r kernels."""
    winograd = [(m, convops.winograd((m, m), (r, r)).multiplications / m ** 2) for m in tiles]
    ffts = {gauss: [(a - r + 1, fft_multiplications_per_output(a, gauss, r)) for a in alphas]
            for gauss in (False, True)}
    return winograd, ffts[False], ffts[True]


def paper_filter_program() -> Table:
    """A program of 8 instructions for F(4, 3)'s filter transform, as the paper counts: it reuses
    ``q = -(g0 + g2)/6`` in ``p = g0/24 + g2/6 = -q - g0/8``, a rewriting that sub-sum matching
    does not find.  Each line's instructions are counted by
    :func:`convops.cook_toom.linear_instructions`, and the outputs are checked against ``G g``."""
    g0, g1, g2, s, q, p = sp.symbols("g0 g1 g2 s q p")
    program = [(s, g0 + g2), (q, -s / 6), (sp.Symbol("y0"), g0 / 4), (sp.Symbol("y1"), q - g1 / 6),
               (sp.Symbol("y2"), q + g1 / 6), (p, -q - g0 / 8), (sp.Symbol("y3"), p + g1 / 12),
               (sp.Symbol("y4"), p - g1 / 12), (sp.Symbol("y5"), g2)]
    values: dict = {}
    for name, expr in program:
        values[name] = sp.expand(expr.xreplace(values))
    expected = convops.winograd(4, 3).G * sp.Matrix([g0, g1, g2])
    exact = [values[sp.Symbol(f"y{i}")] for i in range(6)] == list(expected)
    rows = tuple((str(name), str(expr), str(linear_instructions(expr))) for name, expr in program)
    total = sum(linear_instructions(expr) for _, expr in program)
    return Table(("line", "computes", "instructions"), rows + (("", "✓ equals G g" if exact else "✗", str(total)),),
                 "F(4, 3) filter transform in 8 instructions")


def schedule_table(matrix) -> Table:
    """The program convops counts for ``matrix @ v`` (:func:`convops.cook_toom.cse_schedule`)."""
    lines = cse_schedule(matrix)
    rows = tuple((str(name), str(expr), str(n)) for name, expr, n in lines)
    return Table(("line", "computes", "instructions"), rows + (("", "total", str(sum(n for *_, n in lines))),),
                 "Common-subexpression program")
