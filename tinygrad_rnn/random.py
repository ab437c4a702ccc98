"""One way to make a run reproducible: ``tg.manual_seed(s)``.

Everything in the library that draws random numbers without being handed a generator — ``tg.randn``,
``tg.rand``, ``nn.Dropout``, the ``nn.init`` initialisers, ``nn`` layers' default initialisation,
``nn.batches``' shuffling — draws from **one default generator** (``numpy.random.Generator``,
PCG64), which ``manual_seed`` replaces by a freshly seeded one.  Until it is called, the default
generator is seeded from the operating system's entropy (a different run each time), as numpy's
``default_rng()`` is.  Passing an explicit ``rng=`` / ``generator=`` always wins, and is the better
habit for code that runs in threads (one generator per thread; the default one is shared).

``np.random.seed`` does not reach this generator (numpy's legacy global state is a different
object); that is why this module exists.  Calling ``manual_seed`` changes only this library's
default generator, nothing else in the process.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

__all__ = ["manual_seed", "default_generator", "generator"]

_LOCK = threading.Lock()
_DEFAULT = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the default generator with ``seed`` (a non-negative int) and return it."""
    global _DEFAULT
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"manual_seed: the seed must be a non-negative integer, got {seed!r}")
    with _LOCK:
        _DEFAULT = np.random.default_rng(int(seed))
        return _DEFAULT


def default_generator() -> np.random.Generator:
    """The generator used when none is given (see the module docstring)."""
    return _DEFAULT


def generator(rng: Any, name: str) -> np.random.Generator:
    """``rng`` as a Generator: itself, a new one seeded with an int, or the default for None."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return _DEFAULT
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(rng)
    raise TypeError(f"{name}: rng must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}")
