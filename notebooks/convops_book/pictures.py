"""Pictures of layers, drawn by the site's one generator (``docs/javascripts/picture.js``) under node.

The calculator draws the reader's layer with ``picture.js`` in the browser; at site build the
same module runs here under node, beside the calculator's own ``calculator.js`` and the formulas
:func:`convops_book.calculator.formulas_module` prints, to put static pictures on the pages:
:func:`pictures` runs it once for a list of layers.  :data:`CASES` is the case list of Dumoulin
and Visin's *A guide to convolution arithmetic for deep learning* (vdumoulin/conv_arithmetic),
per number of spatial dimensions, and one layer with groups; a transposed kind's cases are the
transposes of its convolution's (:func:`cases`), each on its convolution's output size.
"""

from __future__ import annotations

import functools
import html
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

import convops
from convops.derivation import KINDS

from .calculator import RUNTIME, formulas_module

#: ``docs/javascripts``, where the calculator's and the pictures' modules live.
JAVASCRIPTS = Path(__file__).resolve().parents[2] / "docs" / "javascripts"

#: The driver node runs: a JSON list of requests on stdin, a JSON list of results out.
_DRIVER = """\
import { readFileSync } from "node:fs";
import { load } from "./javascripts/calculator.js";
import { picture, pictureSample } from "./javascripts/picture.js";
await load();
const requests = JSON.parse(readFileSync(0, "utf8"));
const results = requests.map((r) => ({
  html: picture(r.layer, r.input, { caption: r.caption ?? "", gather: r.gather ?? true }),
  sample: r.sample ? pictureSample(r.layer, r.input) : null,
}));
process.stdout.write(JSON.stringify(results));
"""

#: The conv_arithmetic cases: (title, kernel, stride, padding, dilation, input size), 2-d; 1-d
#: takes the same in one dimension.
_ARITHMETIC = (
    ("No padding, no strides", 3, 1, 0, 1, 4),
    ("Arbitrary padding, no strides", 4, 1, 2, 1, 5),
    ("Half padding, no strides", 3, 1, 1, 1, 5),
    ("Full padding, no strides", 3, 1, 2, 1, 5),
    ("No padding, strides", 3, 2, 0, 1, 5),
    ("Padding, strides", 3, 2, 1, 1, 5),
    ("Padding, strides (odd)", 3, 2, 1, 1, 6),
    ("Dilation", 3, 1, 0, 2, 7),
)
#: 3-d: fewer and smaller cases (each is drawn as depth slices).
_ARITHMETIC_3D = (
    ("No padding, no strides", (2, 3, 3), 1, 0, 1, (3, 4, 4)),
    ("Half padding, no strides", 3, 1, 1, 1, (2, 4, 4)),
    ("Padding, strides", 3, 2, 1, 1, (3, 5, 5)),
    ("Dilation", (1, 3, 3), 1, 0, (1, 2, 2), (2, 6, 6)),
)
#: One padding mode other than zeros per convolution page (the values it copies are drawn).
_MODES = {1: "circular", 2: "reflect", 3: "replicate"}


def _ints(value, n: int) -> str:
    values = value if isinstance(value, tuple) else (value,) * n
    return str(values[0]) if len(set(values)) == 1 else f"({', '.join(map(str, values))})"


def _shape(size, n: int, channels: int) -> str:
    sizes = size if isinstance(size, tuple) else (size,) * n
    return ", ".join(map(str, (1, channels, *sizes)))


def convolution_cases(ndim: int) -> list[tuple[str, str, str]]:
    """The conv_arithmetic cases of a convolution of ``ndim`` spatial dimensions, a padding mode
    and one with groups: ``(title, layer, input shape)``.

    Examples
    --------
    >>> convolution_cases(2)[2]
    ('Half padding, no strides', 'Conv2d(1, 1, 3, stride=1, padding=1, dilation=1, bias=False)', '1, 1, 5, 5')
    """
    name = f"Conv{ndim}d"
    table = _ARITHMETIC_3D if ndim == 3 else _ARITHMETIC
    cases = []
    for title, k, s, p, d, size in table:
        layer = (f"{name}(1, 1, {_ints(k, ndim)}, stride={_ints(s, ndim)}, padding={_ints(p, ndim)}, "
                 f"dilation={_ints(d, ndim)}, bias=False)")
        cases.append((title, layer, _shape(size, ndim, 1)))
    small = 3 if ndim == 3 else 4
    cases.append((f"Half padding, padding_mode='{_MODES[ndim]}'",
                  f"{name}(1, 1, 3, padding=1, padding_mode='{_MODES[ndim]}', bias=False)",
                  _shape(small, ndim, 1)))
    cases.append(("Groups: 4 input and 4 output channels in 2 groups, with bias",
                  f"{name}(4, 4, 2, groups=2)", _shape(small, ndim, 4)))
    return cases


def transpose(layer: str, input_shape: str) -> tuple[str, str]:
    """The transposed convolution that undoes ``layer``'s shape change: the same kernel, stride,
    padding and dilation, on ``layer``'s output shape, with the output_padding that gives back the
    input size (both from convops' own output sizes).

    Examples
    --------
    >>> transpose("Conv1d(1, 1, 3, stride=2, padding=1, dilation=1, bias=False)", "1, 1, 6")
    ('ConvTranspose1d(1, 1, 3, stride=2, padding=1, dilation=1, bias=False, output_padding=1)', '1, 1, 3')
    """
    shape = tuple(int(x) for x in input_shape.split(","))
    out = convops.breakdown(convops.Layer.parse(layer).to_module(), shape).output_shape
    text = layer.replace("Conv", "ConvTranspose", 1).replace(", padding_mode='zeros'", "")
    back = convops.breakdown(convops.Layer.parse(text).to_module(), out).output_shape
    extra = tuple(a - b for a, b in zip(shape[2:], back[2:]))
    if any(extra):
        text = text[:-1] + f", output_padding={_ints(extra, len(extra))})"
    return text, ", ".join(map(str, out))


def cases(kind: str) -> list[tuple[str, str, str]]:
    """The cases drawn on ``kind``'s page: ``(title, layer, input shape)``; a transposed kind's
    are the transposes of its convolution's (the padding mode's case left out: zeros only).

    Examples
    --------
    >>> cases("ConvTranspose2d")[0]
    ('No padding, no strides, transposed', 'ConvTranspose2d(1, 1, 3, stride=1, padding=0, dilation=1, bias=False)', '1, 1, 2, 2')
    """
    spec = KINDS[kind]
    forward = convolution_cases(spec.ndim)
    if not spec.transposed:
        return forward
    return [(f"{title}, transposed", *transpose(layer, shape))
            for title, layer, shape in forward if "padding_mode" not in layer]


def _pages() -> dict[str, str]:
    return {**{name: f"notebooks/{name.lower()}/" for name in KINDS}, "backward": "notebooks/training_cost/"}


def pictures(requests: Sequence[Mapping], pages: Mapping[str, str] | None = None) -> list[dict]:
    """Run ``picture.js`` under node on each request ``{"layer", "input", "caption"?,
    "gather"? (false: a transposed layer's scatter view only), "sample"?}``: ``[{"html", "sample"}]`` (``sample``: the inputs, weights and bias drawn, where
    asked for).  ``pages`` are the module pages' URLs the formulas link to (unused by pictures).

    Examples
    --------
    >>> [drawn] = pictures([{"layer": "Conv1d(1, 1, 3)", "input": "1, 1, 5"}])
    >>> drawn["html"].count("data-position="), drawn["html"].count('data-products="3"')
    (3, 3)
    """
    with tempfile.TemporaryDirectory(prefix="convops-pictures-") as folder:
        root = Path(folder)
        (root / "javascripts").mkdir()
        (root / "assets" / "convops").mkdir(parents=True)
        for name in ("calculator.js", "picture.js"):
            shutil.copy(JAVASCRIPTS / name, root / "javascripts" / name)
        (root / "assets" / "convops" / "formulas.js").write_text(formulas_module(pages or _pages()))
        shutil.copy(RUNTIME, root / "assets" / "convops" / "runtime.js")
        (root / "package.json").write_text('{"type": "module"}\n')
        (root / "driver.js").write_text(_DRIVER)
        done = subprocess.run(["node", "driver.js"], cwd=root, input=json.dumps(list(requests)),
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"picture.js failed under node:\n{done.stderr}")
        return json.loads(done.stdout)


@functools.lru_cache(maxsize=None)
def _page_pictures() -> dict[str, str]:
    """Every module page's pictures (one node run for the site)."""
    requests, owners = [], []
    for kind in KINDS:
        for title, layer, shape in cases(kind):
            requests.append({"layer": layer, "input": shape,
                             "caption": f"<strong>{html.escape(title)}</strong>: <code>{html.escape(layer)}</code> "
                                        f"on an input <code>({html.escape(shape)})</code>"})
            owners.append(kind)
    for owner, (layer, shape, caption) in PAGE_PICTURES.items():
        requests.append({"layer": layer, "input": shape, "caption": caption, "gather": False})
        owners.append(owner)
    drawn = pictures(requests)
    out: dict[str, list[str]] = {}
    for owner, result in zip(owners, drawn):
        out.setdefault(owner, []).append(result["html"])
    return {owner: "\n".join(parts) for owner, parts in out.items()}


#: The home page's picture: a transposed convolution, where counting is not obvious.
HOME = ("ConvTranspose2d(1, 1, 3, stride=2, padding=1, bias=False, output_padding=1)", "1, 1, 3, 3",
        "<strong>A transposed convolution, drawn from the layer</strong>: "
        "<code>ConvTranspose2d(1, 1, 3, stride=2, padding=1, output_padding=1)</code> on a 3×3 input. "
        "Step through it with the buttons or the arrow keys; <a href=\"notebooks/convtranspose2d/\">the ConvTranspose2d page</a> draws it as a gather too, and every case of the convolution arithmetic.")


#: The Notation page's picture: ψ, λ and γ on a small layer with groups.
NOTATION = ("Conv1d(4, 6, 3, groups=2)", "1, 4, 6",
            "<strong>ψ, λ and γ, drawn from the layer</strong>: <code>Conv1d(4, 6, 3, groups=2)</code> "
            "on an input of length 6. The lines are its ψ filters, block-diagonal by group: each "
            "output channel is linked to the input channels of its group only. The grids follow one "
            "filter, input channel 0 to output channel 0: its products and additions at every "
            "output position add up to its λ. The lines into output channel 0 are the filter maps "
            "that γ adds up at each of its positions, with the bias: the values drawn are the "
            "layer's output.")

#: The pages with one picture, by owner (see :func:`page_pictures`): (layer, input, caption).
PAGE_PICTURES = {"home": HOME, "notation": NOTATION}


def page_pictures(owner: str) -> str:
    """The pictures of a module page (``owner`` a kind's name), or the picture of a page of
    :data:`PAGE_PICTURES` (``"home"``, ``"notation"``), as HTML.

    Examples
    --------
    >>> page_pictures("Conv2d").count("<figure"), len(cases("Conv2d"))
    (10, 10)
    """
    return _page_pictures()[owner]
