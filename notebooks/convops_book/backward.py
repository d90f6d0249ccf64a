"""Notebook helpers for the backward pass: formula against measurement, per gradient.

Formula values come from :func:`convops.breakdown` with ``backward=True``; measured ones from
:func:`convops.reference.measure_backward` (the instrumented backward, whose gradients are checked
against ``torch.autograd``) and from ``FlopCounterMode``.
"""

from __future__ import annotations

from typing import Sequence

import torch

from convops import KINDS, ConvopsError, breakdown, derive
from convops.backward import GRADIENTS
from convops.derivation import kind_of
from convops.reference import flop_counter_backward_flops, measure_backward

from .notebook import Table, _format, describe_layer

__all__ = ["backward_anchor", "backward_comparison", "backward_summary_markdown", "backward_table"]


def _cell(formula: int, measured: int) -> str:
    return f"{_format(formula)} ✓" if formula == measured else f"{_format(formula)} ≠ {_format(measured)}"


def backward_comparison(module: torch.nn.Module, input_shape: Sequence[int],
                        gradients: Sequence[str] = GRADIENTS, seed: int = 0) -> Table:
    """One row per gradient of ``gradients``: convops' multiplications and additions, each
    followed by ✓ where the instrumented backward counted the same (``≠`` and its count where not).

    Examples
    --------
    >>> import torch
    >>> print(backward_comparison(torch.nn.Conv1d(2, 4, 3), (1, 2, 10)))
    Conv1d(2, 4, kernel_size=(3,), stride=(1,)) on input (1, 2, 10); gradients equal torch.autograd's
    gradient     multiplications  additions
    grad_input   192 ✓            172 ✓
    grad_weight  192 ✓            168 ✓
    grad_bias    0 ✓              28 ✓
    """
    formula = breakdown(module, tuple(input_shape), backward=True)
    measured = measure_backward(module, input_shape, seed=seed)
    rows = []
    for name in gradients:
        counted, counter = getattr(formula, f"grad_{name}"), measured[name]
        rows.append((f"grad_{name}", _cell(counted.multiplications, counter.multiplications),
                     _cell(counted.additions, counter.additions)))
    return Table(("gradient", "multiplications", "additions"), tuple(rows),
                 caption=f"{describe_layer(module, input_shape)}; gradients equal torch.autograd's")


def backward_table(cases: Sequence[tuple[torch.nn.Module, Sequence[int]]]) -> Table:
    """One line per ``(module, input_shape)``: each gradient's total operations and the backward's
    FLOPs (2 per multiplication), each followed by ✓ where the instrumented backward, or
    ``FlopCounterMode`` (which counts no bias, and ``g`` times the products of ``grad_weight``
    of a grouped layer), agrees.

    Examples
    --------
    >>> import torch
    >>> print(backward_table([(torch.nn.ConvTranspose1d(2, 2, 3, stride=2), (1, 2, 4))]))
    layer                                                 input      grad_input  grad_weight  grad_bias  FLOPs = FlopCounterMode
    ConvTranspose1d(2, 2, kernel_size=(3,), stride=(2,))  (1, 2, 4)  88 ✓        84 ✓         16 ✓       192 ✓
    """
    body = []
    for module, shape in cases:
        formula = breakdown(module, tuple(shape), backward=True)
        measured = measure_backward(module, shape)
        cells = [repr(module), _format(tuple(shape))]
        cells += [_cell(getattr(formula, f"grad_{name}").total, measured[name].total)
                  for name in GRADIENTS]
        cells.append(_cell(formula.flops, flop_counter_backward_flops(module, shape, GRADIENTS)))
        body.append(tuple(cells))
    return Table(("layer", "input", *(f"grad_{name}" for name in GRADIENTS),
                  "FLOPs = FlopCounterMode"), tuple(body))


# -- site ----------------------------------------------------------------------------------------
#: What each backward equation is, in words; per-dimension terms end in ``_<dimension>``.
_LABELS = {
    "total_bias": "Backward total with bias",
    "total_no_bias": "Backward total without bias",
    "fold": "Additions folding the padded positions back (padding_mode other than 'zeros')",
    "A": "Additions per filter of the transposed convolution computing grad_input",
    "q": "Output padding of the transposed convolution computing grad_input",
    "s_reduced": "Reduced stride",
    "d_reduced": "Reduced dilation",
    "P": "Products of that transposed convolution landing inside the input",
    "Z": "Input positions that receive a product",
}


def _label(quantity: str) -> str:
    gradient, _, what = quantity.partition("_")
    if gradient in GRADIENTS:
        return f"grad_{gradient}: {what}"
    if quantity in _LABELS:
        return _LABELS[quantity]
    stem, _, dimension = quantity.rpartition("_")
    return f"{_LABELS[stem]}, dimension {dimension}"


def backward_anchor(kind, quantity: str) -> str:
    """The id of a backward formula on the site, e.g. ``conv2d-backward-weight-additions``.

    Examples
    --------
    >>> backward_anchor("Conv2d", "total_bias")
    'conv2d-backward-total-bias'
    """
    name = kind_of(kind).name
    quantities = derive(name).backward.equations()
    if quantity not in quantities:
        raise ConvopsError(f"quantity must be one of {', '.join(quantities)}, got {quantity!r}")
    return f"{name}-backward-{quantity}".lower().replace("_", "-")


def backward_summary_markdown() -> str:
    """The summary the training-cost page opens with: a tab per module kind with every formula
    of its backward, each in a block carrying its :func:`backward_anchor`.

    Examples
    --------
    >>> print(backward_summary_markdown().splitlines()[2])
    //// tab | Conv1d
    """
    tabs = []
    for name in KINDS:
        backward = derive(name).backward
        blocks = "\n".join(
            f"**{_label(q)}** · [#{backward_anchor(name, q)}](#{backward_anchor(name, q)})\n\n"
            f"/// html | div#{backward_anchor(name, q)}.convops-formula\n\n"
            f"$$\n{backward.latex(q)}\n$$\n\n///\n" for q in backward.equations())
        tabs.append(f"//// tab | {name}\n\n{blocks}\n////\n")
    return "## Formula summary\n\n" + "\n".join(tabs)
