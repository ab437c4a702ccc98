"""Checking gradients against central finite differences (float64).

``gradcheck(fn, inputs)`` compares what ``backward`` computes with

    ∂f/∂x_j ≈ (f(x + ε e_j) − f(x − ε e_j)) / 2ε          (error O(ε²) + O(u·|f|/ε))

Two modes (chosen automatically by size, or forced with ``fast_mode``):

- **full**: every entry of every input's Jacobian (``n_out`` backward passes and
  ``2·n_in`` forward passes);
- **fast**: random directions, as JAX ``check_grads`` and torch ``fast_mode`` do:
  ``⟨v, J u⟩`` from one backward pass (``⟨Jᵀv, u⟩``) against the finite difference
  along ``u``, per input and per direction.  Cheap for large inputs.

An entry passes when ``|analytic − numeric| ≤ atol + rtol·|numeric|`` and both are finite:
a NaN or ±inf on either side is a failure that says which side and where (a point on a pole
or kink of ``fn`` cannot be checked; move it).  In fast mode
the scale is ``Σ|∂ ⊙ u|`` instead of ``|numeric|`` so that cancelling terms do not
make the test stricter than the full one.

On failure the error names the input, the worst entry's index, both values, and —
by re-checking every recorded op's rule on its recorded inputs — the first rule that
disagrees with finite differences and the op path from it to the output.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .backward import checked_gradient
from .finite_differences import refine, steps
from .funcs import NP
from .functional import gradients
from .recording import no_grad
from .tape import tape_of
from .tensor import Tensor

__all__ = ["gradcheck", "gradgradcheck", "jacobian", "numerical_jacobian", "GradcheckError", "UncheckableInput"]

Fn = Callable[..., Tensor]


class GradcheckError(AssertionError):
    """Analytic and numeric gradients disagree (an ``AssertionError`` so pytest shows it as a failure)."""


class UncheckableInput(GradcheckError):
    """Finite differences cannot resolve the derivative at this input (round-off swamps every step,
    or a kink or step sits at the point): no verdict on the rule.  ``tinygrad_rnn.testing`` rejects
    such inputs inside a hypothesis test (``hypothesis.reject``) and raises this outside one."""


# ---------------------------------------------------------------------------- helpers
def _prepare(inputs: Any) -> list[Tensor]:
    """Fresh float64 copies of the inputs (the caller's tensors and grads are never touched)."""
    if isinstance(inputs, (Tensor, np.ndarray)) or np.isscalar(inputs):
        inputs = [inputs]
    out = []
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor):
            t = Tensor(x.data, requires_grad=x.requires_grad, name=x.name)
        else:
            arr = np.asarray(x)
            t = Tensor(arr, requires_grad=arr.dtype.kind == "f")
        if t.requires_grad and t.dtype != np.float64:
            raise TypeError(
                f"gradcheck: input {i} has dtype {t.dtype}; finite differences need float64 "
                "(float32 rounding swamps ε = 1e-6)"
            )
        out.append(t)
    if not any(t.requires_grad for t in out):
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")
    return out


def _call(fn: Fn, ts: list[Tensor]) -> Tensor:
    out = fn(*ts)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    if out.dtype.kind != "f":
        raise TypeError(f"gradcheck: fn must return a floating-point Tensor, got dtype {out.dtype}")
    return out


def _value(fn: Fn, ts: list[Tensor]) -> np.ndarray:
    with no_grad():
        return np.array(_call(fn, ts).data, dtype=np.float64)


def _vjp(out: Tensor, ts: list[Tensor], v: np.ndarray) -> list[np.ndarray]:
    """Jᵀv for every input (zeros where the output does not depend on it)."""
    for t in ts:
        t.grad = None
    if out.requires_grad:
        out.backward(v, retain_graph=True)
    return [np.zeros(t.shape) if t.grad is None else t.grad.copy() for t in ts]


def _analytic_jacobians(out: Tensor, ts: list[Tensor]) -> list[np.ndarray]:
    """Per input, the Jacobian as an (n_out, n_in) matrix, one backward pass per output entry."""
    jac = [np.zeros((out.size, t.size)) for t in ts]
    for k in range(out.size):
        e = np.zeros(out.size)
        e[k] = 1.0
        for i, g in enumerate(_vjp(out, ts, e.reshape(out.shape))):
            jac[i][k] = g.reshape(-1)
    return jac


def _with_input(ts: list[Tensor], i: int, data: np.ndarray) -> list[Tensor]:
    """The inputs with input i replaced by a tensor over ``data`` (a private work array: the
    recorded graph of the analytic pass saved the originals, which are read-only)."""
    out = list(ts)
    out[i] = Tensor._make(data, ts[i].requires_grad, None)
    return out


def _numeric_jacobian(fn: Fn, ts: list[Tensor], i: int, eps: float, n_out: int) -> np.ndarray:
    """Input i's Jacobian as an (n_out, n_in) matrix by central differences, one step per entry:
    ε·max(1, |x_j|), rounded so that x_j ± h is exact (``finite_differences.steps``)."""
    work = np.array(ts[i].data, dtype=np.float64, copy=True)
    flat = work.reshape(-1)  # a view of the fresh contiguous copy
    hs = steps(flat, eps)
    args = _with_input(ts, i, work)
    jac = np.zeros((n_out, work.size))
    for j in range(work.size):
        old = flat[j]
        flat[j] = old + hs[j]
        plus = _value(fn, args).reshape(-1)
        flat[j] = old - hs[j]
        minus = _value(fn, args).reshape(-1)
        flat[j] = old
        jac[:, j] = (plus - minus) / (2 * hs[j])
    return jac


def _along_entry(fn: Fn, ts: list[Tensor], i: int, j: int) -> Callable[[float], np.ndarray]:
    """t ↦ fn's output (flattened) with entry j of input i moved by t."""
    work = np.array(ts[i].data, dtype=np.float64, copy=True)
    flat = work.reshape(-1)
    args = _with_input(ts, i, work)
    old = float(flat[j])

    def g(t: float) -> np.ndarray:
        flat[j] = old + t
        try:
            return _value(fn, args).reshape(-1)
        finally:
            flat[j] = old
    return g


def _along(fn: Fn, ts: list[Tensor], i: int, d: np.ndarray, v: np.ndarray | None = None) -> Callable[[float], np.ndarray]:
    """t ↦ fn's output (or ⟨v, output⟩) with input i moved by t·d."""
    old = np.asarray(ts[i].data, dtype=np.float64)

    def g(t: float) -> np.ndarray:
        y = _value(fn, _with_input(ts, i, old + t * d))
        return np.array([np.sum(v * y)]) if v is not None else y.reshape(-1)
    return g


def _verdict(analytic: np.ndarray, estimate: Any, atol: float, rtol: float) -> np.ndarray:
    """Per entry: 0 agrees, 1 finite differences cannot check it, 2 the rule is wrong (the
    disagreement exceeds three times the estimated finite-difference error)."""
    diff = np.abs(analytic - estimate.value)
    tol = atol + rtol * np.abs(estimate.value)
    return np.where(diff <= tol, 0, np.where(estimate.kink | (diff <= tol + 3.0 * estimate.error), 1, 2))


def _cannot(where: str, at: str, a: float, est: Any, k: int, atol: float, rtol: float) -> str:
    """The 'finite differences cannot check this input' message for entry k of an estimate."""
    if est.kink[k]:
        why = (f"a kink or a step at this point: the one-sided slopes are {est.left[k]:.6g} (left) and "
               f"{est.right[k]:.6g} (right) at every small step; move the point (e.g. arrays(avoid=...))")
    else:
        why = (f"round-off or curvature: the best step ({est.step[k]:.1e}) still leaves an estimated error "
               f"±{est.error[k]:.2g}, as large as the disagreement; an ill-conditioned input (a constant row "
               "into a normalisation, a point near a pole): use inputs away from it (arrays(distinct=True)) "
               "or a looser atol")
    return (f"finite differences cannot check this input: {where}{at}: analytic {a:.12g}, numeric "
            f"{est.value[k]:.12g} ± {est.error[k]:.2g}; {why}")


def _nonfinite(analytic: np.ndarray, numeric: np.ndarray, where: str, out_shape: tuple, in_shape: tuple) -> str | None:
    """A message if either Jacobian (each (n_out, n_in), or scalars) holds a NaN or ±inf."""
    for label, arr in (("analytic (engine)", analytic), ("numeric (finite-difference)", numeric)):
        arr = np.asarray(arr, dtype=np.float64)
        bad = ~np.isfinite(arr)
        if bad.any():
            k = np.unravel_index(int(np.argmax(bad)), arr.shape)
            at = ""
            if arr.ndim == 2:
                oi = np.unravel_index(k[0], out_shape) if out_shape else ()
                ii = np.unravel_index(k[1], in_shape) if in_shape else ()
                at = f" at d out{tuple(int(q) for q in oi)} / d in{tuple(int(q) for q in ii)}"
            return (
                f"gradcheck failed for {where}: the {label} gradient is non-finite ({arr[k]}){at}, "
                f"{int(bad.sum())} of {bad.size} entries; a NaN or inf cannot be checked: move the point away "
                "from poles and kinks (e.g. log or sqrt at 0, division by 0), or fix the rule"
            )
    return None


# ---------------------------------------------------------------------------- public
def jacobian(fn: Callable[[Tensor], Tensor], x: Any) -> np.ndarray:
    """The engine's Jacobian of ``fn`` at ``x``: an array of shape ``out.shape + x.shape``
    (one backward pass per output entry)."""
    (t,) = _prepare([x])
    out = _call(fn, [t])
    return _analytic_jacobians(out, [t])[0].reshape(out.shape + t.shape)


def numerical_jacobian(fn: Callable[[Tensor], Tensor], x: Any, eps: float = 1e-6) -> np.ndarray:
    """Central-difference Jacobian of ``fn`` at ``x``, shape ``out.shape + x.shape``."""
    (t,) = _prepare([x])
    out_shape = _value(fn, [t]).shape
    n_out = int(np.prod(out_shape))
    return _numeric_jacobian(fn, [t], 0, eps, n_out).reshape(out_shape + t.shape)


def gradcheck(
    fn: Fn,
    inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-8,
    rtol: float = 1e-6,
    raise_exception: bool = True,
    fast_mode: bool | None = None,
    n_directions: int = 4,
    seed: int = 0,
) -> bool:
    """Compare ``fn``'s engine gradients with central differences; see the module docstring.

    ``fn(*inputs)`` must return a Tensor.  ``inputs`` are Tensors (those with
    ``requires_grad`` are checked), float arrays (checked) or other arrays (constants).
    ``fast_mode=None`` picks full mode when the inputs total ≤ 512 entries and the
    output ≤ 64, else fast mode.  Returns True, or raises :class:`GradcheckError`
    (returns False if ``raise_exception=False``).
    """
    __tracebackhide__ = True  # pytest: a failure shows the caller's line, not this file
    ts = _prepare(inputs)
    out = _call(fn, ts)
    n_in = sum(t.size for t in ts if t.requires_grad)
    if fast_mode is None:
        fast_mode = n_in > 512 or out.size > 64
    if fast_mode:
        found = _check_fast(fn, ts, out, eps, atol, rtol, n_directions, seed)
    else:
        found = _check_full(fn, ts, out, eps, atol, rtol)
    if found is None:
        return True
    if not raise_exception:
        return False
    verdict, problem = found
    if verdict == "uncheckable":
        raise UncheckableInput(problem)
    suspect = _find_bad_rule(fn, ts, eps, atol, rtol, seed)
    raise GradcheckError(problem + ("\n" + suspect if suspect else ""))


def _name(ts: list[Tensor], i: int) -> str:
    n = f" '{ts[i].name}'" if ts[i].name else ""
    return f"input {i}{n} of shape {ts[i].shape}"


def _idx(flat: int, shape: tuple) -> tuple[int, ...]:
    return tuple(int(q) for q in np.unravel_index(flat, shape)) if shape else ()


def _check_full(fn: Fn, ts: list[Tensor], out: Tensor, eps: float, atol: float,
                rtol: float) -> tuple[str, str] | None:
    """(verdict, message) for the first input whose Jacobian disagrees, or None.  Entries that fail
    with the first step are re-estimated with :func:`finite_differences.refine` (worst first)."""
    analytic = _analytic_jacobians(out, ts)
    for i, t in enumerate(ts):
        if not t.requires_grad:
            continue
        numeric = _numeric_jacobian(fn, ts, i, eps, out.size)
        problem = _nonfinite(analytic[i], numeric, _name(ts, i), out.shape, t.shape)
        if problem:
            return "wrong", problem
        diff = np.abs(analytic[i] - numeric)
        tol = atol + rtol * np.abs(numeric)
        bad = ~(diff <= tol)
        if not bad.any():
            continue
        n_bad = int(bad.sum())
        f0 = _value(fn, ts).reshape(-1)
        flat = np.asarray(t.data, dtype=np.float64).reshape(-1)
        columns = np.argsort(-np.max(np.where(bad, diff / tol, 0.0), axis=0), kind="stable")
        uncheckable = None
        for j in columns[: int(bad.any(axis=0).sum())]:
            est = refine(_along_entry(fn, ts, i, int(j)), float(steps(flat[j:j + 1], eps)[0]), f0, x0=float(flat[j]))
            verdict = _verdict(analytic[i][:, j], est, atol, rtol)
            e_diff = np.abs(analytic[i][:, j] - est.value)
            e_tol = atol + rtol * np.abs(est.value)
            k = int(np.argmax(np.where(verdict == verdict.max(), e_diff / e_tol, -1.0)))  # the worst of the worst verdict
            where = f" at d out{_idx(k, out.shape)} / d in{_idx(int(j), t.shape)}"
            if verdict[k] == 2:
                return "wrong", (
                    f"gradcheck failed for {_name(ts, i)}: the rule is wrong: {n_bad} of {bad.size} Jacobian entries "
                    f"differ.\n  worst: d out{_idx(k, out.shape)} / d in{_idx(int(j), t.shape)}: analytic "
                    f"{analytic[i][k, j]:.12g}, numeric {est.value[k]:.12g} (finite-difference error ±"
                    f"{est.error[k]:.2g}), |diff| {e_diff[k]:.3g} > tolerance {e_tol[k]:.3g} (atol {atol:g} + "
                    f"rtol {rtol:g}·|numeric|)")
            if verdict[k] == 1 and uncheckable is None:
                uncheckable = _cannot(f"{_name(ts, i)}", where, analytic[i][k, j], est, k, atol, rtol)
        if uncheckable is not None:
            return "uncheckable", uncheckable
    return None


def _check_fast(
    fn: Fn, ts: list[Tensor], out: Tensor, eps: float, atol: float, rtol: float, n_dir: int, seed: int
) -> tuple[str, str] | None:
    rng = np.random.default_rng(seed)
    for d in range(n_dir):
        v = rng.standard_normal(out.shape)
        grads = _vjp(out, ts, v)
        for i, t in enumerate(ts):
            if not t.requires_grad:
                continue
            old = np.asarray(t.data, dtype=np.float64)
            u = rng.standard_normal(t.shape) * np.maximum(1.0, np.abs(old))  # steps relative to the entries
            analytic = float(np.sum(grads[i] * u))
            plus = _value(fn, _with_input(ts, i, old + eps * u))
            minus = _value(fn, _with_input(ts, i, old - eps * u))
            numeric = float(np.sum(v * (plus - minus)) / (2 * eps))
            where = f"{_name(ts, i)} in random direction {d} (seed {seed}, fast mode)"
            problem = _nonfinite(grads[i], numeric, where, out.shape, t.shape) or _nonfinite(
                analytic, numeric, where, out.shape, t.shape)
            if problem:
                return "wrong", problem
            scale = float(np.sum(np.abs(grads[i] * u)))
            tol = atol + rtol * scale
            if abs(analytic - numeric) <= tol:
                continue
            est = refine(_along(fn, ts, i, u, v), eps, np.array([np.sum(v * _value(fn, ts))]))
            verdict = _verdict(np.array([analytic]), est, tol, 0.0)[0]  # the scale is Σ|grad⊙u|, not |numeric|
            if verdict == 2:
                return "wrong", (
                    f"gradcheck (fast mode) failed for {_name(ts, i)} in random direction {d} (seed {seed}): "
                    f"the rule is wrong.\n  <v, J u> analytic {analytic:.12g}, numeric {est.value[0]:.12g} "
                    f"(finite-difference error ±{est.error[0]:.2g}), |diff| {abs(analytic - est.value[0]):.3g} > "
                    f"tolerance {tol:.3g} (atol {atol:g} + rtol {rtol:g}·Σ|grad⊙u|)"
                )
            if verdict == 1:
                return "uncheckable", _cannot(where, "", analytic, est, 0, tol, 0.0)
    return None


def _find_bad_rule(fn: Fn, ts: list[Tensor], eps: float, atol: float, rtol: float, seed: int) -> str:
    """Re-check each recorded rule on its recorded inputs; report the first that fails."""
    out = _call(fn, ts)
    if out.record is None:
        return ""
    order = tape_of(out)
    rng = np.random.default_rng(seed)
    for t in order:
        rec = t.record
        raw = [x.data if isinstance(x, Tensor) else x for x in rec.inputs]
        for i, x in rec.parents:
            vjp = rec.vjps[i]
            if vjp is None or x.dtype != np.float64:
                continue
            v = rng.standard_normal(rec.shape)
            u = rng.standard_normal(x.shape) * np.maximum(1.0, np.abs(x.data))
            g = checked_gradient(rec.vjp(i, NP, v, t.data, rec.arrays), x.shape, x.dtype, rec, i)
            analytic = float(np.sum(g * u))

            def along(step: float, i: int = i, u: np.ndarray = u, v: np.ndarray = v, rec: Any = rec,
                      raw: list = raw, x: Tensor = x) -> np.ndarray:
                args = list(raw)
                args[i] = x.data + step * u
                return np.array([np.sum(v * _forward_value(rec, args))])

            numeric = float((along(eps) - along(-eps))[0] / (2 * eps))
            tol = atol + rtol * float(np.sum(np.abs(g * u)))
            if abs(analytic - numeric) <= tol:
                continue
            est = refine(along, eps, along(0.0))
            if _verdict(np.array([analytic]), est, tol, 0.0)[0] == 2:  # never accuse a rule finite differences cannot check
                return (
                    f"  suspect rule: {rec.where()}, input {i}: its VJP gives {analytic:.12g} where finite "
                    f"differences give {est.value[0]:.12g} ± {est.error[0]:.2g} on the recorded inputs; op path to "
                    "the output: " + _path(order, t)
                )
    return "  (every recorded rule passes on its own inputs: check non-recorded numpy code inside fn)"


def _forward_value(rec: Any, args: list[Any]) -> np.ndarray:
    """The recorded op's forward output on ``args`` (its rule style decides what the forward returns)."""
    return rec.op.forward(*args, **rec.kwargs)


def _path(order: Sequence[Tensor], start: Tensor) -> str:
    """Op names from ``start`` to the last tensor of ``order`` following data flow."""
    parent: dict[int, Tensor] = {}
    reach = {id(start)}
    for t in order:
        if t.record.seq <= start.record.seq:
            continue
        for _, x in t.record.parents:
            if id(x) in reach:
                reach.add(id(t))
                parent[id(t)] = x
                break
    names = []
    node: Tensor | None = order[-1]
    if id(node) not in reach:
        return start.record.op.name
    while node is not None:
        names.append(node.record.where())
        node = parent.get(id(node))
    return " -> ".join(reversed(names))


def gradgradcheck(
    fn: Fn,
    inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-8,
    rtol: float = 1e-6,
    raise_exception: bool = True,
    n_directions: int = 3,
    seed: int = 0,
) -> bool:
    """Check the engine's **second** derivatives: for random directions v (on the output) and u (on
    every checked input), the recorded backward pass's Hessian-vector product

        H_v u = ∂/∂x ⟨∂⟨v, fn(x)⟩/∂x, u⟩          (two recorded walks)

    against central differences of the engine's *first-order* gradient along u:
    (∇⟨v, fn⟩(x + εu) − ∇⟨v, fn⟩(x − εu)) / 2ε.  Like :func:`gradcheck`, a NaN or inf on either
    side fails.  Returns True, or raises :class:`GradcheckError` (False if ``raise_exception=False``).
    """
    __tracebackhide__ = True
    ts = _prepare(inputs)
    checked = [i for i, t in enumerate(ts) if t.requires_grad]
    rng = np.random.default_rng(seed)
    for d in range(n_directions):
        out = _call(fn, ts)
        v = rng.standard_normal(out.shape)
        us = {i: rng.standard_normal(ts[i].shape) for i in checked}
        # analytic: the recorded gradient, contracted with u, differentiated again
        grads = gradients((out * v).sum(), [ts[i] for i in checked])
        inner = None
        for i, g in zip(checked, grads):
            term = (g * us[i]).sum()
            inner = term if inner is None else inner + term
        analytic = [np.zeros(ts[i].shape) for i in checked] if not inner.requires_grad else \
            [h.data for h in gradients(inner, [ts[i] for i in checked])]
        # numeric: central differences of the first-order gradient along u (all checked inputs at once)
        def first_order(sign: float) -> list[np.ndarray]:
            moved = list(ts)
            for i in checked:
                moved[i] = Tensor(ts[i].data + sign * eps * us[i], requires_grad=True)
            y = _call(fn, moved)
            if not y.requires_grad:
                return [np.zeros(ts[i].shape) for i in checked]
            (y * v).sum().backward()
            return [np.zeros(ts[i].shape) if moved[i].grad is None else moved[i].grad for i in checked]

        plus, minus = first_order(1.0), first_order(-1.0)
        for k, i in enumerate(checked):
            numeric = (plus[k] - minus[k]) / (2 * eps)
            where = f"{_name(ts, i)} in random direction {d} (seed {seed}, second derivative)"
            problem = _nonfinite(analytic[k].reshape(1, -1), numeric.reshape(1, -1), where, (), ts[i].shape)
            if problem is None:
                diff = np.abs(analytic[k] - numeric)
                tol = atol + rtol * np.abs(numeric)
                bad = ~(diff <= tol)
                if bad.any():
                    j = np.unravel_index(int(np.argmax(np.where(bad, diff / tol, 0))), diff.shape)
                    problem = (f"gradgradcheck failed for {where}: (H u) entry {tuple(int(q) for q in j)}: "
                               f"analytic {analytic[k][j]:.12g}, numeric {numeric[j]:.12g}, |diff| {diff[j]:.3g} > "
                               f"tolerance {tol[j]:.3g} (atol {atol:g} + rtol {rtol:g}·|numeric|)")
            if problem is not None:
                if raise_exception:
                    raise GradcheckError(problem)
                return False
    return True
