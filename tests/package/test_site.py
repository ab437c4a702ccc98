"""The documentation site: built strictly (every course chapter executed), then opened in headless
Chromium page by page.

The build runs ``mkdocs build --strict`` exactly as ``make docs`` does, into a temporary directory,
so every number a chapter shows is computed by this build.  Negative controls: a chapter whose
assertion fails, and a page with a broken link, each fail a build of their own.  The browser half
serves the built site over HTTP (search needs it) and loads every page: no console error, no page
error, no request that leaves the machine; the embedded step-through page steps; the search finds
a chapter.
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tinygrad_rnn.viz.browser import BROWSER_ARGS, chromium_path

ROOT = Path(__file__).resolve().parents[2]
MKDOCS = [sys.executable, "-m", "mkdocs"]
ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "OMP_NUM_THREADS": "1"}


def build(config: Path, site: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([*MKDOCS, "build", "--strict", "--config-file", str(config), "--site-dir", str(site)],
                          cwd=cwd, env=ENV, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    start = time.perf_counter()
    done = build(ROOT / "mkdocs.yml", out)
    took = time.perf_counter() - start
    assert done.returncode == 0, done.stderr[-4000:]
    print(f"site built in {took:.1f} s")
    return out


def pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if p.name != "404.html")


# ----------------------------------------------------------------------------- the build
def test_every_chapter_is_executed_into_the_site(site):
    chapters = sorted((ROOT / "docs" / "course").glob("[0-9]*.py"))
    assert len(chapters) == 11
    for chapter in chapters:
        html = (site / "course" / chapter.with_suffix(".html").name).read_text()
        assert "jp-OutputArea" in html, f"{chapter.name}: no outputs in the page"
        assert "not attempted yet" in html, f"{chapter.name}: its exercise did not run"
    tape = (site / "course" / "02_tape.html").read_text()
    assert "g = 24.7041, dg/da = 138.8338, dg/db = 645.5773" in tape         # micrograd's numbers, computed now
    assert "<svg" in (site / "course" / "07_bptt.html").read_text()          # the unrolled drawing, rendered


def test_the_reference_documents_every_public_name(site):
    import tinygrad_rnn as tg

    html = "".join(p.read_text() for p in (site / "reference").glob("*.html"))
    missing = [n for n in tg.__all__ if f'id="tinygrad_rnn.{n}"' not in html and f'.{n}"' not in html]
    assert missing == [], missing
    assert ":func:<code" not in html and ":mod:<code" not in html     # Sphinx roles are not shown raw
    assert "eq 1" in (site / "reference" / "models.html").read_text() or "(1) h_t" in (site / "reference" / "models.html").read_text()


def test_the_generated_pages_are_fresh(site):
    for name in ("bptt", "micrograd", "fanout"):
        text = (site / "explore" / f"{name}.html").read_text()
        assert 'id="walk-data"' in text
    assert (site / "results" / "sweep.png").read_bytes() == (ROOT / "results" / "sweep.png").read_bytes()


def _tiny_project(tmp: Path, chapter: str, page: str = "# home\n") -> Path:
    (tmp / "docs" / "course").mkdir(parents=True)
    (tmp / "docs" / "index.md").write_text(page)
    (tmp / "docs" / "course" / "01_x.py").write_text(chapter)
    config = tmp / "mkdocs.yml"
    config.write_text(textwrap.dedent("""\
        site_name: t
        strict: true
        validation:
          links:
            not_found: warn
        plugins:
          - mkdocs-jupyter:
              include: ["course/[0-9]*.py"]
              execute: true
              allow_errors: false
              cache: false
        nav:
          - index.md
          - course/01_x.py
        """))
    return config


def test_a_failing_assertion_in_a_chapter_fails_the_build(tmp_path):
    """Negative control: the same plugin settings as the site, one chapter whose check fails."""
    config = _tiny_project(tmp_path, "# %%\nx = 1 + 1\n# %%\nassert x == 3, 'the chapter is wrong'\n")
    done = build(config, tmp_path / "site", cwd=tmp_path)
    assert done.returncode != 0
    assert "the chapter is wrong" in done.stderr + done.stdout


def test_a_broken_link_fails_the_build(tmp_path):
    config = _tiny_project(tmp_path, "# %%\nx = 1\n", page="# home\n\n[gone](nowhere.md)\n")
    done = build(config, tmp_path / "site", cwd=tmp_path)
    assert done.returncode != 0 and "nowhere.md" in done.stderr


# ----------------------------------------------------------------------------- in a browser
@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=BROWSER_ARGS)
        yield b
        b.close()


class Visit:
    def __init__(self, browser, url: str) -> None:
        self.page = browser.new_page(viewport={"width": 1300, "height": 900})
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.failed: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"{m.type}: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.outside.append(r.url)
                     if urlparse(r.url).hostname not in ("127.0.0.1", None) and not r.url.startswith("data:") else None)
        self.page.on("requestfailed", lambda r: self.failed.append(r.url))
        self.response = self.page.goto(url, wait_until="load")


def test_every_page_loads_without_errors_or_outside_requests(site, server, browser):
    problems = {}
    for path in pages(site):
        rel = path.relative_to(site).as_posix()
        v = Visit(browser, f"{server}/{rel}")
        v.page.wait_for_timeout(50)
        if v.response is None or v.response.status != 200 or v.errors or v.outside or v.failed:
            problems[rel] = (v.response and v.response.status, v.errors, v.outside, v.failed)
        v.page.close()
    assert len(pages(site)) >= 40
    assert problems == {}


def test_the_request_detector_sees_an_outside_request(tmp_path, browser):
    """Negative control for the test above: a page that asks for a font from the internet is seen."""
    page = tmp_path / "p.html"
    page.write_text('<html><head><link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">'
                    "</head><body>x</body></html>")
    v = Visit(browser, page.as_uri())
    assert v.outside and "fonts.googleapis.com" in v.outside[0]
    v.page.close()


def test_the_embedded_step_through_page_steps(server, browser):
    v = Visit(browser, f"{server}/guide/stepping.html")
    frame = v.page.frame_locator("iframe").first
    counter = frame.locator("#counter")
    counter.wait_for()
    before = counter.inner_text()
    frame.locator("#next").click()
    frame.locator("#next").click()
    after = counter.inner_text()
    assert before != after
    frame.locator("#last").click()
    assert counter.inner_text() != after
    assert v.errors == [] and v.outside == []
    v.page.close()


def test_the_search_finds_a_chapter(server, browser):
    v = Visit(browser, f"{server}/index.html")
    box = v.page.locator("input.md-search__input")
    box.click()
    box.fill("micrograd")
    results = v.page.locator(".md-search-result__item")
    results.first.wait_for(timeout=15000)
    text = " ".join(results.all_inner_texts())
    assert "tape" in text.lower()
    assert v.errors == []
    v.page.close()
