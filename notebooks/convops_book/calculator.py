"""The site's calculator: its JavaScript formulas, printed at site build, and its markup.

:func:`formulas_module` prints, for each of the six kinds, the very expressions
:func:`convops.count_ops` and :func:`convops.breakdown` compile (:mod:`convops.plans`'
``forward_formulas``, ``backward_formulas`` and ``fold_formulas``) as JavaScript over BigInt,
with :func:`convops.compiler.javascript`; the functions they call come from
``convops/runtime.js``.  The hand-written ``docs/javascripts/calculator.js`` parses and checks
the layer as :mod:`convops.layer` does and calls these functions: it holds no formula.

:func:`calculator_html` is the calculator's markup, for the Calculator page and for the
calculator under each module page's formula summary (prefilled with the page's example layer,
:func:`example_layer`).
"""

from __future__ import annotations

import ast
import html
import inspect
import json
import re
from pathlib import Path
from typing import Mapping

import sympy as sp

import convops
from convops import algorithms, plans
from convops.compiler import javascript
from convops.cook_toom import DEFAULT_POINTS
from convops.derivation import KINDS, derive
from convops.symbols import GAMMA, LAM, PSI, latex

from .backward import backward_anchor
from .site import anchor

#: The runtime the printed formulas call, shipped with convops (``convops/runtime.js``).
RUNTIME = Path(convops.__file__).parent / "runtime.js"

#: Each printed function's name, by what it computes and the kind.
_FUNCTIONS = {"forward": plans.forward_formulas, "backward": plans.backward_formulas,
              "fold": plans.fold_formulas}


def function_source(name: str, arguments, outputs, intermediates=()) -> str:
    """A JavaScript function ``name(*arguments)`` returning ``outputs`` (one expression or a
    list), each intermediate ``(symbol, definition)`` a ``const``, as :func:`compile_int` computes
    them in Python.

    Examples
    --------
    >>> x, y = sp.symbols("x y", integer=True)
    >>> print(function_source("f", (x,), [x + 1], [(y, 2 * x)]))
    export function f(x) {
      const y = 2n*x;
      return [x + 1n];
    }
    """
    body = [f"  const {symbol} = {javascript(definition)};" for symbol, definition in intermediates]
    if isinstance(outputs, (list, tuple)):
        result = "[" + ", ".join(javascript(output) for output in outputs) + "]"
    else:
        result = javascript(outputs)
    return "\n".join([f"export function {name}({', '.join(map(str, arguments))}) {{", *body,
                      f"  return {result};", "}"])


def total_template(name: str) -> dict[str, str]:
    """The total's formula as the site prints it, and its right-hand side with ``@N@``,
    ``@psi@``, ``@lam@``, ``@gamma@`` where the calculator writes the numbers.

    Examples
    --------
    >>> print(total_template("Conv1d")["numbers"])
    @N@ \\cdot \\left(@psi@ \\cdot @lam@ + @gamma@\\right)
    """
    d = derive(name)
    numbers = latex(d.equations()["total"].rhs, mul_symbol="dot")
    for symbol in (d.symbols.N, PSI, LAM, GAMMA):
        numbers = re.sub(rf"{re.escape(latex(symbol))}(?![A-Za-z])", f"@{symbol.name}@", numbers)
    return {"formula": d.latex("total"), "numbers": numbers}


def anchors(name: str, pages: Mapping[str, str]) -> dict[str, str]:
    """The link to each term's derivation, relative to the site's root; ``pages`` maps a
    kind's name, and ``"backward"``, to its page's URL."""
    page, backward = pages[name], pages["backward"]
    links = {q: f"{page}#{anchor(name, q)}" for q in ("psi", "lam", "gamma", "total", "output_size")}
    if derive(name).kind.transposed:
        links["A"] = f"{page}#{anchor(name, 'A')}"
    else:
        links["fold"] = f"{backward}#{backward_anchor(name, 'fold')}"
    for g in ("input", "weight", "bias"):
        for quantity in ("multiplications", "additions"):
            links[f"grad_{g}.{quantity}"] = f"{backward}#{backward_anchor(name, f'{g}_{quantity}')}"
    return links


def layer_defaults() -> dict[str, str]:
    """The defaults :meth:`convops.Layer.create` gives the arguments a layer's text leaves out,
    written as Python literals (the calculator reads them as it reads the text)."""
    parameters = inspect.signature(convops.Layer.create).parameters.values()
    return {p.name: repr(p.default) for p in parameters if p.default is not inspect.Parameter.empty}


def formulas_module(pages: Mapping[str, str]) -> str:
    """The calculator's generated ES module: ``version``, and per kind its ``forward``,
    ``backward`` and ``fold`` functions, torch's signature of its constructor (and the arguments it requires), its total's formula
    and its terms' links; and ``defaults``, :func:`layer_defaults`."""
    parts = [f"// Printed by convops_book.calculator from convops {convops.__version__} at site "
             "build: a build product, never edited or committed.",
             'import { floorDiv, mod, max, min, gcd, LatticeCount, Saturation } from "./runtime.js";',
             f"export const version = {json.dumps(convops.__version__)};",
             f"export const defaults = {json.dumps(layer_defaults())};"]
    table = []
    for name, kind in KINDS.items():
        for what, formulas in _FUNCTIONS.items():
            parts.append(function_source(f"{what}_{name}", *formulas(name)))
        meta = {"ndim": kind.ndim, "transposed": kind.transposed,
                "signature": list(inspect.signature(kind.module).parameters),
                "required": [p.name for p in inspect.signature(kind.module).parameters.values()
                             if p.default is inspect.Parameter.empty],
                **total_template(name), "links": anchors(name, pages)}
        fast = "" if kind.transposed else f", algorithms: {_algorithms_source(parts, name, kind.ndim)}"
        table.append(f"  {name}: {{ ...{json.dumps(meta)}, forward: forward_{name}, "
                     f"backward: backward_{name}, fold: fold_{name}{fast} }},")
    parts.append("export const kinds = {\n" + "\n".join(table) + "\n};")
    parts.append(f"export const fastTables = {json.dumps(fast_tables())};")
    return "\n".join(parts) + "\n"


#: The Winograd algorithms F(m, r) the calculator's table holds: every one convops derives with
#: its default points (m + r - 2 of them at most), derived at site build.
CALCULATOR_WINOGRAD = len(DEFAULT_POINTS) + 2
#: The largest FFT size the calculator's table holds, 2 ** this.
CALCULATOR_FFT = 24


def fast_tables() -> dict:
    """The 1-d transform costs the printed fast-algorithm functions take: per ``"m,r"`` the
    Winograd transforms' ``[[mult, add] data, filter, inverse]``
    (:func:`convops.algorithms.winograd_costs`), per FFT size its ``[mult, add]``
    (:func:`convops.algorithms.fft_cost`), and the default tile and algorithm names."""
    winograd = {f"{m},{r}": [list(costs[t][0]) for t in ("data", "filter", "inverse")]
                for m in range(1, CALCULATOR_WINOGRAD) for r in range(1, CALCULATOR_WINOGRAD - m + 1)
                for costs in [algorithms.winograd_costs((m,), (r,))]}
    fft = {2 ** e: [int(c) for c in algorithms.fft_cost(2 ** e)] for e in range(CALCULATOR_FFT + 1)}
    return {"winograd": winograd, "fft": fft, "winogradTile": algorithms.DEFAULT_WINOGRAD_TILE,
            "names": list(algorithms.ALGORITHMS)}


def _algorithms_source(parts: list, name: str, ndim: int) -> str:
    """Print each fast algorithm's function for kind ``name`` into ``parts``; the JavaScript
    object that names them, with their stages."""
    entries = []
    for algorithm in algorithms.ALGORITHMS[1:]:
        arguments, outputs, intermediates, stages = algorithms.calculator_formulas(ndim, algorithm)
        parts.append(function_source(f"{algorithm}_{name}", arguments, outputs, intermediates))
        entries.append(f"{algorithm}: {{ stages: {json.dumps(stages)}, count: {algorithm}_{name} }}")
    return "{ " + ", ".join(entries) + " }"


def example_layer(notebook: Path) -> tuple[str, str]:
    """The worked example of a module page: the layer its notebook's first ``layer = …`` cell
    builds, as text ``Layer.parse`` reads, and the cell's ``shape``, as comma-separated ints."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        try:
            assigned = {node.targets[0].id: node.value for node in ast.parse("".join(cell["source"])).body
                        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)}
        except SyntaxError:  # IPython magics
            continue
        if "layer" in assigned and "shape" in assigned:
            shape = ast.literal_eval(assigned["shape"])
            layer = ast.unparse(assigned["layer"]).removeprefix("torch.nn.")
            convops.Layer.parse(layer)  # what the calculator will be given must be a layer
            return layer, ", ".join(map(str, shape))
    raise ValueError(f"{notebook} has no cell assigning `layer` and `shape`")


_FIELDS = (  # name, label, placeholder
    ("in_channels", "in_channels", "3"),
    ("out_channels", "out_channels", "64"),
    ("kernel_size", "kernel_size", "3 or (3, 3)"),
    ("stride", "stride", "1"),
    ("padding", "padding", "0, (1, 2), 'same', 'valid'"),
    ("dilation", "dilation", "1"),
    ("groups", "groups", "1"),
    ("output_padding", "output_padding (transposed)", "0"),
)


def calculator_html(base: str, layer: str, input_shape: str, permalink: bool) -> str:
    """The calculator's markup; ``base`` is the site's root relative to the page, ``layer`` and
    ``input_shape`` prefill it; ``permalink=True`` (the Calculator page) reads the page's query."""
    e = html.escape
    kinds = "".join(f'<option value="{name}">{name}</option>' for name in KINDS)
    fields = "".join(
        f'<label class="convops-calc-field">{e(label)}'
        f'<input name="{name}" type="text" inputmode="text" placeholder="{e(hint)}" autocomplete="off"></label>'
        for name, label, hint in _FIELDS)
    modes = "".join(f'<option value="{m}">{m}</option>' for m in convops.layer.PADDING_MODES)
    return f"""
<div class="convops-calculator" data-base="{e(base)}" data-permalink="{str(permalink).lower()}"
     data-layer="{e(layer)}" data-input="{e(input_shape)}">
<form class="convops-calc-form" autocomplete="off" onsubmit="return false">
<label class="convops-calc-wide">Layer, as Python writes it
<input name="layer" type="text" spellcheck="false" value="{e(layer)}"></label>
<label class="convops-calc-wide">Input shape: (N, C_in, *spatial), or (C_in, *spatial) unbatched
<input name="input" type="text" spellcheck="false" value="{e(input_shape)}"></label>
<details class="convops-calc-fields"><summary>Field by field</summary>
<div class="convops-calc-grid">
<label class="convops-calc-field">kind<select name="kind">{kinds}</select></label>
{fields}
<label class="convops-calc-field">padding_mode<select name="padding_mode">{modes}</select></label>
<label class="convops-calc-field convops-calc-check"><input name="bias" type="checkbox" checked> bias</label>
</div></details>
<fieldset class="convops-calc-backward"><legend>Backward pass</legend>
<label><input name="backward" type="checkbox"> count the backward</label>
<label><input name="grad_input" type="checkbox" checked> grad_input</label>
<label><input name="grad_weight" type="checkbox" checked> grad_weight</label>
<label><input name="grad_bias" type="checkbox" checked> grad_bias</label>
</fieldset>
<fieldset class="convops-calc-backward"><legend>Algorithm (what a fast library runs)</legend>
<label><select name="algorithm">{"".join(f'<option value="{a}">{a}</option>' for a in algorithms.ALGORITHMS)}</select></label>
<label>tile <input name="tile" type="text" spellcheck="false" size="6" placeholder="m or FFT size"></label>
</fieldset>
</form>
<p class="convops-calc-alert" role="alert" hidden></p>
<div class="convops-calc-results" aria-live="polite"></div>
<p><button type="button" class="md-button convops-calc-copy">Copy as Python</button>
<a class="convops-calc-link" href="{e(base)}calculator/">Permalink</a></p>
<pre class="convops-calc-python"><code></code></pre>
<p class="convops-calc-version"></p>
</div>
"""
