"""``tg.compile``: trace a step once, replay it as generated straight-line numpy, forward and backward.

    step = tg.compile(lambda X, Y: model.loss(X, Y))   # the function returns the loss
    loss = step(X, Y)          # first call: eager (traced); it returns the loss and fills every .grad
    loss = step(X2, Y2)        # same signature: the replay, the same numbers bit for bit
    print(step.source(X, Y))   # the generated forward and backward, annotated with scopes and tags

**What a call does.** ``step(*args)`` is ``loss = fn(*args); loss.backward(); return loss.detach()``
(with ``backward=False``: ``fn(*args)`` detached, and nothing is differentiated).  The first call
with a given **signature** runs ``fn`` eagerly while every op call is recorded (a trace), then builds
the replay: Python source calling each op's numpy forward and each VJP rule, in the order the
eager walk would (the same numpy calls on the same values in the same order, so the same bits),
with the walk's accumulation (pending sums, broadcasting undone by ``fit_gradient``, ``.grad``
accumulated as ``backward()`` does).  Later calls with the same signature run the replay: no
Tensor, Record or saved-data bookkeeping per op.

**How each op is written.**  A forward or rule is, in this order of preference, (1) *specialised*
to the signature (:mod:`~tinygrad_rnn.specialising`: its branches on shapes, dtypes and static
arguments taken once, its numpy calls written out in order), (2) *inlined* as the one expression it
is (:mod:`~tinygrad_rnn.inlining`), or (3) *called*, its result checked when it runs as the walk
checks it.  (1) and (2) are run once when the program is built, on the traced values: a forward must
give the traced output bit for bit, a specialised rule the rule's own result, else the op is called.
The walk's sums of an intermediate's gradient are written out too (``g = a``; ``p = a``, ``p = p +
b``, ``p += c``; a sparse part as ``p[index] += g``), with whether the pending sum is a buffer of
its own known when the program is built.  Buffers are not reused across calls (``out=``): measured,
it saves under 3 % of a ufunc or matmul at every size here once the allocator reuses freed memory
(``tg.reuse_freed_memory()``), and a reused buffer is a way to hand out a value a later call writes.

**The contract** is that a replay equals ``fn`` called with Tensors: an array argument is traced as
a Tensor (``requires_grad=False``), so a function that branches on ``isinstance(x, Tensor)`` is
traced, and replayed, down its Tensor branch.

**The signature**: for each argument, a Tensor or array by (shape, dtype, requires_grad), anything
else (numbers, strings, tuples, None) by value (a *static* argument); the grad mode; and, checked at
every call, the shape and dtype of every tensor the function read from outside (model parameters in
a closure).  A change traces again; the last ``cache_size`` signatures are kept (least recently used
dropped; ``step.traces`` counts traces).

**Correct or loud.** While tracing, reading a value (``.data``, ``.numpy()``, ``.item()``,
``float(t)``, ``bool(t)`` — an ``if`` on a tensor —, ``np.asarray(t)``, ``tolist()``,
``format(t, spec)``) is a :class:`~tinygrad_rnn.tracing.TraceError` naming the line, as is
``backward()`` inside ``fn``, drawing from numpy's global generator, Python's ``random`` or
``tg``'s default generator (the replay would repeat the same draws), calling a compiled function
inside another's trace, ``retain_grad()`` on an intermediate, and an argument or captured tensor that
is itself the output of a recorded graph.  Tensors read from outside are read again at every call
(an optimizer's in-place update is seen); arrays and numbers used as constants inside ``fn`` are
kept by reference, as the eager function would keep them; and while a replay runs, the captured
tensors' arrays are read-only (another thread's update in the middle is an error, not a torn
value).  Calls are serialised by a lock (threads may share a compiled function); ``check=True``
runs the eager function too at every replay and raises if any value or gradient differs by a bit.
Under ``tg.detect_anomaly()`` a call runs eagerly.

The returned loss is a new leaf each call: no buffer handed out is ever written by a later replay.
"""

from __future__ import annotations

import ast
import builtins
import functools
import keyword
import random as _pyrandom
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from . import random as _tgrandom
from . import tracing
from .backward import _GRAD_LOCK, _accumulate, checked_gradient, fit_gradient
from .funcs import NP, SparseGrad
from .inlining import Inlined, inline
from .specialising import S, _index_text, _is_static, dynamic, specialise
from .op import Op
from .recording import state
from .tensor import Tensor
from .tracing import TraceError

__all__ = ["compile", "Compiled", "TraceError"]

_ndarray = np.ndarray


# ----------------------------------------------------------------------------- the trace
class _Entry:
    """One op call seen while tracing."""

    __slots__ = ("op", "args", "kwargs", "out", "vjps", "ctx", "rec", "scope", "tags", "closure", "plain")

    def __init__(self, op: Op, args: tuple, kwargs: dict, out: Tensor, vjps: Any, ctx: Any) -> None:
        self.op, self.args, self.kwargs, self.out, self.ctx = op, args, kwargs, out, ctx
        rec = out.record
        self.rec = rec
        self.closure = op.rules_per_call
        self.vjps = None if rec is None else rec.vjps          # kept: backward() frees the record
        self.plain = None if rec is None else rec.plain
        st = state()
        self.scope, self.tags = st.scope_name, dict(st.tags)


class _Tracer:
    def __init__(self, name: str) -> None:
        self.name = name
        self.entries: list[_Entry] = []

    def op(self, op: Op, args: tuple, kwargs: dict, arrays: list, out: Tensor, vjps: Any, ctx: Any) -> None:
        self.entries.append(_Entry(op, args, kwargs, out, vjps, ctx))


class _Traced(Tensor):
    """The tensor a compiled function receives for an array argument while it is traced."""


def _rng_states() -> tuple:
    return (np.random.get_state()[1].tobytes(), np.random.get_state()[2], _pyrandom.getstate(),
            repr(_tgrandom.default_generator().bit_generator.state))


# ----------------------------------------------------------------------------- the replay's helpers
def _fit(gx: Any, shape: tuple, dtype: Any, rec: Any, i: int) -> Any:
    """``Gradients.gradient``'s check of a rule's result, exactly (the same fast path)."""
    if type(gx) is SparseGrad:
        return gx
    if type(gx) is not _ndarray or gx.dtype is not dtype or gx.shape != shape:
        return checked_gradient(gx, shape, dtype, rec, i)
    return gx


def _acc(prev: Any, owned: bool, gx: Any) -> tuple[Any, bool]:
    """``Gradients.add`` for an intermediate's pending gradient, exactly: (new pending, owned)."""
    if type(gx) is SparseGrad:
        if prev is None:
            return gx.dense(), True
        if not owned:
            prev = prev.copy()
        gx.add_into(prev)
        return prev, True
    if prev is None:
        return gx, False
    if owned:
        prev += gx
        return prev, True
    total = prev + gx
    return (total if type(total) is _ndarray else np.asarray(total)), True


def _arrive(g: Any) -> Any:
    g.setflags(write=False)  # as the walk: rules must not write into g
    return g


def _leaf(x: Tensor, g: Any, rec: Any) -> np.ndarray:
    """A leaf's first gradient in this call, added as ``backward()`` adds it (a copy into an empty
    ``.grad``, else in place); its later ones are added in place into what this returns."""
    _accumulate(x, g, rec)
    grad = x.grad
    if type(grad) is not _ndarray:
        raise TypeError(f"tg.compile: {x._label()}.grad is a {type(grad).__name__}; expected a numpy array")
    return grad


def _into(grad: np.ndarray, g: Any) -> None:
    """``grad += g`` for a dense or sparse ``g`` (a leaf's later gradients)."""
    if type(g) is SparseGrad:
        g.add_into(grad)
    else:
        grad += g


# ----------------------------------------------------------------------------- probes
# When the program is built, every inlined expression is run once on the traced values (and on ones
# for the upstream gradient): a forward must give the traced output bit for bit, and a rule's result
# says how it is fitted to its input.  An expression of numpy calls on arrays of fixed shapes and
# dtypes has a result of fixed type, shape and dtype (numpy ≥ 2's promotion depends on dtypes only,
# NEP 50), so that check is made once per signature; on numpy 1 every rule's result is checked when
# it runs, as the walk does.
_STATIC_TYPES = np.lib.NumpyVersion(np.__version__) >= "2.0.0"


def _literal(x: Any) -> bool:
    t = type(x)
    if x is None or t is bool or t is int or t is str:
        return True
    if t is float:
        return bool(np.isfinite(x))
    return t is tuple and all(_literal(y) for y in x)


def _ones(a: np.ndarray) -> np.ndarray:
    g = np.ones(a.shape, a.dtype)
    g.setflags(write=False)
    return g


def _run(text: str, ns: dict, env: dict, prelude: tuple[str, ...] = ()) -> Any:
    local = dict(env)
    with np.errstate(all="ignore"):
        for line in prelude:
            exec(line, ns, local)  # noqa: S102 (our own generated statements)
        return eval(text, ns, local)  # noqa: S307 (our own generated expression)


def _probe_forward(e: _Entry, inl: Inlined | None, ns: dict, env: dict) -> tuple[str, bool, tuple] | None:
    """An inlined forward's text, whether it needs ``np.asarray`` (a 0-d result) and the statements
    it needs first, if it reproduces the traced output bit for bit; else None (the op is called)."""
    if inl is None or not inl.pure:
        return None
    try:
        r = _run(inl.text, ns, env, inl.prelude)
    except Exception:
        return None
    if e.op.has_ctx:
        if type(r) is not tuple or len(r) != 2:
            return None
        r = r[0]
    want = e.out._data
    if type(r) is _ndarray:
        return (inl.text, False, inl.prelude) if _same(r, want) else None
    if isinstance(r, np.generic) and _same(np.asarray(r), want):
        return inl.text, True, inl.prelude
    return None


def _specialised(fn: Any, args: list, kwargs: dict, env: dict, ns: dict, bind: Callable[[str, Any], str],
                 fresh: Callable[[Any, str], str]) -> Inlined | None:
    """``fn`` specialised to this signature (:mod:`~tinygrad_rnn.specialising`), as an :class:`Inlined`
    (pure: the specialiser ran it on read-only inputs)."""
    sp = specialise(fn, args, kwargs, env, ns, bind, fresh, _rng_states)
    if sp is None:
        return None
    return Inlined(sp.text, True, tuple(sp.prelude))


class _Sums:
    """``fit_gradient``'s ``F`` for a probe: numpy's sum, each call's axes written down, so the replay
    makes the same sums without a second copy of how broadcasting is undone."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, bool]] = []

    def sum(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        self.calls.append((axis, keepdims))
        return NP.sum(x, axis=axis, keepdims=keepdims)


def _probe_rule(inl: Inlined | None, xd: np.ndarray, rec: Any, i: int, ns: dict, env: dict,
                bind: Callable[[str, Any], str], reference: str | None = None) -> tuple[str, str] | None:
    """An inlined rule's text, fitted to its input as :func:`~tinygrad_rnn.backward.checked_gradient`
    would fit it (the same numpy calls), and its kind ('dense' or 'sparse'); None if the rule must
    be called and checked when it runs."""
    if inl is None or not inl.pure or not _STATIC_TYPES:
        return None
    try:
        r = _run(inl.text, ns, env, inl.prelude)
        if reference is not None and not _same_raw(r, _run(reference, ns, env)):
            return None  # the residual must give what the rule gives, bit for bit
    except Exception:
        return None
    if type(r) is SparseGrad:
        return (inl.text, "sparse") if r.shape == xd.shape and r.dtype == xd.dtype else None
    if type(r) is _ndarray and r.dtype is xd.dtype and r.shape == xd.shape:
        return inl.text, "dense"
    try:
        want = checked_gradient(r, xd.shape, xd.dtype, rec, i)
    except Exception:
        return None
    text = inl.text
    g = r
    if type(g) is not _ndarray:
        text, g = f"_asarray({text})", np.asarray(g)
    sums = _Sums()
    g = fit_gradient(g, xd.shape, rec, i, sums)  # broadcasting undone by the walk's own step, its sums written down
    for axis, keepdims in sums.calls:
        text = f"np.sum({text}, axis={axis!r}, keepdims={keepdims!r})"
    if type(g) is not _ndarray:
        text, g = f"_asarray({text})", np.asarray(g)
    if g.dtype != xd.dtype:
        text = f"({text}).astype({bind('dt_' + xd.dtype.name, xd.dtype)})"
    try:
        got = _run(text, ns, env, inl.prelude)
    except Exception:
        return None
    if type(got) is not _ndarray or got.dtype != xd.dtype or not _same(got, want):
        return None
    return text, "dense"


# ----------------------------------------------------------------------------- building a program
class _Program:
    """One signature's replay: generated source, compiled once."""

    def __init__(self, fn_name: str, tracer: _Tracer, arg_tensors: list, out: Tensor, aux: list[Tensor],
                 backward: bool) -> None:
        self.backward = backward
        names: dict[int, str] = {}
        self.captured: list[Tensor] = []
        self.consts: list[Any] = []
        ns: dict[str, Any] = {"NP": NP, "np": np, "_fit": _fit, "_acc": _acc, "_arrive": _arrive, "_leaf": _leaf,
                              "_into": _into, "_LOCK": _GRAD_LOCK, "_asarray": np.asarray, "_nd": _ndarray}
        self.ns = ns
        lines: list[str] = []
        self.arg_positions = []
        for k, t in enumerate(arg_tensors):
            if t is not None:
                names[id(t)] = f"a{k}"
                self.arg_positions.append(k)
        fn_names: dict[Any, str] = {}
        taken: set[str] = set(keyword.kwlist) | {"A", "C", "replay"}

        def fresh(label: Any, fallback: str) -> str:
            """A variable name: the tensor's own name when it is a free identifier (W, h_1, α_2), else ``fallback``."""
            base = label if isinstance(label, str) and label.isidentifier() and not label.startswith("_") else fallback
            n, j = base, 1
            while n in taken or n in ns:
                j += 1
                n = f"{base}_{j}"
            taken.add(n)
            return n

        def fname(obj: Any, base: str) -> str:
            key = id(obj)
            if key not in fn_names:
                n = base
                j = 1
                while n in ns or n in taken:
                    j += 1
                    n = f"{base}_{j}"
                ns[n] = obj
                fn_names[key] = n
            return fn_names[key]

        env: dict[str, Any] = {}  # variable name -> its traced value (what the build's probes run on)

        def value(x: Any) -> str:
            if isinstance(x, Tensor):
                key = id(x)
                if key not in names:  # read from outside (a closure), or created inside fn without an op
                    if x.record is not None:
                        raise TraceError(
                            f"tg.compile: {fn_name} uses {x._label()}, the output of a recorded graph made outside "
                            "it; its gradient would stop here. Pass it detached, or compute it inside the function"
                        )
                    names[key] = fresh(x.name, f"c{len(self.captured)}")
                    self.captured.append(x)
                env.setdefault(names[key], x._data)
                return names[key]
            return bind("k", x)

        def bind(label: str, x: Any) -> str:
            """Text for a value the code uses: a literal, or a name in the namespace (``np``, a constant)."""
            if _literal(x):
                return repr(x)
            for j in range(1, 10_000):  # (lazily: most labels are free or found at once)
                n = label if j == 1 else f"{label}_{j}"
                if n in ns and ns[n] is x:
                    return n
                if n not in ns and n not in taken:
                    ns[n] = x
                    if label == "k":
                        self.consts.append(x)
                    return n
            raise RuntimeError("tg.compile: out of names")  # pragma: no cover

        def argval(text: str, x: Any) -> Any:
            """An argument as the specialiser sees it: a Tensor's or array's value is dynamic (it
            changes per call), a number, string or tuple given to the op is static."""
            if isinstance(x, (Tensor, np.ndarray)) or not _is_static(x):
                return dynamic(text)
            return S(x, text)

        # forward: each op's numpy expression (inlined when its forward is one), else a call
        fwd: list[str] = []
        slot: list[str] = []  # entry j's variable name
        for j, e in enumerate(tracer.entries):
            ins = [value(a) for a in e.args]
            kw = {k: bind(k, x) for k, x in e.kwargs.items()}
            v = fresh(e.out.name, f"v{j}")
            names[id(e.out)] = v
            slot.append(v)
            if e.closure:
                target = f"{v}, vj_{v}"
            elif e.op.has_ctx:
                target = f"{v}, x_{v}"
            else:
                target = v
            note = _note(e)
            text = None
            if not e.closure:  # specialised to this signature, else inlined as it is, else called
                if _STATIC_TYPES:
                    text = _probe_forward(e, _specialised(e.op.fn, [argval(t, a) for t, a in zip(ins, e.args)],
                                          {k: argval(kw[k], x) for k, x in e.kwargs.items()}, env, ns, bind, fresh),
                                          ns, env)
                if text is None:
                    text = _probe_forward(e, inline(e.op.fn, ins, kw, bind), ns, env)
            if text is not None:
                fwd.extend(f"    {line}" for line in text[2])
                fwd.append(f"    {target} = {text[0]}{note}")
                if text[1]:
                    fwd.append(f"    {v} = _asarray({v})  # a 0-d array, as the op returns")
            else:
                f = fname(e.op.fn, _ident(e.op.name))
                call = f"{f}({', '.join(ins)}"
                if e.kwargs:
                    call += f"{', ' if ins else ''}**{fname(e.kwargs, f'kw_{_ident(e.op.name)}')}"
                fwd.append(f"    {target} = {call}){note}")
                fwd.append(f"    if type({v}) is not _nd: {v} = _asarray({v})")
            env[v] = e.out._data
            if e.ctx is not None:
                env[f"x_{v}"] = e.ctx
        self.entries = tracer.entries
        self.out_name = names.get(id(out)) or value(out)
        self.aux_names = [names.get(id(a)) or value(a) for a in aux]

        # backward: the walk's order over the records reachable from the loss
        bwd: list[str] = []
        if backward:
            recs = {id(e.out): j for j, e in enumerate(tracer.entries) if e.rec is not None}
            reach: set[int] = set()
            stack = [id(out)]
            while stack:
                key = stack.pop()
                j = recs.get(key)
                if j is None or j in reach:
                    continue
                reach.add(j)
                stack.extend(id(x) for _, x in tracer.entries[j].rec.parents)
            order = sorted(reach, reverse=True)
            root_j = recs[id(out)]
            # every rule's text and what it gives: 'dense' (a fitted ndarray, known when the program is
            # built), 'sparse' (a SparseGrad of the input's shape) or 'unknown' (checked when it runs)
            got: set[int] = {root_j}
            plan: list[tuple[int, list[tuple[int, Any, str, str, bool]]]] = []
            for j in order:
                if j not in got:
                    continue  # no gradient arrived (as the walk: g is None)
                e = tracer.entries[j]
                v = slot[j]
                env[f"g_{v}"] = _ones(e.out._data)
                ins = [value(a) for a in e.args]
                kw = {k: bind(k, x) for k, x in e.kwargs.items()}
                rules = []
                for i, x in e.rec.parents:
                    if e.vjps[i] is None:
                        continue
                    xd = x._data
                    recname = fname(e.rec, f"rec{j}")
                    if e.closure:
                        rule = f"vj_{v}[{i}](g_{v})"
                    else:
                        r = fname(e.vjps[i], f"{_ident(e.op.name)}_rule{i}")
                        extra = []
                        if e.kwargs:
                            extra.append(f"**{fname(e.kwargs, f'kw_{_ident(e.op.name)}')}")
                        if e.op.has_ctx:
                            extra.append(f"ctx=x_{v}")
                        if e.op.n_inputs is None:
                            extra.append(f"i={i}")
                        rule = f"{r}(NP, g_{v}, {v}, {', '.join(ins + extra)})"
                    inl = None
                    fitted = None
                    if not e.closure:  # specialised to this signature, else inlined as it is, else called
                        if _STATIC_TYPES:
                            skw = {k: argval(kw[k], x) for k, x in e.kwargs.items()}
                            if e.op.has_ctx:
                                skw["ctx"] = dynamic(f"x_{v}")
                            if e.op.n_inputs is None:
                                skw["i"] = S(i)
                            inl = _specialised(e.vjps[i], [S(NP, "NP"), dynamic(f"g_{v}"), dynamic(v)]
                                               + [argval(t, a) for t, a in zip(ins, e.args)], skw, env, ns, bind, fresh)
                            # a residual is checked against the rule itself
                            fitted = _probe_rule(inl, xd, e.rec, i, ns, env, bind, reference=rule)
                        if fitted is None:
                            rkw = dict(kw)
                            if e.op.has_ctx:
                                rkw["ctx"] = f"x_{v}"
                            if e.op.n_inputs is None:
                                rkw["i"] = repr(i)
                            inl = inline(e.vjps[i], ["NP", f"g_{v}", v, *ins], rkw, bind, rule=True)
                            fitted = _probe_rule(inl, xd, e.rec, i, ns, env, bind)
                    if fitted is not None:
                        text, kind, pure, prelude = fitted[0], fitted[1], True, inl.prelude
                    else:
                        dt = fname(xd.dtype, "dt_" + xd.dtype.name)
                        text, kind, pure = f"_fit({rule}, {xd.shape!r}, {dt}, {recname}, {i})", "unknown", False
                        prelude = ()
                    if kind == "sparse" and _sparse_parts(text, ns) is not None:
                        kind = "scatter"  # a SparseGrad made in the text: its adds are written out
                    k = recs.get(id(x))
                    rules.append((i, x if k is None else k, text, kind, pure, prelude))
                    if k is not None:
                        got.add(k)
                plan.append((j, rules))
            # how each intermediate's gradient is summed: specialised when every part is dense
            parts: dict[int, list[str]] = {}
            for _, rules in plan:
                for _, target, _, kind, _, _ in rules:
                    if type(target) is int:
                        parts.setdefault(target, []).append(kind)
            guard = {j: any(not r[4] for r in rules) for j, rules in plan}
            seen: dict[int, int] = {}
            owned: dict[int, bool] = {}
            leaves: set[int] = set()
            for j, rules in plan:
                e = tracer.entries[j]
                v = slot[j]
                kinds = parts.get(j, [])
                if j == root_j:
                    ns["_seed_of"] = np.ones_like
                    start = f"_seed_of({v})"
                elif len(kinds) == 1 and kinds[0] in ("dense", "scatter"):
                    start = None  # its one part was written straight into g_v
                else:
                    start = f"p_{v}"
                first = len(bwd)
                if guard[j]:
                    bwd.append(f"g_{v} = _arrive({start or f'g_{v}'})")
                elif start is not None:
                    bwd.append(f"g_{v} = {start}")
                for i, target, text, kind, _, prelude in rules:
                    bwd.extend(prelude)
                    if type(target) is not int:  # a leaf: add into its .grad
                        n = names[id(target)]
                        if id(target) not in leaves:
                            leaves.add(id(target))
                            bwd.append(f"G_{n} = _leaf({n}_t, {text}, {fname(e.rec, f'rec{j}')})  # into {n}.grad")
                        elif kind == "dense":
                            bwd.append(f"G_{n} += {text}  # into {n}.grad")
                        else:
                            bwd.append(f"_into(G_{n}, {text})  # into {n}.grad")
                        continue
                    u = slot[target]
                    kinds = parts[target]
                    m = seen.get(target, 0)
                    seen[target] = m + 1
                    tail = "" if m == 0 else f"  # another use of {u}: add"
                    if any(k not in ("dense", "scatter") for k in kinds):
                        prev = "None, False" if m == 0 else f"p_{u}, o_{u}"
                        bwd.append(f"p_{u}, o_{u} = _acc({prev}, {text}){tail}")
                        continue
                    # the walk's sum (Gradients.add), written out: whether the pending sum is a buffer
                    # of its own is known here, from the kinds of the parts before
                    acc = f"g_{u}" if len(kinds) == 1 else f"p_{u}"
                    if kind == "scatter":
                        index, values, shape, dtype, advanced = _sparse_parts(text, ns)
                        if m == 0:
                            bwd.append(f"{acc} = np.zeros({shape}, dtype={dtype}){tail}")
                        elif not owned[target]:
                            bwd.append(f"{acc} = {acc}.copy(){tail}")
                        owned[target] = True
                        if advanced:
                            bwd.append(f"np.add.at({acc}, {index}, {values})  # repeated positions accumulate")
                        else:
                            bwd.append(f"{acc}[{index}] += {values}")
                    elif len(kinds) == 1:
                        bwd.append(f"g_{u} = {text}")
                    elif m == 0:
                        bwd.append(f"p_{u} = {text}")
                        owned[target] = False
                    elif not owned[target]:
                        total = f"p_{u} + {text}"
                        if tracer.entries[target].out._data.ndim == 0:
                            total = f"_asarray({total})"
                        bwd.append(f"p_{u} = {total}{tail}")
                        owned[target] = True
                    else:
                        bwd.append(f"p_{u} += {text}{tail}")
                if len(bwd) > first:  # the op's name, scope and tags on its first line
                    line, _, comment = bwd[first].partition("  # ")
                    bwd[first] = line + _note(e) + (f"; {comment}" if comment else "")
            bwd = ["    with _LOCK:  # every .grad this call adds into is ours until it returns"] + [
                f"        {line}" for line in bwd]
        # the function
        head = ["def replay(A, C):"]
        for k in self.arg_positions:
            if type(arg_tensors[k]) is _Traced:  # an array argument: the array itself is passed
                head.append(f"    a{k} = A[{k}]")
            else:
                head.append(f"    a{k}_t = A[{k}]")
                head.append(f"    a{k} = a{k}_t._data")
        for n, t in enumerate(self.captured):
            c = names[id(t)]
            head.append(f"    {c}_t = C[{n}]  # {t._label()}, read from outside")
            head.append(f"    {c} = {c}_t._data")
        outs = ", ".join([self.out_name] + self.aux_names)
        lines = head + ["    # forward"] + fwd + (["    # backward"] + bwd if bwd else []) + [f"    return ({outs},)"]
        self.source = "\n".join(lines) + "\n"
        code = builtins.compile(self.source, f"<tg.compile {fn_name}>", "exec")
        exec(code, ns)
        self.replay = ns["replay"]
        self.guards = [(t.shape, t.dtype, t.requires_grad) for t in self.captured]
        self.array_positions = [k for k in self.arg_positions if type(arg_tensors[k]) is _Traced]
        self.grad_targets = [t for t in self.captured if t.requires_grad]

    def guards_hold(self) -> bool:
        """Every tensor read from outside still has the shape, dtype and requires_grad it was traced with."""
        for t, (shape, dtype, rg) in zip(self.captured, self.guards):
            d = t._data
            if d.shape != shape or d.dtype != dtype or t.requires_grad != rg:
                return False
        return True


def _sparse_parts(text: str, ns: dict) -> tuple[str, str, str, str, bool] | None:
    """``SparseGrad(index, values, shape, dtype, advanced)`` in ``text``: the index (as subscript
    syntax where it can be), values, shape and dtype texts and whether repeats accumulate; else None."""
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and ns.get(node.func.id) is SparseGrad
            and len(node.args) == 5 and not node.keywords):
        return None
    index, values, shape, dtype, advanced = (ast.unparse(a) for a in node.args)
    if advanced not in ("True", "False"):
        return None
    if advanced == "False":
        try:
            literal = _index_text(eval(index, dict(ns)))  # noqa: S307 (a name we bound)
        except Exception:
            literal = None
        if literal is not None:
            index = literal
    return index, values, shape, dtype, advanced == "True"


def _ident(name: str) -> str:
    out = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)
    return out if out and not out[0].isdigit() else f"op_{out}"


def _note(e: _Entry) -> str:
    bits = [e.op.name]
    if e.scope:
        bits.append(f"@{e.scope}")
    if e.tags:
        bits.append(", ".join(f"{k} {v}" for k, v in e.tags.items()))
    return "  # " + " ".join(bits)


# ----------------------------------------------------------------------------- the compiled function
class Compiled:
    """A function traced once per signature and replayed (see the module docstring)."""

    def __init__(self, fn: Callable[..., Any], backward: bool = True, check: bool = False, cache_size: int = 16) -> None:
        if not callable(fn):
            raise TypeError(f"tg.compile: expected a function, got {type(fn).__name__}")
        if not isinstance(cache_size, int) or cache_size < 1:
            raise ValueError(f"tg.compile: cache_size must be a positive integer, got {cache_size!r}")
        self.fn = fn
        self.name = getattr(fn, "__qualname__", None) or repr(fn)
        self.backward = bool(backward)
        self.check = bool(check)
        self.cache_size = cache_size
        self.cache: OrderedDict[Any, _Program] = OrderedDict()
        self.traces = 0
        self.replays = 0
        self._lock = threading.RLock()
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<tg.compile of {self.name}: {len(self.cache)} signature(s), {self.traces} trace(s)>"

    # ------------------------------------------------------------------ signatures
    def signature(self, *args: Any) -> tuple:
        """The cache key of a call with these arguments."""
        key: list[Any] = [state().grad_enabled]
        for k, a in enumerate(args):
            if isinstance(a, Tensor):
                key.append(("tensor", a.shape, a.dtype.str, a.requires_grad))
            elif isinstance(a, np.ndarray):
                key.append(("array", a.shape, a.dtype.str))
            else:
                try:
                    hash(a)
                except TypeError:
                    raise TypeError(
                        f"tg.compile: argument {k} of {self.name} is a {type(a).__name__}, which is neither an array "
                        "nor hashable; pass arrays or Tensors (traced) or hashable values such as numbers and tuples "
                        "(static: part of the signature)"
                    ) from None
                key.append(("static", type(a).__name__, a))
        return tuple(key)

    def source(self, *args: Any) -> str:
        """The generated replay for the signature of ``args`` (tracing it if needed)."""
        with self._lock:
            key = self.signature(*args)
            if key not in self.cache:
                self._trace(key, args)
            return self.cache[key].source

    # ------------------------------------------------------------------ calls
    def __call__(self, *args: Any) -> Any:
        if tracing.current() is not None:
            raise TraceError(
                f"tg.compile: {self.name} was called while tracing {tracing.current().name} "
                f"(at {tracing.user_frame()}); nested compiled functions are not supported: call the plain function"
            )
        if state().anomaly:  # detect_anomaly checks every op: run eagerly
            return self._eager(args)[0]
        with self._lock:
            key = self.signature(*args)
            prog = self.cache.get(key)
            if prog is not None and not prog.guards_hold():
                del self.cache[key]  # a tensor read from outside changed shape or dtype: trace again
                prog = None
            if prog is None:
                return self._trace(key, args)
            self.cache.move_to_end(key)
            self.replays += 1
            if self.check:
                return self._checked(prog, args)
            return self._replay(prog, args)

    def _eager(self, args: tuple) -> tuple[Any, list]:
        result = self.fn(*args)
        out, aux = _split(result, self.name)
        if self.backward:
            out.backward()
        return _detached(out, aux, self.backward), aux

    def _trace(self, key: tuple, args: tuple) -> Any:
        tracer = _Tracer(self.name)
        wrapped = []
        call_args = []
        for a in args:
            if isinstance(a, Tensor):
                if a.record is not None:
                    raise TraceError(
                        f"tg.compile: an argument of {self.name} ({a._label()}) is the output of a recorded graph; "
                        "its gradient would stop at the argument. Pass it detached (t.detach()), or compute it inside"
                    )
                wrapped.append(a)
                call_args.append(a)
            elif isinstance(a, np.ndarray):
                t = _Traced._make(np.array(a), False, None)  # a private copy: the trace keeps it
                wrapped.append(t)
                call_args.append(t)
            else:
                wrapped.append(None)
                call_args.append(a)
        before = _rng_states()
        token = tracing._current.set(tracer)
        tracing.active += 1
        try:
            result = self.fn(*call_args)
        finally:
            tracing.active -= 1
            tracing._current.reset(token)
        if _rng_states() != before:
            raise TraceError(
                f"tg.compile: {self.name} drew random numbers while being traced (numpy's global generator, Python's "
                "random, or tg's default generator); a replay would repeat the same draws. Draw outside and pass "
                "the values in as an argument"
            )
        out, aux = _split(result, self.name)
        for e in tracer.entries:
            if e.out.retains_grad:
                raise TraceError(f"tg.compile: retain_grad() on an intermediate of {self.name} is not supported")
        if self.backward and out.record is None:
            raise TraceError(f"tg.compile: {self.name} returned a tensor with no recorded history; nothing to differentiate")
        if self.backward and out.size != 1:
            raise TraceError(f"tg.compile: {self.name} must return a one-element loss (got shape {out.shape})")
        prog = _Program(self.name, tracer, wrapped, out, aux, self.backward)
        self.cache[key] = prog
        if len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        self.traces += 1
        if self.backward:
            out.backward()  # this first call's gradients: the eager walk itself
        return _detached(out, aux, self.backward)

    def _replay(self, prog: _Program, args: tuple) -> Any:
        A = list(args)
        for k in prog.array_positions:  # an array, read as the trace read it: C-contiguous
            A[k] = np.ascontiguousarray(A[k])
        locked = []
        for t in prog.captured:  # no other thread changes what the replay reads while it runs
            d = t._data
            if d.flags.writeable and d.base is None:
                d.setflags(write=False)
                locked.append(d)
        try:
            values = prog.replay(A, prog.captured)
        finally:
            for d in locked:
                d.setflags(write=True)
        out = Tensor._make(values[0], False, None)
        if not prog.aux_names:
            return out
        return (out, *[Tensor._make(v, False, None) for v in values[1:]])

    def _checked(self, prog: _Program, args: tuple) -> Any:
        """The replay, then the eager function on the same inputs; every value and gradient must agree bitwise."""
        targets = list(prog.grad_targets) + [a for a in args if isinstance(a, Tensor) and a.requires_grad]
        before = [None if t.grad is None else np.array(t.grad, copy=True) for t in targets]
        got = self._replay(prog, args)
        replay_grads = [None if t.grad is None else np.array(t.grad, copy=True) for t in targets]
        for t, b in zip(targets, before):
            t.grad = None if b is None else b
        # the eager function on what the trace gave it: an array argument as a Tensor (the contract)
        want, _ = self._eager(tuple(Tensor._make(np.ascontiguousarray(a), False, None) if isinstance(a, np.ndarray)
                                    else a for a in args))
        eager_grads = [None if t.grad is None else np.array(t.grad, copy=True) for t in targets]
        got_t, want_t = (got if isinstance(got, tuple) else (got,)), (want if isinstance(want, tuple) else (want,))
        for k, (a, b) in enumerate(zip(got_t, want_t)):
            if not _same(a._data, b._data):
                raise AssertionError(f"tg.compile(check=True): output {k} of {self.name}'s replay differs from the eager run")
        for t, a, b in zip(targets, replay_grads, eager_grads):
            if not _same(a, b):
                raise AssertionError(f"tg.compile(check=True): the gradient of {t._label()} differs from the eager run")
        return want


def _same_raw(a: Any, b: Any) -> bool:
    """Two results of a rule, before fitting: the same type, and the same bits (sparse: the same
    index, shape, dtype and kind, and the same dense array)."""
    if type(a) is not type(b):
        return False
    if type(a) is SparseGrad:
        return a.shape == b.shape and a.dtype == b.dtype and a.advanced == b.advanced and _same(a.dense(), b.dense())
    return _same(a, b)


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _split(result: Any, name: str) -> tuple[Tensor, list[Tensor]]:
    if isinstance(result, Tensor):
        return result, []
    if isinstance(result, tuple) and result and all(isinstance(r, Tensor) for r in result):
        return result[0], list(result[1:])
    raise TypeError(f"tg.compile: {name} must return a Tensor (the loss) or a tuple of Tensors, got {type(result).__name__}")


def _detached(out: Tensor, aux: list[Tensor], backward: bool) -> Any:
    first = Tensor._make(out._data, False, None)
    if not aux:
        return first
    return (first, *[Tensor._make(a._data, False, None) for a in aux])


def compile(fn: Callable[..., Any] | None = None, *, backward: bool = True, check: bool = False,
            cache_size: int = 16) -> Any:
    """Trace ``fn`` once per signature and replay it as generated numpy (the module docstring has the
    contract).  Usable as ``tg.compile(fn)`` or as a decorator ``@tg.compile`` / ``@tg.compile(check=True)``."""
    if fn is None:
        return lambda f: Compiled(f, backward=backward, check=check, cache_size=cache_size)
    return Compiled(fn, backward=backward, check=check, cache_size=cache_size)
