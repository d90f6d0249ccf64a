"""What the site is built from: convops_book.site's summaries and anchors, the docstring
conversion, and the examples the Markdown pages show (run as doctests)."""

from __future__ import annotations

import doctest
import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import convops
from convops_book.backward import backward_anchor, backward_anchors_markdown, backward_quantities
from convops_book.notebook import WIDTH
from convops_book.site import (BIAS_TABS, aliases, anchor, anchors_markdown, equation_numbers,
                               formula_latex, label, quantities, summary_markdown, symbols_used)

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, DOCS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_anchors_are_stable_and_unique():
    assert anchor("Conv2d", "total_bias") == "conv2d-total-bias"
    assert anchor("ConvTranspose3d", "P_2") == "convtranspose3d-p-2"
    assert anchor("ConvTranspose3d", "P") == "convtranspose3d-p"
    assert anchor("ConvTranspose1d", "output_size_0") == "convtranspose1d-output-size-0"
    assert anchor("ConvTranspose1d", "output_size") == "convtranspose1d-output-size"
    every = [anchor(k, q) for k in convops.KINDS
             for q in {*quantities(k), *convops.derive(k).equations()}]
    assert len(every) == len(set(every))
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", a) for a in every)


def test_anchor_names_the_quantities_it_knows():
    with pytest.raises(ValueError, match="quantity must be one of .*got 'A'"):
        anchor("Conv2d", "A")


@pytest.mark.parametrize("kind", list(convops.KINDS))
def test_summary_shows_every_formula_of_convops(kind):
    summary = summary_markdown(kind)
    d = convops.derive(kind)
    for quantity in quantities(kind):
        assert f"div#{anchor(kind, quantity)}" in summary
        # shown broken to the column's width, to copy on one line
        number = equation_numbers(kind)[quantity]
        assert f"$$\n{formula_latex(kind, quantity, WIDTH)} \\tag{{{number}}}\n$$" in summary
        assert f"\n{formula_latex(kind, quantity)}\n```" in summary
        assert label(kind, quantity)
        for alias in aliases(kind, quantity):  # anchors of per-dimension formulas still resolve
            assert f'<span id="{anchor(kind, alias)}"></span>' in summary
    # one indexed formula per family, whatever the number of dimensions
    assert summary.count("$$\nL_{\\text{out}") == 1
    for symbol in symbols_used(kind):
        assert f"| ${convops.latex(symbol)}$ |" in summary
    for title, total in BIAS_TABS.items():
        assert f'tab | {title}\n\n/// html | div#{anchor(kind, total)}' in summary
    assert summary.index("tab | bias=True") < summary.index("tab | bias=False") < summary.index("where")


def test_anchor_table_links_every_formula():
    table = anchors_markdown()
    for kind in convops.KINDS:
        for quantity in quantities(kind):
            assert f"#{anchor(kind, quantity)})" in table


def test_backward_anchor_table_links_every_formula_of_the_training_cost():
    table = backward_anchors_markdown()
    for kind in convops.KINDS:
        for quantity in backward_quantities(kind):
            assert f"(notebooks/training_cost.ipynb#{backward_anchor(kind, quantity)})" in table


def test_sphinx_roles_become_markdown():
    markdown_of = _load("sphinx_roles").markdown_of
    assert markdown_of(r"a :math:`\psi` of :class:`Layer`") == r"a $\psi$ of `Layer`"
    assert markdown_of("x\n\n.. math:: N (a + b).\n") == "x\n\n$$\nN (a + b).\n$$\n"


def test_cdn_scripts_are_dropped():
    strip = _load("hooks").strip_cdn_scripts
    html = ('<p>a</p><!-- Load mathjax -->\n<script src="https://cdn/x.js"> </script>\n'
            '<script type="text/x-mathjax-config">init()</script>\n<!-- End of mathjax configuration -->'
            '<script type="module">\n const m = await import("https://cdn/mermaid.esm.min.mjs");\n</script><p>b</p>')
    assert strip(html) == "<p>a</p><p>b</p>"


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_examples_of_the_pages_run(page):
    """Every ``pycon`` block of a page is a doctest: the site shows what the code prints.  The
    blocks of a page run in one session, in order, as a reader runs them."""
    blocks = re.findall(r"```pycon\n(.*?)```", page.read_text(encoding="utf-8"), re.DOTALL)
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    session = {}
    for i, block in enumerate(blocks):
        test = parser.get_doctest(block, session, f"{page.name}[{i}]", str(page), 0)
        runner.run(test, clear_globs=False)
        session = test.globs
    assert runner.summarize(verbose=False).failed == 0


def _commands(page: Path) -> list[tuple[str, str]]:
    """Each ``$ command`` of the ``console`` blocks of ``page``, with the output shown under it."""
    found = []
    for block in re.findall(r"```console\n(.*?)```", page.read_text(encoding="utf-8"), re.DOTALL):
        for command in re.split(r"^\$ ", block, flags=re.MULTILINE)[1:]:
            line, _, output = command.partition("\n")
            found.append((line, output))
    return found


@pytest.mark.parametrize("page", [p for p in sorted(DOCS.glob("*.md")) if _commands(p)],
                         ids=lambda p: p.name)
def test_commands_of_the_pages_run(page):
    """Every ``$ convops …`` line of a page's ``console`` blocks prints what the page shows under
    it (``...`` stands for the rest, as in a doctest; trailing spaces aside)."""
    checker = doctest.OutputChecker()
    for line, shown in _commands(page):
        program, *args = shlex.split(line)
        assert program == "convops", f"{page.name}: only convops runs here, not {line!r}"
        done = subprocess.run([sys.executable, "-m", "convops", *args], capture_output=True,
                              text=True, check=True)
        printed, shown = (re.sub(r"[ \t]+$", "", text, flags=re.MULTILINE)
                          for text in (done.stdout, shown))
        assert checker.check_output(shown, printed, doctest.ELLIPSIS), (
            f"{page.name}: $ {line}\nshown:\n{shown}\nprinted:\n{printed}")


def test_notebook_toc_follows_the_rendered_headings():
    toc = _load("hooks").toc_of(
        '<h1 id="Conv2d:-counting-$x$">Conv2d: counting <code>x</code><a class="anchor-link" '
        'href="#Conv2d:-counting-$x$">¶</a></h1><h2 id="formula-summary">Formula summary</h2>'
        '<h3 id="a">A</h3><h2 id="b">B</h2>')
    [title] = toc.items
    assert (title.id, title.title) == ("Conv2d:-counting-$x$", "Conv2d: counting x")
    assert [(c.id, [g.id for g in c.children]) for c in title.children] == [
        ("formula-summary", ["a"]), ("b", [])]
