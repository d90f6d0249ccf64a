"""What a reader sees of the built site, page by page, as plain data.

Chromium shows each page in every *view* (1280 px and 390 px wide, light and dark palette) and
two scripts read everything the tests of this folder ask about it: what is cut off, which
tables and formulas are wider than their column, every table cell and whether it is in view
(:data:`VIEW_FACTS`, per view); the formulas and links, the text without code, ids, what KaTeX
left unrendered (:data:`PAGE_FACTS`, once); and every console error or failed request.  The
tests then assert on these facts, however many of them read a page (:class:`Site`).
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
#: The pages that hold the evidence (verification tables, the tables the prose argues with,
#: long formulas): seen in the dark palette too by default (every page is, in the thorough
#: profile).  The palette changes colours, not sizes; these pages check that it stays so.
PAGES_IN_BOTH_PALETTES = ("notebooks/conv2d/", "notebooks/convtranspose2d/", "notebooks/conventions/",
                          "notebooks/training_cost/", "notebooks/comparison/", "notebooks/whole_models/")

#: TeX that only appears in visible text when KaTeX did not render it (code, and the hidden
#: copy of each notebook cell's source that its copy button copies, are not math).
RAW_TEX = ("$$", "\\frac", "\\text{", "\\(", "\\[", "\\left")

#: Elements that carry content a reader must be able to reach: text blocks, tables, images,
#: and each piece of a rendered formula.
CONTENT = ("article .katex-html > span, article table, article img, article svg, article p, "
           "article pre, article li")

#: The body's text without code (``pre``, ``code``, the hidden copies of cell sources), math
#: and scripts: where raw TeX shows when KaTeX did not render it.
_VISIBLE_TEXT = """() => {
    const body = document.body.cloneNode(true);
    body.querySelectorAll("pre, code, script, style, textarea, .katex, .clipboard-copy-txt").forEach(e => e.remove());
    return body.textContent;
  }"""

#: The facts of a page that depend on the width and the palette: what is cut off or wider than
#: its box, and every table cell with whether it is seen.
VIEW_FACTS = """(content) => {
  const width = document.documentElement.clientWidth;
  const article = document.querySelector("article");
  const describe = e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
    (e.className && typeof e.className === "string" ? "." + e.className.trim().split(/\\s+/).slice(0, 2).join(".") : "") +
    " «" + (e.textContent || e.getAttribute("alt") || "").trim().slice(0, 40) + "»";
  const span = r => `${Math.round(r.left)}..${Math.round(r.right)}`;
  // Whether a pre needs a sideways scroll: the pre itself, or a box around it (inside the
  // article) that scrolls because of it.
  const scrolls = pre => {
    if (pre.getBoundingClientRect().width === 0) return false;
    for (let box = pre; box && box !== article; box = box.parentElement)
      if (["auto", "scroll"].includes(getComputedStyle(box).overflowX) && box.scrollWidth > box.clientWidth + 1
          && box.getBoundingClientRect().width > 0) return true;
    for (const code of pre.querySelectorAll("code"))
      if (code.scrollWidth > code.clientWidth + 1) return true;
    return false;
  };
  const described = pre => `${describe(pre.closest(".jp-Cell, .highlight, pre"))} (${Math.round(Math.max(pre.scrollWidth,
    ...[...pre.querySelectorAll("code")].map(c => c.scrollWidth)))} px)`;

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

  // Displayed formulas wider than the column (they scroll in their own box).
  const wideFormulas = [...article.querySelectorAll(".katex-display > .katex")]
    .filter(k => k.getBoundingClientRect().width > 0 && k.scrollWidth > Math.min(column.width, k.parentElement.clientWidth) + SLACK)
    .map(k => `${(k.querySelector("annotation")?.textContent || "").trim().slice(0, 70)} (${Math.round(k.scrollWidth)} px in ${Math.round(Math.min(column.width, k.parentElement.clientWidth))} px)`);

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

  return {
    clipped,
    tables,
    wideFormulas,
    hiddenVerdicts,
    formulas: [...article.querySelectorAll(".convops-formula[id]")].map(e => ({
      id: e.id, displays: e.querySelectorAll(".katex-display").length, shown: e.getBoundingClientRect().height > 0})),
    // Code blocks whose lines need a sideways scroll.
    scrollingCode: [...article.querySelectorAll("pre > code")].filter(code => code.scrollWidth > code.clientWidth + 1)
      .map(code => code.textContent.slice(0, 60)),
    // Every block of code or text output (a pre) that needs a sideways scroll: the pre itself, or a
    // box around it (inside the article) that scrolls because of it.
    scrollingPre: [...article.querySelectorAll("pre")].filter(scrolls).map(described),
    // The text outputs among them: the verdicts and tables a page argues with.
    scrollingOutput: [...article.querySelectorAll(".jp-OutputArea pre")].filter(scrolls).map(described),
    // Every displayed formula: its TeX and where it ends, from the top of the page.
    displays: [...article.querySelectorAll(".katex-display")].filter(e => e.getBoundingClientRect().height > 0)
      .map(e => ({tex: (e.querySelector("annotation")?.textContent || "").trim(),
                  bottom: Math.round(e.getBoundingClientRect().bottom + window.scrollY)})),
    // Equation numbers (\\tag) whose box meets a box of their formula's.
    // (the number's glyphs: the pieces of the tag with text, against every piece of the formula)
    coveredTags: [...article.querySelectorAll(".katex-display .katex-html > .katex-tag")].filter(tag => {
      const glyphs = [...tag.querySelectorAll("*")].filter(e => !e.children.length && e.textContent.trim())
        .map(e => e.getBoundingClientRect()).filter(t => t.width > 0);
      const pieces = tag.parentElement.querySelectorAll(":scope > .katex-base, :scope > .katex-base *");
      return [...pieces].some(b => {
        const r = b.getBoundingClientRect();
        return r.width > 0 && r.height > 0 && glyphs.some(t => r.right > t.left + 0.5 && r.left < t.right - 0.5
          && r.bottom > t.top + 0.5 && r.top < t.bottom - 0.5);
      });
    }).map(tag => `(${tag.textContent.trim().replace(/[()]/g, "")}) of ${(tag.closest(".katex")
      .querySelector("annotation")?.textContent || "").trim().slice(0, 50)}`),
  };
}"""

#: The contrast of every piece of text of the page (and every button) against the background it
#: is painted on, in the palette shown: where it is under :data:`MIN_CONTRAST`.  The palette
#: changes colours, not sizes: read at the desktop width only.
CONTRAST_FACTS = """async (minimum) => {
  // colours still fading (Material's navigation fades in after a load) are read once settled
  const finite = document.getAnimations().filter(a => a.effect?.getComputedTiming().endTime !== Infinity);
  await Promise.race([Promise.allSettled(finite.map(a => a.finished)), new Promise(r => setTimeout(r, 2000))]);
  const parse = c => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return [0, 0, 0, 0];
    const v = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number); return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1]; };
  const over = (top, under) => { const a = top[3]; return [0, 1, 2].map(i => top[i] * a + under[i] * (1 - a)).concat(1); };
  const backgrounds = new Map();
  const background = e => {
    if (!e) return [255, 255, 255, 1];
    if (backgrounds.has(e)) return backgrounds.get(e);
    const own = parse(getComputedStyle(e).backgroundColor);
    const found = own[3] >= 1 ? own : own[3] > 0 ? over(own, background(e.parentElement)) : background(e.parentElement);
    backgrounds.set(e, found);
    return found;
  };
  const luminance = c => { const l = c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2]; };
  const contrast = (a, b) => { const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const elements = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode())
    if (n.textContent.trim() && n.parentElement) elements.add(n.parentElement);
  document.querySelectorAll("button, .md-button, input[type=button]").forEach(b => elements.add(b));
  const low = [];
  for (const e of elements) {
    if (e.closest("script, style, .clipboard-copy-txt, .katex-mathml, [hidden], .md-search")) continue;
    const r = e.getBoundingClientRect();
    const style = getComputedStyle(e);
    if (r.width === 0 || r.height === 0 || style.visibility !== "visible" || parseFloat(style.opacity) === 0) continue;
    const bg = background(e);
    let fg = parse(style.color);
    let opacity = 1;
    for (let a = e; a; a = a.parentElement) opacity *= parseFloat(getComputedStyle(a).opacity);
    if (opacity < 0.5) continue;  // fading in or out (the header's title, a closing menu)
    fg = [...fg.slice(0, 3), fg[3] * opacity];
    const ratio = contrast(over(fg, bg), bg);
    if (ratio < minimum) low.push(`${e.tagName.toLowerCase()}${e.className && typeof e.className === "string" ? "." + e.className.trim().split(/\\s+/).slice(0, 2).join(".") : ""} «${e.textContent.trim().slice(0, 30)}» ${ratio.toFixed(2)}:1 (${style.color} on rgb(${bg.slice(0, 3).map(Math.round).join(", ")}))`);
  }
  // Words of a table cell broken over two lines (a word is what lies between spaces and the
  // break points <wbr> marks).
  const broken = [];
  const range = document.createRange();
  for (const td of document.querySelectorAll("article td")) {
    if (td.getBoundingClientRect().width === 0) continue;
    const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode())
      for (const m of n.textContent.matchAll(/[^\\s-]{2,}/g)) {  // a break at a hyphen is a break between words
        range.setStart(n, m.index);
        range.setEnd(n, m.index + m[0].length);
        const lines = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (lines.size > 1) broken.push(`«${m[0]}» in «${td.textContent.trim().slice(0, 40)}»`);
      }
  }
  return {lowContrast: low, brokenWords: broken};
}"""

#: WCAG's AA contrast for text.
MIN_CONTRAST = 4.5

#: The facts of a page that do not depend on the width or the palette: its address once loaded,
#: ids, text, formulas (their TeX), links, symbols tables, what KaTeX left unrendered.
PAGE_FACTS = f"""(rawTex) => {{
  const article = document.querySelector("article");
  const text = (root, drop, dropOutsideOutputs = null) => {{
    const copy = root.cloneNode(true);
    copy.querySelectorAll(drop).forEach(e => e.remove());
    if (dropOutsideOutputs)
      copy.querySelectorAll(dropOutsideOutputs).forEach(e => e.closest(".jp-OutputArea") || e.remove());
    return copy.textContent;
  }};
  const annotations = root => [...root.querySelectorAll(".katex annotation")].map(a => a.textContent);
  const visible = ({_VISIBLE_TEXT})();
  return {{
    path: location.pathname,
    ids: [...document.querySelectorAll("[id]")].map(e => e.id),
    // The page's text as a reader sees it, without code: the notebooks' code cells' sources, code
    // blocks outside cell outputs, the hidden copies of cell sources, math (its TeX), scripts.
    prose: text(article, ".jp-CodeCell .jp-InputArea, .clipboard-copy-txt, .katex, script, style", "pre, code"),
    tex: annotations(article),
    displayed: [...article.querySelectorAll(".katex-display")].map(e => annotations(e).join("")),
    links: [...article.querySelectorAll("a[href]")].map(a => new URL(a.href).pathname),
    symbolTables: [...article.querySelectorAll(".convops-symbols")].map(e => ({{
      id: e.id, symbols: [...e.querySelectorAll("td:first-child annotation")].map(a => a.textContent.trim())}})),
    unrenderedTex: rawTex.filter(tex => visible.includes(tex)),
    katexErrors: document.querySelectorAll(".katex-error").length,
  }};
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
    """The facts of one page in one view (the keys of :data:`PAGE_FACTS` and
    :data:`VIEW_FACTS`), and the problems (console errors, page errors, failed requests,
    requests leaving the site) its visit recorded."""

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


def _unrendered(facts: dict) -> list[str]:
    """What KaTeX left unrendered (of :data:`PAGE_FACTS`), in words."""
    errors = facts["katexErrors"]
    return [f"unrendered TeX {tex!r}" for tex in facts["unrenderedTex"]] + (
        [f"{errors} KaTeX errors"] if errors else [])


def page_facts(page) -> dict:
    """:data:`PAGE_FACTS` of the page loaded in ``page`` (a Playwright page), once KaTeX has
    rendered it."""
    page.evaluate(RENDERED, list(RAW_TEX))
    return page.evaluate(PAGE_FACTS, list(RAW_TEX))


def math_problems(page) -> list[str]:
    """What KaTeX left unrendered on the page loaded in ``page``, once it had 10 s to render."""
    return _unrendered(page_facts(page))


def views() -> list[tuple[int, str]]:
    """Every (width, palette) the tests look at."""
    return [(width, palette) for palette in PALETTES for width in WIDTHS]


def view_id(view: tuple[int, str]) -> str:
    return f"{view[0]}px-{view[1]}"


#: Material's palette of each palette name (``data-md-color-scheme``).
SCHEMES = {"light": "default", "dark": "slate"}


class Site:
    """The facts of every page in every view, read the first time a test asks for them.

    By default each page is loaded once and then shown in each of its views without reloading
    (the window resized, the palette switched with the header's toggle, as a reader does):
    every page at 1280 px and 390 px in the light palette, the pages that hold the evidence
    (:data:`PAGES_IN_BOTH_PALETTES`) in the dark palette too.  In the thorough profile every
    page is seen in every view, each view a fresh load of its own (``prefers-color-scheme``
    set, the window at its width from the start).
    """

    def __init__(self, paths: list[str], open_visit):
        """``open_visit(**context_options)`` opens a ``conftest.Visit`` in a new context."""
        self._paths, self._open_visit = paths, open_visit
        self._views: dict[tuple[int, str], dict[str, Page]] | None = None

    def view(self, width: int, palette: str) -> dict[str, Page]:
        """``{path: Page}`` of every page seen at ``width`` in ``palette``."""
        if self._views is None:
            self._views = self._fresh_loads() if THOROUGH else self._one_load_each()
        return self._views[(width, palette)]

    def page(self, path: str, width: int = DESKTOP, palette: str = "light") -> Page:
        return self.view(width, palette)[path]

    def _one_load_each(self) -> dict[tuple[int, str], dict[str, Page]]:
        seen = {view: {} for view in views()}
        both = [p for p in self._paths if p in PAGES_IN_BOTH_PALETTES]
        light = [p for p in self._paths if p not in both]
        # One change at a time; a page starts in the palette the one before it ended in (the
        # toggle's choice is kept), so the pages in both palettes alternate their order.
        orders = [[(DESKTOP, "light"), (PHONE, "light")]] * len(light) + [
            [(DESKTOP, "light"), (PHONE, "light"), (PHONE, "dark"), (DESKTOP, "dark")][::(-1) ** i]
            for i in range(len(both))]
        visit = self._open_visit(viewport={"width": DESKTOP, "height": HEIGHT}, color_scheme="light")
        try:
            for path, order in zip(light + both, orders):
                visit.problems.clear()
                visit.goto(path)
                facts = page_facts(visit.page)
                shown = {}
                for width, palette in order:
                    _show(visit.page, width, palette)
                    shown[(width, palette)] = {**facts, **_view_facts(visit.page, width)}
                for view, page in shown.items():
                    seen[view][path] = Page(page, list(visit.problems))
        finally:
            visit.context.close()
        return seen

    def _fresh_loads(self) -> dict[tuple[int, str], dict[str, Page]]:
        seen = {}
        for width, palette in views():
            visit = self._open_visit(viewport={"width": width, "height": HEIGHT}, color_scheme=palette)
            try:
                seen[(width, palette)] = {}
                for path in self._paths:
                    visit.problems.clear()
                    visit.goto(path)
                    seen[(width, palette)][path] = Page(
                        {**page_facts(visit.page), **_view_facts(visit.page, width)}, list(visit.problems))
            finally:
                visit.context.close()
        return seen


def _show(page, width: int, palette: str) -> None:
    """Resize the window to ``width`` and switch to ``palette`` with the header's toggle, then
    wait for the page to be laid out again."""
    scheme = "document.body.getAttribute('data-md-color-scheme')"
    if page.viewport_size["width"] == width and page.evaluate(scheme) == SCHEMES[palette]:
        return
    page.set_viewport_size({"width": width, "height": HEIGHT})
    if page.evaluate(scheme) != SCHEMES[palette]:
        page.locator("form[data-md-component=palette] label:visible").click()
        page.wait_for_function(f"{scheme} === {SCHEMES[palette]!r}")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def _view_facts(page, width: int) -> dict:
    facts = page.evaluate(VIEW_FACTS, CONTENT)
    if width == DESKTOP:
        facts.update(page.evaluate(CONTRAST_FACTS, MIN_CONTRAST))
    return facts
