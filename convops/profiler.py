"""``convops.profile``: run a whole model once under the capture and report every convolution.

The model runs through :func:`convops.capture.run`; the calls become a
:class:`~convops.profiling.Profile` (numbers), a
:class:`~convops.symbolic.SymbolicProfile` (a string in a shape: formulas), or a profile
with the backward pass of each convolution call (``backward=True``).
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import torch

from . import algorithms, capture, registry
from .count import breakdown
from .errors import ConvopsError, elide, flag
from .inputs import (check_inputs, default_dtype, describe, first_shape, integer_shapes, is_symbolic,
                     meta_input, on_meta, on_meta_with_grad, random_like, stand_in_on, tensors)
from .profiling import NOT_CONV, LayerProfile, Profile, count_call, op_name, rows
from .symbolic import symbolic_profile

_RECOMPUTED = ("recomputed in the backward pass (activation checkpointing): counted once, in "
               "the forward")


def profile(model: torch.nn.Module, *inputs: Any, backward: bool = False,
            mode: str | None = None, device: torch.device | str | None = None,
            algorithm: str = "direct", tile: Any = None, **kw_inputs: Any) -> Profile:
    """Count every convolution ``model`` runs on ``inputs``, call by call.

    Each input is a tensor (only its shape and dtype are used) or a shape, a tuple of ints (a
    tensor of the dtype of the model's first floating-point parameter); they may be nested in
    lists, tuples and dicts, positional or keyword, as the model's ``forward`` takes them.  A
    string in a shape is a symbolic size: the counts are then sympy formulas in those sizes
    (a :class:`~convops.symbolic.SymbolicProfile`).

    ``mode`` is the mode the model runs in, ``"eval"`` or ``"train"``: by default eval for the
    forward (as torchinfo does) and train with ``backward=True``, since the training cost is the
    training graph's (auxiliary heads and anything under ``if self.training`` included).  In
    train mode a batch norm needs more than one value per channel (a batch of at least 2).

    The model runs once on ``meta`` tensors: its parameters and buffers are replaced by meta
    tensors for that call only, unless they are on meta already, and its tensors, modes and the
    tensor attributes its hooks set are restored after, so the model is neither copied nor
    changed and no data is allocated (scripted submodules included).  What ``torch.compile``
    compiled runs eagerly for that call: the convolutions are the same.  Meta tensors carry no
    values, so a model that reads one
    (``.item()``, control flow on a value, ``nonzero``, a boolean mask) cannot run on them:
    ``device="cpu"`` (or another device) runs it for real, on the tensors given (a shape becomes
    seeded random values, as do parameters on meta), and counts what ran on that input.

    ``backward=True`` also runs the backward pass from a gradient for every output and counts,
    for each convolution call, the gradients autograd computes (:attr:`LayerProfile.backward`,
    :attr:`Profile.backward_total`): no ``grad_input`` where the convolution's input needs no
    gradient (the first layer, fed by an input given as a shape or a tensor that does not require
    grad), no ``grad_weight`` or ``grad_bias`` where that parameter is frozen.  A padding mode
    other than zeros runs as a pad operation and an unpadded convolution: the pad and its
    backward are listed, not counted.  A forward convolution that activation checkpointing runs
    again in the backward pass is listed, not counted twice.  (A model's own keyword inputs
    named ``backward``, ``mode`` or ``device`` cannot be passed here.)

    ``algorithm`` (and ``tile``) counts each call as :func:`convops.breakdown` does with them;
    a call the algorithm does not apply to (a strided layer for Winograd, a transposed one) is
    counted by the direct algorithm, and the summary names it
    (:func:`convops.algorithms.fell_back`).  Forward and concrete shapes only.

    Every refusal is a :class:`ConvopsError` naming the module where it happened, chained from
    torch's error; a convolution torch refuses is never dropped from a partial total.

    Examples
    --------
    >>> import torch, convops
    >>> class Block(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
    ...         self.weight = torch.nn.Parameter(torch.zeros(8, 8, 1, 1))
    ...     def forward(self, x, scale):
    ...         return torch.nn.functional.conv2d(self.conv(x), self.weight) * scale
    >>> p = convops.profile(Block(), (1, 3, 16, 16), scale=(1, 8, 16, 16))
    >>> {layer.name: layer.total for layer in p.counted}
    {'conv': 110592, 'F.conv2d in (model)': 30720}
    >>> p.multiplications == 3 * 8 * 9 * 16 * 16 + 8 * 8 * 16 * 16
    True
    >>> p = convops.profile(Block(), (1, 3, 16, 16), scale=(1, 8, 16, 16), backward=True)
    >>> {layer.name: layer.backward.gradients for layer in p.counted}
    {'conv': ('weight', 'bias'), 'F.conv2d in (model)': ('input', 'weight')}
    >>> p.mode, p.device
    ('train', None)
    """
    flag("backward", backward)
    mode = mode or ("train" if backward else "eval")
    if mode not in capture.MODES:
        raise ConvopsError(f"mode={elide(repr(mode))}: give 'eval' or 'train'")
    inputs, kw_inputs = integer_shapes((inputs, kw_inputs))
    check_inputs(inputs, kw_inputs)
    symbolic = is_symbolic((inputs, kw_inputs))
    if symbolic and (backward or device is not None):
        raise ConvopsError("backward=True and device= count concrete shapes only: give every "
                           "size as an int (symbolic sizes count the forward, on meta tensors)")
    count, reasons = count_call, {}
    if algorithm != "direct" or tile is not None:
        if backward or symbolic:
            raise ConvopsError(f"algorithm={algorithm!r} counts the forward at concrete sizes: "
                               "leave out backward=True and symbolic sizes, or the algorithm")
        count, reasons = algorithms.call_counter(algorithm, tile, count_call)
    if symbolic:
        return symbolic_profile(model, inputs, kw_inputs, mode, numeric=profile)
    if device is not None:
        device = _device(device)
    # with backward, autograd records the forward even under torch.inference_mode()
    with torch.inference_mode(False) if backward else contextlib.nullcontext():
        trace, dtype = _run(model, inputs, kw_inputs, backward, mode, device)
    if backward:
        split = trace.calls.index(None)
        layers = _with_backward(trace, trace.calls[:split], trace.calls[split + 1:])
    else:
        layers = rows(trace.calls, trace.names, count)
    note = "" if count is count_call else algorithms.profile_note(layers, algorithm, tile, reasons)
    return Profile(model, first_shape((inputs, kw_inputs)), tuple(layers),
                   describe(inputs, kw_inputs), mode, device, trace.modules, dtype=dtype,
                   fallback=note)


def _device(device) -> torch.device:
    try:
        device = torch.device(device)
        torch.empty(0, device=device)
    except (RuntimeError, TypeError, AssertionError) as error:
        raise ConvopsError(f"device={elide(repr(device))}: torch cannot run on it "
                           f"({error})") from error
    if device.type == "meta":
        raise ConvopsError("device='meta' is the default run: leave device out")
    return device


def _run(model, inputs: tuple, kw_inputs: dict, backward: bool, mode: str,
         device: torch.device | None) -> tuple[capture.Trace, torch.dtype]:
    """The run's :class:`~convops.capture.Trace` and its first input tensor's dtype."""
    dtype = torch.float32
    if isinstance(model, torch.nn.Module):
        dtype = default_dtype(model)
    given = tensors((inputs, kw_inputs))
    first = first_shape((inputs, kw_inputs))
    first_dtype = given[0].dtype if given and tuple(given[0].shape) == first else dtype
    if device is None:
        make = meta_input(dtype)
        stand_in = on_meta_with_grad if backward else on_meta
    else:
        stand_in = stand_in_on(device)

        def make(value):
            if isinstance(value, torch.Tensor):
                return stand_in(value)
            return random_like(value, dtype, device)
    if backward:
        def make_input(value):  # an input requires grad only where the tensor given does
            wants = isinstance(value, torch.Tensor) and value.requires_grad
            tensor = make(value).detach()
            return tensor.requires_grad_() if wants else tensor
    else:
        make_input = make
    run_capture = capture.Capture(shortcuts=not backward, real=device is not None)
    return capture.run(model, inputs, kw_inputs, make_input, stand_in, run_capture,
                       backward=backward, mode=mode), first_dtype


def _with_backward(trace: capture.Trace, forward: list, backward: list) -> list[LayerProfile]:
    """The forward's rows, each convolution call with the backward counts of the
    ``aten.convolution_backward`` call autograd ran for it."""
    layers = rows(forward, trace.names, count_call)
    # autograd hands convolution_backward the very input and weight the forward call was given:
    # they name the call exactly.  A call that activation checkpointing ran again has tensors of
    # its own, so those fall back to the forward calls of the same layer and input shape.
    exact: dict[tuple[int, int], int] = {}
    pending: dict[tuple, list[int]] = {}
    conv_rows = [i for i, layer in enumerate(layers) if layer.counted]
    for i, call in zip(conv_rows, (c for c in forward if registry.role(c.func) == "forward")):
        args = registry.arguments(call.func, call.args, call.kwargs)
        exact[id(args[0]), id(args[1])] = i
        convolution = registry.forward(call.func, call.args, call.kwargs, call.out)
        pending.setdefault(convolution[:2], []).append(i)
    recomputed = rows([c for c in backward if registry.role(c.func) == "forward"], trace.names,
                      count_call)
    layers += [dataclasses.replace(row, breakdown=None, note=_RECOMPUTED) for row in recomputed
               if row.op]  # not the modules that ran nothing in it
    for func, module, args, kwargs, out in backward:
        role = registry.role(func)
        if role == "forward":
            continue
        if role != "backward":  # listed like the forward's other operations
            op = op_name(func)
            layers.append(LayerProfile("(backward)", op, first_shape(args),
                                       first_shape(out), None, f"{op}: {NOT_CONV}", op))
            continue
        call = registry.backward(func, args, kwargs)
        layer, x = call.layer, call.input
        counts = breakdown(layer, tuple(x.shape), backward=True, gradients=call.gradients)
        matches = pending.get((layer, tuple(x.shape)), [])
        i = exact.pop((id(x), id(call.weight)), None)
        if i is None and matches:
            i = matches[-1]  # autograd runs the calls in reverse
        if i is None:  # autograd ran a convolution the forward did not: list it, uncounted
            op = op_name(func)
            layers.append(LayerProfile("(backward)", layer.kind.name, tuple(x.shape),
                                       call.output_shape, None,
                                       f"{op} without a forward call", op))
            continue
        if i in matches:
            matches.remove(i)
        layers[i] = dataclasses.replace(layers[i], backward=counts)
    return layers
