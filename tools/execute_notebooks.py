"""Re-execute notebooks in place and store them in canonical form, so diffs show only content.

Each notebook runs in the project's kernel (``convops``, installed into ``.venv`` by
``make setup``), never in whichever ``python3`` kernel Jupyter's search finds first.  Its metadata
records what executed it (``metadata.convops.executed_with``: the versions of convops, torch and
Python, asked of that same kernel), which the site prints on the notebook's page.  Outputs are
stored in the canonical form of :mod:`convops_book.canonical`: stream outputs coalesced, no
timestamps.  Running it twice in a row leaves the files unchanged.

Usage: .venv/bin/python tools/execute_notebooks.py [--normalise] [notebooks/NAME.ipynb ...]
(default: all notebooks).  ``--normalise`` only puts the notebooks into canonical form, without
executing them (for notebooks saved from JupyterLab).  nbval then checks that a fresh run
reproduces what is stored.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

from convops_book import canonical

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
KERNEL = "convops"
STAMP = "import json, convops_book.canonical as c; print(json.dumps(c.executed_with()))"


def execute(path: Path) -> tuple[float, bool]:
    """Run the notebook at ``path`` in the project's kernel and store it; (seconds, changed)."""
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(STAMP))  # asked of the kernel, then removed
    start = time.perf_counter()
    NotebookClient(notebook, timeout=600, kernel_name=KERNEL,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    elapsed = time.perf_counter() - start
    stamp = notebook.cells.pop()
    spec = KernelSpecManager().get_kernel_spec(KERNEL)
    notebook.metadata["kernelspec"] = {"name": KERNEL, "display_name": spec.display_name,
                                       "language": spec.language}  # what nbval and lab start
    notebook.metadata["convops"] = {"executed_with": json.loads(stamp.outputs[0]["text"])}
    return elapsed, canonical.write(notebook, path)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--normalise", action="store_true",
                        help="only put the notebooks into canonical form; execute nothing")
    parser.add_argument("paths", nargs="*", type=Path)
    args = parser.parse_args(argv)
    paths = args.paths or sorted(NOTEBOOKS.glob("*.ipynb"))
    for path in paths:
        if args.normalise:
            changed = canonical.normalise_file(path)
            print(f"{path.name:<32} {'normalised' if changed else 'already canonical'}")
        else:
            elapsed, changed = execute(path)
            print(f"{path.name:<32} {elapsed:6.1f} s  {'changed' if changed else 'unchanged'}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
