"""Shape and index ops: reshape, transpose, broadcast_to, indexing and its scatter, stack/concatenate, and the
rest (flip, pad, tile, repeat, tril/triu, gathers, squeeze, moveaxis, split, roll, ...).
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..op import REQUIRED, defop
from .axes import normalize_axes, normalize_axis
from .elementwise import _grad
from .plain import _data

if TYPE_CHECKING:  # for annotations only, never run: tensor.py is above the op set
    from ..tensor import Tensor


@defop("reshape", saves=(), rules=(lambda F, g, out, x, shape=(): F.reshape(g, np.shape(F.value(x))),))
def reshape(x: Any, shape: tuple[int, ...] = REQUIRED) -> Any:
    """Same elements, new shape.   The gradient is reshaped back."""
    return np.reshape(np.asarray(x), shape)


def _transpose_rule(F: Any, g: Any, out: Any, x: Any, axes: Any = None) -> Any:
    nd = np.ndim(F.value(x))
    return F.transpose(g, None if axes is None else tuple(np.argsort([a % nd for a in axes])))


@defop("transpose", saves=(), rules=(_transpose_rule,))
def transpose(x: Any, axes: tuple[int, ...] | None = None) -> Any:
    """Permute axes (all reversed if ``axes`` is None).   The gradient is permuted back."""
    return np.transpose(np.asarray(x), axes)


@defop("broadcast_to", saves=(), rules=(_grad,))
def broadcast_to(x: Any, shape: tuple[int, ...] = REQUIRED) -> Any:
    """Repeat along broadcast axes.   The gradient is summed back — by the engine's single
    unbroadcasting step, so this rule is the identity."""
    return np.broadcast_to(x, shape)


def _is_advanced(index: Any) -> bool:
    """Integer-array indexing (repeated positions must accumulate)?  Any index part that is not
    an int, slice, None or Ellipsis counts (arrays, lists, tuples); boolean masks never repeat."""
    parts = index if type(index) is tuple else (index,)
    for p in parts:
        if isinstance(p, (int, np.integer, slice, type(None), type(Ellipsis))):
            continue
        if np.asarray(p).dtype != np.bool_:
            return True
    return False


def _getitem_rule(F: Any, g: Any, out: Any, x: Any, index: Any = None) -> Any:
    xv = F.value(x)
    return F.scatter(g, index, xv.shape, xv.dtype, _is_advanced(index))


@defop("getitem", saves=(), rules=(_getitem_rule,))
def getitem(x: Any, index: Any = REQUIRED) -> Any:
    """x[index]: slices, integers, integer arrays, boolean masks.

    ∂/∂x scatters ``g`` back into zeros (the op ``scatter``); with integer-array indices repeated
    positions **accumulate**.  In first-order backward the scatter is a :class:`SparseGrad`, which
    the walk adds into x's gradient in place instead of allocating zeros of x's shape.
    """
    x = np.asarray(x)
    out = x[index]
    return np.array(out) if not isinstance(out, np.ndarray) else out


@defop("scatter", saves=(), rules=(lambda F, g, out, v, index=None, shape=(), advanced=True: F.getitem(g, index),))
def scatter(v: Any, index: Any = REQUIRED, shape: tuple[int, ...] = REQUIRED, advanced: bool = True) -> Any:
    """zeros(shape) with v added at ``index`` (repeats accumulate): the gradient of ``getitem``
    as an op, so that indexing has a second derivative.   ∂/∂v = g[index]."""
    v = np.asarray(v)
    out = np.zeros(shape, dtype=v.dtype if v.dtype.kind == "f" else np.float64)
    if advanced:
        np.add.at(out, index, v)
    else:
        out[index] += v
    return out


def _slicer(axis: int, ndim: int, piece: Any) -> Any:
    return (slice(None),) * axis + (piece,) + (slice(None),) * (ndim - axis - 1)


def _stack_rule(F: Any, g: Any, out: Any, *xs: Any, axis: int = 0, i: int = 0) -> Any:
    nd = np.ndim(F.value(out))
    return F.getitem(g, _slicer(axis % nd, nd, i))


def _concatenate_rule(F: Any, g: Any, out: Any, *xs: Any, axis: int = 0, i: int = 0) -> Any:
    nd = np.ndim(F.value(out))
    ax = axis % nd
    start = builtins.sum(np.shape(F.value(x))[ax] for x in xs[:i])
    return F.getitem(g, _slicer(ax, nd, slice(start, start + np.shape(F.value(xs[i]))[ax])))


@defop("stack", saves=(), rules=(_stack_rule,))
def _stack(*xs: Any, axis: int = 0) -> Any:
    """Stack equal-shaped arrays along a new ``axis``.   Input i's gradient is ``g`` at index i."""
    return np.stack(xs, axis=axis)


@defop("concatenate", saves=(), rules=(_concatenate_rule,))
def _concatenate(*xs: Any, axis: int = 0) -> Any:
    """Join arrays along an existing ``axis``.   Input i's gradient is its slice of ``g``."""
    return np.concatenate(xs, axis=axis)


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """``np.stack`` for tensors: join along a new axis."""
    if len(tensors) == 0:
        raise ValueError("stack: need at least one tensor")
    return _stack(*tensors, axis=axis)


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """``np.concatenate`` for tensors: join along an existing axis."""
    if len(tensors) == 0:
        raise ValueError("concatenate: need at least one tensor")
    return _concatenate(*tensors, axis=axis)


def _flip_rule(F: Any, g: Any, out: Any, x: Any, axis: Any = None) -> Any:
    return F.flip(g, axis)


@defop("flip", saves=(), rules=(_flip_rule,))
def flip(x: Any, axis: Any = None) -> Any:
    """Reverse the order along ``axis`` (an int, a tuple, or None: all).   ∂/∂x = flip(g)."""
    return np.flip(np.asarray(x), axis).copy()


def _pad_rule(F: Any, g: Any, out: Any, x: Any, pad_width: Any = (), value: float = 0.0) -> Any:
    return F.getitem(g, tuple(slice(b, b + n) for (b, _), n in zip(pad_width, np.shape(F.value(x)))))


@defop("pad", saves=(), rules=(_pad_rule,))
def _pad(x: Any, *, pad_width: tuple[tuple[int, int], ...], value: float = 0.0) -> Any:
    """x surrounded by ``value``: ``pad_width[k] = (before, after)`` on axis k.
    ∂/∂x = g with the padding cut off."""
    return np.pad(x, pad_width, mode="constant", constant_values=value)


def pad(x: Any, pad_width: Any, value: float = 0.0) -> Tensor:
    """Constant padding, numpy's ``pad_width`` forms: an int, ``(before, after)``, or one pair per axis."""
    nd = np.ndim(getattr(x, "_data", x))
    width = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (nd, 2)) if nd else np.zeros((0, 2), np.int64)
    if (width < 0).any():
        raise ValueError(f"pad: widths must be non-negative, got {pad_width!r}")
    return _pad(x, pad_width=tuple((int(a), int(b)) for a, b in width), value=value)


def _tile_rule(F: Any, g: Any, out: Any, x: Any, reps: tuple[int, ...] = ()) -> Any:
    shape = np.shape(F.value(x))
    d = builtins.max(len(shape), len(reps))
    s = (1,) * (d - len(shape)) + tuple(shape)
    r = (1,) * (d - len(reps)) + tuple(reps)
    pairs = F.reshape(g, tuple(v for pair in zip(r, s) for v in pair))  # (r0, s0, r1, s1, ...)
    return F.reshape(F.sum(pairs, axis=tuple(range(0, 2 * d, 2))), shape)


@defop("tile", saves=(), rules=(_tile_rule,))
def _tile(x: Any, *, reps: tuple[int, ...]) -> Any:
    """x repeated as whole blocks (``np.tile``).   ∂/∂x = the sum of g over the copies."""
    return np.tile(x, reps)


def tile(x: Any, reps: Any) -> Tensor:
    """``np.tile``: ``reps`` copies along each axis."""
    reps = (int(reps),) if np.ndim(reps) == 0 else tuple(int(r) for r in reps)
    return _tile(x, reps=reps)


def _repeat_rule(F: Any, g: Any, out: Any, x: Any, repeats: int = 1, axis: Any = None) -> Any:
    shape = np.shape(F.value(x))
    if axis is None:
        return F.reshape(F.sum(F.reshape(g, (int(np.prod(shape)), repeats)), axis=1), shape)  # (n, 0) for 0 repeats
    ax = axis % len(shape)
    split = shape[:ax] + (shape[ax], repeats) + shape[ax + 1:]
    return F.sum(F.reshape(g, split), axis=ax + 1)


@defop("repeat", saves=(), rules=(_repeat_rule,))
def repeat(x: Any, repeats: int = 1, axis: int | None = None) -> Any:
    """Each element repeated ``repeats`` times along ``axis`` (None: flattened), as ``np.repeat``
    with an int.   ∂/∂x_i = the sum of g over i's copies."""
    if not isinstance(repeats, (int, np.integer)) or repeats < 0:
        raise TypeError(f"repeat: repeats must be a non-negative int, got {repeats!r}")
    return np.repeat(x, repeats, axis=axis)


def _tri_rule(F: Any, g: Any, x: Any, k: int, upper: bool) -> Any:
    return F.where(_tri_mask(np.shape(F.value(x)), k, upper), g, 0.0)


def _tri_mask(shape: tuple[int, ...], k: int, upper: bool) -> np.ndarray:
    ones = np.ones(shape[-2:], dtype=bool)
    return np.triu(ones, k) if upper else np.tril(ones, k)


def _tri(x: Any, k: int, upper: bool) -> Any:
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"{'triu' if upper else 'tril'}: needs at least 2 axes, got shape {x.shape}")
    return np.where(_tri_mask(x.shape, k, upper), x, np.zeros((), x.dtype))


@defop("tril", saves=(), rules=(lambda F, g, out, x, k=0: _tri_rule(F, g, x, k, upper=False),))
def tril(x: Any, k: int = 0) -> Any:
    """Lower triangle (on and below diagonal ``k``) of the last two axes; the rest 0.
    ∂/∂x = g on the triangle, 0 elsewhere."""
    return _tri(x, k, upper=False)


@defop("triu", saves=(), rules=(lambda F, g, out, x, k=0: _tri_rule(F, g, x, k, upper=True),))
def triu(x: Any, k: int = 0) -> Any:
    """Upper triangle (on and above diagonal ``k``) of the last two axes; the rest 0.
    ∂/∂x = g on the triangle, 0 elsewhere."""
    return _tri(x, k, upper=True)


def _full_index(shape: tuple[int, ...], axis: int, picked: np.ndarray) -> tuple[np.ndarray, ...]:
    """An integer index selecting ``picked`` along ``axis`` and everything along the other axes,
    laid out in ``picked``'s shape (for take_along_axis / gather)."""
    parts = []
    for k in range(len(shape)):
        if k == axis:
            parts.append(picked)
        else:
            view = [1] * picked.ndim
            view[k] = picked.shape[k]
            parts.append(np.arange(picked.shape[k]).reshape(view))
    return tuple(parts)


def _take_rule(F: Any, g: Any, out: Any, x: Any, indices: Any = None, axis: int = 0, ctx: Any = None) -> Any:
    xv = F.value(x)
    return F.scatter(g, ctx, xv.shape, xv.dtype, True)


@defop("take_along_axis", saves=(), rules=(_take_rule,), ctx=True)
def _take_along_axis(x: Any, *, indices: np.ndarray, axis: int) -> Any:
    """x's elements at ``indices`` along ``axis``.   ∂/∂x scatters g back (repeats accumulate)."""
    x = np.asarray(x)
    where = _full_index(x.shape, axis, indices)
    return x[where], where


def take_along_axis(x: Any, indices: Any, axis: int) -> Tensor:
    """``np.take_along_axis``: ``indices`` has x's number of axes and broadcasts against x elsewhere."""
    idx = np.asarray(getattr(indices, "data", indices))
    shape = np.shape(getattr(x, "_data", x))
    if idx.dtype.kind not in "iu" or idx.ndim != len(shape):
        raise ValueError(f"take_along_axis: indices must be integers with {len(shape)} axes like x {shape}, "
                         f"got dtype {idx.dtype}, shape {idx.shape}")
    ax = normalize_axis(axis, len(shape), "take_along_axis")
    target = tuple(n if k == ax else builtins.max(n, shape[k]) for k, n in enumerate(idx.shape))
    idx = np.broadcast_to(idx, target)
    if ((idx < -shape[ax]) | (idx >= shape[ax])).any():
        raise IndexError(f"take_along_axis: index out of range for axis {axis} of size {shape[ax]}")
    return _take_along_axis(x, indices=np.array(idx % shape[ax] if shape[ax] else idx), axis=ax)


def gather(x: Any, axis: int, index: Any) -> Tensor:
    """PyTorch's ``gather(input, dim, index)``: ``out[i][j] = x[index[i][j]][j]`` (axis 0), with
    ``index`` no larger than x along the other axes."""
    idx = np.asarray(getattr(index, "data", index))
    shape = np.shape(getattr(x, "_data", x))
    ax = normalize_axis(axis, len(shape) or 1, "gather")
    if idx.ndim != len(shape) or builtins.any(n > shape[k] for k, n in enumerate(idx.shape) if k != ax):
        raise ValueError(f"gather: index of shape {idx.shape} does not fit x of shape {shape} (axis {axis})")
    if idx.dtype.kind not in "iu" or ((idx < 0) | (idx >= shape[ax])).any():
        raise IndexError(f"gather: indices must be integers in [0, {shape[ax]}) along axis {axis}")
    return _take_along_axis(x, indices=np.array(idx), axis=ax)


def _shape_of(x: Any) -> tuple[int, ...]:
    return tuple(np.shape(_data(x)))


def squeeze(x: Any, axis: Any = None) -> Tensor:
    """Drop axes of size 1 (all, or those in ``axis``).  Recorded as ``reshape``."""
    shape = _shape_of(x)
    if axis is None:
        axes = {k for k, n in enumerate(shape) if n == 1}
    elif not shape:  # 0-d: axis 0 or -1 is allowed and changes nothing (numpy and PyTorch)
        normalize_axes(axis, 1, "squeeze")
        axes = set()
    else:
        axes = set(normalize_axes(axis, len(shape), "squeeze"))
        if any_size := [a for a in axes if shape[a] != 1]:
            raise ValueError(f"squeeze: axis {any_size[0]} has size {shape[any_size[0]]}, not 1 (shape {shape})")
    return reshape(x, shape=tuple(n for k, n in enumerate(shape) if k not in axes))


def expand_dims(x: Any, axis: Any) -> Tensor:
    """A new axis of size 1 at ``axis`` (an int or a tuple).  Recorded as ``reshape``."""
    return reshape(x, shape=np.expand_dims(np.empty(_shape_of(x), dtype=np.bool_), axis).shape)


unsqueeze = expand_dims


def flatten(x: Any, start_axis: int = 0, end_axis: int = -1) -> Tensor:
    """Axes ``start_axis..end_axis`` (inclusive) merged into one.  Recorded as ``reshape``."""
    shape = _shape_of(x)
    if not shape:
        return reshape(x, shape=(1,))
    s, e = normalize_axis(start_axis, len(shape), "flatten"), normalize_axis(end_axis, len(shape), "flatten")
    if s > e:
        raise ValueError(f"flatten: start_axis {start_axis} comes after end_axis {end_axis} (shape {shape})")
    return reshape(x, shape=shape[:s] + (int(np.prod(shape[s:e + 1])),) + shape[e + 1:])


def swapaxes(x: Any, axis1: int, axis2: int) -> Tensor:
    """Exchange two axes.  Recorded as ``transpose``."""
    nd = len(_shape_of(x))
    a1, a2 = normalize_axis(axis1, nd, "swapaxes"), normalize_axis(axis2, nd, "swapaxes")
    perm = list(range(nd))
    perm[a1], perm[a2] = perm[a2], perm[a1]
    return transpose(x, axes=tuple(perm))


def moveaxis(x: Any, source: Any, destination: Any) -> Tensor:
    """Move axes to new positions (numpy's ``moveaxis``).  Recorded as ``transpose``."""
    nd = len(_shape_of(x))
    src = [normalize_axis(int(a), nd, "moveaxis") for a in np.atleast_1d(source)]
    dst = [normalize_axis(int(a), nd, "moveaxis") for a in np.atleast_1d(destination)]
    if len(src) != len(dst) or len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ValueError(f"moveaxis: source {source!r} and destination {destination!r} must be distinct axes, "
                         "as many of each")
    order = [k for k in range(nd) if k not in src]
    for d, a in sorted(zip(dst, src)):
        order.insert(d, a)
    return transpose(x, axes=tuple(order))


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """numpy's ``split``: an int n (n equal parts; must divide the axis) or split indices.
    Each part is a ``getitem`` slice."""
    shape = _shape_of(x)
    ax = normalize_axis(axis, len(shape), "split")
    n = shape[ax]
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise ValueError(f"split: axis {axis} of size {n} does not divide into {k} equal parts "
                             "(give split indices, or use chunk)")
        bounds = list(range(0, n + 1, n // k)) if n else [0] * (k + 1)
    else:
        bounds = [0] + [builtins.min(builtins.max(int(i), 0), n) for i in indices_or_sections] + [n]
    return [getitem(x, index=(slice(None),) * ax + (slice(a, builtins.max(a, b)),))
            for a, b in zip(bounds[:-1], bounds[1:])]


def chunk(x: Any, chunks: int, axis: int = 0) -> list[Tensor]:
    """PyTorch's ``chunk``: up to ``chunks`` parts of size ⌈n/chunks⌉ (the last may be smaller)."""
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    shape = _shape_of(x)
    n = shape[normalize_axis(axis, len(shape), "chunk")]
    if n == 0:  # PyTorch: an empty axis gives `chunks` empty parts
        return split(x, [0] * (chunks - 1), axis)
    size = -(-n // chunks)
    return split(x, list(range(size, n, size)), axis)


def _roll_rule(F: Any, g: Any, out: Any, x: Any, shift: Any = 0, axis: Any = None) -> Any:
    back = -shift if np.ndim(shift) == 0 else tuple(-int(s) for s in shift)
    if axis is None:
        flat = F.reshape(g, (-1,))
        return F.reshape(F.roll(flat, back, 0), np.shape(F.value(x)))
    return F.roll(g, back, axis)


@defop("roll", saves=(), rules=(_roll_rule,))
def roll(x: Any, shift: Any = 0, axis: Any = None) -> Any:
    """Shift elements cyclically by ``shift`` along ``axis`` (None: the flattened array), as
    ``np.roll``.   ∂/∂x = g rolled back by −shift."""
    x = np.asarray(x)
    if axis is not None:
        normalize_axes(axis, x.ndim, "roll") if np.ndim(axis) else normalize_axis(axis, x.ndim, "roll")
    return np.roll(x, shift, axis=axis)


def ravel(x: Any) -> Tensor:
    """The elements as one axis (C order).  Recorded as ``reshape``."""
    return reshape(x, shape=(-1,))


def atleast_1d(x: Any) -> Tensor:
    """numpy's ``atleast_1d``: a 0-d tensor becomes shape (1,).  Recorded as ``reshape``."""
    shape = tuple(np.shape(getattr(x, "_data", x)))
    return reshape(x, shape=shape if len(shape) >= 1 else (1,))


def atleast_2d(x: Any) -> Tensor:
    """numpy's ``atleast_2d``: () → (1, 1), (n,) → (1, n).  Recorded as ``reshape``."""
    shape = tuple(np.shape(getattr(x, "_data", x)))
    return reshape(x, shape=shape if len(shape) >= 2 else (1,) * (2 - len(shape)) + shape)


def atleast_3d(x: Any) -> Tensor:
    """numpy's ``atleast_3d``: () → (1, 1, 1), (n,) → (1, n, 1), (m, n) → (m, n, 1)."""
    shape = tuple(np.shape(getattr(x, "_data", x)))
    new = {0: (1, 1, 1), 1: (1,) + shape + (1,), 2: shape + (1,)}.get(len(shape), shape)
    return reshape(x, shape=new)
