"""Optimizers: SGD (with momentum), Adam, and global gradient-norm clipping.

Every optimizer updates ``p.data`` in place from ``p.grad`` (parameters whose
``grad`` is None are skipped) and never records on the tape.  ``state_dict()``
returns plain numpy arrays and numbers, so a checkpoint can be saved with
``np.savez`` and loaded with ``allow_pickle=False``.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np

from .tensor import Tensor

__all__ = ["Optimizer", "SGD", "Adam", "clip_grad_norm"]


def _as_list(params: Iterable[Tensor] | Mapping[str, Tensor]) -> list[Tensor]:
    if isinstance(params, Mapping):
        params = list(params.values())
    params = list(params)
    if not params:
        raise ValueError("optimizer: got an empty parameter list")
    for i, p in enumerate(params):
        if not isinstance(p, Tensor) or not p.requires_grad or not p.is_leaf:
            raise TypeError(f"optimizer: parameter {i} must be a leaf Tensor with requires_grad=True, got {p!r}")
    return params


class Optimizer:
    """Base class: holds the parameter list; ``zero_grad()`` sets every ``.grad`` to None."""

    def __init__(self, params: Iterable[Tensor] | Mapping[str, Tensor], lr: float) -> None:
        if not (lr > 0 and np.isfinite(lr)):
            raise ValueError(f"optimizer: lr must be a positive finite number, got {lr!r}")
        self.params = _as_list(params)
        self.lr = float(lr)
        self.steps = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def _check_writable(self) -> list[np.ndarray | None]:
        """Check every parameter before changing any (a step is applied whole or not at all), and
        return each one's gradient as an array (``None``: skipped).  Refused: a parameter that a live
        graph saved (its coming gradient would be wrong), a gradient of the wrong shape or dtype."""
        grads: list[np.ndarray | None] = []
        who = type(self).__name__
        for i, p in enumerate(self.params):
            name = f"'{p.name}'" if p.name else f"parameter {i}"
            why = None
            if not p.data.flags.writeable:
                why = p.is_saved()  # (lets graphs that died in reference cycles go first)
                if why is None and not p.data.flags.writeable:
                    why = "its data array is read-only"
            if why is not None:
                raise RuntimeError(f"{who}.step: cannot update {name} in place: {why}")
            g = p.grad
            if g is None:
                grads.append(None)
                continue
            g = np.asarray(getattr(g, "data", g))  # a Tensor after backward(create_graph=True): its values
            if g.shape != p.shape or g.dtype.kind != "f":
                raise ValueError(f"{who}.step: the gradient of {name} has shape {g.shape} and dtype {g.dtype}; "
                                 f"expected shape {p.shape}, a floating-point dtype (nothing was updated)")
            grads.append(g)
        return grads

    def step(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray]:
        """Optimizer state as plain arrays keyed by name (for checkpoints)."""
        return {"steps": np.asarray(self.steps)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`.  Everything is checked before anything is written: every
        entry present with its shape, finite, the step count a non-negative integer, and the
        subclass's own invariants (:meth:`_check_state`); a refusal is a ``KeyError`` or
        ``ValueError`` naming the entry, and leaves the optimizer as it was."""
        who = type(self).__name__
        if "steps" not in state:
            raise KeyError("load_state_dict: missing entry 'steps'")
        steps = np.asarray(state["steps"])
        if steps.shape != () or steps.dtype.kind not in "iu" or int(steps) < 0:
            raise ValueError(f"{who}.load_state_dict: 'steps' must be a non-negative integer, got {steps!r}")
        arrays = {key: _load(state, key, shape) for key, shape in self._state_shapes().items()}
        for key, arr in arrays.items():
            if arr.dtype.kind not in "fiu" or not np.isfinite(arr).all():
                raise ValueError(f"{who}.load_state_dict: {key!r} must hold finite numbers")
        self._check_state(int(steps), arrays)
        self.steps = int(steps)
        self._restore(arrays)

    def _state_shapes(self) -> dict[str, tuple[int, ...]]:
        return {}

    def _check_state(self, steps: int, arrays: dict[str, np.ndarray]) -> None:
        pass

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        pass


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (heavy-ball) momentum:

    v ← μ v + g;   p ← p − lr · v     (μ = 0: plain p ← p − lr · g; same form as PyTorch).
    """

    def __init__(self, params: Iterable[Tensor] | Mapping[str, Tensor], lr: float, momentum: float = 0.0) -> None:
        super().__init__(params, lr)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1), got {momentum!r}")
        self.momentum = float(momentum)
        self.velocity = [np.zeros_like(p.data) for p in self.params]

    def step(self) -> None:
        grads = self._check_writable()
        for p, g, v in zip(self.params, grads, self.velocity):
            if g is None:
                continue
            if self.momentum:
                v *= self.momentum
                v += g
                p.data -= self.lr * v
            else:
                p.data -= self.lr * g
        self.steps += 1

    def state_dict(self) -> dict[str, np.ndarray]:
        state = super().state_dict()
        state.update({f"velocity.{i}": v.copy() for i, v in enumerate(self.velocity)})
        return state

    def _state_shapes(self) -> dict[str, tuple[int, ...]]:
        return {f"velocity.{i}": v.shape for i, v in enumerate(self.velocity)}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        for i, v in enumerate(self.velocity):
            v[...] = arrays[f"velocity.{i}"]


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015), bias-corrected:

    m ← β₁m + (1−β₁)g;  s ← β₂s + (1−β₂)g²;  p ← p − lr · m̂ / (√ŝ + ε),
    m̂ = m/(1−β₁ᵏ), ŝ = s/(1−β₂ᵏ), k = number of steps taken.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Mapping[str, Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        super().__init__(params, lr)
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"Adam: betas must be in [0, 1), got {betas!r}")
        if not eps > 0:
            raise ValueError(f"Adam: eps must be positive, got {eps!r}")
        self.betas = (float(b1), float(b2))
        self.eps = float(eps)
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.s = [np.zeros_like(p.data) for p in self.params]

    def step(self) -> None:
        grads = self._check_writable()
        self.steps += 1
        b1, b2 = self.betas
        c1 = 1.0 - b1**self.steps
        c2 = 1.0 - b2**self.steps
        for p, g, m, s in zip(self.params, grads, self.m, self.s):
            if g is None:
                continue
            m *= b1
            m += (1.0 - b1) * g
            s *= b2
            s += (1.0 - b2) * g * g
            p.data -= self.lr * (m / c1) / (np.sqrt(s / c2) + self.eps)

    def state_dict(self) -> dict[str, np.ndarray]:
        state = super().state_dict()
        state.update({f"m.{i}": m.copy() for i, m in enumerate(self.m)})
        state.update({f"s.{i}": s.copy() for i, s in enumerate(self.s)})
        return state

    def _state_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = {f"m.{i}": m.shape for i, m in enumerate(self.m)}
        shapes.update({f"s.{i}": s.shape for i, s in enumerate(self.s)})
        return shapes

    def _check_state(self, steps: int, arrays: dict[str, np.ndarray]) -> None:
        """s is a running mean of g², so never negative (√ŝ would be NaN); and moments without a
        step count would be bias-corrected as if no step had been taken (÷ (1 − β⁰) = ÷ 0)."""
        for key, arr in arrays.items():
            if key.startswith("s.") and (arr < 0).any():
                raise ValueError(f"Adam.load_state_dict: {key!r} has negative entries; second moments "
                                 "(running means of g²) are never negative")
        if steps == 0 and any(arr.any() for arr in arrays.values()):
            raise ValueError("Adam.load_state_dict: 'steps' is 0 but the moments are not zero; the bias "
                             "correction needs the number of steps that made them")

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        for i, (m, s) in enumerate(zip(self.m, self.s)):
            m[...] = arrays[f"m.{i}"]
            s[...] = arrays[f"s.{i}"]


def _load(state: Mapping[str, Any], key: str, shape: tuple[int, ...]) -> np.ndarray:
    if key not in state:
        raise KeyError(f"load_state_dict: missing entry {key!r}")
    arr = np.asarray(state[key])
    if arr.shape != shape:
        raise ValueError(f"load_state_dict: {key!r} has shape {arr.shape}, expected {shape}")
    return arr


def clip_grad_norm(params: Iterable[Tensor] | Mapping[str, Tensor], max_norm: float) -> float:
    """Scale all gradients together so their global L2 norm is at most ``max_norm``.

    ‖g‖ = sqrt(Σ_p Σ_i g_{p,i}²); if ‖g‖ > max_norm every grad is multiplied by
    max_norm / ‖g‖.  Returns ‖g‖ before clipping (inf/nan are returned, not hidden).
    """
    if not max_norm > 0:
        raise ValueError(f"clip_grad_norm: max_norm must be positive, got {max_norm!r}")
    ps = [p for p in _as_list(params) if p.grad is not None]
    total = float(np.sqrt(sum(float(np.sum(np.square(getattr(p.grad, "data", p.grad)))) for p in ps)))
    if total > max_norm:
        scale = max_norm / total
        for p in ps:
            if isinstance(p.grad, Tensor):  # a gradient with history (create_graph=True): scaled, still recorded
                p.grad = p.grad * scale
            else:
                p.grad *= scale
    return total
