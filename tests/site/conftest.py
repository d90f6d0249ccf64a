"""The built site, served on 127.0.0.1, and a headless Chromium to visit it.

The site is built once per session with ``mkdocs build --strict`` (through ``docs/build.py``)
into a temporary folder; every test of this folder reads that one build.  With
``CONVOPS_BUILT_SITE=<folder>`` the tests read a site built before instead (to show that a test
fails on an older site); the build's own tests then fail.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from seen import Site

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
PREBUILT = Path(os.environ["CONVOPS_BUILT_SITE"]) if os.environ.get("CONVOPS_BUILT_SITE") else None
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@dataclass(frozen=True)
class Build:
    site: Path
    log: str

    def pages(self) -> list[Path]:
        return sorted(self.site.rglob("*.html"))


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """A server on 127.0.0.1 for the site's folder, its port bound now, serving once built."""
    site = PREBUILT or tmp_path_factory.mktemp("site")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    yield server, site
    server.server_close()


@pytest.fixture(scope="session")
def base_url(server) -> str:
    return f"http://127.0.0.1:{server[0].server_port}/"


@pytest.fixture(scope="session")
def build(server, base_url) -> Build:
    """The site, built by ``mkdocs build --strict`` for ``base_url``, then served there."""
    http, site = server
    if PREBUILT:
        threading.Thread(target=http.serve_forever, daemon=True).start()
        yield Build(site, "prebuilt: CONVOPS_BUILT_SITE")
        http.shutdown()
        return
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "CONVOPS_SITE_URL": base_url}
    done = subprocess.run([sys.executable, "docs/build.py", "build", "--strict", "--site-dir", str(site)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    log = done.stdout + done.stderr
    if done.returncode != 0:
        pytest.fail(f"mkdocs build --strict failed (exit {done.returncode}):\n{log}", pytrace=False)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    yield Build(site, log)
    http.shutdown()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (Debian's chromium)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Visit:
    """A browser page that records every console error, page error and failed request, and
    refuses (and records) any request that would leave 127.0.0.1."""

    def __init__(self, browser, base_url: str, **context_options):
        self.base_url = base_url
        self.problems: list[str] = []
        self.context = browser.new_context(**context_options)
        self.context.route("**/*", self._only_local)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self._note(f"console error: {m.text}"))
        self.page.on("pageerror", lambda e: self._note(f"page error: {e}"))
        # a request the page itself cancels by navigating on (net::ERR_ABORTED) is not a problem:
        # a file that is missing answers 404, noted below
        self.page.on("requestfailed", lambda r: "ERR_ABORTED" not in (r.failure or "")
                     and self._note(f"request failed: {r.url} ({r.failure})"))
        self.page.on("response", lambda r: r.status >= 400 and self._note(f"HTTP {r.status}: {r.url}"))

    def _note(self, problem: str) -> None:
        self.problems.append(f"{self.page.url}: {problem}")

    def _only_local(self, route) -> None:
        if route.request.url.startswith(self.base_url):
            route.continue_()
        else:
            self._note(f"request leaving the site: {route.request.url}")
            route.abort()

    def goto(self, path: str) -> None:
        self.page.goto(self.base_url + path, wait_until="networkidle")


@pytest.fixture
def visit(build, browser, base_url):
    v = Visit(browser, base_url)
    yield v
    v.context.close()


def url_paths(build: Build) -> list[str]:
    """The address of every page of the site (``404.html`` included), relative to its root:
    ``notebooks/conv2d/``."""
    return [p.relative_to(build.site).as_posix().removesuffix("index.html") for p in build.pages()]


@pytest.fixture(scope="session")
def site(build, browser, base_url) -> Site:
    """What a reader sees of every page, each visited once per view (``seen.Site``)."""
    return Site(url_paths(build), lambda **options: Visit(browser, base_url, **options))
