"""The built site in headless Chromium: every page loads cleanly with its math rendered, the
palette toggles, search works, instant navigation renders math, formula links open their tab."""

from __future__ import annotations

import json

from playwright.sync_api import TimeoutError as PlaywrightTimeout

from convops_book.site import anchor

#: TeX that only appears in visible text when KaTeX did not render it (code, and the hidden
#: copy of each notebook cell's source that its copy button copies, are not math).
RAW_TEX = ("$$", "\\frac", "\\text{", "\\(", "\\[", "\\left")

_VISIBLE_TEXT = """(() => {
  const body = document.body.cloneNode(true);
  body.querySelectorAll("pre, code, script, style, textarea, .katex, .clipboard-copy-txt")
    .forEach(e => e.remove());
  return body.textContent;
})()"""
_NO_RAW_TEX = f"!{json.dumps(RAW_TEX)}.some(tex => {_VISIBLE_TEXT}.includes(tex))"


def _math_problems(page) -> list[str]:
    """What KaTeX left unrendered, once it has had 10 s to render the page."""
    try:
        page.wait_for_function(_NO_RAW_TEX, timeout=10_000)
    except PlaywrightTimeout:
        pass
    problems = [f"unrendered TeX {tex!r}" for tex in RAW_TEX if tex in page.evaluate(_VISIBLE_TEXT)]
    errors = page.locator(".katex-error").count()
    return problems + ([f"{errors} KaTeX errors"] if errors else [])


def test_every_page_loads_cleanly(build, visit):
    for path in build.pages():
        url_path = path.relative_to(build.site).as_posix().removesuffix("index.html")
        visit.goto(url_path)
        visit.problems += [f"{visit.page.url}: {p}" for p in _math_problems(visit.page)]
    assert not visit.problems, "\n".join(visit.problems)


def test_module_pages_render_their_formulas(build, visit):
    visit.goto("notebooks/convtranspose2d/")
    formula = visit.page.locator(f"#{anchor('ConvTranspose2d', 'total_bias')}")
    assert formula.locator(".katex-display").count() == 1
    assert formula.is_visible()
    assert not visit.problems, "\n".join(visit.problems)


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
    assert not _math_problems(visit.page)
    assert not visit.problems, "\n".join(visit.problems)
