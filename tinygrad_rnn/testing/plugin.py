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
