"""The book as a download, re-run from the archive alone: CI's step after the test command.

Builds ``convops-book.zip`` as the site build does (``convops_book.archive``), unpacks it into a
temporary folder, creates a fresh virtual environment there (no checkout on its path), installs
what the archive's README says (``pip install torch==2.13.0 -r requirements.txt``), checks that
the ``convops`` kernel the notebooks name is registered, and re-runs notebooks under nbval.

    python tools/check_book_archive.py                  # conv1d.ipynb
    python tools/check_book_archive.py --all            # every notebook of the archive
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from convops_book.archive import FOLDER, book_archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", default=["conv1d.ipynb"],
                        help="notebooks of the archive to re-run (default: conv1d.ipynb)")
    parser.add_argument("--all", action="store_true", help="re-run every notebook")
    options = parser.parse_args(argv)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="convops-book-") as tmp:
        zipfile.ZipFile(io.BytesIO(book_archive())).extractall(tmp)
        folder = Path(tmp) / FOLDER
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = str(venv / "bin" / "python")
        # nothing of this checkout on the path: only what the archive installs
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        run = lambda *args: subprocess.run(args, cwd=folder, env=env, check=True)  # noqa: E731
        run(python, "-m", "pip", "install", "--quiet", "torch==2.13.0", "-r", "requirements.txt")
        kernels = subprocess.run([python, "-m", "jupyter", "kernelspec", "list"], cwd=folder, env=env,
                                 check=True, capture_output=True, text=True).stdout
        if "convops" not in kernels.split():
            print(f"the archive's install registers no convops kernel:\n{kernels}", file=sys.stderr)
            return 1
        notebooks = [] if options.all else options.notebooks
        run(python, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--nbval", *notebooks)
    print(f"the book re-ran from {FOLDER}.zip alone in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
