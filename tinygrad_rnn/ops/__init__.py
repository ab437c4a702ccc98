"""Every built-in op, grouped by kind, behind one registry.

- :mod:`.elementwise`  arithmetic, activations, numpy's elementwise math, casts;
- :mod:`.reductions`   sum, mean, max/min, softmax, prod, var/std, logsumexp, cumsum/cumprod;
- :mod:`.linalg`       matmul, addmm, dot, outer, einsum, tensordot, trace, norm;
- :mod:`.shaping`      reshape, transpose, indexing, stack/concatenate, and the other shape ops;
- :mod:`.losses`       cross_entropy and the other losses;
- :mod:`.plain`        results with no gradient (isfinite, argmax, one_hot, ...);
- :mod:`.axes`         the one axis normaliser every op uses.

An op's forward and its named backward rules sit side by side: a rule is the VJP
``g ↦ g · ∂out/∂input`` (``g`` has the output's shape), written once as
``rule(F, g, out, *inputs, **static)`` with operators and the functions of ``F``
(:mod:`tinygrad_rnn.funcs`): with ``F = NP`` it runs on numpy arrays (first-order backward), with
``F = TG`` on Tensors, recording the backward pass so it can be differentiated again.  Masks and
indices taken with ``F.value`` are constants.  Broadcasting is *not* undone here: the walk does it
once, for all ops (:func:`tinygrad_rnn.backward.fit_gradient`).  Learners adding an op: copy one of
these and see :mod:`tinygrad_rnn.op` for the contract.

**Second derivatives.**  Every op here has one (its rule is made of differentiable ops).  At kinks
the first-order subgradient choices carry over: ``relu`` and ``abs`` use 0 at 0 and their second
derivative is 0 everywhere (the mask is a constant); ``max``/``min`` route to the first arg-max, so
their second derivative is that of the selected element; ``where``'s condition is a constant.

**Conventions** (tested in ``tests/engine/test_op_conventions.py``; where PyTorch differs, the test shows it):

- ``maximum``/``minimum`` at a tie give each input half of ``g`` (as PyTorch); ``clip`` passes
  ``g`` where ``lo ≤ x ≤ hi`` (inclusive, as PyTorch's ``clamp``); ``sign`` has gradient 0.
- ``max``/``min`` (also over a tuple of axes) give the whole gradient to the *first* arg-max in C
  order (PyTorch's full reduction splits it among ties).
- ``var``/``std`` default to ``ddof=0`` (numpy); PyTorch defaults to ``correction=1``.
- ``prod`` is exact at zeros: with one zero in a slice, that element's gradient is the product of
  the others and every other element's is 0; with two or more zeros, all are 0.
- ``split`` has numpy's semantics (``sections`` or split indices); ``chunk`` PyTorch's.
- Losses take the class axis last (``axis=-1``, like ``cross_entropy``); PyTorch's ``nll_loss``
  and ``cross_entropy`` put it at dim 1 for inputs of more than 2 dims.
- Domains are numpy's: outside one (``arcsin(2)``) the value is NaN with numpy's warning, and so is
  the gradient; at a pole of the derivative (``arcsin'(±1)``, ``cbrt'(0)``) the gradient is ±inf,
  as in PyTorch.

:data:`REGISTRY` maps each op's recorded name to the op (``REGISTRY["tanh"]`` is ``tanh``); a public
op's name here is its recorded name.  :data:`PUBLIC` is every public function of the op set, ops
and the functions made of them (``dot`` of N-D operands, ``gather``, ``trace``, ...).
"""

from __future__ import annotations

import inspect
from typing import Any

from ..op import Op
from . import axes, elementwise, linalg, losses, plain, reductions, shaping

from .axes import (  # noqa: F401  (re-exported)
    normalize_axis, normalize_axes,
)
from .elementwise import (  # noqa: F401  (re-exported)
    add, sub, mul, div, pow, neg, tanh, exp, log, sigmoid, relu, sqrt, abs, where, square, sign, log1p, expm1,
    sin, cos, softplus, logsigmoid, leaky_relu, elu, gelu, silu, maximum, minimum, clip, logaddexp, tan,
    arcsin, arccos, arctan, arctan2, sinh, cosh, arcsinh, arccosh, arctanh, exp2, log2, log10, cbrt,
    reciprocal, logaddexp2, astype,
)
from .reductions import (  # noqa: F401  (re-exported)
    sum, mean, max, min, softmax, log_softmax, prod, var, std, logsumexp, cumsum, cumprod,
)
from .linalg import (  # noqa: F401  (re-exported)
    matmul, addmm, diagonal, trace, outer, einsum, tensordot, dot, norm,
)
from .shaping import (  # noqa: F401  (re-exported)
    reshape, transpose, broadcast_to, getitem, scatter, stack, concatenate, flip, pad, tile, repeat, tril,
    triu, take_along_axis, gather, squeeze, expand_dims, flatten, swapaxes, moveaxis, split, chunk, roll,
    ravel, atleast_1d, atleast_2d, atleast_3d,
)
from .losses import (  # noqa: F401  (re-exported)
    class_coefficients, cross_entropy, mse_loss, nll_loss, binary_cross_entropy,
    binary_cross_entropy_with_logits,
)
from .plain import (  # noqa: F401  (re-exported)
    isfinite, isnan, argmax, argmin, any, all, one_hot,
)

from .shaping import unsqueeze  # noqa: F401  (expand_dims under PyTorch's name)

KINDS = (elementwise, reductions, linalg, shaping, losses, plain)


def _own(kind: Any, obj: Any) -> bool:
    """An op, or a function defined in ``kind`` itself (not one it imported)."""
    return isinstance(obj, Op) or inspect.isfunction(obj) and obj.__module__ == kind.__name__


# The learner's core: the ops the seed's model (eqs 1-7) and its loss are built from, with the
# arithmetic around them; everything else in the op set is layered on the same contract.
CORE = ("add", "sub", "mul", "div", "pow", "neg", "tanh", "exp", "log", "sigmoid", "relu", "sqrt", "abs", "where",
        "sum", "mean", "max", "min", "softmax", "log_softmax", "cross_entropy", "matmul", "addmm", "dot", "reshape",
        "transpose", "broadcast_to", "getitem", "scatter", "stack", "concatenate")

PUBLIC: dict[str, Any] = {name: obj for kind in KINDS for name, obj in vars(kind).items()
                          if not name.startswith("_") and _own(kind, obj)}
REGISTRY: dict[str, Op] = {op.name: op for kind in KINDS for op in vars(kind).values() if isinstance(op, Op)}
