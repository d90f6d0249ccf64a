"""The evidence in view: at a desktop width no table needs a sideways scroll, on a phone every
verification shows convops' number and torch's, the numbers the prose points at are on screen at
both widths, and every page with formulas links to the one page that defines the notation.

Each test runs in the light and the dark palette (Material follows ``prefers-color-scheme``),
on the facts of one visit per page and view (``seen.py``).
"""

from __future__ import annotations

import re

import pytest

from seen import DESKTOP, MODULE_PAGES, PALETTES, PHONE, view_id, views

#: The instances the issue names: (page, a text of the table's caption, header or row labels, its
#: columns, a number that must be among the cells).
POINTED_AT = [
    ("notebooks/training_cost/", "grad_weight: 2 · multiplications",
     ["FlopCounterMode", "grad_weight: FlopCounterMode"], "73,728"),
    ("notebooks/conventions/", "operations − FLOPs", ["operations − FLOPs"], "-4,096"),
    ("notebooks/conventions/", "padding_mode=reflect", ["multiplications = FlopCounterMode / 2"], "9,216 ✓"),
    ("notebooks/conventions/", "groups=8", ["γ (aggregation + bias)", "total"], "4,096 ✓"),
    ("notebooks/comparison/", "fvcore", ["convops, converted", "peer's formula"], "1,152"),
    ("notebooks/comparison/", "moduleprofiler", ["convops, converted", "peer's formula"], "2,304"),
    ("notebooks/comparison/", "UNet on input", ["multiplications", "additions", "total"], "217,088"),
]


@pytest.mark.parametrize("palette", PALETTES)
def test_no_table_is_wider_than_its_column_at_a_desktop_width(site, palette):
    wide = [f"/{path}: {table['title']} ({table['wide']})" for path, page in site.view(DESKTOP, palette).items()
            for table in page.tables if table["wide"]]
    assert not wide, f"{len(wide)} tables need a sideways scroll ({palette}):\n" + "\n".join(wide)


@pytest.mark.parametrize("palette", PALETTES)
def test_no_displayed_formula_is_wider_than_its_column_at_a_desktop_width(site, palette):
    """Long formulas are broken over lines by convops' printer; none scrolls at 1280 px."""
    wide = [f"/{path}: {formula}" for path, page in site.view(DESKTOP, palette).items()
            for formula in page.wideFormulas]
    assert not wide, f"{len(wide)} formulas need a sideways scroll ({palette}):\n" + "\n".join(wide)


@pytest.mark.parametrize("palette", PALETTES)
def test_a_phone_shows_convops_and_torch_for_every_verification(site, palette):
    """Every module page (each in the light palette, and those of ``seen.PAGES_IN_BOTH_PALETTES``
    in the dark one too, by default)."""
    pages = site.view(PHONE, palette)
    problems = []
    for path in [p for p in MODULE_PAGES if p in pages]:
        cells = pages[path].cells("quantity", ["convops", "torch"])
        hidden = [c for c in cells if not c["seen"]]
        if {c["column"].split()[0].rstrip(",") for c in cells} != {"convops", "torch"}:
            problems.append(f"/{path} shows no verification table")
        elif hidden:
            problems.append(f"/{path} hides {len(hidden)} of {len(cells)}: {hidden[:5]}")
    assert not problems, f"at {PHONE} px ({palette}):\n" + "\n".join(problems)


@pytest.mark.parametrize("view", views(), ids=view_id)
def test_the_numbers_the_prose_points_at_are_on_screen(site, view):
    problems = []
    for path, table, columns, number in POINTED_AT:
        cells = site.page(path, *view).cells(table, columns)
        hidden = [c for c in cells if not c["seen"]]
        if number not in {c["text"] for c in cells}:
            problems.append(f"/{path}: no table {table!r} with {number} under {columns}")
        elif hidden:
            problems.append(f"/{path} hides {len(hidden)} of {len(cells)}: {hidden[:5]}")
    assert not problems, f"at {view_id(view)}:\n" + "\n".join(problems)


#: What the Notation page must define, by the TeX the formulas write it in.
NOTATION = {"Π": r"\prod", "Iverson bracket": r"[\,", "s′": "s'", "d′": "d'", "A": "A",
            "P": "P_", "Z": "Z_", "F": "F_", "L_in,i": r"L_{\text{in},i}", "H": "H_", "W": "W_",
            "D": "D_"}


def test_every_page_with_formulas_links_to_the_notation(build, site):
    """Links do not depend on the width or the palette: one view."""
    defined = " ".join(site.page("notation/").tex)
    missing = [name for name, tex in NOTATION.items() if tex not in defined]
    assert not missing, f"the Notation page defines no {missing}"
    text = (build.site / "notation" / "index.html").read_text(encoding="utf-8")
    assert "out_channels" in text and "filter" in text, "Notation must say what a filter is"
    unlinked = [f"/{path} ({len(page.displayed)} formulas)" for path, page in site.view(DESKTOP, "light").items()
                if path != "notation/" and page.displayed
                and not any(link.rstrip("/").endswith("/notation") for link in page.links)]
    assert not unlinked, "pages with formulas and no link to Notation:\n" + "\n".join(unlinked)


def _printed_symbols() -> set[str]:
    """Every symbol of the derivations of 1-, 2- and 3-d modules and of the summaries' indexed
    formulas, as convops' printer writes it; a per-dimension one by its indexed name
    (``k_{i}`` for ``k_0``, and for a 1-d module's ``k``), which the Notation page defines for
    every dimension."""
    from convops.symbols import indexed_symbols, latex, symbols

    indexed = {latex(symbol) for symbol in indexed_symbols().describe()}

    def name(symbol) -> str:
        tex = re.sub(r"_\{?(\d)\}?$", "_{i}", latex(symbol))
        for written in (f"{tex}_{{i}}", f"{tex[:-1]},i}}"):  # a 1-d module's k is k_i, L_in is L_in,i
            if written in indexed:
                return written
        return tex

    return {name(symbol) for n in (1, 2, 3) for symbol in symbols(n).describe()} | indexed


def test_every_symbol_the_printer_writes_is_defined_on_the_notation_page(site):
    """Each symbol a formula of the site can hold is a formula of the Notation page: a letter
    alone (a row of its tables), a longer name alone or inside one (the H, W, D mapping)."""
    def bare(tex: str) -> str:
        return re.sub(r"[{}\s]", "", tex)

    defined = [bare(tex) for tex in site.page("notation/").tex]
    missing = sorted(symbol for symbol in _printed_symbols()
                     if not any(bare(symbol) == tex or len(bare(symbol)) > 2 and bare(symbol) in tex
                                for tex in defined))
    assert not missing, f"the Notation page does not define {missing}"


def test_equations_are_numbered_in_order_and_every_reference_has_its_number(site):
    """On every page the numbers of displayed formulas (``\\tag{n}``) run 1, 2, … in order; every
    "(n)" of the page's text is one of them; each module page numbers its summary, and the
    references the notebooks write by name show as numbers."""
    problems, references = [], 0
    for path, page in site.view(DESKTOP, "light").items():
        tags = [int(n) for tex in page.displayed for n in re.findall(r"\\tag\{(\d+)\}", tex)]
        cited = {int(n) for n in re.findall(r"\((\d{1,2})\)", page.prose)}
        references += len(cited)
        if tags != list(range(1, len(tags) + 1)):
            problems.append(f"/{path}: formulas numbered {tags}")
        if path in MODULE_PAGES and not tags:
            problems.append(f"/{path}: an unnumbered summary")
        problems += [f"/{path}: ({n}) is no formula's number" for n in sorted(cited - set(tags))]
    assert not problems, "\n".join(problems)
    assert references, "no page refers to a formula by its number"


# -- the line under each summary: counted from the stored outputs, a difference fails the build --
def _stored(tmp_path, rows: str):
    import json

    path = tmp_path / "conv9d.ipynb"
    output = {"output_type": "display_data", "data": {"text/html": [f"<table><tbody>{rows}</tbody></table>"]}}
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "outputs": [output]}]}))
    return path


def test_verified_layers_are_counted_once_each(tmp_path):
    from convops_book.site import verified_layers

    rows = ('<tr data-layer="Conv1d(1, 1, 3) on input (1, 4)" data-verdict="✓"><td>1</td></tr>' * 2
            + '<tr data-layer="Conv1d(1, 2, 3) on input (1, 4)" data-verdict="✓"></tr><tr><td>✗</td></tr>')
    assert verified_layers(_stored(tmp_path, rows)) == ["Conv1d(1, 1, 3) on input (1, 4)",
                                                        "Conv1d(1, 2, 3) on input (1, 4)"]


def test_a_stored_disagreement_fails_the_build(tmp_path):
    from convops_book.site import verified_layers

    rows = '<tr data-layer="Conv1d(1, 1, 3) on input (1, 4)" data-verdict="✗"></tr>'
    with pytest.raises(ValueError, match=r"torch disagrees with convops on Conv1d\(1, 1, 3\)"):
        verified_layers(_stored(tmp_path, rows))


@pytest.mark.parametrize("path", MODULE_PAGES)
def test_each_summary_says_on_how_many_layers_torch_agreed(build, path):
    """The count on the page is the number of layers its stored tables check (at least the
    layer the derivation follows and the worked example)."""
    from convops_book.site import NOTEBOOKS, verified_layers

    count = len(verified_layers(NOTEBOOKS / f"{path.split('/')[1]}.ipynb"))
    page = (build.site / path / "index.html").read_text(encoding="utf-8")
    assert count >= 2 and f"✓ verified against torch on {count} layers (this page)" in page
