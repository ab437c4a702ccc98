"""Axes: every op's axis argument is normalised once; out of range is an error, never a wrap."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tg

# ============================================================================ axes
_AXIS_CASES = [
    ("squeeze", lambda x: x.reshape(2, 1, 3).squeeze(3)),
    ("flatten", lambda x: x.flatten(0, 2)),
    ("moveaxis", lambda x: x.moveaxis(2, 0)),
    ("chunk", lambda x: x.chunk(2, axis=2)),
    ("split", lambda x: x.split(2, axis=-3)),
    ("swapaxes", lambda x: x.swapaxes(0, 2)),
    ("take_along_axis", lambda x: tg.take_along_axis(x, np.zeros((2, 1), dtype=int), 2)),
    ("gather", lambda x: tg.gather(x, 2, np.zeros((2, 1), dtype=int))),
    ("tensordot", lambda x: tg.tensordot(x, np.ones((3, 2)), axes=([2], [0]))),
    ("cross_entropy", lambda x: tg.cross_entropy(x, np.array([0, 1]), axis=2)),
    ("nll_loss", lambda x: tg.nll_loss(x, np.array([0, 1]), axis=-3)),
    ("max", lambda x: x.max(axis=(0, 2))),
    ("min", lambda x: x.min(axis=(-3,))),
]


@pytest.mark.parametrize("name, call", _AXIS_CASES, ids=[c[0] for c in _AXIS_CASES])
def test_an_out_of_range_axis_raises_numpys_axis_error_naming_the_op(name, call):
    x = tg.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    with pytest.raises(np.exceptions.AxisError, match=rf"{name}: axis -?\d+ is out of bounds"):
        call(x)


def test_in_range_negative_axes_still_work_like_numpy():
    x = np.arange(24.0).reshape(2, 3, 4)
    t = tg.Tensor(x)
    np.testing.assert_array_equal(t.moveaxis(-1, 0).data, np.moveaxis(x, -1, 0))
    np.testing.assert_array_equal(t.flatten(-2, -1).data, x.reshape(2, 12))
    np.testing.assert_array_equal(t.swapaxes(-1, -3).data, np.swapaxes(x, -1, -3))
    np.testing.assert_array_equal(t.max(axis=(-1, 0)).data, x.max(axis=(-1, 0)))


def test_repeated_axes_are_refused():
    with pytest.raises(ValueError, match=r"max: repeated axis"):
        tg.Tensor(np.ones((2, 2))).max(axis=(0, -2))
