"""tinygrad_rnn: a tape-based tensor autodiff engine on numpy, small enough to read.

>>> import numpy as np, tinygrad_rnn as tg
>>> W = tg.Tensor(np.eye(2), requires_grad=True)
>>> loss = (W @ np.ones(2)).tanh().sum()
>>> loss.backward()
>>> W.grad.shape
(2, 2)

Modules, in reading order:
``tape`` (what is recorded, per-thread scopes, no_grad, saved-data protection) → ``op`` (how an
op declares its rules) → ``ops`` (every built-in rule) → ``funcs`` (the numpy and traced function
sets rules are written with) → ``backward`` (the reverse walk, the one place broadcasting is
undone, and its recorded twin) → ``tensor`` (the Tensor class) → ``functional`` (grad, vjp,
jvp, hvp, hessian) → ``gradcheck`` (and gradgradcheck) → ``optim`` → ``testing`` (hypothesis
strategies for your own gradient tests).
"""

from . import optim
from .memory import reuse_freed_memory
from .backward import GradientShapeError, SparseGrad
from .gradcheck import GradcheckError, gradcheck, gradgradcheck, jacobian, numerical_jacobian
from .op import Op, OpDefinitionError, defop
from .ops import (
    abs,
    add,
    broadcast_to,
    concatenate,
    cross_entropy,
    div,
    dot,
    exp,
    log,
    log_softmax,
    matmul,
    max,
    mean,
    min,
    mul,
    neg,
    pow,
    relu,
    reshape,
    sigmoid,
    softmax,
    sqrt,
    stack,
    sub,
    sum,
    tanh,
    transpose,
    where,
)
from .tape import (
    AnomalyError,
    Record,
    Stub,
    current_scope,
    describe_saved,
    detect_anomaly,
    enable_grad,
    graph_of,
    is_anomaly_enabled,
    is_grad_enabled,
    no_grad,
    scope,
    tag,
    tape_of,
)
from .tensor import Tensor
from .functional import gradients, grad, value_and_grad, vjp, jvp, hvp, hessian

__version__ = "0.1.0"


def zeros(*shape: int, requires_grad: bool = False, dtype: object = None) -> Tensor:
    """A tensor of zeros (float64 unless ``dtype`` says otherwise)."""
    import numpy as _np

    return Tensor(_np.zeros(shape, dtype=dtype or _np.float64), requires_grad=requires_grad)


def ones(*shape: int, requires_grad: bool = False, dtype: object = None) -> Tensor:
    """A tensor of ones (float64 unless ``dtype`` says otherwise)."""
    import numpy as _np

    return Tensor(_np.ones(shape, dtype=dtype or _np.float64), requires_grad=requires_grad)


__all__ = [
    "Tensor", "Op", "defop", "Record", "Stub", "optim",
    "add", "sub", "mul", "div", "pow", "neg", "tanh", "exp", "log", "sigmoid", "relu", "sqrt", "abs",
    "sum", "mean", "max", "min", "softmax", "log_softmax", "cross_entropy", "matmul", "dot", "reshape",
    "transpose", "broadcast_to", "stack", "concatenate", "where", "zeros", "ones",
    "no_grad", "enable_grad", "is_grad_enabled", "scope", "tag", "current_scope", "detect_anomaly", "is_anomaly_enabled", "describe_saved", "tape_of", "graph_of",
    "gradcheck", "jacobian", "numerical_jacobian", "GradcheckError", "GradientShapeError", "AnomalyError",
    "SparseGrad", "reuse_freed_memory", "OpDefinitionError",
    "gradients", "grad", "value_and_grad", "vjp", "jvp", "hvp", "hessian", "gradgradcheck",
]
