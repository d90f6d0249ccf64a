"""The one exception convops raises for a layer, input or request it refuses."""

from __future__ import annotations


class ConvopsError(ValueError):
    """A layer, input shape or request that convops refuses, with a message that names the
    parameter, its value and what would be accepted.

    It is a :class:`ValueError`, so code that catches ``ValueError`` keeps working.

    Examples
    --------
    >>> from convops import ConvopsError, Layer
    >>> try:
    ...     Layer.create("Conv2d", 3, 64, kernel_size=0)
    ... except ConvopsError as error:
    ...     print(error)
    kernel_size=(0, 0) must be 2 positive int(s), one per spatial dimension
    """


def elide(text: str, limit: int = 200) -> str:
    """``text`` cut to at most ``limit`` characters, ending in "…" where it was cut: an error
    echoes the user's text without flooding the terminal.

    Examples
    --------
    >>> from convops.errors import elide
    >>> elide("Conv2d(3, 8, 3)"), elide("x" * 300)[-3:], len(elide("x" * 300))
    ('Conv2d(3, 8, 3)', 'xx…', 200)
    """
    return text if len(text) <= limit else text[:limit - 1] + "…"


def flag(name: str, value: object) -> bool:
    """``value`` if it is ``True`` or ``False``; a :class:`ConvopsError` naming the argument
    otherwise (a string such as ``"no"`` is not read as a truth value).

    Examples
    --------
    >>> flag("backward", True)
    True
    >>> flag("backward", "no")
    Traceback (most recent call last):
    ...
    convops.errors.ConvopsError: backward='no' must be True or False
    """
    if value is True or value is False:
        return value
    raise ConvopsError(f"{name}={elide(repr(value), 60)} must be True or False")
