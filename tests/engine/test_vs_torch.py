"""Differential test against an implementation we did not write: PyTorch, float64.

Hypothesis generates random programs over the engine's ops — broadcasting, 0-d and empty
shapes, transposes and views before reductions, integer / tuple / list / boolean indices
with repeats, fan-out and reuse of values, ``retain_graph`` and accumulation over two
backward calls — runs each program in the engine and in PyTorch, and compares every value
and every leaf gradient (rtol 1e-10, atol 1e-12).

Conventions that differ from PyTorch on purpose are built into the reference with PyTorch's
own ops (documented in ``tinygrad_rnn.ops``): ``max``/``min`` give the whole gradient to the
*first* arg-max (PyTorch's full ``max()`` splits it among ties; its ``argmax`` returns the
first, which the reference uses).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_rnn as tg

import torch  # noqa: E402
import torch.nn.functional as TF  # noqa: E402  (the test extra installs torch==2.13.0; a missing torch is a failure, never a skip)

RTOL, ATOL = 1e-10, 1e-12


def _first_extreme(x: Any, axis: Any, largest: bool) -> Any:
    """torch reference for the engine's max/min: the value at the first arg-max/arg-min."""
    if axis is None:
        flat = x.reshape(-1)
        i = flat.argmax() if largest else flat.argmin()
        return flat[i]
    i = x.argmax(dim=axis, keepdim=True) if largest else x.argmin(dim=axis, keepdim=True)
    return torch.gather(x, axis, i).squeeze(axis)


def _addmm_static(s: Any, d: Any) -> dict[str, int] | None:
    """addmm(c=b, a, M): b must broadcast to the product's shape a.shape[:-1] + (k,)."""
    if not s[0]:
        return None
    k = d(st.integers(1, 3))
    prod = s[0][:-1] + (k,)
    return {"k": k} if _broadcastable(s[1], prod) and np.broadcast_shapes(s[1], prod) == prod else None


# Each op: (arity, applicable(shapes, draw) -> static args or None, engine fn, torch fn).
# Static arguments are drawn once and passed to both sides.
Op = tuple[int, Callable[..., Any], Callable[..., Any], Callable[..., Any]]


def _axis_of(shape: tuple[int, ...], draw: Any) -> int | None:
    return None if not shape else draw(st.integers(-len(shape), len(shape) - 1))


def _broadcastable(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    try:
        np.broadcast_shapes(a, b)
        return True
    except ValueError:
        return False


OPS: dict[str, Op] = {
    "add": (2, lambda s, d: {} if _broadcastable(*s) else None, lambda a, b: a + b, lambda a, b: a + b),
    "sub": (2, lambda s, d: {} if _broadcastable(*s) else None, lambda a, b: a - b, lambda a, b: a - b),
    "mul": (2, lambda s, d: {} if _broadcastable(*s) else None, lambda a, b: a * b, lambda a, b: a * b),
    "div": (2, lambda s, d: {} if _broadcastable(*s) else None,
            lambda a, b: a / (b.abs() + 1.0), lambda a, b: a / (b.abs() + 1.0)),
    "pow": (2, lambda s, d: {} if _broadcastable(*s) else None,
            lambda a, b: (a.abs() + 0.5) ** b.tanh(), lambda a, b: (a.abs() + 0.5) ** b.tanh()),
    "pow_const": (1, lambda s, d: {"p": d(st.sampled_from([0.0, 1.0, 2.0, 3.0, 0.5]))},
                  lambda a, p: (a.abs() + 0.25) ** p if p == 0.5 else a ** p,
                  lambda a, p: (a.abs() + 0.25) ** p if p == 0.5 else a ** p),
    "neg": (1, lambda s, d: {}, lambda a: -a, lambda a: -a),
    "tanh": (1, lambda s, d: {}, lambda a: a.tanh(), lambda a: a.tanh()),
    "exp": (1, lambda s, d: {}, lambda a: a.tanh().exp(), lambda a: a.tanh().exp()),
    "log": (1, lambda s, d: {}, lambda a: (a.abs() + 0.5).log(), lambda a: (a.abs() + 0.5).log()),
    "sigmoid": (1, lambda s, d: {}, lambda a: a.sigmoid(), lambda a: a.sigmoid()),
    "relu": (1, lambda s, d: {}, lambda a: a.relu(), lambda a: a.relu()),
    "sqrt": (1, lambda s, d: {}, lambda a: (a.abs() + 0.5).sqrt(), lambda a: (a.abs() + 0.5).sqrt()),
    "abs": (1, lambda s, d: {}, lambda a: a.abs(), lambda a: a.abs()),
    "sum": (1, lambda s, d: {"axis": _axis_of(s[0], d), "keepdims": d(st.booleans())},
            lambda a, axis, keepdims: a.sum(axis=axis, keepdims=keepdims),
            lambda a, axis, keepdims: a.sum() if axis is None and not keepdims else
            a.sum(dim=tuple(range(a.dim())) if axis is None else axis, keepdim=keepdims)),
    "mean": (1, lambda s, d: ({"axis": _axis_of(s[0], d)} if int(np.prod(s[0])) > 0 else None),
             lambda a, axis: a.mean(axis=axis), lambda a, axis: a.mean() if axis is None else a.mean(dim=axis)),
    "max": (1, lambda s, d: ({"axis": _axis_of(s[0], d)} if int(np.prod(s[0])) > 0 else None),
            lambda a, axis: a.max(axis=axis), lambda a, axis: _first_extreme(a, axis, True)),
    "min": (1, lambda s, d: ({"axis": _axis_of(s[0], d)} if int(np.prod(s[0])) > 0 else None),
            lambda a, axis: a.min(axis=axis), lambda a, axis: _first_extreme(a, axis, False)),
    "softmax": (1, lambda s, d: ({"axis": _axis_of(s[0], d)} if s[0] else None),
                lambda a, axis: a.softmax(axis), lambda a, axis: torch.softmax(a, axis)),
    "log_softmax": (1, lambda s, d: ({"axis": _axis_of(s[0], d)} if s[0] else None),
                    lambda a, axis: a.log_softmax(axis), lambda a, axis: torch.log_softmax(a, axis)),
    "transpose": (1, lambda s, d: {}, lambda a: a.T, lambda a: a.permute(tuple(reversed(range(a.dim()))))),
    "flatten": (1, lambda s, d: {}, lambda a: a.reshape(-1), lambda a: a.reshape(-1)),
    "matmul": (1, lambda s, d: ({"k": d(st.integers(1, 3))} if s[0] else None),
               lambda a, k: a @ np.linspace(-1.0, 1.0, a.shape[-1] * k).reshape(a.shape[-1], k),
               lambda a, k: a @ torch.linspace(-1.0, 1.0, a.shape[-1] * k, dtype=torch.float64).reshape(a.shape[-1], k)),
    "matmul2": (2, lambda s, d: {} if len(s[0]) >= 1 and len(s[1]) >= 1 and s[0][-1] == s[1][0] and len(s[1]) <= 2
                else None, lambda a, b: a @ b, lambda a, b: a @ b),
    "slice": (1, lambda s, d: ({"start": d(st.integers(0, s[0][0]))} if s[0] else None),
              lambda a, start: a[start:], lambda a, start: a[start:]),
    "int_index": (1, lambda s, d: ({"idx": d(st.lists(st.integers(0, s[0][0] - 1), min_size=1, max_size=5))}
                                   if s[0] and s[0][0] > 0 else None),
                  lambda a, idx: a[idx], lambda a, idx: a[torch.tensor(idx)]),
    "tuple_index": (1, lambda s, d: ({"idx": tuple(d(st.lists(st.integers(0, s[0][0] - 1), min_size=1, max_size=4)))}
                                     if len(s[0]) >= 2 and s[0][0] > 0 else None),
                    lambda a, idx: a[idx, :], lambda a, idx: a[torch.tensor(idx), :]),
    "mask": (1, lambda s, d: ({"seed": d(st.integers(0, 2**16))} if s[0] else None),
             lambda a, seed: a[np.random.default_rng(seed).random(a.shape) > 0.4],
             lambda a, seed: a[torch.from_numpy(np.asarray(np.random.default_rng(seed).random(tuple(a.shape)) > 0.4))]),
    "where": (2, lambda s, d: ({"seed": d(st.integers(0, 2**16))} if _broadcastable(*s) else None),
              lambda a, b, seed: tg.where(np.random.default_rng(seed).random(np.broadcast_shapes(a.shape, b.shape)) > 0.5,
                                          a, b),
              lambda a, b, seed: torch.where(torch.from_numpy(np.asarray(np.random.default_rng(seed).random(
                  np.broadcast_shapes(tuple(a.shape), tuple(b.shape))) > 0.5)), a, b)),
    "stack": (2, lambda s, d: ({"axis": d(st.integers(0, len(s[0])))} if s[0] == s[1] else None),
              lambda a, b, axis: tg.stack([a, b], axis=axis), lambda a, b, axis: torch.stack([a, b], dim=axis)),
    "concatenate": (2, lambda s, d: ({} if s[0] and len(s[0]) == len(s[1]) and s[0][1:] == s[1][1:] else None),
                    lambda a, b: tg.concatenate([a, b]), lambda a, b: torch.cat([a, b])),
    "cross_entropy": (1, lambda s, d: ({"seed": d(st.integers(0, 2**16))} if len(s[0]) == 2 and s[0][1] > 0 else None),
                      lambda a, seed: tg.cross_entropy(a, np.random.default_rng(seed).integers(0, a.shape[1], a.shape[0])),
                      lambda a, seed: torch.nn.functional.cross_entropy(
                          a, torch.from_numpy(np.random.default_rng(seed).integers(0, a.shape[1], a.shape[0])),
                          reduction="sum")),
    # the op set of tinygrad_rnn.more_ops (issue 18), mixed into the same random programs
    "square": (1, lambda s, d: {}, lambda a: a.square(), lambda a: torch.square(a)),
    "sin": (1, lambda s, d: {}, lambda a: a.sin(), lambda a: torch.sin(a)),
    "cos": (1, lambda s, d: {}, lambda a: a.cos(), lambda a: torch.cos(a)),
    "expm1": (1, lambda s, d: {}, lambda a: a.tanh().expm1(), lambda a: torch.expm1(a.tanh())),
    "log1p": (1, lambda s, d: {}, lambda a: (a * a).log1p(), lambda a: torch.log1p(a * a)),
    "softplus": (1, lambda s, d: {}, lambda a: (a.tanh() * 5.0).softplus(), lambda a: TF.softplus(a.tanh() * 5.0)),
    "logsigmoid": (1, lambda s, d: {}, lambda a: a.logsigmoid(), lambda a: TF.logsigmoid(a)),
    "gelu": (1, lambda s, d: {}, lambda a: a.gelu(), lambda a: TF.gelu(a, approximate="tanh")),
    "silu": (1, lambda s, d: {}, lambda a: a.silu(), lambda a: TF.silu(a)),
    "elu": (1, lambda s, d: {}, lambda a: a.elu(), lambda a: TF.elu(a)),
    "leaky_relu": (1, lambda s, d: {}, lambda a: a.leaky_relu(0.1), lambda a: TF.leaky_relu(a, 0.1)),
    "clip": (1, lambda s, d: {}, lambda a: a.clip(-0.5, 0.5), lambda a: torch.clamp(a, -0.5, 0.5)),
    "maximum": (2, lambda s, d: {} if _broadcastable(*s) else None, tg.maximum, torch.maximum),
    "minimum": (2, lambda s, d: {} if _broadcastable(*s) else None, tg.minimum, torch.minimum),
    "logaddexp": (2, lambda s, d: {} if _broadcastable(*s) else None, tg.logaddexp, torch.logaddexp),
    "mse_loss": (2, lambda s, d: {} if s[0] == s[1] and int(np.prod(s[0])) > 0 else None, tg.mse_loss, TF.mse_loss),
    "prod": (1, lambda s, d: {"axis": _axis_of(s[0], d)},
             lambda a, axis: a.prod(axis=axis), lambda a, axis: a.prod() if axis is None else a.prod(dim=axis)),
    "var": (1, lambda s, d: ({"axis": _axis_of(s[0], d)} if int(np.prod(s[0])) > 0 else None),
            lambda a, axis: a.var(axis=axis),
            lambda a, axis: torch.var(a, correction=0) if axis is None else torch.var(a, axis, correction=0)),
    "logsumexp": (1, lambda s, d: ({"axis": _axis_of(s[0], d)} if int(np.prod(s[0])) > 0 else None),
                  lambda a, axis: a.logsumexp(axis=axis),
                  lambda a, axis: torch.logsumexp(a.reshape(-1), 0) if axis is None else torch.logsumexp(a, axis)),
    "cumsum": (1, lambda s, d: ({"axis": _axis_of(s[0], d)} if s[0] else None),
               lambda a, axis: a.cumsum(axis=axis), lambda a, axis: torch.cumsum(a, axis)),
    "flip": (1, lambda s, d: ({"axis": _axis_of(s[0], d)} if s[0] else None),
             lambda a, axis: a.flip(axis), lambda a, axis: torch.flip(a, (axis,))),
    "tile": (1, lambda s, d: {"reps": d(st.sampled_from([(2,), (1, 2), (2, 1, 1)]))},
             lambda a, reps: a.tile(reps), lambda a, reps: torch.tile(a, reps)),
    "tril": (1, lambda s, d: ({"k": d(st.integers(-1, 1))} if len(s[0]) >= 2 else None),
             lambda a, k: a.tril(k), lambda a, k: torch.tril(a, k)),
    "addmm": (2, lambda s, d: _addmm_static(s, d),
              lambda a, b, k: tg.addmm(b, a, np.linspace(-1.0, 1.0, a.shape[-1] * k).reshape(a.shape[-1], k)),
              lambda a, b, k: b + a @ torch.linspace(-1.0, 1.0, a.shape[-1] * k, dtype=torch.float64).reshape(a.shape[-1], k)),
    "outer": (2, lambda s, d: {}, lambda a, b: tg.outer(a, b), lambda a, b: torch.outer(a.reshape(-1), b.reshape(-1))),
    "einsum": (1, lambda s, d: ({"spec": "abc"[:len(s[0])] + "->" + "abc"[:len(s[0])][::-1][:-1]} if s[0] else None),
               lambda a, spec: tg.einsum(spec, a), lambda a, spec: torch.einsum(spec, a)),
}

def _is_torch(x: Any) -> bool:
    return isinstance(x, torch.Tensor)


def _iadd(a: Any, b: Any) -> Any:
    c = a * 1.0
    c += b  # an intermediate while recording: torch in place, the engine records and rebinds
    return c


def _isub(a: Any, b: Any) -> Any:
    c = a * 1.0
    c -= b
    return c


def _imul(a: Any, b: Any) -> Any:
    c = a * 1.0
    c *= b
    return c


def _sgd_step(a: Any, b: Any) -> Any:
    """The manual SGD idiom on a copy: in place under no_grad, in both libraries."""
    if _is_torch(a):
        with torch.no_grad():
            c = a.detach().clone()
            c -= 0.1 * b
    else:
        with tg.no_grad():
            c = a.detach().copy()
            c -= 0.1 * b
    return c


def _same_shape_as_first(s: Any) -> bool:
    return _broadcastable(*s) and np.broadcast_shapes(*s) == s[0]


# issue 23: the new ops, in-place updates (on intermediates while recording, and the no_grad step)
OPS.update({
    "tan": (1, lambda s, d: {}, lambda a: a.tanh().tan(), lambda a: torch.tan(a.tanh())),
    "arcsin": (1, lambda s, d: {}, lambda a: (a.tanh() * 0.9).arcsin(), lambda a: torch.arcsin(a.tanh() * 0.9)),
    "arccos": (1, lambda s, d: {}, lambda a: (a.tanh() * 0.9).arccos(), lambda a: torch.arccos(a.tanh() * 0.9)),
    "arctan": (1, lambda s, d: {}, lambda a: a.arctan(), lambda a: torch.arctan(a)),
    "sinh": (1, lambda s, d: {}, lambda a: a.sinh(), lambda a: torch.sinh(a)),
    "cosh": (1, lambda s, d: {}, lambda a: a.cosh(), lambda a: torch.cosh(a)),
    "arcsinh": (1, lambda s, d: {}, lambda a: a.arcsinh(), lambda a: torch.arcsinh(a)),
    "arccosh": (1, lambda s, d: {}, lambda a: (a * a + 1.5).arccosh(), lambda a: torch.arccosh(a * a + 1.5)),
    "arctanh": (1, lambda s, d: {}, lambda a: (a.tanh() * 0.9).arctanh(), lambda a: torch.atanh(a.tanh() * 0.9)),
    "exp2": (1, lambda s, d: {}, lambda a: a.tanh().exp2(), lambda a: torch.exp2(a.tanh())),
    "log2": (1, lambda s, d: {}, lambda a: (a.abs() + 0.5).log2(), lambda a: torch.log2(a.abs() + 0.5)),
    "log10": (1, lambda s, d: {}, lambda a: (a.abs() + 0.5).log10(), lambda a: torch.log10(a.abs() + 0.5)),
    "cbrt": (1, lambda s, d: {}, lambda a: (a.abs() + 0.5).cbrt(), lambda a: (a.abs() + 0.5) ** (1.0 / 3.0)),
    "reciprocal": (1, lambda s, d: {}, lambda a: (a.abs() + 0.5).reciprocal(),
                   lambda a: torch.reciprocal(a.abs() + 0.5)),
    "logaddexp2": (2, lambda s, d: {} if _broadcastable(*s) else None, tg.logaddexp2, torch.logaddexp2),
    "arctan2": (2, lambda s, d: {} if _broadcastable(*s) else None, lambda a, b: tg.arctan2(a, b.abs() + 0.5),
                lambda a, b: torch.atan2(a, b.abs() + 0.5)),
    "cumprod": (1, lambda s, d: ({"axis": _axis_of(s[0], d)} if s[0] else None),
                lambda a, axis: a.tanh().cumprod(axis=axis), lambda a, axis: torch.cumprod(a.tanh(), axis)),
    "roll": (1, lambda s, d: ({"shift": d(st.integers(-3, 3)), "axis": _axis_of(s[0], d)} if s[0] else None),
             lambda a, shift, axis: a.roll(shift, axis), lambda a, shift, axis: torch.roll(a, shift, axis)),
    "norm": (1, lambda s, d: ({"axis": _axis_of(s[0], d)} if int(np.prod(s[0])) > 0 else None),
             lambda a, axis: tg.linalg.norm(a, axis=axis),
             lambda a, axis: torch.linalg.vector_norm(a) if axis is None else torch.linalg.vector_norm(a, dim=axis)),
    "ravel": (1, lambda s, d: {}, lambda a: a.ravel(), lambda a: a.reshape(-1)),
    "iadd": (2, lambda s, d: {} if _same_shape_as_first(s) else None, _iadd, _iadd),
    "isub": (2, lambda s, d: {} if _same_shape_as_first(s) else None, _isub, _isub),
    "imul": (2, lambda s, d: {} if _same_shape_as_first(s) else None, _imul, _imul),
    "sgd_step": (2, lambda s, d: {} if _same_shape_as_first(s) else None, _sgd_step, _sgd_step),
})

SHAPES = st.sampled_from([(), (1,), (3,), (2, 3), (3, 1), (1, 3), (2, 2, 3), (0,), (0, 3), (3, 0)])


@st.composite
def programs(draw: Any) -> dict[str, Any]:
    n_leaves = draw(st.integers(1, 3))
    leaves = []
    for _ in range(n_leaves):
        shape = draw(SHAPES)
        leaves.append(draw(hnp.arrays(np.float64, shape, elements=st.floats(-2, 2, allow_nan=False, width=64))))
    shapes = [a.shape for a in leaves]
    steps = []
    for _ in range(draw(st.integers(1, 8))):
        name = draw(st.sampled_from(sorted(OPS)))
        arity, applicable, _, _ = OPS[name]
        operands = [draw(st.integers(0, len(shapes) - 1)) for _ in range(arity)]
        static = applicable([shapes[i] for i in operands], draw)
        if static is None:
            continue
        out_shape = _shape_of(name, [leaves_or_zeros(s) for s in (shapes[i] for i in operands)], static)
        steps.append((name, operands, static))
        shapes.append(out_shape)
    outputs = draw(st.lists(st.integers(0, len(shapes) - 1), min_size=1, max_size=3))  # fan-out: reused values
    return {"leaves": leaves, "steps": steps, "outputs": outputs, "twice": draw(st.booleans())}


def leaves_or_zeros(shape: tuple[int, ...]) -> tg.Tensor:
    return tg.Tensor(np.zeros(shape))


def _shape_of(name: str, args: list[tg.Tensor], static: dict[str, Any]) -> tuple[int, ...]:
    with tg.no_grad():
        return OPS[name][2](*args, **static).shape


def _at_a_kink(program: dict[str, Any], values: list[np.ndarray]) -> bool:
    """Is a kink op's operand within rounding of its kink, where a 1-ulp difference between two
    correct implementations changes the (sub)gradient?  abs/relu at 0, and max/min on a computed
    operand whose two largest (smallest) entries are within 1e-9 (exact ties of the leaves' own
    values are fine: both sides give the first).  Found by the explore profile: x @ M with
    cancelling columns is exactly 0 in numpy and 1e-16 in PyTorch."""
    n_leaves = len(program["leaves"])
    for name, operands, static in program["steps"]:
        v = np.asarray(values[operands[0]], dtype=np.float64)
        if v.size == 0:
            continue
        # operands that pass through abs or relu (directly, or inside the test's composite forms above)
        kinked = {"abs": (0,), "relu": (0,), "log": (0,), "sqrt": (0,), "pow": (0,), "div": (1,), "log2": (0,),
                  "log10": (0,), "cbrt": (0,), "reciprocal": (0,), "arctan2": (1,),
                  "pow_const": (0,) if static.get("p") == 0.5 else (), "elu": (0,), "leaky_relu": (0,)}.get(name, ())
        for k in kinked:
            u = np.asarray(values[operands[k]], dtype=np.float64)
            if u.size and np.min(np.abs(u)) < 1e-9:
                return True
        if name == "clip" and operands[0] >= n_leaves and np.min(np.abs(np.abs(v) - 0.5)) < 1e-9:
            return True  # a computed value at a bound (exact leaf values there agree: both pass g)
        if name in ("maximum", "minimum") and max(operands) >= n_leaves:
            u = np.asarray(values[operands[1]], dtype=np.float64)
            if np.size(v) and np.size(u) and np.min(np.abs(v - u)) < 1e-9:
                return True  # a computed near-tie (exact ties of leaf values agree: both split g)
        if name in ("max", "min") and operands[0] >= n_leaves:
            axis = static.get("axis")
            w = v.reshape(-1) if axis is None else np.moveaxis(v, axis, -1).reshape(-1, v.shape[axis])
            w = np.sort(w if name == "max" else -w, axis=-1)
            if w.shape[-1] > 1 and np.min(w[..., -1] - w[..., -2]) < 1e-9:
                return True
    return False


def _run(program: dict[str, Any], lib: str) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    if lib == "tg":
        leaves = [tg.Tensor(a, requires_grad=True) for a in program["leaves"]]
    else:
        leaves = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in program["leaves"]]
    values = list(leaves)
    for name, operands, static in program["steps"]:
        fn = OPS[name][2] if lib == "tg" else OPS[name][3]
        values.append(fn(*[values[i] for i in operands], **static))
    weights = [np.linspace(0.5, 1.5, max(int(np.prod(values[i].shape)), 1))[: int(np.prod(values[i].shape))]
               .reshape(tuple(values[i].shape)) for i in program["outputs"]]
    if lib == "tg":
        total = sum(((values[i] * w).sum() for i, w in zip(program["outputs"], weights)), tg.Tensor(0.0))
    else:
        total = sum(((values[i] * torch.from_numpy(w)).sum() for i, w in zip(program["outputs"], weights)),
                    torch.tensor(0.0, dtype=torch.float64))
    if total.requires_grad:
        total.backward(retain_graph=program["twice"])
        if program["twice"]:
            total.backward()  # gradients accumulate over the two calls
    out_values = [np.asarray(v.detach().numpy() if lib == "torch" else v.data) for v in values]
    grads = [None if x.grad is None else np.asarray(x.grad.numpy() if lib == "torch" else x.grad) for x in leaves]
    return out_values, grads


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(programs())
@example({  # getitem after a fan-out: the slice's sparse gradient arrives after add shared its g
    "leaves": [np.array([0.1, 0.2, 0.3, 0.4]), np.array([1.0, -1.0, 0.5, 2.0])],
    "steps": [("tanh", [0], {}), ("slice", [2], {"start": 2}), ("add", [2, 1], {})],
    "outputs": [3, 4], "twice": False})
def test_random_programs_match_pytorch_float64(program):
    with np.errstate(all="ignore"):
        ours, our_grads = _run(program, "tg")
    assume(not _at_a_kink(program, ours))
    theirs, their_grads = _run(program, "torch")
    for k, (a, b) in enumerate(zip(ours, theirs)):
        assert a.shape == b.shape, f"value {k}: shape {a.shape} vs torch {b.shape}"
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=f"value {k}")
    for k, (a, b) in enumerate(zip(our_grads, their_grads)):
        if a is None or b is None:  # torch leaves .grad None where the engine does too (unused leaf)
            assert a is None and b is None or np.all((a if a is not None else b) == 0), f"grad {k}: {a} vs {b}"
            continue
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=f"gradient of leaf {k}")


def test_the_differential_test_catches_a_wrong_rule(monkeypatch):
    """Negative control: break tanh's rule (1 − y instead of 1 − y²) and the comparison must fail."""
    from tinygrad_rnn import ops

    monkeypatch.setattr(ops.tanh, "rules", (lambda F, g, y, x: g * (1.0 - y),))
    program = {"leaves": [np.array([0.3, -0.7])], "steps": [("tanh", [0], {})], "outputs": [1], "twice": False}
    ours, our_grads = _run(program, "tg")
    theirs, their_grads = _run(program, "torch")
    np.testing.assert_allclose(ours[1], theirs[1], rtol=RTOL)  # the values agree ...
    with pytest.raises(AssertionError):  # ... the gradients do not
        np.testing.assert_allclose(our_grads[0], their_grads[0], rtol=RTOL, atol=ATOL)


def test_the_kink_guard_rejects_rounding_sensitive_programs_and_nothing_else():
    """The program the explore profile found (numpy gives exactly 0 where PyTorch gives 1e-16, and abs's
    subgradient flips) is rejected; the same program away from the kink is kept and passes."""
    at_kink = {"leaves": [np.array([1.10963284] * 3)], "steps": [("matmul", [0], {"k": 3}), ("abs", [1], {})],
               "outputs": [2], "twice": False}
    ours, _ = _run(at_kink, "tg")
    assert _at_a_kink(at_kink, ours)
    away = {**at_kink, "leaves": [np.array([1.1, 0.3, -0.7])]}
    ours, our_grads = _run(away, "tg")
    assert not _at_a_kink(away, ours)
    theirs, their_grads = _run(away, "torch")
    np.testing.assert_allclose(our_grads[0], their_grads[0], rtol=RTOL, atol=ATOL)


# ----------------------------------------------------------------------------- axes out of range
AXIS_OPS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "sum": (lambda a, k: a.sum(axis=k), lambda a, k: a.sum(dim=k)),
    "mean": (lambda a, k: a.mean(axis=k), lambda a, k: a.mean(dim=k)),
    "softmax": (lambda a, k: a.softmax(k), lambda a, k: torch.softmax(a, k)),
    "log_softmax": (lambda a, k: a.log_softmax(k), lambda a, k: torch.log_softmax(a, k)),
    "cumsum": (lambda a, k: a.cumsum(axis=k), lambda a, k: torch.cumsum(a, k)),
    "cumprod": (lambda a, k: a.cumprod(axis=k), lambda a, k: torch.cumprod(a, k)),
    "flip": (lambda a, k: a.flip(k), lambda a, k: torch.flip(a, (k,))),
    "roll": (lambda a, k: a.roll(1, k), lambda a, k: torch.roll(a, 1, k)),
    "moveaxis": (lambda a, k: a.moveaxis(k, 0), lambda a, k: torch.movedim(a, k, 0)),
    "swapaxes": (lambda a, k: a.swapaxes(k, 0), lambda a, k: torch.swapaxes(a, k, 0)),
    "unsqueeze": (lambda a, k: a.unsqueeze(k), lambda a, k: torch.unsqueeze(a, k)),
    "flatten": (lambda a, k: a.flatten(0, k), lambda a, k: torch.flatten(a, 0, k)),
    "chunk": (lambda a, k: tg.stack(a.chunk(1, axis=k)), lambda a, k: torch.stack(torch.chunk(a, 1, dim=k))),
    "norm": (lambda a, k: tg.linalg.norm(a, axis=k), lambda a, k: torch.linalg.vector_norm(a, dim=k)),
    "max": (lambda a, k: a.max(axis=(k,)), lambda a, k: torch.amax(a, dim=(k,))),
}


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(sorted(AXIS_OPS)),
       shape=st.sampled_from([(3,), (2, 3), (3, 1), (2, 2, 3)]), data=st.data())
def test_an_axis_is_valid_in_the_engine_exactly_where_it_is_in_pytorch(name, shape, data):
    """Axes from −ndim−2 to ndim+1: the engine raises (numpy's AxisError) exactly where PyTorch raises
    (IndexError), and where neither does, the values and gradients agree: no axis ever wraps."""
    k = data.draw(st.integers(-len(shape) - 2, len(shape) + 1))
    if name == "unsqueeze":  # a new axis may go one past the end
        k = data.draw(st.integers(-len(shape) - 3, len(shape) + 2))
    ours, theirs = AXIS_OPS[name]
    x = np.linspace(-1.0, 1.5, int(np.prod(shape))).reshape(shape)
    a = tg.Tensor(x, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    try:
        out = ours(a, k)
        err = None
    except (np.exceptions.AxisError, IndexError, ValueError) as e:
        err = e
    try:
        ref = theirs(t, k)
        ref_err = None
    except (IndexError, RuntimeError) as e:
        ref_err = e
    assert (err is None) == (ref_err is None), f"{name} axis {k} of shape {shape}: engine {err!r}, torch {ref_err!r}"
    if err is None:
        np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=RTOL, atol=ATOL)
        w = np.linspace(0.5, 1.5, out.size).reshape(out.shape)
        (out * w).sum().backward()
        (ref * torch.from_numpy(w)).sum().backward()
        np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=RTOL, atol=ATOL)
    else:
        assert isinstance(err, np.exceptions.AxisError), repr(err)
