"""The pytest plugin (entry point ``pytest11``): registers the hypothesis profiles and offers fixtures.

Installed with the package; it does nothing unless hypothesis is installed (``pip install
'tinygrad_rnn[testing]'``), and it loads no profile (``--hypothesis-profile=tinygrad_rnn`` does).

Fixtures:

- ``tg_rng``: a ``numpy.random.Generator`` seeded from the test's id (the same numbers on every run
  and machine, different per test);
- ``grad_close``: :func:`tinygrad_rnn.testing.assert_grad_close`;
- ``hand_gradient``: :func:`tinygrad_rnn.testing.assert_hand_gradient`.
"""

from __future__ import annotations

import zlib
from typing import Any

import pytest

try:
    from .profiles import register_profiles
except ImportError:  # no hypothesis: the plugin stays out of the way
    register_profiles = None  # type: ignore[assignment]
else:
    register_profiles()  # before hypothesis's own plugin reads --hypothesis-profile


@pytest.fixture
def tg_rng(request: Any) -> Any:
    import numpy as np

    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture
def grad_close() -> Any:
    from .checks import assert_grad_close

    return assert_grad_close


@pytest.fixture
def hand_gradient() -> Any:
    from .checks import assert_hand_gradient

    return assert_hand_gradient


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Any:
    """A gradient check's failure reported as what matters: the test's line, the verdict (the message's
    first line), the worst entry, the suspect, and the failing example on one line, instead of a
    traceback through hypothesis and this library.  Only with pytest's default ``--tb=auto``; any
    explicit ``--tb`` style gets pytest's usual report."""
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is None or report.when != "call" or item.config.getoption("tbstyle", "auto") != "auto":
        return
    from ..gradcheck import GradcheckError
    from .checks import HandGradientError

    exc = call.excinfo.value
    if not isinstance(exc, (GradcheckError, HandGradientError)):
        return
    here = [e for e in call.excinfo.traceback if str(e.path) == str(item.path)]
    where = f"{item.path.name}:{here[-1].lineno + 1}" if here else item.nodeid
    notes = [" ".join(n.split()) if n.startswith("Failing test case") else n
             for n in getattr(exc, "__notes__", ())]
    text = "\n".join([f"{where}: {type(exc).__name__}: {exc}", *notes, "(the full traceback: pytest --tb=long)"])
    report.longrepr = _CompactReport(text, f"{type(exc).__name__}: {str(exc).splitlines()[0]}")


class _CompactReport:
    """A failure report pytest prints as ``text``; its one-line ``reprcrash.message`` (the verdict)
    is what the short test summary shows, also on CI, where pytest does not trim summary lines."""

    def __init__(self, text: str, headline: str) -> None:
        self.text = text
        self.reprcrash = _Crash(headline)

    def toterminal(self, tw: Any) -> None:
        for line in self.text.splitlines():
            tw.line(line)

    def __str__(self) -> str:
        return self.text


class _Crash:
    def __init__(self, message: str) -> None:
        self.message = message
