"""What a reader sees, page by page, at a desktop width and a phone width, in both palettes:
nothing the page holds is cut off (content wider than its column scrolls instead), every verdict
(✓) of a comparison table is on screen without scrolling.  The pages' facts come from one visit
per page and view (``seen.py``)."""

from __future__ import annotations

import pytest

from convops import KINDS
from convops_book.site import BIAS_TABS, WIDTH, formula_latex, page_name
from seen import DESKTOP, MIN_CONTRAST, PALETTES, PHONE, view_id, views

#: The first screen of a desktop window, 1280 × 800.
FIRST_SCREEN = 800


@pytest.mark.parametrize("view", views(), ids=view_id)
def test_nothing_is_cut_off(site, view):
    problems = [f"/{path}: {p}" for path, page in site.view(*view).items() for p in page.clipped]
    assert not problems, f"at {view_id(view)}:\n" + "\n".join(problems[:40]) + f"\n({len(problems)} in all)"


@pytest.mark.parametrize("view", [v for v in views() if v[0] == DESKTOP], ids=view_id)
def test_every_verdict_is_on_screen(site, view):
    """At 1280 px every ✓ of a formula-against-measurement table shows without scrolling."""
    hidden = [f"/{path}: {table}" for path, page in site.view(*view).items()
              for table in page.hiddenVerdicts]
    assert not hidden, "\n".join(hidden)


@pytest.mark.parametrize("palette", PALETTES)
def test_no_code_or_output_scrolls_sideways_at_a_desktop_width(site, palette):
    """At 1280 px every code cell, text output and command-line example fits its column."""
    problems = [f"/{path}: {pre}" for path, page in site.view(DESKTOP, palette).items()
                for pre in page.scrollingPre]
    assert not problems, f"{len(problems)} blocks scroll sideways:\n" + "\n".join(problems)


@pytest.mark.parametrize("palette", PALETTES)
def test_no_output_scrolls_sideways_on_a_phone(site, palette):
    """At 390 px code cells may scroll in their own box; the outputs a page argues with (verdicts,
    tables printed as text) may not."""
    problems = [f"/{path}: {pre}" for path, page in site.view(PHONE, palette).items()
                for pre in page.scrollingOutput]
    assert not problems, f"{len(problems)} outputs scroll sideways:\n" + "\n".join(problems)


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_module_page_answers_on_its_first_screen(site, kind):
    """At 1280 × 800 a module page shows its total, with bias and without, as convops prints it,
    above the fold."""
    page = site.page(f"notebooks/{page_name(kind)}/")
    for total in BIAS_TABS.values():
        tex = formula_latex(kind, total, WIDTH)
        bottoms = [d["bottom"] for d in page.displays if d["tex"].startswith(tex)]
        assert bottoms and min(bottoms) <= FIRST_SCREEN, (
            f"{total} ends at {min(bottoms, default=None)} px, not within the first {FIRST_SCREEN} px")


@pytest.mark.parametrize("view", views(), ids=view_id)
def test_no_equation_number_covers_its_formula(site, view):
    covered = [f"/{path}: {tag}" for path, page in site.view(*view).items() for tag in page.coveredTags]
    assert not covered, f"at {view_id(view)}:\n" + "\n".join(covered)


@pytest.mark.parametrize("palette", PALETTES)
def test_every_text_and_button_has_contrast(site, palette):
    """Every text and button of the page, against what it is painted on, at least 4.5:1."""
    low = [f"/{path}: {text}" for path, page in site.view(DESKTOP, palette).items()
           for text in page.lowContrast]
    assert not low, f"{len(low)} texts under {MIN_CONTRAST}:1 ({palette}):\n" + "\n".join(low[:60])


@pytest.mark.parametrize("palette", PALETTES)
def test_no_word_of_a_table_breaks_at_a_desktop_width(site, palette):
    """At 1280 px a table cell breaks between words, never inside one ("ConvTranspo se2d")."""
    broken = [f"/{path}: {word}" for path, page in site.view(DESKTOP, palette).items()
              for word in page.brokenWords]
    assert not broken, f"{len(broken)} words broken ({palette}):\n" + "\n".join(broken[:40])
