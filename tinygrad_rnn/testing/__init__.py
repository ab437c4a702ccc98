"""Tools for writing hypothesis-driven gradient tests of your own code.

>>> from hypothesis import given
>>> import tinygrad_rnn as tg
>>> from tinygrad_rnn.testing import arrays, assert_grad_close
>>> @given(arrays(max_dims=2))
... def test_my_op(x):
...     assert_grad_close(lambda t: (t * t).tanh().sum(), [x])

- **Checks**: :func:`assert_grad_close` (the engine against central differences that estimate their
  own error: "the rule is wrong" only when the disagreement is larger than that error; "finite
  differences cannot check this input" otherwise, which a hypothesis test rejects),
  :func:`assert_hand_gradient` / :func:`check_gradient` (your hand-derived numpy gradient against the
  engine's autodiff, shrunk to the smallest failing sizes).
- **Strategies**: :func:`arrays` (bounded, finite, elements distinct by default so that shrinking
  does not land on a constant row), :func:`tensors`, :func:`broadcastable_arrays`, recurrent inputs
  (:func:`token_sequences`, :func:`one_hot_sequences`, :func:`padded_batches`,
  :func:`parameter_sets`) and :func:`programs` (your ops composed with the engine's).
- **Profiles** (:func:`register_profiles`) and a **pytest plugin** (installed with the package:
  registers the profiles, fixtures ``tg_rng``, ``grad_close``, ``hand_gradient``).

Needs ``hypothesis`` only: ``pip install 'tinygrad_rnn[testing]'``.  Reachable as ``tg.testing``
after ``import tinygrad_rnn as tg`` (imported on first use, so the engine itself needs numpy only).
"""

from __future__ import annotations

try:
    import hypothesis  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised in the packaging test without the extra
    raise ImportError(
        "tinygrad_rnn.testing needs hypothesis: pip install 'tinygrad_rnn[testing]' (or pip install hypothesis)"
    ) from e

from ..gradcheck import GradcheckError, UncheckableInput
from .checks import HandGradientError, assert_grad_close, assert_hand_gradient, check_gradient
from .profiles import register_profiles
from .programs import BUILTIN_OPS, Program, programs
from .strategies import (arrays, broadcastable_arrays, elements, one_hot_sequences, padded_batches, parameter_sets,
                         shapes, tensors, token_sequences)

__all__ = [
    "elements", "shapes", "arrays", "tensors", "broadcastable_arrays",
    "token_sequences", "one_hot_sequences", "padded_batches", "parameter_sets",
    "programs", "Program", "BUILTIN_OPS",
    "assert_grad_close", "assert_hand_gradient", "check_gradient",
    "GradcheckError", "UncheckableInput", "HandGradientError",
    "register_profiles",
]
