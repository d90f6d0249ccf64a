"""Notebook helpers for the backward pass: formula against measurement, per gradient.

Formula values come from :func:`convops.breakdown` with ``backward=True``; measured ones from
:func:`convops.reference.measure_backward` (the instrumented backward, whose gradients are checked
against ``torch.autograd``) and from ``FlopCounterMode``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import sympy as sp
import torch

from convops import KINDS, ConvopsError, breakdown, derive, latex
from convops.additions import LatticeCount, lattice_count_definition
from convops.backward import GRADIENTS
from convops.derivation import kind_of
from convops.reference import flop_counter_backward_flops, measure_backward

from .notebook import WIDTH, Table, cases_table, describe_layer, number_text
from .site import (LABELS, LATTICE_COUNT, every_dimension, formula_block, free_symbols,
                   per_dimension_keys, symbols_table)

__all__ = ["backward_anchor", "backward_comparison", "backward_equation", "backward_quantities",
           "backward_summary_markdown", "backward_symbols_anchor", "backward_symbols_markdown",
           "backward_table"]


def _cell(formula: int, measured: int) -> str:
    return f"{number_text(formula)} ✓" if formula == measured else f"{number_text(formula)} ≠ {number_text(measured)}"


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
    layer = describe_layer(module, input_shape)
    return Table(("gradient", "multiplications", "additions"), tuple(rows),
                 caption=f"{layer}; gradients equal torch.autograd's", layers=(layer,) * len(rows))


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
        cells = [_cell(getattr(formula, f"grad_{name}").total, measured[name].total)
                  for name in GRADIENTS]
        cells.append(_cell(formula.flops, flop_counter_backward_flops(module, shape, GRADIENTS)))
        body.append(tuple(cells))
    return cases_table(cases, (*(f"grad_{name}" for name in GRADIENTS), "FLOPs = FlopCounterMode"),
                       body)


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
    LATTICE_COUNT: LABELS[LATTICE_COUNT],
}


@lru_cache(maxsize=None)
def backward_quantities(kind) -> tuple[str, ...]:
    """The quantities the training-cost page shows for ``kind``, in order: the backward's
    :meth:`~convops.backward.BackwardDerivation.indexed_equations`, and ``F`` where they use the
    lattice count.

    Examples
    --------
    >>> backward_quantities("Conv2d")[-7:]
    ('q', 's_reduced', 'd_reduced', 'P', 'Z', 'A', 'F')
    >>> "q" in backward_quantities("ConvTranspose2d"), "F" in backward_quantities("ConvTranspose2d")
    (False, False)
    """
    eqs = derive(kind).backward.indexed_equations()
    uses_f = any(eq.rhs.has(LatticeCount) for eq in eqs.values())
    return tuple(eqs) + ((LATTICE_COUNT,) if uses_f else ())


def backward_equation(kind, quantity: str) -> sp.Eq:
    """The sympy equation the page prints for ``quantity``: one of :func:`backward_quantities`
    or a per-dimension one (``q_1``) of :meth:`~convops.backward.BackwardDerivation.equations`."""
    if quantity == LATTICE_COUNT and quantity in backward_quantities(kind):
        return lattice_count_definition()
    backward = derive(kind).backward
    eqs = {**backward.equations(), **backward.indexed_equations()}
    if quantity not in eqs:
        raise ConvopsError(f"quantity must be one of {', '.join(eqs)}, got {quantity!r}")
    return eqs[quantity]


def _label(kind, quantity: str) -> str:
    gradient, _, what = quantity.partition("_")
    if gradient in GRADIENTS:
        return f"grad_{gradient}: {what}"
    if quantity in _LABELS:
        dimensions = per_dimension_keys(derive(kind).backward.equations(), quantity)
        return _LABELS[quantity] + (every_dimension(kind_of(kind).ndim) if dimensions else "")
    stem, _, dimension = quantity.rpartition("_")
    return f"{_LABELS[stem]}, dimension {dimension}"


def backward_anchor(kind, quantity: str) -> str:
    """The id of a backward formula on the site, e.g. ``conv2d-backward-weight-additions``.

    ``quantity`` is one of :func:`backward_quantities` (``q`` for the indexed formula of every
    dimension) or a per-dimension one (``q_1``), whose anchor stays, as an alias on the indexed
    formula.

    Examples
    --------
    >>> backward_anchor("Conv2d", "total_bias"), backward_anchor("Conv2d", "q_1")
    ('conv2d-backward-total-bias', 'conv2d-backward-q-1')
    """
    name = kind_of(kind).name
    quantities = dict.fromkeys((*backward_quantities(name), *derive(name).backward.equations()))
    if quantity not in quantities:
        raise ConvopsError(f"quantity must be one of {', '.join(quantities)}, got {quantity!r}")
    return f"{name}-backward-{quantity}".lower().replace("_", "-")


def backward_symbols_anchor(kind) -> str:
    """The id of the table of the symbols ``kind``'s tab uses, e.g. ``conv2d-backward-symbols``."""
    return f"{kind_of(kind).name}-backward-symbols".lower()


def backward_symbols_markdown(kind) -> str:
    """The table of every symbol of ``kind``'s backward formulas that they do not define, with
    its meaning for the backward (:meth:`~convops.backward.BackwardDerivation.describe`); F links
    to its definition."""
    quantities = backward_quantities(kind)
    meaning = derive(kind).backward.describe()
    used = free_symbols([backward_equation(kind, q) for q in quantities], meaning)
    lattice = backward_anchor(kind, LATTICE_COUNT) if LATTICE_COUNT in quantities else None
    return symbols_table({s: meaning[s] for s in used}, lattice, backward_symbols_anchor(kind))


def backward_summary_markdown() -> str:
    """The summary the training-cost page opens with: a tab per module kind with every formula
    of its backward (one indexed formula per per-dimension family, the anchors of each dimension's
    kept as aliases), each in a block carrying its :func:`backward_anchor`, then the symbols
    they are written in.

    Examples
    --------
    >>> print(backward_summary_markdown().splitlines()[2])
    //// tab | Conv1d
    """
    tabs = []
    for name in KINDS:
        eqs = derive(name).backward.equations()
        blocks = "\n".join(
            f"**{_label(name, q)}** · [#{backward_anchor(name, q)}](#{backward_anchor(name, q)})\n\n"
            + formula_block(backward_anchor(name, q), latex(backward_equation(name, q), width=WIDTH),
                            [backward_anchor(name, a) for a in per_dimension_keys(eqs, q)])
            for q in backward_quantities(name))
        tabs.append(f"//// tab | {name}\n\n{blocks}\n**Symbols**\n\n"
                    f"{backward_symbols_markdown(name)}\n////\n")
    return "## Formula summary\n\n" + "\n".join(tabs)
