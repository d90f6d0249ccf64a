"""Executed checks of the counts: an instrumented convolution, and the two peers convops is held to.

:func:`run` computes a torch convolution module's output by the algorithm convops counts —
filter by filter, then the aggregation of each output channel, then the bias — with every scalar
multiplication and addition going through an :class:`OpCounter`, which counts the elements each
operation actually produces.  Its output equals the module's, so its counts are the counts of
that convolution, obtained without any formula.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .layer import Layer


@dataclass
class OpCounter:
    """Elementwise arithmetic on tensors that counts each scalar operation it performs."""

    multiplications: int = 0
    additions: int = 0

    def mul(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        out = a * b
        self.multiplications += out.numel()
        return out

    def add(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        out = a + b
        self.additions += out.numel()
        return out

    @property
    def total(self) -> int:
        return self.multiplications + self.additions


def run(module: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, OpCounter]:
    """The output of ``module(x)`` computed by the counted algorithm, and the operations it took."""
    layer = Layer.from_module(module)
    n = layer.kind.ndim
    unbatched = x.dim() == n + 1
    if unbatched:
        x = x.unsqueeze(0)
    counter = OpCounter()
    weight = module.weight.detach().to(x.dtype)
    bias = None if module.bias is None else module.bias.detach().to(x.dtype)
    filters = _transposed_filter if layer.kind.transposed else _conv_filter
    if not layer.kind.transposed:
        x = _pad(layer, x)
    size_out = _output_size(layer, tuple(x.shape[2:]))
    in_per_group = layer.in_channels // layer.groups
    out_per_group = layer.out_channels // layer.groups
    channels = []
    for c_out in range(layer.out_channels):
        group = c_out // out_per_group
        inputs = range(group * in_per_group, (group + 1) * in_per_group)
        outputs = [filters(layer, counter, x[:, c_in], _kernel(layer, weight, c_in, c_out),
                           size_out) for c_in in inputs]
        # Aggregation: C_in/g - 1 additions per output element, then one for the bias.
        y = outputs[0]
        for other in outputs[1:]:
            y = counter.add(y, other)
        if bias is not None:
            y = counter.add(y, bias[c_out])
        channels.append(y)
    out = torch.stack(channels, dim=1)
    return (out.squeeze(0) if unbatched else out), counter


def _kernel(layer: Layer, weight: torch.Tensor, c_in: int, c_out: int) -> torch.Tensor:
    # Conv weights are (C_out, C_in/g, *k); transposed ones (C_in, C_out/g, *k).
    if layer.kind.transposed:
        return weight[c_in, c_out % (layer.out_channels // layer.groups)]
    return weight[c_out, c_in % (layer.in_channels // layer.groups)]


def _pad(layer: Layer, x: torch.Tensor) -> torch.Tensor:
    pads = layer.padding_per_side(tuple(x.shape[2:]))
    flat = [side for pair in reversed(pads) for side in pair]  # F.pad wants the last dim first
    mode = "constant" if layer.padding_mode == "zeros" else layer.padding_mode
    return F.pad(x, flat, mode=mode)


def _output_size(layer: Layer, size: tuple[int, ...]) -> tuple[int, ...]:
    # Counted positions, not a formula under test: the extent the loops below must cover.
    dims = zip(size, layer.kernel_size, layer.stride, layer.dilation)
    if not layer.kind.transposed:  # size is already padded
        return tuple((L - d * (k - 1) - 1) // s + 1 for L, k, s, d in dims)
    return tuple((L - 1) * s - 2 * p + d * (k - 1) + q + 1
                 for (L, k, s, d), p, q in zip(dims, layer.padding, layer.output_padding))


def _taps(layer: Layer):
    return itertools.product(*(range(k) for k in layer.kernel_size))


def _conv_filter(layer, counter, x, kernel, size_out):
    """One filter of a convolution: at every output position, each tap times its input, summed."""
    acc = None
    for tap in _taps(layer):
        window = x[(slice(None),) + tuple(
            slice(j * d, j * d + (o - 1) * s + 1, s)
            for j, d, s, o in zip(tap, layer.dilation, layer.stride, size_out))]
        product = counter.mul(window, kernel[tap])
        acc = product if acc is None else counter.add(acc, product)
    return acc


def _transposed_filter(layer, counter, x, kernel, size_out):
    """One filter of a transposed convolution: every input element times every tap, scattered.

    A product that lands where an earlier one did is added to it; the first is stored; products
    that padding crops away are computed and dropped.
    """
    size_in = x.shape[1:]
    full = [max((L - 1) * s + (k - 1) * d + 1, p + o) for L, k, s, d, p, o in zip(
        size_in, layer.kernel_size, layer.stride, layer.dilation, layer.padding, size_out)]
    buffer = x.new_zeros((x.shape[0], *full))
    written = torch.zeros(full, dtype=torch.bool)
    inside = torch.zeros(full, dtype=torch.bool)
    inside[tuple(slice(p, p + o) for p, o in zip(layer.padding, size_out))] = True
    for tap in _taps(layer):
        product = counter.mul(x, kernel[tap])
        where = tuple(slice(j * d, j * d + (L - 1) * s + 1, s)
                      for j, d, s, L in zip(tap, layer.dilation, layer.stride, size_in))
        target = buffer[(slice(None),) + where]
        landed_inside, landed_on_earlier = inside[where], written[where]
        add = landed_inside & landed_on_earlier
        store = landed_inside & ~landed_on_earlier
        target[:, add] = counter.add(target[:, add], product[:, add])
        target[:, store] = product[:, store]
        written[where] |= landed_inside
    return buffer[(slice(None),) + tuple(slice(p, p + o) for p, o in zip(layer.padding, size_out))]


def additions_by_ones(size_in, kernel_size, stride=1, dilation=1, padding=0, output_padding=0,
                      clip: bool = True) -> int:
    """The reference pages' way to find a transposed convolution's additions per filter.

    Runs a one-channel transposed convolution with all-ones input and kernel, so output position
    ``o`` holds :math:`n_o`, the number of products landing there, and returns
    :math:`\\sum_o (n_o - 1)`.  With ``clip=False`` this is the pages' formula, which goes wrong
    where no product lands (:math:`n_o = 0` contributes :math:`-1`); ``clip=True`` takes
    :math:`\\max(n_o - 1, 0)`.  Exact in float64 up to :math:`2^{53}`.
    """
    size_in = tuple(size_in)
    module_class = getattr(torch.nn, f"ConvTranspose{len(size_in)}d")
    module = module_class(1, 1, kernel_size, stride=stride, padding=padding, dilation=dilation,
                          output_padding=output_padding, bias=False, dtype=torch.float64)
    torch.nn.init.ones_(module.weight)
    with torch.no_grad():
        per_position = module(torch.ones((1, 1, *size_in), dtype=torch.float64)) - 1
    if clip:
        per_position = per_position.clamp(min=0)
    return int(per_position.sum().item())


def flop_counter_flops(module: torch.nn.Module, input_shape) -> int:
    """FLOPs that ``torch.utils.flop_counter.FlopCounterMode`` reports for ``module`` on meta tensors.

    FlopCounterMode counts 2 FLOPs per multiply-accumulate and ignores the bias, so its total is
    twice convops' multiplications.
    """
    from torch.utils.flop_counter import FlopCounterMode

    meta = copy.deepcopy(module).to("meta")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        meta(torch.empty(tuple(input_shape), device="meta"))
    return counter.get_total_flops()


def flop_counter_convolution_flops(model: torch.nn.Module, *inputs, **kw_inputs) -> int:
    """FlopCounterMode's FLOPs of the convolutions ``model`` runs on ``inputs`` (shapes or
    tensors, nested and keyword as :func:`convops.profile` takes them), in eval mode, on meta.

    A model that is not on meta is copied there first.  FlopCounterMode counts two FLOPs per
    multiplication of a convolution and ignores its bias and additions.

    Examples
    --------
    >>> import torch
    >>> flop_counter_convolution_flops(torch.nn.Conv1d(2, 4, 3), (1, 2, 10))
    384
    """
    from torch.utils.flop_counter import FlopCounterMode

    from .profile import _default_dtype, _map_inputs

    meta = model
    if any(not t.is_meta for t in itertools.chain(model.parameters(), model.buffers())):
        meta = copy.deepcopy(model).to("meta")
    dtype = _default_dtype(meta)
    args, kwargs = _map_inputs((inputs, kw_inputs), lambda v: torch.empty_like(v, device="meta")
                               if isinstance(v, torch.Tensor) else
                               torch.empty(v, dtype=dtype, device="meta"))
    training = meta.training
    counter = FlopCounterMode(display=False)
    try:
        with counter, torch.no_grad():
            meta.eval()(*args, **kwargs)
    finally:
        meta.train(training)
    return sum(n for op, n in counter.get_flop_counts()["Global"].items()
               if "convolution" in str(op))
