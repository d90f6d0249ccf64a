"""What a reader sees, page by page, at a desktop width and a phone width: nothing the page
holds is cut off (content wider than its column scrolls instead), every verdict (✓) of a
comparison table is on screen without scrolling, every image says what it shows."""

from __future__ import annotations

import pytest

#: A desktop window and a phone.
WIDTHS = (1280, 390)

#: Elements that carry content a reader must be able to reach: text blocks, tables, images,
#: and each piece of a rendered formula.
_CONTENT = "article .katex-html > span, article table, article img, article svg, article p, article pre, article li"

#: Content cut off where no scroll bar can bring it back.  Walking up from each element: an
#: ancestor that scrolls (overflow auto or scroll) brings what lies beyond its edges into view, so
#: from there on that box itself must be in view; an ancestor that clips (hidden, clip) cuts off
#: what lies beyond its edges; and the window cuts off what lies beyond its own.
CLIPPED = """(selector) => {
  const describe = e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
    (e.className && typeof e.className === "string" ? "." + e.className.trim().split(/\\s+/).slice(0, 2).join(".") : "") +
    " «" + (e.textContent || e.getAttribute("alt") || "").trim().slice(0, 40) + "»";
  const span = r => `${Math.round(r.left)}..${Math.round(r.right)}`;
  const width = document.documentElement.clientWidth;
  const problems = [];
  for (const e of document.querySelectorAll(selector)) {
    let r = e.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;  // not shown (another tab, a closed details)
    let cut = null;
    for (let box = e.parentElement; box && box !== document.body && !cut; box = box.parentElement) {
      const overflow = getComputedStyle(box).overflowX;
      if (overflow === "visible") continue;
      const c = box.getBoundingClientRect();
      if (overflow === "auto" || overflow === "scroll") r = c;
      else if (r.left < c.left - 1 || r.right > c.right + 1) cut = `cut off by ${describe(box)} (${span(r)} outside ${span(c)})`;
    }
    if (!cut && (r.left < -1 || r.right > width + 1)) cut = `beyond the window (${span(r)} of 0..${width})`;
    if (cut) problems.push(`${describe(e)} ${cut}`);
  }
  return problems;
}"""


def _url_paths(build) -> list[str]:
    return [p.relative_to(build.site).as_posix().removesuffix("index.html") for p in build.pages()
            if p.name != "404.html"]


def _rendered(visit, path: str, width: int) -> None:
    visit.page.set_viewport_size({"width": width, "height": 900})
    visit.goto(path)
    visit.page.wait_for_function("document.querySelector('article') !== null && "
                                 "!document.querySelector('article').textContent.includes('$$')",
                                 timeout=10_000)


@pytest.mark.parametrize("width", WIDTHS)
def test_nothing_is_cut_off(build, visit, width):
    problems = []
    for path in _url_paths(build):
        _rendered(visit, path, width)
        problems += [f"/{path} at {width} px: {p}" for p in visit.page.evaluate(CLIPPED, _CONTENT)]
    assert not problems, "\n".join(problems[:40]) + f"\n({len(problems)} in all)"


#: Verdict cells of notebook tables that lie beyond the visible part of their scroll box.
HIDDEN_VERDICTS = """() => {
  const hidden = [];
  for (const cell of document.querySelectorAll(".jp-OutputArea-output td")) {
    if (!/^(✓|✗)/.test(cell.textContent.trim())) continue;
    let right = document.documentElement.clientWidth;  // what every scroll box lets show
    for (let box = cell.parentElement; box; box = box.parentElement)
      if (getComputedStyle(box).overflowX !== "visible") right = Math.min(right, box.getBoundingClientRect().right);
    if (cell.getBoundingClientRect().right > right + 1)
      hidden.push(cell.closest("table").querySelector("caption, th")?.textContent.slice(0, 60));
  }
  return hidden;
}"""


def test_every_verdict_is_on_screen(build, visit):
    """At 1280 px every ✓ of a formula-against-measurement table shows without scrolling."""
    hidden = []
    for path in _url_paths(build):
        if path.startswith("notebooks/"):
            _rendered(visit, path, 1280)
            hidden += [f"/{path}: {table}" for table in visit.page.evaluate(HIDDEN_VERDICTS)]
    assert not hidden, "\n".join(hidden)
