"""The site as a book people read and cite, in headless Chromium: prose and outputs without
sympy's function names, no promise of a repository or DOI that CITATION.cff does not record,
a formula link that leaves its tab bar in view, text outputs that keep their columns, a home
example that fits a phone, and every address cited before still there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from convops_book.site import anchor
from seen import DESKTOP, PALETTES, PHONE, WIDTHS

ROOT = Path(__file__).resolve().parents[2]

#: Every page and anchor the site had at v0.1.0 (mkdocs build of that commit): what people cite.
#: Ids mkdocs generates (code lines, tabs, notebook cells) and the API's members are left out.
ADDRESSES = Path(__file__).with_name("addresses.txt")

#: sympy's names for what a page writes as math or words (≠, ⌊x⌋, cases).
SYMPY_NAMES = ("Ne(", "Eq(", "floor(", "Piecewise(")

#: The repository the site named before any existed.
PLACEHOLDER = "github.com/convops/convops"

#: Resolves once the page has not scrolled for 200 ms.
_SCROLL_STOPPED = """async () => {
  for (let last = NaN; last !== window.scrollY; await new Promise(r => setTimeout(r, 200)))
    last = window.scrollY;
}"""


def _cff() -> dict:
    return yaml.safe_load((ROOT / "CITATION.cff").read_text())


def test_no_sympy_function_names_in_the_text(site):
    """Prose and cell outputs (error messages included) write conditions as math or words."""
    found = []
    for path, page in site.view(DESKTOP, "light").items():
        for name in SYMPY_NAMES:
            for at in [m.start() for m in re.finditer(re.escape(name), page.prose)][:3]:
                found.append(f"/{path}: …{page.prose[max(0, at - 40):at + 50]!r}")
    assert not found, "\n".join(found)


def test_no_repository_or_doi_that_citation_cff_does_not_record(build):
    """No placeholder repository, no install line from a repository or a url in the citations
    unless CITATION.cff records one, no Zenodo or DOI unless it records a DOI."""
    cff = _cff()
    recorded = {cff.get("repository-code"), cff.get("url")} - {None}
    problems = []
    for path in sorted(p for p in build.site.rglob("*") if p.suffix in (".html", ".json", ".xml", ".ipynb")):
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(build.site)
        if PLACEHOLDER in text and not any(PLACEHOLDER in url for url in recorded):
            problems.append(f"{where}: the placeholder {PLACEHOLDER}")
        for url in set(re.findall(r"https?://[^\s\"'<>(){}\]]*convops[^\s\"'<>(){}\]]*", text)):
            if not url.startswith("http://127.0.0.1") and url.rstrip("/.,") not in recorded:
                problems.append(f"{where}: {url}, which CITATION.cff does not record")
        if not cff.get("repository-code") and "git+" in text:
            problems.append(f"{where}: an install line from a repository")
        if not cff.get("doi") and re.search(r"zenodo|\bDOI\b", text, re.IGNORECASE):
            problems.append(f"{where}: Zenodo or a DOI")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_formula_link_shows_its_tab_bar_below_the_header(build, visit, width):
    """After a link to a formula in a tab, loaded and followed inside the site (instant
    navigation), the formula and its tab's labels are in view, below the sticky header."""
    target = anchor("Conv2d", "total_no_bias")
    visit.page.set_viewport_size({"width": width, "height": 800})
    geometry = f"""() => {{
      const formula = document.getElementById("{target}");
      const labels = formula.closest(".tabbed-set").querySelector(".tabbed-labels");
      return [document.querySelector(".md-header").getBoundingClientRect().bottom,
              labels.getBoundingClientRect().top, formula.getBoundingClientRect().bottom,
              window.innerHeight, window.scrollY];
    }}"""
    shown = f"document.getElementById('{target}')?.offsetParent && window.scrollY > 0"

    def settled() -> list[float]:
        visit.page.wait_for_function(shown)
        visit.page.evaluate(_SCROLL_STOPPED)
        return visit.page.evaluate(geometry)

    visit.goto(f"notebooks/conv2d/#{target}")
    loaded = settled()
    visit.goto("cite/")
    link = visit.page.locator(f"a[href$='#{target}']").first
    link.scroll_into_view_if_needed()
    # Material's navigation.tracking writes the section in view into the address a moment after
    # a scroll; a click before that (no reader is that fast) opens the page with that section's
    # hash instead of the link's.
    visit.page.wait_for_function("location.hash !== ''")
    link.click()
    visit.page.wait_for_url(f"**/notebooks/conv2d/#{target}")
    followed = settled()
    for how, (header, tabs, formula, height, _) in (("loaded", loaded), ("followed", followed)):
        assert header <= tabs and formula <= height, (
            f"{how} at {width} px: header ends at {header:.0f}, tab labels start at {tabs:.0f}, "
            f"formula ends at {formula:.0f} of {height}")
    assert not visit.problems, "\n".join(visit.problems)


def test_the_home_example_fits_a_phone(site):
    """At 390 px every line of the home page's code example shows without scrolling."""
    assert not site.page("", PHONE).scrollingCode


def test_every_address_cited_before_resolves(site):
    """Each page of the list is a page of the site, and has each anchor of the list (after any
    redirect: the ids are those of the page the browser landed on)."""
    wanted: dict[str, list[str]] = {}
    for line in ADDRESSES.read_text().split():
        path, _, ident = line.partition("#")
        wanted.setdefault(path.removeprefix("./"), [])
        if ident:
            wanted[path.removeprefix("./")].append(ident)
    pages = site.view(DESKTOP, "light")
    missing = []
    for path, idents in wanted.items():
        if path not in pages:
            missing.append(f"/{path}: no such page")
            continue
        ids = set(pages[path].ids)
        missing += [f"/{path}#{ident} (at {pages[path].path})" for ident in idents if ident not in ids]
    assert not missing, "\n".join(missing)
