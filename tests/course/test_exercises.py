"""The course's "check yourself" exercises: every checker passes a right answer (the hidden
solutions below) and fails a wrong one (a plausible mistake each), and never raises on either."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import course


def _jvp_right(f, x, u):
    dummy = tg.Tensor(np.zeros(f(tg.Tensor(x)).shape), requires_grad=True)
    _, back = tg.vjp(f, x)
    (ju,) = tg.gradients((back(dummy) * u).sum(), [dummy])
    return ju


def _jvp_wrong(f, x, u):                 # a VJP with u as the cotangent: Jᵀu, wrong shape and value
    _, back = tg.vjp(f, x)
    return back(np.asarray(u)[:3])


def _hessian_right(x):
    H = np.diag(6 * x)
    H[0, 1] = H[1, 0] = 1.0
    H[2, 2] -= np.sin(x[2])
    return H


def _attention_right(hs):
    s = hs @ hs.T
    s = np.where(np.tril(np.ones_like(s, dtype=bool)), s, -np.inf)
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _keep_read_only(x):
    x.flags.writeable = False
    return x


RIGHT = {
    "1.sigmoid": lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2,
    "2.tanh_rule": lambda out, g: g * (1 - out * out),
    "3.fanout": lambda x, y: (y + 2 * x * y, x + x * x + 1),
    "4.unbroadcast": lambda g, shape: g.sum(axis=tuple(range(g.ndim - len(shape)))).sum(
        axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True),
    "5.softsign_rule": lambda g, x: g / (1 + np.abs(x)) ** 2,
    "6.safe_save": lambda x: x.copy(),
    "7.grad_c": lambda probs, targets: (probs - targets).sum(axis=0),
    "8.jvp": _jvp_right,
    "9.hessian": _hessian_right,
    "10.attention": _attention_right,
    "11.per_example": lambda W, X, Y: np.einsum("ni,nj->nij", X @ W.T - Y, X),
}

WRONG = {
    "1.sigmoid": lambda x: 1 / (1 + np.exp(-x)),                             # σ, not σ'
    "2.tanh_rule": lambda out, g: g * (1 - out),                             # 1 - y for 1 - y²
    "3.fanout": lambda x, y: (y + x * y, x + x * x + 1),                     # one use of x dropped
    "4.unbroadcast": lambda g, shape: g.reshape(-1, *shape)[0] if g.size % max(int(np.prod(shape)), 1) == 0
    and len(shape) == g.ndim - 1 else np.zeros(shape),                       # the first copy, not the sum
    "5.softsign_rule": lambda g, x: g / (1 + np.abs(x)),                     # square dropped
    "6.safe_save": lambda x: x,                                              # a reference
    "7.grad_c": lambda probs, targets: (targets - probs).sum(axis=0),        # eq 17's printed sign
    "8.jvp": _jvp_wrong,
    "9.hessian": lambda x: np.diag(6 * x),                                   # cross term and sin forgotten
    "10.attention": lambda hs: np.exp(hs @ hs.T) / np.exp(hs @ hs.T).sum(axis=1, keepdims=True),  # not causal
    "11.per_example": lambda W, X, Y: np.broadcast_to(np.einsum("ni,nj->ij", X @ W.T - Y, X) / len(X),
                                                      (len(X), *W.shape)),    # the mean gradient
}


def test_every_exercise_has_a_right_and_a_wrong_answer_here():
    assert set(RIGHT) == set(WRONG) == set(course.EXERCISES)


@pytest.mark.parametrize("name", sorted(course.EXERCISES))
def test_a_right_answer_passes(name):
    v = course.check(name, RIGHT[name])
    assert v.ok and v.attempted, str(v)


@pytest.mark.parametrize("name", sorted(course.EXERCISES))
def test_a_wrong_answer_fails_with_one_line(name):
    v = course.check(name, WRONG[name])
    assert not v.ok and v.attempted, str(v)
    assert "not yet" in str(v) and "\n" not in str(v)


def test_an_unanswered_exercise_says_so_and_a_crash_is_reported():
    def todo(*args):
        raise NotImplementedError

    v = course.check("1.sigmoid", todo)
    assert not v.ok and not v.attempted and "not attempted yet" in str(v)
    v = course.check("1.sigmoid", lambda x: x[0])
    assert not v.ok and "raised IndexError" in str(v)
    with pytest.raises(KeyError, match="no exercise '12.x'"):
        course.check("12.x", todo)


def test_every_chapter_calls_its_exercise():
    from pathlib import Path

    chapters = sorted((Path(__file__).resolve().parents[2] / "docs" / "course").glob("[0-9]*.py"))
    assert len(chapters) == 11
    for path, name in zip(chapters, sorted(course.EXERCISES, key=lambda n: int(n.split(".")[0]))):
        assert f'course.check("{name}"' in path.read_text(), (path.name, name)
