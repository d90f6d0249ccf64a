"""Every convolution a whole model runs, counted on the input it actually receives.

:func:`profile` runs the model once on ``meta`` tensors (shapes only: no arithmetic, no memory
for data) under a :class:`~torch.utils._python_dispatch.TorchDispatchMode` that sees every aten
operation the forward executes, the way ``FlopCounterMode`` does.  Each ``aten.convolution`` is
read back into a :class:`~convops.layer.Layer` (kernel and channels from the weight's shape;
stride, padding, dilation, groups as torch resolved them) and counted by convops, whatever called
it: a torch module, a subclass with its own ``forward``, or a functional call; padding applied by
a separate op is simply part of the convolution's input.  Every call is attributed to the
innermost module running when it happened (its path in ``named_modules``).  Operations convops
does not count are listed as *not counted*, so nothing the model runs disappears from the table.

A string in a shape is a symbolic size: ``profile(model, (1, 3, "H", "W"))`` traces once with
symbolic sizes (:mod:`convops.symbolic_profile`) and returns the counts as formulas.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from .count import BackwardBreakdown, Breakdown, breakdown
from .derivation import KINDS
from .errors import ConvopsError
from .layer import Layer
from .report import ModuleRecord, Report, exact as _number

_CONV_TYPES = tuple(kind.module for kind in KINDS.values())
_KINDS = {(kind.ndim, kind.transposed): kind for kind in KINDS.values()}
_CONV_OPS = {torch.ops.aten.convolution.default, torch.ops.aten._convolution.default}
_CALL_IMPL = torch.nn.Module._call_impl.__code__  # every module call runs through this frame
_NOT_CONV = "not a convolution: not counted"
_NOT_CALLED = "ran no operation: not called by forward, or nothing to compute"


@dataclass(frozen=True)
class LayerProfile:
    """One call: a convolution with its ``breakdown``, or an operation convops does not count
    (``breakdown`` is ``None`` and ``note`` says which operation and why)."""

    name: str
    kind: str
    input_shape: tuple | None
    output_shape: tuple | None
    breakdown: Breakdown | None
    note: str = ""
    op: str = ""  #: the aten operation, e.g. ``aten.convolution``; empty for a module that ran none
    #: the backward pass of this convolution call (``profile(..., backward=True)``), with the
    #: gradients autograd computed for it; ``None`` otherwise
    backward: BackwardBreakdown | None = None

    @property
    def counted(self) -> bool:
        """Whether convops counted this call (a convolution it accepts)."""
        return self.breakdown is not None

    @property
    def multiplications(self) -> int | None:
        """The call's multiplications (``None`` where not counted)."""
        return None if self.breakdown is None else self.breakdown.multiplications

    @property
    def additions(self) -> int | None:
        """The call's additions (``None`` where not counted)."""
        return None if self.breakdown is None else self.breakdown.additions

    @property
    def total(self) -> int | None:
        """The call's operations (``None`` where not counted)."""
        return None if self.breakdown is None else self.breakdown.total

    @property
    def backward_total(self) -> int | None:
        """Operations of the gradients autograd computed for this call (``backward=True``)."""
        return None if self.backward is None else self.backward.total


_COLUMNS = ("name", "kind", "input_shape", "output_shape", "multiplications", "additions", "total")


@dataclass(frozen=True, repr=False)  # repr: Report's one line
class Profile(Report):
    """The call-by-call counts of a model on its inputs.

    ``input_shape`` is the shape of the model's first input tensor, ``inputs`` all of its inputs
    as given (shapes in place of tensors); ``modules`` every module that ran, by path, in the
    order of their first calls; ``mode`` the mode the model ran in, ``device`` where (``None``:
    on meta tensors).
    """

    model: torch.nn.Module
    input_shape: tuple | None
    layers: tuple[LayerProfile, ...]
    inputs: str = ""
    modules: dict[str, ModuleRecord] = field(default_factory=dict, compare=False)
    mode: str = "eval"
    device: Any = None

    @property
    def counted(self) -> tuple[LayerProfile, ...]:
        """The convolution calls convops counted."""
        return tuple(layer for layer in self.layers if layer.counted)

    @property
    def not_counted(self) -> tuple[LayerProfile, ...]:
        """Every other operation, and the modules that ran none, with a note saying why."""
        return tuple(layer for layer in self.layers if not layer.counted)

    @property
    def multiplications(self) -> int:
        """Multiplications of every counted call."""
        return sum(layer.multiplications for layer in self.counted)

    @property
    def additions(self) -> int:
        """Additions of every counted call."""
        return sum(layer.additions for layer in self.counted)

    @property
    def total(self) -> int:
        """Operations of every counted call."""
        return sum(layer.total for layer in self.counted)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the convolutions (one per multiplication)."""
        return self.multiplications

    @property
    def backward(self) -> tuple[BackwardBreakdown, ...]:
        """The backward pass of each convolution call, when profiled with ``backward=True``."""
        return tuple(layer.backward for layer in self.layers if layer.backward is not None)

    @property
    def backward_multiplications(self) -> int:
        """Multiplications of every gradient the backward pass computes (0 without it)."""
        return sum(b.multiplications for b in self.backward)

    @property
    def backward_additions(self) -> int:
        """Additions of every gradient the backward pass computes (0 without it)."""
        return sum(b.additions for b in self.backward)

    @property
    def backward_total(self) -> int:
        """Operations of the backward pass of the convolutions (0 without it)."""
        return sum(b.total for b in self.backward)

    @property
    def flops(self) -> int:
        """FLOPs as FlopCounterMode reports convolutions: two per multiply-accumulate."""
        return 2 * self.multiplications

    def summary(self) -> str:
        """One sentence: the totals, the conventions of other counters, what was not counted."""
        counted, skipped = self.counted, self.not_counted
        kinds = sorted({layer.op or f"{layer.kind} (ran nothing)" for layer in skipped})
        return (f"{type(self.model).__name__} on input {self.inputs or self.input_shape}: {len(counted)} "
                f"convolution calls, total {_number(self.total)} = "
                f"{_number(self.multiplications)} multiplications + "
                f"{_number(self.additions)} additions; MACs {_number(self.macs)}, "
                f"FLOPs (2·MACs) {_number(self.flops)}"
                + (f"; backward pass {_number(self.backward_total)} = "
                   f"{_number(self.backward_multiplications)} multiplications + "
                   f"{_number(self.backward_additions)} additions" if self.backward else "")
                + (f"; not counted: {len(skipped)} calls of {', '.join(kinds)}" if skipped else ""))

# -- running the model ---------------------------------------------------------------------------
class _Capture(TorchDispatchMode):
    """Records every aten operation with the innermost module that was running it.

    Batch norm in eval mode returns a tensor shaped like its input: on tensors without data the
    input stands for it, since torch's meta version recomputes it in Python, op by op (about
    half of a meta forward of a ResNet, and most of a symbolic one).
    """

    def __init__(self, shortcuts: bool = True):
        super().__init__()
        self.calls: list[tuple] = []
        self.shortcuts = shortcuts  # off when autograd must differentiate what runs
        self.ran: dict[torch.nn.Module, list] = {}  # module -> [calls, first output's shape]

    def module_called(self, module, args) -> None:
        self.ran.setdefault(module, [0, None])[0] += 1

    def module_returned(self, module, args, output) -> None:
        record = self.ran[module]
        if record[1] is None:
            record[1] = _shape(output)

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # Nothing is compiled here: no need for torch to wrap every call in a Dynamo-disabling
        # layer (which costs a few percent of the forward, and importing Dynamo on first use).
        return False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if (func is _BATCH_NORM and self.shortcuts and not kwargs and not args[5]
                and args[3] is not None):
            x, stats = args[0], args[3]  # input, weight, bias, running_mean, running_var, …
            out = (x, stats, stats)
        else:
            out = func(*args, **kwargs) if kwargs else func(*args)
        if func not in _QUERIES:
            self.calls.append((func, _innermost_module(sys._getframe(1)), args, kwargs, out))
        return out


_BATCH_NORM = torch.ops.aten.native_batch_norm.default
#: Questions about a tensor's metadata, which fake tensors send through the mode: not operations.
_QUERIES = {torch.ops.prim.device.default, torch.ops.prim.layout.default,
            torch.ops.aten.size.default, torch.ops.aten.sym_size.default,
            torch.ops.aten.stride.default, torch.ops.aten.sym_stride.default,
            torch.ops.aten.storage_offset.default, torch.ops.aten.sym_storage_offset.default,
            torch.ops.aten.numel.default, torch.ops.aten.sym_numel.default,
            torch.ops.aten.dim.default, torch.ops.aten.is_contiguous.default,
            torch.ops.aten.is_contiguous.memory_format, torch.ops.aten.sym_is_contiguous.default,
            torch.ops.aten.is_strides_like_format.default,
            torch.ops.aten.is_non_overlapping_and_dense.default}


def _innermost_module(frame) -> torch.nn.Module | None:
    while frame is not None:
        if frame.f_code is _CALL_IMPL:
            return frame.f_locals["self"]
        frame = frame.f_back
    return None


def _is_shape(value) -> bool:
    """A tuple or list of ints and strings (symbolic sizes) stands for a tensor of that shape."""
    return (isinstance(value, (tuple, list)) and len(value) > 0
            and all(type(v) is int or isinstance(v, str) for v in value))


def _map_inputs(value, leaf):
    """``value`` with every shape and tensor replaced by ``leaf(it)``, containers kept."""
    if isinstance(value, torch.Tensor) or _is_shape(value):
        return leaf(value)
    if isinstance(value, (tuple, list)):
        items = [_map_inputs(v, leaf) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    if isinstance(value, dict):
        return type(value)((k, _map_inputs(v, leaf)) for k, v in value.items())
    return value


def _describe(args, kwargs) -> str:
    """The inputs as given, with a shape for each tensor."""
    shapes = _map_inputs((args, kwargs), lambda v: _Shape(tuple(v.shape if isinstance(
        v, torch.Tensor) else v)))
    args, kwargs = shapes
    return ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])


class _Shape(tuple):
    def __repr__(self) -> str:
        return "(" + ", ".join(map(str, self)) + ("," if len(self) == 1 else "") + ")"


def _first_shape(value) -> tuple | None:
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if _is_shape(value):
        return tuple(value)
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return next((s for s in map(_first_shape, value) if s is not None), None)
    return None


def _is_symbolic(value) -> bool:
    if _is_shape(value):
        return any(isinstance(v, str) for v in value)
    if isinstance(value, (tuple, list)):
        return any(map(_is_symbolic, value))
    if isinstance(value, dict):
        return any(map(_is_symbolic, value.values()))
    return False


def run(model: torch.nn.Module, args: tuple, kwargs: dict,
        make_input: Callable[[Any], torch.Tensor],
        stand_in: Callable[[torch.Tensor], torch.Tensor] | None = None,
        capture: _Capture | None = None,
        backward: bool = False) -> tuple[list, dict[torch.nn.Module, str]]:
    """Run ``model`` once under ``capture`` (a :class:`_Capture`); return the calls and the
    modules' names.  With ``backward``, autograd records the forward and the backward pass
    runs under ``capture`` too, from a gradient for every output that requires one: its calls
    follow the forward's, after a ``None`` that separates them.

    ``make_input(shape_or_tensor)`` makes each input tensor.  The model runs in eval mode with
    each parameter and buffer replaced by ``stand_in(tensor)`` (default: a meta tensor of the same
    shape and dtype, or the tensor itself if it is on meta already), a tensor shared by several
    modules by one stand-in; its modes and tensors are restored after.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3), torch.nn.ReLU())
    >>> calls, names = run(model, ((1, 2, 10),), {}, lambda s: torch.empty(s, device="meta"))
    >>> [(str(func), names[module]) for func, module, *_ in calls]
    [('aten.convolution.default', '0'), ('aten.relu.default', '1')]
    >>> model.training
    True
    """
    names = {module: name or "(model)" for name, module in model.named_modules()}
    args, kwargs = _map_inputs((args, kwargs), make_input)
    training = [module for module in names if module.training]
    for module in training:  # as for inference: batch norm accepts a single value per channel
        module.training = False
    capture, swapped = capture or _Capture(), []
    hooks = (torch.nn.modules.module.register_module_forward_pre_hook(capture.module_called),
             torch.nn.modules.module.register_module_forward_hook(capture.module_returned))
    try:
        _swap_tensors(names, stand_in or _on_meta, swapped)
        with torch.set_grad_enabled(backward), capture:
            out = model(*args, **kwargs)
            if backward:
                capture.calls.append(None)
                outputs = [t for t in _tensors(out) if t.requires_grad]
                if outputs:
                    torch.autograd.backward(outputs, [torch.empty_like(t) for t in outputs])
    finally:
        for hook in hooks:
            hook.remove()
        for module, parameters, buffers in swapped:
            module.__dict__["_parameters"], module.__dict__["_buffers"] = parameters, buffers
        for module in training:
            module.training = True
    return capture.calls, names


def _on_meta(tensor: torch.Tensor) -> torch.Tensor:
    return tensor if tensor.is_meta else torch.empty_like(tensor, device="meta")


def _on_meta_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """A meta stand-in that requires grad where ``tensor`` does (a frozen weight stays frozen)."""
    meta = torch.empty_like(tensor, device="meta")
    return meta.requires_grad_() if tensor.requires_grad else meta


def _tensors(value) -> list[torch.Tensor]:
    """Every tensor in ``value`` (nested in tuples, lists and dicts)."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in _tensors(item)]
    return []


def _swap_tensors(modules, stand_in, swapped: list) -> None:
    """Give each module dicts of parameters and buffers holding stand-ins; note the originals in
    ``swapped``.  (As ``torch.func.functional_call`` does, for a fraction of its cost.)"""
    memo: dict[int, torch.Tensor] = {}

    def stand_ins(tensors: dict) -> dict:
        replaced = {}
        for key, tensor in tensors.items():
            if tensor is not None:
                if id(tensor) not in memo:
                    memo[id(tensor)] = stand_in(tensor)
                tensor = memo[id(tensor)]
            replaced[key] = tensor
        return replaced

    for module in modules:
        parameters, buffers = module._parameters, module._buffers
        new_parameters, new_buffers = stand_ins(parameters), stand_ins(buffers)
        if any(new is not old for new, old in zip((*new_parameters.values(), *new_buffers.values()),
                                                  (*parameters.values(), *buffers.values()))):
            swapped.append((module, parameters, buffers))
            module.__dict__["_parameters"], module.__dict__["_buffers"] = new_parameters, new_buffers


def _shape(value) -> tuple | None:
    """The shape of the first tensor in ``value``."""
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if isinstance(value, (tuple, list)):
        for item in value:
            shape = _shape(item)
            if shape is not None:
                return shape
    return None


_OP_NAMES: dict = {}


def conv_layer(args: Sequence[Any]) -> Layer:
    """The :class:`Layer` an ``aten.convolution`` call computes (its first nine arguments).

    Examples
    --------
    >>> import torch
    >>> x, w = torch.empty(1, 4, 9, 9, device="meta"), torch.empty(8, 2, 3, 3, device="meta")
    >>> layer = conv_layer((x, w, None, [2, 2], [1, 1], [1, 1], False, [0, 0], 2))
    >>> layer.kind.name, layer.in_channels, layer.out_channels, layer.groups, layer.bias
    ('Conv2d', 4, 8, 2, False)
    """
    x, weight, bias, stride, padding, dilation, transposed, output_padding, groups = args[:9]
    shape = tuple(weight.shape)
    kind = _KINDS.get((len(shape) - 2, bool(transposed)))
    if kind is None:
        raise ConvopsError(f"a convolution with a {len(shape)}-d weight {shape}: convops counts "
                           "1-, 2- and 3-d convolutions")
    if transposed:
        in_channels, out_channels = shape[0], shape[1] * groups
    else:
        in_channels, out_channels = shape[1] * groups, shape[0]
        if any(output_padding):
            raise ConvopsError(f"output_padding={tuple(output_padding)} on a convolution that is "
                               "not transposed")
    return Layer(kind, in_channels, out_channels, shape[2:], tuple(stride), tuple(padding),
                 tuple(dilation), groups, bias is not None, "zeros", tuple(output_padding))


def _conv_args(func, args, kwargs) -> tuple:
    if not kwargs:
        return args
    rest = func._schema.arguments[len(args):]
    return (*args, *(kwargs.get(a.name, a.default_value) for a in rest))


def rows(calls: list, names: dict[torch.nn.Module, str],
         count: Callable[[Layer, tuple, tuple], Breakdown]) -> list[LayerProfile]:
    """One :class:`LayerProfile` per call of :func:`run`, then one per leaf or convolution module
    that ran nothing.  ``count(layer, input_shape, output_shape)`` returns a :class:`Breakdown`
    or raises :class:`ConvopsError`, and the call is then listed with the reason.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3), torch.nn.Linear(8, 1))
    >>> calls, names = run(model, ((1, 2, 10),), {}, lambda s: torch.empty(s, device="meta"))
    >>> [(row.name, row.total, row.op) for row in rows(calls, names, _count)][:2]
    [('0', 384, 'aten.convolution'), ('1', None, 'aten.view')]
    """
    result, active = [], set()
    for func, module, args, kwargs, out in calls:
        active.add(module)
        path = names.get(module) or f"<{type(module).__name__} outside the model>"
        op = _OP_NAMES.get(func) or _OP_NAMES.setdefault(func, str(func.overloadpacket))
        if func not in _CONV_OPS:
            result.append(LayerProfile(path, type(module).__name__, _shape(args), _shape(out), None,
                                       f"{op}: {_NOT_CONV}", op))
            continue
        args = _conv_args(func, args, kwargs)
        shape_in, shape_out = tuple(args[0].shape), tuple(out.shape)
        try:
            layer = conv_layer(args)
        except ConvopsError as error:
            result.append(LayerProfile(path, op, shape_in, shape_out, None, f"{op}: {error}", op))
            continue
        if not isinstance(module, _CONV_TYPES):  # a functional call, e.g. F.conv2d in a block
            transposed = "_transpose" if layer.kind.transposed else ""
            path = f"F.conv{transposed}{layer.kind.ndim}d in {path}"
        try:
            counts = count(layer, shape_in, shape_out)
        except ConvopsError as error:
            result.append(LayerProfile(path, layer.kind.name, shape_in, shape_out, None,
                                       f"{op}: {error}", op))
            continue
        result.append(LayerProfile(path, layer.kind.name, shape_in, shape_out, counts, "", op))
    idle = [LayerProfile(name, type(module).__name__, None, None, None, _NOT_CALLED)
            for module, name in names.items() if module not in active
            and (isinstance(module, _CONV_TYPES) or next(iter(module.children()), None) is None)]
    return result + idle


_COUNTS: dict[tuple, Breakdown] = {}


def _count(layer: Layer, shape_in: tuple, shape_out: tuple) -> Breakdown:
    """convops' breakdown of one call, its output shape checked against torch's."""
    key = (layer, shape_in)
    counts = _COUNTS.get(key)
    if counts is None:
        counts = breakdown(layer, shape_in)
        if len(_COUNTS) > 4096:
            _COUNTS.clear()
        _COUNTS[key] = counts
    if counts.output_shape != shape_out:  # the derivation and torch must agree on every call
        raise RuntimeError(f"{layer}: convops computes output shape {counts.output_shape} for "
                           f"input {shape_in}, torch gives {shape_out}")
    return counts


def _meta_input(dtype):
    def make(value):
        if isinstance(value, torch.Tensor):
            return value if value.is_meta else torch.empty_like(value, device="meta")
        return torch.empty(tuple(value), dtype=dtype, device="meta")
    return make


def _default_dtype(model) -> torch.dtype:
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)


def profile(model: torch.nn.Module, *inputs: Any, backward: bool = False,
            **kw_inputs: Any) -> Profile:
    """Count every convolution ``model`` runs on ``inputs``, call by call.

    Each input is a tensor (only its shape and dtype are used) or a shape, a tuple of ints (a
    tensor of the dtype of the model's first floating-point parameter); they may be nested in
    lists, tuples and dicts, positional or keyword, as the model's ``forward`` takes them.  A
    string in a shape is a symbolic size: the counts are then sympy formulas in those sizes
    (a :class:`~convops.symbolic_profile.SymbolicProfile`).

    The model runs once, in eval mode, on ``meta`` tensors: its parameters and buffers are
    replaced by meta tensors for that call only, unless they are on meta already, and its tensors
    and modes are restored after, so the model is neither copied nor changed and no data is
    allocated.

    ``backward=True`` also runs the backward pass from a gradient for every output and counts,
    for each convolution call, the gradients autograd computes (:attr:`LayerProfile.backward`,
    :attr:`Profile.backward_total`): no ``grad_input`` where the convolution's input needs no
    gradient (the first layer, fed by an input given as a shape or a tensor that does not require
    grad), no ``grad_weight`` or ``grad_bias`` where that parameter is frozen.  A padding mode
    other than zeros runs as a pad operation and an unpadded convolution: the pad and its
    backward are listed, not counted.  (A model's own keyword input named ``backward`` cannot be
    passed here.)

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
    """
    if backward:
        if _is_symbolic((inputs, kw_inputs)):
            raise ConvopsError("backward=True counts concrete shapes only: give every size as an "
                               "int (the symbolic profile counts the forward)")
        return _profile_backward(model, inputs, kw_inputs)
    if _is_symbolic((inputs, kw_inputs)):
        from .symbolic_profile import symbolic_profile

        return symbolic_profile(model, inputs, kw_inputs)
    capture = _Capture()
    calls, names = run(model, inputs, kw_inputs, _meta_input(_default_dtype(model)), None, capture)
    return Profile(model, _first_shape((inputs, kw_inputs)), tuple(rows(calls, names, _count)),
                   _describe(inputs, kw_inputs), module_records(capture, names))


def module_records(capture: _Capture, names: dict) -> dict[str, ModuleRecord]:
    """Every module that ran, by path (the model's is ``""``), in the order of first calls."""
    records = {}
    for module, (calls, shape) in capture.ran.items():
        if module in names:
            path = "" if names[module] == "(model)" else names[module]
            records[path] = ModuleRecord(path, type(module).__name__, calls, shape)
    return records


def _profile_backward(model: torch.nn.Module, inputs: tuple, kw_inputs: dict) -> Profile:
    """:func:`profile` with ``backward=True``: each forward convolution call gets the backward
    counts of the ``aten.convolution_backward`` call autograd ran for it."""
    make = _meta_input(_default_dtype(model))

    def make_input(value):  # an input requires grad only where the tensor given does
        tensor = make(value)
        wants = isinstance(value, torch.Tensor) and value.requires_grad
        return tensor.detach().requires_grad_() if wants else tensor.detach()

    capture = _Capture(shortcuts=False)
    calls, names = run(model, inputs, kw_inputs, make_input, _on_meta_with_grad, capture,
                       backward=True)
    split = calls.index(None)
    forward, backward = calls[:split], calls[split + 1:]
    layers = rows(forward, names, _count)
    pending: dict[tuple, list[int]] = {}  # forward convolution calls by (layer, input shape)
    conv_rows = [i for i, layer in enumerate(layers) if layer.op in _CONV_OP_NAMES]
    for i, (func, _, args, kwargs, _) in zip(conv_rows, (c for c in forward if c[0] in _CONV_OPS)):
        try:
            key = (conv_layer(_conv_args(func, args, kwargs)), tuple(args[0].shape))
        except ConvopsError:
            continue
        pending.setdefault(key, []).append(i)
    for func, _, args, kwargs, out in backward:
        if func is not _CONV_BACKWARD:  # listed like the forward's other operations
            op = str(func.overloadpacket)
            layers.append(LayerProfile("(backward)", op, _shape(args), _shape(out), None,
                                       f"{op}: {_NOT_CONV}", op))
            continue
        grad_output, x, weight, bias_sizes, *rest, output_mask = _conv_args(func, args, kwargs)
        # bias_sizes is [C_out] for a layer with bias, [0] or None without
        layer = conv_layer((x, weight, bias_sizes if bias_sizes and bias_sizes[0] else None, *rest))
        gradients = tuple(g for g, wanted in zip(("input", "weight", "bias"), output_mask)
                          if wanted)
        counts = breakdown(layer, tuple(x.shape), backward=True, gradients=gradients)
        matches = pending.get((layer, tuple(x.shape)))
        if not matches:  # autograd ran a convolution the forward did not: list it, uncounted
            layers.append(LayerProfile("(backward)", layer.kind.name, tuple(x.shape),
                                       tuple(grad_output.shape), None,
                                       "aten.convolution_backward without a forward call",
                                       "aten.convolution_backward"))
            continue
        i = matches.pop()  # autograd runs the calls in reverse
        layers[i] = dataclasses.replace(layers[i], backward=counts)
    return Profile(model, _first_shape((inputs, kw_inputs)), tuple(layers),
                   _describe(inputs, kw_inputs), module_records(capture, names), "eval")


_CONV_BACKWARD = torch.ops.aten.convolution_backward.default
_CONV_OP_NAMES = {str(op.overloadpacket) for op in _CONV_OPS}
