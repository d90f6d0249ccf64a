r"""What a torch convolution computes, written out: the defining sums, the same computation as
``unfold`` + ``einsum``, and a map of which input position each kernel tap multiplies.

For a convolution (cross-correlation, as torch computes it), output channel :math:`j` at output
position :math:`o` is its bias plus, over the :math:`C_\text{in}/g` input channels of its group
and over the kernel taps :math:`t`, the tap's weight times the padded input at
:math:`o s + t d` along every dimension.  A transposed convolution scatters instead: input
position :math:`i` and tap :math:`t` add their product into output position
:math:`i s + t d - p`.  The module notebooks print :func:`defining_equation` and check
:func:`unfold_einsum` against torch.
"""

from __future__ import annotations

from typing import Sequence

import sympy as sp

from convops import Layer, breakdown
from convops.additions import Iverson
from convops.derivation import derive, kind_of


#: The input channel that the ``c``-th channel of output channel ``j``'s group is.
CHANNEL = sp.Symbol(r"\hat{c}", integer=True, nonnegative=True)


def input_channel(kind) -> sp.Eq:
    r""":math:`\hat c`, the input channel of :func:`defining_equation`: the ``c``-th channel of
    the group of output channel ``j``, whose first is :math:`\lfloor g j / C_\text{out} \rfloor
    \, C_\text{in} / g`.

    Examples
    --------
    >>> from convops import latex
    >>> print(latex(input_channel("Conv1d")))
    \hat{c} = \frac{C_{\text{in}} \left\lfloor{\frac{g j}{C_{\text{out}}}}\right\rfloor}{g} + c
    """
    S = derive(kind).symbols
    j, c = sp.symbols("j c", integer=True, nonnegative=True)
    return sp.Eq(CHANNEL, sp.floor(j * S.g / S.C_out) * S.C_in / S.g + c, evaluate=False)


def defining_equation(kind) -> sp.Eq:
    r"""The sum that defines ``kind``'s output, in the symbols of its derivation.

    ``n`` is the sample, ``j`` the output channel and ``c`` the index within the group of ``j``
    of the input channel :math:`\hat c` (:func:`input_channel`); ``o_i`` and ``t_i`` the output
    position and the tap along dimension ``i``; ``x_pad`` the input padded as torch pads it
    (zeros, reflect, replicate or circular).

    Examples
    --------
    >>> from convops import latex
    >>> print(latex(defining_equation("Conv1d").lhs))
    {y}_{n,j,o}
    """
    d = derive(kind)
    S = d.symbols
    n, j, c = sp.symbols("n j c", integer=True, nonnegative=True)
    ndim = S.ndim
    o = sp.symbols(" ".join(f"o_{i}" for i in range(ndim)) if ndim > 1 else "o",
                   integer=True, nonnegative=True, seq=True)
    t = sp.symbols(" ".join(f"t_{i}" for i in range(ndim)) if ndim > 1 else "t",
                   integer=True, nonnegative=True, seq=True)
    y, x, w, b = (sp.IndexedBase(name) for name in ("y", "x", "w", "b"))
    taps = [(t[i], 0, S.k[i] - 1) for i in range(ndim)]
    if not d.kind.transposed:
        x_pad = sp.IndexedBase(r"x_{\text{pad}}")
        read = [o[i] * S.s[i] + t[i] * S.d[i] for i in range(ndim)]
        body = w[(j, c, *t)] * x_pad[(n, CHANNEL, *read)]
        total = sp.Sum(body, (c, 0, S.C_in / S.g - 1), *taps)
    else:
        i_ = sp.symbols(" ".join(f"i_{k}" for k in range(ndim)) if ndim > 1 else "i",
                        integer=True, nonnegative=True, seq=True)
        per_group = S.C_out / S.g
        lands = sp.And(*(sp.Eq(i_[k] * S.s[k] + t[k] * S.d[k] - S.p[k], o[k]) for k in range(ndim)))
        body = Iverson(lands) * x[(n, CHANNEL, *i_)] * w[(CHANNEL, sp.Mod(j, per_group), *t)]
        inputs = [(i_[k], 0, S.size_in[k] - 1) for k in range(ndim)]
        total = sp.Sum(body, (c, 0, S.C_in / S.g - 1), *inputs, *taps)
    return sp.Eq(y[(n, j, *o)], sp.Add(b[j], total, evaluate=False), evaluate=False)


def unfold_einsum(module, x):
    """``module(x)`` for a ``Conv1d/2d/3d``, computed as the defining sum: pad ``x`` as the
    module does, unfold every spatial dimension into windows (``Tensor.unfold`` with the
    dilated kernel's reach and the stride), keep every ``dilation``-th element of each window,
    and contract channels and taps with ``torch.einsum`` group by group.
    """
    import torch
    import torch.nn.functional as F

    kind = kind_of(module)
    if kind.transposed:
        raise ValueError(f"unfold_einsum computes a convolution, got a {kind.name}")
    ndim = kind.ndim
    batched = x.dim() == ndim + 2
    x = x if batched else x.unsqueeze(0)
    per_side = Layer.from_module(module).padding_per_side(x.shape[2:])  # as the module pads
    padding = [p for before_after in reversed(per_side) for p in before_after]
    mode = "constant" if module.padding_mode == "zeros" else module.padding_mode
    x = F.pad(x, padding, mode=mode)
    for i, (k, s, d) in enumerate(zip(module.kernel_size, module.stride, module.dilation)):
        x = x.unfold(2 + i, d * (k - 1) + 1, s)  # windows of the dilated kernel, every s-th
    window = tuple(slice(None, None, d) for d in module.dilation)
    x = x[(Ellipsis, *window)]  # N, C_in, *out, *k: the taps of every window
    g = module.groups
    letters = "uvw"[:ndim]
    taps = "klm"[:ndim]
    x = x.reshape(x.shape[0], g, x.shape[1] // g, *x.shape[2:])
    weight = module.weight.reshape(g, module.out_channels // g, *module.weight.shape[1:])
    y = torch.einsum(f"ngc{letters}{taps},gjc{taps}->ngj{letters}", x, weight)
    y = y.reshape(y.shape[0], module.out_channels, *y.shape[3:])
    if module.bias is not None:
        y = y + module.bias.reshape(1, -1, *(1,) * ndim)
    return y if batched else y.squeeze(0)


def scatter_einsum(module, x):
    """``module(x)`` for a ``ConvTranspose1d/2d/3d``, computed as the defining scatter: for each
    tap ``t``, the products of every input element with that tap (``torch.einsum`` over the
    channels of each group) are added at output positions ``i s + t d`` of the uncropped
    output, which is then cropped by ``padding`` at both ends and given ``output_padding``
    back at the far end.
    """
    import itertools

    import torch
    import torch.nn.functional as F

    kind = kind_of(module)
    if not kind.transposed:
        raise ValueError(f"scatter_einsum computes a transposed convolution, got a {kind.name}")
    ndim = kind.ndim
    batched = x.dim() == ndim + 2
    x = x if batched else x.unsqueeze(0)
    sizes, g = x.shape[2:], module.groups
    ks, ss, ds = module.kernel_size, module.stride, module.dilation
    full = [(L - 1) * s + d * (k - 1) + 1 for L, k, s, d in zip(sizes, ks, ss, ds)]
    per_group = module.out_channels // g
    y = x.new_zeros(x.shape[0], g, per_group, *full)
    x = x.reshape(x.shape[0], g, x.shape[1] // g, *sizes)
    weight = module.weight.reshape(g, module.in_channels // g, per_group, *ks)
    letters = "uvw"[:ndim]
    for t in itertools.product(*(range(k) for k in ks)):
        products = torch.einsum(f"ngc{letters},gcj->ngj{letters}", x, weight[(..., *t)])
        at = tuple(slice(tap * d, tap * d + (L - 1) * s + 1, s)
                   for tap, d, L, s in zip(t, ds, sizes, ss))
        y[(slice(None), slice(None), slice(None), *at)] += products
    y = y.reshape(y.shape[0], module.out_channels, *full)
    # output_padding adds positions at the far end that no product reaches.
    y = F.pad(y, [n for q in reversed(module.output_padding) for n in (0, q)])
    crop = tuple(slice(p, f - p + q) for p, q, f in zip(module.padding, module.output_padding, full))
    y = y[(slice(None), slice(None), *crop)]
    if module.bias is not None:
        y = y + module.bias.reshape(1, -1, *(1,) * ndim)
    return y if batched else y.squeeze(0)


def tap_map(module, input_shape: Sequence[int]):
    """A :class:`~convops_book.figures.Figure` of which taps one filter multiplies with which
    input positions along the first spatial dimension of ``module`` on ``input_shape``.

    A convolution: one row per output position, one column per position of the padded input;
    a cell holds the index of the tap that multiplies it (padding columns are shaded).  A
    transposed convolution: one row per input position, one column per position of the
    uncropped output; a cell holds the tap whose product lands there (cropped columns shaded).
    """
    import matplotlib
    import matplotlib.pyplot as plt
    import numpy as np

    from .figures import COLORS, figure, plot_style, style_axes

    kind = kind_of(module)
    ndim = kind.ndim
    L = tuple(input_shape)[-ndim]
    k, s, d = module.kernel_size[0], module.stride[0], module.dilation[0]
    if kind.transposed:
        p, q = module.padding[0], module.output_padding[0]
        columns = (L - 1) * s + d * (k - 1) + 1
        rows = L
        cells = [(i, i * s + t * d, t) for i in range(L) for t in range(k)]
        outside = [col for col in range(columns) if col < p or col >= columns - p + q]
        row_label, col_label = "input position i", "output position before cropping (i·s + t·d)"
        shaded = "cropped by padding"
    else:
        (before, after), *_ = Layer.from_module(module).padding_per_side(input_shape[-ndim:])
        columns = L + before + after
        rows = breakdown(module, tuple(input_shape)).output_shape[-ndim]
        cells = [(o, o * s + t * d, t) for o in range(rows) for t in range(k)]
        outside = list(range(before)) + list(range(L + before, columns))
        row_label, col_label = "output position o", "padded input position (o·s + t·d)"
        shaded = f"padding ({module.padding_mode})"
    grid = np.full((rows, columns), -1)
    for row, col, t in cells:
        grid[row, col] = t
    with matplotlib.rc_context(plot_style()):
        cell = 0.32
        fig, ax = plt.subplots(figsize=(max(3.0, cell * columns + 1.2), cell * rows + 1.1),
                               layout="constrained")
        for col in outside:
            ax.axvspan(col - 0.5, col + 0.5, color="#8a8a8a", alpha=0.25, linewidth=0)
        for (row, col), t in np.ndenumerate(grid):
            if t >= 0:
                ax.add_patch(matplotlib.patches.Rectangle((col - 0.45, row - 0.45), 0.9, 0.9,
                                                          color=COLORS[t % len(COLORS)]))
                ax.text(col, row, str(t), ha="center", va="center", fontsize=10, color="white")
        ax.set_xlim(-0.5, columns - 0.5)
        ax.set_ylim(rows - 0.5, -0.5)
        ax.set_aspect("equal")
        ax.set_xticks(range(0, columns, max(1, columns // 12)))
        ax.set_yticks(range(rows))
        ax.set_xlabel(col_label)
        ax.set_ylabel(row_label)
        ax.grid(False)
        style_axes(ax)
    alt = (f"Along the first spatial dimension of {module!r} with input size {L}: a grid of "
           f"{rows} rows ({row_label}) by {columns} columns ({col_label}); each cell a tap of "
           f"the kernel_size {k} (stride {s}, dilation {d}) multiplies holds the tap's index 0 to "
           f"{k - 1}; shaded columns ({len(outside)}): {shaded}.")
    caption = ("Which taps one filter multiplies with which positions along the first spatial "
               "dimension (the digit is the tap t); shaded columns: " + shaded + ".")
    return figure(fig, alt, caption)
