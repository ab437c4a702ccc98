"""Gradients as functions, and gradients of gradients (names a JAX or ``torch.func`` user can guess).

    f = lambda x: (x.tanh() ** 3).sum()
    df = tg.grad(f)                        # x ↦ ∂f/∂x, a Tensor with history: differentiable again
    d2 = tg.grad(lambda x: df(x).sum())    # x ↦ Σ_j ∂²f/∂x_i∂x_j
    H = tg.hessian(f)(x)                   # (n, n) for a scalar f of one (n,) input
    hv = tg.hvp(f, (x,), (v,))             # H v without forming H
    out, vjp_fn = tg.vjp(f, x)             # vjp_fn(u) = uᵀ J
    out, jv = tg.jvp(f, (x,), (u,))        # J u (forward mode by the double-VJP trick)
    gs = tg.gradients(out, [x, h])         # ∂out/∂x, ∂out/∂h for any tensors (torch.autograd.grad)

All of them run the recorded backward walk (:func:`tinygrad_rnn.backward.traced_walk`): every
built-in rule is written once with engine ops, so a gradient is a graph like any other.  Inputs
that are arrays (or Tensors that do not require grad) become fresh leaves; Tensors that require
grad are used as they are, so the functions nest (``grad(grad(f))``).

Forward-mode ``jvp`` uses the double-VJP trick: with u ↦ vjp(u) = Jᵀu linear in u, J·t is the
gradient of ⟨vjp(u), t⟩ with respect to u.  It costs two backward passes.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .backward import traced_walk
from .ops import stack
from .tensor import Tensor, seed_tensor

__all__ = ["gradients", "grad", "value_and_grad", "vjp", "jvp", "hvp", "hessian"]


def gradients(outputs: Tensor, inputs: Sequence[Tensor] | Tensor, grad_outputs: Any = None,
              create_graph: bool = True) -> list[Tensor]:
    """∂outputs/∂input (contracted with ``grad_outputs``; 1 for a one-element output) for each
    input — leaf or not — without touching any ``.grad``.  Inputs the output does not depend on
    get zeros.  With ``create_graph=True`` (default) the results have history and can be
    differentiated again; with ``False`` they are detached."""
    single = isinstance(inputs, Tensor)
    ins = [inputs] if single else list(inputs)
    for k, x in enumerate(ins):
        if not isinstance(x, Tensor) or not x.requires_grad:
            raise TypeError(f"gradients: input {k} must be a Tensor that requires grad, got {x!r}")
    if not outputs.requires_grad:
        found: dict[int, Any] = {}
    else:
        found = traced_walk(outputs, seed_tensor(outputs, grad_outputs), ins)
    result = []
    for x in ins:
        g = found.get(id(x))
        if g is None:
            g = Tensor(np.zeros(x.shape, dtype=x.dtype))
        elif not isinstance(g, Tensor):
            g = Tensor(g)
        result.append(g if create_graph else g.detach())
    return result[0] if single else result


def _as_leaves(args: Sequence[Any], argnums: Sequence[int]) -> list[Any]:
    out = list(args)
    for i in argnums:
        a = out[i]
        if not (isinstance(a, Tensor) and a.requires_grad):
            data = a.data if isinstance(a, Tensor) else np.asarray(a, dtype=np.float64)
            out[i] = Tensor(data, requires_grad=True)
    return out


def _argnums(argnums: int | Sequence[int]) -> tuple[tuple[int, ...], bool]:
    if isinstance(argnums, int):
        return (argnums,), True
    return tuple(argnums), False


def value_and_grad(f: Callable[..., Tensor], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """``x ↦ (f(x), ∂f/∂x)`` for a scalar-valued ``f`` (JAX's ``value_and_grad``)."""
    nums, single = _argnums(argnums)

    def wrapped(*args: Any) -> Any:
        ins = _as_leaves(args, nums)
        out = f(*ins)
        if not isinstance(out, Tensor) or out.size != 1:
            raise TypeError(f"grad: f must return a one-element Tensor, got {getattr(out, 'shape', type(out).__name__)}")
        gs = gradients(out, [ins[i] for i in nums])
        return out, (gs[0] if single else tuple(gs))

    return wrapped


def grad(f: Callable[..., Tensor], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """``x ↦ ∂f/∂x`` for a scalar-valued ``f``: a function returning a Tensor with history, so
    ``grad(grad(...))`` works (JAX's ``grad``, ``torch.func.grad``)."""
    vg = value_and_grad(f, argnums)
    return lambda *args: vg(*args)[1]


def vjp(f: Callable[..., Tensor], *primals: Any) -> tuple[Tensor, Callable[[Any], Any]]:
    """``(f(*primals), u ↦ uᵀ ∂f/∂primals)``; the returned function gives one gradient per primal
    (a single one for a single primal), each differentiable."""
    ins = _as_leaves(primals, range(len(primals)))
    out = f(*ins)

    def vjp_fn(cotangent: Any) -> Any:
        gs = gradients(out, ins, grad_outputs=cotangent)
        return gs[0] if len(gs) == 1 else tuple(gs)

    return out, vjp_fn


def jvp(f: Callable[..., Tensor], primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Tensor, Tensor]:
    """``(f(*primals), J · tangents)``: the directional derivative, by the double-VJP trick."""
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    ins = _as_leaves(primals, range(len(primals)))
    _check_tangents("jvp", ins, tangents)
    out = f(*ins)
    u = Tensor(np.zeros(out.shape, dtype=out.dtype), requires_grad=True)  # the cotangent, a dummy variable
    gs = gradients(out, ins, grad_outputs=u)
    inner = None
    for g, t in zip(gs, tangents):
        term = (g * (t if isinstance(t, Tensor) else np.asarray(t))).sum()  # a Tensor t: differentiable in t
        inner = term if inner is None else inner + term
    return out, gradients(inner, u)


def hvp(f: Callable[..., Tensor], primals: Sequence[Any], tangents: Sequence[Any]) -> Any:
    """The Hessian of a scalar ``f`` times ``tangents``, without forming the Hessian:
    ∇(⟨∇f, v⟩).  One result per primal (a single one for a single primal)."""
    if len(primals) != len(tangents):
        raise ValueError(f"hvp: {len(primals)} primals but {len(tangents)} tangents")
    ins = _as_leaves(primals, range(len(primals)))
    _check_tangents("hvp", ins, tangents)
    out = f(*ins)
    if out.size != 1:
        raise TypeError(f"hvp: f must return a one-element Tensor, got shape {out.shape}")
    gs = gradients(out, ins)
    inner = None
    for g, v in zip(gs, tangents):
        term = (g * (v if isinstance(v, Tensor) else np.asarray(v))).sum()
        inner = term if inner is None else inner + term
    hs = gradients(inner, ins)
    return hs[0] if len(hs) == 1 else tuple(hs)


def _check_tangents(name: str, primals: Sequence[Tensor], tangents: Sequence[Any]) -> None:
    """Each tangent has its primal's shape (a broadcast one would give a number, silently wrong)."""
    for k, (x, t) in enumerate(zip(primals, tangents)):
        if tuple(np.shape(t.data if isinstance(t, Tensor) else t)) != tuple(x.shape):
            raise ValueError(f"{name}: tangent {k} has shape {np.shape(getattr(t, 'data', t))} but its primal has "
                             f"shape {x.shape}; give one tangent of each primal's shape")


def hessian(f: Callable[..., Tensor], argnum: int = 0) -> Callable[..., Tensor]:
    """``x ↦ ∂²f/∂x²`` for a scalar ``f``: a Tensor of shape ``x.shape + x.shape`` (one recorded
    backward pass per entry of x, over the gradient's graph)."""

    def wrapped(*args: Any) -> Tensor:
        ins = _as_leaves(args, (argnum,))
        x = ins[argnum]
        out = f(*ins)
        if out.size != 1:
            raise TypeError(f"hessian: f must return a one-element Tensor, got shape {out.shape}")
        (g,) = gradients(out, [x])
        flat = g.reshape(-1)
        rows = [gradients(flat[k], x) for k in range(flat.shape[0])]
        return stack(rows).reshape(*(x.shape + x.shape))

    return wrapped
