"""Griffe extension: convops' docstrings use Sphinx's reST roles; the site reads Markdown.

``:math:`x``` becomes ``$x$`` (rendered by KaTeX), a ``.. math::`` directive a display formula,
and the cross-reference roles (``:class:``, ``:attr:`` …) plain code.  An attribute documented by
a ``#:`` comment on its line (``psi: int  #: filters``), as Sphinx reads them, gets that comment
as its docstring.
"""

from __future__ import annotations

import re

import griffe

_MATH_ROLE = re.compile(r":math:`([^`]+)`")
_XREF_ROLE = re.compile(r":(?:class|attr|meth|func|mod|data|obj):`~?([^`]+)`")
_MATH_DIRECTIVE = re.compile(r"^([ \t]*)\.\. math::[ \t]*(.+)$", re.MULTILINE)
_DOC_COMMENT = re.compile(r"#:\s*(.+?)\s*$")


def markdown_of(docstring: str) -> str:
    docstring = _MATH_DIRECTIVE.sub(lambda m: f"{m[1]}$$\n{m[1]}{m[2]}\n{m[1]}$$", docstring)
    docstring = _MATH_ROLE.sub(r"$\1$", docstring)
    return _XREF_ROLE.sub(r"`\1`", docstring)


class SphinxRoles(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_of(obj.docstring.value)


class DocComments(griffe.Extension):
    def on_attribute_instance(self, *, node, attr: griffe.Attribute, **kwargs) -> None:
        if attr.docstring is not None or not attr.lineno or attr.filepath is None:
            return
        line = attr.lines_collection[attr.filepath][attr.lineno - 1]
        comment = _DOC_COMMENT.search(line)
        if comment:
            attr.docstring = griffe.Docstring(markdown_of(comment[1]), parent=attr)
