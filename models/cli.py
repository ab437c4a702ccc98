"""Small argparse helpers shared by the command lines (``tinygrad_rnn.models.train``, ``tinygrad_rnn.models.sweep``, ``viz``)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path


class OneLineParser(argparse.ArgumentParser):
    """Reports a bad flag as one ``error: ...`` line (exit code 2) instead of a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
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
