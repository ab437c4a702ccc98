"""Allocator tuning: let freed numpy buffers be reused instead of returned to the OS.

Every op allocates its output.  Above glibc's mmap threshold (128 KB at start) each such buffer
is a fresh ``mmap`` and every page of it faults on first touch; on virtual machines a page
fault is expensive, and a train step that allocates and frees the same few large buffers
hundreds of times can spend more time faulting than computing (measured here: a (32, 64, 64)
softmax took 1.9 ms with glibc's defaults and 0.4 ms with freed memory kept for reuse; see
benchmarks/results.md).

**On by default** (an engine choice, made when ``tinygrad_rnn`` is imported): the train step of the
seed's model at B=32, T=64, H=64 takes 12.5 ms with it and 22 ms without, in a plain process.
It changes the whole process: blocks up to 64 MiB come from malloc's heap instead of fresh
``mmap`` calls, and up to 256 MiB of freed heap stays with the process for reuse instead of going
back to the OS.  **Off switch:** set ``TINYGRAD_RNN_MALLOC=system`` in the environment before the
import; :data:`TUNED` says whether it was applied.
"""

from __future__ import annotations

import ctypes

__all__ = ["reuse_freed_memory", "TUNED", "apply_default"]

TUNED = False  # whether the import applied reuse_freed_memory() (see apply_default)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def reuse_freed_memory(mmap_threshold: int = 64 << 20, trim_threshold: int = 256 << 20) -> bool:
    """Tell glibc's malloc to serve blocks below ``mmap_threshold`` bytes from its heap and to
    keep up to ``trim_threshold`` bytes of freed heap for reuse (``mallopt``).  Returns True if
    applied, False where the C library is not glibc (nothing changes then)."""
    try:  # the running process's own symbols: the C library it is linked with, no library search
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))) and bool(mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)))


def apply_default() -> bool:
    """What ``import tinygrad_rnn`` does: :func:`reuse_freed_memory` unless the environment says
    ``TINYGRAD_RNN_MALLOC=system`` (any other value is an error, so a typo cannot pass silently)."""
    global TUNED
    import os

    choice = os.environ.get("TINYGRAD_RNN_MALLOC", "reuse")
    if choice not in ("reuse", "system"):
        raise ValueError(f"TINYGRAD_RNN_MALLOC must be 'reuse' (the default) or 'system', got {choice!r}")
    TUNED = choice == "reuse" and reuse_freed_memory()
    return TUNED
