"""Notebooks in canonical form, so that re-running one changes its file only where a result changed.

How a kernel's stdout is cut into stream outputs depends on timing, and execution records when each
cell ran; neither is content.  The canonical form merges consecutive stream outputs of the same name
(nbconvert's :class:`~nbconvert.preprocessors.CoalesceStreamsPreprocessor`) and drops the per-cell
``execution`` timestamps (and JupyterLab's ``ExecuteTime``).  What depends on the environment — the
kernelspec, ``language_info`` and the convops/torch/Python stamp — is kept: it changes only when the
environment does.

``tools/execute_notebooks.py`` writes every notebook it executes in this form, and
``make normalise`` puts notebooks saved from JupyterLab into it without executing them.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbconvert.preprocessors import CoalesceStreamsPreprocessor

#: Per-cell metadata that records when a cell ran, not what it computed.
TIMING_KEYS = ("execution", "ExecuteTime")


def normalise(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``notebook`` in canonical form: streams coalesced, timestamps dropped (in place).

    Examples
    --------
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1); print(2)")])
    >>> nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\\n"),
    ...                        nbformat.v4.new_output("stream", name="stdout", text="2\\n")]
    >>> nb.cells[0].metadata["execution"] = {"iopub.status.idle": "2026-11-28T06:00:00Z"}
    >>> cell = normalise(nb).cells[0]
    >>> [output.text for output in cell.outputs], dict(cell.metadata)
    (['1\\n2\\n'], {})
    """
    for cell in notebook.cells:
        for key in TIMING_KEYS:
            cell.get("metadata", {}).pop(key, None)
    notebook, _ = CoalesceStreamsPreprocessor().preprocess(notebook, {})
    return notebook


def canonical_text(notebook: nbformat.NotebookNode) -> str:
    """The file text of ``notebook`` in canonical form, as :func:`write` stores it."""
    return nbformat.writes(normalise(notebook)) + "\n"  # as nbformat.write ends a file


def executed_with() -> dict[str, str]:
    """The versions of convops, torch and Python in this interpreter: the stamp a page shows.

    ``tools/execute_notebooks.py`` calls it inside the kernel that ran the notebook, so the stamp
    names what ran the cells, not the interpreter of the tool.

    Examples
    --------
    >>> sorted(executed_with())
    ['convops', 'python', 'torch']
    """
    import platform

    import torch

    import convops

    return {"convops": convops.__version__, "torch": torch.__version__.split("+")[0],
            "python": platform.python_version()}


def write(notebook: nbformat.NotebookNode, path: Path) -> bool:
    """Store ``notebook`` at ``path`` in canonical form; whether the file's bytes changed."""
    text = canonical_text(notebook)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def normalise_file(path: Path) -> bool:
    """Put the notebook at ``path`` into canonical form without executing it; whether it changed."""
    return write(nbformat.read(path, as_version=4), path)
