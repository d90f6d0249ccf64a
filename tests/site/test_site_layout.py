"""What a reader sees, page by page, at a desktop width and a phone width, in both palettes:
nothing the page holds is cut off (content wider than its column scrolls instead), every verdict
(✓) of a comparison table is on screen without scrolling.  The pages' facts come from one visit
per page and view (``seen.py``)."""

from __future__ import annotations

import pytest

from seen import DESKTOP, view_id, views


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
