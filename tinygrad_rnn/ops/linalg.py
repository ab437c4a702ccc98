"""Linear algebra: matmul (eqs 1, 5, 7), addmm, dot (eq 2's scores), outer, einsum, tensordot, diagonal and trace,
and ``tg.linalg.norm``.

``norm(x, ord=None, axis=None, keepdims=False)`` follows numpy's conventions:

- a vector (1-D ``x``, or an int ``axis``): ``ord`` None or 2 is √Σx², 1 is Σ|x|, ``inf`` is max|x|,
  ``-inf`` is min|x|;
- a matrix (2-D ``x``, or a pair ``axis``): ``ord`` None or ``"fro"`` is √Σx², 1 is the largest
  column sum of |x|, ``inf`` the largest row sum, −1 / −inf the smallest;
- ``x`` of any other number of axes with ``axis=None`` and ``ord=None``: √Σx² over all of it.

The 2-norm's gradient is x/‖x‖, and 0 where ‖x‖ = 0 (PyTorch's choice: a subgradient, not NaN).
The matrix 2-norm and nuclear norm (singular values) are refused: the engine has no SVD.
"""

from __future__ import annotations

import builtins
import math
import string
from typing import TYPE_CHECKING, Any

import numpy as np

from ..op import defop
from .axes import normalize_axes
from . import elementwise
from . import reductions
from .axes import _floating, _keepdims_shape
from .elementwise import mul
from .shaping import reshape

if TYPE_CHECKING:  # for annotations only, never run: tensor.py is above the op set
    from ..tensor import Tensor


def _check_inner(name: str, a: Any, b: Any) -> None:
    sa = a.shape if type(a) is np.ndarray else np.shape(a)  # (attributes: np.shape costs a dispatch)
    sb = b.shape if type(b) is np.ndarray else np.shape(b)
    if len(sa) == 0 or len(sb) == 0:
        raise ValueError(f"{name}: operands must be at least 1-D, got shapes {sa} and {sb} (use * for scalars)")
    ka = sa[-1]
    kb = sb[0] if len(sb) == 1 else sb[-2]
    if ka != kb:
        raise ValueError(f"{name}: shapes {sa} and {sb} do not align ({ka} != {kb})")


def _promote(F: Any, g: Any, a: Any, b: Any) -> tuple[Any, Any, Any]:
    """1-D operands as matrices (a row, b a column) and g with the matching unit axes."""
    na, nb = np.ndim(F.value(a)), np.ndim(F.value(b))
    a2 = F.reshape(a, (1,) + np.shape(F.value(a))) if na == 1 else a
    b2 = F.reshape(b, np.shape(F.value(b)) + (1,)) if nb == 1 else b
    if na > 1 and nb > 1:
        return g, a2, b2
    gs = np.shape(F.value(g))
    if nb == 1:  # first: for two vectors g is 0-d and becomes (1, 1)
        gs = gs + (1,)
    if na == 1:
        gs = gs[:-1] + (1,) + gs[-1:]
    return F.reshape(g, gs), a2, b2


def _matmul_da(F: Any, g: Any, out: Any, a: Any, b: Any) -> Any:
    """∂/∂a = g @ bᵀ (batch axes are summed by the engine's broadcasting step)."""
    if not F.traced and type(b) is np.ndarray and b.ndim == 2 and a.ndim >= 2:  # the common case: one product
        return _flat_matmul(g, b.T)
    g2, _, b2 = _promote(F, g, a, b)
    ga = F.matmul(g2, F.swapaxes(b2, -1, -2))
    return F.reshape(ga, np.shape(F.value(ga))[:-2] + np.shape(F.value(ga))[-1:]) if np.ndim(F.value(a)) == 1 else ga


def _matmul_db(F: Any, g: Any, out: Any, a: Any, b: Any) -> Any:
    """∂/∂b = aᵀ @ g  (for a stack a @ b with a 2-D b: the sum over the stack, as one product
    of the stacks flattened — one large matrix product instead of many small ones and a sum)."""
    if not F.traced and type(a) is np.ndarray and b.ndim == 2 and a.ndim >= 2:
        return _rows(a).T @ _rows(g)
    g2, a2, _ = _promote(F, g, a, b)
    gb = F.matmul(F.swapaxes(a2, -1, -2), g2)
    return F.reshape(gb, np.shape(F.value(gb))[:-1]) if np.ndim(F.value(b)) == 1 else gb


@defop("matmul", saves=(0, 1), rules=(_matmul_da, _matmul_db))
def matmul(a: Any, b: Any) -> Any:
    """a @ b with numpy ``matmul`` semantics (1-D operands, batched and broadcast stacks).
    ∂/∂a = g @ bᵀ, ∂/∂b = aᵀ @ g."""
    _check_inner("matmul", a, b)
    if type(a) is np.ndarray and type(b) is np.ndarray and b.ndim == 2 and a.ndim > 2:
        return _flat_matmul(a, b)
    return np.matmul(a, b)


def _flat_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A stack a (..., n, k) times a matrix b (k, m) as one 2-D product (one BLAS call for the
    whole stack, instead of one per matrix)."""
    if a.ndim == 2:
        return a @ b
    return (_rows(a) @ b).reshape(a.shape[:-1] + (b.shape[1],))


def _rows(x: np.ndarray) -> np.ndarray:
    """A stack (..., n, k) as one (N, k) matrix; the row count is spelled out, so zero-size
    stacks and k = 0 reshape too (``reshape(-1, 0)`` is ambiguous)."""
    return x.reshape(math.prod(x.shape[:-1]), x.shape[-1])


@defop("addmm", saves=(1, 2), rules=(lambda F, g, out, c, a, b: g,
                                     lambda F, g, out, c, a, b: _matmul_da(F, g, out, a, b),
                                     lambda F, g, out, c, a, b: _matmul_db(F, g, out, a, b)))
def addmm(c: Any, a: Any, b: Any) -> Any:
    """c + a @ b in one op (PyTorch's ``addmm``; numpy matmul semantics; c broadcasts to a @ b's shape).
    ∂/∂c = 1, ∂/∂a = g @ bᵀ, ∂/∂b = aᵀ @ g.  One record where ``+`` after ``@`` makes two: an RNN
    step ``tanh(addmm(u_t, h, Wᵀ))`` records 2 ops instead of 3."""
    _check_inner("addmm", a, b)
    prod = _flat_matmul(a, b) if type(a) is np.ndarray and type(b) is np.ndarray and b.ndim == 2 and a.ndim > 2 \
        else np.matmul(a, b)
    if type(prod) is np.ndarray and type(c) is np.ndarray and c.shape == prod.shape and prod.dtype == c.dtype:
        prod += c  # in the product's fresh buffer
        return prod
    if np.broadcast_shapes(np.shape(c), np.shape(prod)) != np.shape(prod):
        raise ValueError(f"addmm: c of shape {np.shape(c)} must broadcast to the shape of a @ b, {np.shape(prod)} "
                         "(as PyTorch's addmm); write c + a @ b for the other way round")
    return np.add(prod, c)


@defop("dot", saves=(0, 1), rules=(_matmul_da, _matmul_db))
def _dot2(a: Any, b: Any) -> Any:
    """numpy ``dot`` for 1-D and 2-D operands (vector·vector, matrix·vector, matrix·matrix).
    The attention score of eq 2, A_{t,i} = h_i · h_t, is ``dot`` of two vectors."""
    if np.ndim(a) not in (1, 2) or np.ndim(b) not in (1, 2):
        raise ValueError(
            f"dot: only 1-D and 2-D operands are supported, got shapes {np.shape(a)} and {np.shape(b)}; "
            "use tg.matmul for batched operands"
        )
    _check_inner("dot", a, b)
    return np.matmul(a, b)


def _diag_rule(F: Any, g: Any, out: Any, x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1,
               ctx: Any = None) -> Any:
    xv = F.value(x)
    return F.scatter(g, ctx, xv.shape, xv.dtype, True)


@defop("diagonal", saves=(), rules=(_diag_rule,), ctx=True)
def diagonal(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """The diagonal over ``axis1``/``axis2`` (numpy's layout: the diagonal becomes the last axis).
    ∂/∂x = g placed back on that diagonal, zeros elsewhere."""
    x = np.asarray(x)
    out = np.diagonal(x, offset, axis1, axis2)
    a1, a2 = axis1 % x.ndim, axis2 % x.ndim
    n = out.shape[-1]
    rows = np.arange(n) + builtins.max(-offset, 0)
    cols = np.arange(n) + builtins.max(offset, 0)
    others = [k for k in range(x.ndim) if k not in (a1, a2)]
    d = len(others) + 1
    parts: list[Any] = [None] * x.ndim
    for j, k in enumerate(others):
        view = [1] * d
        view[j] = x.shape[k]
        parts[k] = np.arange(x.shape[k]).reshape(view)
    parts[a1] = rows.reshape((1,) * (d - 1) + (n,))
    parts[a2] = cols.reshape((1,) * (d - 1) + (n,))
    where = tuple(parts)
    return out.copy(), where


def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """Σ of the diagonal (numpy's ``trace``).   ∂/∂x = g on the diagonal."""
    return reductions.sum(diagonal(x, offset=offset, axis1=axis1, axis2=axis2), axis=-1)


@defop("outer", saves=(0, 1), rules=(
    lambda F, g, out, a, b: F.reshape(F.matmul(g, F.reshape(b, (-1,))), np.shape(F.value(a))),
    lambda F, g, out, a, b: F.reshape(F.matmul(F.reshape(a, (-1,)), g), np.shape(F.value(b))),
))
def outer(a: Any, b: Any) -> Any:
    """a ⊗ b of the flattened inputs: out_ij = a_i b_j.   ∂/∂a = g @ b, ∂/∂b = aᵀ @ g."""
    return np.outer(a, b)


_LETTERS = string.ascii_letters


def _einsum_rule(F: Any, g: Any, out: Any, *xs: Any, subscripts: str = "", i: int = 0) -> Any:
    """Input i's gradient: the same contraction with g in place of x_i, producing x_i's letters.

    Three details make it exact for every subscript numpy accepts: letters of x_i that appear
    nowhere else were summed over x_i alone (g is broadcast along them); a size-1 axis of x_i whose
    letter has size n elsewhere was broadcast by numpy (its gradient is summed back to 1, and the
    converse broadcast to x_i's size); a letter repeated within x_i (``"ii->i"``, a trace) reads
    only its diagonal, so the gradient is placed on that diagonal (times identity matrices)."""
    ins, res = subscripts.split("->")
    terms = ins.split(",")
    mine = terms[i]
    others = [t for k, t in enumerate(terms) if k != i]
    seen = set(res).union(*others) if others else set(res)
    uniq = "".join(dict.fromkeys(mine))  # x_i's letters, each once, in order
    present = "".join(c for c in uniq if c in seen)
    operands = [g] + [x for k, x in enumerate(xs) if k != i]
    part = F.einsum(",".join([res] + others) + "->" + present, *operands)
    shape = np.shape(F.value(xs[i]))
    size = {c: shape[k] for k, c in enumerate(mine)}
    got = dict(zip(present, np.shape(F.value(part))))
    summed = tuple(k for k, c in enumerate(present) if size[c] == 1 and got[c] != 1)
    if summed:  # x_i was broadcast along these by numpy
        part = F.sum(part, axis=summed, keepdims=True)
        got.update({present[k]: 1 for k in summed})
    full = tuple(size[c] for c in uniq)
    if tuple(got[c] for c in present) != full or present != uniq:
        part = F.broadcast_to(F.reshape(part, tuple(got.get(c, 1) for c in uniq)), full)
    if uniq == mine:
        return part
    fresh = iter(c for c in _LETTERS if c not in subscripts)
    letters, eyes, subs = [], [], [uniq]
    for k, c in enumerate(mine):
        if c in mine[:k]:  # a repeat: a new letter, tied to c by an identity matrix
            d = next(fresh)
            eyes.append(np.eye(size[c], dtype=np.result_type(F.value(g))))
            subs.append(c + d)
            letters.append(d)
        else:
            letters.append(c)
    return F.einsum(",".join(subs) + "->" + "".join(letters), part, *eyes)


@defop("einsum", saves=None, rules=(_einsum_rule,))
def _einsum(*xs: Any, subscripts: str) -> Any:
    """Einstein summation over explicit subscripts ``"ij,jk->ik"``.
    ∂/∂x_i = einsum of g with the other operands, giving x_i's subscripts (broadcast along letters
    only x_i had)."""
    return np.einsum(subscripts, *xs, optimize=len(xs) > 2)


def _normalise_subscripts(subscripts: str, shapes: list[tuple[int, ...]]) -> str:
    """Explicit form with ellipses spelled out as letters: "...ij,jk" → "Aij,jk->Aik"."""
    s = subscripts.replace(" ", "")
    ins, arrow, res = s.partition("->")
    terms = ins.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: {len(terms)} operand subscripts for {len(shapes)} operands")
    used = set(c for c in s if c.isalpha())
    spare = [c for c in _LETTERS if c not in used]
    n_ell = builtins.max([len(sh) - len(t.replace("...", "")) for t, sh in zip(terms, shapes) if "..." in t] or [0])
    ell = "".join(spare[:n_ell])
    out_terms = []
    for t, sh in zip(terms, shapes):
        if "..." in t:
            k = len(sh) - len(t.replace("...", ""))
            t = t.replace("...", ell[n_ell - k:] if k else "")
        if builtins.any(not c.isalpha() for c in t) or len(t) != len(sh):
            raise ValueError(f"einsum: subscripts {t!r} do not fit an operand of shape {sh}")
        for k, c in enumerate(t):
            if c in t[:k] and sh[t.index(c)] != sh[k]:
                raise ValueError(f"einsum: subscript {c!r} is repeated in {t!r} over axes of different sizes {sh}")
        out_terms.append(t)
    if arrow:
        res = res.replace("...", ell)
    else:  # implicit mode: the ellipsis letters, then the letters used once, in alphabetical order
        counts = {c: "".join(out_terms).count(c) for c in set("".join(out_terms))}
        res = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    return ",".join(out_terms) + "->" + res


def einsum(subscripts: str, *operands: Any) -> Tensor:
    """``np.einsum`` for tensors (explicit or implicit mode, with ``...``)."""
    shapes = [np.shape(getattr(x, "_data", x)) for x in operands]
    return _einsum(*operands, subscripts=_normalise_subscripts(subscripts, shapes))


def tensordot(a: Any, b: Any, axes: Any = 2) -> Tensor:
    """``np.tensordot``: contract ``axes`` of a with ``axes`` of b (an int n: a's last n with b's
    first n).  Recorded as one ``einsum``."""
    sa, sb = np.shape(getattr(a, "_data", a)), np.shape(getattr(b, "_data", b))
    if isinstance(axes, (int, np.integer)):
        axa, axb = list(range(len(sa) - axes, len(sa))), list(range(axes))
    else:
        axa, axb = ([axes[0]] if np.ndim(axes[0]) == 0 else list(axes[0])), \
            ([axes[1]] if np.ndim(axes[1]) == 0 else list(axes[1]))
    axa = list(normalize_axes(axa, len(sa), "tensordot"))
    axb = list(normalize_axes(axb, len(sb), "tensordot"))
    if len(axa) != len(axb) or builtins.any(sa[p] != sb[q] for p, q in zip(axa, axb)):
        raise ValueError(f"tensordot: shapes {sa} and {sb} do not align on axes {axa} and {axb}")
    letters = iter(_LETTERS)
    ta = [next(letters) for _ in sa]
    tb = [next(letters) for _ in sb]
    for p, q in zip(axa, axb):
        tb[q] = ta[p]
    res = [c for k, c in enumerate(ta) if k not in axa] + [c for k, c in enumerate(tb) if k not in axb]
    return _einsum(a, b, subscripts="".join(ta) + "," + "".join(tb) + "->" + "".join(res))


def dot(a: Any, b: Any) -> Tensor:
    """numpy's ``dot``, all of it: scalars multiply; 1-D and 2-D operands use the ``dot`` op;
    N-D is a sum over a's last axis and b's second-to-last (``tensordot``)."""
    na, nb = np.ndim(getattr(a, "_data", a)), np.ndim(getattr(b, "_data", b))
    if na == 0 or nb == 0:
        return mul(a, b)
    if na <= 2 and nb <= 2:
        return _dot2(a, b)
    sa, sb = np.shape(getattr(a, "_data", a)), np.shape(getattr(b, "_data", b))
    k = 0 if nb == 1 else nb - 2
    if sa[-1] != sb[k]:
        raise ValueError(f"dot: shapes {sa} and {sb} do not align (a's last axis {sa[-1]} != b's axis {k}: {sb[k]})")
    return tensordot(a, b, axes=([na - 1], [k]))


def _norm2_rule(F: Any, g: Any, out: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    shape = np.shape(F.value(x))
    kept = _keepdims_shape(shape, axis)
    n = F.reshape(out, kept)
    zero = np.equal(F.value(n), 0.0)
    safe = F.where(zero, 1.0, n)
    return F.reshape(g, kept) * F.where(np.broadcast_to(zero, shape), 0.0, x / safe)


@defop("norm2", saves=(0, "out"), rules=(_norm2_rule,))
def _norm2(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """√Σx² over ``axis`` (the 2-norm of vectors, the Frobenius norm of matrices).
    ∂/∂x = x/‖x‖ (0 where ‖x‖ = 0)."""
    x = _floating(x)
    return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A002 (numpy's name)
    """numpy's ``linalg.norm`` for tensors (see the module docstring for the orders)."""
    nd = np.ndim(getattr(x, "_data", x))
    if axis is None:
        if ord is None:
            return _norm2(x, axis=None, keepdims=keepdims)
        if nd not in (1, 2):
            raise ValueError(f"norm: ord={ord!r} needs a vector or a matrix (or axis=); got {nd} axes")
        axes: tuple[int, ...] = tuple(range(nd))
    else:
        axes = normalize_axes(axis, nd, "norm")
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) == 2:
        return _matrix_norm(x, ord, axes, keepdims)
    raise ValueError(f"norm: axis must name one axis (vector norm) or two (matrix norm), got {axis!r}")


def _vector_norm(x: Any, ord: Any, axis: int, keepdims: bool) -> Any:  # noqa: A002
    if ord is None or ord == 2:
        return _norm2(x, axis=(axis,), keepdims=keepdims)
    a = elementwise.abs(x)
    if ord == 1:
        return reductions.sum(a, axis=axis, keepdims=keepdims)
    if ord == np.inf:
        return reductions.max(a, axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return reductions.min(a, axis=axis, keepdims=keepdims)
    raise ValueError(f"norm: vector ord must be None, 1, 2, inf or -inf here, got {ord!r}")


def _matrix_norm(x: Any, ord: Any, axes: tuple[int, ...], keepdims: bool) -> Any:  # noqa: A002
    r, c = axes
    if r == c:
        raise ValueError("norm: the two axes of a matrix norm must differ")
    if ord is None or ord == "fro":
        return _norm2(x, axis=axes, keepdims=keepdims)
    if ord in (1, -1, np.inf, -np.inf):
        summed, picked = (r, c) if ord in (1, -1) else (c, r)  # column sums for 1, row sums for inf
        sums = reductions.sum(elementwise.abs(x), axis=summed, keepdims=True)
        best = (reductions.max if ord in (1, np.inf) else reductions.min)(sums, axis=picked, keepdims=True)
        if keepdims:
            return best
        return reshape(best, shape=tuple(n for k, n in enumerate(np.shape(getattr(best, "_data", best)))
                                             if k not in axes))  # (axes already normalised by norm())
    raise ValueError(f"norm: matrix ord must be None, 'fro', 1, -1, inf or -inf here (the 2-norm and the nuclear "
                     f"norm need singular values, which the engine does not have), got {ord!r}")
