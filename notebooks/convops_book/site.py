"""The formula summaries of the documentation site, generated from the derivations.

Every formula the site shows is :meth:`Derivation.latex` of one quantity, so the site cannot
disagree with the code, and every formula has a stable anchor to cite it by:
``anchor("Conv2d", "total_bias") == "conv2d-total-bias"``.

The summaries are Markdown for the site's extensions (``pymdownx.blocks`` tabs and html
blocks, ``pymdownx.arithmatex``); ``docs/hooks.py`` puts them at the top of each module page.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import io
import json
import re
import shlex
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import sympy as sp

from convops.additions import LatticeCount, lattice_count_definition
from convops.derivation import KINDS, derive, kind_of
from convops.symbols import SPATIAL_NAMES, indexed_symbols, latex

from .notebook import WIDTH

#: The tabs a summary opens with, and the total each one shows.
BIAS_TABS = {"bias=True": "total_bias", "bias=False": "total_no_bias"}

#: The summary's name of the definition of the lattice count F (transposed kinds).
LATTICE_COUNT = "F"

#: The Notation page, from a notebook's page (``notebooks/<name>/``) on the site.
NOTATION_URL = "../../notation/"

#: The executed notebooks, whose stored outputs the site renders.
NOTEBOOKS = Path(__file__).resolve().parents[1]

#: A row of a notebook table that checks a layer against torch (``convops_book.notebook.Table``).
_CHECKED_ROW = re.compile(r'<tr data-layer="([^"]*)" data-verdict="([^"]*)">')


@lru_cache(maxsize=None)
def quantities(name: str) -> tuple[str, ...]:
    """The quantities a module page shows, in the derivation's order: per-dimension formulas as
    one indexed formula (``output_size``), and ``F`` where the formulas use the lattice count."""
    d = derive(name)
    keys = tuple(d.indexed_equations())
    return keys + ((LATTICE_COUNT,) if d.kind.transposed else ())


@lru_cache(maxsize=None)
def aliases(name: str, quantity: str) -> tuple[str, ...]:
    """The per-dimension quantities an indexed one stands for (``output_size_0`` …), whose
    anchors, cited before the formulas were indexed, keep pointing to it."""
    return per_dimension_keys(derive(name).equations(), quantity)


def per_dimension_keys(keys: Iterable[str], quantity: str) -> tuple[str, ...]:
    """The keys of ``keys`` that the indexed ``quantity`` stands for: ``quantity_0`` …

    Examples
    --------
    >>> per_dimension_keys(["P_0", "P_1", "PZ", "total_bias"], "P")
    ('P_0', 'P_1')
    """
    return tuple(key for key in keys if key.rpartition("_")[0] == quantity
                 and key.rpartition("_")[2].isdigit())


def anchor(kind, quantity: str) -> str:
    """The id of ``quantity``'s formula on the site, e.g. ``conv2d-total-bias``.

    ``quantity`` is one of :func:`quantities` or a per-dimension one (``output_size_1``), whose
    anchor is an alias on its indexed formula.
    """
    name = kind_of(kind).name
    known = (*quantities(name), *derive(name).equations())
    if quantity not in known:
        raise ValueError(f"quantity must be one of {', '.join(dict.fromkeys(known))}, "
                         f"got {quantity!r}")
    return f"{name}-{quantity}".lower().replace("_", "-")


def page_name(kind) -> str:
    """The module page's name: ``conv2d`` for the page built from ``notebooks/conv2d.ipynb``."""
    return kind_of(kind).name.lower()


#: Labels of the quantities whose left-hand side is not one of the derivation's symbols.
LABELS = {
    "psi": "Filters",
    "lam": "Operations per filter",
    "gamma": "Additions aggregating the filters, bias included",
    "total": "Total",
    "total_bias": "Total with bias",
    "total_no_bias": "Total without bias",
    "output_size": "Output size",
    "A": "Additions per filter",
    "s_reduced": "Reduced stride",
    "d_reduced": "Reduced dilation",
    "P": "Products landing inside the output",
    "Z": "Output positions that receive a product",
    LATTICE_COUNT: "Lattice count: the pairs (input index m, tap j) whose product lands before T",
}


def equation(kind, quantity: str) -> sp.Eq:
    """The sympy equation of ``quantity`` (:func:`quantities`) that the summary prints."""
    if quantity == LATTICE_COUNT:
        return lattice_count_definition()
    return derive(kind).indexed_equations()[quantity]


def formula_latex(kind, quantity: str, width: int | None = None) -> str:
    """LaTeX of one formula of the summary, as convops prints it (its sums broken over lines
    past ``width``, where given)."""
    return latex(equation(kind, quantity), width=width)


def label(kind, quantity: str) -> str:
    """What ``quantity`` is, in words, as the summary titles it."""
    d = derive(kind)
    if quantity in LABELS:
        text = LABELS[quantity]
    else:
        lhs = equation(kind, quantity).lhs
        text = meanings(kind).get(lhs, quantity.replace("_", " "))
    if aliases(d.name, quantity):
        text += every_dimension(d.symbols.ndim)
    return text[0].upper() + text[1:]


def every_dimension(ndim: int) -> str:
    """What a label of an indexed formula ends with: which dimensions ``i`` stands for.

    Examples
    --------
    >>> every_dimension(2), every_dimension(1)
    (', along every spatial dimension i (0 = H, 1 = W)', '')
    """
    if ndim == 1:
        return ""
    names = ", ".join(f"{i} = {n}" for i, n in enumerate(SPATIAL_NAMES[ndim]))
    return f", along every spatial dimension i ({names})"


def meanings(kind) -> dict[sp.Symbol, str]:
    """What every symbol of the module's formulas means, indexed ones included."""
    return {**derive(kind).symbols.describe(), **indexed_symbols().describe()}


def symbols_used(kind) -> list[sp.Symbol]:
    """The free symbols of the summary's formulas that the summary must define, in reading
    order (the sides of the formulas themselves, ψ, λ, γ, are defined by them)."""
    return free_symbols([equation(kind, q) for q in quantities(kind_of(kind).name)], meanings(kind))


def free_symbols(equations: Sequence[sp.Eq], meaning: dict[sp.Symbol, str]) -> list[sp.Symbol]:
    """The symbols of ``equations`` that no one of them defines (as its left-hand side), in the
    order of ``meaning``; a symbol ``meaning`` lacks is an error (it would go undefined)."""
    defined = {eq.lhs for eq in equations}
    used = set().union(*(eq.rhs.free_symbols for eq in equations
                         if not eq.lhs.has(LatticeCount))) - defined
    unknown = used - set(meaning)
    if unknown:
        raise ValueError(f"no meaning for {sorted(map(str, unknown))}")
    order = list(meaning)
    return sorted(used, key=order.index)


def lattice_count_used(kind) -> bool:
    """Whether the summary's formulas use F (the lattice count)."""
    return any(equation(kind, q).rhs.has(LatticeCount) for q in quantities(kind_of(kind).name))


def formula_markdown(kind, quantity: str, numbered: bool = False) -> str:
    """One formula, rendered, in a block that carries its anchor (and its aliases'); with
    ``numbered``, tagged with its number in the module's summary (:func:`equation_numbers`)."""
    name = kind_of(kind).name
    tex = formula_latex(kind, quantity, WIDTH)
    if numbered:
        tex += rf" \tag{{{equation_numbers(name)[quantity]}}}"
    return formula_block(anchor(kind, quantity), tex, [anchor(name, a) for a in aliases(name, quantity)])


@lru_cache(maxsize=None)
def equation_numbers(name: str) -> dict[str, int]:
    """The number of each formula of the module's summary, in the order the summary shows them
    (the totals' tabs, then the pieces): ``\\tag{n}`` on its page, where the text refers to it
    as ``(n)`` (:func:`number_references`).

    Examples
    --------
    >>> equation_numbers("Conv1d")
    {'total_bias': 1, 'total_no_bias': 2, 'output_size': 3, 'psi': 4, 'lam': 5, 'gamma': 6, 'total': 7}
    """
    pieces = [q for q in quantities(name) if q not in BIAS_TABS.values()]
    return {q: n for n, q in enumerate([*BIAS_TABS.values(), *pieces], 1)}


#: A link to a formula of the page written as a reference, ``[(output_size)](#conv1d-output-size)``.
_REFERENCE = re.compile(r'<a href="#([a-z0-9-]+)">\(([a-z_]+)\)</a>')


def number_references(html_text: str, kind) -> str:
    """``html_text`` (a module page) with each reference to a formula of its summary,
    ``[(QUANTITY)](#ANCHOR)`` in the notebook's Markdown, shown as that formula's number,
    ``(n)``.  Raises ``ValueError`` for a reference to no formula of the summary.

    Examples
    --------
    >>> number_references('see <a href="#conv1d-psi">(psi)</a>', "Conv1d")
    'see <a href="#conv1d-psi">(4)</a>'
    """
    name = kind_of(kind).name
    numbers = {anchor(name, q): n for q, n in equation_numbers(name).items()}

    def number(reference: re.Match) -> str:
        if reference[1] not in numbers or reference[1] != anchor(name, reference[2]):
            raise ValueError(f"{name}: ({reference[2]}) links to #{reference[1]}, which is not the "
                             f"anchor of a formula of the summary: {', '.join(numbers)}")
        return f'<a href="#{reference[1]}">({numbers[reference[1]]})</a>'
    return _REFERENCE.sub(number, html_text)


def formula_block(ident: str, tex: str, alias_ids: Sequence[str] = ()) -> str:
    """The LaTeX ``tex`` rendered, in a block with the id ``ident`` and empty anchors
    ``alias_ids`` (ids cited before, which keep pointing to it)."""
    spans = "".join(f'<span id="{a}"></span>' for a in alias_ids)
    return (f"/// html | div#{ident}.convops-formula\n\n" + (f"{spans}\n\n" if spans else "")
            + f"$$\n{tex}\n$$\n\n///\n")


def latex_markdown(kind, quantity: str) -> str:
    """One formula's LaTeX in a code block titled with its anchor, to copy."""
    return f'```latex title="#{anchor(kind, quantity)}"\n{formula_latex(kind, quantity)}\n```\n'


def symbols_markdown(kind) -> str:
    """The table of every symbol the summary's formulas use, with its meaning; F links to its
    definition."""
    return symbols_table({s: meanings(kind)[s] for s in symbols_used(kind)},
                         anchor(kind, LATTICE_COUNT) if lattice_count_used(kind) else None)


def symbols_table(meaning: dict[sp.Symbol, str], lattice_anchor: str | None = None,
                  ident: str | None = None) -> str:
    """A table of the symbols of ``meaning`` and what they mean, F last, linking to its
    definition at ``lattice_anchor`` where given; the table's block has the id ``ident``."""
    rows = [f"| ${latex(symbol)}$ | {text} |" for symbol, text in meaning.items()]
    if lattice_anchor:
        rows.append(f"| $F$ | lattice count, defined [above](#{lattice_anchor}) |")
    block = f"div#{ident}.convops-symbols" if ident else "div.convops-symbols"
    return (f'/// html | {block}\n\n| symbol | meaning |\n| --- | --- |\n'
            + "\n".join(rows) + f"\n\nEvery symbol, and how the pages name dimensions (i, H, W, D), "
            f"products Π and brackets: [Notation]({NOTATION_URL}).\n\n///\n")


def verified_layers(notebook: Path) -> list[str]:
    """The layers that the stored outputs of ``notebook`` check against torch, each once, in
    order of appearance: the layers of the rows ``convops_book.notebook.Table`` marks as checks.

    Raises ``ValueError`` naming the layer where a stored row shows a difference (✗ or ≠): the
    page would show a formula that torch contradicts.
    """
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    stored = "".join("".join(output.get("data", {}).get("text/html", ""))
                     for cell in cells for output in cell.get("outputs", ()))
    rows = [(html.unescape(layer), verdict) for layer, verdict in _CHECKED_ROW.findall(stored)]
    failed = [layer for layer, verdict in rows if verdict != "✓"]
    if failed:
        raise ValueError(f"{notebook.name}: torch disagrees with convops on {failed[0]}; "
                         f"re-execute the notebook after fixing the formula")
    return list(dict.fromkeys(layer for layer, _ in rows))


def verified_line(kind) -> str:
    """The line under a module's summary: on how many layers its page checks the formulas."""
    count = len(verified_layers(NOTEBOOKS / f"{page_name(kind)}.ipynb"))
    if not count:
        raise ValueError(f"{page_name(kind)}.ipynb checks no layer against torch")
    layers = "layer" if count == 1 else "layers"
    return (f'/// html | p.convops-verified\n\n✓ verified against torch on {count} {layers} '
            f"(this page)\n\n///\n")


#: The section of a module page that derives γ (nbconvert's id of its heading).
GAMMA_SECTION = "combining-the-filters-and-adding-the-bias"


def gamma_note(kind) -> str:
    """What γ counts where a reader of a transposed convolution expects otherwise: the filters'
    maps are added at every output position, those no product reaches included."""
    if not kind_of(kind).transposed:
        return ""
    return ("γ adds the filters' maps at every output position, including those no product reaches "
            "(the stride's gaps, the `output_padding` tail): each map holds a zero there, and the sum "
            f"is still taken ([γ, derived and measured](#{GAMMA_SECTION})).\n\n")


def summary_markdown(kind) -> str:
    """The summary a module page opens with: the total in a tab per bias case, then its pieces,
    the symbols they are written in and, folded, the LaTeX of each formula."""
    pieces = [q for q in quantities(kind_of(kind).name) if q not in BIAS_TABS.values()]
    tabs = "\n".join(f"//// tab | {title}\n\n{formula_markdown(kind, total, numbered=True)}\n"
                     f"{latex_markdown(kind, total)}\n////\n"
                     for title, total in BIAS_TABS.items())
    where = "\n".join(f"**{label(kind, q)}** · [#{anchor(kind, q)}](#{anchor(kind, q)})\n\n"
                      f"{formula_markdown(kind, q, numbered=True)}" for q in pieces)
    latex_blocks = "\n".join(latex_markdown(kind, q) for q in pieces)
    return (f"## Formula summary\n\n{tabs}\nwhere\n\n{where}\n{gamma_note(kind)}{verified_line(kind)}\n"
            f"### Symbols\n\n{symbols_markdown(kind)}\n"
            f"/// details | LaTeX of these formulas\n    type: quote\n\n{latex_blocks}\n///\n")


#: The id of the calculator under a module page's formula summary (``docs/hooks.py``).
CALCULATOR_ID = "calculator"


def answer_markdown(kind) -> str:
    """The answer a module page opens with, above its tiny example: the total, with bias and
    without, as convops prints it (unnumbered: the summary's copies carry the numbers and
    anchors), and links to the page's calculator and formula summary."""
    name = kind_of(kind).name
    totals = "\n".join(f"{'With' if total == 'total_bias' else 'Without'} bias "
                       f"([{equation_numbers(name)[total]}](#{anchor(kind, total)})):\n\n"
                       f"$$\n{formula_latex(kind, total, WIDTH)}\n$$\n"
                       for total in BIAS_TABS.values())
    return (f"/// html | div.convops-answer\n\n"
            f"**The answer.** Operations of one `{name}` call: N·(ψ·λ + γ), in the layer's sizes.\n\n"
            f"{totals}\n"
            f"For your layer: [the calculator](#{CALCULATOR_ID}) · each piece, each symbol, the LaTeX: "
            f"[formula summary](#formula-summary) · how it is derived and checked: read on.\n\n///\n")


def anchors_markdown() -> str:
    """A table of every formula's anchor, one row per module, each linking to its page."""
    rows = []
    for name in KINDS:
        page = f"notebooks/{page_name(name)}.ipynb"
        links = ", ".join(f"[`{anchor(name, q)}`]({page}#{anchor(name, q)})"
                          for q in quantities(name))
        rows.append(f"| [{name}]({page}) | {links} |")
    return "| module | formulas |\n| --- | --- |\n" + "\n".join(rows) + "\n"


# -- citation --------------------------------------------------------------------------------------
def _authors(cff: dict) -> list[str]:
    return [a["name"] if "name" in a else f"{a['given-names']} {a['family-names']}"
            for a in cff["authors"]]


def public_url(cff: dict) -> str | None:
    """Where the software is published, as ``CITATION.cff`` records it: its ``url``, else its
    ``repository-code``; ``None`` while it records neither (then no page prints one)."""
    return cff.get("url") or cff.get("repository-code")


def bibtex(cff: dict) -> str:
    """A BibTeX ``@misc`` record (BibTeX and biblatex both read it) of the software that the
    ``CITATION.cff`` record ``cff`` (parsed YAML) describes: title, authors, year, version, and
    the url and DOI where it records them.

    Examples
    --------
    >>> print(bibtex({"title": "t", "authors": [{"name": "a b"}], "version": "1.0",
    ...               "date-released": "2026-01-02"}))
    @misc{t,
      title        = {t},
      author       = {{a b}},
      year         = {2026},
      month        = {1},
      version      = {1.0},
      note         = {Version 1.0}
    }
    >>> print(bibtex({"title": "t", "authors": [{"family-names": "B", "given-names": "A"}],
    ...               "version": "1.0", "date-released": "2026-01-02", "url": "https://x",
    ...               "doi": "10.1/x"}))
    @misc{t,
      title        = {t},
      author       = {B, A},
      year         = {2026},
      month        = {1},
      version      = {1.0},
      howpublished = {\\url{https://x}},
      url          = {https://x},
      doi          = {10.1/x},
      note         = {Version 1.0, https://x}
    }
    """
    released = str(cff["date-released"])
    authors = " and ".join(
        "{" + a["name"] + "}" if "name" in a else f"{a['family-names']}, {a['given-names']}"
        for a in cff["authors"])
    url = public_url(cff)
    key = cff["title"].split(":")[0].split()[0].lower()
    fields = {"title": cff["title"], "author": authors, "year": released[:4],
              "month": str(int(released[5:7])), "version": cff["version"]}
    if url:
        fields |= {"howpublished": rf"\url{{{url}}}", "url": url}
    if cff.get("doi"):
        fields["doi"] = cff["doi"]
    fields["note"] = ", ".join([f"Version {cff['version']}", *([url] if url else [])])
    body = ",\n".join(f"  {name:<12} = {{{value}}}" for name, value in fields.items())
    return f"@misc{{{key},\n{body}\n}}"


def citation_text(cff: dict) -> str:
    """The plain-text citation of the software that ``cff`` (parsed ``CITATION.cff``) describes:
    authors, year, title, version, and the DOI or url where it records them.

    Examples
    --------
    >>> citation_text({"title": "t: u", "authors": [{"name": "a b"}], "version": "1.0",
    ...                "date-released": "2026-01-02"})
    'a b (2026). t: u (version 1.0) [Computer software].'
    >>> citation_text({"title": "t", "authors": [{"family-names": "B", "given-names": "A"}],
    ...                "version": "1.0", "date-released": "2026-01-02", "doi": "10.1/x"})
    'A B (2026). t (version 1.0) [Computer software]. https://doi.org/10.1/x'
    """
    where = f"https://doi.org/{cff['doi']}" if cff.get("doi") else public_url(cff)
    text = (f"{', '.join(_authors(cff))} ({str(cff['date-released'])[:4]}). {cff['title']} "
            f"(version {cff['version']}) [Computer software].")
    return f"{text} {where}" if where else text


# -- API and command line pages --------------------------------------------------------------------
#: The public API (``convops.__all__``) in the order the API page documents it.
API_ORDER = ("count_ops", "breakdown", "Breakdown", "BackwardBreakdown", "GradientCount",
             "AlgorithmBreakdown", "Operations", "winograd",
             "derive", "Derivation", "BackwardDerivation", "Kind", "KINDS", "Layer", "latex",
             "ConvopsError", "profile", "Profile", "LayerProfile", "SymbolicProfile", "peers",
             "reference")


def api_markdown(public: Sequence[str]) -> str:
    """The API page's body: a mkdocstrings block per name of ``public`` (``convops.__all__``),
    and :data:`~convops.KINDS` as a table rather than its value's source."""
    missing = sorted(set(public) - set(API_ORDER)) + sorted(set(API_ORDER) - set(public))
    if missing:
        raise ValueError(f"API_ORDER and convops.__all__ differ in {missing}")
    blocks = []
    for name in API_ORDER:
        if name == "KINDS":
            rows = "\n".join(f"| `{k.name}` | {k.ndim} | {'yes' if k.transposed else 'no'} | "
                              f"`torch.nn.{k.name}` |" for k in KINDS.values())
            blocks.append("## `convops.KINDS` {#convops.KINDS}\n\nThe six modules convops derives, "
                          "a `dict` from class name to `Kind` (no torch needed to list them):\n\n"
                          "| name | ndim | transposed | module |\n| --- | --- | --- | --- |\n" + rows)
        else:
            blocks.append(f"::: convops.{name}")
    return "\n\n".join(blocks) + "\n"


def _plain(text: str) -> str:
    """``text`` as literal Markdown: ``*``, ``_``, ``|`` and ``<`` shown as themselves."""
    return re.sub(r"([*_|<\\`])", r"\\\1", text)


#: What the command line page shows each command print, run when the site is built (the book's
#: models stand for the user's factories: ``convops_book`` is installed beside convops).
CLI_EXAMPLES: dict[str, list[list[str]]] = {
    "count": [["count", "Conv2d(3, 64, kernel_size=7, stride=2, padding=3)", "--input",
               "1,3,224,224"],
              ["count", "Conv2d(64, 64, 3, padding=1)", "--input", "1,64,56,56", "--algorithm",
               "winograd", "--tile", "4"]],
    "formula": [["formula", "Conv2d", "--bias"]],
    "profile": [["profile", "convops_book.models:resnet50", "--input", "1,3,224,224"]],
}


def cli_output(argv: Sequence[str]) -> str:
    """What ``convops ARGV`` prints, run in this process; raises if the command is refused."""
    from convops.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    if code != 0:
        raise RuntimeError(f"convops {shlex.join(argv)} exited with {code}")
    return out.getvalue().rstrip()


def cli_markdown(parser: argparse.ArgumentParser,
                 examples: dict[str, list[list[str]]] | None = None) -> str:
    """The command line page's body, from ``parser`` (``convops.cli.argument_parser()``): usage,
    description and a table of the arguments of every command, its examples, and what the
    commands of ``examples`` (default :data:`CLI_EXAMPLES`) print."""
    examples = CLI_EXAMPLES if examples is None else examples

    def section(level: str, title: str, command: argparse.ArgumentParser) -> list[str]:
        lines = [f"{level} `{title}`", "", _plain(command.description or ""), "",
                 "```text", command.format_usage().strip(), "```", ""]
        rows = []
        for action in command._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            name = ", ".join(f"`{o}`" for o in action.option_strings) or f"`{action.metavar or action.dest}`"
            if action.option_strings and action.nargs != 0:
                name += f" `{action.metavar or action.dest.upper()}`"
            help_text = _plain(action.help or "")
            rows.append(f"| {name} | {help_text}{' (required)' if action.required and action.option_strings else ''} |")
        if rows:
            lines += ["| argument | meaning |", "| --- | --- |", *rows, ""]
        if command.epilog:
            lines += ["```text", command.epilog.strip(), "```", ""]
        return lines

    lines = section("##", parser.prog, parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, command in action.choices.items():
                lines += section("##", f"{parser.prog} {name}", command)
                for argv in examples.get(name, ()):
                    lines += ["What it prints:", "", "```text", f"$ {parser.prog} {shlex.join(argv)}",
                              cli_output(argv), "```", ""]
    return "\n".join(lines)
