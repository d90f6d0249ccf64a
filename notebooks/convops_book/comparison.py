"""Tables of the comparison notebook: convops beside the peers of :mod:`convops.peers`.

The layers of :data:`CASES` cover the six modules and the parameters where counters go wrong;
:func:`smallest_layer` searches the smallest layer that shows each named bug, and
:data:`SMALLEST` keeps what it finds (a test re-runs the search).
"""

from __future__ import annotations

import itertools
from fractions import Fraction

from convops import KINDS, ConvopsError, Layer, breakdown
from convops.peers import Bug, Comparison, Peer, available_peers, compare

from .notebook import Table

#: Layers covering the six modules and the parameters where counters go wrong.
CASES: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("Conv1d(4, 6, 3)", (2, 4, 10)),
    ("Conv1d(4, 6, 3, bias=False)", (2, 4, 10)),
    ("Conv2d(4, 6, 3, stride=2, padding=1, dilation=2, groups=2)", (2, 4, 9, 9)),
    ("Conv2d(4, 8, 3, padding='same', groups=4, bias=False)", (1, 4, 8, 8)),
    ("Conv2d(4, 6, 3)", (4, 9, 9)),
    ("Conv3d(2, 4, 3, padding=1, bias=False)", (1, 2, 5, 5, 5)),
    ("ConvTranspose1d(4, 6, 3, stride=2)", (2, 4, 10)),
    ("ConvTranspose1d(2, 2, 2, stride=3)", (1, 2, 4)),
    ("ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1)", (2, 4, 5, 5)),
    ("ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1)", (4, 5, 5)),
    ("ConvTranspose2d(4, 4, 4, stride=2, padding=1, groups=2, bias=False)", (1, 4, 6, 6)),
    ("ConvTranspose3d(2, 4, 3, groups=2, bias=False)", (1, 2, 5, 5, 5)),
)


def _table(rows: list[dict]) -> Table:
    """Rows of values (one dict each, the same keys) as a :class:`~convops_book.notebook.Table`."""
    header = tuple(rows[0])
    return Table(header, tuple(tuple(_text(row[c]) for c in header) for row in rows))


def _text(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, Fraction):
        return f"{value.numerator:,}" if value.denominator == 1 else str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def counts_table(comparisons) -> Table:
    """convops' count of each layer: total, multiplications, additions (the peers' numbers are in
    :func:`peer_tables`, one table per peer, so that no table is wider than a page)."""
    return _table([{"layer": c.spec, "input": str(c.input_shape), "convops total": c.breakdown.total,
                    "multiplications": c.breakdown.multiplications,
                    "additions": c.breakdown.additions} for c in comparisons])


def peer_tables(comparisons) -> list[Table]:
    """One table per peer: for each layer its verdict first (agreement after converting the
    convention, or the named bug), what the peer reports, convops in the peer's convention and
    the peer's own formula evaluated exactly."""
    by_peer: dict[str, list[dict]] = {}
    for c in comparisons:
        for r in c.results:
            by_peer.setdefault(r.peer, []).append(
                {"verdict": r.verdict, "layer": c.spec, "input": str(c.input_shape),
                 "reports": r.value, "convops, converted": r.expected,
                 "peer's formula": r.emulated})
    conventions = {p.name: p.convention for p in available_peers()}
    return [_table(rows)._replace_caption(f"{peer}: {conventions.get(peer, '')}".rstrip(": "))
            for peer, rows in by_peer.items()]


def model_table(profile) -> Table:
    """The convolutions a :func:`convops.profile` counted, one row each; the layers it did not
    count are summarised in the caption (``Profile.summary``), not listed."""
    rows = [{"layer": layer.name, "module": layer.kind, "input": str(layer.input_shape),
             "output": str(layer.output_shape), "multiplications": layer.multiplications,
             "additions": layer.additions, "total": layer.total} for layer in profile.counted]
    rows.append({"layer": "all convolutions", "module": "", "input": "", "output": "",
                 "multiplications": profile.multiplications, "additions": profile.additions,
                 "total": profile.total})
    return _table(rows)._replace_caption(profile.summary())


def conventions_table(peers=None) -> Table:
    return _table([{"peer": p.name, "convention": p.convention, "bugs found": len(p.bugs)}
                   for p in (peers or available_peers())])


# -- smallest layers that show each bug --------------------------------------------------------
def _candidates(kinds):
    """Small layers, smallest first: one spatial size for all dimensions, no dilation, no groups
    (and padding='same' where a string padding is what matters)."""
    grid = itertools.product(kinds, (1, 2), (1, 2), (1, 2, 3), (1, 2, 3), (1, 2, 3), (0, 1, "same"),
                             (0, 1), (True, False))
    keyed = []
    for kind, cin, cout, size, k, s, p, q, batched in grid:
        n = int(kind[-2])
        if q and "Transpose" not in kind:
            continue
        shape = ((1,) if batched else ()) + (cin,) + (size,) * n
        key = (n, cin * cout * size ** n * k ** n, s, str(p), q, not batched, kind)
        spec = (f"{kind}({cin}, {cout}, {k}" + (f", stride={s}" if s > 1 else "")
                + (f", padding={p!r}" if p else "") + (f", output_padding={q}" if q else "") + ")")
        keyed.append((key, spec, shape))
    return [(spec, shape) for _, spec, shape in sorted(keyed)]


def smallest_layer(peer: Peer, bug: Bug, kinds=tuple(KINDS)) -> Comparison | None:
    """The smallest candidate layer on which ``peer`` disagrees with convops (converted) exactly as
    its formula predicts, with ``bug`` the only bug that applies — or, where ``bug`` never comes
    alone, among others."""
    for alone in (True, False):
        for spec, shape in _candidates(kinds):
            try:
                layer = Layer.parse(spec)
                b = breakdown(layer, shape)
                applying = [other for other in peer.bugs if other.applies(layer, shape, b)]
                if applying != [bug] if alone else bug not in applying:
                    continue
                result = compare(spec, shape, [peer])
            except (ConvopsError, RuntimeError):  # refused by convops, or a peer fails on it
                continue
            if not result.results[0].agrees and result.results[0].explained:
                return result
    return None


#: What :func:`smallest_layer` finds for each bug (a test re-runs the search), so that the table
#: of bugs costs one comparison per bug.
SMALLEST: dict[tuple[str, str], tuple[str, tuple[int, ...]]] = {
    ("fvcore", "padding='same'"): ("Conv1d(1, 1, 1, padding='same')", (1, 1, 1)),
    ("ptflops", "unbatched"): ("Conv1d(1, 1, 1, padding=1)", (1, 1)),
    ("thop", "transposed"): ("ConvTranspose1d(1, 1, 1, stride=2, output_padding=1)", (1, 1, 1)),
    ("thop", "unbatched"): ("Conv1d(1, 1, 1)", (1, 2)),
    ("moduleprofiler", "Conv3d"): ("Conv3d(1, 1, 1)", (1, 1, 1, 1, 1)),
    ("moduleprofiler", "unbatched"): ("ConvTranspose1d(2, 1, 1)", (2, 1)),
    ("moduleprofiler", "transposed: multiplications"):
        ("ConvTranspose1d(1, 1, 1, stride=2, output_padding=1)", (1, 1, 1)),
    ("moduleprofiler", "transposed: output positions"):
        ("ConvTranspose1d(1, 1, 1, stride=2, padding=1, output_padding=1)", (1, 1, 2)),
    ("moduleprofiler", "transposed: output_padding"):
        ("ConvTranspose2d(1, 1, 3, stride=2, padding=1, output_padding=1)", (1, 1, 2, 2)),
}


def smallest_known(peer: Peer, bug: Bug) -> tuple[str, tuple[int, ...]] | None:
    """The entry of :data:`SMALLEST` for ``bug`` (matched by the start of its name)."""
    for (name, prefix), found in SMALLEST.items():
        if name == peer.name and bug.name.startswith(prefix):
            return found
    raise KeyError(f"no entry in SMALLEST for {peer.name}: {bug.name}")


def bugs_table(peers=None) -> Table:
    """Every named bug with the smallest layer that shows it and the numbers there."""
    rows = []
    for peer in peers or available_peers():
        for bug in peer.bugs:
            known = smallest_known(peer, bug)
            r = compare(*known, [peer]).results[0] if known else None
            rows.append({"peer": peer.name, "bug": bug.name,
                         "smallest layer": known[0] if known else None,
                         "input": str(known[1]) if known else None,
                         "reports": r.value if r else None,
                         "convention applied to convops": r.expected if r else None,
                         "other bugs there": "; ".join(b for b in r.bugs if b != bug.name)
                         if r else None})
    return _table(rows)
