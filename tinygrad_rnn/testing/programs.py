"""Random programs: your ops composed with the engine's, for gradient checks of the composition.

The strategy behind the project's differential fuzzer, made public::

    @given(programs(ops={"my_op": my_op}))
    def test_my_op_composes(p):
        assert_grad_close(p, p.leaves)

A :class:`Program` is a few leaf arrays and a straight-line sequence of steps, each applying one op
(yours or a built-in) to earlier values; calling it on Tensors returns a weighted sum of some
values (so every value used reaches the output through a different weight).  Steps whose operands
an op refuses (shapes that do not fit) are skipped while drawing, so ops need not declare shapes.
The built-ins are smooth (no kinks or poles), so finite differences can check any program; its
``repr`` is the program as code, which is what a shrunk failure shows.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from hypothesis import strategies as st

from ..recording import no_grad
from ..tensor import Tensor
from .strategies import arrays

__all__ = ["Program", "programs", "BUILTIN_OPS"]

#: smooth built-in ops (name → function of Tensors)
BUILTIN_OPS: dict[str, Callable[..., Tensor]] = {
    "tanh": lambda a: a.tanh(),
    "sin": lambda a: a.sin(),
    "square": lambda a: a * a,
    "exp_tanh": lambda a: a.tanh().exp(),
    "sigmoid": lambda a: a.sigmoid(),
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 1.0),
    "matmul": lambda a, b: a @ b,
    "sum_last": lambda a: a.sum(axis=-1),
    "mean": lambda a: a.mean(),
    "transpose": lambda a: a.T,
    "softmax_last": lambda a: a.softmax(axis=-1),
}


def _arity(fn: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    return sum(1 for p in params if p.default is inspect.Parameter.empty
               and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)) or 1


@dataclass
class Program:
    """Leaves, steps ``(op name, operand indices)`` over values ``v0 … vn`` (the leaves first), and
    the output: Σ_k ⟨w_k, v_{outputs[k]}⟩ with fixed weights w_k."""

    leaves: list[np.ndarray]
    steps: list[tuple[str, tuple[int, ...]]]
    outputs: list[int]
    ops: Mapping[str, Callable[..., Tensor]] = field(repr=False, default_factory=dict)

    def values(self, *leaves: Any) -> list[Any]:
        vals = list(leaves)
        for name, operands in self.steps:
            vals.append(self.ops[name](*[vals[i] for i in operands]))
        return vals

    def __call__(self, *leaves: Any) -> Tensor:
        vals = self.values(*leaves)
        total: Any = None
        for k, i in enumerate(self.outputs):
            v = vals[i]
            n = int(np.prod(v.shape))
            w = np.linspace(0.5, 1.5, max(n, 1))[:n].reshape(v.shape) * (1.0 + 0.25 * k)
            term = (v * w).sum()
            total = term if total is None else total + term
        return total

    def __repr__(self) -> str:
        lines = [f"v{i} = leaf{tuple(a.shape)}" for i, a in enumerate(self.leaves)]
        n = len(self.leaves)
        lines += [f"v{n + s} = {name}({', '.join(f'v{i}' for i in ops)})" for s, (name, ops) in enumerate(self.steps)]
        lines.append("out = " + " + ".join(f"sum(w{k} * v{i})" for k, i in enumerate(self.outputs)))
        return "Program:\n    " + "\n    ".join(lines)


@st.composite
def programs(draw: Callable[..., Any], ops: Mapping[str, Callable[..., Tensor]] | Sequence[Callable[..., Tensor]] = (),
             builtins: bool = True, max_leaves: int = 3, max_steps: int = 6,
             leaf_shapes: st.SearchStrategy[tuple] | None = None, **array_kwargs: Any) -> Program:
    """Random :class:`Program` s over ``ops`` (a dict name → function, or functions named by their
    ``__name__``) and, with ``builtins``, :data:`BUILTIN_OPS`.  Every program uses at least one of
    your ops when you give any (a draw that cannot fit one is rejected).  ``array_kwargs`` go to
    :func:`arrays` for the leaves (e.g. ``min_value=0.1`` for an op with a pole at 0)."""
    mine = dict(ops) if isinstance(ops, Mapping) else {getattr(f, "__name__", f"op{i}"): f for i, f in enumerate(ops)}
    table = {**(BUILTIN_OPS if builtins else {}), **mine}
    if not table:
        raise ValueError("programs: no ops (give ops= or keep builtins=True)")
    shapes = leaf_shapes or st.sampled_from([(), (3,), (2, 3), (3, 3), (1, 3), (3, 1)])
    leaves = [draw(arrays(draw(shapes), **array_kwargs)) for _ in range(draw(st.integers(1, max_leaves)))]
    probes: list[Any] = [Tensor(a) for a in leaves]
    steps: list[tuple[str, tuple[int, ...]]] = []
    names = sorted(table)
    for _ in range(draw(st.integers(1, max_steps))):
        name = draw(st.sampled_from(sorted(mine) if mine and not any(s[0] in mine for s in steps) else names))
        operands = tuple(draw(st.integers(0, len(probes) - 1)) for _ in range(_arity(table[name])))
        try:
            with no_grad(), np.errstate(all="ignore"):
                out = table[name](*[probes[i] for i in operands])
        except (ValueError, TypeError, IndexError):
            continue  # the op refuses these operands (shapes): skip the step
        if not isinstance(out, Tensor) or out.dtype.kind != "f" or not np.all(np.isfinite(out.data)):
            continue
        steps.append((name, operands))
        probes.append(out)
    if mine and not any(s[0] in mine for s in steps):
        from hypothesis import assume

        assume(False)
    used = sorted({len(leaves) + k for k in range(len(steps))})
    outputs = draw(st.lists(st.sampled_from(used), min_size=1, max_size=2, unique=True)) if used else [0]
    return Program(leaves=leaves, steps=steps, outputs=outputs, ops=table)
