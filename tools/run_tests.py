"""Every test, in lanes that run side by side: ``make test``.

The test command is four pytest runs: the library's tests and doctests, the module pages'
notebooks under nbval, the other notebooks (with the book's doctests), and the site in Chromium.
They share nothing (each its own kernels, its own built site), so on a machine of two or more
cores they run in two lanes at once.  Each lane's output goes to a log; a line says when each run ends, and the
log of a run that failed is printed whole.  The exit status is non-zero if any run failed.

    python tools/run_tests.py            # as `make test`
    python tools/run_tests.py --serial   # one run after the other, output as it comes
    python tools/run_tests.py -- -x      # more pytest arguments, for every run
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTEST = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]

#: The module pages' notebooks: the rest of the book, with its helpers' doctests, is the other run.
MODULE_NOTEBOOKS = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("notebooks/conv*.ipynb"))
#: name: pytest arguments.  Together they are what `pytest --nbval` collects from the testpaths.
RUNS = {
    "library": ["tests", "convops", "--ignore=tests/site"],
    "module notebooks": ["--nbval", *MODULE_NOTEBOOKS],
    "other notebooks": ["--nbval", "notebooks", *(f"--ignore={p}" for p in MODULE_NOTEBOOKS)],
    "site": ["tests/site"],
}
#: Runs in the same lane run one after the other; the lanes run at once.  Each notebook starts a
#: kernel that imports torch (and Dynamo, on FlopCounterMode's first use): seconds that two lanes
#: halve.
LANES = (("site", "other notebooks"), ("library", "module notebooks"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serial", action="store_true", help="one run after the other")
    parser.add_argument("extra", nargs="*", help="more pytest arguments (after --)")
    options = parser.parse_args(argv)
    if options.serial or (os.cpu_count() or 1) < 2:
        return max(subprocess.call([*PYTEST, *args, *options.extra], cwd=ROOT)
                   for args in RUNS.values())
    start = time.perf_counter()
    logs = Path(tempfile.mkdtemp(prefix="convops-tests-"))
    results: dict[str, int] = {}
    print(f"{len(RUNS)} test runs in {len(LANES)} lanes; logs in {logs}", flush=True)

    def log_of(name: str) -> Path:
        return logs / f"{name.replace(' ', '-')}.log"

    def lane(names: tuple[str, ...]) -> None:
        for name in names:
            with open(log_of(name), "w") as log:
                code = subprocess.call([*PYTEST, *RUNS[name], *options.extra], cwd=ROOT,
                                       stdout=log, stderr=subprocess.STDOUT)
            results[name] = code
            summary = log_of(name).read_text().strip().splitlines()[-1:] or ["(no output)"]
            print(f"[{time.perf_counter() - start:5.0f} s] {name}: {summary[0].strip('= ')}",
                  flush=True)

    threads = [threading.Thread(target=lane, args=(names,)) for names in LANES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name, code in results.items():
        if code:
            print(f"\n{'=' * 30} {name}: the whole log {'=' * 30}")
            print(log_of(name).read_text())
    failed = [name for name, code in results.items() if code]
    print(f"{'FAILED: ' + ', '.join(failed) if failed else 'all test runs passed'} "
          f"in {time.perf_counter() - start:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
