"""By hand: how long ``mkdocs build --strict`` of the site takes (goal: under 30 s on a 2-core
machine), against the bare start-up it cannot avoid (Python importing mkdocs, its plugins, torch
and the book) measured in the same run.

    .venv/bin/python benchmarks/site_build.py [--rounds 3]

The test command builds the site once and checks its log has no warning; the time is measured
here, not asserted there, since a loaded machine would fail a timed test.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STARTUP = ("import mkdocs.commands.build, material, mkdocs_jupyter, torch, convops, "
           "convops_book.site")


def seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True,
                   env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    builds, startups = [], []
    with tempfile.TemporaryDirectory() as site:
        for _ in range(rounds):  # interleaved, so both see the same machine
            startups.append(seconds([sys.executable, "-c", STARTUP]))
            builds.append(seconds([sys.executable, "docs/build.py", "build", "--strict",
                                   "--site-dir", site]))
    build, startup = min(builds), min(startups)
    print(f"minimum of {rounds} rounds: build {build:.1f} s, start-up {startup:.1f} s, "
          f"build without start-up {build - startup:.1f} s (goal: build under 30 s)")


if __name__ == "__main__":
    main()
