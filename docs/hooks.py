"""MkDocs hooks of the convops site.

- Serve KaTeX from the site itself: its files, installed from npm into ``node_modules`` by
  ``make setup``, become files of the site under ``assets/katex/``.
- Open each module page (the notebook ``notebooks/<kind>.ipynb``), and the training-cost page
  (:func:`convops_book.backward.backward_summary_markdown`), with the formula summary that
  :mod:`convops_book.site` generates from the derivation: where a Markdown cell of the notebook
  says ``<!-- convops:summary -->`` (after its introduction), else right under its title.
- Put the calculator (:mod:`convops_book.calculator`) on the page holding
  ``<!-- convops:calculator -->`` and under each module page's formula summary, prefilled with
  the page's example layer; its formulas, printed as JavaScript from convops at each build,
  become ``assets/convops/formulas.js`` beside convops' ``runtime.js``.
- Put each module page's pictures (:mod:`convops_book.pictures`: ``docs/javascripts/picture.js``
  run under node) where its notebook says ``<!-- convops:pictures -->``, and the home page's
  and the Notation page's where ``docs/index.md`` and ``docs/notation.md`` say
  ``<!-- convops:picture -->``.
- Replace ``<!-- convops:formula KIND QUANTITY -->`` and ``<!-- convops:anchors -->`` in the
  Markdown pages with that formula and with the table of every formula's anchor,
  ``<!-- convops:equation KIND QUANTITY -->`` with the formula alone (no anchor);
  ``<!-- convops:api -->`` with the API reference of ``convops.__all__`` and
  ``<!-- convops:cli -->`` with the command line's arguments, read from its parser.
- Point a notebook's links to other notebooks or pages (``conv2d.ipynb#psi``, ``../README.md``
  work in Jupyter) to those pages on the site.
- Mark where the long tokens of a notebook table's cells may break (``<wbr>`` after their
  punctuation), so that a column narrows between words, never inside one.
- Give each notebook page the table of contents of its rendered headings: mkdocs-jupyter's own
  drops code and math from the titles, so its links miss nbconvert's heading ids.
- Open each module page with its answer (:func:`convops_book.site.answer_markdown`): the total,
  with bias and without, above the tiny example.
- Stamp each notebook page with what executed its stored outputs (``metadata.convops``, written
  by ``tools/execute_notebooks.py``) and links to download the book (``convops-book.zip``,
  :mod:`convops_book.archive`, served at the site's root) and the notebook.
- Read the repository link (footer; ``CONVOPS_REPO_URL`` overrides it) and the cite
  page's citations (BibTeX, plain text, the file itself) from ``CITATION.cff``, the one record
  of the software; fill in the install section from them.  While it records no public
  repository, no page links to one or offers to install from one.
- Keep the anchors a page had before (:data:`ANCHOR_ALIASES`): people cite them.
- Keep code cells' sources, cell outputs and TeX out of the search index.
- Drop what nbconvert's templates load from CDNs (MathJax 2 and its configuration, Mermaid):
  the site renders all math with the KaTeX above, and has no network to reach a CDN.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from urllib.parse import urlsplit

import json
import os

import markdown
import yaml
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File
from mkdocs.structure.toc import TableOfContents, get_toc

import convops
from convops import KINDS, derive
from convops_book.archive import ARCHIVE, book_archive
from convops_book.backward import backward_anchors_markdown, backward_summary_markdown
from convops.cli import argument_parser
from convops_book.calculator import RUNTIME, calculator_html, example_layer, formulas_module
from convops_book.pictures import page_pictures
from convops_book.site import (CALCULATOR_ID, NOTATION_URL, anchors_markdown, answer_markdown,
                               api_markdown, bibtex, citation_text,
                               cli_markdown, formula_markdown, number_references, page_name,
                               summary_markdown)

#: KaTeX's files the pages load, relative to ``node_modules/katex/dist``; the fonts load from CSS.
KATEX_FILES = ("katex.min.css", "katex.min.js", "contrib/auto-render.min.js",
               "contrib/copy-tex.min.js")
KATEX_SITE_DIR = "assets/katex"

MODULE_PAGES = {f"notebooks/{page_name(kind)}.ipynb": kind for kind in KINDS}
#: The pages that open with a formula summary, and the function that writes it.
SUMMARIES = {**{page: lambda kind=kind: summary_markdown(kind) for page, kind in MODULE_PAGES.items()},
             "notebooks/training_cost.ipynb": backward_summary_markdown}

_CDN_SCRIPTS = (
    re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.DOTALL),
    re.compile(r"<script type=\"module\">(?:(?!</script>).)*?mermaid.*?</script>", re.DOTALL),
    re.compile(r"<script src=\"https?://[^\"]*\">\s*</script>"),
)
_FIRST_H1_END = re.compile(r"</h1>")
#: What search leaves out, by class: code cells' sources (their hidden copy and "Copied!"
#: notice), cell outputs, math (its TeX source is not text a reader searches for), LaTeX code
#: blocks.  Material's search skips elements marked data-search-exclude, but stops skipping
#: at the first closing tag of the same name, so only elements without a nested one of their
#: own tag are marked: each output, not the output area.
_NOT_SEARCHED = ("clipboard-copy-txt", "notice", "jp-OutputArea-output", "arithmatex",
                 "highlight")  # code blocks of Markdown pages: shell sessions, examples
_CLASSED = re.compile(r'<(div|span) class="([^"]*)"')
_CELL_SOURCE = '<div class="highlight-ipynb hl-python"><pre>'
_LATEX_BLOCK = '<div class="highlight"><span class="filename">#'  # titled with its anchor
#: TeX left in the text of notebooks' Markdown cells, which KaTeX renders in the browser.
_TEX = re.compile(r"\$\$.+?\$\$|\$[^$\n]+\$|\\\(.+?\\\)|\\\[.+?\\\]", re.DOTALL)
_HEADING = re.compile(r'<h([1-6])\b[^>]*\bid="([^"]+)"[^>]*>(.*?)</h\1>', re.DOTALL)
_PERMALINK = re.compile(r'<a class="(?:anchor-link|headerlink)"[^>]*>.*?</a>', re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_HREF = re.compile(r'href="([^"#]+\.(?:ipynb|md))(#[^"]*)?"')
_FORMULA = re.compile(r"<!-- convops:formula (\w+) (\w+) -->")
#: A formula shown where it is explained, without its summary anchor: ``<!-- convops:equation KIND QUANTITY -->``.
_EQUATION = re.compile(r"<!-- convops:equation (\w+) (\w+) -->")
_ANCHORS = "<!-- convops:anchors -->"
_SUMMARY = "<!-- convops:summary -->"
_BIBTEX = "<!-- convops:bibtex -->"
_CITATION = "<!-- convops:citation -->"
_CFF = "<!-- convops:cff -->"
_INSTALL = "<!-- convops:install -->"
_VERSION = "<!-- convops:version -->"
_API = "<!-- convops:api -->"
_CALCULATOR = "<!-- convops:calculator -->"
_PICTURES = "<!-- convops:pictures -->"
_PAGE_PICTURE = "<!-- convops:picture -->"
#: The Markdown pages with a picture, and its owner in :func:`convops_book.pictures.page_pictures`.
_PICTURE_PAGES = {"index.md": "home", "notation.md": "notation"}
#: The Calculator page's layer before a reader types one (a permalink's query replaces it).
CALCULATOR_EXAMPLE = ("ConvTranspose2d(256, 128, 4, stride=2, padding=1)", "1, 256, 64, 64")
CALCULATOR_DIR = "assets/convops"
_CLI = "<!-- convops:cli -->"


#: Anchors a page had before its heading changed, kept as aliases: ``{page: {old id: new id}}``.
ANCHOR_ALIASES = {
    "notebooks/errata.ipynb": {"errata-what-the-reference-pages-get-wrong":
                               "errata-of-the-moduleprofiler-documentation"},
}


def citation_file(config) -> Path:
    return Path(config.config_file_path).parent / "CITATION.cff"


def citation(config) -> dict:
    """``CITATION.cff`` beside ``mkdocs.yml``, parsed."""
    return yaml.safe_load(citation_file(config).read_text())


def repository(config) -> str | None:
    """The repository's URL: ``CONVOPS_REPO_URL``, else ``CITATION.cff``'s ``repository-code``;
    ``None`` while neither names one."""
    return os.environ.get("CONVOPS_REPO_URL") or citation(config).get("repository-code")


def on_config(config):
    # A link in every page's footer; not Material's repo_url, whose header widget fetches the
    # repository's stars from GitHub's API (the site loads nothing from outside itself).
    if repository(config):
        config.extra["social"] = [{"icon": "fontawesome/brands/github", "link": repository(config),
                                   "name": "convops: the repository"}]
    return config


def install_markdown(repo: str | None, version: str) -> str:
    """The install section: from the repository at ``version``'s tag where there is one, and
    always from a checkout of the source or from a wheel built from it."""
    torch = "pip install torch   # any torch >= 2.1; the CPU build is enough"
    checkout = (f"From a checkout of the source (the folder with `pyproject.toml`):\n\n"
                f"```bash\n{torch}\npip install .\n```\n\n"
                f"or from a wheel built there, on any machine with torch:\n\n"
                f"```bash\npip wheel --no-deps --wheel-dir dist .\n"
                f"pip install dist/convops-{version}-py3-none-any.whl\n```")
    if not repo:
        return checkout
    return (f"From the repository:\n\n```bash\n{torch}\n"
            f"pip install \"convops @ git+{repo}@v{version}\"\n```\n\n"
            f"The source, issues and releases: [{repo}]({repo}).\n\n{checkout}")


def katex_dist(config) -> Path:
    dist = Path(config.config_file_path).parent / "node_modules" / "katex" / "dist"
    if not (dist / "katex.min.js").is_file():
        raise PluginError(f"KaTeX is missing from {dist}: run `make setup` (it runs `npm ci`)")
    return dist


def on_files(files, config):
    dist = katex_dist(config)
    fonts = sorted(p.relative_to(dist).as_posix() for p in (dist / "fonts").iterdir())
    for name in (*KATEX_FILES, *fonts):
        files.append(File.generated(config, f"{KATEX_SITE_DIR}/{name}", abs_src_path=str(dist / name)))
    pages = {kind: files.get_file_from_path(page).url for page, kind in MODULE_PAGES.items()}
    pages["backward"] = files.get_file_from_path("notebooks/training_cost.ipynb").url
    files.append(File.generated(config, f"{CALCULATOR_DIR}/formulas.js", content=formulas_module(pages)))
    files.append(File.generated(config, f"{CALCULATOR_DIR}/runtime.js", abs_src_path=str(RUNTIME)))
    files.append(File.generated(config, ARCHIVE, content=book_archive()))
    return files


def site_root(page) -> str:
    """The site's root relative to ``page``'s URL (``../`` for ``calculator/``)."""
    return "../" * page.url.count("/") or "./"


def on_page_markdown(markdown_text, page, config, files):
    markdown_text = _FORMULA.sub(lambda m: formula_markdown(m[1], m[2]), markdown_text)
    markdown_text = _EQUATION.sub(lambda m: f"$$\n{derive(m[1]).latex(m[2])}\n$$", markdown_text)
    if _ANCHORS in markdown_text:
        markdown_text = markdown_text.replace(
            _ANCHORS, f"{anchors_markdown()}\nOn the training-cost page:\n\n{backward_anchors_markdown()}")
    cff = citation(config)
    if _API in markdown_text:
        markdown_text = markdown_text.replace(_API, api_markdown(convops.__all__))
    if _CALCULATOR in markdown_text:
        markdown_text = markdown_text.replace(
            _CALCULATOR, calculator_html(site_root(page), *CALCULATOR_EXAMPLE, permalink=True))
    if _CLI in markdown_text:
        markdown_text = markdown_text.replace(_CLI, cli_markdown(argument_parser()))
    if _INSTALL in markdown_text:
        markdown_text = markdown_text.replace(_INSTALL, install_markdown(repository(config),
                                                                         str(cff["version"])))
    if _CFF in markdown_text:
        markdown_text = markdown_text.replace(_CFF, f"```yaml\n{citation_file(config).read_text()}```")
    return (markdown_text.replace(_BIBTEX, f"```bibtex\n{bibtex(cff)}\n```")
            .replace(_CITATION, citation_text(cff)).replace(_VERSION, str(cff["version"])))


def execution_stamp(page) -> str:
    """The line that says what executed a notebook's stored outputs, with a link to download it."""
    path = Path(page.file.abs_src_path)
    versions = json.loads(path.read_text(encoding="utf-8"))["metadata"].get("convops", {}).get(
        "executed_with")
    if not versions:
        raise PluginError(f"{page.file.src_uri} does not say what executed it: run "
                          f"tools/execute_notebooks.py {page.file.src_uri}")
    return (f'<p class="convops-stamp">Outputs stored from a run with convops '
            f'{versions["convops"]}, torch {versions["torch"]} and Python {versions["python"]}; '
            f'<a href="{site_root(page)}{ARCHIVE}" download>Download the book ({ARCHIVE})</a> '
            f'to re-run it (<a href="{site_root(page)}getting-started/#re-run-the-book">how</a>), '
            f'or <a href="{path.name}" download>this notebook</a> alone. '
            f'Symbols: <a href="{NOTATION_URL}">Notation</a>.</p>')


def strip_cdn_scripts(html: str) -> str:
    """``html`` without the scripts nbconvert's templates load from CDNs."""
    for pattern in _CDN_SCRIPTS:
        html = pattern.sub("", html)
    return html


def site_links(html: str, page, files) -> str:
    """``html`` with its relative links to notebooks and Markdown pages pointing to their pages."""
    def to_page(link: re.Match) -> str:
        path, fragment = link[1], link[2] or ""
        if urlsplit(path).scheme or path.startswith("/"):
            return link[0]
        target = files.get_file_from_path(
            posixpath.normpath(posixpath.join(posixpath.dirname(page.file.src_uri), path)))
        if target is None:
            return link[0]
        return f'href="{target.url_relative_to(page.file)}{fragment}"'
    return _HREF.sub(to_page, html)


def exclude_from_search(html: str) -> str:
    """``html`` with what search should not index marked ``data-search-exclude``."""
    def mark(tag: re.Match) -> str:
        if set(tag[2].split()).isdisjoint(_NOT_SEARCHED):
            return tag[0]
        return f'<{tag[1]} data-search-exclude class="{tag[2]}"'
    html = html.replace(_CELL_SOURCE, _CELL_SOURCE.replace("<pre>", "<pre data-search-exclude>"))
    html = html.replace(_LATEX_BLOCK, _LATEX_BLOCK.replace("<div", "<div data-search-exclude"))
    return _CLASSED.sub(mark, html)


def keep_old_anchors(html: str, src: str) -> str:
    """``html`` with an empty element for each old anchor of page ``src`` (:data:`ANCHOR_ALIASES`)
    right before the element that now has its id."""
    for old, new in ANCHOR_ALIASES.get(src, {}).items():
        at = html.find(f'id="{new}"')
        if at < 0:
            raise PluginError(f"{src}: no id {new!r} to keep the old anchor #{old} on")
        start = html.rfind("<", 0, at)
        html = f'{html[:start]}<span id="{old}"></span>{html[start:]}'
    return html


_TABLE = re.compile(r"<table\b.*?</table>", re.DOTALL)
_CELL = re.compile(r"(<td\b[^>]*>)(.*?)(</td>)", re.DOTALL)
#: Where a long token of a table cell may break: after these (a layer's "ConvTranspose2d(1,",
#: "output_padding=1)", "aten::_convolution_mode", "convops.derive"), never inside a name.
_BREAK_AFTER = re.compile(r"([(,=/·:]|(?<=[A-Za-z]{3})_|(?<=::)_|\.(?=[A-Za-z]))(?=[^\s),:_=.])")


def break_points(html: str) -> str:
    """``html`` with ``<wbr>`` after the punctuation of long tokens in the cells of the notebooks'
    tables (not in a cell holding math), so that a column narrows by breaking a token there
    rather than inside a word."""
    def cell(match: re.Match) -> str:
        if "$" in match[2] or "\\" in match[2] or "arithmatex" in match[2]:  # math: KaTeX's
            return match[0]
        inner = re.sub(r">([^<]+)<", lambda t: ">" + _BREAK_AFTER.sub(r"\1<wbr>", t[1]) + "<",
                       f">{match[2]}<")[1:-1]
        return match[1] + inner + match[3]
    return _TABLE.sub(lambda table: _CELL.sub(cell, table[0]), html)


def on_page_content(html, page, config, files):
    src = page.file.src_uri
    html = keep_old_anchors(html, src)
    if src in _PICTURE_PAGES and _PAGE_PICTURE in html:
        html = html.replace(_PAGE_PICTURE, page_pictures(_PICTURE_PAGES[src]))
    if src in MODULE_PAGES and _PICTURES in html:
        html = html.replace(_PICTURES, page_pictures(MODULE_PAGES[src]), 1)
    if not src.endswith(".ipynb"):
        return exclude_from_search(html)
    html = break_points(site_links(strip_cdn_scripts(html), page, files))
    if src in SUMMARIES:
        md = markdown.Markdown(extensions=config.markdown_extensions,
                               extension_configs=config.mdx_configs)
        summary = md.convert(SUMMARIES[src]())
        if src in MODULE_PAGES:
            summary += (f'<div id="{CALCULATOR_ID}">' + calculator_html(
                site_root(page), *example_layer(Path(page.file.abs_src_path)), permalink=False) + "</div>")
        if src in MODULE_PAGES:
            html = number_references(html, MODULE_PAGES[src])
        if _SUMMARY in html:  # where the notebook places it: after its introduction
            html = html.replace(_SUMMARY, summary, 1)
        else:
            title_end = _FIRST_H1_END.search(html)
            at = title_end.end() if title_end else 0
            html = html[:at] + summary + html[at:]
    title_end = _FIRST_H1_END.search(html)
    at = title_end.end() if title_end else 0
    opening = execution_stamp(page)
    if src in MODULE_PAGES:  # the answer first, above the tiny example
        opening += markdown.Markdown(extensions=config.markdown_extensions,
                                     extension_configs=config.mdx_configs).convert(
            answer_markdown(MODULE_PAGES[src]))
    html = html[:at] + opening + html[at:]
    page.toc = toc_of(html)
    return exclude_from_search(html)


def search_text(text: str) -> str:
    """A search index entry's text without TeX (math is rendered, not searched)."""
    return re.sub(r"[ \t]{2,}", " ", _TEX.sub("", text))


@event_priority(-100)  # after the search plugin has written its index
def on_post_build(config):
    index = Path(config.site_dir) / "search" / "search_index.json"
    if index.is_file():
        data = json.loads(index.read_text(encoding="utf-8"))
        for doc in data["docs"]:
            doc["text"] = search_text(doc["text"])
        index.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")


def toc_of(html: str) -> TableOfContents:
    """The table of contents of the headings of ``html``, nested by level."""
    tokens, open_tokens = [], []
    for level, ident, inner in _HEADING.findall(html):
        token = {"level": int(level), "id": ident, "children": [],
                 "name": _TAG.sub("", _PERMALINK.sub("", inner)).strip()}
        while open_tokens and open_tokens[-1]["level"] >= token["level"]:
            open_tokens.pop()
        (open_tokens[-1]["children"] if open_tokens else tokens).append(token)
        open_tokens.append(token)
    return get_toc(tokens)
