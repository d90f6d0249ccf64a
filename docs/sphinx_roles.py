"""Griffe extension: convops' docstrings use Sphinx's reST roles; the site reads Markdown.

``:math:`x``` becomes ``$x$`` (rendered by KaTeX), a ``.. math::`` directive a display formula,
and the cross-reference roles (``:class:``, ``:attr:`` …) plain code.
"""

from __future__ import annotations

import re

import griffe

_MATH_ROLE = re.compile(r":math:`([^`]+)`")
_XREF_ROLE = re.compile(r":(?:class|attr|meth|func|mod|data|obj):`~?([^`]+)`")
_MATH_DIRECTIVE = re.compile(r"^([ \t]*)\.\. math::[ \t]*(.+)$", re.MULTILINE)


def markdown_of(docstring: str) -> str:
    docstring = _MATH_DIRECTIVE.sub(lambda m: f"{m[1]}$$\n{m[1]}{m[2]}\n{m[1]}$$", docstring)
    docstring = _MATH_ROLE.sub(r"$\1$", docstring)
    return _XREF_ROLE.sub(r"`\1`", docstring)


class SphinxRoles(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_of(obj.docstring.value)
