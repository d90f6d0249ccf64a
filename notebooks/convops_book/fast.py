"""Executed, instrumented im2col + GEMM, Winograd and FFT convolutions (torch, float64).

Each function computes a torch convolution module's output by one fast algorithm, with every
scalar multiplication and addition going through :class:`convops.reference.OpCounter`, one
counter per stage (the stages of :mod:`convops.algorithms`).  Nothing here reads a formula: the
counts are those of what executed, and the tests hold them to ``convops.breakdown(...,
algorithm=...)``.  Data movement (padding, slicing, stacking, sign changes, taking a conjugate)
is free; the matrices' coefficients and the FFT's twiddle factors are constants.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

import convops
from convops.reference import OpCounter

Stages = dict[str, OpCounter]
_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def _stages(*names: str) -> Stages:
    return {name: OpCounter() for name in names}


def _padded(layer: convops.Layer, x: torch.Tensor) -> torch.Tensor:
    """``x`` with the layer's padding, as its ``padding_mode`` computes it (data movement)."""
    pads = layer.padding_per_side(x.shape[2:])
    flat = [side for pair in reversed(pads) for side in pair]
    if not any(flat):
        return x
    return F.pad(x, flat, mode=_MODES[layer.padding_mode])


def _setup(module: torch.nn.Module, x: torch.Tensor):
    """The layer, its batched input padded (float32 stays float32, anything else becomes
    float64), its weight and bias in that type, and the output sizes."""
    layer = convops.Layer.from_module(module)
    n = layer.kind.ndim
    dtype = torch.float32 if x.dtype == torch.float32 else torch.float64
    x = (x if x.dim() == n + 2 else x.unsqueeze(0)).to(dtype)
    x = _padded(layer, x)
    size_out = [(L - d * (k - 1) - 1) // s + 1 for L, k, s, d
                in zip(x.shape[2:], layer.kernel_size, layer.stride, layer.dilation)]
    bias = None if module.bias is None else module.bias.detach().to(dtype)
    return layer, x, module.weight.detach().to(dtype), bias, size_out


def _add_bias(counter: OpCounter, y: torch.Tensor, bias) -> torch.Tensor:
    if bias is None:
        return y
    return counter.add(y, bias.view(1, -1, *[1] * (y.dim() - 2)))


def linear_combination(counter: OpCounter, coefficients: Sequence[float], terms) -> torch.Tensor:
    """``Σ c_i t_i`` skipping zero coefficients; ±1 costs no multiplication, a sign is free."""
    total = None
    for c, t in zip(coefficients, terms):
        if c == 0:
            continue
        term = t if abs(c) == 1 else counter.mul(torch.tensor(abs(c), dtype=t.dtype), t)
        negative = c < 0
        if total is None:
            total = -term if negative else term
        else:
            total = counter.add(total, -term if negative else term)
    return total


def apply_matrix(counter: OpCounter, matrix, x: torch.Tensor, dim: int) -> torch.Tensor:
    """``matrix`` (sympy) applied along ``dim`` of ``x``, row by row (:func:`linear_combination`)."""
    rows = [[float(c) for c in matrix.row(i)] for i in range(matrix.rows)]
    slices = x.unbind(dim)
    return torch.stack([linear_combination(counter, row, slices) for row in rows], dim)


def _tiles(x: torch.Tensor, alpha: Sequence[int], m: Sequence[int], size_out: Sequence[int]):
    """Input tiles of ``alpha`` sliding by ``m`` over ``x``, padded with zeros at the end so
    that the tiles cover ``size_out``: shape ``(N, C, *T, *alpha)``."""
    n = len(alpha)
    counts = [-(-L // mi) for L, mi in zip(size_out, m)]
    extra = [T * mi + a - mi - L for T, mi, a, L in zip(counts, m, alpha, x.shape[2:])]
    x = F.pad(x, [side for e in reversed(extra) for side in (0, e)])
    for i, (a, mi) in enumerate(zip(alpha, m)):
        x = x.unfold(2 + i, a, mi)
    return x, counts


def _assemble(y: torch.Tensor, size_out: Sequence[int]) -> torch.Tensor:
    """Output tiles ``(N, C, *T, *m)`` side by side, cropped to ``size_out``."""
    n = len(size_out)
    order = [0, 1] + [j for i in range(n) for j in (2 + i, 2 + n + i)]
    y = y.permute(order)
    shape = [y.shape[0], y.shape[1]] + [y.shape[2 + 2 * i] * y.shape[3 + 2 * i] for i in range(n)]
    y = y.reshape(shape)
    return y[(slice(None), slice(None), *[slice(0, L) for L in size_out])]


def _channel_sums(stages: Stages, product, groups: int, u, v):
    """Per group, ``Σ_c product(u[:, c], v[:, c])`` over its input channels: products in
    ``elementwise``, the sums in ``accumulation``.  ``u`` is per filter ``(C_out, C_in/g, …)``,
    ``v`` per sample ``(N, C_in, …)`` with ``T`` dimensions between (``u`` broadcast over them)."""
    out = []
    c_out, per_group = u[0].shape[0] // groups, u[0].shape[1]
    extra = v[0].dim() - 2 - (u[0].dim() - 2)
    for group in range(groups):
        total = None
        for c in range(per_group):
            uc = [t[group * c_out:(group + 1) * c_out, c] for t in u]
            uc = [t.view(1, c_out, *[1] * extra, *t.shape[1:]) for t in uc]
            vc = [t[:, group * per_group + c].unsqueeze(1) for t in v]
            p = product(stages["elementwise"], vc, uc)  # (data, filter)
            total = p if total is None else [stages["accumulation"].add(a, b) for a, b in zip(total, p)]
        out.append(total)
    return [torch.cat([o[i] for o in out], 1) for i in range(len(out[0]))]


def winograd_conv(module: torch.nn.Module, x: torch.Tensor, m: int | Sequence[int] = 2
                  ) -> tuple[torch.Tensor, Stages]:
    """``module(x)`` by Winograd's F(m×…, r×…), and the operations of each stage.

    Examples
    --------
    >>> conv = torch.nn.Conv2d(2, 3, 3, padding=1).double()
    >>> x = torch.randn(1, 2, 5, 5, dtype=torch.float64)
    >>> y, stages = winograd_conv(conv, x, 2)
    >>> torch.allclose(y, conv(x)), stages["elementwise"].multiplications
    (True, 864)
    """
    layer, x, weight, bias, size_out = _setup(module, x)
    n = layer.kind.ndim
    ms = (m,) * n if isinstance(m, int) else tuple(m)
    w = convops.winograd(ms, layer.kernel_size)
    stages = _stages(*convops.algorithms.STAGES)
    v, _ = _tiles(x, w.alpha, ms, size_out)
    u = weight
    for i, f in enumerate(w.dims):  # along each dimension in turn, the first first
        v = apply_matrix(stages["data_transform"], f.BT, v, v.dim() - n + i)
        u = apply_matrix(stages["filter_transform"], f.G, u, 2 + i)
    y, = _channel_sums(stages, lambda counter, a, b: [counter.mul(a[0], b[0])], layer.groups, [u], [v])
    for i, f in enumerate(w.dims):
        y = apply_matrix(stages["inverse_transform"], f.AT, y, y.dim() - n + i)
    y = _assemble(y, size_out)
    return _add_bias(stages["bias"], y, bias), stages


def im2col_conv(module: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, Stages]:
    """``module(x)`` by im2col + GEMM (the GEMM as one product and one addition per step of its
    inner dimension), the operations of each stage, and the unfolded matrix's size in
    ``stages["gemm"].workspace``.

    Examples
    --------
    >>> conv = torch.nn.Conv2d(2, 4, 3, stride=2, groups=2).double()
    >>> x = torch.randn(1, 2, 7, 7, dtype=torch.float64)
    >>> y, stages = im2col_conv(conv, x)
    >>> torch.allclose(y, conv(x)), stages["gemm"]
    (True, OpCounter(multiplications=324, additions=288))
    """
    layer, x, weight, bias, size_out = _setup(module, x)
    n, g = layer.kind.ndim, layer.groups
    for i, (k, s, d) in enumerate(zip(layer.kernel_size, layer.stride, layer.dilation)):
        x = x.unfold(2 + i, d * (k - 1) + 1, s)[..., ::d]  # (N, C, *L_out, *k) at the end
    N, C = x.shape[:2]
    columns = x.permute(0, 1, *range(2 + 2 * n - n, 2 + 2 * n), *range(2, 2 + n))
    columns = columns.reshape(N, g, C // g * math.prod(layer.kernel_size), math.prod(size_out))
    matrix = weight.reshape(g, weight.shape[0] // g, -1)
    stages = _stages("gemm", "bias")
    stages["gemm"].workspace = columns.numel()
    total = None
    for j in range(columns.shape[2]):  # the GEMM's inner dimension
        term = stages["gemm"].mul(matrix[None, :, :, j, None], columns[:, :, None, j, :])
        total = term if total is None else stages["gemm"].add(total, term)
    y = total.reshape(N, weight.shape[0], *size_out)
    return _add_bias(stages["bias"], y, bias), stages


# -- FFT: complex numbers as (real, imaginary) pairs of real tensors, every operation counted ----
def complex_product(counter: OpCounter, a, b) -> list[torch.Tensor]:
    """``a·b`` with 4 real multiplications and 2 additions."""
    (ar, ai), (br, bi) = a, b
    return [counter.add(counter.mul(ar, br), -counter.mul(ai, bi)),
            counter.add(counter.mul(ar, bi), counter.mul(ai, br))]


def gauss_product(counter: OpCounter, a, b) -> list[torch.Tensor]:
    """``a·b`` with 3 real multiplications and 2 additions, Gauss's way: ``a = (re, im, re + im)``
    and ``b = (c, d - c, c + d)`` carry their sums, computed once in the transforms."""
    (ar, ai, a_sum), (c, d_minus_c, c_plus_d) = a, b
    k1, k2, k3 = counter.mul(c, a_sum), counter.mul(ar, d_minus_c), counter.mul(ai, c_plus_d)
    return [counter.add(k1, -k3), counter.add(k1, k2)]


def fft(counter: OpCounter, z, dim: int, inverse: bool = False) -> list[torch.Tensor]:
    """The radix-2 decimation-in-time FFT of the complex ``z`` (a pair) along ``dim`` (unscaled;
    ``inverse`` turns the twiddle factors round); a twiddle factor 1 is not multiplied.

    Examples
    --------
    >>> x = torch.randn(8, dtype=torch.float64)
    >>> counter = OpCounter()
    >>> re, im = fft(counter, [x, torch.zeros(8, dtype=torch.float64)], 0)
    >>> torch.allclose(torch.complex(re, im), torch.fft.fft(x)), counter
    (True, OpCounter(multiplications=20, additions=58))
    """
    size = z[0].shape[dim]
    bits = size.bit_length() - 1
    order = torch.tensor([int(f"{i:0{bits}b}"[::-1] or "0", 2) for i in range(size)])
    re, im = (t.movedim(dim, -1)[..., order] for t in z)
    half = 1
    while half < size:
        shape = (*re.shape[:-1], size // (2 * half), 2, half)
        (er, ei), (odd_r, odd_i) = ([t.reshape(shape)[..., j, :] for t in (re, im)] for j in (0, 1))
        angle = torch.arange(1, half, dtype=torch.float64) * (math.pi / half) * (1 if inverse else -1)
        twiddled = complex_product(counter, [odd_r[..., 1:], odd_i[..., 1:]],
                                   [torch.cos(angle), torch.sin(angle)])
        tr, ti = (torch.cat([o[..., :1], t], -1) for o, t in zip((odd_r, odd_i), twiddled))
        re = torch.stack([counter.add(er, tr), counter.add(er, -tr)], -2).reshape(re.shape)
        im = torch.stack([counter.add(ei, ti), counter.add(ei, -ti)], -2).reshape(im.shape)
        half *= 2
    return [re.movedim(-1, dim), im.movedim(-1, dim)]


def real_fft(counter: OpCounter, x: torch.Tensor, n: int) -> list[torch.Tensor]:
    """The FFT of the real ``x`` over its last ``n`` dimensions: the last first, keeping its
    ``α/2 + 1`` coefficients, then the others."""
    z = fft(counter, [x, torch.zeros_like(x)], x.dim() - 1)
    z = [t[..., :x.shape[-1] // 2 + 1] for t in z]
    for dim in range(x.dim() - n, x.dim() - 1):
        z = fft(counter, z, dim)
    return z


def inverse_real_fft(counter: OpCounter, z, n: int, size: int) -> torch.Tensor:
    """The real inverse of :func:`real_fft` (unscaled): the other dimensions first, then the last,
    its missing coefficients the conjugates of those kept (free)."""
    dims = z[0].dim()
    for dim in range(dims - n, dims - 1):
        z = fft(counter, z, dim, inverse=True)
    mirror = list(range(size - z[0].shape[-1], 0, -1))
    z = [torch.cat([z[0], z[0][..., mirror]], -1), torch.cat([z[1], -z[1][..., mirror]], -1)]
    return fft(counter, z, dims - 1, inverse=True)[0]


def fft_conv(module: torch.nn.Module, x: torch.Tensor, alpha: int | Sequence[int] | None = None,
             gauss: bool = False) -> tuple[torch.Tensor, Stages]:
    """``module(x)`` by overlap-save FFT convolution with FFT size ``alpha`` per dimension (the
    whole-input FFT when None), complex products with 4 or (``gauss``) 3 multiplications.

    Examples
    --------
    >>> conv = torch.nn.Conv2d(2, 3, 3, padding=1).double()
    >>> x = torch.randn(1, 2, 6, 6, dtype=torch.float64)
    >>> y, stages = fft_conv(conv, x, 8)
    >>> torch.allclose(y, conv(x)), stages["elementwise"].multiplications
    (True, 960)
    """
    layer, x, weight, bias, size_out = _setup(module, x)
    n, k = layer.kind.ndim, layer.kernel_size
    if alpha is None:
        alpha = convops.algorithms.whole_input_fft(size_out, k)
    alpha = (alpha,) * n if isinstance(alpha, int) else tuple(alpha)
    m = [a - r + 1 for a, r in zip(alpha, k)]
    stages = _stages(*convops.algorithms.STAGES)
    tiles, _ = _tiles(x, alpha, m, size_out)
    v = real_fft(stages["data_transform"], tiles, n)
    padded = F.pad(weight, [side for a, r in zip(reversed(alpha), reversed(k)) for side in (0, a - r)])
    u = real_fft(stages["filter_transform"], padded, n)
    scale = torch.tensor(1 / math.prod(alpha), dtype=torch.float64)
    u = [stages["filter_transform"].mul(scale, u[0]), -stages["filter_transform"].mul(scale, u[1])]
    product = complex_product
    if gauss:
        product = gauss_product
        v = [*v, stages["data_transform"].add(v[0], v[1])]
        u = [u[0], stages["filter_transform"].add(u[1], -u[0]),
             stages["filter_transform"].add(u[0], u[1])]
    y = _channel_sums(stages, product, layer.groups, u, v)
    y = inverse_real_fft(stages["inverse_transform"], y, n, alpha[-1])
    y = y[(..., *[slice(0, mi) for mi in m])]
    y = _assemble(y, size_out)
    return _add_bias(stages["bias"], y, bias), stages


def measured(module: torch.nn.Module, x: torch.Tensor, algorithm: str, tile=None
             ) -> tuple[torch.Tensor, dict[str, tuple[int, int]]]:
    """The output of ``algorithm`` on ``module(x)`` and each stage's executed
    ``(multiplications, additions)``, the stages named as :func:`convops.breakdown` names them."""
    if algorithm == "im2col":
        y, stages = im2col_conv(module, x)
    elif algorithm == "winograd":
        y, stages = winograd_conv(module, x, tile or convops.algorithms.DEFAULT_WINOGRAD_TILE)
    else:
        y, stages = fft_conv(module, x, tile, gauss=algorithm == "fft_gauss")
    return y, {name: (c.multiplications, c.additions) for name, c in stages.items()}
