"""What fast libraries run: the operations of a convolution under im2col + GEMM, Winograd and FFT.

Each algorithm's count is a set of sympy formulas in the layer's parameters and output sizes, one
pair (multiplications, additions) per stage (:func:`formulas`), evaluated exactly for a concrete
layer and input (:func:`algorithm_breakdown`, which :func:`convops.breakdown` calls for
``algorithm=`` other than ``"direct"``).  The book's reference implementations
(``convops_book.fast``) execute each algorithm with every scalar operation counted, and their
counts equal these formulas.

- ``"im2col"``: the input unfolded into a matrix of ``C_in/g·∏k`` rows and ``∏L_out`` columns
  per sample and group (``workspace`` elements in all), multiplied by the weight matrix.  Same
  multiplications and additions as the direct algorithm.
- ``"winograd"``: F(m×…, r×…) (:func:`convops.cook_toom.winograd`), ``tile`` = m (default 2),
  on output tiles of m per dimension, the last tiles padded with zeros: data transform per tile
  and input channel, filter transform once per filter, ``∏(m + r - 1)`` elementwise products per
  tile and channel pair, accumulation over input channels in the transform domain, inverse
  transform per tile and output channel.  Stride 1 and dilation 1 only.
- ``"fft"`` and ``"fft_gauss"``: overlap-save (Lavin & Gray §4.4) with FFT size ``tile`` = α, a
  power of two, per dimension (output tiles of ``α - k + 1``); ``tile=None`` is the whole-input
  FFT (α per dimension: the smallest power of two ≥ ``L_out + k - 1``).  The transforms are
  radix-2 complex FFTs (a twiddle factor 1 is not multiplied), the last dimension halved to
  ``α/2 + 1`` coefficients after its pass (the input is real); complex products take 4 real
  multiplications and 2 additions (``"fft"``) or 3 and 2 (``"fft_gauss"``, Gauss's product, whose
  data-side sum goes into the data transform and filter-side sums into the filter transform).
  The inverse's scaling ``1/∏α`` is folded into the filter transform.  Stride 1, dilation 1.

Transposed convolutions are refused by every fast algorithm here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Mapping, Sequence

import sympy as sp

from .compiler import compile_int
from .errors import ConvopsError
from .layer import Layer
from .symbols import Symbols, symbols
from .cook_toom import DEFAULT_POINTS, Operations, nested_cost, winograd

ALGORITHMS = ("direct", "im2col", "winograd", "fft", "fft_gauss")  #: what ``algorithm=`` accepts
STAGES = ("data_transform", "filter_transform", "elementwise", "accumulation",
          "inverse_transform", "bias")  #: the parts of a Winograd or FFT count, in order
DEFAULT_WINOGRAD_TILE = 2  #: m of F(m×m, r×r) when ``tile`` is not given


@dataclass(frozen=True)
class AlgorithmBreakdown:
    """The operations of one layer and input under a fast algorithm, stage by stage.

    ``parts`` maps each stage's name to its :class:`Operations`; they add up to
    ``multiplications``, ``additions`` and ``total``.

    Examples
    --------
    >>> import torch, convops
    >>> b = convops.breakdown(torch.nn.Conv1d(1, 1, 3), (1, 1, 6), algorithm="winograd")
    >>> b.parts["elementwise"], b.multiplications, b.total
    (Operations(multiplications=8, additions=0), 14, 38)

    See Also
    --------
    convops.Breakdown : the direct algorithm's counts.
    """

    kind: str  #: the module's class name
    algorithm: str  #: ``"im2col"``, ``"winograd"``, ``"fft"`` or ``"fft_gauss"``
    tile: tuple[int, ...] | None  #: m per dimension (Winograd), α per dimension (FFT), None (im2col)
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    batch: int
    parts: Mapping[str, Operations] = field(repr=False)
    workspace: int | None = None  #: elements of im2col's unfolded matrix (None for the others)

    @property
    def multiplications(self) -> int:
        """Every multiplication of the layer over the batch."""
        return sum(p.multiplications for p in self.parts.values())

    @property
    def additions(self) -> int:
        """Every addition of the layer over the batch."""
        return sum(p.additions for p in self.parts.values())

    @property
    def total(self) -> int:
        """Multiplications plus additions."""
        return self.multiplications + self.additions

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in
                           ("kind", "algorithm", "tile", "input_shape", "output_shape", "batch",
                            "workspace", "multiplications", "additions", "total"))
        return f"AlgorithmBreakdown({fields})"

    @property
    def macs(self) -> int:
        """One per multiplication, as :attr:`convops.Breakdown.macs`."""
        return self.multiplications

    @property
    def flops(self) -> int:
        """Two per multiplication, as Lavin & Gray count GFLOPs."""
        return 2 * self.multiplications

    def as_dict(self) -> dict[str, Any]:
        """Every figure as plain ints and strings (``convops count --algorithm … --json``).

        Examples
        --------
        >>> import torch, convops
        >>> b = convops.breakdown(torch.nn.Conv1d(1, 1, 3), (1, 1, 6), algorithm="im2col")
        >>> d = b.as_dict()
        >>> d["algorithm"], d["total"], d["workspace"]
        ('im2col', 24, 12)
        """
        return {"kind": self.kind, "algorithm": self.algorithm, "tile": self.tile,
                "input_shape": list(self.input_shape), "output_shape": list(self.output_shape),
                "batch": self.batch, "parts": {name: {"multiplications": p.multiplications,
                                                      "additions": p.additions}
                                               for name, p in self.parts.items()},
                "multiplications": self.multiplications, "additions": self.additions,
                "total": self.total, "workspace": self.workspace}

    def text(self) -> str:
        """The stages as a table of text (``convops count --algorithm …``).

        Examples
        --------
        >>> import torch, convops
        >>> print(convops.breakdown(torch.nn.Conv1d(1, 1, 3), (1, 1, 6), algorithm="winograd").text())
        Conv1d on input (1, 1, 6) -> output (1, 1, 4), algorithm='winograd', tile (2,)
        total operations: 38
          stage                   multiplications       additions
          data_transform                        0               8
          filter_transform                      6               4
          elementwise                           8               0
          accumulation                          0               0
          inverse_transform                     0               8
          bias                                  0               4
        """
        lines = [f"{self.kind} on input {self.input_shape} -> output {self.output_shape}, "
                 f"algorithm={self.algorithm!r}" + (f", tile {self.tile}" if self.tile else ""),
                 f"total operations: {self.total:,}",
                 f"  {'stage':<20}{'multiplications':>19}{'additions':>16}"]
        lines += [f"  {name:<20}{p.multiplications:>19,}{p.additions:>16,}"
                  for name, p in self.parts.items()]
        if self.workspace is not None:
            lines.append(f"  workspace (elements of the unfolded input): {self.workspace:,}")
        return "\n".join(lines)


def parse_tile(text: str) -> int | tuple[int, ...]:
    """``--tile``: ``"4"`` → 4, ``"4,2"`` → (4, 2).

    Examples
    --------
    >>> parse_tile("4"), parse_tile("4,2")
    (4, (4, 2))
    """
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ConvopsError(f"--tile {text!r}: give an int, or ints separated by commas") from None
    return values[0] if len(values) == 1 else values


def call_counter(algorithm: str, tile: Any, direct: Callable) -> tuple[Callable, dict]:
    """A count of one profiled call under ``algorithm`` (for :func:`convops.profile`), from
    ``direct(layer, shape_in, shape_out)``, the direct count; a call the algorithm does not
    apply to is counted by the direct algorithm, and why is kept in the returned dict (the
    ``direct`` breakdown → the reason)."""
    if algorithm not in ALGORITHMS[1:]:
        raise ConvopsError(f"algorithm={algorithm!r}: choose among {', '.join(map(repr, ALGORITHMS))}")
    reasons: dict[int, str] = {}

    def count(layer: Layer, shape_in: tuple, shape_out: tuple):
        counts = direct(layer, shape_in, shape_out)
        try:
            check_algorithm(layer, algorithm, tile)
        except ConvopsError as error:
            reasons[id(counts)] = str(error).split(": use")[0]
            return counts
        return algorithm_breakdown(layer, shape_in, algorithm, tile, counts)
    return count, reasons


def fell_back(profile: Any) -> tuple[str, ...]:
    """The names of a profile's counted calls that the direct algorithm counted: those its
    ``algorithm`` does not apply to."""
    return tuple(layer.name for layer in profile.counted
                 if not isinstance(layer.breakdown, AlgorithmBreakdown))


def profile_note(layers: Sequence[Any], algorithm: str, tile: Any, reasons: dict) -> str:
    """The profile's summary note: the algorithm, and which calls fell back to direct."""
    counted = [layer for layer in layers if layer.breakdown is not None]
    direct = [layer for layer in counted if not isinstance(layer.breakdown, AlgorithmBreakdown)]
    note = f"algorithm={algorithm!r}" + ("" if tile is None else f", tile={tile!r}")
    if not direct:
        return note + f" for all {len(counted)} convolution calls"
    why = sorted({reasons.get(id(layer.breakdown), "") for layer in direct} - {""})
    return (note + f"; {len(direct)} of {len(counted)} calls counted as direct: "
            + ", ".join(layer.name for layer in direct[:8]) + (" …" if len(direct) > 8 else "")
            + (f" ({'; '.join(why)})" if why else ""))


def _tiles(S: Symbols, m: Sequence) -> sp.Expr:
    """Output tiles per sample and channel: ``∏ ceil(L_out_i / m_i)``."""
    return sp.prod([sp.ceiling(L / mi) for L, mi in zip(S.size_out, m)])


def _im2col(S: Symbols) -> dict[str, tuple[sp.Expr, sp.Expr]]:
    outputs = S.N * S.C_out * sp.prod(S.size_out)
    depth = S.C_in / S.g * sp.prod(S.k)
    return {"gemm": (outputs * depth, outputs * (depth - 1)), "bias": (sp.S.Zero, outputs * S.b)}


def winograd_costs(m: Sequence[int], r: Sequence[int]) -> dict[str, list[tuple[int, int]]]:
    """Each transform's 1-d plain cost per dimension, ``(multiplications, additions)``, of
    F(m₀×…, r₀×…) (:meth:`convops.cook_toom.Winograd.plain`)."""
    dims = winograd(tuple(m), tuple(r)).dims
    return {t: [(c.multiplications, c.additions) for c in (w.plain(t) for w in dims)]
            for t in ("data", "filter", "inverse")}


def _winograd(S: Symbols, m: Sequence, k: Sequence, costs: Mapping) -> dict[str, tuple[sp.Expr, sp.Expr]]:
    """Winograd's stages for output tiles ``m`` and kernel sizes ``k``, from each transform's
    1-d costs per dimension (numbers, or symbols for the calculator)."""
    T, points = _tiles(S, m), sp.prod([a + b - 1 for a, b in zip(m, k)])
    data, filt, inverse = (nested_cost(t, m, k, costs[t]) for t in ("data", "filter", "inverse"))
    per_channel = S.C_in / S.g
    return {
        "data_transform": _scaled(data, S.N * S.C_in * T),
        "filter_transform": _scaled(filt, S.C_out * per_channel),
        "elementwise": (S.N * S.C_out * per_channel * T * points, sp.S.Zero),
        "accumulation": (sp.S.Zero, S.N * S.C_out * T * points * (per_channel - 1)),
        "inverse_transform": _scaled(inverse, S.N * S.C_out * T),
        "bias": (sp.S.Zero, S.N * S.C_out * sp.prod(S.size_out) * S.b),
    }


def _scaled(cost: tuple, times: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    return times * cost[0], times * cost[1]


def fft_cost(alpha) -> tuple[sp.Expr, sp.Expr]:
    """Real multiplications and additions of one radix-2 complex FFT of size ``alpha``: its
    ``(α/2)·log₂α`` butterflies each add and subtract two complex numbers, and all but the
    ``α - 1`` whose twiddle factor is 1 multiply by it (4 multiplications, 2 additions).

    Examples
    --------
    >>> fft_cost(8)
    (20, 58)
    """
    butterflies = sp.Rational(1, 2) * alpha * sp.log(alpha, 2)
    products = butterflies - alpha + 1
    return sp.simplify(4 * products), sp.simplify(2 * products + 4 * butterflies)


def fft_transform_cost(alpha: Sequence, costs: Sequence | None = None) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """``(multiplications, additions, kept)`` of the FFT of a real tile of sizes ``alpha``: the
    last dimension first, keeping ``α/2 + 1`` coefficients, then each other dimension on what
    was kept.  ``kept`` is the number of complex coefficients left (the inverse costs the same).
    ``costs`` are each dimension's 1-d FFT costs, by default :func:`fft_cost` (symbols for the
    calculator, whose table gives them).

    Examples
    --------
    >>> fft_transform_cost((8, 8))
    (260, 754, 40)
    """
    *first, last = alpha
    kept = sp.prod(first) * (sp.floor(sp.S(last) / 2) + 1)
    lines = [sp.prod(first)] + [kept / a for a in first]
    costs = [fft_cost(a) for a in alpha] if costs is None else list(costs)
    costs = costs[-1:] + costs[:-1]
    return (sp.expand(sum(n * c[0] for n, c in zip(lines, costs))),
            sp.expand(sum(n * c[1] for n, c in zip(lines, costs))), kept)


def _fft(S: Symbols, alpha: Sequence, gauss: bool, k: Sequence, costs=None,
         m: Sequence | None = None) -> dict[str, tuple[sp.Expr, sp.Expr]]:
    """The FFT's stages; ``m``, the output tile per dimension, defaults to ``α - k + 1``."""
    gauss = int(gauss)
    T = _tiles(S, m or [a - r + 1 for a, r in zip(alpha, k)])
    mults, adds, kept = fft_transform_cost(alpha, costs)
    per_channel = S.C_in / S.g
    data, filters = S.N * S.C_in * T, S.C_out * per_channel
    products = S.N * S.C_out * per_channel * T * kept
    return {
        "data_transform": (data * mults, data * (adds + gauss * kept)),
        "filter_transform": (filters * (mults + 2 * kept), filters * (adds + 2 * gauss * kept)),
        "elementwise": (products * (3 if gauss else 4), products * 2),
        "accumulation": (sp.S.Zero, 2 * S.N * S.C_out * T * kept * (per_channel - 1)),
        "inverse_transform": (S.N * S.C_out * T * mults, S.N * S.C_out * T * adds),
        "bias": (sp.S.Zero, S.N * S.C_out * sp.prod(S.size_out) * S.b),
    }


def fft_symbols(ndim: int) -> tuple[sp.Symbol, ...]:
    """The FFT sizes α per dimension, as they print in :func:`formulas`."""
    return sp.symbols(f"alpha0:{ndim}", positive=True, integer=True)


def formulas(ndim: int, algorithm: str, tile: Sequence[int] | None = None,
             kernel_size: Sequence[int] | None = None) -> dict[str, tuple[sp.Expr, sp.Expr]]:
    """The stages of ``algorithm`` for a ``ndim``-d convolution: name → (multiplications,
    additions), sympy in the symbols of :func:`convops.symbols.symbols` (``tile`` per dimension;
    Winograd needs the ``kernel_size``, its matrices are numbers; an FFT without ``tile`` is
    in the FFT sizes :func:`fft_symbols`, and takes ``kernel_size`` in place of its symbols).

    Examples
    --------
    >>> f = formulas(2, "winograd", (2, 2), (3, 3))
    >>> f["elementwise"][0], f["data_transform"]
    (16*C_in*C_out*N*ceiling(H_out/2)*ceiling(W_out/2)/g, (0, 32*C_in*N*ceiling(H_out/2)*ceiling(W_out/2)))
    """
    S = symbols(ndim)
    if algorithm == "im2col":
        return _im2col(S)
    if algorithm == "winograd":
        return _winograd(S, tuple(tile), tuple(kernel_size), winograd_costs(tile, kernel_size))
    if algorithm in ("fft", "fft_gauss"):
        alpha = fft_symbols(ndim) if tile is None else tuple(tile)
        return _fft(S, alpha, algorithm == "fft_gauss", kernel_size or S.k)
    raise ConvopsError(f"algorithm={algorithm!r}: choose among {', '.join(map(repr, ALGORITHMS))}")


def workspace(S: Symbols) -> sp.Expr:
    """im2col's unfolded input: ``C_in·∏k`` rows and ``∏L_out`` columns per sample."""
    return S.N * S.C_in * sp.prod(S.k) * sp.prod(S.size_out)


def calculator_formulas(ndim: int, algorithm: str):
    """``(arguments, outputs, intermediates, stages)`` of ``algorithm``'s count with its tile
    and each dimension's 1-d transform costs as arguments (``m0 …`` and ``data_mult0 …`` for
    Winograd, ``alpha0 …`` and ``fft_mult0 …`` for FFT): what the site's calculator prints as
    JavaScript, its tables of costs printed from :func:`winograd_costs` and :func:`fft_cost`.
    ``outputs`` are each stage's multiplications and additions in turn (then, for im2col, the
    workspace).

    Examples
    --------
    >>> arguments, outputs, intermediates, stages = calculator_formulas(1, "fft")
    >>> arguments[-4:], intermediates, stages[:2]
    ((L_out, alpha0, fft_mult0, fft_add0), [(m0, alpha0 - k + 1)], ('data_transform', 'filter_transform'))
    """
    S = symbols(ndim)
    arguments = [S.N, S.C_in, S.C_out, S.g, S.b, *S.k, *S.size_out]
    named = lambda stem: sp.symbols(f"{stem}0:{ndim}", integer=True, nonnegative=True)
    intermediates = []
    if algorithm == "im2col":
        parts = _im2col(S)
    elif algorithm == "winograd":
        m = sp.symbols(f"m0:{ndim}", integer=True, positive=True)
        costs = {t: list(zip(named(f"{t}_mult"), named(f"{t}_add"))) for t in ("data", "filter", "inverse")}
        arguments += [*m, *(c for t in costs.values() for pair in t for c in pair)]
        parts = _winograd(S, m, S.k, costs)
    else:
        alpha, m = fft_symbols(ndim), sp.symbols(f"m0:{ndim}", integer=True, positive=True)
        costs = list(zip(named("fft_mult"), named("fft_add")))
        arguments += [*alpha, *(c for pair in costs for c in pair)]
        intermediates = [(mi, a - k + 1) for mi, a, k in zip(m, alpha, S.k)]
        parts = _fft(S, alpha, algorithm == "fft_gauss", S.k, costs, m)
    outputs = [e for pair in parts.values() for e in pair]
    if algorithm == "im2col":
        outputs.append(workspace(S))
    return tuple(arguments), outputs, intermediates, tuple(parts)


def check_algorithm(layer: Layer, algorithm: str, tile: Any) -> tuple[int, ...] | None:
    """The tile per dimension ``algorithm`` runs ``layer`` with (None for im2col and the
    whole-input FFT); :class:`ConvopsError` says why it cannot."""
    n = layer.kind.ndim
    if algorithm not in ALGORITHMS[1:]:
        raise ConvopsError(f"algorithm={algorithm!r}: choose among {', '.join(map(repr, ALGORITHMS))}")
    if layer.kind.transposed:
        raise ConvopsError(f"algorithm={algorithm!r} counts convolutions; {layer.kind.name} runs "
                           "as GEMM + col2im, not counted here: use algorithm='direct'")
    if algorithm == "im2col":
        if tile is not None:
            raise ConvopsError(f"tile={tile!r}: im2col has no tile; leave it out")
        return None
    for name, values in (("stride", layer.stride), ("dilation", layer.dilation)):
        if any(v != 1 for v in values):
            raise ConvopsError(f"algorithm={algorithm!r} computes stride-1, dilation-1 convolutions "
                               f"(its tiles slide by their own size); this layer has {name}="
                               f"{values}: use algorithm='direct' or 'im2col'")
    if tile is None:
        return (DEFAULT_WINOGRAD_TILE,) * n if algorithm == "winograd" else None
    tiles = (tile,) * n if isinstance(tile, int) and not isinstance(tile, bool) else tile
    if not (isinstance(tiles, (tuple, list)) and len(tiles) == n
            and all(isinstance(t, int) and not isinstance(t, bool) and t >= 1 for t in tiles)):
        raise ConvopsError(f"tile={tile!r} must be a positive int or {n} of them, one per dimension")
    if algorithm == "winograd":
        for m, k in zip(tiles, layer.kernel_size):
            if m + k - 2 > len(DEFAULT_POINTS):
                raise ConvopsError(f"tile={tile!r}: F({m}, {k}) needs {m + k - 2} interpolation "
                                   f"points, more than the {len(DEFAULT_POINTS)} defaults of "
                                   "convops.cook_toom.DEFAULT_POINTS: choose a smaller tile")
    if algorithm.startswith("fft"):
        for t, k in zip(tiles, layer.kernel_size):
            if t & (t - 1) or t < k:
                raise ConvopsError(f"tile={tile!r}: the FFT size must be a power of two at least the "
                                   f"kernel size {layer.kernel_size}")
    return tuple(tiles)


def whole_input_fft(size_out: Sequence[int], kernel_size: Sequence[int]) -> tuple[int, ...]:
    """α per dimension of the whole-input FFT: the smallest power of two ≥ ``L_out + k - 1``.

    Examples
    --------
    >>> whole_input_fft((30, 7), (3, 3))
    (32, 16)
    """
    return tuple(1 << (L + k - 2).bit_length() for L, k in zip(size_out, kernel_size))


@lru_cache(maxsize=256)
def _compiled(ndim: int, algorithm: str, tile, kernel_size):
    """Exact integer code of :func:`formulas` (:func:`convops.compiler.compile_int`): a function of
    ``(N, C_in, C_out, g, b, *k, *size_out)`` giving every stage's two counts, in order."""
    S = symbols(ndim)
    parts = formulas(ndim, algorithm, tile, kernel_size)
    arguments = (S.N, S.C_in, S.C_out, S.g, S.b, *S.k, *S.size_out)
    return tuple(parts), compile_int(arguments, [e for pair in parts.values() for e in pair])


def algorithm_breakdown(layer: Layer, input_shape: Sequence[int], algorithm: str, tile: Any,
                        direct: Any) -> AlgorithmBreakdown:
    """The :class:`AlgorithmBreakdown` of ``layer`` on ``input_shape``; ``direct`` is its direct
    :class:`~convops.count.Breakdown` (which checked the layer and input).

    Examples
    --------
    >>> import torch, convops
    >>> b = convops.breakdown(torch.nn.Conv2d(4, 8, 3, padding=1), (1, 4, 8, 8), algorithm="winograd")
    >>> b.parts["elementwise"], b.total
    (Operations(multiplications=8192, additions=0), 22208)
    """
    tiles = check_algorithm(layer, algorithm, tile)
    n = layer.kind.ndim
    size_out = direct.output_shape[-n:]
    alpha = ()
    if algorithm.startswith("fft"):
        alpha = tiles or whole_input_fft(size_out, layer.kernel_size)
    names, compiled = _compiled(n, algorithm, alpha or tiles,
                                None if algorithm == "im2col" else layer.kernel_size)
    values = [0] * 2 * len(names)
    if direct.batch:  # an empty batch transforms nothing, not even the filters
        values = compiled(direct.batch, layer.in_channels, layer.out_channels, layer.groups,
                          int(layer.bias), *layer.kernel_size, *size_out)
    parts = {name: Operations(values[2 * i], values[2 * i + 1]) for i, name in enumerate(names)}
    workspace_ = None
    if algorithm == "im2col":
        S = symbols(n)
        workspace_ = workspace(S).xreplace(dict(zip((S.N, S.C_in, *S.k, *S.size_out), (
            direct.batch, layer.in_channels, *layer.kernel_size, *size_out))))
    return AlgorithmBreakdown(layer.kind.name, algorithm, alpha or tiles, direct.input_shape,
                              direct.output_shape, direct.batch, parts,
                              None if workspace_ is None else int(workspace_))
