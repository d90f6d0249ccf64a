"""Every convolution of a whole model, counted on the input shapes the model actually gives them.

:func:`profile` runs the model once on ``meta`` tensors (shapes only, no arithmetic, no memory
for data) with a forward hook on every leaf module, and counts each convolution call with
:func:`convops.breakdown`.  Leaf modules convops does not count (``Linear``, norms, pooling,
activations …) are listed as *not counted*, so nothing the model runs disappears from the table.
"""

from __future__ import annotations

import html
import itertools
from dataclasses import dataclass

import torch

from .count import Breakdown, breakdown
from .derivation import KINDS
from .layer import Layer

_CONV_TYPES = tuple(kind.module for kind in KINDS.values())
_NOT_CONV = "not a convolution: not counted"
_NOT_CALLED = "not called by forward: no operations"


@dataclass(frozen=True)
class LayerProfile:
    """One call of one leaf module; ``breakdown`` is ``None`` when convops does not count it."""

    name: str
    kind: str
    input_shape: tuple[int, ...] | None
    output_shape: tuple[int, ...] | None
    breakdown: Breakdown | None
    note: str = ""

    @property
    def counted(self) -> bool:
        return self.breakdown is not None

    @property
    def multiplications(self) -> int | None:
        return None if self.breakdown is None else self.breakdown.multiplications

    @property
    def additions(self) -> int | None:
        return None if self.breakdown is None else self.breakdown.additions

    @property
    def total(self) -> int | None:
        return None if self.breakdown is None else self.breakdown.total


_COLUMNS = ("name", "kind", "input_shape", "output_shape", "multiplications", "additions", "total")


@dataclass(frozen=True)
class Profile:
    """The layer-by-layer counts of a model on one input shape."""

    model: str
    input_shape: tuple[int, ...]
    layers: tuple[LayerProfile, ...]

    @property
    def counted(self) -> tuple[LayerProfile, ...]:
        return tuple(layer for layer in self.layers if layer.counted)

    @property
    def not_counted(self) -> tuple[LayerProfile, ...]:
        return tuple(layer for layer in self.layers if not layer.counted)

    @property
    def multiplications(self) -> int:
        return sum(layer.multiplications for layer in self.counted)

    @property
    def additions(self) -> int:
        return sum(layer.additions for layer in self.counted)

    @property
    def total(self) -> int:
        return sum(layer.total for layer in self.counted)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the convolutions (one per multiplication)."""
        return self.multiplications

    @property
    def flops(self) -> int:
        """FLOPs as FlopCounterMode reports convolutions: two per multiply-accumulate."""
        return 2 * self.multiplications

    def rows(self) -> list[dict]:
        """One dict per layer call, e.g. for ``pandas.DataFrame(profile.rows())``."""
        return [{column: getattr(layer, column) for column in _COLUMNS} | {"note": layer.note}
                for layer in self.layers]

    # -- rendering ---------------------------------------------------------------------------
    def _cells(self) -> list[list[str]]:
        def cell(layer: LayerProfile, column: str) -> str:
            value = getattr(layer, column)
            if value is None:
                return "-" if column in ("input_shape", "output_shape") else ""
            return f"{value:,}" if isinstance(value, int) else str(value)

        return [[cell(layer, column) for column in _COLUMNS] + [layer.note] for layer in self.layers]

    def summary(self) -> str:
        counted, skipped = self.counted, self.not_counted
        kinds = sorted({layer.kind for layer in skipped})
        return (f"{self.model} on input {self.input_shape}: {len(counted)} convolution calls, "
                f"total {self.total:,} = {self.multiplications:,} multiplications + "
                f"{self.additions:,} additions; MACs {self.macs:,}, FLOPs (2·MACs) {self.flops:,}"
                + (f"; not counted: {len(skipped)} calls of {', '.join(kinds)}" if skipped else ""))

    def __str__(self) -> str:
        header = [*_COLUMNS, "note"]
        cells = self._cells()
        widths = [max(len(row[i]) for row in [header, *cells]) for i in range(len(header))]
        numeric = {_COLUMNS.index(c) for c in ("multiplications", "additions", "total")}

        def line(row):
            return "  ".join(value.rjust(w) if i in numeric else value.ljust(w)
                             for i, (value, w) in enumerate(zip(row, widths))).rstrip()

        rule = "  ".join("-" * w for w in widths)
        totals = ["total", "", "", "", f"{self.multiplications:,}", f"{self.additions:,}",
                  f"{self.total:,}", ""]
        return "\n".join([line(header), rule, *map(line, cells), rule, line(totals), "",
                          self.summary()])

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        numeric = ("multiplications", "additions", "total")
        head = "".join(f"<th>{c}</th>" for c in (*_COLUMNS, "note"))

        def row(values, tag="td"):
            return "<tr>" + "".join(
                f'<{tag} style="text-align:{"right" if c in numeric else "left"}">'
                f"{html.escape(v)}</{tag}>" for c, v in zip((*_COLUMNS, "note"), values)) + "</tr>"

        body = "".join(row(values) for values in self._cells())
        foot = row(["total", "", "", "", f"{self.multiplications:,}", f"{self.additions:,}",
                    f"{self.total:,}", ""], tag="th")
        return (f"<p>{html.escape(self.summary())}</p><table><thead><tr>{head}</tr></thead>"
                f"<tbody>{body}</tbody><tfoot>{foot}</tfoot></table>")


def _watched(model: torch.nn.Module) -> dict[torch.nn.Module, str]:
    """Convolutions (even with children, e.g. parametrizations) and the other leaf modules."""
    watched, inside_conv = {}, set()
    for name, module in model.named_modules():
        if module in inside_conv:
            continue
        if isinstance(module, _CONV_TYPES):
            inside_conv.update(m for m in module.modules() if m is not module)
            watched[module] = name or "(model)"
        elif next(iter(module.children()), None) is None:
            watched[module] = name or "(model)"
    return watched


def _shape(value) -> tuple[int, ...] | None:
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if isinstance(value, (tuple, list)):
        return next(filter(None, map(_shape, value)), None)
    return None


def _meta_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    tensors = itertools.chain(model.named_parameters(), model.named_buffers())
    return {name: torch.empty_like(t, device="meta") for name, t in tensors}


def profile(model: torch.nn.Module, input_shape, dtype: torch.dtype | None = None) -> Profile:
    """Count every convolution ``model`` runs on an input of ``input_shape``, layer by layer.

    The model runs once on ``meta`` tensors, in eval mode: its parameters and buffers are replaced
    for that call only (``torch.func.functional_call``) and its modes restored after, so the model
    is neither copied nor changed.  ``dtype``
    is the input's (default: the dtype of the model's first floating-point parameter, or float32).
    """
    input_shape = tuple(input_shape)
    if dtype is None:
        dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    watched = _watched(model)
    calls: list[LayerProfile] = []
    called: set[torch.nn.Module] = set()

    def hook(module, args, output):
        called.add(module)
        name, shape_in, shape_out = watched[module], _shape(args), _shape(output)
        if not isinstance(module, _CONV_TYPES):
            calls.append(LayerProfile(name, type(module).__name__, shape_in, shape_out, None,
                                      _NOT_CONV))
            return
        counts = breakdown(Layer.from_module(module), shape_in)
        if counts.output_shape != shape_out:  # the derivation and torch must agree on every layer
            raise RuntimeError(f"{name}: convops computes output shape {counts.output_shape}, "
                               f"torch gives {shape_out}")
        calls.append(LayerProfile(name, counts.kind, shape_in, shape_out, counts))

    handles = [module.register_forward_hook(hook) for module in watched]
    modes = {module: module.training for module in model.modules()}
    model.eval()  # as for inference: batch norm accepts a single value per channel
    try:
        with torch.no_grad():
            torch.func.functional_call(model, _meta_state(model),
                                       (torch.empty(input_shape, dtype=dtype, device="meta"),))
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes.items():
            module.training = training
    uncalled = [LayerProfile(name, type(module).__name__, None, None, None, _NOT_CALLED)
                for module, name in watched.items() if module not in called]
    return Profile(type(model).__name__, input_shape, tuple(calls + uncalled))
