"""Run mkdocs (``python docs/build.py build --strict``, any mkdocs command line) without the
seconds nbformat's import costs here.

nbformat imports jsonschema, which with rfc3987-syntax installed (jupyter-events pulls it in)
compiles 39 Earley parsers at import to check IRI formats: 2-3 s of CPU, 10 s and more on this
shared machine, for a check that rendering stored notebooks never makes.  Without the module,
jsonschema leaves those formats unchecked.
"""

import sys

sys.modules["rfc3987_syntax"] = None  # an import of it now raises ImportError

from mkdocs.__main__ import cli  # noqa: E402

if __name__ == "__main__":
    cli()
