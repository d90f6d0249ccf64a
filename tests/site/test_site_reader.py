"""What makes the site a reference to trust and cite, read from the built pages: every symbol
of a formula summary defined on its page, every image described, cross-references as links,
versions stamped, the citation records in agreement, a search index of text (not code or TeX),
the public API and the command line documented."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
import yaml

import convops
from convops.additions import LatticeCount
from convops.cli import argument_parser
from convops_book.backward import (backward_anchor, backward_equation, backward_quantities,
                                   backward_symbols_anchor)
from convops_book.site import anchor, citation_text, equation, page_name, public_url, quantities

ROOT = Path(__file__).resolve().parents[2]

#: What nbconvert writes for an image whose output carries no description.
NO_ALT = "No description has been provided for this image"


def _text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def _words(page: Path) -> str:
    """The text of ``page``, without its tags."""
    return html.unescape(re.sub(r"<[^>]+>", "", _text(page)))


def _undefined(formulas: list[str], defined: set[str], equation_of, defined_by: set) -> list[str]:
    """Each free symbol of the equations (``equation_of(anchor)``) of the formulas ``formulas``
    (their anchors) that is neither in ``defined`` (the TeX of a symbols
    table's rows, as rendered) nor a left-hand side of ``defined_by``; F must be defined and
    anchored where used."""
    undefined = []
    for ident in formulas:
        eq = equation_of(ident)
        if eq.lhs.has(LatticeCount):  # F's definition: its variables are its own
            continue
        for symbol in eq.rhs.free_symbols - {eq.lhs} - defined_by:
            if convops.latex(symbol) not in defined:
                undefined.append(f"#{ident}: {convops.latex(symbol)}")
        if eq.rhs.has(LatticeCount):
            lattice = [i for i in formulas if equation_of(i).lhs.has(LatticeCount)]
            if "F" not in defined or not lattice:
                undefined.append(f"#{ident}: F")
    return undefined


@pytest.mark.parametrize("kind", list(convops.KINDS))
def test_every_symbol_of_a_summary_is_defined_on_its_page(site, kind):
    """Each free symbol of each formula in the summary (from the sympy equation the formula's
    anchor names) is a row of the page's symbols table, as rendered; F is defined and anchored."""
    page = site.page(f"notebooks/{page_name(kind)}/")
    by_anchor = {anchor(kind, q): q for q in quantities(kind)}
    shown = [f["id"] for f in page.formulas]
    defined = {symbol for table in page.symbolTables for symbol in table["symbols"]}
    undefined = _undefined(shown, defined, lambda ident: equation(kind, by_anchor[ident]),
                           {equation(kind, q).lhs for q in quantities(kind)})
    assert shown and not undefined, "undefined on the page:\n" + "\n".join(undefined)


@pytest.mark.parametrize("kind", list(convops.KINDS))
def test_every_symbol_of_the_training_cost_summary_is_defined_in_its_tab(site, kind):
    """The same for the training-cost page, tab by tab: each free symbol of a formula of
    ``kind``'s tab is a row of that tab's symbols table; F is defined and anchored in the tab."""
    page = site.page("notebooks/training_cost/")
    keys = (*backward_quantities(kind), *convops.derive(kind).backward.equations())
    by_anchor = {backward_anchor(kind, q): q for q in keys}
    shown = [f["id"] for f in page.formulas if f["id"].startswith(f"{kind.lower()}-backward-")]
    defined = {symbol for table in page.symbolTables if table["id"] == backward_symbols_anchor(kind)
               for symbol in table["symbols"]}
    undefined = _undefined(shown, defined, lambda ident: backward_equation(kind, by_anchor[ident]),
                           {backward_equation(kind, q).lhs for q in backward_quantities(kind)})
    assert shown and not undefined, "undefined in the tab:\n" + "\n".join(undefined)


def test_every_image_says_what_it_shows(build):
    missing = []
    for page in build.pages():
        for tag in re.findall(r"<img\b[^>]*>", _text(page)):
            alt = re.search(r'\balt="([^"]*)"', tag)
            if not alt or not alt[1].strip() or alt[1] == NO_ALT:
                missing.append(f"{page.relative_to(build.site)}: {tag[:120]}")
    assert not missing, "\n".join(missing)


def test_figures_have_no_background_box(build):
    """A figure is transparent in both themes: no jp-needs-*-background box (ipykernel's
    needs_background) around it."""
    boxed = [p.relative_to(build.site) for p in build.pages()
             if re.search(r'class="[^"]*jp-needs-', _text(p))]
    assert not boxed, boxed


def test_cross_references_are_links(build):
    """A page or notebook named in the text is a link, not a code span."""
    spans = []
    for page in build.pages():
        for name in re.findall(r"<code>([\w./-]+\.(?:ipynb|md))</code>", _text(page)):
            if not re.search(rf"<a [^>]*><code>{re.escape(name)}</code></a>", _text(page)):
                spans.append(f"{page.relative_to(build.site)}: {name}")
    allowed = {"conv1d.md", "conv2d.md", "convtranspose1d.md"}  # the errata's names of the pages
    assert not [s for s in spans if s.rsplit(": ", 1)[1] not in allowed], "\n".join(spans)


def test_notebook_pages_say_what_executed_them(build):
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        versions = json.loads(path.read_text(encoding="utf-8"))["metadata"]["convops"]["executed_with"]
        page = _text(build.site / "notebooks" / path.stem / "index.html")
        assert (f"convops {versions['convops']}, torch {versions['torch']} and Python "
                f"{versions['python']}") in page, path.name
        assert f'href="{path.name}" download' in page and (build.site / "notebooks" / path.stem / path.name).is_file()


def test_citation_records_agree(build):
    """CITATION.cff, the package and the cite page's BibTeX, plain text and CFF: one version,
    one year, one title; a url, a git install line and the footer's repository link only where
    CITATION.cff records a repository; an install from a checkout or a wheel always."""
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["version"] == convops.__version__ and cff["date-released"]
    page = _words(build.site / "cite" / "index.html")
    record = re.search(r"@misc\{convops,.*?\n\}", page, re.DOTALL)
    assert record, "no @misc record on the cite page"
    fields = dict(re.findall(r"^\s+(\w+)\s+= \{(.*)\},?$", record[0], re.MULTILINE))
    assert fields["version"] == cff["version"] and fields.get("url") == public_url(cff)
    assert fields["year"] == str(cff["date-released"])[:4] and fields["title"] == cff["title"]
    assert citation_text(cff) in page and f"cff-version: {cff['cff-version']}" in page
    start, home = _words(build.site / "getting-started" / "index.html"), _text(build.site / "index.html")
    repo = cff.get("repository-code")
    assert ("git+" in start) == bool(repo) and (f"git+{repo}@v{cff['version']}" in start) == bool(repo)
    assert (repo in home) if repo else 'class="md-social__link"' not in home  # the footer's link
    assert "pip install .\n" in start and f"pip install dist/convops-{cff['version']}-py3-none-any.whl" in start


def test_search_index_is_text_not_code_or_tex(build):
    docs = json.loads((build.site / "search" / "search_index.json").read_text())["docs"]
    problems = []
    for doc in docs:
        text = doc["text"]
        prose = re.sub(r"<(pre|code)>.*?</\1>", "", text, flags=re.DOTALL)
        for junk in ("Copied!", "¶", "$"):
            if junk in text:
                problems.append(f"{doc['location']}: {junk!r}")
        if re.search(r"\\[a-zA-Z]+\{|\\\(|\\\[", prose):
            problems.append(f"{doc['location']}: TeX {prose[:80]!r}")
        if doc["location"].startswith("notebooks/") and re.search(r"^(import|from) \w", text, re.M):
            problems.append(f"{doc['location']}: a code cell's source")
    assert not problems, "\n".join(problems[:30])


def test_api_page_documents_the_public_api(build):
    page = _text(build.site / "api" / "index.html")
    for name in convops.__all__:
        assert f'id="convops.{name}"' in page, name
    for field in ("psi", "lam", "gamma", "A", "multiplications", "additions", "total", "batch"):
        section = page[page.index(f'id="convops.Breakdown.{field}"'):][:3000]
        assert re.search(r"<p>[^<]", section), f"Breakdown.{field} has no description"
    assert "Kind(name=" not in page  # KINDS as a table, not its value's source
    assert "convops_book" not in page  # the book's helpers are not the API


def test_cli_page_documents_every_argument(build):
    page = html.unescape(_text(build.site / "cli" / "index.html"))
    parser = argument_parser()
    commands = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"][0].choices
    for name, command in commands.items():
        assert f"convops {name}" in page
        for action in command._actions:
            if action.help and action.help != "show this help message and exit":
                assert action.help in page, (name, action.dest)
