"""A function with branches, specialised: ``tg.compile`` writes an op's forward or rule whose ``if``\\ s
test only shapes, dtypes, types and static arguments as the straight-line numpy it runs for one
signature (partial evaluation).

:mod:`~tinygrad_rnn.inlining` handles a body that is one ``return <expression>``.  Most rules are
not: ``_matmul_da`` tests ``b.ndim == 2`` before its fast path, ``addmm`` checks the inner sizes, the
softmax rule works in place in its own buffer.  For one signature those tests always come out the
same way, so the replay need not make them.  This module runs the function once, statement by
statement, on the traced values, and keeps two kinds of value apart:

- **static** (``S``): known when the program is built and the same at every call of the signature:
  the op's static keyword arguments, module globals and defaults, and what is computed from them and
  from the *shapes, dtypes and types* of arrays (``x.ndim``, ``np.shape(x)``, ``type(x)``,
  ``len(x)``).  These are folded: a branch on them is taken once, here.
- **dynamic** (``D``): everything computed from values that change per call (inputs, the upstream
  gradient, a forward's saved context, even a Python int in it).  Each statement that makes one is
  written down as numpy source, in the order the function runs it, and run here on the traced
  values; every call's result gets a variable of its own, so the residual program makes the same
  calls on the same values in the same order as the function (hence the same bits).

The specialisation gives up (the op stays a call) on anything else: a branch or ``bool`` on a
dynamic value, a loop, ``with``, ``try``, a ``raise`` reached, a nested function it cannot follow,
a write into an input (the inputs are read-only while it runs, so numpy refuses the write), a draw
from a random generator.  Helpers of the engine (``tinygrad_rnn``'s own functions) and of the
function's module are followed into; anything else dynamic is called.  The compiler then checks the
residual on the traced values against the real function, bit for bit, before it uses it.
"""

from __future__ import annotations

import ast
import builtins
import operator
import types
from typing import Any, Callable

import numpy as np

from .inlining import _definition

__all__ = ["Specialised", "specialise", "dynamic"]


class _GiveUp(Exception):
    """The function cannot be specialised here (the op stays a call)."""


class _Retry(Exception):
    """A helper could not be followed: start again, calling it."""

    def __init__(self, code: Any) -> None:
        self.code = code


class S:
    """A static value: ``v``, written in the residual as ``text`` (or bound as a constant)."""

    __slots__ = ("v", "text", "label")

    def __init__(self, v: Any, text: str | None = None, label: str = "s") -> None:
        self.v, self.text, self.label = v, text, label


class D:
    """A dynamic value: the expression ``node`` of the residual program."""

    __slots__ = ("node",)

    def __init__(self, node: ast.expr) -> None:
        self.node = node


class T:
    """A tuple (or list) some of whose items are dynamic (``*xs``, a context tuple, a tuple returned)."""

    __slots__ = ("items", "is_list")

    def __init__(self, items: list[Any], is_list: bool = False) -> None:
        self.items, self.is_list = items, is_list


class M:
    """A method of a dynamic array (``x.sum``), only to be called."""

    __slots__ = ("owner", "attr")

    def __init__(self, owner: D, attr: str) -> None:
        self.owner, self.attr = owner, attr


def dynamic(text: str) -> D:
    return D(ast.parse(text, mode="eval").body)


class Specialised:
    """The residual: ``prelude`` statements, then the expression ``text``.  It is pure (every write
    went into a buffer of its own: the inputs were read-only while it ran)."""

    __slots__ = ("prelude", "text")

    def __init__(self, prelude: list[str], text: str) -> None:
        self.prelude, self.text = prelude, text


_STATIC_ATTRS = {"shape", "ndim", "dtype", "size", "itemsize"}
_VIEW_ATTRS = {"T", "mT", "real", "imag"}
_STATIC_BUILTINS = {len, tuple, list, range, int, float, bool, slice, abs, min, max, sum, sorted, reversed,
                    enumerate, zip, all, any, isinstance, type, str, dict, set, divmod, round, repr, getattr,
                    hasattr, frozenset}
_SHAPE_FUNCS = {type, len, isinstance, np.ndim, np.shape, np.size, np.result_type}
_STATIC_TYPES = (type(None), bool, int, float, complex, str, bytes, slice, type(Ellipsis), type, np.dtype,
                 np.integer, np.bool_, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, np.ufunc)
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow, ast.MatMult: operator.matmul,
        ast.BitAnd: operator.and_, ast.BitOr: operator.or_, ast.BitXor: operator.xor, ast.LShift: operator.lshift,
        ast.RShift: operator.rshift}


# numpy functions that, for an ndarray, only call its method of the same name (fromnumeric's
# _wrapfunc / _wrapreduction): the method is called instead, the same C code on the same arguments
_METHOD_FORMS = {np.transpose: ("transpose", frozenset()), np.swapaxes: ("swapaxes", frozenset()),
                 np.reshape: ("reshape", frozenset()), np.sum: ("sum", frozenset({"axis", "keepdims"}))}
_IDENTITIES = {np.asarray, np.asanyarray}


def _is_static(v: Any) -> bool:
    if isinstance(v, (tuple, list, frozenset)):
        return all(_is_static(x) for x in v)
    if isinstance(v, dict):
        return all(_is_static(k) and _is_static(x) for k, x in v.items())
    return isinstance(v, _STATIC_TYPES)


def _own(fn: Any, home: str) -> bool:
    """A Python function the specialiser may follow into: the engine's, or of the top function's module."""
    mod = getattr(fn, "__module__", None) or ""
    return isinstance(fn, types.FunctionType) and (mod.startswith("tinygrad_rnn") or mod == home)


def _allowed(f: Any, home: str) -> bool:
    """May ``f`` be called when the program is built, on static arguments (no state, no randomness)?"""
    if _in(f, _STATIC_BUILTINS):
        return True
    mod = getattr(f, "__module__", None) or ""
    if isinstance(f, np.ufunc):
        return True
    if mod == "math" or (mod.startswith("numpy") and "random" not in mod):
        return True
    if _own(f, home):
        return True
    if isinstance(f, type) and (issubclass(f, (np.generic, np.dtype)) or f in (tuple, list, slice)):
        return True
    owner = getattr(f, "__self__", None)
    return isinstance(f, types.BuiltinMethodType) and owner is not None and _is_static(owner) \
        and not isinstance(owner, types.ModuleType)


def _index_text(v: Any) -> str | None:
    """An index as subscript syntax (``:, 3``), or None if it is not made of ints, slices, None and ``...``."""
    parts = v if type(v) is tuple else (v,)
    out = []
    for p in parts:
        if type(p) is int:
            out.append(repr(p))
        elif p is None:
            out.append("None")
        elif p is Ellipsis:
            out.append("...")
        elif type(p) is slice and all(x is None or type(x) is int for x in (p.start, p.stop, p.step)):
            s = ("" if p.start is None else repr(p.start)) + ":" + ("" if p.stop is None else repr(p.stop))
            out.append(s + ("" if p.step is None else f":{p.step!r}"))
        else:
            return None
    if type(v) is tuple and len(v) == 1:
        return out[0] + ","
    return ", ".join(out) if out else None


class _Run:
    """One specialisation attempt."""

    def __init__(self, ns: dict, cenv: dict, bind: Callable[[str, Any], str], fresh: Callable[[Any, str], str],
                 home: str, no_follow: set) -> None:
        self.ns, self.cenv, self.bind, self.fresh, self.home = ns, cenv, bind, fresh, home
        self.no_follow = no_follow
        self.stmts: list[str] = []
        self.depth = 0
        self.initial = set(cenv)  # the traced values' names (the rest are the residual's own)

    # ------------------------------------------------------------------ values
    def node(self, v: Any) -> ast.expr:
        """The residual's expression for a value."""
        if type(v) is D:
            return v.node
        if type(v) is T:
            elts = [self.node(x) for x in v.items]
            return ast.List(elts=elts, ctx=ast.Load()) if v.is_list else ast.Tuple(elts=elts, ctx=ast.Load())
        if type(v) is S:
            if v.text is None:
                f = v.v
                name = getattr(f, "__name__", None)
                if isinstance(name, str) and getattr(np, name, None) is f:
                    v.text = f"np.{name}"
                else:
                    v.text = self.bind(v.label if v.label != "s" else (name if isinstance(name, str)
                                                                      and name.isidentifier() else "s"), f)
            return ast.parse(v.text, mode="eval").body
        raise _GiveUp("a method used as a value")

    def concrete(self, v: Any) -> Any:
        """A value's traced value (what the residual computes for it on the traced inputs)."""
        if type(v) is S:
            return v.v
        if type(v) is T:
            items = [self.concrete(x) for x in v.items]
            return items if v.is_list else tuple(items)
        if type(v) is D:
            return self.eval(ast.unparse(v.node))
        raise _GiveUp("a method used as a value")

    def eval(self, text: str) -> Any:
        try:
            return eval(text, self.ns, self.cenv)  # noqa: S307 (the residual we are writing)
        except _GiveUp:
            raise
        except Exception as exc:
            raise _GiveUp(f"{text}: {exc}") from None

    def emit(self, text: str) -> None:
        try:
            exec(text, self.ns, self.cenv)  # noqa: S102 (the residual we are writing)
        except Exception as exc:
            raise _GiveUp(f"{text}: {exc}") from None
        self.stmts.append(text)

    def spill(self, v: Any, hint: Any = None) -> Any:
        """A dynamic value that is more than a name, assigned to a variable of its own."""
        if type(v) is D and not isinstance(v.node, ast.Name):
            name = self.fresh(hint, "t")
            self.emit(f"{name} = {ast.unparse(v.node)}")
            return D(ast.Name(id=name, ctx=ast.Load()))
        if type(v) is T:
            return T([self.spill(x) for x in v.items], v.is_list)
        return v

    # ------------------------------------------------------------------ functions
    def call(self, fn: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """``fn(*args, **kwargs)`` followed into, statement by statement."""
        found = _definition(fn)
        if found is None or self.depth > 8:
            raise _GiveUp(f"cannot follow {getattr(fn, '__name__', fn)}")
        node = found
        a = node.args
        positional = [x.arg for x in a.posonlyargs + a.args]
        local: dict[str, Any] = {}
        defaults = dict(zip(positional[len(positional) - len(fn.__defaults__ or ()):], fn.__defaults__ or ()))
        defaults.update(fn.__kwdefaults__ or {})
        for p, v in zip(positional, args):
            local[p] = v
        extra = args[len(positional):]
        if a.vararg is not None:
            local[a.vararg.arg] = T(list(extra))
        elif extra:
            raise _GiveUp("too many arguments")
        kwonly = [x.arg for x in a.kwonlyargs]
        for k, v in kwargs.items():
            if k in local or (k not in positional and k not in kwonly):
                raise _GiveUp(f"argument {k}")
            local[k] = v
        for p in positional + kwonly:
            if p not in local:
                if p not in defaults:
                    raise _GiveUp(f"missing {p}")
                local[p] = S(defaults[p], label=p)
        if a.kwarg is not None:
            local[a.kwarg.arg] = S({})
        for k in list(local):
            local[k] = self.spill(local[k])
        frame = _Frame(self, fn, local)
        self.depth += 1
        try:
            if isinstance(node, ast.Lambda):
                return frame.expr(node.body, top=self.depth == 1)
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]
            r = frame.block(body)
            return S(None) if r is None else r
        finally:
            self.depth -= 1


class _Frame:
    """A function's locals while it is specialised."""

    def __init__(self, run: _Run, fn: Any, local: dict[str, Any]) -> None:
        self.run, self.fn, self.local = run, fn, local
        self.cells = dict(zip(fn.__code__.co_freevars, fn.__closure__ or ()))

    def name(self, n: str) -> Any:
        if n in self.local:
            return self.local[n]
        if n in self.cells:
            try:
                obj = self.cells[n].cell_contents
            except ValueError:
                raise _GiveUp(f"free variable {n}") from None
        elif n in self.fn.__globals__:
            obj = self.fn.__globals__[n]
        elif hasattr(builtins, n):
            obj = getattr(builtins, n)
        else:
            raise _GiveUp(f"name {n}")
        if isinstance(obj, np.ndarray):  # a module-level array: read at every call, never folded
            return D(ast.parse(self.run.bind(n, obj), mode="eval").body)
        return S(obj, label=n)

    # ------------------------------------------------------------------ statements
    def block(self, stmts: list[ast.stmt]) -> Any:
        """Run statements; the returned value, or None if the block falls through."""
        for st in stmts:
            r = self.stmt(st)
            if r is not None:
                return r
        return None

    def stmt(self, st: ast.stmt) -> Any:
        run = self.run
        if isinstance(st, ast.If):
            test = self.expr(st.test)
            return self.block(st.body if self.truth(test) else st.orelse)
        if isinstance(st, ast.Return):
            return S(None) if st.value is None else self.expr(st.value, top=self.run.depth == 1)
        if isinstance(st, ast.Assign) and len(st.targets) == 1:
            self.assign(st.targets[0], st.value)
            return None
        if isinstance(st, ast.AnnAssign) and st.value is not None and st.simple:
            self.assign(st.target, st.value)
            return None
        if isinstance(st, ast.AugAssign):
            value = self.expr(st.value)
            t = st.target
            op = type(st.op)
            if isinstance(t, ast.Name):
                old = self.name(t.id)
                if type(old) is S and type(value) is S:
                    self.local[t.id] = S(_OPS[op](old.v, value.v))
                    return None
                if type(old) is not D:
                    raise _GiveUp("augmented assignment")
                if t.id not in self.local or type(run.concrete(old)) is not np.ndarray:
                    raise _GiveUp("rebinds a name the caller may share")
                run.emit(f"{ast.unparse(old.node)} {_op_text(st.op)}= {ast.unparse(run.node(value))}")
                return None
            if isinstance(t, ast.Subscript):
                base, index = self.expr(t.value), self.expr(t.slice)
                if type(base) is not D:
                    raise _GiveUp("writes into a static value")
                run.emit(f"{self.subscript_text(base, index)} {_op_text(st.op)}= {ast.unparse(run.node(value))}")
                return None
            raise _GiveUp("augmented assignment target")
        if isinstance(st, ast.Expr):
            v = self.expr(st.value, top=True)
            if type(v) is D and isinstance(v.node, ast.Call):
                run.emit(ast.unparse(v.node))
            return None
        if isinstance(st, ast.Pass):
            return None
        if isinstance(st, ast.Assert):
            if not self.truth(self.expr(st.test)):
                raise _GiveUp("an assertion fails")
            return None
        raise _GiveUp(type(st).__name__)  # raise reached, loops, with, try, nested definitions, ...

    def assign(self, target: ast.expr, value_node: ast.expr) -> None:
        run = self.run
        if isinstance(target, ast.Name):
            v = self.expr(value_node, top=True)
            if type(v) is D and isinstance(v.node, ast.Call):
                name = run.fresh(target.id, "t")
                run.emit(f"{name} = {ast.unparse(v.node)}")
                v = D(ast.Name(id=name, ctx=ast.Load()))
            self.local[target.id] = run.spill(v, target.id)
            return
        if isinstance(target, (ast.Tuple, ast.List)) and all(isinstance(x, ast.Name) for x in target.elts):
            v = self.expr(value_node)
            n = len(target.elts)
            if type(v) is S:
                items: list[Any] = [S(x) for x in v.v]
            elif type(v) is T:
                items = list(v.items)
            else:
                names = [run.fresh(x.id, "t") for x in target.elts]
                run.emit(f"{', '.join(names)} = {ast.unparse(v.node)}")
                items = [D(ast.Name(id=x, ctx=ast.Load())) for x in names]
            if len(items) != n:
                raise _GiveUp("unpacking")
            for x, item in zip(target.elts, items):
                self.local[x.id] = run.spill(item, x.id)
            return
        if isinstance(target, ast.Subscript):
            base, index = self.expr(target.value), self.expr(target.slice)
            v = self.expr(value_node)
            if type(base) is not D:
                raise _GiveUp("writes into a static value")
            run.emit(f"{self.subscript_text(base, index)} = {ast.unparse(run.node(v))}")
            return
        raise _GiveUp("assignment target")

    def truth(self, v: Any) -> bool:
        if type(v) is not S:
            raise _GiveUp("a branch on a dynamic value")
        return bool(v.v)

    def subscript_text(self, base: D, index: Any) -> str:
        if type(index) is S:
            text = _index_text(index.v)
            if text is not None:
                return f"{ast.unparse(base.node)}[{text}]"
        return f"{ast.unparse(base.node)}[{ast.unparse(self.run.node(index))}]"

    # ------------------------------------------------------------------ expressions
    def expr(self, node: ast.expr, top: bool = False) -> Any:
        """The value of an expression; a dynamic call's result is given a variable unless ``top``."""
        folded = self.fold(node)
        if folded is not None:
            return folded
        run = self.run
        if isinstance(node, ast.Constant):
            return S(node.value)
        if isinstance(node, ast.Name):
            return self.name(node.id)
        if isinstance(node, ast.Attribute):
            base = self.expr(node.value)
            if type(base) is S:
                try:
                    v = getattr(base.v, node.attr)
                except AttributeError as exc:
                    raise _GiveUp(str(exc)) from None
                if isinstance(v, np.ndarray):
                    return D(ast.Attribute(value=run.node(base), attr=node.attr, ctx=ast.Load()))
                text = None
                if base.text is not None or isinstance(base.v, types.ModuleType):
                    text = f"{ast.unparse(run.node(base))}.{node.attr}"
                return S(v, text, label=node.attr)
            if type(base) is D:
                if node.attr in _STATIC_ATTRS:
                    try:
                        return S(getattr(run.concrete(base), node.attr), label=node.attr)
                    except AttributeError as exc:
                        raise _GiveUp(str(exc)) from None
                if node.attr in _VIEW_ATTRS:
                    return D(ast.Attribute(value=base.node, attr=node.attr, ctx=ast.Load()))
                return M(base, node.attr)
            raise _GiveUp("attribute")
        if isinstance(node, (ast.Tuple, ast.List)):
            items = self.elements(node.elts)
            if all(type(x) is S for x in items):
                vals = [x.v for x in items]
                return S(vals if isinstance(node, ast.List) else tuple(vals))
            return T(items, isinstance(node, ast.List))
        if isinstance(node, ast.Subscript):
            base, index = self.expr(node.value), self.expr(node.slice)
            if type(base) is T and type(index) is S:
                got = base.items[index.v]
                return T(got, base.is_list) if isinstance(index.v, slice) else got
            if type(base) is S and type(index) is S:
                return S(self.static(lambda: base.v[index.v]))
            if type(base) is D:
                return D(ast.parse(self.subscript_text(base, index), mode="eval").body)
            raise _GiveUp("subscript")
        if isinstance(node, ast.Slice):
            parts = [None if x is None else self.expr(x) for x in (node.lower, node.upper, node.step)]
            if all(p is None or type(p) is S for p in parts):
                return S(slice(*[None if p is None else p.v for p in parts]))
            raise _GiveUp("a dynamic slice")
        if isinstance(node, ast.IfExp):
            return self.expr(node.body if self.truth(self.expr(node.test)) else node.orelse, top)
        if isinstance(node, ast.BoolOp):
            v = None
            for x in node.values:
                v = self.expr(x)
                if type(v) is not S:
                    raise _GiveUp("and/or on a dynamic value")
                if isinstance(node.op, ast.And) != bool(v.v):
                    return v
            return v
        if isinstance(node, ast.UnaryOp):
            v = self.expr(node.operand)
            if type(v) is S:
                return S(self.static(lambda: _eval(ast.UnaryOp(op=node.op, operand=ast.Name(id="x", ctx=ast.Load())),
                                                   {"x": v.v})))
            if isinstance(node.op, ast.Not):
                raise _GiveUp("not on a dynamic value")
            return D(ast.UnaryOp(op=node.op, operand=run.node(v)))
        if isinstance(node, ast.BinOp):
            left, right = self.expr(node.left), self.expr(node.right)
            if type(left) is S and type(right) is S:
                return S(self.static(lambda: _OPS[type(node.op)](left.v, right.v)))
            return D(ast.BinOp(left=run.node(left), op=node.op, right=run.node(right)))
        if isinstance(node, ast.Compare):
            vals = [self.expr(node.left)] + [self.expr(x) for x in node.comparators]
            if all(type(x) is S for x in vals):
                names = {f"x{k}": x.v for k, x in enumerate(vals)}
                tree = ast.Compare(left=ast.Name(id="x0", ctx=ast.Load()), ops=node.ops,
                                   comparators=[ast.Name(id=f"x{k + 1}", ctx=ast.Load()) for k in range(len(node.ops))])
                return S(self.static(lambda: _eval(tree, names)))
            return D(ast.Compare(left=run.node(vals[0]), ops=node.ops, comparators=[run.node(x) for x in vals[1:]]))
        if isinstance(node, ast.Call):
            return self.call(node, top)
        raise _GiveUp(type(node).__name__)

    def elements(self, nodes: list[ast.expr]) -> list[Any]:
        """The values of a tuple's, list's or call's elements, ``*x`` expanded."""
        out: list[Any] = []
        for x in nodes:
            if isinstance(x, ast.Starred):
                out.extend(self.items(self.expr(x.value)))
            else:
                out.append(self.expr(x))
        return out

    def items(self, v: Any) -> list[Any]:
        if type(v) is T:
            return list(v.items)
        if type(v) is S and isinstance(v.v, (tuple, list)):
            return [S(x) for x in v.v]
        raise _GiveUp("* of a dynamic value")

    def static(self, f: Callable[[], Any]) -> Any:
        try:
            return f()
        except Exception as exc:
            raise _GiveUp(str(exc)) from None

    def fold(self, node: ast.expr) -> S | None:
        """A whole expression that reads only static names and calls only allowed functions, folded
        (comprehensions and lambdas included); None if it is not one."""
        if isinstance(node, (ast.Constant, ast.Name)):
            return None
        names: dict[str, Any] = {}
        for n in ast.walk(node):
            if isinstance(n, ast.Name):
                if n.id in names:
                    continue
                try:
                    v = self.name(n.id)
                except _GiveUp:
                    continue  # a comprehension's own variable, perhaps
                if type(v) is not S:
                    return None
                names[n.id] = v.v
            elif isinstance(n, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
                return None
        env = {"__builtins__": builtins, **names}  # as globals: a comprehension sees them
        for n in ast.walk(node):
            if isinstance(n, ast.Call):
                try:
                    f = eval(compile(ast.Expression(n.func), "<s>", "eval"), env)  # noqa: S307
                except Exception:
                    return None
                if not _allowed(f, self.run.home):
                    return None
        try:
            v = eval(compile(ast.Expression(node), "<s>", "eval"), env)  # noqa: S307
        except Exception:
            return None
        return S(v) if _is_static(v) else None

    def call(self, node: ast.Call, top: bool) -> Any:
        run = self.run
        f = self.expr(node.func)
        args = self.elements(node.args)
        kwargs: dict[str, Any] = {}
        for k in node.keywords:
            v = self.expr(k.value)
            if k.arg is None:
                if type(v) is not S or not isinstance(v.v, dict):
                    raise _GiveUp("** of a dynamic value")
                kwargs.update({a: S(b, label=a) for a, b in v.v.items()})
            else:
                kwargs[k.arg] = v
        vals = args + list(kwargs.values())
        if type(f) is S:
            fn = f.v
            if all(type(x) is S for x in vals) and _allowed(fn, run.home):
                r = self.static(lambda: fn(*[x.v for x in args], **{k: x.v for k, x in kwargs.items()}))
                if _is_static(r):
                    return S(r)
            elif fn is getattr(run.ns.get("NP"), "value", None) and len(args) == 1 and not kwargs:
                return args[0]  # F.value: the array itself
            elif _in(fn, _SHAPE_FUNCS) and not any(type(x) is M for x in vals):
                r = self.static(lambda: fn(*[run.concrete(x) for x in args],
                                           **{k: run.concrete(x) for k, x in kwargs.items()}))
                if _is_static(r):
                    return S(r)
                raise _GiveUp("a shape function's result")
            if _in(fn, _IDENTITIES) and len(args) == 1 and not kwargs and type(args[0]) is D \
                    and type(run.concrete(args[0])) is np.ndarray:
                return args[0]  # np.asarray of an ndarray is that array
            method = _METHOD_FORMS.get(fn) if _in(fn, _METHOD_FORMS) else None
            if method is not None and args and type(args[0]) is D and set(kwargs) <= method[1] \
                    and type(run.concrete(args[0])) is np.ndarray:
                # numpy's function is a wrapper that calls this method of an ndarray: call it directly
                f, args = M(args[0], method[0]), args[1:]
            elif _own(fn, run.home) and fn.__code__ not in run.no_follow:
                mark = len(run.stmts)
                try:
                    return run.call(fn, args, kwargs)
                except _GiveUp:
                    del run.stmts[mark:]
                    raise _Retry(fn.__code__) from None
        if type(f) is S:
            func = run.node(f)
        elif type(f) is M:
            if f.attr == "reshape" and not kwargs and all(type(x) is S for x in args):
                shape = args[0].v if len(args) == 1 and isinstance(args[0].v, tuple) else tuple(x.v for x in args)
                if shape == run.concrete(f.owner).shape and type(run.concrete(f.owner)) is np.ndarray:
                    return f.owner  # to its own shape: a view of the same elements, the array itself will do
            # (a method that writes, such as fill or sort, writes into a buffer of the function's own,
            # else numpy refuses: the inputs are read-only here)
            func = ast.Attribute(value=f.owner.node, attr=f.attr, ctx=ast.Load())
        else:
            run.spill(f)
            raise _GiveUp("calls a dynamic value")
        call = ast.Call(func=func, args=[run.node(x) for x in args],
                        keywords=[ast.keyword(arg=k, value=run.node(x)) for k, x in kwargs.items()])
        if top:
            return D(call)
        name = run.fresh(None, "t")
        run.emit(f"{name} = {ast.unparse(call)}")
        return D(ast.Name(id=name, ctx=ast.Load()))


def _eval(tree: ast.expr, names: dict) -> Any:
    """A static expression built here, evaluated on static values."""
    code = compile(ast.fix_missing_locations(ast.Expression(tree)), "<static>", "eval")
    return eval(code, {"__builtins__": builtins}, names)  # noqa: S307 (built from the function's own source)


def _in(fn: Any, group: set) -> bool:
    try:
        return fn in group
    except TypeError:
        return False


def _op_text(op: ast.operator) -> str:
    return ast.unparse(ast.BinOp(left=ast.Name(id="a"), op=op, right=ast.Name(id="b")))[2:-2]


def _readonly(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        v = x.view()
        v.setflags(write=False)
        return v
    if isinstance(x, tuple):
        return tuple(_readonly(y) for y in x)
    return x


def specialise(fn: Any, args: list[Any], kwargs: dict[str, Any], env: dict[str, Any], ns: dict,
               bind: Callable[[str, Any], str], fresh: Callable[[Any, str], str],
               rng_state: Callable[[], Any]) -> Specialised | None:
    """``fn(*args, **kwargs)`` specialised to the traced values, or None.

    ``args``/``kwargs`` are :class:`S` (static) or :class:`D` (dynamic, naming a variable of ``env``,
    the traced values) or :class:`T` (tuples of them).  ``bind(label, obj)`` names a constant in
    ``ns`` (the namespace the residual runs in); ``fresh(hint, fallback)`` gives a new variable name.
    The residual is run here on read-only views of ``env``'s arrays; ``rng_state()`` must not change."""
    home = getattr(fn, "__module__", None) or ""
    no_follow: set = set()
    before = rng_state()
    for _ in range(12):
        cenv = {k: _readonly(v) for k, v in env.items()}
        run = _Run(ns, cenv, bind, fresh, home, no_follow)
        try:
            with np.errstate(all="ignore"):
                r = run.call(fn, list(args), dict(kwargs))
                if type(r) is M:
                    return None
                node = run.node(r)
                if isinstance(node, ast.Name) and run.stmts:  # `t = <call>` last: the call is the result
                    last = ast.parse(run.stmts[-1]).body[0]
                    if isinstance(last, ast.Assign) and len(last.targets) == 1 \
                            and isinstance(last.targets[0], ast.Name) and last.targets[0].id == node.id \
                            and node.id not in run.initial:
                        run.stmts.pop()
                        node = last.value
                text = ast.unparse(node)
        except _Retry as again:
            if again.code is fn.__code__ or again.code in no_follow:
                return None
            no_follow.add(again.code)
            continue
        except (_GiveUp, RecursionError):
            return None
        if rng_state() != before:
            return None
        return Specialised(run.stmts, text)
    return None

