"""Torch as a symbolic trace needs it: size-oblivious reasoning, three functions replaced for the
trace's time by ones of the same value that take symbolic sizes (or leave a question about
strides open), and the fake-tensor logger kept quiet about errors that become refusals."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch._dispatch.python import enable_python_dispatcher
from torch._prims_common import is_contiguous_for_memory_format_or_false


@contextmanager
def tracing() -> Iterator[None]:
    """Torch as the trace needs it: size-oblivious (:func:`_size_oblivious`), with three torch
    functions replaced for the trace's time by ones of the same value that take symbolic sizes
    or leave a question about strides open (:func:`_interpolate`, :func:`_contiguous`,
    :func:`_adaptive_avg_pool2d`).

    Examples
    --------
    >>> import torch
    >>> from convops.symbolic.torch_setup import tracing
    >>> original = torch.nn.functional.interpolate
    >>> with tracing(): print(torch.nn.functional.interpolate is original)
    False
    >>> torch.nn.functional.interpolate is original
    True
    """
    functional = torch.nn.functional
    with _size_oblivious(), _patched(functional, "interpolate", _interpolate), \
            _patched(torch.Tensor, "contiguous", _contiguous), \
            _patched(functional, "adaptive_avg_pool2d", _adaptive_avg_pool2d):
        yield


@contextmanager
def _patched(owner, name: str, replacement: Callable):
    """``owner.name`` is ``replacement(original)`` inside, as it was after."""
    own = owner.__dict__.get(name)  # none: inherited (TensorBase's methods)
    setattr(owner, name, replacement(getattr(owner, name)))
    try:
        yield
    finally:
        if own is None:
            delattr(owner, name)
        else:
            setattr(owner, name, own)


def _interpolate(original):
    """``F.interpolate`` under torch's Python dispatcher, whose decompositions take symbolic
    output sizes (its C++ kernels want ints): resizing to the input's size, or by a scale
    factor, stays a formula.  Only there: elsewhere the Python dispatcher slows a trace about
    threefold and renames operations (batch norm's) that the numeric profile lists."""
    def interpolate(*args, **kwargs):
        with enable_python_dispatcher():
            return original(*args, **kwargs)
    return interpolate


def _contiguous(_original):
    """``x.contiguous()`` that copies where torch cannot tell the tensor contiguous at every size.

    ``Tensor.contiguous`` asks torch's C++ whether the tensor is contiguous, a question decided
    at the trace's sizes and kept (a transposed tensor is contiguous where a size is 1): a guard
    about strides only.  The value is the tensor's either way, so a copy where the answer is open
    changes no size and no convolution that runs."""
    def contiguous(self, memory_format=torch.contiguous_format):
        if is_contiguous_for_memory_format_or_false(self, memory_format=memory_format):
            return self
        return self.clone(memory_format=memory_format)
    return contiguous


def _adaptive_avg_pool2d(original):
    """``F.adaptive_avg_pool2d`` to 1 × 1 as torch computes it, the mean over the last two
    dimensions, without the memory-format question its C++ asks of the input's strides."""
    def adaptive_avg_pool2d(input, output_size):
        size = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * 2
        if tuple(size) == (1, 1) and not input.is_quantized:
            return input.mean((-1, -2), keepdim=True)
        return original(input, output_size)
    return adaptive_avg_pool2d


@contextmanager
def _size_oblivious():
    """Trace with torch's size-oblivious reasoning on the symbolic sizes.

    Inside torch, a question about a size that has a general answer and a fast path for size 1
    (broadcasting ``a + b`` of equal sizes, contiguity, strides) is asked with ``guard_or_false``:
    by torch's contract, either path gives the same result, or the general path is taken with a
    check deferred to run time (``torch._check``), which :func:`_guards` keeps as a condition.
    By default torch still decides such a question at the trace's sizes and keeps the decision
    (``size ≠ 1``), so that a stage one pixel high would be outside the region though nothing
    that runs changes; size-oblivious, it keeps none of them.  A question the model asks in its
    own code (``if x.shape[-1] == 1``) is still a decision, kept."""
    with torch.fx.experimental._config.patch(backed_size_oblivious=True):
        yield


@contextmanager
def quiet() -> Iterator[None]:
    """Keep torch's fake-tensor logger from printing a traceback of an error that becomes a
    :class:`ConvopsError` (it logs every failing operator at ERROR level).

    Examples
    --------
    >>> import logging
    >>> from convops.symbolic.torch_setup import quiet
    >>> logger = logging.getLogger('torch._subclasses.fake_tensor')
    >>> with quiet(): print(logger.level == logging.CRITICAL)
    True
    """
    logger = logging.getLogger("torch._subclasses.fake_tensor")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


