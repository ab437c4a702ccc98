"""The course's "check yourself" exercises (docs/course/): each takes a learner's function and decides.

Every checker is an oracle that shares no code with the engine: central differences written here
in plain numpy (not ``tinygrad_rnn.finite_differences``), an adjoint identity, or a plain-numpy
forward of the seed's equations 1-7 written again here.  So a learner's answer is judged by
something that could not share the engine's mistakes.

>>> from tinygrad_rnn import course
>>> print(course.check("1.sigmoid", lambda x: 0 * x))      # doctest: +ELLIPSIS
1.sigmoid: not yet: at x = ... yours gives 0 where central differences give ...

``check(name, fn)`` returns a :class:`Verdict` (``bool(v)`` is whether it passed; ``str(v)`` says
why, in one line) and never raises on a learner's mistake: a ``NotImplementedError`` is "not
attempted yet", any other exception is reported with its type and message.  ``EXERCISES`` lists
the names, each with the question it asks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["check", "Verdict", "EXERCISES"]


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check: ``ok`` and a one-line ``message``."""

    name: str
    ok: bool
    message: str
    attempted: bool = True

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"


class _Wrong(Exception):
    """A checker's finding: the learner's answer disagrees with the oracle (the message says where)."""


def _central(fn: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of a scalar function of an array, entry by entry (step ε·max(1, |x_i|))."""
    x = np.array(x, dtype=np.float64)
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        h = eps * max(1.0, abs(x[i]))
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        out[i] = (fn(xp) - fn(xm)) / (2 * h)
    return out


def _close(name: str, yours: Any, oracle: np.ndarray, rtol: float = 1e-6, atol: float = 1e-8,
           where: str = "") -> None:
    yours = np.asarray(yours, dtype=np.float64)
    if yours.shape != oracle.shape:
        raise _Wrong(f"{name}{where}: yours has shape {yours.shape}, the answer has shape {oracle.shape}")
    bad = ~(np.abs(yours - oracle) <= atol + rtol * np.abs(oracle))
    if bad.any():
        i = tuple(int(k) for k in np.argwhere(bad)[0])
        at = f" at index {i}" if yours.ndim else ""
        raise _Wrong(f"{name}{where}{at}: yours gives {yours[i]:.6g} where the oracle gives {oracle[i]:.6g}")


# ----------------------------------------------------------------------------- the checkers
def _sigmoid(fn: Callable) -> str:
    sig = lambda x: 1.0 / (1.0 + np.exp(-x))  # noqa: E731
    for x in np.linspace(-6.0, 6.0, 25):
        want = (sig(x + 1e-6) - sig(x - 1e-6)) / 2e-6
        got = float(fn(x))
        if not abs(got - want) <= 1e-8 + 1e-6 * abs(want):
            raise _Wrong(f"at x = {x:.2f} yours gives {got:.6g} where central differences give {want:.6g}")
    return "correct at 25 points in [-6, 6] (central differences of σ)"


def _tanh_rule(fn: Callable) -> str:
    rng = np.random.default_rng(2)
    for _ in range(20):
        x, g = rng.uniform(-3, 3), rng.standard_normal()
        want = g * (np.tanh(x + 1e-6) - np.tanh(x - 1e-6)) / 2e-6
        got = float(fn(np.tanh(x), g))
        if not abs(got - want) <= 1e-8 + 1e-6 * abs(want):
            raise _Wrong(f"with out = tanh({x:.3f}), g = {g:.3f} yours gives {got:.6g}, "
                         f"g · (central difference of tanh) gives {want:.6g}")
    return "correct at 20 points (g times central differences of tanh)"


def _fanout(fn: Callable) -> str:
    f = lambda v: v[0] * v[1] + v[0] * v[0] * v[1] + v[1]  # noqa: E731
    rng = np.random.default_rng(3)
    for _ in range(10):
        x, y = rng.uniform(-2, 2, 2)
        got = fn(x, y)
        if not (isinstance(got, tuple) and len(got) == 2):
            raise _Wrong("return a pair (∂f/∂x, ∂f/∂y)")
        _close("(∂f/∂x, ∂f/∂y)", np.array(got, dtype=np.float64), _central(f, np.array([x, y])),
               where=f" at x = {x:.3f}, y = {y:.3f}")
    return "correct at 10 points (central differences of f)"


def _unbroadcast(fn: Callable) -> str:
    rng = np.random.default_rng(4)
    cases = [((3,), (2, 3)), ((1, 3), (2, 3)), ((2, 1), (2, 3)), ((), (4,)), ((3, 1, 2), (5, 3, 4, 2)),
             ((1,), (2, 3)), ((2, 3), (2, 3))]
    for shape, big in cases:
        g = rng.standard_normal(big)
        got = np.asarray(fn(g, shape), dtype=np.float64)
        if got.shape != shape:
            raise _Wrong(f"unbroadcast(g of shape {big}, {shape}) has shape {got.shape}, not {shape}")
        # the adjoint identity <g, broadcast(v)> = <unbroadcast(g), v> for every v defines the answer
        for _ in range(3):
            v = rng.standard_normal(shape)
            lhs, rhs = float(np.sum(g * np.broadcast_to(v, big))), float(np.sum(got * v))
            if not abs(lhs - rhs) <= 1e-9 * (1 + abs(lhs)):
                raise _Wrong(f"shape {shape} from {big}: <g, broadcast(v)> = {lhs:.6g} but <yours, v> = {rhs:.6g}")
    return f"correct on {len(cases)} shapes (the adjoint identity <g, broadcast(v)> = <unbroadcast(g), v>)"


def _softsign_rule(fn: Callable) -> str:
    soft = lambda x: x / (1 + np.abs(x))  # noqa: E731
    rng = np.random.default_rng(5)
    x = rng.uniform(-4, 4, 12)
    x = x[np.abs(x) > 0.05]                     # away from the kink at 0
    g = rng.standard_normal(x.shape)
    want = g * (soft(x + 1e-6) - soft(x - 1e-6)) / 2e-6
    _close("softsign's VJP", fn(g, x), want)
    return "correct at 12 points (g times central differences of x / (1 + |x|))"


def _safe_save(fn: Callable) -> str:
    x = np.array([1.0, -2.0, 3.0])
    before = x.copy()
    kept = fn(x)
    try:
        x *= 10.0                               # the user's in-place update after the forward
    except ValueError:
        return "correct: the mutation was refused (read-only), so the saved value could not change"
    if not np.array_equal(np.asarray(kept), before):
        raise _Wrong(f"after `x *= 10` the saved value reads {np.asarray(kept)}, not the forward's {before}")
    return "correct: the saved value is still the one the forward used"


def _seed_forward(W, U, b, V, c, xs):
    """Eqs 1-7 of the seed in plain numpy (h_0 = 0, attention over h_1..h_t), written again here."""
    hs, probs = [], []
    h = np.zeros(W.shape[0])
    for x in xs:
        h = np.tanh(W @ h + U @ x + b)                       # eq 1
        hs.append(h)
        Hm = np.array(hs)
        s = Hm @ h                                           # eq 2: scores h_i . h_t
        a = np.exp(s - s.max())
        a /= a.sum()                                         # eq 3
        z = a @ Hm                                           # eq 4
        o = V @ z + c                                        # eq 5
        p = np.exp(o - o.max())
        probs.append(p / p.sum())                            # eq 6
    return np.array(probs)


def _grad_c(fn: Callable) -> str:
    rng = np.random.default_rng(6)
    for T, H, D, K in ((1, 2, 2, 3), (3, 3, 2, 4), (5, 4, 3, 2)):
        W, U, b = rng.standard_normal((H, H)) * 0.5, rng.standard_normal((H, D)), rng.standard_normal(H) * 0.1
        V, c = rng.standard_normal((K, H)), rng.standard_normal(K) * 0.1
        xs, ys = rng.standard_normal((T, D)), np.eye(K)[rng.integers(0, K, T)]
        loss = lambda cc: -float(np.sum(ys * np.log(_seed_forward(W, U, b, V, cc, xs))))  # noqa: E731  eq 7
        _close("∂L/∂c", fn(_seed_forward(W, U, b, V, c, xs), ys), _central(loss, c), where=f" at T = {T}")
    return "correct at T = 1, 3, 5 (central differences of eqs 1-7 written in plain numpy)"


def _jvp(fn: Callable) -> str:
    import tinygrad_rnn as tg

    rng = np.random.default_rng(7)
    A = rng.standard_normal((3, 4))
    f = lambda x: (tg.Tensor(A) @ x).tanh() * x[:3]  # noqa: E731
    f_np = lambda x: np.tanh(A @ x) * x[:3]  # noqa: E731
    for _ in range(5):
        x, u = rng.standard_normal(4), rng.standard_normal(4)
        want = (f_np(x + 1e-6 * u) - f_np(x - 1e-6 * u)) / 2e-6
        got = fn(f, x, u)
        _close("J u", getattr(got, "data", got), want)
    return "correct in 5 directions (central differences along u)"


def _hessian(fn: Callable) -> str:
    f = lambda v: float(np.sum(v**3) + v[0] * v[1] + np.sin(v[2]))  # noqa: E731
    rng = np.random.default_rng(8)
    for _ in range(5):
        x = rng.uniform(-2, 2, 3)
        grad = lambda y: _central(f, y, 1e-5)  # noqa: E731
        want = np.array([_central(lambda y, j=j: grad(y)[j], x, 1e-4) for j in range(3)])
        _close("the Hessian", fn(x), want, rtol=1e-5, atol=1e-5, where=f" at x = {np.round(x, 3)}")
    return "correct at 5 points (central differences of central differences)"


def _attention(fn: Callable) -> str:
    rng = np.random.default_rng(9)
    for T, H in ((1, 2), (4, 3), (6, 1)):
        hs = rng.standard_normal((T, H))
        want = np.zeros((T, T))
        for t in range(T):                                   # eqs 2-3 by a loop: α_{t,i} over i <= t
            s = np.array([hs[i] @ hs[t] for i in range(t + 1)])
            e = np.exp(s - s.max())
            want[t, : t + 1] = e / e.sum()
        _close("α", fn(hs), want, rtol=1e-10, atol=1e-12, where=f" at T = {T}")
    return "correct at T = 1, 4, 6 (eqs 2-3 by a loop over i <= t)"


def _per_example(fn: Callable) -> str:
    rng = np.random.default_rng(10)
    W, X, Y = rng.standard_normal((2, 3)), rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    got = np.asarray(fn(W, X, Y), dtype=np.float64)
    want = np.array([_central(lambda w, n=n: 0.5 * float(np.sum((w @ X[n] - Y[n]) ** 2)), W) for n in range(5)])
    _close("per-example gradients", got, want)
    return "correct for 5 examples (central differences of each example's loss)"


EXERCISES: dict[str, tuple[str, Callable[[Callable], str]]] = {
    "1.sigmoid": ("dσ/dx for σ(x) = 1/(1 + e^-x): fn(x) -> float", _sigmoid),
    "2.tanh_rule": ("the tiny tape's tanh rule: fn(out, g) -> g · dtanh/dx, given out = tanh(x)", _tanh_rule),
    "3.fanout": ("f(x, y) = x·y + x·x·y + y: fn(x, y) -> (∂f/∂x, ∂f/∂y)", _fanout),
    "4.unbroadcast": ("undo broadcasting: fn(g, shape) -> the gradient of the input of that shape", _unbroadcast),
    "5.softsign_rule": ("the VJP of softsign x / (1 + |x|): fn(g, x) -> g · d softsign/dx", _softsign_rule),
    "6.safe_save": ("what a tape should keep of x: fn(x) -> a value that `x *= 10` cannot change", _safe_save),
    "7.grad_c": ("∂L/∂c of the seed's model: fn(probs (T, K), targets one-hot (T, K)) -> (K,)", _grad_c),
    "8.jvp": ("forward mode by two VJPs: fn(f, x, u) -> J u, using tg.vjp only", _jvp),
    "9.hessian": ("the Hessian of Σ x_i³ + x_0 x_1 + sin x_2 by hand: fn(x) -> (3, 3)", _hessian),
    "10.attention": ("the attention weights of eqs 2-3: fn(hs (T, H)) -> α (T, T), zero above the diagonal",
                     _attention),
    "11.per_example": ("per-example gradients of ½‖W x_n − y_n‖² without a loop: fn(W, X, Y) -> (N, *W.shape)",
                       _per_example),
}


def check(name: str, fn: Callable) -> Verdict:
    """Run exercise ``name``'s checker on the learner's ``fn``; a one-line :class:`Verdict`, never an exception."""
    if name not in EXERCISES:
        raise KeyError(f"course.check: no exercise {name!r}; the exercises are {', '.join(EXERCISES)}")
    _, checker = EXERCISES[name]
    try:
        return Verdict(name, True, checker(fn))
    except NotImplementedError:
        return Verdict(name, False, "not attempted yet (your function raises NotImplementedError)", attempted=False)
    except _Wrong as e:
        return Verdict(name, False, f"not yet: {e}")
    except Exception as e:  # the learner's code failed: say how, in one line
        return Verdict(name, False, f"not yet: your function raised {type(e).__name__}: {e}")
