"""Re-execute notebooks in place and store them without timestamps, so diffs show only content.

Each notebook's metadata records what executed it (``metadata.convops.executed_with``: the
versions of convops, torch and Python), which the site prints on the notebook's page.

Usage: .venv/bin/python tools/execute_notebooks.py [notebooks/NAME.ipynb ...]  (default: all)
nbval then checks that a fresh run reproduces what is stored.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def executed_with() -> dict[str, str]:
    """The versions the kernel runs with (the kernel is this interpreter with this environment)."""
    import platform

    import torch

    import convops

    return {"convops": convops.__version__, "torch": torch.__version__.split("+")[0],
            "python": platform.python_version()}


def execute(path: Path) -> float:
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    elapsed = time.perf_counter() - start
    for cell in notebook.cells:
        cell.get("metadata", {}).pop("execution", None)
    notebook.metadata["convops"] = {"executed_with": executed_with()}
    nbformat.write(notebook, path)
    return elapsed


def main(argv: list[str]) -> int:
    paths = [Path(p) for p in argv] or sorted(NOTEBOOKS.glob("*.ipynb"))
    for path in paths:
        print(f"{path.name:<32} {execute(path):6.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
