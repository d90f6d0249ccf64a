"""The formula summaries of the documentation site, generated from the derivations.

Every formula the site shows is :meth:`Derivation.latex` of one quantity, so the site cannot
disagree with the code, and every formula has a stable anchor to cite it by:
``anchor("Conv2d", "total_bias") == "conv2d-total-bias"``.

The summaries are Markdown for the site's extensions (``pymdownx.blocks`` tabs and html
blocks, ``pymdownx.arithmatex``); ``docs/hooks.py`` puts them at the top of each module page.
"""

from __future__ import annotations

from functools import lru_cache

from convops.derivation import KINDS, derive, kind_of

#: The tabs a summary opens with, and the total each one shows.
BIAS_TABS = {"bias=True": "total_bias", "bias=False": "total_no_bias"}


@lru_cache(maxsize=None)
def quantities(name: str) -> tuple[str, ...]:
    """The quantities of ``name``'s derivation, in its order."""
    return tuple(derive(name).equations())


def anchor(kind, quantity: str) -> str:
    """The id of ``quantity``'s formula on the site, e.g. ``conv2d-total-bias``."""
    name = kind_of(kind).name
    if quantity not in quantities(name):
        raise ValueError(f"quantity must be one of {', '.join(quantities(name))}, got {quantity!r}")
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
}


def label(kind, quantity: str) -> str:
    """What ``quantity`` is, in words, as the summary titles it."""
    if quantity in LABELS:
        return LABELS[quantity]
    d = derive(kind)
    lhs = d.equations()[quantity].lhs
    meaning = d.symbols.describe().get(lhs, quantity.replace("_", " "))
    return meaning[0].upper() + meaning[1:]


def formula_markdown(kind, quantity: str) -> str:
    """One formula, rendered, in a block that carries its anchor."""
    return (f"/// html | div#{anchor(kind, quantity)}.convops-formula\n\n"
            f"$$\n{derive(kind).latex(quantity)}\n$$\n\n///\n")


def latex_markdown(kind, quantity: str) -> str:
    """One formula's LaTeX in a code block titled with its anchor, to copy."""
    return f'```latex title="#{anchor(kind, quantity)}"\n{derive(kind).latex(quantity)}\n```\n'


def summary_markdown(kind) -> str:
    """The summary a module page opens with: the total in a tab per bias case, then its pieces
    and, folded, the LaTeX of each piece."""
    pieces = [q for q in quantities(kind_of(kind).name) if q not in BIAS_TABS.values()]
    tabs = "\n".join(f"//// tab | {title}\n\n{formula_markdown(kind, total)}\n"
                     f"{latex_markdown(kind, total)}\n////\n"
                     for title, total in BIAS_TABS.items())
    where = "\n".join(f"**{label(kind, q)}** · [#{anchor(kind, q)}](#{anchor(kind, q)})\n\n"
                      f"{formula_markdown(kind, q)}" for q in pieces)
    latex = "\n".join(latex_markdown(kind, q) for q in pieces)
    return (f"## Formula summary\n\n{tabs}\nwhere\n\n{where}\n"
            f"/// details | LaTeX of these formulas\n    type: quote\n\n{latex}\n///\n")


def anchors_markdown() -> str:
    """A table of every formula's anchor, one row per module, each linking to its page."""
    rows = []
    for name in KINDS:
        page = f"notebooks/{page_name(name)}.ipynb"
        links = ", ".join(f"[`{anchor(name, q)}`]({page}#{anchor(name, q)})"
                          for q in quantities(name))
        rows.append(f"| [{name}]({page}) | {links} |")
    return "| module | formulas |\n| --- | --- |\n" + "\n".join(rows) + "\n"
