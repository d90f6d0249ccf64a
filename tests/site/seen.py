"""What a reader sees of the built site, page by page, as plain data.

Chromium visits each page once per *view* (a window width and a palette) and one script reads
everything the tests of this folder ask about that page: what is cut off, which tables are
wider than their column, every table cell and whether it is in view, the formulas and links,
the text without code, ids, what KaTeX left unrendered, and every console error or failed
request.  The tests then assert on these facts: a page costs one visit per view, however many
tests read it.

The default views are every page at 1280 px and 390 px in the light palette, and the pages
with the verification tables (:data:`PAGES_IN_BOTH_PALETTES`) in the dark palette as well;
``CONVOPS_HYPOTHESIS=thorough`` visits every page in both palettes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from convops import KINDS

#: A desktop window and a phone.
DESKTOP, PHONE = 1280, 390
WIDTHS = (DESKTOP, PHONE)
PALETTES = ("light", "dark")
HEIGHT = 900
THOROUGH = os.environ.get("CONVOPS_HYPOTHESIS") == "thorough"

MODULE_PAGES = tuple(f"notebooks/{name.lower()}/" for name in KINDS)
#: The pages whose tables and formulas carry the evidence: checked in the dark palette too
#: (every page is, in the thorough profile).
PAGES_IN_BOTH_PALETTES = (*MODULE_PAGES, "notebooks/conventions/", "notebooks/training_cost/",
                          "notebooks/comparison/", "notebooks/whole_models/")

#: TeX that only appears in visible text when KaTeX did not render it (code, and the hidden
#: copy of each notebook cell's source that its copy button copies, are not math).
RAW_TEX = ("$$", "\\frac", "\\text{", "\\(", "\\[", "\\left")

#: Elements that carry content a reader must be able to reach: text blocks, tables, images,
#: and each piece of a rendered formula.
CONTENT = ("article .katex-html > span, article table, article img, article svg, article p, "
           "article pre, article li")

#: The script that reads a page's facts.  Each entry of the object it returns is one fact.
FACTS = """(content) => {
  const width = document.documentElement.clientWidth;
  const article = document.querySelector("article");
  const describe = e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
    (e.className && typeof e.className === "string" ? "." + e.className.trim().split(/\\s+/).slice(0, 2).join(".") : "") +
    " «" + (e.textContent || e.getAttribute("alt") || "").trim().slice(0, 40) + "»";
  const span = r => `${Math.round(r.left)}..${Math.round(r.right)}`;
  const text = (root, drop, dropOutsideOutputs = null) => {
    const copy = root.cloneNode(true);
    copy.querySelectorAll(drop).forEach(e => e.remove());
    if (dropOutsideOutputs)
      copy.querySelectorAll(dropOutsideOutputs).forEach(e => e.closest(".jp-OutputArea") || e.remove());
    return copy.textContent;
  };

  // Content cut off where no scroll bar can bring it back.  Walking up from each element: an
  // ancestor that scrolls (overflow auto or scroll) brings what lies beyond its edges into view,
  // so from there on that box itself must be in view; an ancestor that clips (hidden, clip) cuts
  // off what lies beyond its edges; and the window cuts off what lies beyond its own.
  const clipped = [];
  for (const e of document.querySelectorAll(content)) {
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
    if (cut) clipped.push(`${describe(e)} ${cut}`);
  }

  // Whether a reader sees an element without scrolling sideways: inside the window and inside
  // every box that clips or scrolls.
  const seen = e => {
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.left < -1 || r.right > width + 1) return false;
    for (let box = e.parentElement; box && box !== document.body; box = box.parentElement) {
      if (getComputedStyle(box).overflowX === "visible") continue;
      const c = box.getBoundingClientRect();
      if (r.left < c.left - 1 || r.right > c.right + 1) return false;
    }
    return true;
  };

  // Every table: its caption, header, cells (each with whether it is seen), and whether its
  // content is wider than its box (its scroll box, or the article's column) by more than a
  // border's few pixels (Material's table wrapper scrolls 2 px for its own border).
  const SLACK = 4;
  const column = article.getBoundingClientRect();
  const tables = [...article.querySelectorAll("table")].map(table => {
    const r = table.getBoundingClientRect();
    let box = table, wide = r.width > 0 && (r.right > column.right + SLACK || table.scrollWidth > table.clientWidth + SLACK);
    for (let e = table.parentElement; e && r.width > 0 && !wide && e.tagName !== "ARTICLE"; e = e.parentElement)
      if (getComputedStyle(e).overflowX !== "visible" && e.scrollWidth > e.clientWidth + SLACK) { box = e; wide = true; }
    return {
      caption: (table.querySelector("caption")?.textContent || "").trim(),
      head: [...table.querySelectorAll("thead th")].map(th => th.textContent.trim()),
      rows: [...table.querySelectorAll("tbody tr")].map(row => [...row.children].map(
        cell => ({text: cell.textContent.trim(), seen: seen(cell)}))),
      title: (table.querySelector("caption, th")?.textContent || "").trim().slice(0, 70),
      wide: wide ? `${Math.round(Math.max(table.scrollWidth, box.scrollWidth))} px in ${Math.round(column.width)} px` : null,
    };
  });

  // Verdict cells of notebook tables that lie beyond the visible part of their scroll box.
  const hiddenVerdicts = [];
  for (const cell of document.querySelectorAll(".jp-OutputArea-output td")) {
    if (!/^(✓|✗)/.test(cell.textContent.trim())) continue;
    let right = width;  // what every scroll box lets show
    for (let box = cell.parentElement; box; box = box.parentElement)
      if (getComputedStyle(box).overflowX !== "visible") right = Math.min(right, box.getBoundingClientRect().right);
    if (cell.getBoundingClientRect().right > right + 1)
      hiddenVerdicts.push(cell.closest("table").querySelector("caption, th")?.textContent.slice(0, 60));
  }

  const annotations = root => [...root.querySelectorAll(".katex annotation")].map(a => a.textContent);
  return {
    path: location.pathname,
    ids: [...document.querySelectorAll("[id]")].map(e => e.id),
    clipped,
    tables,
    hiddenVerdicts,
    // The page's text as a reader sees it, without code: the notebooks' input cells, code
    // blocks outside cell outputs, the hidden copies of cell sources, math (its TeX), scripts.
    prose: text(article, ".jp-InputArea, .clipboard-copy-txt, .katex, script, style", "pre, code"),
    tex: annotations(article),
    displayed: [...article.querySelectorAll(".katex-display")].map(e => annotations(e).join("")),
    links: [...article.querySelectorAll("a[href]")].map(a => new URL(a.href).pathname),
    formulas: [...article.querySelectorAll(".convops-formula[id]")].map(e => ({
      id: e.id, displays: e.querySelectorAll(".katex-display").length, shown: e.getBoundingClientRect().height > 0})),
    symbolTables: [...article.querySelectorAll(".convops-symbols")].map(e => ({
      id: e.id, symbols: [...e.querySelectorAll("td:first-child annotation")].map(a => a.textContent.trim())})),
    // Text outputs that wrap: not white-space: pre, or taller than their lines.
    wrappedOutputs: [...article.querySelectorAll(".jp-OutputArea-output pre")].filter(pre => {
      const style = getComputedStyle(pre);
      const lines = pre.textContent.replace(/\\n$/, "").split("\\n").length;
      return style.whiteSpace !== "pre" || pre.getBoundingClientRect().height > lines * parseFloat(style.lineHeight) + 1;
    }).map(pre => pre.textContent.slice(0, 60)),
    // Code blocks whose lines need a sideways scroll.
    scrollingCode: [...article.querySelectorAll("pre > code")].filter(code => code.scrollWidth > code.clientWidth + 1)
      .map(code => code.textContent.slice(0, 60)),
  };
}"""

#: The body's text without code (``pre``, ``code``, the hidden copies of cell sources), math
#: and scripts: where raw TeX shows when KaTeX did not render it.
_VISIBLE_TEXT = """() => {
    const body = document.body.cloneNode(true);
    body.querySelectorAll("pre, code, script, style, textarea, .katex, .clipboard-copy-txt").forEach(e => e.remove());
    return body.textContent;
  }"""

#: What KaTeX left unrendered: raw TeX in the visible text, and its error boxes.
MATH = f"""(rawTex) => {{
  const visible = ({_VISIBLE_TEXT})();
  return {{unrenderedTex: rawTex.filter(tex => visible.includes(tex)),
          katexErrors: document.querySelectorAll(".katex-error").length}};
}}"""

#: Resolves once KaTeX has rendered the page (no raw TeX left in its visible text), or after
#: 10 s, whichever comes first, and once its fonts (which decide every width) are loaded.
RENDERED = f"""async (rawTex) => {{
  const visible = {_VISIBLE_TEXT};
  const start = performance.now();
  while (rawTex.some(tex => visible().includes(tex)) && performance.now() - start < 10000)
    await new Promise(r => setTimeout(r, 100));
  await document.fonts.ready;
}}"""


@dataclass
class Page:
    """The facts of one page in one view (the keys of :data:`FACTS`), and the problems (console
    errors, page errors, failed requests, requests leaving the site) its visit recorded."""

    facts: dict
    problems: list[str] = field(default_factory=list)

    def __getattr__(self, name: str):
        try:
            return self.facts[name]
        except KeyError:
            raise AttributeError(name) from None

    def math_problems(self) -> list[str]:
        """What KaTeX left unrendered."""
        return _unrendered(self.facts)

    def cells(self, table: str, columns: list[str]) -> list[dict]:
        """The cells under the columns named ``columns`` (a header cell starting with one of
        them) of the tables whose caption, header or row labels (first column) contain
        ``table``, each with its ``column``, ``text`` and whether it is ``seen``."""
        found = []
        for t in self.tables:
            labels = [t["caption"], *t["head"], *(row[0]["text"] for row in t["rows"] if row)]
            if not any(table in label for label in labels):
                continue
            for i, head in enumerate(t["head"]):
                if any(head.startswith(c) for c in columns):
                    found += [{"column": head, **row[i]} for row in t["rows"] if i < len(row)]
        return found


def read(page) -> dict:
    """The facts of the page loaded in ``page`` (a Playwright page), once its math rendered."""
    page.evaluate(RENDERED, list(RAW_TEX))
    return {**page.evaluate(FACTS, CONTENT), **page.evaluate(MATH, list(RAW_TEX))}


def math_problems(page) -> list[str]:
    """What KaTeX left unrendered on the page loaded in ``page``, once it had 10 s to render."""
    page.evaluate(RENDERED, list(RAW_TEX))
    return _unrendered(page.evaluate(MATH, list(RAW_TEX)))


def _unrendered(math: dict) -> list[str]:
    """:data:`MATH`'s facts, in words."""
    errors = math["katexErrors"]
    return [f"unrendered TeX {tex!r}" for tex in math["unrenderedTex"]] + (
        [f"{errors} KaTeX errors"] if errors else [])


def views() -> list[tuple[int, str]]:
    """Every (width, palette) the tests look at."""
    return [(width, palette) for palette in PALETTES for width in WIDTHS]


def pages_in(palette: str, paths: list[str]) -> list[str]:
    """The pages of ``paths`` visited in ``palette``."""
    if palette == "light" or THOROUGH:
        return paths
    return [p for p in paths if p in PAGES_IN_BOTH_PALETTES]


def view_id(view: tuple[int, str]) -> str:
    return f"{view[0]}px-{view[1]}"


class Site:
    """The facts of every page, read the first time a test asks for a view (one browser
    context per view, one tab visiting its pages in turn)."""

    def __init__(self, paths: list[str], open_visit):
        """``open_visit(**context_options)`` opens a ``conftest.Visit`` in a new context."""
        self._paths, self._open_visit = paths, open_visit
        self._views: dict[tuple[int, str], dict[str, Page]] = {}

    def view(self, width: int, palette: str) -> dict[str, Page]:
        """``{path: Page}`` of every page visited at ``width`` in ``palette``."""
        key = (width, palette)
        if key not in self._views:
            self._views[key] = self._read(width, palette)
        return self._views[key]

    def page(self, path: str, width: int = DESKTOP, palette: str = "light") -> Page:
        return self.view(width, palette)[path]

    def _read(self, width: int, palette: str) -> dict[str, Page]:
        visit = self._open_visit(viewport={"width": width, "height": HEIGHT}, color_scheme=palette)
        pages = {}
        try:
            for path in pages_in(palette, self._paths):
                visit.problems.clear()
                visit.goto(path)
                pages[path] = Page(read(visit.page), list(visit.problems))
        finally:
            visit.context.close()
        return pages
