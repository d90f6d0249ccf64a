"""Helpers for the executed notebooks: equations, formula-against-measurement tables, plot style.

Every notebook step pairs a formula of :mod:`convops.derivation` with a measurement on a concrete
torch layer.  :func:`equation` renders the formula; :func:`measure` takes the measurements (the
module's real output shape, the instrumented :func:`convops.reference.run`, ``FlopCounterMode``);
:func:`comparison` lays both side by side as a table.  Nothing here computes a count of its own:
formula values come from :func:`convops.breakdown`, measured ones from executing torch.
"""

from __future__ import annotations

import html
import re
import warnings
from dataclasses import dataclass
from typing import Sequence

import sympy as sp
import torch

from convops.count import Breakdown, breakdown
from convops.derivation import derive, kind_of
from convops.layer import Layer
from convops.reference import flop_counter_flops, run
from convops.symbols import latex, rendered_length

from .figures import COLORS, Figure, figure, plot_style

__all__ = ["Measurement", "Table", "cases_table", "comparison", "conditions_equation", "describe_layer",
           "layers_table", "equation", "measure", "number_text", "parameters", "profile_equation",
           "plot_sweeps", "draw_sweeps", "named", "step", "sweep", "symbol_values", "vary_labels",
           "verdict", "ROWS", "STEP_ROWS"]


# -- equations -----------------------------------------------------------------------------------
#: The width, in characters of the rendered formula (:func:`convops.symbols.rendered_length`),
#: past which a displayed formula breaks over lines: what fits the site's column at 1280 px.
WIDTH = 48


#: :data:`WIDTH` for lines of conditions: their floors of fractions render about twice as wide
#: as :func:`convops.symbols.rendered_length` counts them.
CONDITIONS_WIDTH = WIDTH // 2


def equation(source, quantity: str | None = None, module: str | None = None):
    """An equation as ``IPython.display.Math``, printed with convops' symbol names, its sums
    broken over lines past :data:`WIDTH` and led by the name of the module it belongs to.

    ``source`` is a sympy equation (of ``module``, where given), or a module kind (a module,
    class or name such as ``"Conv2d"``) whose derivation's equation ``quantity`` is shown: one of
    :meth:`convops.Derivation.equations`' keys (``"psi"``, ``"lam"``, ``"total_bias"`` …).
    """
    from IPython.display import Math

    if not isinstance(source, sp.Basic):
        d = derive(source)
        equations = {**d.equations(), **d.indexed_equations()}
        if quantity not in equations:
            raise ValueError(f"quantity must be one of {', '.join(equations)}, got {quantity!r}")
        module, source = d.name, equations[quantity]
    return Math(named(module, latex(source, width=WIDTH)))


def named(module: str | None, tex: str) -> str:
    """``tex`` led by ``module``'s name, so that formulas of two modules never look alike.

    Examples
    --------
    >>> print(named("ConvTranspose2d", r"\\psi = 1"), named(None, "x"))
    \\text{ConvTranspose2d:}\\quad \\psi = 1 x
    >>> print(named("Conv1d", r"\\text{Conv1d}_{\\text{ops}} = 2"))  # named already
    \\text{Conv1d}_{\\text{ops}} = 2
    """
    if not module or rf"\text{{{module}}}" in tex:
        return tex
    return rf"\text{{{module}:}}\quad {tex}"


def profile_equation(lhs: str, profile, quantity: str = "total", factor: sp.Expr = sp.S.One):
    """``quantity`` of a symbolic ``profile`` (:class:`convops.SymbolicProfile`), times
    ``factor``, as a displayed equation with the left side ``lhs`` (LaTeX), its sum broken over
    lines past :data:`WIDTH` as every formula of the book, floors written as the profile's own
    ``latex`` writes them."""
    from IPython.display import Math

    side = sp.Symbol("convopslhs")  # a stand-in, printed as its name, for the left side
    expr = factor * profile._printable(sp.sympify(profile.formula(quantity)))
    return Math(latex(sp.Eq(side, expr, evaluate=False), width=WIDTH).replace(side.name, lhs, 1))


def conditions_equation(conditions: str):
    r"""``conditions`` (LaTeX, separated by ``,\quad`` as ``SymbolicProfile.latex("guards")``
    writes them) as displayed math, as many on a line as fit :data:`CONDITIONS_WIDTH`.

    Examples
    --------
    >>> conditions_equation(r"a \neq 1,\quad b \neq 1").data
    '\\begin{gathered} a \\neq 1,\\quad b \\neq 1 \\end{gathered}'
    """
    from IPython.display import Math

    lines, line = [], ""
    for condition in conditions.split(r",\quad "):
        if line and rendered_length(f"{line},\\quad {condition}") > CONDITIONS_WIDTH:
            lines.append(line + ",")
            line = ""
        line = f"{line},\\quad {condition}" if line else condition
    return Math(r"\begin{gathered} " + r"\\ ".join([*lines, line]) + r" \end{gathered}")


# -- measurements --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Measurement:
    """What executing torch shows about one layer on one input, with no formula involved.

    ``filters`` counts the kernels in ``module.weight`` (one per connected channel pair);
    ``per_filter`` is the instrumented count of a one-channel copy of the layer without bias, that
    is of one filter alone; ``multiplications`` and ``additions`` are the instrumented counts of
    the whole layer, whose output ``matches_torch`` (within float tolerance).
    """

    output_shape: tuple[int, ...]
    filters: int
    per_filter: int
    multiplications: int
    additions: int
    flop_counter: int
    matches_torch: bool
    batch: int

    @property
    def total(self) -> int:
        """Multiplications plus additions of the instrumented run."""
        return self.multiplications + self.additions

    @property
    def aggregation(self) -> int:
        """Operations per sample that are not inside a filter: ``total / N - filters * per_filter``."""
        return self.total // max(self.batch, 1) - self.filters * self.per_filter


def _single_filter(module: torch.nn.Module) -> torch.nn.Module:
    """A one-input-channel, one-output-channel copy of ``module`` without bias: one filter."""
    layer = Layer.from_module(module)._replace(in_channels=1, out_channels=1, groups=1, bias=False)
    return layer.to_module(dtype=module.weight.dtype)


def measure(module: torch.nn.Module, input_shape: Sequence[int], seed: int = 0) -> Measurement:
    """Run ``module`` on a seeded random input of ``input_shape`` and record what torch shows.

    The instrumented run is checked against ``module(x)``; ``matches_torch`` says whether they
    agree.  Spatial sizes are per sample, so ``per_filter`` uses an unbatched single channel.
    """
    generator = torch.Generator().manual_seed(seed)
    dtype = module.weight.dtype
    x = torch.randn(tuple(input_shape), generator=generator, dtype=dtype)
    with torch.no_grad(), warnings.catch_warnings():
        # torch's note that 'same' with an even kernel copies the input: about speed, not counts.
        warnings.filterwarnings("ignore", message="Using padding='same'")
        expected = module(x)
        output, counter = run(module, x)
        single = _single_filter(module)
        ndim = kind_of(module).ndim
        _, one = run(single, torch.randn((1, *x.shape[-ndim:]), generator=generator, dtype=dtype))
    tolerance = dict(rtol=1e-4, atol=1e-5) if dtype == torch.float32 else {}
    batch = x.shape[0] if x.dim() == ndim + 2 else 1
    return Measurement(
        output_shape=tuple(expected.shape),
        filters=module.weight.shape[0] * module.weight.shape[1],
        per_filter=one.total,
        multiplications=counter.multiplications,
        additions=counter.additions,
        flop_counter=flop_counter_flops(module, tuple(input_shape)),
        matches_torch=output.shape == expected.shape and torch.allclose(output, expected, **tolerance),
        batch=batch,
    )


# -- tables --------------------------------------------------------------------------------------
#: The rows :func:`comparison` can show: key -> (label, how it is measured, formula, measured).
ROWS = {
    "output_shape": ("output shape", "module(x).shape",
                     lambda b: b.output_shape, lambda m: m.output_shape),
    "psi": ("ψ (filters)", "weight.shape[0] · weight.shape[1]",
            lambda b: b.psi, lambda m: m.filters),
    "lam": ("λ (operations per filter)", "instrumented run of one filter",
            lambda b: b.lam, lambda m: m.per_filter),
    "gamma": ("γ (aggregation + bias)", "instrumented total / N − ψ·λ",
              lambda b: b.gamma, lambda m: m.aggregation),
    "multiplications": ("multiplications", "instrumented run",
                        lambda b: b.multiplications, lambda m: m.multiplications),
    "additions": ("additions", "instrumented run",
                  lambda b: b.additions, lambda m: m.additions),
    "total": ("total", "instrumented run",
              lambda b: b.total, lambda m: m.total),
    "flop_counter": ("multiplications = FlopCounterMode / 2", "FlopCounterMode FLOPs / 2",
                     lambda b: b.multiplications, lambda m: m.flop_counter / 2),
}


def number_text(value) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(map(str, value)) + ")"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, int) else str(value)


_NUMBER = re.compile(r"-?[\d,]+(\.\d+)?( ✓)?")


def _cell_html(cell: str, label: str) -> str:
    """A table cell, numbers aligned right so that their digits line up; ``data-label`` names
    its column where a narrow page stacks the row as a card (``data-cards``, docs/stylesheets/convops.css)."""
    number = " convops-number" if _NUMBER.fullmatch(cell) else ""
    verdict = " convops-verdict" if cell in ("✓", "✗") else ""
    classes = f' class="{(number + verdict).strip()}"' if number or verdict else ""
    return f'<td{classes} data-label="{html.escape(label)}">{html.escape(cell)}</td>'


_VERDICT_HEAD = ' class="convops-verdict"'


def verdict(row: Sequence[str]) -> str:
    """✗ where a cell of ``row`` is ✗ or shows a difference (``≠``), ✓ otherwise.

    Examples
    --------
    >>> verdict(("total", "12 ✓")), verdict(("total", "12 ≠ 13")), verdict(("ψ", "4", "✗"))
    ('✓', '✗', '✗')
    """
    return "✗" if any(cell == "✗" or "≠" in cell for cell in row) else "✓"


@dataclass(frozen=True)
class Table:
    """A small table that Jupyter shows as HTML, with Markdown and plain-text forms as well.

    ``layers`` names, row by row, the layer a row checks against torch (empty for a table that
    checks nothing); the HTML carries them, with each row's :func:`verdict`, so that the site
    counts the layers a page verified (:func:`convops_book.site.verified_layers`).
    """

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""
    layers: tuple[str, ...] = ()

    def _shown(self) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
        """Header and rows as shown: a last column of verdicts (✓/✗, untitled) comes first, so
        that a reader sees it even where the table is wider than the page."""
        verdicts = self.header and self.header[-1] == "" and all(
            row[-1] in ("✓", "✗") for row in self.rows)
        if not verdicts:
            return self.header, self.rows
        return (self.header[-1:] + self.header[:-1],
                tuple(row[-1:] + row[:-1] for row in self.rows))

    def _row_html(self, index: int, row: tuple[str, ...], header: tuple[str, ...]) -> str:
        checked = (f' data-layer="{html.escape(self.layers[index])}" data-verdict="{verdict(row)}"'
                   if self.layers else "")
        return (f"<tr{checked}>" + "".join(_cell_html(cell, label) for cell, label in zip(row, header))
                + "</tr>")

    def _repr_html_(self) -> str:
        header, rows = self._shown()
        head = "".join(f"<th{'' if cell else _VERDICT_HEAD}>{html.escape(cell)}</th>"
                       for cell in header)
        body = "".join(self._row_html(i, row, header) for i, row in enumerate(rows))
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return (f'<table data-cards>{caption}<thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table>")

    def _repr_markdown_(self) -> str:
        header, rows = self._shown()
        lines = [f"**{self.caption}**", ""] if self.caption else []
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + " --- |" * len(header))
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)

    def __repr__(self) -> str:
        header, rows = self._shown()
        widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
        lines = [self.caption] if self.caption else []
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()
                  for row in (header, *rows)]
        return "\n".join(lines)

    def _replace_caption(self, caption: str) -> "Table":
        """This table with ``caption``."""
        return Table(self.header, self.rows, caption, self.layers)

    def without_column(self, name: str) -> "Table":
        """This table without the column ``name`` (the header's first such column)."""
        i = self.header.index(name)
        return Table(self.header[:i] + self.header[i + 1:],
                     tuple(row[:i] + row[i + 1:] for row in self.rows), self.caption, self.layers)

    @property
    def all_equal(self) -> bool:
        """Whether every row's formula value equals its measured one (last column is ✓)."""
        return all(row[-1] == "✓" for row in self.rows)


def describe_layer(module: torch.nn.Module, input_shape: Sequence[int]) -> str:
    """A one-line description of ``module`` on ``input_shape``, e.g. ``Conv1d(4, 6, ...) on (2, 4, 10)``."""
    return f"{module!r} on input {number_text(tuple(input_shape))}"


def _arguments(module: torch.nn.Module) -> dict[str, str]:
    """The constructor arguments ``repr(module)`` shows, by name (the channels by theirs)."""
    parts, depth, current = [], 0, ""
    for char in module.extra_repr():
        depth += char in "(["
        depth -= char in ")]"
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    named = {"in_channels": parts[0], "out_channels": parts[1]}
    named.update(part.split("=", 1) for part in parts[2:])
    return named


def vary_labels(modules: Sequence[torch.nn.Module]) -> tuple[str, list[str]]:
    """What ``modules`` share, as a constructor call, and each one's label: the arguments in
    which it differs from the others (``padding_mode=reflect``).  Modules of different kinds, or
    differing in more than two arguments, are each labelled by their ``repr``.

    Examples
    --------
    >>> common, labels = vary_labels([torch.nn.Conv1d(2, 2, 3, groups=g) for g in (1, 2)])
    >>> common, labels
    ('Conv1d(2, 2, kernel_size=(3,), stride=(1,))', ['groups=1', 'groups=2'])
    """
    arguments = [_arguments(m) for m in modules]
    defaults = {"groups": "1", "bias": "True", "padding_mode": "zeros"}
    names = list(dict.fromkeys(name for a in arguments for name in a))
    varying = [n for n in names if len({a.get(n, defaults.get(n)) for a in arguments}) > 1]
    if len({type(m) for m in modules}) > 1 or len(modules) < 2 or len(varying) > 2:
        return "", [repr(m) for m in modules]
    shared = ", ".join(value if name.endswith("channels") else f"{name}={value}"
                       for name, value in arguments[0].items() if name not in varying)
    labels = [", ".join(f"{n}={a.get(n, defaults.get(n))}" for n in varying) for a in arguments]
    return f"{type(modules[0]).__name__}({shared})", labels


def measured_by_caption(table: Table) -> Table:
    """``table`` without its "measured by" column where every row was measured the same way:
    the caption says how, once."""
    i = table.header.index("measured by")
    how = {row[i] for row in table.rows}
    if len(how) != 1:
        return table
    return table.without_column("measured by")._replace_caption(
        f"{table.caption}; torch measured by: {how.pop()}")


def comparison(module: torch.nn.Module, input_shape: Sequence[int],
               rows: Sequence[str] = tuple(ROWS), seed: int = 0) -> Table:
    """Formula (convops) against measurement (torch) for ``module`` on ``input_shape``.

    ``rows`` picks keys of :data:`ROWS`.  Each row shows the quantity, its value from
    :func:`convops.breakdown`, its value from executing torch (:func:`measure`), how that was
    measured (in the caption where it is the same for every row), and ✓ where the two are
    equal.  Raises ``ValueError`` if the instrumented run's output differs from ``module(x)``
    (the measurement would then be of something else).
    """
    unknown = [row for row in rows if row not in ROWS]
    if unknown:
        raise ValueError(f"rows={list(rows)!r}: unknown {unknown}; choose from {', '.join(ROWS)}")
    formula: Breakdown = breakdown(module, tuple(input_shape))
    measured = measure(module, input_shape, seed=seed)
    if not measured.matches_torch:
        raise ValueError(f"the instrumented run of {module!r} does not reproduce module(x)")
    body = []
    for key in rows:
        label, how, from_formula, from_torch = ROWS[key]
        a, b = from_formula(formula), from_torch(measured)
        body.append((label, number_text(a), number_text(b), how, "✓" if a == b else "✗"))
    layer = describe_layer(module, input_shape)
    return measured_by_caption(Table(("quantity", "convops", "torch", "measured by", ""),
                                     tuple(body), caption=layer, layers=(layer,) * len(body)))


def layers_table(cases: Sequence[tuple[torch.nn.Module, Sequence[int]]],
                 rows: Sequence[str] = ("multiplications", "flop_counter", "total")) -> Table:
    """One line per ``(module, input_shape)`` of ``cases``, one column per quantity of ``rows``.

    Each cell is the convops value followed by ✓ where the measurement (:func:`measure`) agrees,
    or by ``≠`` and the measured value where it does not; keys are those of :data:`ROWS`.
    Layers are labelled by what varies, what they share is the caption (:func:`cases_table`).
    """
    unknown = [row for row in rows if row not in ROWS]
    if unknown:
        raise ValueError(f"rows={list(rows)!r}: unknown {unknown}; choose from {', '.join(ROWS)}")
    body = []
    for module, shape in cases:
        formula, measured = breakdown(module, tuple(shape)), measure(module, shape)
        cells = []
        for key in rows:
            a, b = ROWS[key][2](formula), ROWS[key][3](measured)
            cells.append(f"{number_text(a)} ✓" if a == b else f"{number_text(a)} ≠ {number_text(b)}")
        body.append(tuple(cells))
    return cases_table(cases, tuple(ROWS[key][0] for key in rows), body)


def cases_table(cases: Sequence[tuple[torch.nn.Module, Sequence[int]]], header: Sequence[str],
                body: Sequence[Sequence[str]], caption: str = "") -> Table:
    """A table of one row per ``(module, input_shape)`` of ``cases`` with the cells ``body``
    under ``header``: each row labelled by what varies (:func:`vary_labels`), the input shape
    in the caption where it is the same for all, what the layers share in the caption."""
    modules = [module for module, _ in cases]
    shapes = [number_text(tuple(shape)) for _, shape in cases]
    common, labels = vary_labels(modules)
    same_input = len(cases) > 1 and len(set(shapes)) == 1
    head = ("layer", *(() if same_input else ("input",)), *header)
    rows = tuple((label, *(() if same_input else (shape,)), *cells)
                 for label, shape, cells in zip(labels, shapes, body))
    shared = f" on input {shapes[0]}" if same_input else ""
    shared = f"{common or 'every layer'}{shared}" if common or shared else ""
    text = "; ".join(filter(None, [shared, caption]))
    return Table(head, rows, text, tuple(describe_layer(m, s) for m, s in cases))


#: The rows :func:`step` shows after each equation of the derivation.
STEP_ROWS = {
    "psi": ("psi",),
    "lam": ("lam",),
    "gamma": ("gamma",),
    "total": ("total", "multiplications", "additions"),
    "total_bias": ("total", "flop_counter"),
    "total_no_bias": ("total", "flop_counter"),
}


def step(module: torch.nn.Module, input_shape: Sequence[int], quantity: str,
         rows: Sequence[str] | None = None, seed: int = 0) -> None:
    """Display one step of the derivation: the equation, then formula against measurement.

    Shows :func:`equation` of ``quantity`` for ``module``'s kind, then :func:`comparison` with the
    rows :data:`STEP_ROWS` gives for it (``output_shape`` for ``output_size_*``, all rows for any
    other quantity) unless ``rows`` is given.
    """
    from IPython.display import display

    if rows is None:
        rows = ("output_shape",) if quantity.startswith("output_size") else STEP_ROWS.get(quantity, tuple(ROWS))
    display(equation(module, quantity), comparison(module, input_shape, rows=rows, seed=seed))


def symbol_values(module: torch.nn.Module, input_shape: Sequence[int]) -> dict:
    """The value of every symbol of the derivation for ``module`` on ``input_shape``, for ``subs``.

    Sizes are the ones torch produces.  Padding is per side; where torch pads unevenly
    (``'same'`` with an even kernel) ``p`` is half the total padding, a sympy ``Rational``, so
    that the output-size formula, written with ``2p``, still holds.
    """
    layer = Layer.from_module(module)
    S = derive(layer.kind.name).symbols
    b = breakdown(module, tuple(input_shape))
    ndim = layer.kind.ndim
    size_in = tuple(input_shape)[-ndim:]
    if layer.kind.transposed:
        padding = layer.padding
    else:
        padding = tuple(sp.Rational(a + c, 2) for a, c in layer.padding_per_side(size_in))
    values = {S.N: b.batch, S.C_in: layer.in_channels, S.C_out: layer.out_channels,
              S.g: layer.groups, S.b: int(layer.bias)}
    per_dim = [(S.size_in, size_in), (S.size_out, b.output_shape[-ndim:]), (S.k, layer.kernel_size),
               (S.s, layer.stride), (S.d, layer.dilation), (S.p, padding)]
    if layer.kind.transposed:
        per_dim.append((S.q, layer.output_padding))
    for symbols, numbers in per_dim:
        values.update(zip(symbols, map(sp.sympify, numbers)))
    return values


def parameters(module: torch.nn.Module, input_shape: Sequence[int]) -> Table:
    """The value of every symbol of the derivation for ``module`` on ``input_shape``, as a table.

    Uneven padding (``'same'`` with an even kernel) is shown per side, ``before+after``.
    """
    layer = Layer.from_module(module)
    S = derive(layer.kind.name).symbols
    values = {sym: str(value) for sym, value in symbol_values(module, input_shape).items()}
    if not layer.kind.transposed:
        size_in = tuple(input_shape)[-layer.kind.ndim:]
        for sym, (a, c) in zip(S.p, layer.padding_per_side(size_in)):
            values[sym] = str(a) if a == c else f"{a}+{c}"
    meaning = S.describe()
    rows = tuple((f"${latex(sym)}$", meaning[sym], value) for sym, value in values.items())
    return Table(("symbol", "meaning", "value"), rows, caption=describe_layer(module, input_shape))


# -- sweeps and plots ----------------------------------------------------------------------------
def sweep(make_module, values: Sequence, input_shape: Sequence[int]) -> list[int]:
    """``count_ops`` of ``make_module(v)`` on ``input_shape`` for each ``v`` in ``values``."""
    return [breakdown(make_module(v), tuple(input_shape)).total for v in values]


def plot_sweeps(make_module, input_shape: Sequence[int], sweeps: dict[str, Sequence]) -> "Figure":
    """A row of panels, one per parameter of ``sweeps``: operations against that parameter.

    ``make_module(**{name: value})`` builds the layer for each value (the other parameters at the
    defaults of ``make_module``).  Each panel plots convops' total and its multiplications, with
    ``FlopCounterMode`` FLOPs / 2 as markers on the multiplications (:func:`draw_sweeps`).
    Returns a :class:`Figure` whose alt text names the layer, the swept values and what is
    plotted.
    """
    base = make_module()
    swept = "; ".join(f"{name} {', '.join(map(str, values))}" for name, values in sweeps.items())
    alt = (f"{len(sweeps)} panels, operations on a log scale against one parameter each of "
           f"{base!r} on input {number_text(tuple(input_shape))} ({swept}): convops' total, its "
           f"multiplications, and FlopCounterMode FLOPs / 2 as crosses on the multiplications.")
    caption = ("Operations of one layer as one parameter varies at a time: convops' total and "
               "multiplications; FlopCounterMode's FLOPs / 2 land on the multiplications.")
    return figure(draw_sweeps(make_module, input_shape, sweeps), alt, caption)


def draw_sweeps(make_module, input_shape: Sequence[int], sweeps: dict[str, Sequence]):
    """The matplotlib figure of :func:`plot_sweeps` (drawn with :func:`plot_style`)."""
    import matplotlib
    import matplotlib.pyplot as plt

    with matplotlib.rc_context(plot_style()):
        fig, axes = plt.subplots(1, len(sweeps), figsize=(2.4 * len(sweeps), 2.8),
                                 layout="constrained", squeeze=False)
        for ax, (name, values) in zip(axes[0], sweeps.items()):
            modules = [make_module(**{name: value}) for value in values]
            counts = [breakdown(m, tuple(input_shape)) for m in modules]
            flops = [flop_counter_flops(m, tuple(input_shape)) / 2 for m in modules]
            ax.plot(values, [c.total for c in counts], marker="o", label="convops total")
            ax.plot(values, [c.multiplications for c in counts], marker="s",
                    label="convops multiplications")
            ax.plot(values, flops, linestyle="none", marker="x", markersize=9, color=COLORS[2],
                    label="FlopCounterMode / 2")
            ax.set_xlabel(name)
            ax.set_xticks(list(values))
            ax.set_yscale("log")
        axes[0][0].set_ylabel("operations")
        fig.legend(*axes[0][0].get_legend_handles_labels(), loc="outside lower center", ncols=3)
    return fig
