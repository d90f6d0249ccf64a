"""The book as a download: ``convops-book.zip``, which the site serves at its root.

Everything a reader needs to re-run the notebooks without a checkout of the repository: the
notebooks, the book's helpers (this package, with a ``pyproject.toml`` that also registers the
``convops`` kernel the notebooks name), the convops wheel (there is no package index entry yet),
a ``requirements.txt`` that pins what the notebooks import at the versions that executed them,
and a short README::

    pip install torch==2.13.0 -r requirements.txt
    python -m pytest --nbval        # or: jupyter lab
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib.metadata import version
from pathlib import Path

#: The archive's name, at the site's root.
ARCHIVE = "convops-book.zip"
#: The folder the archive unpacks into.
FOLDER = "convops-book"
#: What the notebooks run on besides convops and torch: the book's own dependencies, the
#: comparison notebook's peers, and what re-runs the notebooks (nbval) or opens them (JupyterLab).
PINNED = ("sympy", "numpy", "matplotlib", "ipython", "ipykernel", "fvcore", "ptflops", "thop",
          "moduleprofiler", "pytest", "nbval", "jupyterlab")

BOOK = Path(__file__).resolve().parent
NOTEBOOKS = BOOK.parent
ROOT = NOTEBOOKS.parent

#: The ``convops`` kernel, installed into the environment's ``share/jupyter/kernels`` by pip
#: (as ipykernel installs its own ``python3``); Jupyter runs ``python`` as its own interpreter.
KERNEL = {"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
          "display_name": "convops", "language": "python", "metadata": {"debugger": True}}


def requirements(wheel: str) -> str:
    """``requirements.txt``: the wheel, the book, and every other package pinned at the version
    installed here, where the notebooks were executed."""
    pins = "\n".join(f"{name}=={version(name)}" for name in PINNED)
    return (f"# torch first, from the same command: pip install torch==2.13.0 -r requirements.txt\n"
            f"./{wheel}\n./book\n{pins}\n")


def readme(wheel: str, executed_with: dict) -> str:
    return f"""# The convops book

The notebooks of the convops site, executed with convops {executed_with['convops']}, torch
{executed_with['torch']} and Python {executed_with['python']}, with what re-runs them: the book's
helpers (`book/`, which also registers the `convops` kernel the notebooks name), the convops
wheel (`{wheel}`) and `requirements.txt`.  In a fresh virtual environment, in this folder:

```bash
pip install torch==2.13.0 -r requirements.txt
python -m pytest --nbval      # re-run every notebook against its stored outputs; or: jupyter lab
```

`python -m pytest --nbval conv2d.ipynb` re-runs one.  With the versions above, every stored
output comes out again; nbval names any cell whose output differs.
"""


def book_pyproject() -> str:
    """The book's ``pyproject.toml``, with the kernel's spec as a data file."""
    text = (NOTEBOOKS / "pyproject.toml").read_text(encoding="utf-8")
    return text + ('\n# The kernel the notebooks name, installed with the book.\n'
                   '[tool.setuptools.data-files]\n'
                   '"share/jupyter/kernels/convops" = ["kernel/kernel.json"]\n')


def build_wheel(into: Path) -> str:
    """The convops wheel, built from a copy of the package's sources (nothing written here)."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "convops"
        source.mkdir()
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            shutil.copy(ROOT / name, source / name)
        shutil.copytree(ROOT / "convops", source / "convops",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                        "--no-build-isolation", "--wheel-dir", str(into), str(source)],
                       check=True, capture_output=True)
    return next(into.glob("convops-*.whl")).name


def book_archive() -> bytes:
    """The bytes of ``convops-book.zip``."""
    notebooks = sorted(NOTEBOOKS.glob("*.ipynb"))
    executed_with = json.loads(notebooks[0].read_text(encoding="utf-8"))["metadata"]["convops"][
        "executed_with"]
    with tempfile.TemporaryDirectory() as tmp:
        wheel = build_wheel(Path(tmp))
        data = io.BytesIO()
        with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as archive:
            def add(name: str, content: str | bytes) -> None:
                archive.writestr(f"{FOLDER}/{name}", content)
            for notebook in notebooks:
                add(notebook.name, notebook.read_bytes())
            for module in sorted(BOOK.rglob("*.py")):
                add(f"book/convops_book/{module.relative_to(BOOK).as_posix()}", module.read_bytes())
            add("book/pyproject.toml", book_pyproject())
            add("book/kernel/kernel.json", json.dumps(KERNEL, indent=1) + "\n")
            add(wheel, (Path(tmp) / wheel).read_bytes())
            add("requirements.txt", requirements(wheel))
            add("README.md", readme(wheel, executed_with))
    return data.getvalue()
