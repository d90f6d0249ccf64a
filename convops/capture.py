"""What a model runs: every aten operation, with the module that ran it.

:func:`run` calls a model once under a :class:`Capture`, a
:class:`~torch.utils._python_dispatch.TorchDispatchMode` that sees every aten operation the
forward (and, if asked, the backward) executes, the way ``FlopCounterMode`` does.  Each operation
is attributed to the innermost module running when it happened: the capture keeps a stack of
module objects, pushed and popped by global forward hooks registered for the run only (the
post-hook with ``always_call=True``, so a failing forward still pops, and names the module that
failed).  The same hooks count each module's calls and note its first output's shape.

Which operations are convolutions is the registry's to say (:mod:`convops.registry`): the
capture decomposes torch's composite operators (``aten.conv2d`` reaches it whole in inference
mode) into what they stand for, as ``FlopCounterMode`` does, and refuses by name a convolution
operator convops does not count.

The numeric, symbolic and backward profiles (:mod:`convops.profiling`,
:mod:`convops.symbolic`) and :func:`convops.count_ops` for a module that runs code of its
own all run models through here.  By default the model runs on ``meta`` tensors (shapes only, no
data); :func:`stand_in_on` runs it for real on a device.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import torch
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
from torch.utils._python_dispatch import TorchDispatchMode

from .caches import BoundedCache
from .derivation import KINDS
from .errors import ConvopsError, elide
from .inputs import (check_inputs, default_dtype, first_shape, is_shape, map_inputs, meta_input,
                     on_meta, shape_text, tensors)
from .layer import Layer, sizes
from . import registry

CONV_TYPES = tuple(kind.module for kind in KINDS.values())
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
MODES = ("eval", "train")


class Call(NamedTuple):
    """One aten operation: the innermost module running it (``None`` outside every module, as
    in the backward pass), its arguments and its result.

    Examples
    --------
    >>> model = torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3), torch.nn.ReLU())
    >>> trace = run(model, ((1, 2, 10),), {}, meta_input(torch.float32))
    >>> call = trace.calls[0]
    >>> str(call.func), trace.names[call.module], tuple(call.out.shape)
    ('aten.convolution.default', '0', (1, 4, 8))
    """

    func: Any
    module: torch.nn.Module | None
    args: tuple
    kwargs: dict | None
    out: Any


@dataclass
class ModuleRecord:
    """What one module of the model did in the forward: its calls and its first output's shape.

    Examples
    --------
    >>> model = torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3), torch.nn.ReLU())
    >>> trace = run(model, ((1, 2, 10),), {}, meta_input(torch.float32))
    >>> trace.modules["0"]
    ModuleRecord(path='0', kind='Conv1d', calls=1, output_shape=(1, 4, 8))
    """

    path: str
    kind: str
    calls: int = 0
    output_shape: tuple | None = None


@dataclass
class Trace:
    """A run: every call (the backward's after a ``None``, with ``backward``), each module's
    path, and the records of the modules that were called, in order of first call.

    Examples
    --------
    >>> model = torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3), torch.nn.ReLU())
    >>> trace = run(model, ((1, 2, 10),), {}, meta_input(torch.float32))
    >>> [str(call.func) for call in trace.calls], list(trace.modules)
    (['aten.convolution.default', 'aten.relu.default'], ['(model)', '0', '1'])

    See Also
    --------
    run : what makes one.
    """

    calls: list
    names: dict[torch.nn.Module, str]
    modules: dict[str, ModuleRecord] = field(default_factory=dict)


class Capture(TorchDispatchMode):
    """Records every aten operation with the innermost module that was running it.

    Batch norm in eval mode returns a tensor shaped like its input: on tensors without data the
    input stands for it, since torch's meta version recomputes it in Python, op by op (about
    half of a meta forward of a ResNet, and most of a symbolic one).  Every convolution on meta
    tensors is first checked as torch checks it on the CPU (:func:`check_convolution`), since
    meta kernels accept some arguments torch refuses.

    Examples
    --------
    >>> x, w = torch.empty(1, 2, 10, device="meta"), torch.empty(4, 2, 3, device="meta")
    >>> with Capture() as capture:
    ...     out = torch.nn.functional.conv1d(x, w)
    >>> [(str(call.func), call.module, tuple(call.out.shape)) for call in capture.calls]
    [('aten.convolution.default', None, (1, 4, 8))]

    See Also
    --------
    run : a model run under a capture, its calls attributed to modules.
    """

    def __init__(self, shortcuts: bool = True, real: bool = False):
        super().__init__()
        self.real = real  # a run on real tensors: no limits of meta tensors to explain
        self.calls: list = []
        self.stack: list[torch.nn.Module] = []
        self.names: dict[torch.nn.Module, str] = {}
        self.records: dict[torch.nn.Module, list] = {}  # module: [calls, first output]
        self.failed_in: torch.nn.Module | None = None
        self.shortcuts = shortcuts and not real  # off where autograd differentiates what runs
        self.in_backward = False
        self.refused: ConvopsError | None = None  # a convolution refused by check_convolution

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # Nothing is compiled here: no need for torch to wrap every call in a Dynamo-disabling
        # layer (which costs a few percent of the forward, and importing Dynamo on first use).
        return False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        module = self.stack[-1] if self.stack else None
        action = _ACTIONS.get(func)
        if action is None:
            action = _action(func)
        if action:
            if action == "composite":  # as autograd does outside inference mode
                with self:
                    out = func.decompose(*args, **(kwargs or {}))
                if out is not NotImplemented:
                    return out
                if "conv" in func._schema.name:  # it would run uncounted
                    self.refused = registry.refusal(func, self.where(module))
                    raise self.refused
            elif action == "refused":
                self.refused = registry.refusal(func, self.where(module))
                raise self.refused
            elif action == "convolution" and type(args[0]) is torch.Tensor and args[0].is_meta:
                try:
                    check_convolution(registry.arguments(func, args, kwargs), self.where(module))
                except ConvopsError as error:  # kept: TorchScript would re-raise it without its text
                    self.refused = error
                    raise
        if (func is _BATCH_NORM and self.shortcuts and not kwargs and not args[5]
                and args[3] is not None):
            x, stats = args[0], args[3]  # input, weight, bias, running_mean, running_var, …
            out = (x, stats, stats)
        else:
            out = func(*args, **kwargs) if kwargs else func(*args)
        if func not in _QUERIES:
            self.calls.append(Call(func, module, args, kwargs, out))
        return out

    def where(self, module: torch.nn.Module | None) -> str:
        """A module's path and kind, e.g. ``layer1.0.conv1 (Conv2d)``.

        Examples
        --------
        >>> capture, conv = Capture(), torch.nn.Conv1d(1, 1, 1)
        >>> capture.names[conv] = "features.0"
        >>> capture.where(conv), capture.where(None)
        ('features.0 (Conv1d)', '(outside every module)')
        """
        if module is None:
            return "(outside every module)"
        path = self.names.get(module) or f"<{type(module).__name__} outside the model>"
        return f"{path} ({type(module).__name__})"

    # -- the hooks: a stack of module objects ----------------------------------------------------
    def enter(self, module, args) -> None:
        """The global forward pre-hook: ``module`` runs now, inside the modules on the stack.

        Examples
        --------
        >>> capture, conv = Capture(), torch.nn.Conv1d(1, 1, 1)
        >>> capture.enter(conv, ()); capture.stack == [conv], capture.records[conv]
        (True, [1, None])

        See Also
        --------
        leave : its pair.
        """
        self.stack.append(module)
        record = self.records.get(module)
        if record is None:
            self.records[module] = [0, None]
        if not self.in_backward:  # a checkpointed forward run again in backward: one call
            self.records[module][0] += 1

    def leave(self, module, args, output) -> None:
        """The global forward hook (``always_call=True``): ``module`` has returned ``output``,
        or failed (the innermost module that failed is kept in :attr:`failed_in`).

        Examples
        --------
        >>> capture, conv = Capture(), torch.nn.Conv1d(1, 1, 1)
        >>> capture.enter(conv, ()); capture.leave(conv, (), torch.empty(1, 1, 5))
        >>> capture.stack, capture.records[conv]
        ([], [1, (1, 1, 5)])

        See Also
        --------
        enter : its pair.
        """
        if self.failed_in is None and sys.exc_info()[1] is not None:  # unwinding: innermost first
            self.failed_in = module
        if self.stack and self.stack[-1] is module:
            self.stack.pop()
        record = self.records[module]
        if record[1] is None:
            record[1] = first_shape(output) or ()

    def trace(self, names: dict[torch.nn.Module, str]) -> Trace:
        """The :class:`Trace` of what was captured, the modules named by ``names``.

        Examples
        --------
        >>> capture, conv = Capture(), torch.nn.Conv1d(1, 1, 1)
        >>> capture.enter(conv, ()); capture.leave(conv, (), torch.empty(1, 1, 5))
        >>> capture.trace({conv: "conv"}).modules
        {'conv': ModuleRecord(path='conv', kind='Conv1d', calls=1, output_shape=(1, 1, 5))}
        """
        modules = {}
        for module, (calls, shape) in self.records.items():
            path = names.get(module)
            if path is not None and calls:
                modules[path] = ModuleRecord(path, type(module).__name__, calls, shape or None)
        return Trace(self.calls, names, modules)


_ACTIONS: dict = {}


def runs_convolution(module) -> bool:
    """Whether ``module`` is a convolution module: one of torch's six (or a subclass: QAT and
    fused ones), or a quantized one (``torch.ao.nn.quantized``, ``torch.ao.nn.intrinsic``).

    Examples
    --------
    >>> runs_convolution(torch.nn.Conv1d(1, 1, 1)), runs_convolution(torch.nn.ReLU())
    (True, False)
    """
    cls = type(module)
    return isinstance(module, CONV_TYPES) or (
        cls.__module__.startswith(("torch.ao.nn.quantized", "torch.ao.nn.intrinsic"))
        and "Conv" in cls.__name__)


def _action(func) -> str:
    """What :class:`Capture` does before running ``func``: ``"composite"`` (decompose it),
    ``"refused"`` (a convolution convops does not count), ``"convolution"`` (an
    ``aten.convolution``-like call, checked on meta tensors), or ``""``."""
    role = "" if func in _QUERIES else registry.role(func)
    if role == "forward":
        role = "convolution" if registry.FORWARD[func] is registry.convolution else ""
    elif role == "backward":
        role = ""
    return _ACTIONS.setdefault(func, role)


_CHECKED: BoundedCache = BoundedCache()


def check_convolution(args: tuple, where: str) -> None:
    """Refuse an ``aten.convolution`` on meta tensors that torch refuses on the CPU, in torch's
    words: the same call on an empty batch and zero-stride tensors (no data, no arithmetic).

    Examples
    --------
    >>> x, w = torch.empty(1, 4, 9, device="meta"), torch.empty(8, 4, 3, device="meta")
    >>> check_convolution((x, w, torch.empty(7, device="meta"), [1], [0], [1], False, [0], 1), "c")
    Traceback (most recent call last):
    ...
    convops.errors.ConvopsError: c: torch refuses this convolution (input (1, 4, 9), weight (8, 4, 3), bias (7,)): Given weight of size [8, 4, 3], expected bias to be 1-dimensional with 8 elements, but got bias of size [7] instead
    """
    x, weight, bias, *rest = args[:9]
    tensors = (x, weight, bias)
    key = (*((None,) if t is None else (tuple(t.shape), t.dtype) for t in tensors),
           *(tuple(r) if isinstance(r, list) else r for r in rest))
    if key in _CHECKED.entries:
        return
    empty = [None if t is None else torch.empty_strided(
        (0, *t.shape[1:]) if t is x else tuple(t.shape), (0,) * t.dim(), dtype=t.dtype)
        for t in tensors]
    try:
        torch.ops.aten.convolution.default(*empty, *rest)
    except Exception as error:
        shapes = ", ".join(f"{name} {shape_text(t.shape)}" for name, t in zip(
            ("input", "weight", "bias"), tensors) if t is not None)
        # torch names the input it saw: the empty batch stands for the model's
        reason = _first_line(error).replace("input[0, ", f"input[{x.shape[0]}, ")
        raise ConvopsError(f"{where}: torch refuses this convolution ({shapes}): "
                           f"{reason}") from error
    _CHECKED.remember(key, True)


# -- running ---------------------------------------------------------------------------------------
def run(model: torch.nn.Module, args: tuple, kwargs: dict,
        make_input: Callable[[Any], torch.Tensor],
        stand_in: Callable[[torch.Tensor], torch.Tensor] | None = None,
        capture: Capture | None = None, backward: bool = False,
        mode: str | None = "eval") -> Trace:
    """Run ``model`` once under ``capture`` (a :class:`Capture`) and return its :class:`Trace`.
    With ``backward``, autograd records the forward and the backward pass runs under ``capture``
    too, from a gradient for every output that requires one: its calls follow the forward's,
    after a ``None`` that separates them.

    ``make_input(shape_or_tensor)`` makes each input tensor.  The model runs in ``mode``
    (``"eval"``, ``"train"``, or ``None``: as it is) with each parameter and buffer replaced by
    ``stand_in(tensor)`` (default: a meta tensor of the same shape and dtype, or the tensor itself
    if it is on meta already), a tensor shared by several modules by one stand-in.  Its modes,
    tensors and the tensor attributes hooks set (``weight_norm``'s ``weight``) are restored after.
    Any failure of the forward is a :class:`ConvopsError` naming the module it happened in.

    Examples
    --------
    >>> model = torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3), torch.nn.ReLU())
    >>> trace = run(model, ((1, 2, 10),), {}, lambda s: torch.empty(s, device="meta"))
    >>> [(str(call.func), trace.names[call.module]) for call in trace.calls]
    [('aten.convolution.default', '0'), ('aten.relu.default', '1')]
    >>> trace.modules["0"]
    ModuleRecord(path='0', kind='Conv1d', calls=1, output_shape=(1, 4, 8))
    >>> model.training
    True
    """
    if not isinstance(model, torch.nn.Module):
        raise ConvopsError(f"the model must be a torch.nn.Module, got {type(model).__name__} "
                           f"{elide(repr(model))}")
    if mode not in (*MODES, None):
        raise ConvopsError(f"mode={elide(repr(mode))}: give 'eval' or 'train'")
    names = {module: name or "(model)" for name, module in model.named_modules()}
    _check_weights(names)
    capture = capture or Capture()
    capture.names = names
    args, kwargs = map_inputs((args, kwargs), make_input)
    training = {module: module.training for module in names}
    attributes = {(module, key): value for module in names
                  for key, value in vars(module).items() if isinstance(value, torch.Tensor)}
    swapped: list = []
    hooks = []
    try:
        if mode is not None:
            for module in names:
                module.training = mode == "train"
        _swap_tensors(names, stand_in or on_meta, swapped)
        hooks = [register_module_forward_pre_hook(capture.enter),
                 register_module_forward_hook(capture.leave, always_call=True)]
        with torch.set_grad_enabled(backward), _eager(), capture:
            out = model(*args, **kwargs)
            if backward:
                capture.calls.append(None)
                capture.in_backward = True
                outputs = [t for t in tensors(out) if t.requires_grad]
                if outputs:
                    torch.autograd.backward(outputs, [torch.ones_like(t) for t in outputs])
    except ConvopsError:
        raise
    except Exception as error:
        raise (capture.refused or refusal(error, model, capture)) from error
    finally:
        for hook in hooks:
            hook.remove()
        for restore in reversed(swapped):
            restore()
        for (module, key), value in attributes.items():
            module.__dict__[key] = value
        for module, flag in training.items():
            module.training = flag
    return capture.trace(names)


def _eager() -> contextlib.ExitStack:
    """Where torch.compile has been used, compiled modules and functions run eagerly: Dynamo would
    otherwise compile the capture's own code (and fail, or hit its recompile limit) and hide from
    it what compiled kernels compute.  The arithmetic is the same."""
    stack = contextlib.ExitStack()
    if "torch._dynamo" in sys.modules:
        stack.enter_context(torch.compiler.set_stance("force_eager"))
        stack.enter_context(warnings.catch_warnings())
        # torch's warning that global hooks also see the compiled wrapper: the report shows it
        warnings.filterwarnings("ignore", r"Using `torch\.compile\(module\)` when there are global",
                                UserWarning)
    return stack


def _check_weights(names: dict[torch.nn.Module, str]) -> None:
    """Refuse a convolution module without a weight to run: lazy and not initialised yet, or
    ``None``.  (Shapes are torch's to check, when it runs: :func:`check_convolution`.)"""
    for module, name in names.items():
        parameters = module._parameters
        if "weight" not in parameters or not isinstance(module, CONV_TYPES):
            continue
        weight, where = parameters["weight"], f"{name} ({type(module).__name__})"
        if torch.nn.parameter.is_lazy(weight):
            raise ConvopsError(f"{where} is lazy and not initialised yet: run the model once on "
                               "a real input, then profile it")
        if weight is None:
            raise ConvopsError(f"{where}.weight is None, not a tensor: torch cannot run the "
                               "convolution; give the module a weight")


#: What to say when a model needs what meta tensors do not have.
META_LIMITS = ("profile runs the model on meta tensors, which carry shapes but no values, so "
               ".item(), control flow on a tensor's value, nonzero or a boolean mask, and "
               "operations without a meta kernel cannot run there: profile(..., device='cpu') "
               "runs the model for real on the inputs given")
_META_LIMIT = ("meta tensors", "data-dependent", "register_meta", "'Meta' backend",
               "meta backend", "DataDependentOutput")


#: torch's words for tensors of different dtypes meeting in one operation
_DTYPE_CLASH = ("should be the same", "expected scalar type", "must have the same dtype",
                "dtype mismatch")


def refusal(error: Exception, model: torch.nn.Module, capture: Capture) -> ConvopsError:
    """The :class:`ConvopsError` for a forward that failed: where, why, and what to do.

    Examples
    --------
    >>> model = torch.nn.BatchNorm1d(3)
    >>> error = ValueError("Expected more than 1 value per channel when training, got input size")
    >>> print(refusal(error, model, Capture()))
    BatchNorm1d failed in <BatchNorm1d outside the model> (BatchNorm1d): ValueError: Expected more than 1 value per channel when training, got input size. In train mode batch norm needs more than one value per channel: batch ≥ 2, or mode='eval'
    """
    where = capture.where(capture.failed_in or (capture.stack[-1] if capture.stack else model))
    reason = f"{type(error).__name__}: {_first_line(error)}"
    text = f"{type(model).__name__} failed in {where}: {reason}"
    if "more than 1 value per channel when training" in str(error):
        return ConvopsError(f"{text}. In train mode batch norm needs more than one value per "
                            "channel: batch ≥ 2, or mode='eval'")
    if any(mark in str(error) for mark in _DTYPE_CLASH):
        return ConvopsError(f"{text}. An input given as a shape is a tensor of the model's first "
                            f"floating-point or complex parameter's dtype "
                            f"({str(default_dtype(model))[6:]}): pass a tensor of the dtype this "
                            "module takes, or give the model's parameters one dtype")
    if not capture.real and (isinstance(error, NotImplementedError)
                    or any(mark in f"{type(error).__name__} {error}" for mark in _META_LIMIT)):
        return ConvopsError(f"{text}. {META_LIMITS}")
    return ConvopsError(text)


def _first_line(error: BaseException) -> str:
    """The first line of torch's message (the rest is advice on torch's internals, or the C++
    stack torch appends to some)."""
    lines = str(error).strip().splitlines()
    return elide(lines[0].rstrip(".") if lines else type(error).__name__, 600)


def _swap_tensors(modules, stand_in, swapped: list) -> None:
    """Give each module its parameters and buffers as stand-ins; append to ``swapped`` a function
    that puts the originals back.  (As ``torch.func.functional_call`` does, for a fraction of
    its cost.)"""
    memo: dict[int, torch.Tensor] = {}

    def stand_ins(tensors) -> dict:
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
        if isinstance(module, torch.jit.ScriptModule):
            # a scripted module's forward reads its tensors from TorchScript's own slots, which
            # its _parameters and _buffers only wrap: the stand-ins go there, one by one
            for tensors in (parameters, buffers):
                originals = dict(tensors.items())
                swapped.append(functools.partial(_put, tensors, originals))  # first: _put may fail
                _put(tensors, stand_ins(originals))
            continue
        new_parameters, new_buffers = stand_ins(parameters), stand_ins(buffers)
        if any(new is not old for new, old in zip((*new_parameters.values(), *new_buffers.values()),
                                                  (*parameters.values(), *buffers.values()))):
            swapped.append(functools.partial(module.__dict__.update, _parameters=parameters,
                                             _buffers=buffers))
            module.__dict__["_parameters"], module.__dict__["_buffers"] = new_parameters, new_buffers


def _put(tensors, items: dict) -> None:
    for key, tensor in items.items():
        tensors[key] = tensor


def convolution_run(module: torch.nn.Module, input_shape, why: str) -> tuple[Layer, tuple]:
    """The :class:`Layer` and input shape of the one convolution ``module`` runs on an input of
    ``input_shape``, run once on meta tensors (``why``: the code of its own it runs).

    Examples
    --------
    >>> conv = torch.nn.Conv1d(2, 4, 3)
    >>> handle = conv.register_forward_pre_hook(
    ...     lambda module, args: torch.nn.functional.pad(args[0], (1, 1)))
    >>> layer, shape = convolution_run(conv, (1, 2, 10), "a pre-hook")
    >>> layer.kind.name, shape
    ('Conv1d', (1, 2, 12))
    """
    input_shape = sizes(input_shape)
    if not is_shape(input_shape) or any(isinstance(v, str) for v in input_shape):
        raise ConvopsError(f"input_shape={elide(repr(input_shape))} must be a tuple of ints")
    check_inputs((input_shape,), {})
    trace = run(module, (tuple(input_shape),), {}, meta_input(default_dtype(module)), mode=None)
    convolutions = [call for call in trace.calls if registry.role(call.func) == "forward"]
    if len(convolutions) != 1:
        raise ConvopsError(
            f"{type(module).__qualname__} runs {why}, and on input {shape_text(input_shape)} it ran "
            f"{len(convolutions)} convolutions, not one: convops.profile(module, "
            f"{shape_text(input_shape)}) counts every convolution it runs")
    call = convolutions[0]
    convolution = registry.forward(call.func, call.args, call.kwargs, call.out)
    return convolution.layer, convolution.input_shape
