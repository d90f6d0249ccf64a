"""The report of a whole model's run: its convolution calls, counted, and everything else it ran.

:func:`convops.profile` (:mod:`convops.profiler`) runs the model under the capture
(:mod:`convops.capture`); :func:`rows` reads each convolution it ran (each operator of
:data:`convops.registry.FORWARD`: ``aten.convolution``, a quantized convolution, …) back into a
:class:`~convops.layer.Layer` (kernel and channels from the weight's shape; stride, padding,
dilation, groups as torch resolved them) and counts it, whatever called it: a torch module, a
subclass with its own ``forward``, or a functional call; padding applied by a separate op is
simply part of the convolution's input.  Every call is attributed to the innermost module running
when it happened (its path in ``named_modules``).  Operations convops does not count are listed as
*not counted*, so nothing the model runs disappears from the table; a convolution torch or convops
refuses is a :class:`ConvopsError`, never a partial total.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from . import registry
from .caches import BoundedCache
from .capture import ModuleRecord, runs_convolution
from .count import BackwardBreakdown, Breakdown, breakdown
from .errors import ConvopsError
from .inputs import first_shape
from .layer import Layer
from .report import Report
from .words import exact as _number

NOT_CONV = "not a convolution: not counted"
_NOT_CALLED = "ran no operation: not called by forward, or nothing to compute"


@dataclass(frozen=True)
class LayerProfile:
    """One call: a convolution with its ``breakdown``, or an operation convops does not count
    (``breakdown`` is ``None`` and ``note`` says which operation and why).

    Examples
    --------
    >>> import convops
    >>> model = torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3), torch.nn.ReLU())
    >>> conv, relu = convops.profile(model, (1, 2, 10)).layers
    >>> conv.name, conv.kind, conv.op, conv.counted, conv.multiplications, conv.additions, conv.total
    ('0', 'Conv1d', 'aten.convolution', True, 192, 192, 384)
    >>> relu.counted, relu.total, relu.note
    (False, None, 'aten.relu: not a convolution: not counted')
    >>> convops.profile(model, (1, 2, 10), backward=True).layers[0].backward_total  # no grad_input
    388

    See Also
    --------
    Profile : every call of a model.
    """

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


@dataclass(frozen=True, repr=False)  # repr: Report's one line
class Profile(Report):
    """The call-by-call counts of a model on its inputs.

    ``input_shape`` is the shape of the model's first input tensor, ``inputs`` all of its inputs
    as given (shapes in place of tensors).  ``model`` is the model itself (kept so that what
    depends on it alone, such as parameter counts, is computed when printed, never during the
    run), ``mode`` the mode it ran in (``"eval"`` or ``"train"``), ``device`` ``None`` for a run
    on meta tensors or the device of a real run, and ``modules`` each module that was called:
    its path, kind, number of calls and first output's shape, in order of first call.

    Examples
    --------
    >>> import convops
    >>> model = torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3), torch.nn.ReLU(),
    ...                             torch.nn.Conv1d(4, 4, 1))
    >>> p = convops.profile(model, (1, 2, 10))
    >>> p.model_name, p.ran, len(p.counted), [layer.op for layer in p.not_counted]
    ('Sequential', 'eval mode, on meta tensors', 2, ['aten.relu'])
    >>> p.multiplications, p.additions, p.total, p.macs, p.flops
    (320, 320, 640, 320, 640)
    >>> p.total == sum(convops.count_ops(m, s) for m, s in [(model[0], (1, 2, 10)),
    ...                                                     (model[2], (1, 4, 8))])
    True
    >>> b = convops.profile(model, (1, 2, 10), backward=True)
    >>> len(b.backward), b.backward_total == b.backward_multiplications + b.backward_additions
    (2, True)

    See Also
    --------
    LayerProfile : one call.
    convops.SymbolicProfile : the counts as formulas in the input's sizes.
    """

    model: Any
    input_shape: tuple | None
    layers: tuple[LayerProfile, ...]
    inputs: str = ""
    mode: str = "eval"
    device: torch.device | None = None
    modules: dict[str, ModuleRecord] = field(default_factory=dict, compare=False, repr=False)
    #: why the counts come from a numeric run rather than from a symbolic profile's formulas
    #: (:meth:`~convops.symbolic.SymbolicProfile.at` where a re-trace failed); empty
    #: otherwise
    fallback: str = field(default="", compare=False)
    #: the dtype of the model's first input tensor (a shape's: the model's dtype)
    dtype: torch.dtype | None = field(default=None, compare=False)

    @property
    def model_name(self) -> str:
        """The model's class name (or the name it was given)."""
        return self.model if isinstance(self.model, str) else type(self.model).__name__

    @property
    def ran(self) -> str:
        """How the model ran: its mode, its input's dtype (unless float32), and on what."""
        where = ("on meta tensors" if self.device is None
                 else f"for real on {self.device}: the counts are of what ran on this input")
        dtype = "" if self.dtype in (None, torch.float32) else f", {str(self.dtype)[6:]}"
        return f"{self.mode} mode{dtype}, {where}"

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
        """One sentence: the totals, the conventions of other counters, what was not counted.

        Examples
        --------
        >>> import convops
        >>> print(convops.profile(torch.nn.Conv1d(2, 4, 3), (1, 2, 10)).summary())
        Conv1d on input (1, 2, 10) (eval mode, on meta tensors): 1 convolution call, total 384 = 192 multiplications + 192 additions; MACs 192, FLOPs (2·MACs) 384

        See Also
        --------
        convops.report.Report.opening : its first words.
        """
        skipped = self.not_counted
        kinds = sorted({layer.op or f"{layer.kind} (ran nothing)" for layer in skipped})
        return (f"{self.opening()}, total {_number(self.total)} = "
                f"{_number(self.multiplications)} multiplications + "
                f"{_number(self.additions)} additions; MACs {_number(self.macs)}, "
                f"FLOPs (2·MACs) {_number(self.flops)}"
                + (f"; backward pass {_number(self.backward_total)} = "
                   f"{_number(self.backward_multiplications)} multiplications + "
                   f"{_number(self.backward_additions)} additions" if self.backward else "")
                + (f"; not counted: {len(skipped)} calls of {', '.join(kinds)}" if skipped else "")
                + (f"; {self.fallback}" if self.fallback else ""))


def rows(calls: list, names: dict[torch.nn.Module, str],
         count: Callable[[Layer, tuple, tuple], Breakdown]) -> list[LayerProfile]:
    """One :class:`LayerProfile` per call of a :class:`~convops.capture.Trace`, then one per leaf
    or convolution module that ran nothing.  ``count(layer, input_shape, output_shape)`` returns a
    :class:`Breakdown` or raises :class:`ConvopsError`, which is raised again naming the call.

    Examples
    --------
    >>> from convops.capture import run
    >>> model = torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3), torch.nn.Linear(8, 1))
    >>> trace = run(model, ((1, 2, 10),), {}, lambda s: torch.empty(s, device="meta"))
    >>> [(row.name, row.total, row.op) for row in rows(trace.calls, trace.names, count_call)][:2]
    [('0', 384, 'aten.convolution'), ('1', None, 'aten.view')]
    """
    result, active = [], set()
    for func, module, args, kwargs, out in calls:
        active.add(module)
        path = names.get(module) or f"<{type(module).__name__} outside the model>"
        op = op_name(func)
        if registry.role(func) != "forward":
            result.append(LayerProfile(path, type(module).__name__, first_shape(args, shapes=False),
                                       first_shape(out, shapes=False), None,
                                       f"{op}: {NOT_CONV}", op))
            continue
        shape_in = first_shape(args, shapes=False)
        try:
            convolution = registry.forward(func, args, kwargs, out)
            layer, shape_in = convolution.layer, convolution.input_shape
            if not runs_convolution(module):  # a functional call, e.g. F.conv2d in a block
                transposed = "_transpose" if layer.kind.transposed else ""
                path = f"F.conv{transposed}{layer.kind.ndim}d in {path}"
            counts = count(layer, shape_in, convolution.output_shape)
        except ConvopsError as error:
            raise ConvopsError(f"{path} ({type(module).__name__}), {op} on input {shape_in}: "
                               f"{error}") from error
        result.append(LayerProfile(path, layer.kind.name, shape_in, convolution.output_shape,
                                   counts, "", op))
    idle = [LayerProfile(name, type(module).__name__, None, None, None, _NOT_CALLED)
            for module, name in names.items() if module not in active
            and (runs_convolution(module) or next(iter(module.children()), None) is None)]
    return result + idle


_OP_NAMES: dict = {}


def op_name(func) -> str:
    """An aten operation's name without its overload, e.g. ``aten.convolution``.

    Examples
    --------
    >>> op_name(torch.ops.aten.convolution.default)
    'aten.convolution'
    """
    return _OP_NAMES.get(func) or _OP_NAMES.setdefault(func, str(func.overloadpacket))


_COUNTS: BoundedCache = BoundedCache()


def count_call(layer: Layer, shape_in: tuple, shape_out: tuple) -> Breakdown:
    """convops' breakdown of one call, its output shape checked against torch's.

    Examples
    --------
    >>> from convops.layer import Layer
    >>> count_call(Layer.parse("Conv1d(2, 4, 3)"), (1, 2, 10), (1, 4, 8)).total
    384
    >>> count_call(Layer.parse("Conv1d(2, 4, 3)"), (1, 2, 10), (1, 4, 9))
    Traceback (most recent call last):
    ...
    RuntimeError: Layer(...): convops computes output shape (1, 4, 8) for input (1, 2, 10), torch gives (1, 4, 9)

    See Also
    --------
    convops.breakdown : what it returns.
    """
    key = (layer, shape_in)
    counts = _COUNTS.entries.get(key)
    if counts is None:
        counts = _COUNTS.remember(key, breakdown(layer, shape_in))
    if counts.output_shape != shape_out:  # the derivation and torch must agree on every call
        raise RuntimeError(f"{layer}: convops computes output shape {counts.output_shape} for "
                           f"input {shape_in}, torch gives {shape_out}")
    return counts
