"""Small argparse helpers shared by the command lines (``tinygrad_rnn.models.train``, ``tinygrad_rnn.models.app.sweep``, ``viz``)."""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class OneLineParser(argparse.ArgumentParser):
    """Reports a bad flag as one ``error: ...`` line (exit code 2) instead of a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def readable_streams() -> None:
    """A command line's output never fails on a path that is not valid UTF-8 (a file name's bytes
    come back from the OS as lone surrogates): unprintable characters are shown as escapes.
    Called by the programs' ``main`` only; importing changes nothing."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # pragma: no cover - a closed or unusual stream
                pass


@contextmanager
def interrupt_once() -> Iterator[None]:
    """Ctrl-C stops the program once: the first interrupt raises ``KeyboardInterrupt`` as usual;
    any further one while the program cleans up, says what it kept and exits is ignored (a second
    Ctrl-C would otherwise interrupt the cleanup with a traceback, or kill the process by SIGINT
    after it printed that it stopped cleanly).  Only in the main thread and only where SIGINT has
    Python's default handler; without an interrupt, that handler comes back after."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    seen = []

    def handler(signum: int, frame: object) -> None:
        seen.append(signum)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the program is stopping: the rest are ignored
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        if not seen:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text[:40]!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer below 2**63, got {text[:40]}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text[:40]!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text[:40]}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text[:40]!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text[:40]}")
    return value


def make_parent_dir(flag: str, path: str) -> bool:
    """Create the directory an output file ``path`` (given by ``flag``) goes into; on failure print
    one ``error:`` line naming the flag and return False."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as e:
        print(f"error: {flag}: cannot create the directory for {path!r}: {e}", file=sys.stderr)
        return False
    return True
