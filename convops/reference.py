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
import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from .backward import GRADIENTS
from .derivation import KINDS
from .layer import IntOrTuple, Layer


@dataclass
class OpCounter:
    """Elementwise arithmetic on tensors that counts each scalar operation it performs.

    Examples
    --------
    >>> import torch
    >>> from convops.reference import OpCounter
    >>> counter = OpCounter()
    >>> counter.sum(counter.mul(torch.ones(2, 3), torch.ones(2, 3)))
    tensor([3., 3.])
    >>> counter.multiplications, counter.additions, counter.total
    (6, 4, 10)

    See Also
    --------
    run : a module's forward, computed by an OpCounter.
    """

    multiplications: int = 0
    additions: int = 0

    def mul(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``a * b``, counting one multiplication per element of the result.

        Examples
        --------
        >>> import torch
        >>> from convops.reference import OpCounter
        >>> counter = OpCounter()
        >>> counter.mul(torch.ones(4), torch.ones(4)).shape, counter.multiplications
        (torch.Size([4]), 4)
        """
        out = a * b
        self.multiplications += out.numel()
        return out

    def add(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``a + b``, counting one addition per element of the result.

        Examples
        --------
        >>> import torch
        >>> from convops.reference import OpCounter
        >>> counter = OpCounter()
        >>> counter.add(torch.ones(4), torch.ones(4)).shape, counter.additions
        (torch.Size([4]), 4)
        """
        out = a + b
        self.additions += out.numel()
        return out

    def index_add(self, target: torch.Tensor, index: torch.Tensor,
                  source: torch.Tensor) -> torch.Tensor:
        """``target`` with each element of ``source`` (last dimension) added at ``index``.

        Examples
        --------
        >>> import torch
        >>> from convops.reference import OpCounter
        >>> counter = OpCounter()
        >>> counter.index_add(torch.zeros(3), torch.tensor([0, 0, 2]), torch.ones(3)).tolist(), counter.additions
        ([2.0, 0.0, 1.0], 3)
        """
        self.additions += source.numel()
        return target.index_add(-1, index, source)

    def sum(self, a: torch.Tensor) -> torch.Tensor:
        """``a`` summed over its last dimension, pairwise: ``M - 1`` additions per sum of ``M``.

        Examples
        --------
        >>> import torch
        >>> from convops.reference import OpCounter
        >>> counter = OpCounter()
        >>> counter.sum(torch.ones(2, 5)).tolist(), counter.additions
        ([5.0, 5.0], 8)
        """
        if a.shape[-1] == 0:
            return a.new_zeros(a.shape[:-1])
        while a.shape[-1] > 1:
            half = a.shape[-1] // 2
            a = torch.cat([self.add(a[..., :half], a[..., half:2 * half]), a[..., 2 * half:]], -1)
        return a[..., 0]

    @property
    def total(self) -> int:
        """Multiplications plus additions.

        Examples
        --------
        >>> import torch
        >>> from convops.reference import OpCounter
        >>> counter = OpCounter()
        >>> _ = counter.add(counter.mul(torch.ones(3), torch.ones(3)), torch.ones(3))
        >>> counter.total
        6
        """
        return self.multiplications + self.additions


def run(module: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, OpCounter]:
    """The output of ``module(x)`` computed by the counted algorithm, and the operations it took.

    Examples
    --------
    >>> import torch
    >>> from convops.reference import run
    >>> module = torch.nn.ConvTranspose1d(1, 1, 3, stride=2)
    >>> x = torch.randn(1, 1, 4)
    >>> y, ops = run(module, x)
    >>> torch.allclose(y, module(x)), ops
    (True, OpCounter(multiplications=12, additions=12))
    """
    layer = Layer.from_module(module)
    n = layer.kind.ndim
    unbatched = x.dim() == n + 1
    if unbatched:
        x = x.unsqueeze(0)
    counter = OpCounter()
    weight = module.weight.detach().to(x.dtype)
    bias = None if module.bias is None else module.bias.detach().to(x.dtype)
    with torch.no_grad():  # the extent of the output is torch's, not a formula under test
        size_out = tuple(module(x).shape[2:])
    if not layer.kind.transposed:
        x = _pad(layer, x)
    out = _convolve(layer, counter, x, weight, bias, size_out)
    return (out.squeeze(0) if unbatched else out), counter


def _convolve(layer: Layer, counter: OpCounter, x: torch.Tensor, weight: torch.Tensor,
              bias: torch.Tensor | None, size_out) -> torch.Tensor:
    """Filter by filter, then the aggregation of each output channel, then the bias (``x`` is
    already padded for a convolution)."""
    filters = _transposed_filter if layer.kind.transposed else _conv_filter
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
    return torch.stack(channels, dim=1)


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


def run_backward(module: torch.nn.Module, x: torch.Tensor, grad_output: torch.Tensor
                 ) -> tuple[dict[str, torch.Tensor | None], dict[str, OpCounter]]:
    """The gradients of ``module(x)`` for ``grad_output``, computed by the counted algorithm of
    :mod:`convops.backward`, and the operations each took.

    Returns ``(gradients, counters)``, both keyed by ``"input"``, ``"weight"`` and ``"bias"``
    (the bias gradient is ``None`` without bias).  Every scalar multiplication and addition goes
    through the gradient's :class:`OpCounter`; copies and zeros are free.

    Examples
    --------
    >>> import torch
    >>> from convops.reference import autograd_gradients, run_backward
    >>> module = torch.nn.Conv1d(1, 1, 3, bias=False).double()
    >>> x, grad_output = torch.randn(1, 1, 6, dtype=torch.float64), torch.ones(1, 1, 4, dtype=torch.float64)
    >>> gradients, counters = run_backward(module, x, grad_output)
    >>> expected = autograd_gradients(module, x, grad_output)
    >>> torch.allclose(gradients["weight"], expected["weight"]), counters["weight"]
    (True, OpCounter(multiplications=12, additions=9))
    """
    layer = Layer.from_module(module)
    n = layer.kind.ndim
    unbatched = x.dim() == n + 1
    if unbatched:
        x, grad_output = x.unsqueeze(0), grad_output.unsqueeze(0)
    counters = {g: OpCounter() for g in GRADIENTS}
    weight = module.weight.detach().to(x.dtype)
    backward = _transposed_backward if layer.kind.transposed else _conv_backward
    grad_input, grad_weight = backward(layer, counters, x, weight, grad_output)
    grad_bias = None
    if layer.bias:  # per output channel, the sum of its N * prod(size_out) output gradients
        grad_bias = counters["bias"].sum(grad_output.transpose(0, 1).flatten(1))
    if unbatched:
        grad_input = grad_input.squeeze(0)
    return {"input": grad_input, "weight": grad_weight, "bias": grad_bias}, counters


def autograd_gradients(module: torch.nn.Module, x: torch.Tensor, grad_output: torch.Tensor
                       ) -> dict[str, torch.Tensor | None]:
    """torch.autograd's gradients of ``module(x)`` for ``grad_output``, keyed like
    :func:`run_backward`'s.

    Examples
    --------
    >>> import torch
    >>> from convops.reference import autograd_gradients
    >>> module = torch.nn.Conv1d(1, 1, 3)
    >>> gradients = autograd_gradients(module, torch.ones(1, 1, 6), torch.ones(1, 1, 4))
    >>> gradients["bias"]
    tensor([4.])
    """
    x = x.detach().clone().requires_grad_()
    parameters = [x, module.weight] + ([module.bias] if module.bias is not None else [])
    gradients = torch.autograd.grad(module(x), parameters, grad_output)
    return dict(zip(GRADIENTS, gradients + (None,) * (len(GRADIENTS) - len(gradients))))


def measure_backward(module: torch.nn.Module, input_shape: Sequence[int],
                     seed: int = 0) -> dict[str, OpCounter]:
    """The operations of each gradient of ``module`` on a random input of ``input_shape`` and a
    random output gradient, counted by :func:`run_backward`, whose gradients are first checked
    against :func:`autograd_gradients` (``AssertionError`` if they differ).  Runs in float64.

    Examples
    --------
    >>> import torch
    >>> from convops.reference import measure_backward
    >>> counters = measure_backward(torch.nn.Conv1d(2, 4, 3), (1, 2, 10))
    >>> counters["bias"], counters["weight"].multiplications
    (OpCounter(multiplications=0, additions=28), 192)
    """
    module = copy.deepcopy(module).double()
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(tuple(input_shape), dtype=torch.float64, generator=generator)
    with torch.no_grad():
        out = module(x)
    grad_output = torch.randn(out.shape, dtype=torch.float64, generator=generator)
    gradients, counters = run_backward(module, x, grad_output)
    expected = autograd_gradients(module, x, grad_output)
    for name in GRADIENTS:
        torch.testing.assert_close(gradients[name], expected[name], msg=lambda m: f"{name}: {m}")
    return counters


def _dual(layer: Layer, padding) -> Layer:
    """The layer of the convolution that computes ``layer``'s ``grad_input``: the other kind,
    channels swapped, no bias; ``padding`` is where a transposed one's output starts."""
    prefix = "Conv" if layer.kind.transposed else "ConvTranspose"
    n = layer.kind.ndim
    return Layer(KINDS[f"{prefix}{n}d"], layer.out_channels, layer.in_channels,
                 layer.kernel_size, layer.stride, tuple(padding), layer.dilation, layer.groups,
                 False, "zeros", (0,) * n)


def _window(tensor: torch.Tensor, tap, layer: Layer, size) -> torch.Tensor:
    """The elements of ``tensor`` (spatial dimensions last) that tap ``tap`` meets at ``size``
    positions: index ``i s + j d`` along each dimension."""
    return tensor[(Ellipsis,) + tuple(slice(j * d, j * d + (L - 1) * s + 1, s) for j, d, s, L in
                                      zip(tap, layer.dilation, layer.stride, size))]


def _weight_gradient(layer: Layer, counter: OpCounter, x: torch.Tensor, grad: torch.Tensor,
                     positions) -> torch.Tensor:
    """Per weight element, the products of the elements of ``x`` and ``grad`` it met in the
    forward, summed over the batch and the ``positions`` (conv: ``x`` padded, its output's
    positions; transposed: ``grad`` extended, its input's positions)."""
    first, second = layer.in_channels, layer.out_channels  # torch's weight layout, as in _kernel
    if not layer.kind.transposed:
        first, second = second, first
    weight = torch.empty((first, second // layer.groups, *layer.kernel_size), dtype=x.dtype)
    in_per_group = layer.in_channels // layer.groups
    out_per_group = layer.out_channels // layer.groups
    for c_out in range(layer.out_channels):
        inputs = slice(c_out // out_per_group * in_per_group,
                       (c_out // out_per_group + 1) * in_per_group)
        for tap in _taps(layer):
            if layer.kind.transposed:  # x at the input's positions, grad where they landed
                products = counter.mul(x[:, inputs], _window(grad[:, c_out:c_out + 1], tap,
                                                             layer, positions))
            else:  # x where the tap met it, grad at the output's positions
                products = counter.mul(_window(x[:, inputs], tap, layer, positions),
                                       grad[:, c_out:c_out + 1])
            sums = counter.sum(products.transpose(0, 1).flatten(1))
            if layer.kind.transposed:
                weight[(inputs, c_out % out_per_group) + tap] = sums
            else:
                weight[(c_out, slice(None)) + tap] = sums
    return weight


def _conv_backward(layer, counters, x, weight, grad_output):
    size_out = grad_output.shape[2:]
    pads = layer.padding_per_side(tuple(x.shape[2:]))
    padded = _pad(layer, x)
    if layer.padding_mode == "zeros":
        start, size = [before for before, _ in pads], x.shape[2:]
    else:  # the gradient of the padded input, folded back below
        start, size = [0] * layer.kind.ndim, padded.shape[2:]
    grad_input = _convolve(_dual(layer, start), counters["input"], grad_output, weight, None,
                           tuple(size))
    if layer.padding_mode != "zeros":
        grad_input = _fold(layer, counters["input"], grad_input, pads, tuple(x.shape[2:]))
    return grad_input, _weight_gradient(layer, counters["weight"], padded, grad_output, size_out)


def _fold(layer, counter, grad, pads, size_in):
    """The pad's backward: the interior is the input's gradient; each padded position's gradient
    is added to the input position it copies."""
    index = torch.arange(math.prod(size_in), dtype=torch.float64).reshape(1, 1, *size_in)
    flat = [side for pair in reversed(pads) for side in pair]
    source = F.pad(index, flat, mode=layer.padding_mode).flatten().long()
    interior = torch.zeros(grad.shape[2:], dtype=torch.bool)
    interior[tuple(slice(before, before + L) for (before, _), L in zip(pads, size_in))] = True
    interior = interior.flatten()
    grad = grad.flatten(2)
    folded = counter.index_add(grad[..., interior], source[~interior], grad[..., ~interior])
    return folded.reshape(*grad.shape[:2], *size_in)


def _transposed_backward(layer, counters, x, weight, grad_output):
    size_in = x.shape[2:]
    # grad_output where every product of the forward landed, zero where padding cropped it.
    full = [max((L - 1) * s + (k - 1) * d + 1, p + o) for L, k, s, d, p, o in zip(
        size_in, layer.kernel_size, layer.stride, layer.dilation, layer.padding,
        grad_output.shape[2:])]
    extended = grad_output.new_zeros((*grad_output.shape[:2], *full))
    extended[(Ellipsis,) + tuple(slice(p, p + o) for p, o in zip(
        layer.padding, grad_output.shape[2:]))] = grad_output
    grad_input = _convolve(_dual(layer, layer.padding), counters["input"], extended, weight,
                           None, tuple(size_in))
    return grad_input, _weight_gradient(layer, counters["weight"], x, extended, size_in)


def flop_counter_backward_flops(module: torch.nn.Module, input_shape: Sequence[int],
                                gradients: Sequence[str] = ("input", "weight")) -> int:
    """FLOPs that ``FlopCounterMode`` reports for the backward of ``module`` on meta tensors,
    computing the ``gradients`` named (the others do not require grad).

    Examples
    --------
    >>> import torch
    >>> from convops.reference import flop_counter_backward_flops
    >>> flop_counter_backward_flops(torch.nn.Conv1d(2, 4, 3), (1, 2, 10))  # 2 · (192 + 192)
    768
    """
    from torch.utils.flop_counter import FlopCounterMode

    meta = copy.deepcopy(module).to("meta")
    x = torch.empty(tuple(input_shape), device="meta", dtype=meta.weight.dtype,
                    requires_grad="input" in gradients)
    meta.weight.requires_grad_("weight" in gradients)
    if meta.bias is not None:
        meta.bias.requires_grad_("bias" in gradients)
    out = meta(x)
    if not out.requires_grad:
        return 0
    counter = FlopCounterMode(display=False)
    with counter:
        out.backward(torch.empty_like(out))
    return counter.get_total_flops()


def additions_by_ones(size_in: Sequence[int], kernel_size: IntOrTuple, stride: IntOrTuple = 1,
                      dilation: IntOrTuple = 1, padding: IntOrTuple = 0,
                      output_padding: IntOrTuple = 0, clip: bool = True) -> int:
    """The way moduleprofiler's documentation finds a transposed convolution's additions per filter.

    Runs a one-channel transposed convolution with all-ones input and kernel, so output position
    ``o`` holds :math:`n_o`, the number of products landing there, and returns
    :math:`\\sum_o (n_o - 1)`.  With ``clip=False`` this is the pages' formula, which goes wrong
    where no product lands (:math:`n_o = 0` contributes :math:`-1`); ``clip=True`` takes
    :math:`\\max(n_o - 1, 0)`.  Exact in float64 up to :math:`2^{53}`.

    Examples
    --------
    >>> from convops.reference import additions_by_ones
    >>> additions_by_ones((4,), 3, stride=2), additions_by_ones((2,), 1, stride=3, clip=False)
    (3, -2)
    """
    size_in = tuple(size_in)
    module = Layer.create(f"ConvTranspose{len(size_in)}d", 1, 1, kernel_size, stride=stride,
                          padding=padding, dilation=dilation, output_padding=output_padding,
                          bias=False).to_module(dtype=torch.float64)
    torch.nn.init.ones_(module.weight)
    with torch.no_grad():
        per_position = module(torch.ones((1, 1, *size_in), dtype=torch.float64)) - 1
    if clip:
        per_position = per_position.clamp(min=0)
    return int(per_position.sum().item())


def flop_counter_flops(module: torch.nn.Module, input_shape: Sequence[int]) -> int:
    """FLOPs that ``torch.utils.flop_counter.FlopCounterMode`` reports for ``module`` on meta tensors.

    FlopCounterMode counts 2 FLOPs per multiply-accumulate and ignores the bias, so its total is
    twice convops' multiplications.

    Examples
    --------
    >>> import torch
    >>> from convops.reference import flop_counter_flops
    >>> flop_counter_flops(torch.nn.Conv1d(2, 4, 3), (1, 2, 10))
    384
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

    from .inputs import default_dtype, map_inputs

    meta = model
    if any(not t.is_meta for t in itertools.chain(model.parameters(), model.buffers())):
        meta = copy.deepcopy(model).to("meta")
    dtype = default_dtype(meta)
    args, kwargs = map_inputs((inputs, kw_inputs), lambda v: torch.empty_like(v, device="meta")
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
