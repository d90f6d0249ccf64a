"""Notebooks are stored in canonical form, so re-running them leaves the tree as it was."""

import os
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager

from convops_book import canonical

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def _notebook(*chunks: str, stderr_between: bool = False) -> nbformat.NotebookNode:
    """One code cell whose stdout arrived in ``chunks`` (as a kernel may cut it)."""
    outputs = [nbformat.v4.new_output("stream", name="stdout", text=chunk) for chunk in chunks]
    if stderr_between:
        outputs.insert(1, nbformat.v4.new_output("stream", name="stderr", text="warning\n"))
    cell = nbformat.v4.new_code_cell("print(table)", id="table", execution_count=1, outputs=outputs)
    cell.metadata["execution"] = {"iopub.execute_input": "2026-11-28T06:21:00.000001Z",
                                  "shell.execute_reply": "2026-11-28T06:21:00.250000Z"}
    return nbformat.v4.new_notebook(cells=[cell])


def test_a_stream_cut_into_chunks_is_stored_as_the_uncut_one():
    uncut = canonical.canonical_text(_notebook("convolution: 3,456\nrelu: not counted\n"))
    for chunks in (["convolution: 3,456", "\n", "relu: not counted\n"],
                   ["convolution: 3,4", "56\nrelu: not ", "counted\n"]):
        assert canonical.canonical_text(_notebook(*chunks)) == uncut
    assert "2026-11-28" not in uncut


def test_streams_of_different_names_stay_apart():
    nb = canonical.normalise(_notebook("a\n", "b\n", stderr_between=True))
    assert [(o.name, o.text) for o in nb.cells[0].outputs] == [
        ("stdout", "a\n"), ("stderr", "warning\n"), ("stdout", "b\n")]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_committed_notebook_is_canonical(path):
    text = path.read_text(encoding="utf-8")
    assert canonical.canonical_text(nbformat.reads(text, as_version=4)) == text, (
        f"{path.name} is not in canonical form: run `make normalise` (or `make notebooks`)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_notebook_ran_in_the_project_kernel(path):
    metadata = nbformat.read(path, as_version=4).metadata
    assert metadata.kernelspec.name == "convops"
    assert set(metadata.convops.executed_with) == {"convops", "torch", "python"}


def test_the_project_kernel_runs_this_environment():
    """The kernel nbval and `make notebooks` start is this venv's interpreter, not a look-alike."""
    argv = KernelSpecManager().get_kernel_spec("convops").argv
    assert os.path.abspath(argv[0]) == os.path.abspath(sys.executable)
