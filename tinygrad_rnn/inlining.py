"""A one-expression function, inlined: ``tg.compile`` writes an op's forward and rules as the
numpy expressions they are, instead of calls.

``lambda F, g, out, a, b: g * b`` called as ``rule(NP, g_h, h, W, x)`` becomes the text
``g_h * x``: the same numpy calls on the same arrays in the same order (so the same bits), without
a Python call per op.  Only a function whose body is a single ``return <expression>`` (after an
optional docstring) is inlined, and only when every parameter the expression reads is bound and
every other name it reads resolves (closure cell, module global, builtin) to an object the
generated code can be given under a name of its own.  Anything else (a branch, a loop, a nested
``lambda`` or comprehension, a ``*args`` the expression reads) is left a call.

An inlined expression is **pure** when every call in it is known not to write into its arguments
(numpy's and ``F``'s functions without ``out=``, array methods that return new arrays or views,
a few builtins): only then may the replay skip the read-only guard the walk puts on ``g``, and
only then is its result's type, shape and dtype a function of its inputs' shapes and dtypes.
"""

from __future__ import annotations

import ast
import builtins
import linecache
import types
from typing import Any

__all__ = ["Inlined", "inline"]

# calls that never write into an argument (no ``out=``): numpy and F functions, array methods
_WRITERS = {"copyto", "put", "place", "putmask", "fill_diagonal", "put_along_axis", "at", "fill", "resize",
            "sort", "partition", "setflags", "itemset", "setfield", "byteswap", "__setitem__", "__iadd__"}
_METHODS = {"reshape", "sum", "astype", "transpose", "swapaxes", "conj", "max", "min", "mean", "ravel", "copy",
            "squeeze", "dot", "prod", "cumsum", "clip", "round", "any", "all", "view", "T", "real", "imag"}
_BUILTINS = {"len", "tuple", "int", "float", "bool", "range", "slice", "abs", "min", "max", "list", "isinstance"}
_SCOPES = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.NamedExpr, ast.Await,
           ast.Yield, ast.YieldFrom, ast.Starred)


class Inlined:
    """An inlined call: ``text`` (a Python expression) and whether it is ``pure``; ``prelude``: the
    statements to run first (none for an inlined expression; a specialised function's residual)."""

    __slots__ = ("text", "pure", "prelude")

    def __init__(self, text: str, pure: bool, prelude: tuple[str, ...] = ()) -> None:
        self.text, self.pure, self.prelude = text, pure, prelude


_parsed: dict[Any, Any] = {}
_defined: dict[Any, Any] = {}


def _definition(fn: Any) -> ast.Lambda | ast.FunctionDef | None:
    """The ``lambda`` or ``def`` node that made ``fn`` (its source file parsed, matched by first line,
    name, parameter names and, for two lambdas on one line, columns), or None."""
    code = getattr(fn, "__code__", None)
    if code is None or not isinstance(fn, types.FunctionType):
        return None
    if code in _defined:
        return _defined[code]
    candidates = [node for first, name, params, node in _functions(code.co_filename)
                  if first == code.co_firstlineno and name == code.co_name
                  and params == code.co_varnames[:len(params)]]
    if len(candidates) > 1:  # two lambdas on one line: the one whose columns hold the code's
        candidates = [n for n in candidates if _holds(n, code)]
    found = candidates[0] if len(candidates) == 1 else None
    _defined[code] = found
    return found


_files: dict[tuple[str, int], list[tuple[int, str, tuple[str, ...], Any]]] = {}


def _functions(filename: str) -> list[tuple[int, str, tuple[str, ...], Any]]:
    """Every ``lambda`` and ``def`` of a source file, by (first line, name, parameter names), parsed once."""
    text = "".join(linecache.getlines(filename))
    key = (filename, hash(text))  # a file edited and reloaded is parsed again
    if key in _files:
        return _files[key]
    try:
        tree = ast.parse(text) if text else None
    except (SyntaxError, ValueError):
        tree = None
    found = []
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.Lambda):
            first, name = node.lineno, "<lambda>"
        elif isinstance(node, ast.FunctionDef):
            first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            name = node.name
        else:
            continue
        a = node.args
        params = tuple(x.arg for x in a.posonlyargs + a.args + a.kwonlyargs + ([a.vararg] if a.vararg else [])
                       + ([a.kwarg] if a.kwarg else []))  # the order of co_varnames
        found.append((first, name, params, node))
    _files[key] = found
    return found


def _expression(fn: Any) -> tuple[ast.arguments, ast.expr] | None:
    """The parameters and the returned expression of ``fn`` if its body is one ``return``, else None."""
    code = getattr(fn, "__code__", None)
    if code is None or not isinstance(fn, types.FunctionType):
        return None
    if code in _parsed:
        return _parsed[code]
    found = None
    node = _definition(fn)
    if node is not None:
        if isinstance(node, ast.Lambda):
            body = node.body
        else:
            stmts = node.body
            if stmts and isinstance(stmts[0], ast.Expr) and isinstance(stmts[0].value, ast.Constant) \
                    and isinstance(stmts[0].value.value, str):
                stmts = stmts[1:]  # the docstring
            body = stmts[0].value if len(stmts) == 1 and isinstance(stmts[0], ast.Return) else None
        if body is not None and not any(isinstance(n, _SCOPES) for n in ast.walk(body)):
            found = (node.args, body)
    _parsed[code] = found
    return found


def _holds(node: ast.AST, code: types.CodeType) -> bool:
    """Do ``node``'s columns hold the positions of ``code``'s instructions?  (Python ≥ 3.11.)"""
    positions = getattr(code, "co_positions", None)
    if positions is None:
        return False
    # instructions of the expression itself (the entry and return instructions carry columns 0..0)
    spans = [col for ln, end_ln, col, end_col in positions()
             if ln == node.lineno == end_ln and col is not None and end_col is not None and end_col > col]
    return bool(spans) and all(node.col_offset <= col <= (node.end_col_offset or 10**9) for col in spans)


def inline(fn: Any, args: list[str], kwargs: dict[str, str], bind: Any, rule: bool = False) -> Inlined | None:
    """``fn(*args, **kwargs)`` as an expression, or None if it cannot be inlined.

    ``args`` and ``kwargs`` are the argument expressions as text (names or literals).  ``bind(name,
    obj)`` gives the generated code's name for an object the expression reads (a global such as
    ``np``, a default value), adding it to the namespace the code runs in.  ``rule``: ``fn`` is a
    backward rule, whose first parameter is ``F`` (its functions count as pure)."""
    found = _expression(fn)
    if found is None:
        return None
    params, body = found
    positional = [a.arg for a in params.posonlyargs + params.args]
    mapping: dict[str, str] = {}
    extra = args[len(positional):]
    for p, a in zip(positional, args):
        mapping[p] = a
    used = {n.id for n in ast.walk(body) if isinstance(n, ast.Name)}
    if extra and (params.vararg is None or params.vararg.arg in used):
        return None
    if params.vararg is not None and params.vararg.arg in used:
        return None
    kwonly = [a.arg for a in params.kwonlyargs]
    for k, a in kwargs.items():
        if k in mapping:
            return None
        if k in positional or k in kwonly:
            mapping[k] = a
        elif params.kwarg is None or params.kwarg.arg in used:
            return None
    if params.kwarg is not None and params.kwarg.arg in used:
        return None
    # parameters left: their defaults
    defaults = dict(zip(positional[len(positional) - len(fn.__defaults__ or ()):], fn.__defaults__ or ()))
    defaults.update(fn.__kwdefaults__ or {})
    for p in positional + kwonly:
        if p not in mapping and p in used:
            if p not in defaults:
                return None
            mapping[p] = bind(p, defaults[p])
    # free names: closure cells, then globals, then builtins
    cells = dict(zip(fn.__code__.co_freevars, fn.__closure__ or ()))
    for name in used - set(mapping) - set(positional) - set(kwonly):
        if name in cells:
            try:
                obj = cells[name].cell_contents
            except ValueError:
                return None
        elif name in fn.__globals__:
            obj = fn.__globals__[name]
        elif hasattr(builtins, name):
            obj = getattr(builtins, name)
        else:
            return None
        mapping[name] = bind(name, obj)
    pure = _pure(body, fn, positional, positional[0] if rule and positional else None)
    tree = _Substitute(mapping).visit(ast.parse(ast.unparse(body), mode="eval").body)
    return Inlined(ast.unparse(tree), pure)


def _pure(body: ast.expr, fn: Any, positional: list[str], F: str | None) -> bool:
    """Every call in ``body`` is one known not to write into its arguments (the module docstring)."""
    for node in ast.walk(body):
        if not isinstance(node, ast.Call):
            continue
        if any(k.arg == "out" or k.arg is None for k in node.keywords):
            return False
        f = node.func
        if isinstance(f, ast.Name):
            if f.id not in _BUILTINS or f.id in fn.__globals__ or f.id in positional:
                return False
        elif isinstance(f, ast.Attribute):
            if f.attr in _WRITERS:
                return False
            owner = f.value
            if isinstance(owner, ast.Name) and (owner.id == F or _is_numpy(fn.__globals__.get(owner.id))):
                continue
            if f.attr not in _METHODS:
                return False
        else:
            return False
    return True


def _is_numpy(obj: Any) -> bool:
    return isinstance(obj, types.ModuleType) and obj.__name__ == "numpy"


class _Substitute(ast.NodeTransformer):
    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = {k: ast.parse(v, mode="eval").body for k, v in mapping.items()}

    def visit_Name(self, node: ast.Name) -> ast.AST:
        new = self.mapping.get(node.id)
        if new is None:
            return node
        return ast.copy_location(_copy(new), node)


def _copy(node: ast.AST) -> ast.AST:
    return ast.parse(ast.unparse(node), mode="eval").body
