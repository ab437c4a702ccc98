"""A headless browser for :func:`~tinygrad_rnn.viz.explore`'s pages: pictures of them, and the tests.

Uses Playwright for Python with a Chromium that is already installed (Debian's ``chromium``
package; ``make demo`` / ``make test`` install it).  Playwright's own browser download is never
used: the executable is found on ``PATH`` (or given by ``TINYGRAD_RNN_CHROMIUM``).

    from tinygrad_rnn.viz.browser import screenshot
    screenshot("bptt.html", "bptt.png")          # the backward walk half way through
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .graph import VizError
from .rendering import _checked_path, write_atomic

__all__ = ["chromium_path", "open_page", "screenshot", "BROWSER_ARGS"]

BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                "--disable-component-update", "--disable-default-apps", "--disable-sync", "--no-first-run",
                "--mute-audio"]
INSTALL_HINT = ("install a Chromium browser (Debian/Ubuntu: 'apt-get install chromium'; 'make demo' and 'make test' "
                "do it on these machines) or set TINYGRAD_RNN_CHROMIUM to its executable")


def chromium_path() -> str:
    """The Chromium executable to drive: ``$TINYGRAD_RNN_CHROMIUM``, else the first of chromium,
    chromium-browser, google-chrome on PATH."""
    given = os.environ.get("TINYGRAD_RNN_CHROMIUM")
    if given:
        if not (os.path.isfile(given) and os.access(given, os.X_OK)):
            raise VizError(f"viz: TINYGRAD_RNN_CHROMIUM={given!r} is not an executable file")
        return given
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    raise VizError("viz: no Chromium browser found; " + INSTALL_HINT)


@contextmanager
def open_page(html: str | os.PathLike[str], width: int = 1600, height: int = 1000) -> Iterator[Any]:
    """A Playwright ``Page`` showing the file ``html`` (headless Chromium), closed afterwards."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise VizError("viz: driving a browser needs Playwright: pip install 'tinygrad_rnn[browser]'") from None
    exe = chromium_path()
    path = Path(html).resolve()
    if not path.is_file():
        raise VizError(f"viz: no page at {str(path)!r}")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(path.as_uri())
            page.wait_for_function("window.walk !== undefined")
            yield page
        finally:
            browser.close()


def screenshot(html: str | os.PathLike[str], png: str | os.PathLike[str], *, mode: str = "backward",
               fraction: float = 0.5, width: int = 1600, height: int = 1000) -> Path:
    """Write a PNG of the page ``html`` at ``fraction`` of the way through its ``mode`` walk
    ("backward" or "forward").  The file appears complete or not at all."""
    if mode not in ("forward", "backward"):
        raise ValueError(f"screenshot: mode must be 'forward' or 'backward', got {mode!r}")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"screenshot: fraction must be in [0, 1], got {fraction}")
    target = _checked_path(png, {".png": "png"}, "a screenshot is written as .png")
    with open_page(html, width, height) as page:
        page.evaluate("([m, f]) => { walk.setMode(m); walk.go(Math.round(walk.steps * f)); }", [mode, fraction])
        data = page.screenshot(type="png")
    return write_atomic(target, data)
