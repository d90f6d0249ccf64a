"""How reports write counts in words: K/M/G units, exact integers, formulas cut to a width,
the number of convolution calls, and repeated module paths grouped.
"""

from __future__ import annotations

import sympy as sp

from .symbols import condition_text

#: The columns a table too wide for its line may cut (with …), widest first.
CUTTABLE = ("module", "call", "output shape", "input shape", "MACs", "operations",
             "multiplications", "additions", "total", "backward", "note")


def units(value: int) -> str:
    """``value`` with 4 significant figures and a K/M/G/T/P suffix (exact below 1000).

    Examples
    --------
    >>> units(25_557_032), units(4_089_184_256), units(999), units(999_960), units(-1500)
    ('25.56M', '4.089G', '999', '1.000M', '-1.500K')
    """
    value = int(value)
    if abs(value) < 1000:
        return str(value)
    scaled = float(value)
    for suffix in "KMGTPE":
        scaled /= 1000
        text = f"{scaled:#.4g}"
        if abs(float(text)) < 1000 or suffix == "E":
            return text.rstrip(".") + suffix
    raise AssertionError("unreachable")


def exact(value) -> str:
    """An int with thousands separators; anything else (a formula) as it prints.

    >>> exact(1234567), exact(sp.Symbol("H") + 1)
    ('1,234,567', 'H + 1')
    """
    return f"{value:,}" if isinstance(value, int) else str(value)


def is_formula(value) -> bool:
    """Whether ``value`` is a formula: a sympy expression other than an integer.

    >>> is_formula(sp.Symbol("H") + 1), is_formula(sp.Integer(3)), is_formula(3)
    (True, False, False)
    """
    return isinstance(value, sp.Basic) and not value.is_Integer


def compact(expr, width: int | None = None, printable=lambda e: e) -> str:
    """A formula in at most ``width`` characters: its leading term (the largest when every size
    is large), ``+ …`` when there are more, cut with ``…`` if still too long.

    >>> H, W = sp.symbols("H W", positive=True, integer=True)
    >>> compact(3 * H + 64 * H * sp.floor((W - 1) / 2) + 7)
    '64·H·⌊W/2 - 1/2⌋ + …'
    >>> compact(sp.Integer(4096))
    '4.096K'
    """
    if not is_formula(expr):
        return units(expr)
    terms = sp.Add.make_args(expr)
    large = {symbol: 10**6 for symbol in expr.free_symbols}
    lead = max(terms, key=lambda term: abs(term.xreplace(large)))
    text = condition_text(printable(lead)) + (" + …" if len(terms) > 1 else "")
    return cut(text, width)


def cut(text: str, width: int | None) -> str:
    """``text`` cut to ``width`` characters, its last one ``…``, if longer.

    >>> cut("convolution", 5), cut("conv", 5), cut("conv", None)
    ('conv…', 'conv', 'conv')
    """
    return text if width is None or len(text) <= width else text[:width - 1] + "…"


def calls(n: int) -> str:
    """``"1 convolution call"``, ``"2 convolution calls"``.

    Examples
    --------
    >>> calls(1), calls(0)
    ('1 convolution call', '0 convolution calls')
    """
    return f"{n} convolution call{'' if n == 1 else 's'}"


def grouped(paths: list[str]) -> list[str]:
    """Module paths with the repeated ones (the same path but for its numbers, as in a
    ``ModuleList``; three or more) as one item, ``"12 × blocks.*.attn.out_proj"``, in order of
    first appearance.

    Examples
    --------
    >>> grouped(["head", "blocks.0.proj", "blocks.1.proj", "aux.0", "blocks.10.proj", "aux.1"])
    ['head', '3 × blocks.*.proj', 'aux.0', 'aux.1']
    """
    groups: dict[str, list[str]] = {}
    for path in paths:
        pattern = ".".join("*" if part.isdigit() else part for part in path.split("."))
        groups.setdefault(pattern, []).append(path)
    return [item for pattern, members in groups.items()
            for item in ([f"{len(members)} × {pattern}"] if len(members) > 2 else members)]


def units_formatter(with_units: bool, printable=lambda e: e, width: int | None = None):
    """How a count prints in a table: K/M/G or exact; a formula in compact form, at most
    ``width`` characters.

    Examples
    --------
    >>> fmt = units_formatter(True)
    >>> fmt(1_234_567), units_formatter(False)(1_234_567), fmt(sp.Symbol("H") * 3 + 1)
    ('1.235M', '1,234,567', '3·H + …')
    """
    def fmt(value) -> str:
        if is_formula(value):
            return compact(value, width, printable)
        return units(value) if with_units else exact(int(value))
    return fmt


def tally(names) -> list[tuple[str, int]]:
    """Each name with the number of times it occurs, most frequent first.

    >>> tally(["relu", "add", "relu"])
    [('relu', 2), ('add', 1)]
    """
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return sorted(counts.items(), key=lambda item: -item[1])


def text_table(header: list[str], cells: list[list[str]], limit: int) -> str:
    """Columns padded to their widest cell, text left, numbers right; the widest cuttable
    columns cut (with …) until a line fits in ``limit`` characters (none narrower than 12).

    Examples
    --------
    >>> print(text_table(["module", "total"], [["features.0.long_name", "1,234"]], 16))
    module        total
    ------------  -----
    features.0.…  1,234
    """
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(len(header))]
    cuttable = [i for i, name in enumerate(header) if name in CUTTABLE]
    while cuttable and sum(widths) + 2 * (len(widths) - 1) > limit:
        widest = max(cuttable, key=lambda i: widths[i])
        if widths[widest] <= 12:
            break
        widths[widest] -= 1
    cells = [[cut(value, w) for value, w in zip(row, widths)] for row in cells]
    numeric = {i for i, name in enumerate(header) if name in (
        "params", "MACs", "operations", "% of conv ops", "backward", "multiplications",
        "additions", "total")}

    def line(row):
        return "  ".join(value.rjust(w) if i in numeric else value.ljust(w)
                         for i, (value, w) in enumerate(zip(row, widths))).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, cells)])
