"""The built site in headless Chromium: every page loads cleanly with its math rendered, the
palette toggles, search works, instant navigation renders math, formula links open their tab."""

from __future__ import annotations

import pytest

from convops import KINDS
from convops_book.site import anchor
from seen import MODULE_PAGES, math_problems, view_id, views


@pytest.mark.parametrize("view", views(), ids=view_id)
def test_every_page_loads_cleanly(site, view):
    """No console error, failed request or request leaving the site; all math rendered."""
    problems = []
    for path, page in site.view(*view).items():
        problems += page.problems + [f"/{path}: {p}" for p in page.math_problems()]
    assert not problems, f"at {view_id(view)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", MODULE_PAGES)
def test_module_pages_render_their_formulas(site, path):
    """Each formula of the summary is one displayed formula; the total with bias, in the
    first tab, is shown."""
    formulas = site.page(path).formulas
    kind = next(k for k in KINDS if path == f"notebooks/{k.lower()}/")
    assert formulas and all(f["displays"] == 1 for f in formulas), formulas
    assert {f["id"]: f["shown"] for f in formulas}[anchor(kind, "total_bias")]


def test_a_formula_link_opens_its_tab(visit):
    target = anchor("Conv2d", "total_no_bias")
    visit.goto(f"notebooks/conv2d/#{target}")
    visit.page.wait_for_function(f"document.getElementById('{target}').offsetParent !== null")
    assert visit.page.locator(f"#{target}").is_visible()
    assert not visit.page.locator(f"#{anchor('Conv2d', 'total_bias')}").is_visible()


def test_light_dark_toggle(visit):
    visit.goto("")
    scheme = "document.body.getAttribute('data-md-color-scheme')"
    assert visit.page.evaluate(scheme) == "default"
    visit.page.locator("form[data-md-component=palette] label:visible").click()
    assert visit.page.evaluate(scheme) == "slate"
    visit.page.locator("form[data-md-component=palette] label:visible").click()
    assert visit.page.evaluate(scheme) == "default"
    assert not visit.problems, "\n".join(visit.problems)


def test_search_finds_convtranspose2d(visit):
    visit.goto("")
    visit.page.locator("input.md-search__input").click()
    visit.page.locator("input.md-search__input").press_sequentially("ConvTranspose2d")
    result = visit.page.locator(".md-search-result__item a[href*='convtranspose2d']").first
    result.wait_for(timeout=15_000)
    assert not visit.problems, "\n".join(visit.problems)


def test_instant_navigation_renders_math(visit):
    visit.goto("")
    visit.page.evaluate("window.stillThisDocument = true")
    visit.page.locator(".md-nav a[href$='notebooks/conv2d/']").first.click()
    formula = visit.page.locator(f"#{anchor('Conv2d', 'total_bias')} .katex-display")
    formula.wait_for(timeout=15_000)
    assert visit.page.evaluate("window.stillThisDocument === true"), "the click reloaded the page"
    assert not math_problems(visit.page)
    assert not visit.problems, "\n".join(visit.problems)
