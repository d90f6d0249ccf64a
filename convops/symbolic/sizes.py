"""Symbolic sizes as the user writes them in a shape: ``"H"``, or ``"H=224"`` with the size to
trace at; and the inputs, or their description, at given sizes."""

from __future__ import annotations

import re

import torch

from ..inputs import map_inputs
from ..errors import ConvopsError


def parse_size(text: str) -> tuple[str, int | None]:
    """The name of a symbolic size and the size to trace it at, if given.

    Examples
    --------
    >>> from convops.symbolic.sizes import parse_size
    >>> parse_size("H"), parse_size("W=224")
    (('H', None), ('W', 224))

    See Also
    --------
    symbol_names : every symbolic size of the inputs, in order.
    """
    name, equals, hint = text.partition("=")
    name = name.strip()
    if not name.isidentifier() or (equals and not hint.strip().isdigit()):
        raise ConvopsError(f"symbolic size {text!r} must be a name, e.g. 'H', or a name and the "
                           "size to trace at, e.g. 'H=224'")
    return name, int(hint) if equals else None


def symbol_names(inputs: tuple, kw_inputs: dict) -> dict[str, int | None]:
    """``{name: hint or None}`` of the symbolic sizes in the shapes of the inputs, in order of
    appearance (tensors have none).

    Examples
    --------
    >>> from convops.symbolic.sizes import symbol_names
    >>> symbol_names((("N", 3, "H=64", "W"),), {"mask": ("N", "H")})
    {'N': None, 'H': 64, 'W': None}

    See Also
    --------
    parse_size : one size's name and hint.
    """
    names: dict[str, int | None] = {}

    def note(value):
        if isinstance(value, torch.Tensor):
            return value
        for size in value:
            if isinstance(size, str):
                name, hint = parse_size(size)
                if names.setdefault(name, hint) != hint and hint is not None:
                    raise ConvopsError(f"size {size!r}: {name} is traced at {names[name]} "
                                       "elsewhere")
        return value

    map_inputs((inputs, kw_inputs), note)
    return names


def with_hints(value, sizes: dict[str, int]):
    """The inputs with every symbolic size traced at ``sizes``: ``"H"`` becomes ``"H=32"``.

    Examples
    --------
    >>> from convops.symbolic.sizes import with_hints
    >>> with_hints(((("N", 3, "H=8"),), {}), {"N": 2, "H": 32})
    ((('N=2', 3, 'H=32'),), {})

    See Also
    --------
    at_sizes : the same inputs with ints.
    """
    return map_inputs(value, lambda v: v if isinstance(v, torch.Tensor) else tuple(
        f"{parse_size(s)[0]}={sizes[parse_size(s)[0]]}" if isinstance(s, str) else s
        for s in v))


def at_sizes(value, sizes: dict[str, int]):
    """The inputs with every symbolic size replaced by its int in ``sizes``.

    Examples
    --------
    >>> from convops.symbolic.sizes import at_sizes
    >>> at_sizes(((("N", 3, "H=8"),), {}), {"N": 2, "H": 32})
    (((2, 3, 32),), {})

    See Also
    --------
    with_hints : the same inputs, still symbolic, traced at ``sizes``.
    """
    return map_inputs(value, lambda v: v if isinstance(v, torch.Tensor) else tuple(
        sizes[parse_size(s)[0]] if isinstance(s, str) else s for s in v))


def concrete(shape: tuple | None, sizes: dict[str, int]) -> tuple | None:
    """A shape of names and ints at ``sizes``.

    Examples
    --------
    >>> from convops.symbolic.sizes import concrete
    >>> concrete((1, 3, "H"), {"H": 32})
    (1, 3, 32)
    """
    return None if shape is None else tuple(sizes[v] if isinstance(v, str) else v for v in shape)


def with_sizes(text: str, sizes: dict[str, int]) -> str:
    """``text`` with each whole-word name of ``sizes`` replaced by its value.

    Examples
    --------
    >>> from convops.symbolic.sizes import with_sizes
    >>> with_sizes("(1, 3, H, W) of HW", {"H": 8, "W": 9})
    '(1, 3, 8, 9) of HW'
    """
    return re.sub(r"\b(" + "|".join(map(re.escape, sizes)) + r")\b",
                  lambda match: str(sizes[match.group(1)]), text)
