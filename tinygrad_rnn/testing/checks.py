"""Assertions for gradient tests: the engine against finite differences, and a hand-derived gradient
(plain numpy) against the engine.

Both keep their own frames out of pytest's traceback (``__tracebackhide__``) and put the verdict and
the worst entry on the first line of the message.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
from hypothesis import event, given, note, reject
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from ..gradcheck import UncheckableInput, gradcheck
from ..tensor import Tensor

__all__ = ["assert_grad_close", "assert_hand_gradient", "check_gradient", "HandGradientError"]


class HandGradientError(AssertionError):
    """A hand-derived gradient disagrees with the engine's autodiff of the same function."""


def assert_grad_close(
    fn: Callable[..., Tensor],
    inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-8,
    rtol: float = 1e-6,
    uncheckable: str = "auto",
    **kwargs: Any,
) -> None:
    """Assert that ``fn``'s engine gradients match float64 central differences (``gradcheck``).

    A disagreement larger than the finite differences' own estimated error fails with
    "the rule is wrong" (naming the input, the worst entry and the suspect rule).  Where finite
    differences cannot resolve the derivative (round-off at an ill-conditioned input, a kink), the
    verdict is :class:`~tinygrad_rnn.UncheckableInput`: with ``uncheckable="auto"`` that input is
    rejected inside a hypothesis test (``hypothesis.reject``, counted in ``--hypothesis-show-statistics``;
    hypothesis fails the test loudly if it must reject too many) and raised outside one;
    ``"raise"`` always raises, ``"reject"`` always rejects."""
    __tracebackhide__ = True
    if uncheckable not in ("auto", "raise", "reject"):
        raise ValueError(f"assert_grad_close: uncheckable must be 'auto', 'raise' or 'reject', got {uncheckable!r}")
    try:
        gradcheck(fn, inputs, eps=eps, atol=atol, rtol=rtol, raise_exception=True, **kwargs)
    except UncheckableInput as e:
        if uncheckable == "raise" or (uncheckable == "auto" and not currently_in_test_context()):
            raise
        note(str(e))
        event("tinygrad_rnn: input rejected, finite differences cannot check it")
        reject()


def _split(case: Any) -> tuple[dict[str, Any], dict[str, int]]:
    if isinstance(case, Mapping):
        case = dict(case)
        sizes = case.pop("dims", {})
        return case, sizes
    if isinstance(case, (tuple, list)):
        return {f"arg{i}": v for i, v in enumerate(case)}, {}
    return {"arg0": case}, {}


def _call(fn: Callable[..., Any], case: Any, named: dict[str, Any]) -> Any:
    return fn(**named) if isinstance(case, Mapping) else fn(*named.values())


def assert_hand_gradient(
    f: Callable[..., Tensor],
    grad_f: Callable[..., Any],
    case: Any,
    wrt: Sequence[str] | None = None,
    rtol: float = 1e-10,
    atol: float = 1e-12,
) -> None:
    """Assert that ``grad_f`` (your hand-derived gradient, plain numpy) equals the engine's autodiff
    of ``f`` on one input ``case``.

    ``case`` is a dict of named arrays (or a tuple: positional).  ``f(**case)`` gets the entries in
    ``wrt`` as Tensors that require grad and the rest unchanged, and returns a scalar Tensor.
    ``grad_f(**case)`` gets plain numpy arrays and returns a dict name → gradient (or a tuple in
    ``wrt`` order).  ``wrt`` defaults to the names ``grad_f`` returns.  Each gradient must match
    within ``atol + rtol · max|engine|`` (a closed form agrees with autodiff to rounding, so the
    defaults are tight)."""
    __tracebackhide__ = True
    named, sizes = _split(case)
    hand = _call(grad_f, case, {k: np.array(v, copy=True) for k, v in named.items()})
    if not isinstance(hand, Mapping):
        names = list(wrt) if wrt is not None else [k for k, v in named.items() if np.asarray(v).dtype.kind == "f"]
        hand = tuple(hand) if isinstance(hand, (tuple, list)) else (hand,)
        if len(hand) != len(names):
            raise HandGradientError(f"hand gradient: grad_f returned {len(hand)} gradients for {len(names)} "
                                    f"inputs {names}; return a dict name -> gradient")
        hand = dict(zip(names, hand))
    wrt = list(wrt) if wrt is not None else list(hand)
    missing = [k for k in wrt if k not in named]
    if missing:
        raise HandGradientError(f"hand gradient: {missing} are not inputs of the case (inputs: {sorted(named)})")
    tensors = {k: Tensor(np.asarray(v, dtype=np.float64), requires_grad=True, name=k) if k in wrt else v
               for k, v in named.items()}
    out = _call(f, case, tensors)
    if not isinstance(out, Tensor) or out.size != 1:
        raise HandGradientError(f"hand gradient: f must return a scalar Tensor, got "
                                f"{type(out).__name__}{getattr(out, 'shape', '')}")
    out.backward()
    where = ", ".join(f"{k}={v}" for k, v in sizes.items())
    at = f" at sizes {where}" if where else ""
    for k in wrt:
        engine = tensors[k].grad if tensors[k].grad is not None else np.zeros(tensors[k].shape)
        mine = np.asarray(hand.get(k), dtype=np.float64) if k in hand else None
        if mine is None:
            raise HandGradientError(f"hand gradient of {k!r}: grad_f returned none (it returned {sorted(hand)})")
        if mine.shape != engine.shape:
            raise HandGradientError(f"hand gradient of {k!r} has shape {mine.shape}; {k} has shape {engine.shape}{at}")
        if not np.all(np.isfinite(mine)):
            j = tuple(int(q) for q in np.argwhere(~np.isfinite(mine))[0])
            raise HandGradientError(f"hand gradient of {k!r} is non-finite at {j} ({mine[j]}){at}; the engine gives "
                                    f"{engine[j]:.12g}")
        diff = np.abs(mine - engine)
        tol = atol + rtol * float(np.max(np.abs(engine), initial=0.0))
        if np.any(diff > tol):
            j = tuple(int(q) for q in np.unravel_index(int(np.argmax(diff)), diff.shape)) if diff.shape else ()
            raise HandGradientError(
                f"hand gradient of {k!r} is wrong{at}: worst entry {k}{list(j)}: hand {mine[j]:.12g}, engine "
                f"{engine[j]:.12g}, |diff| {diff[j]:.3g} > {tol:.3g} (atol {atol:g} + rtol {rtol:g}·max|engine|); "
                f"{int(np.sum(diff > tol))} of {diff.size} entries differ")


def check_gradient(
    f: Callable[..., Tensor],
    grad_f: Callable[..., Any],
    strategy: st.SearchStrategy[Any],
    wrt: Sequence[str] | None = None,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    settings: hsettings | None = None,
) -> None:
    """Check a hand-derived gradient against the engine over hypothesis-drawn inputs.

    Runs :func:`assert_hand_gradient` on every case ``strategy`` draws (e.g. :func:`parameter_sets`);
    on a failure hypothesis shrinks to the smallest failing case (the fewest steps, the smallest
    sizes) and the error names the gradient and entry that disagree.  Call it from a plain test
    function (not from inside another ``@given``); ``settings`` override the loaded profile."""
    __tracebackhide__ = True

    @given(case=strategy)
    def hand_gradient_matches_engine(case: Any) -> None:
        __tracebackhide__ = True
        assert_hand_gradient(f, grad_f, case, wrt=wrt, rtol=rtol, atol=atol)

    if settings is not None:
        hand_gradient_matches_engine = settings(hand_gradient_matches_engine)
    hand_gradient_matches_engine()
