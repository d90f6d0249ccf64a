"""Hypothesis strategies for convolution layers torch accepts, shared by the tests."""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from convops import KINDS
from convops.layer import PADDING_MODES

KIND_NAMES = list(KINDS)


@st.composite
def layers(draw, kinds=KIND_NAMES, max_channels_per_group=3, max_kernel=None, cropped=False):
    """``(module, input_shape)`` for a random layer and an input it accepts (most of the time).

    ``cropped=True`` gives transposed layers inputs of 1 to 3 elements under as much padding as
    the output allows: most products then fall outside the output.
    """
    name = draw(st.sampled_from(kinds))
    ndim = int(name[-2])
    transposed = name.startswith("ConvTranspose")
    # Keep 3-D small: the instrumented reference loops over channels and taps.
    max_kernel = max_kernel or (4 if ndim == 1 else 3 if ndim == 2 else 2)
    per_dim = st.lists

    groups = draw(st.integers(1, 3))
    depthwise = draw(st.booleans())
    in_channels = groups * (1 if depthwise else draw(st.integers(1, max_channels_per_group)))
    out_channels = groups * draw(st.integers(1, max_channels_per_group))
    kernel = draw(per_dim(st.integers(1, max_kernel), min_size=ndim, max_size=ndim))
    dilation = draw(per_dim(st.integers(1, 3), min_size=ndim, max_size=ndim))
    kwargs = dict(groups=groups, bias=draw(st.booleans()), dilation=tuple(dilation))
    if transposed:
        # Strides beyond the kernel leave gaps between the products.
        stride = draw(per_dim(st.integers(1, 5), min_size=ndim, max_size=ndim))
        output_padding = [draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation)]
        if cropped:  # the output keeps at least one element: 2p <= (L-1)s + d(k-1) + q
            size = [draw(st.integers(1, 3)) for _ in range(ndim)]
            padding = [draw(st.integers(0, ((L - 1) * s + d * (k - 1) + q) // 2))
                       for L, s, d, k, q in zip(size, stride, dilation, kernel, output_padding)]
        else:
            padding = draw(per_dim(st.integers(0, 4), min_size=ndim, max_size=ndim))
        kwargs.update(stride=tuple(stride), padding=tuple(padding),
                      output_padding=tuple(output_padding))
    else:
        padding = draw(st.one_of(
            st.lists(st.integers(0, 3), min_size=ndim, max_size=ndim).map(tuple),
            st.sampled_from(["same", "valid"])))
        if padding == "same":
            stride = [1] * ndim
        else:
            stride = draw(per_dim(st.integers(1, 4), min_size=ndim, max_size=ndim))
        kwargs.update(stride=tuple(stride), padding=padding,
                      padding_mode=draw(st.sampled_from(PADDING_MODES)))
    module = getattr(torch.nn, name)(in_channels, out_channels, tuple(kernel), **kwargs)
    reach = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    if not (transposed and cropped):
        size = [draw(st.integers(max(1, r - 3) if not transposed else 1, r + 4)) for r in reach]
    batch = draw(st.sampled_from([None, 1, 2]))
    shape = ((batch,) if batch else ()) + (in_channels, *size)
    return module, shape


def torch_output(module, x):
    """``module(x)``, or None where torch refuses the input or returns an empty output."""
    try:
        with torch.no_grad():
            out = module(x)
    except (RuntimeError, ValueError):
        return None
    return out if out.numel() else None
