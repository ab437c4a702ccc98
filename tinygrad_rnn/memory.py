"""Allocator tuning, opt-in: let freed numpy buffers be reused instead of returned to the OS.

Every op allocates its output.  Above glibc's mmap threshold (128 KB at start) each such buffer
is a fresh ``mmap`` and every page of it faults on first touch; on virtual machines a page
fault is expensive, and a train step that allocates and frees the same few large buffers
hundreds of times can spend more time faulting than computing (measured here: a (32, 64, 64)
softmax took 1.9 ms with glibc's defaults and 0.4 ms with freed memory kept for reuse; see
benchmarks/results.md).

**Off unless asked for.**  Importing ``tinygrad_rnn`` changes nothing process-wide: a library must
not retune the allocator of its host (a notebook, a web server, someone else's test suite).  A
program that owns its process calls :func:`reuse_freed_memory` once; the package's own command
lines (``python -m tinygrad_rnn.models.train``, the sweep, ``make demo``) and ``benchmarks/`` do,
and say so (``--malloc system`` turns it off there).  What it changes, for the whole process:
blocks up to 64 MiB come from malloc's heap instead of fresh ``mmap`` calls, and up to 256 MiB of
freed heap stays with the process for reuse instead of going back to the OS.  :data:`TUNED` says
whether this process applied it.
"""

from __future__ import annotations

import ctypes

__all__ = ["reuse_freed_memory", "TUNED", "CHOICES"]

TUNED = False  # whether reuse_freed_memory() was applied in this process
CHOICES = ("reuse", "system")  # the command lines' --malloc values: reuse_freed_memory(), or glibc's defaults

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def reuse_freed_memory(mmap_threshold: int = 64 << 20, trim_threshold: int = 256 << 20) -> bool:
    """Tell glibc's malloc to serve blocks below ``mmap_threshold`` bytes from its heap and to
    keep up to ``trim_threshold`` bytes of freed heap for reuse (``mallopt``), for the whole
    process.  Returns True if applied, False where the C library is not glibc (nothing changes)."""
    global TUNED
    try:  # the running process's own symbols: the C library it is linked with, no library search
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied = bool(mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))) and bool(
        mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)))
    TUNED = TUNED or applied
    return applied


def apply(choice: str) -> bool:
    """A command line's ``--malloc`` choice: ``"reuse"`` applies :func:`reuse_freed_memory`,
    ``"system"`` leaves glibc's defaults.  Returns whether the tuning is now on."""
    if choice not in CHOICES:
        raise ValueError(f"--malloc must be one of {', '.join(CHOICES)}, got {choice!r}")
    return reuse_freed_memory() if choice == "reuse" else TUNED
