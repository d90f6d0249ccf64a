"""What a profile shows people: the module tree, the call table, one line, HTML, JSON, a chart.

Everything here is computed from a finished profile when it is shown, never while the model
runs: the tree and its roll-ups (each module's counts are the sum of the convolution calls made
inside it), the parameter counts (read from the model then) and the shares.  The exact integers
stay in :attr:`Profile.total`, :meth:`Report.rows` and :meth:`Report.to_json`; the printed
tables round them to K/M/G.

:class:`Report` is the base of :class:`~convops.profiling.Profile`; it reads a profile through
its public fields only (``model``, ``layers``, ``modules``, ``mode``, ``inputs``), so this module
imports nothing of the rest of the profiler.
"""

from __future__ import annotations

import html
import json
import textwrap
from dataclasses import dataclass
from typing import Any

import sympy as sp
import torch

from .capture import CONV_TYPES, ModuleRecord
from .errors import ConvopsError
from .plans import TOTALS
from .symbols import condition_text
from .symbols import latex as latex_of
from .words import (calls, compact, exact, grouped, is_formula, tally, text_table, units,
                    units_formatter)

#: Lines of the module tree that a default depth may fill: ResNet-50 fits in 40 lines with it.
TREE_ROWS = 30
#: Widest line of a printed table: numeric profiles, and symbolic ones (formulas cut to fit).
WIDTH, SYMBOLIC_WIDTH = 120, 160
_ROOT_NAMES = ("", "(model)")

#: Operations that do no arithmetic: allocations, views, copies.  They are left out of what the
#: report lists as not counted (``rows(by="call")`` keeps them): BatchNorm's phantom
#: ``aten.empty((0,))``, and the profiler's own seeds and copies in the backward pass.
NO_ARITHMETIC = frozenset(f"aten.{name}" for name in (
    "empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided", "zeros", "zeros_like",
    "ones", "ones_like", "new_zeros", "new_ones", "full", "full_like", "fill_", "zero_", "view",
    "_unsafe_view", "reshape", "t", "transpose", "permute", "expand", "squeeze", "unsqueeze",
    "flatten", "alias", "detach", "as_strided", "slice", "select", "split", "split_with_sizes",
    "chunk", "unbind", "clone", "copy_", "_to_copy", "contiguous", "lift_fresh", "lift_fresh_copy"))


@dataclass(frozen=True)
class ModuleRow:
    """One module of the tree with the counts of every convolution call made inside it
    (:meth:`Report.rows` with ``by="module"`` gives them as dicts)."""

    path: str
    kind: str
    depth: int
    parent: str | None
    calls: int
    output_shape: tuple | None
    parameters: int | None
    convolutions: int  #: counted convolution calls in the subtree
    multiplications: Any
    additions: Any
    total: Any
    backward_total: Any  #: ``None`` without ``backward=True``

    def as_dict(self) -> dict:
        """The row's fields by name.

        >>> ModuleRow("0", "Conv1d", 1, "", 1, (1, 4, 8), 28, 1, 192, 192, 384, None).as_dict()["total"]
        384
        """
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _shape_text(shape, printable=lambda e: e) -> str:
    if shape is None:
        return "-"
    return "[" + ", ".join(condition_text(printable(v)) if is_formula(v) else str(v)
                           for v in shape) + "]"


def _owner(name: str) -> str:
    """The module path a call row belongs to (``F.conv2d in layer1.0`` belongs to ``layer1.0``)."""
    if name.startswith("F.conv") and " in " in name:
        name = name.split(" in ", 1)[1]
    return "" if name in _ROOT_NAMES or name.startswith("<") else name


def _parent(path: str) -> str | None:
    return None if path == "" else path.rpartition(".")[0]


def _computes_nothing(layer) -> bool:
    return layer.op in NO_ARITHMETIC


def _parameters(model: torch.nn.Module, path: str) -> int | None:
    """Parameters of the subtree at ``path``, each tensor once (tied weights), as torchinfo."""
    if not isinstance(model, torch.nn.Module):
        return None
    try:
        module = model.get_submodule(path) if path else model
    except AttributeError:
        return None
    return sum(p.numel() for p in module.parameters()
               if not isinstance(p, torch.nn.parameter.UninitializedParameter))


class Report:
    """The views of a profile: ``str`` (the module tree), :meth:`table`, :meth:`rows`,
    :meth:`to_json`, :meth:`formula`/:meth:`latex`, :meth:`plot_modules`, and HTML in Jupyter.

    Examples
    --------
    >>> import torch, convops
    >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(),
    ...                             torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3)))
    >>> p = convops.profile(model, (1, 3, 16, 16))
    >>> print(p.table(units=False))
    module   kind        output shape    params     MACs  operations  % of conv ops
    -------  ----------  --------------  ------  -------  ----------  -------------
    (model)  Sequential  [1, 8, 12, 12]     808  125,280     250,560         100.0%
      0      Conv2d      [1, 8, 14, 14]     224   42,336      84,672          33.8%
      2      Sequential  [1, 8, 12, 12]     584   82,944     165,888          66.2%
        2.0  Conv2d      [1, 8, 12, 12]     584   82,944     165,888          66.2%
    <BLANKLINE>
    not counted: 1 × relu
    Sequential on (1, 3, 16, 16), eval mode, on meta tensors: 2 convolution calls; 250,560 operations = 125,280
      multiplications (MACs) + 125,280 additions; FLOPs (2·MACs, as FlopCounterMode) 250,560
    >>> [(row["path"], row["parent"], row["total"]) for row in p.rows(by="module")][:2]
    [('', None, 250560), ('0', '', 84672)]
    """

    def opening(self, table: bool = False) -> str:
        """What ran, the start of every summary of a profile: the model, its inputs, how it ran
        and its convolution calls; ``table=True``: as the line under the table writes it.

        Examples
        --------
        >>> import torch, convops
        >>> p = convops.profile(torch.nn.Conv1d(2, 4, 3), (1, 2, 10))
        >>> p.opening()
        'Conv1d on input (1, 2, 10) (eval mode, on meta tensors): 1 convolution call'
        >>> p.opening(table=True)
        'Conv1d on (1, 2, 10), eval mode, on meta tensors: 1 convolution call'

        See Also
        --------
        convops.Profile.summary : the sentence it opens.
        """
        n = calls(len(self.counted))
        if table:
            return f"{self.model_name} on {self.inputs or '()'}, {self.ran}: {n}"
        return f"{self.model_name} on input {self.inputs or self.input_shape} ({self.ran}): {n}"

    # -- the tree ------------------------------------------------------------------------------
    def _printable(self, expr):
        """``expr`` as it should print (a symbolic profile writes floors as torch does)."""
        return expr

    def _module_rows(self) -> list[ModuleRow]:
        """Every module that ran (and the containers above them), parents before children."""
        records = {"" if path in _ROOT_NAMES else path: record
                   for path, record in self.modules.items()}
        if "" not in records:
            records = {"": ModuleRecord("", self.model_name, 1, None)} | records
        sums: dict[str, list] = {}
        for layer in self.layers:
            if layer.breakdown is None:
                continue
            path = _owner(layer.name)
            while path is not None:
                entry = sums.setdefault(path, [0, 0, 0, 0, 0])
                entry[0] += 1
                entry[1] += layer.breakdown.multiplications
                entry[2] += layer.breakdown.additions
                entry[3] += layer.breakdown.total
                if layer.backward is not None:
                    entry[4] += layer.backward.total
                path = _parent(path)
        children: dict[str, list[str]] = {}
        for path in [*records, *sums]:
            while path and path not in children.get(_parent(path), ()):
                children.setdefault(_parent(path), []).append(path)
                path = _parent(path)
        with_backward = any(layer.backward is not None for layer in self.layers)
        rows: list[ModuleRow] = []

        def visit(path: str, depth: int) -> None:
            record = records.get(path)
            kind = record.kind if record else _kind(self.model, path)
            kind = self.model_name if path == "" else kind
            convolutions, *counts, backward = sums.get(path, [0, 0, 0, 0, 0])
            rows.append(ModuleRow(path, kind, depth, _parent(path), record.calls if record else 0,
                                  record.output_shape if record else None,
                                  _parameters(self.model, path), convolutions, *counts,
                                  backward if with_backward else None))
            for child in children.get(path, ()):
                visit(child, depth + 1)

        visit("", 0)
        return rows

    def default_depth(self) -> int:
        """The deepest level whose tree of convolution-holding modules fits in
        :data:`TREE_ROWS` rows (at least 1).

        Examples
        --------
        >>> import torch, convops
        >>> model = torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.Conv1d(4, 4, 1))
        >>> p = convops.profile(model, (1, 2, 10))
        >>> p.default_depth()
        1
        """
        depths = [row.depth for row in self._module_rows() if row.convolutions]
        depth = 1
        while depth < max(depths, default=0) and sum(d <= depth + 1 for d in depths) <= TREE_ROWS:
            depth += 1
        return depth

    # -- the tables ----------------------------------------------------------------------------
    def table(self, by: str = "module", depth: int | None = None, units: bool = True,
              ops: str = "conv") -> str:
        """The profile as a text table.

        ``by="module"``: the module tree down to ``depth`` (default: :meth:`default_depth`), each
        module's counts rolled up from the convolutions inside it; ``ops="all"`` also lists the
        modules that hold none.  ``by="call"``: one row per call, the convolutions (``ops="all"``:
        every operation that computes something).  ``units=False`` prints exact integers.

        Examples
        --------
        >>> import torch, convops
        >>> model = torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.Conv1d(4, 4, 1))
        >>> p = convops.profile(model, (1, 2, 10))
        >>> print(p.table(by="call", units=False).splitlines()[2])
        0     Conv1d  [1, 2, 10]   [1, 4, 8]      192        192    384

        See Also
        --------
        rows : the same, as exact values.
        """
        _check_choice("by", by, ("module", "call"))
        _check_choice("ops", ops, ("conv", "all"))
        if depth is not None and (type(depth) is not int or depth < 0):
            raise ConvopsError(f"depth={depth!r} must be an int >= 0 (0: the model alone)")
        fmt = units_formatter(units, self._printable)
        if by == "call":
            header, cells = self._call_cells(ops, fmt)
        else:
            header, cells = self._tree_cells(self.default_depth() if depth is None else depth,
                                             ops, fmt)
        symbolic = is_formula(self.total)
        return "\n".join([text_table(header, cells, SYMBOLIC_WIDTH if symbolic else WIDTH),
                          *self._footer()])

    def _tree_cells(self, depth: int, ops: str, fmt) -> tuple[list[str], list[list[str]]]:
        rows = [row for row in self._module_rows() if row.depth <= depth
                and (row.convolutions or ops == "all")]
        symbolic = any(is_formula(row.total) for row in rows)
        everything = rows[0].total if rows else 0
        header = ["module", "kind", "output shape", "params", "MACs", "operations"]
        header += [] if symbolic else ["% of conv ops"]
        with_backward = rows and rows[0].backward_total is not None
        header += ["backward"] if with_backward else []
        cells = []
        for row in rows:
            name = "(model)" if row.path == "" else row.path
            kind = row.kind + (f" ×{row.calls}" if row.calls > 1 else "")
            cell = ["  " * row.depth + name, kind, _shape_text(row.output_shape, self._printable),
                    "-" if row.parameters is None else units(row.parameters),
                    fmt(row.multiplications), fmt(row.total)]
            if not symbolic:
                cell.append(f"{100 * row.total / everything:.1f}%" if everything else "-")
            if with_backward:
                cell.append(fmt(row.backward_total))
            cells.append(cell)
        return header, cells

    def _call_cells(self, ops: str, fmt) -> tuple[list[str], list[list[str]]]:
        layers = [layer for layer in self.layers if layer.breakdown is not None
                  or (ops == "all" and not _computes_nothing(layer))]
        with_backward = any(layer.backward is not None for layer in self.layers)
        header = ["call", "kind", "input shape", "output shape", "multiplications", "additions",
                  "total"] + (["backward"] if with_backward else []) + (["note"] if ops == "all"
                                                                         else [])
        cells = []
        for layer in layers:
            counts = [layer.multiplications, layer.additions, layer.total]
            cell = [layer.name, layer.kind, _shape_text(layer.input_shape, self._printable),
                    _shape_text(layer.output_shape, self._printable),
                    *("" if value is None else fmt(value) for value in counts)]
            if with_backward:
                cell.append("" if layer.backward is None else fmt(layer.backward.total))
            cells.append(cell + ([layer.note] if ops == "all" else []))
        return header, cells

    def _notes(self) -> list[str]:
        """What ran and was not counted, by operation; what did not run; then the summary."""
        notes = []
        forward = [layer for layer in self.layers if layer.breakdown is None and layer.op
                   and layer.name != "(backward)" and not _computes_nothing(layer)]
        backward = [layer for layer in self.layers if layer.breakdown is None
                    and layer.name == "(backward)" and not _computes_nothing(layer)]
        for label, skipped in (("not counted", forward), ("backward, not counted", backward)):
            if skipped:
                notes.append(f"{label}: " + ", ".join(
                    f"{n} × {op}" for op, n in tally(layer.op.removeprefix("aten.")
                                                       for layer in skipped)))
        idle = self._idle()
        if idle:
            notes.append(f"did not run: {', '.join(grouped(idle))}")
        return [*notes, self._summary()]

    def _idle(self) -> list[str]:
        """The model's convolutions and leaf modules that its forward did not call."""
        if not self.modules or not isinstance(self.model, torch.nn.Module):
            return []
        return [path for path, module in self.model.named_modules() if path
                and path not in self.modules and (next(module.children(), None) is None
                                                  or isinstance(module, CONV_TYPES))]

    def _footer(self) -> list[str]:
        # "53 × add" is one item: its spaces are held as NULs while the line is wrapped
        return ["", *(line.replace("\0", " ") for note in self._notes()
                      for line in textwrap.wrap(note.replace(" × ", "\0×\0"), WIDTH,
                                                subsequent_indent="  ", break_on_hyphens=False))]

    def _summary(self) -> str:
        """What ran, and the totals as exact integers (formulas: where to read them whole)."""
        ran = self.opening(table=True)
        if is_formula(self.total):
            return (f"{ran}, counted as formulas in {', '.join(map(str, self.symbols))} (whole: "
                    "profile.formula(quantity, module), profile.latex(…))"
                    + "".join(f"; {special}" for special in self.specializations))
        text = (f"{ran}; {exact(self.total)} operations = {exact(self.multiplications)} "
                f"multiplications (MACs) + {exact(self.additions)} additions; FLOPs "
                f"(2·MACs, as FlopCounterMode) {exact(2 * self.multiplications)}")
        if any(layer.backward is not None for layer in self.layers):
            text += f"; backward pass {exact(self.backward_total)} operations"
        if getattr(self, "fallback", ""):
            text += f"; {self.fallback}"
        return text

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        total = self.total
        total = compact(self._printable(total), 60, self._printable) if is_formula(total) \
            else f"{total:,}"
        mode = self.mode
        return (f"<{type(self).__name__} of {self.model_name} on {self.inputs or '()'}"
                f", {mode}: {calls(len(self.counted))}, {total} operations>")

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        header, cells = self._tree_cells(self.default_depth(), "conv",
                                         units_formatter(True, self._printable, 40))
        numeric = {"params", "MACs", "operations", "% of conv ops", "backward"}

        def row(values, tag):
            return "<tr>" + "".join(
                f'<{tag} style="text-align:{"right" if h in numeric else "left"}'
                f'{";white-space:pre" if h == "module" else ""}">{html.escape(v)}</{tag}>'
                for h, v in zip(header, values)) + "</tr>"

        notes = "".join(f"<p>{html.escape(note)}</p>" for note in self._notes())
        return (f'<table class="convops-profile"><thead>{row(header, "th")}</thead><tbody>'
                + "".join(row(cell, "td") for cell in cells) + f"</tbody></table>{notes}")

    # -- data ----------------------------------------------------------------------------------
    def rows(self, by: str = "call") -> list[dict]:
        """One dict per call (``by="call"``: name, kind, shapes, counts, note) or per module
        (``by="module"``: path, kind, depth, parent, calls, output shape, parameters and the
        counts of the convolutions inside it), with exact values, e.g. for
        ``pandas.DataFrame(profile.rows())``.

        Examples
        --------
        >>> import torch, convops
        >>> model = torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.Conv1d(4, 4, 1))
        >>> p = convops.profile(model, (1, 2, 10))
        >>> [(row["name"], row["total"]) for row in p.rows()]
        [('0', 384), ('1', None), ('2', 256)]
        >>> [(row["path"], row["total"]) for row in p.rows(by="module")]
        [('', 640), ('0', 384), ('1', 0), ('2', 256)]

        See Also
        --------
        table : the same, as text.
        """
        _check_choice("by", by, ("module", "call"))
        if by == "module":
            return [row.as_dict() for row in self._module_rows()]
        columns = ("name", "kind", "input_shape", "output_shape", *TOTALS)
        with_backward = any(layer.backward is not None for layer in self.layers)
        return [{c: getattr(layer, c) for c in columns}
                | ({"backward_total": layer.backward_total} if with_backward else {})
                | {"note": layer.note} for layer in self.layers]

    def formula(self, quantity: str = "total", module: str | None = None):
        """``quantity`` (``total``, ``multiplications``, ``additions`` or ``backward_total``) of
        the model, or of the module at path ``module`` (its subtree's convolutions): an int, or a
        sympy expression for a symbolic profile.

        Examples
        --------
        >>> import torch, convops
        >>> model = torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.Conv1d(4, 4, 1))
        >>> p = convops.profile(model, (1, 2, 10))
        >>> p.formula(), p.formula("multiplications", module="2")
        (640, 128)
        >>> convops.profile(model, (1, 2, "L")).formula()
        Piecewise((80*L - 160, L >= 3), (nan, True))

        See Also
        --------
        latex : the same in LaTeX.
        """
        _check_choice("quantity", quantity, (*TOTALS, "backward_total"))
        rows = {row.path: row for row in self._module_rows()}
        path = "" if module in (None, *_ROOT_NAMES) else module
        if path not in rows:
            raise ConvopsError(f"module={module!r} is not a module that ran; the modules are "
                               + ", ".join(repr(p) for p in list(rows)[1:9]) + " …")
        value = getattr(rows[path], quantity)
        if value is None:
            raise ConvopsError(f"{quantity} needs the backward pass: profile with backward=True")
        return value

    def latex(self, quantity: str = "total", module: str | None = None) -> str:
        """LaTeX of :meth:`formula` (same arguments), from convops' printer.

        Examples
        --------
        >>> import torch, convops
        >>> p = convops.profile(torch.nn.Conv1d(2, 4, 3), (1, 2, "L"))
        >>> "48 L - 96" in p.latex(), "not traced" in p.latex()  # each region's formula
        (True, True)

        See Also
        --------
        formula : the sympy expression.
        """
        return latex_of(self._printable(sp.sympify(self.formula(quantity, module))))

    def to_json(self) -> str:
        """The profile as the JSON document ``convops profile --json`` prints: keys ``model``,
        ``inputs``, ``mode``, ``totals``, ``modules``, ``calls``, ``not_counted``.  Counts are
        exact JSON integers; a symbolic profile's are formulas (strings), with their LaTeX under
        ``latex`` in ``totals`` and in each module.

        Examples
        --------
        >>> import json, torch, convops
        >>> document = json.loads(convops.profile(torch.nn.Conv1d(2, 4, 3), (1, 2, 10)).to_json())
        >>> sorted(document), document["totals"]["total"]
        (['calls', 'inputs', 'mode', 'model', 'modules', 'not_counted', 'totals'], 384)

        See Also
        --------
        rows : the rows of ``calls`` and ``modules``.
        """
        value = _json_value(self._printable)
        rows = self._module_rows()
        quantities = (*TOTALS, "backward_total")
        totals = {q: value(rows[0].__getattribute__(q)) for q in quantities}
        totals |= {"macs": totals["multiplications"], "flops": value(2 * rows[0].multiplications)}
        symbolic = is_formula(rows[0].total)
        if symbolic:
            totals["latex"] = {q: self.latex(q) for q in TOTALS}
        modules = []
        for row in rows:
            entry = {k: value(v) for k, v in row.as_dict().items()}
            if symbolic:
                entry["latex"] = {"total": latex_of(self._printable(sp.sympify(row.total)))}
            modules.append(entry)
        calls = [{k: value(v) for k, v in call.items()} for call in self.rows("call")]
        not_counted = [{"op": op, "calls": n, "pass": label} for label, named in (
            ("forward", "not counted"), ("backward", "(backward)")) for op, n in tally(
            layer.op for layer in self.layers if layer.breakdown is None and layer.op
            and (layer.name == "(backward)") == (label == "backward")
            and not _computes_nothing(layer))]
        document = {"model": self.model_name, "inputs": self.inputs,
                    "mode": self.mode, "totals": totals, "modules": modules,
                    "calls": calls, "not_counted": not_counted}
        return json.dumps(document, indent=2, ensure_ascii=False)

    # -- a picture -----------------------------------------------------------------------------
    def plot_modules(self, depth: int = 1, ax: Any = None) -> Any:
        """A bar chart of the operations of each module at ``depth`` that holds a counted
        convolution, the backward pass's beside it when counted; draws on ``ax`` (default: a new
        figure's) with matplotlib and returns the axes.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import torch, convops
        >>> model = torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.Conv1d(4, 4, 1))
        >>> p = convops.profile(model, (1, 2, 10))
        >>> [int(bar.get_height()) for bar in p.plot_modules().patches]
        [384, 256]
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError as error:
            raise ConvopsError("plot_modules draws with matplotlib, which is not installed: "
                               "pip install matplotlib") from error
        rows = [row for row in self._module_rows() if row.depth == depth and row.convolutions]
        if not rows:
            raise ConvopsError(f"no module at depth={depth} holds a counted convolution")
        if any(is_formula(row.total) for row in rows):
            raise ConvopsError("plot_modules draws numbers: plot a symbolic profile at sizes, "
                               "e.g. profile.at(H=224, W=224).plot_modules()")
        ax = ax or plt.figure(figsize=(max(4.0, 0.6 * len(rows) + 1.5), 3.2)).gca()
        with_backward = rows[0].backward_total is not None
        width = 0.4 if with_backward else 0.7
        positions = range(len(rows))
        shift = width / 2 if with_backward else 0
        ax.bar([x - shift for x in positions], [row.total for row in rows], width,
               label="forward")
        if with_backward:
            ax.bar([x + shift for x in positions], [row.backward_total for row in rows], width,
                   label="backward")
            ax.legend()
        ax.set_xticks(list(positions), [row.path for row in rows],
                      rotation=45 if len(rows) > 6 else 0, ha="right" if len(rows) > 6 else "center")
        ax.set_ylabel("operations")
        ax.yaxis.set_major_formatter(_axis_units(max(max(row.total, row.backward_total or 0)
                                                     for row in rows)))
        ax.grid(False, axis="x")  # bars need no vertical lines through them
        return ax


def _axis_units(largest: int):
    """A matplotlib tick formatter in the unit (K, M, G …) of ``largest``: ``20G``."""
    from matplotlib.ticker import FuncFormatter

    power = 0
    while largest >= 1000 ** (power + 1) and power < 6:
        power += 1
    suffix = " KMGTPE"[power].strip()
    return FuncFormatter(lambda value, _: f"{value / 1000 ** power:g}{suffix}")


def _kind(model: torch.nn.Module, path: str) -> str:
    if not isinstance(model, torch.nn.Module):
        return "-"
    try:
        return type(model.get_submodule(path)).__name__
    except AttributeError:
        return "-"


def _check_choice(name: str, value, choices: tuple) -> None:
    if value not in choices:
        raise ConvopsError(f"{name}={value!r} must be one of {', '.join(map(repr, choices))}")


def _json_value(printable):
    def value(v):
        if isinstance(v, sp.Basic):
            return int(v) if v.is_Integer else str(printable(v))
        if isinstance(v, tuple):
            return [value(item) for item in v]
        return v
    return value
