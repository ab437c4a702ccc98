"""Tools for writing hypothesis-driven gradient tests of your own code.

>>> from hypothesis import given
>>> import tinygrad_rnn as tg
>>> from tinygrad_rnn.testing import arrays, assert_grad_close
>>> @given(arrays(max_dims=2))
... def test_my_op(x):
...     assert_grad_close(lambda t: (t * t).tanh().sum(), [x])

Strategies keep elements bounded and finite, shapes small, and can keep elements away
from points where a function is not differentiable (``avoid=(0.0,)`` for relu/abs)
or not defined (``min_value=0.1`` for log/sqrt).  Requires ``hypothesis``
(``pip install tinygrad_rnn[test]``).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

try:
    from hypothesis import HealthCheck, Phase, settings
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "tinygrad_rnn.testing needs hypothesis: pip install 'tinygrad_rnn[test]' (or pip install hypothesis)"
    ) from e

from .gradcheck import gradcheck
from .tensor import Tensor

__all__ = [
    "elements",
    "shapes",
    "arrays",
    "tensors",
    "broadcastable_arrays",
    "assert_grad_close",
    "register_profiles",
]


def elements(
    min_value: float = -3.0,
    max_value: float = 3.0,
    avoid: Sequence[float] = (),
    margin: float = 0.05,
    grid: float | None = None,
) -> st.SearchStrategy[float]:
    """Finite floats in [min_value, max_value], at least ``margin`` from every point in
    ``avoid`` (values that land closer are pushed out to the nearer side).

    With ``grid`` the values are multiples of ``grid`` (so distinct values differ by at
    least ``grid``: useful for max/argmax ties)."""
    if not min_value < max_value:
        raise ValueError(f"elements: need min_value < max_value, got {min_value} and {max_value}")
    if grid is not None:
        lo, hi = int(np.ceil(min_value / grid)), int(np.floor(max_value / grid))
        base = st.integers(lo, hi).map(lambda k: k * grid)
    else:
        base = st.floats(min_value, max_value, allow_nan=False, allow_infinity=False)
    if not avoid:
        return base
    points = tuple(float(p) for p in avoid)

    def push(v: float) -> float:
        for p in points:
            if abs(v - p) < margin:
                v = p + margin if v >= p else p - margin
        return v

    return base.map(push)


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4) -> st.SearchStrategy[tuple]:
    """Small array shapes (``hypothesis.extra.numpy.array_shapes`` with friendly defaults)."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def arrays(
    shape: tuple[int, ...] | st.SearchStrategy[tuple] | None = None,
    *,
    min_value: float = -3.0,
    max_value: float = 3.0,
    avoid: Sequence[float] = (),
    margin: float = 0.05,
    distinct: bool = False,
    dtype: Any = np.float64,
    min_dims: int = 0,
    max_dims: int = 3,
    min_side: int = 1,
    max_side: int = 4,
) -> st.SearchStrategy[np.ndarray]:
    """float64 arrays of a given shape (or a drawn small shape) with bounded finite
    elements.  ``distinct=True`` makes all elements differ by at least ``margin``."""
    if shape is None:
        shape = shapes(min_dims, max_dims, min_side, max_side)
    elems = elements(min_value, max_value, avoid, margin, grid=margin if distinct else None)
    return hnp.arrays(dtype, shape, elements=elems, unique=distinct)


def tensors(shape: Any = None, *, requires_grad: bool = True, **kwargs: Any) -> st.SearchStrategy[Tensor]:
    """Like :func:`arrays`, wrapped as Tensors (``requires_grad=True`` by default)."""
    return arrays(shape, **kwargs).map(lambda a: Tensor(a, requires_grad=requires_grad))


@st.composite
def broadcastable_arrays(
    draw: Callable[..., Any],
    num: int = 2,
    *,
    max_dims: int = 3,
    max_side: int = 4,
    **kwargs: Any,
) -> tuple[np.ndarray, ...]:
    """``num`` arrays whose shapes broadcast together (``mutually_broadcastable_shapes``)."""
    bs = draw(hnp.mutually_broadcastable_shapes(num_shapes=num, max_dims=max_dims, max_side=max_side))
    return tuple(draw(arrays(s, **kwargs)) for s in bs.input_shapes)


def assert_grad_close(
    fn: Callable[..., Tensor],
    inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-8,
    rtol: float = 1e-6,
    **kwargs: Any,
) -> None:
    """Assert that ``fn``'s engine gradients match float64 central differences
    (``gradcheck`` with ``raise_exception=True``: the failure names the input, entry
    and suspect rule)."""
    gradcheck(fn, inputs, eps=eps, atol=atol, rtol=rtol, raise_exception=True, **kwargs)


def register_profiles() -> None:
    """Register hypothesis profiles: ``"tinygrad_rnn"`` (no deadline, derandomized so a
    run is reproducible, no example database), ``"thorough"`` (5× the examples) and
    ``"explore"`` (5× the examples, fresh random ones each run: for hunting, not for CI; failing
    examples are saved in ``.hypothesis/explore`` so that a rare failure can be replayed)."""
    from hypothesis.database import DirectoryBasedExampleDatabase

    common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True, database=None)
    settings.register_profile("tinygrad_rnn", max_examples=40, **common)
    settings.register_profile("thorough", max_examples=200, **common)
    # for `make mutation`: a failing example is enough to kill a mutant, so no shrinking (which can take
    # minutes and turn a killed mutant into a timeout), and fewer examples
    settings.register_profile("mutation", max_examples=20, phases=[Phase.explicit, Phase.reuse, Phase.generate],
                              **common)
    settings.register_profile("explore", max_examples=200, **{**common, "derandomize": False,
                                                              "database": DirectoryBasedExampleDatabase(".hypothesis/explore")})
