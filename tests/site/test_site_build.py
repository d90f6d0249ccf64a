"""The built site, read from disk: strict build, build time, generated formulas, links, no CDN."""

from __future__ import annotations

import html
import json
import re
import zipfile
from importlib.metadata import version
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

import convops
from convops_book.archive import ARCHIVE, BOOK, FOLDER, NOTEBOOKS
from convops_book.site import WIDTH, aliases, anchor, formula_latex, page_name, quantities


class _Links(HTMLParser):
    """Every id, and every link or resource reference, of one HTML page."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.refs: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.canonical: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "link" and attrs.get("rel") == "canonical":
            self.canonical = attrs.get("href")  # the page's address, not a reference to load
            return
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        for attribute in ("href", "src"):
            if attrs.get(attribute) is not None and tag in ("a", "link", "script", "img", "iframe",
                                                             "source", "video", "audio"):
                self.refs.append((tag, attribute, attrs[attribute]))


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def _target(site: Path, page: Path, ref: str) -> tuple[Path, str]:
    """The file an internal reference of ``page`` points to, and its fragment."""
    parts = urlsplit(ref)
    path = unquote(parts.path)
    target = page if not path else (site / path.lstrip("/") if path.startswith("/")
                                    else page.parent / path)
    if path.endswith("/") or target.is_dir():
        target = target / "index.html"
    return target.resolve(), unquote(parts.fragment)


def test_build_is_strict_and_quiet(build):
    assert "WARNING" not in build.log, build.log


@pytest.mark.parametrize("kind", list(convops.KINDS))
def test_module_page_opens_with_generated_formulas(build, kind):
    page = build.site / "notebooks" / page_name(kind) / "index.html"
    text = page.read_text(encoding="utf-8")
    summary = text.index('id="formula-summary"')
    notebook_cells = text.index('class="jp-Cell', summary)  # the summary sits above the notebook
    for quantity in quantities(kind):
        tex = html.escape(formula_latex(kind, quantity, WIDTH), quote=False)  # as displayed
        formula = text.index(f'id="{anchor(kind, quantity)}"')
        assert summary < formula < notebook_cells
        assert tex in text[formula:], f"{kind} {quantity}: the page lacks convops' LaTeX"
        for alias in aliases(kind, quantity):  # anchors cited before the formula was indexed
            assert formula < text.index(f'id="{anchor(kind, alias)}"') < notebook_cells
    tabs = re.findall(r"<label[^>]*>(bias=(?:True|False))</label>", text[summary:notebook_cells])
    assert tabs == ["bias=True", "bias=False"]


def test_every_internal_link_resolves(build):
    broken = []
    ids = {}
    for page in build.pages():
        for tag, attribute, ref in _parse(page).refs:
            scheme = urlsplit(ref).scheme
            if scheme in ("http", "https", "mailto", "data", "javascript") or ref.startswith("//"):
                continue
            target, fragment = _target(build.site, page, ref)
            where = f"{page.relative_to(build.site)}: <{tag} {attribute}={ref!r}>"
            if not target.is_file():
                broken.append(f"{where} -> missing {target}")
            elif fragment and target.suffix == ".html":
                if target not in ids:
                    ids[target] = _parse(target).ids
                if fragment not in ids[target]:
                    broken.append(f"{where} -> no id {fragment!r} in {target.relative_to(build.site)}")
    assert not broken, "\n".join(broken)


def test_nothing_loads_from_outside_the_site(build):
    outside = []
    for page in build.pages():
        for tag, attribute, ref in _parse(page).refs:
            if tag != "a" and (urlsplit(ref).scheme in ("http", "https") or ref.startswith("//")):
                outside.append(f"{page.relative_to(build.site)}: <{tag} {attribute}={ref!r}>")
    for sheet in build.site.rglob("*.css"):
        for url in re.findall(r"(?:url\(|@import)\s*['\"]?((?:https?:)?//[^'\")\s]+)", sheet.read_text()):
            outside.append(f"{sheet.relative_to(build.site)}: {url}")
    assert not outside, "\n".join(outside)


def test_math_is_served_by_the_site(build):
    katex = build.site / "assets" / "katex"
    assert (katex / "katex.min.js").is_file() and (katex / "contrib" / "auto-render.min.js").is_file()
    fonts = re.findall(r"url\((fonts/[^)]+\.woff2)\)", (katex / "katex.min.css").read_text())
    assert fonts and all((katex / font).is_file() for font in fonts)


def test_the_book_is_a_download(build):
    """The site serves ``convops-book.zip``: every notebook, the book's helpers (which register
    the ``convops`` kernel the notebooks name), the convops wheel, pinned requirements (the
    comparison notebook's peers at the versions installed where the notebooks ran) and a README;
    Getting started and every notebook page link to it."""
    archive = zipfile.ZipFile(build.site / ARCHIVE)
    names = set(archive.namelist())
    notebooks = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert {f"{FOLDER}/{p.name}" for p in notebooks} <= names
    assert {f"{FOLDER}/book/convops_book/{p.relative_to(BOOK).as_posix()}" for p in BOOK.rglob("*.py")} <= names
    (wheel,) = [n for n in names if n.endswith(".whl")]
    requirements = archive.read(f"{FOLDER}/requirements.txt").decode().splitlines()
    assert f"./{wheel.split('/')[-1]}" in requirements and "./book" in requirements
    for peer in ("fvcore", "ptflops", "thop", "moduleprofiler", "nbval", "jupyterlab"):
        assert f"{peer}=={version(peer)}" in requirements
    kernel = json.loads(archive.read(f"{FOLDER}/book/kernel/kernel.json"))
    assert kernel["argv"][:3] == ["python", "-m", "ipykernel_launcher"]
    assert '"share/jupyter/kernels/convops" = ["kernel/kernel.json"]' in archive.read(
        f"{FOLDER}/book/pyproject.toml").decode()
    assert {json.loads(archive.read(f"{FOLDER}/{p.name}"))["metadata"]["kernelspec"]["name"]
            for p in notebooks} == {"convops"}
    assert "pip install torch==2.13.0 -r requirements.txt" in archive.read(f"{FOLDER}/README.md").decode()
    assert f'href="../{ARCHIVE}"' in (build.site / "getting-started/index.html").read_text(encoding="utf-8")
    for p in notebooks:
        page = (build.site / "notebooks" / p.stem / "index.html").read_text(encoding="utf-8")
        assert f'href="../../{ARCHIVE}" download' in page, p.name
