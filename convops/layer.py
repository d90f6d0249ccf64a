"""A convolution layer's parameters, read from a torch module or given directly, and checked.

Every configuration torch refuses is refused here with a :class:`~convops.errors.ConvopsError` (a ``ValueError``) that names the
parameter, its value and what would be accepted, so that no count is ever made of a layer torch
would not run.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

from torch.nn.modules.lazy import LazyModuleMixin

from .derivation import KINDS, Kind, kind_of
from .errors import ConvopsError

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class Layer(NamedTuple):
    """The parameters of a convolution module, normalised to one tuple entry per spatial dimension."""

    kind: Kind
    in_channels: int
    out_channels: int
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...] | str  #: per-dimension ints, or ``"same"`` / ``"valid"``
    dilation: tuple[int, ...]
    groups: int
    bias: bool
    padding_mode: str
    output_padding: tuple[int, ...]

    @classmethod
    def create(cls, kind, in_channels, out_channels, kernel_size, stride=1, padding=0,
               dilation=1, groups=1, bias=True, padding_mode="zeros", output_padding=0) -> Layer:
        """A layer from the arguments torch's constructor takes, e.g. ``Layer.create("Conv2d", 3, 64, 7)``."""
        kind = kind_of(kind)
        if not kind.transposed and output_padding not in (0, (0,) * kind.ndim):
            raise ConvopsError(f"output_padding={output_padding!r}: {kind.name} has no output_padding")
        n = kind.ndim
        layer = cls(kind, in_channels, out_channels, _tuple("kernel_size", kernel_size, n),
                    _tuple("stride", stride, n),
                    padding if isinstance(padding, str) else _tuple("padding", padding, n),
                    _tuple("dilation", dilation, n), groups, bias, padding_mode,
                    _tuple("output_padding", output_padding, n))
        check(layer)
        return layer

    @classmethod
    def from_module(cls, module, validate: bool = True) -> Layer:
        """The layer of a torch convolution module (any of the six, or a subclass).

        ``validate=False`` leaves :func:`check` to the caller.
        """
        kind = _KIND_OF_TYPE.get(type(module))
        if kind is None:  # a subclass, or not a convolution at all
            kind = kind_of(type(module))
            if isinstance(module, LazyModuleMixin) and module.has_uninitialized_params():
                raise ConvopsError(f"{type(module).__name__} is lazy and not initialised yet: "
                             "run it once, or count the module it becomes")
        attrs = vars(module)  # plain attributes; torch's Module.__getattr__ is slow
        layer = cls(kind, attrs["in_channels"], attrs["out_channels"], attrs["kernel_size"],
                    attrs["stride"], attrs["padding"], attrs["dilation"], attrs["groups"],
                    module._parameters.get("bias") is not None, attrs["padding_mode"],
                    attrs["output_padding"])
        if validate:
            check(layer)
        return layer

    def padding_per_side(self, size_in: Sequence[int]) -> tuple[tuple[int, int], ...]:
        """``(before, after)`` padding of each spatial dimension, as torch pads the input.

        (torch's options do not depend on ``size_in``; it is taken for the dimension count.)"""
        if self.padding == "valid":
            return ((0, 0),) * len(size_in)
        if self.padding == "same":
            # torch pads d*(k-1) in all; an odd total puts the extra element after.
            totals = [d * (k - 1) for k, d in zip(self.kernel_size, self.dilation)]
            return tuple((t // 2, t - t // 2) for t in totals)
        return [(p, p) for p in self.padding]


_KIND_OF_TYPE = {kind.module: kind for kind in KINDS.values()}


def _is_int(value) -> bool:
    return type(value) is int  # not bool, not float


def _tuple(name: str, value, ndim: int) -> tuple[int, ...]:
    if _is_int(value):
        return (value,) * ndim
    try:
        values = tuple(value)
    except TypeError:
        raise ConvopsError(f"{name}={value!r} must be an int or a sequence of {ndim} ints") from None
    return values


def _check_ints(name: str, values, ndim: int, minimum: int) -> None:
    if (not isinstance(values, tuple) or len(values) != ndim
            or not all(_is_int(v) and v >= minimum for v in values)):
        kind = "positive" if minimum == 1 else "non-negative"
        raise ConvopsError(f"{name}={values!r} must be {ndim} {kind} int(s), one per spatial dimension")


def check(layer: Layer) -> None:
    """Raise ``ValueError`` for the first parameter of ``layer`` that torch would refuse."""
    kind, n = layer.kind, layer.kind.ndim
    for name in ("in_channels", "out_channels", "groups"):
        value = getattr(layer, name)
        if not _is_int(value) or value < 1:
            raise ConvopsError(f"{name}={value!r} must be a positive int")
    for name in ("in_channels", "out_channels"):
        if getattr(layer, name) % layer.groups:
            raise ConvopsError(f"groups={layer.groups} must divide {name}={getattr(layer, name)}")
    _check_ints("kernel_size", layer.kernel_size, n, 1)
    _check_ints("stride", layer.stride, n, 1)
    _check_ints("dilation", layer.dilation, n, 1)
    padding = layer.padding
    if isinstance(padding, tuple) and padding and all(isinstance(c, str) for c in padding):
        padding = "".join(padding)  # torch's transposed modules store 'same' split into letters
    if isinstance(padding, str):
        if kind.transposed or padding not in ("same", "valid"):
            allowed = "non-negative ints" if kind.transposed else "'same', 'valid' or non-negative ints"
            raise ConvopsError(f"padding={padding!r}: {kind.name} accepts {allowed}")
        if padding == "same" and any(s != 1 for s in layer.stride):
            raise ConvopsError(f"padding='same' needs stride 1, got stride={layer.stride}")
    else:
        _check_ints("padding", layer.padding, n, 0)
    if not isinstance(layer.bias, bool):
        raise ConvopsError(f"bias={layer.bias!r} must be True or False")
    modes = ("zeros",) if kind.transposed else PADDING_MODES
    if layer.padding_mode not in modes:
        raise ConvopsError(f"padding_mode={layer.padding_mode!r}: {kind.name} accepts "
                         + ", ".join(map(repr, modes)))
    _check_ints("output_padding", layer.output_padding, n, 0)
    for q, s, d in zip(layer.output_padding, layer.stride, layer.dilation):
        if q >= max(s, d):
            raise ConvopsError(f"output_padding={layer.output_padding} must be smaller than stride="
                             f"{layer.stride} or dilation={layer.dilation} in every dimension")


def check_input(layer: Layer, input_shape) -> tuple[int, tuple[int, ...]]:
    """``(batch, spatial sizes)`` of an input shape, batched or not; ``ValueError`` if torch would refuse it."""
    n = layer.kind.ndim
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = ()
    rank = len(shape)
    if rank == n + 2:
        batch, channels, *size_in = shape
    elif rank == n + 1:
        batch, (channels, *size_in) = 1, shape
    else:
        batch = channels = size_in = None
    if size_in is None or {*map(type, shape)} != {int}:
        raise ConvopsError(f"input_shape={input_shape!r}: {layer.kind.name} takes {n + 1} ints "
                         f"(C_in, *spatial) or {n + 2} (N, C_in, *spatial)")
    if batch < 0:
        raise ConvopsError(f"input_shape={input_shape!r}: batch size {batch} must not be negative")
    if channels != layer.in_channels:
        raise ConvopsError(f"input_shape={input_shape!r} has {channels} channels; "
                         f"in_channels={layer.in_channels}")
    if min(size_in) < 1:
        raise ConvopsError(f"input_shape={input_shape!r}: spatial sizes must be positive")
    return batch, size_in


def smallest_input(layer: Layer) -> tuple[int, ...]:
    """The smallest input size torch accepts in each dimension: 1, or more where ``reflect``
    padding must stay inside the input (and ``circular`` may reach just to its end)."""
    pads = (max(pair) for pair in layer.padding_per_side(layer.kernel_size))
    if layer.padding_mode == "reflect":
        return tuple(pad + 1 for pad in pads)
    if layer.padding_mode == "circular":
        return tuple(max(pad, 1) for pad in pads)
    return (1,) * layer.kind.ndim


def check_padding_mode(layer: Layer, size_in) -> None:
    """torch's limits on how far ``reflect`` and ``circular`` padding may reach into the input."""
    mode = layer.padding_mode
    pads = layer.padding_per_side(size_in)
    for size, least, pair in zip(size_in, smallest_input(layer), pads):
        if size < least:
            limit = "smaller than" if mode == "reflect" else "at most"
            raise ConvopsError(f"padding {pair} with padding_mode={mode!r} must be {limit} "
                             f"the input size {size} of its dimension")


def check_output(layer: Layer, input_shape, size_out) -> None:
    """Every output size at least 1, as torch requires."""
    if min(size_out) < 1:
        raise ConvopsError(f"{layer.kind.name} with kernel_size={layer.kernel_size}, stride={layer.stride}, "
                         f"padding={layer.padding}, dilation={layer.dilation}"
                         + (f", output_padding={layer.output_padding}" if layer.kind.transposed else "")
                         + f" gives output size {tuple(size_out)} for input_shape={tuple(input_shape)}; "
                         "every output size must be at least 1")
