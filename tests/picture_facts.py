"""What the tests read of a picture that ``docs/javascripts/picture.js`` drew, and the plain
loop its counts must equal: shared by tests/test_pictures.py (pictures drawn under node) and
tests/site/test_site_pictures.py (the calculator's, in Chromium)."""

from __future__ import annotations

import itertools
from html.parser import HTMLParser
from math import prod

import convops


class _Reader(HTMLParser):
    """The contract's facts of one picture's HTML: the root's data-*, and each cell of each
    view's grids (its data-*, its place in the grid, the value it shows)."""

    def __init__(self):
        super().__init__()
        self.root, self.cells, self.links = None, [], []
        self.view = self.grid = self.cell = None
        self.depth = 0  # <g> nesting inside a grid

    def handle_starttag(self, tag, attrs):
        a = {k.removeprefix("data-"): v for k, v in attrs if k.startswith("data-")}
        if tag == "figure" and "picture" in a:
            self.root = a
        elif tag == "div" and "view" in a:
            self.view = a["view"]
        elif tag == "g" and "grid" in a:
            self.grid = {"name": a["grid"], "shape": shape_of(a["shape"]), "count": 0}
            self.depth = 0
        elif tag == "g" and self.grid is not None:
            self.depth += 1
            index = unravel(self.grid["count"], self.grid["shape"])
            self.grid["count"] += 1
            self.cell = {**a, "view": self.view, "grid": self.grid["name"], "index": index, "texts": []}
            self.cells.append(self.cell)
        elif tag == "line" and "link" in a:
            self.links.append(tuple(map(int, a["link"].split(","))))

    def handle_endtag(self, tag):
        if tag == "g" and self.grid is not None:
            if self.depth == 0:
                self.grid = None
            else:
                self.depth -= 1
                self.cell = None

    def handle_data(self, data):
        if self.cell is not None and self.lasttag == "text":
            self.cell["texts"].append(data)


def unravel(t: int, shape) -> tuple[int, ...]:
    index = []
    for n in reversed(shape):
        index.append(t % n)
        t //= n
    return tuple(reversed(index))


def read(html: str) -> dict:
    """The facts the tests read: the root's data-*, the output positions (data-position), the
    cropped ones (data-cropped), the gather view's outputs (by place), padding and inserted
    cells, and the channel links."""
    reader = _Reader()
    reader.feed(html)
    key = lambda text: tuple(map(int, text.split(",")))  # noqa: E731
    cells = reader.cells
    return {
        "root": reader.root,
        "positions": {key(c["position"]): c for c in cells if "position" in c},
        "cropped": {key(c["cropped"]): c for c in cells if "cropped" in c},
        "gather": {c["index"]: c for c in cells if c["view"] == "gather" and c["grid"] == "b"},
        "padding": sum("padding" in c for c in cells),
        "inserted": sum("inserted" in c for c in cells),
        "links": reader.links,
    }


def shape_of(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(","))


def loop_counts(layer: convops.Layer, size_in, size_out) -> dict:
    """Per position of one filter: products landing there (a transposed layer's keyed by the
    uncropped index, with whether padding crops it), by a loop over input elements and taps."""
    k, s, d = layer.kernel_size, layer.stride, layer.dilation
    if not layer.kind.transposed:
        pads = layer.padding_per_side(tuple(size_in))
        padded = [L + a + b for L, (a, b) in zip(size_in, pads)]
        out = {}
        for o in itertools.product(*map(range, size_out)):
            out[o] = sum(all(oi * si + ji * di < P for oi, si, ji, di, P in zip(o, s, j, d, padded))
                         for j in itertools.product(*map(range, k)))
        return out
    landed: dict[tuple, int] = {}
    for i in itertools.product(*map(range, size_in)):
        for j in itertools.product(*map(range, k)):
            u = tuple(ii * si + ji * di for ii, si, ji, di in zip(i, s, j, d))
            landed[u] = landed.get(u, 0) + 1
    return landed


def check_counts(layer: convops.Layer, facts: dict, size_in, size_out) -> tuple[int, int]:
    """Each drawn position's products and additions against :func:`loop_counts` (torch giving
    ``size_out``), every product on the picture; the drawn filter's (products, additions)."""
    assert set(facts["positions"]) == set(itertools.product(*map(range, size_out)))
    counts = loop_counts(layer, size_in, size_out)
    products = additions = 0
    if layer.kind.transposed:
        assert len(facts["gather"]) == prod(size_out)
        p = layer.padding
        drawn = {tuple(oi + pi for oi, pi in zip(o, p)): a for o, a in facts["positions"].items()}
        drawn.update(facts["cropped"])
        for u, a in drawn.items():
            inside = u in {tuple(oi + pi for oi, pi in zip(o, p)) for o in facts["positions"]}
            n = counts.get(u, 0)
            assert int(a["products"]) == n, (facts["root"]["layer"], u)
            assert int(a["additions"]) == (max(n - 1, 0) if inside else 0), (facts["root"]["layer"], u)
        assert set(counts) <= set(drawn)  # every product is on the picture, cropped or not
        products = sum(int(a["products"]) for a in drawn.values())
        additions = sum(int(a["additions"]) for a in drawn.values())
        zero_inserted = prod((L - 1) * si + 1 for L, si in zip(size_in, layer.stride))
        assert facts["inserted"] == zero_inserted - prod(size_in)
    else:
        for o, a in facts["positions"].items():
            assert int(a["products"]) == counts[o] and int(a["additions"]) == counts[o] - 1
            products += counts[o]
            additions += counts[o] - 1
    return products, additions
