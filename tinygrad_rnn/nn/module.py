"""``Module``: parameters registered by attribute assignment, as PyTorch users expect.

A module is a Python object whose attributes may be :class:`Parameter`\\ s (leaf Tensors that
require grad) and other modules.  Assigning one registers it under the attribute's name, in
assignment order, so ``named_parameters()`` gives stable dotted names (``"layers.0.weight"``)
that ``state_dict()`` and ``load_state_dict()`` use.  Nothing here touches the tape: a module only
keeps its parameters; every gradient comes from the engine's walk over the ops ``forward`` records.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping

import numpy as np

from ..recording import no_grad
from ..tensor import Tensor

__all__ = ["Parameter", "Module", "StateDictError"]


class StateDictError(RuntimeError):
    """``load_state_dict`` refused a state dict (missing, unexpected or wrongly shaped entries)."""


class Parameter(Tensor):
    """A Tensor that a :class:`Module` registers as its parameter (``requires_grad=True`` by
    default).  Ops on it give plain Tensors, as in PyTorch."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None, name: str | None = None) -> None:
        if isinstance(data, Tensor):
            data = data.data
        super().__init__(np.array(data, dtype=dtype if dtype is not None else np.asarray(data).dtype, copy=True),
                         requires_grad=requires_grad, name=name)
        if self.dtype.kind != "f":
            raise TypeError(f"Parameter: a parameter must be floating point, got dtype {self.dtype}")

    def __repr__(self) -> str:
        return "Parameter(" + super().__repr__()[len("Tensor("):]


class Module:
    """Base class of every layer and model: subclass it, assign parameters and sub-modules in
    ``__init__`` (after ``super().__init__()``), and define ``forward``.  Calling the module calls
    ``forward``."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        if params is None:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning attributes "
                                 f"(assigning {name!r})")
        modules = self.__dict__["_modules"]
        if isinstance(value, Parameter):
            modules.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params.pop(name, None)
            modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} to parameter {name!r} "
                                "(a Parameter or None expected; wrap a Tensor as nn.Parameter(t))")
            params[name] = None
        elif name in modules:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} to sub-module {name!r} "
                                "(a Module or None expected)")
            modules[name] = None
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self.__dict__["_parameters"].pop(name, None)
        self.__dict__["_modules"].pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """``setattr(self, name, param)``, for names made at run time (None keeps an empty slot)."""
        self._register("_parameters", name, param, Parameter, "register_parameter")

    def add_module(self, name: str, module: "Module | None") -> None:
        """``setattr(self, name, module)``, for names made at run time (``Sequential`` uses ``"0"``, ...)."""
        self._register("_modules", name, module, Module, "add_module")

    def _register(self, table: str, name: str, value: Any, kind: type, what: str) -> None:
        if value is not None and not isinstance(value, kind):
            raise TypeError(f"{what}: {name!r} must be a {kind.__name__} or None, got {type(value).__name__}")
        if value is None:  # an empty slot under that name (``__setattr__`` alone would make a plain attribute)
            self.__dict__[table][name] = None
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, value)

    # ------------------------------------------------------------------ walking the tree
    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self) -> Iterator["Module"]:
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        """This module and every sub-module, depth first, each once (by identity)."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            kids = [(f"{name}.{k}" if name else k, c) for k, c in m.named_children()]
            stack.extend(reversed(kids))

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, parameter)``: a module's own parameters in assignment order, then each
        sub-module's; a parameter shared by two modules is given once, under its first name."""
        seen: set[int] = set()
        for mname, m in (self.named_modules(prefix) if recurse else [(prefix, self)]):
            for pname, p in m._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mname}.{pname}" if mname else pname), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def apply(self, fn: Callable[["Module"], None]) -> "Module":
        """``fn`` on every sub-module (each child's tree first), then on this one, as PyTorch's ``apply``."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes and gradients
    def train(self, mode: bool = True) -> "Module":
        """Training mode (``Dropout`` active) for this module and every sub-module; returns self."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        """``train(False)``: ``Dropout`` is the identity."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Every parameter's ``.grad`` to None (PyTorch's default, ``set_to_none=True``)."""
        for p in self.parameters():
            p.grad = None

    # ------------------------------------------------------------------ state dicts
    def state_dict(self) -> dict[str, np.ndarray]:
        """``{dotted name: a copy of the parameter's array}`` in ``named_parameters`` order.  Copies,
        so a state dict kept (or saved later) does not change as training goes on."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> tuple[list[str], list[str]]:
        """Copy ``state``'s arrays into the parameters of the same names.  Everything is checked
        before anything is written: with ``strict=True`` a missing or unexpected name is a
        :class:`StateDictError` naming them; a wrong shape, a non-number array always is.  Returns
        ``(missing, unexpected)`` (both empty when strict)."""
        own = dict(self.named_parameters())
        if not isinstance(state, Mapping):
            raise StateDictError(f"load_state_dict: expected a mapping of names to arrays, got {type(state).__name__}")
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append("missing " + ", ".join(repr(k) for k in missing))
            if unexpected:
                parts.append("unexpected " + ", ".join(repr(k) for k in unexpected))
            raise StateDictError(f"load_state_dict ({type(self).__name__}): " + "; ".join(parts))
        arrays: dict[str, np.ndarray] = {}
        for name, p in own.items():
            if name not in state:
                continue
            value = state[name]
            arr = np.asarray(value.data if isinstance(value, Tensor) else value)
            if arr.dtype.kind not in "fiu":
                raise StateDictError(f"load_state_dict: {name!r} has dtype {arr.dtype}; expected numbers")
            if arr.shape != p.shape:
                raise StateDictError(f"load_state_dict: {name!r} has shape {arr.shape}; the model's is {p.shape}")
            arrays[name] = arr
        for name in arrays:
            p = own[name]
            if not p.data.flags.writeable:
                why = p.is_saved() or "its data array is read-only"
                raise StateDictError(f"load_state_dict: cannot write {name!r}: {why} (nothing was written)")
        with no_grad():
            for name, arr in arrays.items():
                own[name].data[...] = arr
        return missing, unexpected

    # ------------------------------------------------------------------ calling and printing
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no forward(); define one")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def extra_repr(self) -> str:
        """The text inside this module's parentheses in ``repr`` (its settings)."""
        return ""

    def __repr__(self) -> str:
        kids = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self.named_children()]
        extra = self.extra_repr()
        if not kids:
            return f"{type(self).__name__}({extra})"
        lines = ([extra] if extra else []) + kids
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"
