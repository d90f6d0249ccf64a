r"""Where the products of a transposed convolution land, counted without any formula.

A transposed convolution multiplies input element ``i`` by tap ``j`` and adds the product into
output position :math:`o = i s + j d - p` (per dimension).  :func:`products_per_position`
enumerates every pair and tallies :math:`n_o`, the products landing on each output position; the
additions per filter are then :math:`\sum_o \max(n_o - 1, 0)`.  Nothing here uses the closed form of
:mod:`convops.additions`, so :func:`verify_additions` checks that closed form against two counts
made independently of it: this enumeration and the pages' ones-trick run through torch.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np
import torch

from convops import ConvopsError, Layer, breakdown
from convops.reference import additions_by_ones, run


def _per_dim(name: str, value, ndim: int) -> tuple[int, ...]:
    values = (value,) * ndim if isinstance(value, int) else tuple(value)
    if len(values) != ndim:
        raise ValueError(f"{name}={value!r} must be an int or {ndim} ints, one per spatial dimension")
    return values


def products_per_position(size_in, kernel_size, stride=1, dilation=1, padding=0,
                          output_padding=0) -> np.ndarray:
    """:math:`n_o` for every output position of a one-channel transposed convolution.

    ``size_in`` is the spatial input size (one int per dimension); the other arguments are
    torch's, as ints or one int per dimension.  The array has the output's spatial shape.
    """
    size_in = tuple(size_in)
    ndim = len(size_in)
    k, s, d, p, q = (_per_dim(name, value, ndim) for name, value in (
        ("kernel_size", kernel_size), ("stride", stride), ("dilation", dilation),
        ("padding", padding), ("output_padding", output_padding)))
    layer = Layer.create(f"ConvTranspose{ndim}d", 1, 1, k, stride=s, padding=p, dilation=d,
                         output_padding=q, bias=False)
    size_out = breakdown(layer, (1, 1, *size_in)).output_shape[2:]  # refuses sizes below 1
    # Every (input index, tap) pair of every dimension, and the output coordinate it lands on.
    landing = np.meshgrid(*(np.add.outer(np.arange(L) * sd, np.arange(kd) * dd).ravel() - pd
                            for L, kd, sd, dd, pd in zip(size_in, k, s, d, p)), indexing="ij")
    inside = np.ones(landing[0].shape, dtype=bool)
    for coordinate, extent in zip(landing, size_out):
        inside &= (coordinate >= 0) & (coordinate < extent)
    counts = np.zeros(size_out, dtype=np.int64)
    np.add.at(counts, tuple(coordinate[inside] for coordinate in landing), 1)
    return counts


def products_per_position_by_torch(size_in, kernel_size, stride=1, dilation=1, padding=0,
                                   output_padding=0) -> np.ndarray:
    """:math:`n_o` as torch computes it: the pages' ones-trick, a transposed convolution of an
    all-ones input with an all-ones kernel, returned as a map rather than summed."""
    size_in = tuple(size_in)
    ndim = len(size_in)
    transposed = getattr(torch.nn.functional, f"conv_transpose{ndim}d")
    weight = torch.ones((1, 1, *_per_dim("kernel_size", kernel_size, ndim)), dtype=torch.float64)
    with torch.no_grad():
        out = transposed(torch.ones((1, 1, *size_in), dtype=torch.float64), weight, stride=stride,
                         padding=padding, output_padding=output_padding, dilation=dilation)
    return out[0, 0].round().to(torch.int64).numpy()


def additions_from_counts(counts: np.ndarray) -> int:
    """Additions that sum the products landing on each position: :math:`\\sum_o \\max(n_o - 1, 0)`."""
    return int(np.maximum(counts - 1, 0).sum())


@dataclass(frozen=True)
class Config:
    """The spatial parameters of a one-channel transposed convolution and its input size."""

    size_in: tuple[int, ...]
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: tuple[int, ...]
    output_padding: tuple[int, ...]

    @property
    def ndim(self) -> int:
        return len(self.size_in)

    def layer(self, in_channels=1, out_channels=1, groups=1, bias=False) -> Layer:
        return Layer.create(f"ConvTranspose{self.ndim}d", in_channels, out_channels,
                            self.kernel_size, stride=self.stride, padding=self.padding,
                            dilation=self.dilation, groups=groups, bias=bias,
                            output_padding=self.output_padding)

    def module(self, in_channels=1, out_channels=1, groups=1, bias=False) -> torch.nn.Module:
        return self.layer(in_channels, out_channels, groups, bias).to_module()

    def arguments(self) -> tuple:
        """Positional arguments of :func:`products_per_position` and ``additions_by_ones``."""
        return (self.size_in, self.kernel_size, self.stride, self.dilation, self.padding,
                self.output_padding)


def random_config(rng: random.Random, ndim: int, max_size=6, max_kernel=4, max_stride=5,
                  max_dilation=3, max_padding=4) -> Config:
    """A configuration torch accepts (output size at least 1), drawn from ``rng``.

    Strides run past the kernel's reach, so gaps are common; ``output_padding`` takes every value
    torch allows, ``0 <= q < max(s, d)``.
    """
    while True:
        k = tuple(rng.randint(1, max_kernel) for _ in range(ndim))
        s = tuple(rng.randint(1, max_stride) for _ in range(ndim))
        d = tuple(rng.randint(1, max_dilation) for _ in range(ndim))
        p = tuple(rng.randint(0, max_padding) for _ in range(ndim))
        q = tuple(rng.randrange(max(sd, dd)) for sd, dd in zip(s, d))
        size_in = tuple(rng.randint(1, max_size) for _ in range(ndim))
        config = Config(size_in, k, s, d, p, q)
        try:
            breakdown(config.layer(), (1, *size_in))
        except ConvopsError:  # an output size below 1
            continue
        return config


@dataclass
class Verification:
    """The outcome of :func:`verify_additions`: how many configurations, and which disagreed."""

    checked: int = 0
    with_gaps: int = 0  #: configurations where some output position receives no product
    pages_negative: int = 0  #: configurations where the pages' unclipped sum is negative
    mismatches: list[tuple[Config, int, int, int]] = field(default_factory=list)
    """``(config, closed form, enumeration, torch)`` wherever the counts or the maps differ."""

    @property
    def agree(self) -> bool:
        return self.checked > 0 and not self.mismatches


def verify_additions(count: int, seed: int = 0, ndims=(1, 2, 3)) -> Verification:
    """Check the closed form of ``A`` on ``count`` random configurations, cycling through ``ndims``.

    Each is counted three ways: convops' closed form (:func:`convops.breakdown`), the enumeration
    of :func:`products_per_position`, and the ones-trick through torch
    (:func:`products_per_position_by_torch`), whose map must also equal the enumerated one.
    """
    rng = random.Random(seed)
    result = Verification()
    for index in range(count):
        ndim = ndims[index % len(ndims)]
        config = random_config(rng, ndim, max_size=6 if ndim < 3 else 4,
                               max_kernel=4 if ndim < 3 else 3)
        closed = breakdown(config.layer(), (1, *config.size_in)).A
        counts = products_per_position(*config.arguments())
        by_torch = products_per_position_by_torch(*config.arguments())
        enumerated, ones = additions_from_counts(counts), additions_from_counts(by_torch)
        result.checked += 1
        result.with_gaps += bool((by_torch == 0).any())
        result.pages_negative += int((by_torch - 1).sum()) < 0
        if not (closed == enumerated == ones and np.array_equal(counts, by_torch)):
            result.mismatches.append((config, closed, enumerated, ones))
    return result


@dataclass
class ReferenceCheck:
    """The outcome of :func:`verify_reference`."""

    checked: int = 0
    mismatches: list[tuple[torch.nn.Module, tuple[int, ...], str]] = field(default_factory=list)
    """``(module, input shape, what differed)``."""

    @property
    def agree(self) -> bool:
        return self.checked > 0 and not self.mismatches


def verify_reference(count: int, seed: int = 0, ndims=(1, 2, 3)) -> ReferenceCheck:
    """Run ``count`` random transposed layers (channels, groups, bias, batch) through the
    instrumented reference and compare output, multiplications and additions with convops."""
    rng = random.Random(seed)
    generator = torch.Generator().manual_seed(seed)
    result = ReferenceCheck()
    for index in range(count):
        ndim = ndims[index % len(ndims)]
        config = random_config(rng, ndim, max_size=5 if ndim < 3 else 3,
                               max_kernel=3 if ndim < 3 else 2)
        groups = rng.randint(1, 2)
        module = config.module(groups * rng.randint(1, 2), groups * rng.randint(1, 2), groups,
                               bias=rng.random() < 0.5).double()
        shape = (rng.randint(1, 2), module.in_channels, *config.size_in)
        x = torch.randn(shape, generator=generator, dtype=torch.float64)
        with torch.no_grad():
            expected = module(x)
            output, counter = run(module, x)
        counted = breakdown(module, shape)
        result.checked += 1
        problems = [name for name, ok in (
            ("output", torch.allclose(output, expected)),
            ("multiplications", counter.multiplications == counted.multiplications),
            ("additions", counter.additions == counted.additions)) if not ok]
        if problems:
            result.mismatches.append((module, shape, ", ".join(problems)))
    return result


def draw_counts(ax, counts: np.ndarray, title: str = "") -> None:
    """Draw a 2-D map of :math:`n_o` on ``ax``: reached positions shaded by :math:`n_o` and labelled,
    unreached ones (:math:`n_o = 0`) left empty with a dotted grey outline, on a transparent
    background that reads in light and dark themes."""
    from matplotlib import colormaps
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    from .figures import style_axes

    top = max(int(counts.max()), 2)
    rgba = colormaps["viridis"](0.15 + 0.85 * (counts - 1) / (top - 1))
    rgba[counts == 0] = 0  # transparent
    ax.imshow(rgba, interpolation="nearest")
    luminance = rgba[..., :3] @ np.array([0.299, 0.587, 0.114])
    for (row, col), n in np.ndenumerate(counts):
        if n:
            ax.text(col, row, str(n), ha="center", va="center", fontsize=10,
                    color="black" if luminance[row, col] > 0.5 else "white")
    gaps = [Rectangle((col - 0.4, row - 0.4), 0.8, 0.8) for row, col in np.argwhere(counts == 0)]
    ax.add_collection(PatchCollection(gaps, facecolor="none", edgecolor="#8a8a8a",
                                      linestyle=":", linewidth=0.8))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    style_axes(ax)
    ax.set_title(title, fontsize=10)


def counts_figure(input_size: tuple[int, ...], panels: list[dict], columns: int = 3):
    """The maps of :math:`n_o` (:func:`draw_counts`) of a ``input_size`` input under each layer
    of ``panels`` (keyword arguments of :func:`products_per_position`), each titled with its
    parameters and A, as a :class:`convops_book.figures.Figure` whose alt text lists them."""
    import matplotlib
    import matplotlib.pyplot as plt

    from .figures import figure, plot_style

    short = {"kernel_size": "k", "stride": "s", "dilation": "d", "padding": "p",
             "output_padding": "q"}
    described = []
    with matplotlib.rc_context(plot_style()):
        rows = -(-len(panels) // columns)
        fig, axes = plt.subplots(rows, columns, figsize=(7.2, 2.9 * rows), layout="constrained",
                                 squeeze=False)
        for ax, args in zip(axes.flat, panels):
            counts = products_per_position(input_size, **args)
            label = ", ".join(f"{short[name]}={value}" for name, value in args.items())
            additions = additions_from_counts(counts)
            draw_counts(ax, counts, f"{label}\nA = {additions}")
            described.append(f"{label}: {counts.shape[0]}×{counts.shape[1]} output, "
                             f"{int((counts == 0).sum())} positions unreached, A = {additions}")
        for ax in axes.flat[len(panels):]:
            ax.set_axis_off()
    alt = (f"{len(panels)} maps of the number of products landing on each output position of a "
           f"transposed convolution of a {'×'.join(map(str, input_size))} input: "
           + "; ".join(described) + ".")
    caption = ("Products per output position (n_o), shaded and labelled; dotted outlines mark "
               "positions no product reaches. Each title gives the layer and A, summed from its map.")
    return figure(fig, alt, caption)


def additions_table(module, input_shape):
    """A :class:`convops_book.notebook.Table` of the additions per filter ``A`` of a transposed
    ``module`` on ``input_shape``: convops' closed form beside the counts made without it."""
    from .notebook import Table, describe_layer

    layer = module if isinstance(module, Layer) else Layer.from_module(module)
    if not layer.kind.transposed:
        raise ValueError(f"module must be a ConvTranspose1d/2d/3d, got {layer.kind.name}")
    size_in = tuple(input_shape)[-layer.kind.ndim:]
    arguments = (size_in, layer.kernel_size, layer.stride, layer.dilation, layer.padding,
                 layer.output_padding)
    counts = products_per_position(*arguments)
    enumerated = additions_from_counts(counts)
    values = (("convops closed form", breakdown(layer, tuple(input_shape)).A),
              ("enumerated products, Σ max(n_o − 1, 0)", enumerated),
              ("torch ones-trick, Σ max(n_o − 1, 0)", additions_by_ones(*arguments)),
              ("torch ones-trick as the pages sum it, Σ (n_o − 1)",
               additions_by_ones(*arguments, clip=False)))
    return Table(("A, additions per filter", "value", "equals the enumeration"),
                 tuple((name, f"{value:,}", "✓" if value == enumerated else "✗")
                       for name, value in values),
                 caption=describe_layer(module, input_shape))
