"""Bad input: every misuse names the op and the shapes."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tinygrad_rnn as tg

W = tg.Tensor(np.ones((3, 4)), requires_grad=True)

CASES = [
    (lambda: W @ np.ones((5, 2)), ValueError, r"^matmul: shapes \(3, 4\) and \(5, 2\) do not align \(4 != 5\)$"),
    (lambda: W @ 2.0, ValueError, r"matmul: operands must be at least 1-D"),
    (lambda: tg.dot(np.ones((2, 2, 2)), W), ValueError, r"dot: shapes \(2, 2, 2\) and \(3, 4\) do not align"),
    (lambda: W + np.ones(5), ValueError, r"^add: .*\(3, 4\).*\(5,\)"),
    (lambda: W * np.ones((2, 4)), ValueError, r"^mul: .*input shapes \(3, 4\), \(2, 4\)"),
    (lambda: W.reshape(5), ValueError, r"^reshape: cannot reshape.*size 12.*\(5,\)"),
    (lambda: W.sum(axis=3), ValueError, r"^sum: axis 3 is out of bounds"),
    (lambda: W.max(axis=1.5), TypeError, r"^max: axis must be an int, a tuple of ints or None"),
    (lambda: W.max(axis=(1, 1)), ValueError, r"^max: repeated axis in \(1, 1\)"),
    (lambda: W[7], IndexError, r"^getitem: index 7 is out of bounds.*\(3, 4\)"),
    (lambda: tg.stack([W, np.ones(3)]), ValueError, r"^stack: .*input shapes \(3, 4\), \(3,\)"),
    (lambda: tg.stack([]), ValueError, r"stack: need at least one tensor"),
    (lambda: tg.where(np.ones(3), W, 0.0), TypeError, r"where: cond must be boolean"),
    (lambda: tg.cross_entropy(W, np.array([0, 4, 1])), ValueError, r"class index out of range \[0, 4\)"),
    (lambda: tg.cross_entropy(W, np.array([0, 1])), ValueError, r"integer targets must have shape \(3,\).*got \(2,\)"),
    (lambda: tg.cross_entropy(W, np.ones((3, 5))), ValueError, r"must have the logits' shape \(3, 4\), got \(3, 5\)"),
    (lambda: tg.cross_entropy(W, np.zeros(3, int), reduction="avg"), ValueError, r"reduction must be"),
]


@pytest.mark.parametrize("call, kind, pattern", CASES,  # ids without brackets or backslashes: selectable by id
                         ids=[re.sub(r"[^A-Za-z0-9_]+", "_", c[2][:30]).strip("_") for c in CASES])
def test_errors_name_the_op_and_shapes(call, kind, pattern):
    with pytest.raises(kind, match=pattern):
        call()
