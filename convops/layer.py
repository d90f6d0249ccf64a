"""A convolution layer's parameters, read from a torch module or given directly, and checked.

Every configuration torch refuses is refused here with a :class:`~convops.errors.ConvopsError` (a ``ValueError``) that names the
parameter, its value and what would be accepted, so that no count is ever made of a layer torch
would not run.
"""

from __future__ import annotations

import ast
import inspect
import operator
from typing import Any, NamedTuple, Sequence

from .derivation import KINDS, Kind, kind_of
from .errors import ConvopsError, elide

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")

#: An int for every spatial dimension, or one per dimension, as torch's constructors take them.
IntOrTuple = int | tuple[int, ...]


class Layer(NamedTuple):
    """The parameters of a convolution module, normalised to one tuple entry per spatial dimension.

    Examples
    --------
    >>> import torch
    >>> layer = Layer.from_module(torch.nn.Conv2d(3, 8, 3, stride=2, padding=1))
    >>> layer.kind.name, layer.kernel_size, layer.stride, layer.padding, layer.bias
    ('Conv2d', (3, 3), (2, 2), (1, 1), True)
    >>> layer == Layer.parse("Conv2d(3, 8, 3, stride=2, padding=1)")
    True

    See Also
    --------
    convops.count_ops : counts a module or a Layer.
    """

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
    def create(cls, kind: Kind | str | type, in_channels: int, out_channels: int,
               kernel_size: IntOrTuple, stride: IntOrTuple = 1, padding: IntOrTuple | str = 0,
               dilation: IntOrTuple = 1, groups: int = 1, bias: bool = True,
               padding_mode: str = "zeros", output_padding: IntOrTuple = 0) -> Layer:
        """A layer from the arguments torch's constructor takes, checked as torch checks them.

        Examples
        --------
        >>> Layer.create("Conv2d", 3, 64, 7, stride=2).stride
        (2, 2)
        >>> Layer.create("Conv2d", 3, 64, 7, groups=2)
        Traceback (most recent call last):
        ...
        convops.errors.ConvopsError: groups=2 must divide in_channels=3
        """
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
    def from_module(cls, module: Any, validate: bool = True) -> Layer:
        """The layer of a torch convolution module (any of the six, or a subclass).

        The kernel size and channels are checked against the module's weight, and a subclass
        that overrides ``forward`` is refused unless torch ships it: convops cannot know what
        such a module computes.  ``validate=False`` leaves :func:`check` to the caller.

        Examples
        --------
        >>> import torch
        >>> Layer.from_module(torch.nn.Conv1d(2, 4, 3, stride=2)).stride
        (2,)
        """
        kind = _KIND_OF_TYPE.get(type(module).__name__)
        if kind is None or kind.module is not type(module):  # a subclass, or not a convolution
            kind = kind_of(type(module))
        _check_subclass(module, kind)
        attrs = vars(module)  # plain attributes; torch's Module.__getattr__ is slow
        layer = cls(kind, attrs["in_channels"], attrs["out_channels"], attrs["kernel_size"],
                    attrs["stride"], attrs["padding"], attrs["dilation"], attrs["groups"],
                    module._parameters.get("bias") is not None, attrs["padding_mode"],
                    attrs["output_padding"])
        parameters = module._parameters
        if "weight" in parameters or "weight" in attrs:  # attrs: set by weight_norm's hook
            _check_weight(layer, parameters.get("weight", attrs.get("weight")))
        elif "parametrizations" not in module._modules:  # parametrized: computed when it runs
            _check_weight(layer, None)
        _check_bias(layer, parameters.get("bias"))
        if layer.padding_mode != "zeros":
            _check_padding_run(layer, attrs.get("_reversed_padding_repeated_twice"))
        if validate:
            check(layer)
        return layer

    @classmethod
    def parse(cls, spec: str) -> Layer:
        """The layer of a module written as Python, ``"Conv2d(3, 64, kernel_size=7)"``, read as data.

        Only literal arguments (ints, strings, booleans, tuples and lists of them) are accepted,
        and nothing in the text is evaluated.  ``nn.`` and ``torch.nn.`` prefixes are accepted;
        arguments bind as torch's constructor binds them (``ConvTranspose*d`` takes
        ``output_padding`` before ``groups``).  Raises :class:`ConvopsError` for anything else.

        Examples
        --------
        >>> Layer.parse("nn.ConvTranspose1d(4, 2, 3, 2, 1, 1)").output_padding
        (1,)
        >>> Layer.parse("Conv2d(3, 8, k)")
        Traceback (most recent call last):
        ...
        convops.errors.ConvopsError: argument 3 must be a literal (an int, string, True/False, or a tuple of ints), got 'k'
        """
        try:
            tree = ast.parse(spec.strip(), mode="eval")
        except SyntaxError as error:
            raise ConvopsError(f"cannot parse the module {elide(repr(spec))}: {error.msg}") from None
        call = tree.body
        path = _dotted(call.func) if isinstance(call, ast.Call) else None
        if path is None or path[-1] not in KINDS or path[:-1] not in _MODULE_PREFIXES:
            raise ConvopsError(f"the module must be a call of one of {', '.join(KINDS)} "
                               "(optionally nn.… or torch.nn.…) with literal arguments, got "
                               f"{elide(repr(spec))}")
        if any(isinstance(arg, ast.Starred) for arg in call.args) or any(
                keyword.arg is None for keyword in call.keywords):
            raise ConvopsError("argument unpacking (* or **) is not accepted: write the arguments out")
        kind = KINDS[path[-1]]
        args = [_literal(arg, f"argument {i + 1}") for i, arg in enumerate(call.args)]
        kwargs = {keyword.arg: _literal(keyword.value, keyword.arg) for keyword in call.keywords}
        try:
            bound = inspect.signature(kind.module).bind(*args, **kwargs)
        except TypeError as error:
            raise ConvopsError(f"{kind.name}: {elide(str(error))}") from None
        for name in _IGNORED:
            _check_factory(name, bound.arguments.get(name))
        return cls.create(kind, **{name: value for name, value in bound.arguments.items()
                                   if name not in _IGNORED})

    def to_module(self, **factory: Any) -> Any:
        """The torch module of this layer, built with ``factory`` (``device=``, ``dtype=``).

        Examples
        --------
        >>> Layer.create("ConvTranspose2d", 4, 2, 3, stride=2).to_module(device="meta")
        ConvTranspose2d(4, 2, kernel_size=(3, 3), stride=(2, 2))
        """
        kwargs = dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                      groups=self.groups, bias=self.bias, padding_mode=self.padding_mode)
        if self.kind.transposed:
            kwargs["output_padding"] = self.output_padding
        return self.kind.module(self.in_channels, self.out_channels, self.kernel_size, **kwargs,
                                **factory)

    def padding_per_side(self, size_in: Sequence[int]) -> tuple[tuple[int, int], ...]:
        """``(before, after)`` padding of each spatial dimension, as torch pads the input.

        (torch's options do not depend on ``size_in``; it is taken for the dimension count.)

        Examples
        --------
        >>> Layer.create("Conv1d", 1, 1, 4, padding="same").padding_per_side((10,))
        ((1, 2),)
        >>> Layer.create("Conv2d", 1, 1, 3, padding=(1, 0)).padding_per_side((8, 8))
        [(1, 1), (0, 0)]
        """
        if self.padding == "valid":
            return ((0, 0),) * len(size_in)
        if self.padding == "same":
            # torch pads d*(k-1) in all; an odd total puts the extra element after.
            totals = [d * (k - 1) for k, d in zip(self.kernel_size, self.dilation)]
            return tuple((t // 2, t - t // 2) for t in totals)
        return [(p, p) for p in self.padding]


_KIND_OF_TYPE = dict(KINDS)  # by class name; from_module checks the class is torch's
_MODULE_PREFIXES = ((), ("nn",), ("torch", "nn"))
_IGNORED = ("device", "dtype")  # torch constructor arguments that do not change the count


def _check_subclass(module: Any, kind: Kind) -> None:
    """Refuse what convops cannot count from a module's attributes: a lazy module not yet
    initialised, or a module that runs code of its own (see :func:`own_code`)."""
    cls = type(module)
    if getattr(module, "has_uninitialized_params", lambda: False)():
        raise ConvopsError(f"{cls.__name__} is lazy and not initialised yet: run it once, or "
                           "count the module it becomes")
    why = own_code(module)
    if why:
        raise ConvopsError(f"{cls.__qualname__} runs {why}, so its attributes need not be what "
                           f"runs: convops.count_ops counts what it runs, and convops.profile "
                           f"every convolution it runs")


#: torch's fused and quantized modules (``ConvReLU2d``, ``ConvBn2d``, quantized ``Conv2d``): they
#: run one convolution each, in a forward of their own
_FUSED = ("torch.ao.nn.intrinsic", "torch.ao.nn.quantized", "torch.ao.nn.qat")


def own_code(module: Any) -> str:
    """What ``module``'s call may run besides torch's convolution of its attributes, or ``""``:
    a ``forward`` or ``_conv_forward`` set on the instance or defined outside torch, a class
    other than torch's own six (a QAT, fused or quantized module, a parametrized one), a hook of any kind
    (the module's own forward hooks and pre-hooks, torch's included, or global ones), or a
    complex weight (torch runs three real convolutions).  Only where this is empty does
    :func:`convops.count_ops` count from the attributes; otherwise the module runs once on
    meta tensors and what ran is counted.

    Examples
    --------
    >>> import torch
    >>> conv = torch.nn.Conv1d(2, 4, 3)
    >>> own_code(conv)
    ''
    >>> handle = conv.register_forward_pre_hook(lambda module, args: None)
    >>> own_code(conv)
    'a forward pre-hook defined in convops.layer (<lambda>)'
    """
    cls = type(module)
    if cls.__name__ not in KINDS or cls.__module__ != "torch.nn.modules.conv":
        try:
            kind_of(cls)
        except ConvopsError:  # not a convolution module: Layer.from_module says so
            if not cls.__module__.startswith(_FUSED):
                return ""
    attributes = getattr(module, "__dict__", {})
    for name in ("forward", "_conv_forward"):
        if name in attributes:
            return f"{name} set on the instance"
        owner = next((base for base in type(module).__mro__ if name in vars(base)), None)
        if owner is not None and not _from_torch(owner):
            return f"{name} defined in {owner.__module__}.{owner.__qualname__}"
    for kind in ("pre-hook", "hook"):
        hooks = attributes.get(f"_forward_{kind.replace('-', '_')}s") or {}
        for hook in hooks.values():
            return (f"a forward {kind} defined in {getattr(hook, '__module__', '?')} "
                    f"({getattr(hook, '__qualname__', type(hook).__qualname__)})")
    if global_hooks():
        return "global forward hooks (torch.nn.modules.module.register_module_forward_hook)"
    if "parametrizations" in attributes.get("_modules", {}):
        return "parametrizations (torch.nn.utils.parametrize)"
    if cls.__name__ not in KINDS or cls.__module__ != "torch.nn.modules.conv":
        return f"the forward of {cls.__module__}.{cls.__qualname__}"
    weight = attributes.get("_parameters", {}).get("weight")
    if getattr(weight, "is_complex", lambda: False)():
        return "a complex weight (torch runs three real convolutions for it)"
    return ""


#: torch's dicts of global forward pre-hooks and hooks, once :func:`global_hooks` has looked them
#: up (empty until then): :func:`convops.count_ops` reads them without a call.
GLOBAL_HOOKS: list = []


def global_hooks() -> bool:
    """Whether a global forward hook or pre-hook is registered (each module's call runs it).

    Examples
    --------
    >>> import torch
    >>> handle = torch.nn.modules.module.register_module_forward_hook(lambda *args: None)
    >>> global_hooks(), handle.remove(), global_hooks()
    (True, None, False)
    """
    if not GLOBAL_HOOKS:  # torch's dicts, looked up once
        import torch.nn.modules.module as torch_module

        GLOBAL_HOOKS[:] = (torch_module._global_forward_pre_hooks,
                            torch_module._global_forward_hooks)
    return bool(GLOBAL_HOOKS[0] or GLOBAL_HOOKS[1])


def _from_torch(code: Any) -> bool:
    return (getattr(code, "__module__", None) or "").startswith("torch.")


def _check_weight(layer: Layer, weight: Any) -> None:
    """The weight must be a tensor of the shape the layer's attributes imply."""
    if weight is None or not hasattr(weight, "shape"):
        raise ConvopsError(f"{layer.kind.name}.weight is {_short(weight)}, not a tensor: torch "
                           "cannot run the convolution; give the module a weight")
    shape = tuple(weight.shape)
    groups = layer.groups if _is_int(layer.groups) and layer.groups > 0 else 1
    if layer.kind.transposed:
        expected = (layer.in_channels, layer.out_channels // groups, *layer.kernel_size)
    else:
        expected = (layer.out_channels, layer.in_channels // groups, *layer.kernel_size)
    if shape != expected:
        raise ConvopsError(f"{layer.kind.name}.weight has shape {shape}, but in_channels="
                           f"{layer.in_channels}, out_channels={layer.out_channels}, groups="
                           f"{layer.groups}, kernel_size={layer.kernel_size} imply {expected}: "
                           "set the attributes to match the weight, or count a fresh module")


def _check_bias(layer: Layer, bias: Any) -> None:
    """A bias must be a tensor of shape ``(C_out,)``, as torch checks it."""
    if bias is None:
        return
    shape = tuple(getattr(bias, "shape", ()))
    if not hasattr(bias, "shape") or shape != (layer.out_channels,):
        raise ConvopsError(f"{layer.kind.name}.bias is {_short(bias) if not shape else shape}: "
                           f"torch expects a bias of shape ({layer.out_channels},), one per output "
                           "channel; give it that shape, or bias=None")


def _short(value: Any) -> str:
    return elide(repr(value), 80)


def _check_padding_run(layer: Layer, padded: Any) -> None:
    """With ``padding_mode`` other than zeros torch pads by ``_reversed_padding_repeated_twice``,
    set from ``padding`` when the module is built: the two must still agree."""
    try:
        expected = [side for pair in reversed(layer.padding_per_side(layer.kernel_size))
                    for side in pair]
    except (TypeError, ValueError):  # a malformed padding, which check() refuses
        return
    if padded is not None and list(padded) != expected:
        raise ConvopsError(f"{layer.kind.name} with padding_mode={layer.padding_mode!r} pads by "
                           f"_reversed_padding_repeated_twice={list(padded)}, which padding="
                           f"{layer.padding!r} no longer matches (changed after the module was "
                           "built?): torch would run the stale padding; build the module anew")


def _check_factory(name: str, value: Any) -> None:
    """``dtype=`` must name a floating-point or complex torch dtype (``'float16'``,
    ``'torch.float64'``), ``device=`` a device torch knows (``'cpu'``, ``'cuda:0'``), as torch's
    constructor needs them."""
    if value is None:
        return
    import torch  # only for text that names one

    if name == "dtype":
        dtype = getattr(torch, value.removeprefix("torch."), None) if isinstance(value, str) else None
        if not isinstance(dtype, torch.dtype) or not (dtype.is_floating_point or dtype.is_complex):
            raise ConvopsError(f"dtype={elide(repr(value), 60)}: torch builds a convolution's "
                               "weight in a floating-point or complex dtype, named as torch names "
                               "it, e.g. 'float32' or 'torch.float16'")
        return
    try:
        torch.device(value)
    except (RuntimeError, TypeError) as error:
        raise ConvopsError(f"device={elide(repr(value), 60)}: torch refuses it "
                           f"({elide(str(error), 120)}); e.g. 'cpu' or 'cuda:0'") from None


def _dotted(node: ast.expr) -> tuple[str, ...] | None:
    if isinstance(node, ast.Name):
        return (node.id,)
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else (*head, node.attr)
    return None


def _literal(node: ast.expr, where: str) -> Any:
    """The value of a literal argument: an int, str, bool, or a tuple/list of those."""
    try:
        value = ast.literal_eval(node)
    except ValueError:
        value = None
    else:
        items = value if isinstance(value, (tuple, list)) else (value,)
        if all(isinstance(item, (int, str)) for item in items):  # bool is an int
            return value
    raise ConvopsError(f"{where} must be a literal (an int, string, True/False, or a tuple of "
                       f"ints), got {elide(repr(ast.unparse(node)))}")


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
    """Raise :class:`ConvopsError` for the first parameter of ``layer`` that torch would refuse.

    Examples
    --------
    >>> check(Layer.create("ConvTranspose1d", 2, 2, 3, stride=2)._replace(output_padding=(2,)))
    Traceback (most recent call last):
    ...
    convops.errors.ConvopsError: output_padding=(2,) must be smaller than stride=(2,) or dilation=(1,) in every dimension
    """
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


def check_input(layer: Layer, input_shape: Sequence[int]) -> tuple[int, tuple[int, ...]]:
    """``(batch, spatial sizes)`` of an input shape, batched or not; :class:`ConvopsError` if
    torch would refuse it.

    Examples
    --------
    >>> layer = Layer.create("Conv2d", 3, 8, 3)
    >>> check_input(layer, (3, 32, 30))
    (1, [32, 30])
    >>> check_input(layer, (1, 4, 32, 30))
    Traceback (most recent call last):
    ...
    convops.errors.ConvopsError: input_shape=(1, 4, 32, 30) has 4 channels; in_channels=3
    """
    n = layer.kind.ndim
    if isinstance(input_shape, str):
        raise ConvopsError(f"input_shape={elide(repr(input_shape))} is a string: give a tuple of "
                           f"ints, (N, C_in, *spatial) or (C_in, *spatial)")
    shape = sizes(input_shape)
    if not isinstance(shape, tuple):
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
        read = (f" (read as unbatched, (C_in, *spatial): {layer.kind.name} takes {n + 2} ints "
                f"(N, C_in, *spatial) or {n + 1} (C_in, *spatial))" if rank == n + 1 else "")
        raise ConvopsError(f"input_shape={input_shape!r} has {channels} channel{'' if channels == 1 else 's'}; "
                           f"in_channels={layer.in_channels}{read}")
    if min(size_in) < 1:
        raise ConvopsError(f"input_shape={input_shape!r}: spatial sizes must be positive")
    return batch, size_in


def integer(value: Any) -> Any:
    """``value`` as an ``int`` where it is an integer of another type (a numpy integer, a 0-d
    integer tensor); anything else (a bool, a float, a string) unchanged, for the checks to
    refuse.

    Examples
    --------
    >>> import numpy, torch
    >>> integer(numpy.int64(3)), integer(torch.tensor(4)), integer(True), integer(2.0)
    (3, 4, True, 2.0)
    """
    if type(value) is int or isinstance(value, (bool, float, str)):
        return value
    if "bool" in str(getattr(value, "dtype", "")):
        return value
    try:
        return operator.index(value)
    except (TypeError, RuntimeError, ValueError):
        return value


def sizes(shape: Any) -> Any:
    """A shape's sizes as a tuple, each integer as an ``int`` (see :func:`integer`); anything
    but a sequence unchanged.

    Examples
    --------
    >>> import numpy
    >>> sizes([numpy.int32(1), 3, 8])
    (1, 3, 8)
    """
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        return shape
    try:
        return tuple(integer(v) for v in shape)
    except TypeError:
        return shape


def smallest_input(layer: Layer) -> tuple[int, ...]:
    """The smallest input size torch accepts in each dimension: 1, or more where ``reflect``
    padding must stay inside the input (and ``circular`` may reach just to its end).

    Examples
    --------
    >>> smallest_input(Layer.create("Conv1d", 1, 1, 3, padding=2, padding_mode="reflect"))
    (3,)
    """
    pads = (max(pair) for pair in layer.padding_per_side(layer.kernel_size))
    if layer.padding_mode == "reflect":
        return tuple(pad + 1 for pad in pads)
    if layer.padding_mode == "circular":
        return tuple(max(pad, 1) for pad in pads)
    return (1,) * layer.kind.ndim


def check_padding_mode(layer: Layer, size_in: Sequence[int]) -> None:
    """torch's limits on how far ``reflect`` and ``circular`` padding may reach into the input.

    Examples
    --------
    >>> check_padding_mode(Layer.create("Conv1d", 1, 1, 3, padding=2, padding_mode="reflect"), (2,))
    Traceback (most recent call last):
    ...
    convops.errors.ConvopsError: padding (2, 2) with padding_mode='reflect' must be smaller than the input size 2 of its dimension
    """
    mode = layer.padding_mode
    pads = layer.padding_per_side(size_in)
    for size, least, pair in zip(size_in, smallest_input(layer), pads):
        if size < least:
            limit = "smaller than" if mode == "reflect" else "at most"
            raise ConvopsError(f"padding {pair} with padding_mode={mode!r} must be {limit} "
                             f"the input size {size} of its dimension")


def check_output(layer: Layer, input_shape: Sequence[int], size_out: Sequence[int]) -> None:
    """Every output size at least 1, as torch requires.

    Examples
    --------
    >>> check_output(Layer.create("Conv1d", 1, 1, 5), (1, 1, 3), (-1,))
    Traceback (most recent call last):
    ...
    convops.errors.ConvopsError: Conv1d with kernel_size=(5,), stride=(1,), padding=(0,), dilation=(1,) gives output size (-1,) for input_shape=(1, 1, 3); every output size must be at least 1
    """
    if min(size_out) < 1:
        raise ConvopsError(f"{layer.kind.name} with kernel_size={layer.kernel_size}, stride={layer.stride}, "
                         f"padding={layer.padding}, dilation={layer.dilation}"
                         + (f", output_padding={layer.output_padding}" if layer.kind.transposed else "")
                         + f" gives output size {tuple(size_out)} for input_shape={tuple(input_shape)}; "
                         "every output size must be at least 1")
