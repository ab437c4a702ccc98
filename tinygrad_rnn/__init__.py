"""tinygrad_rnn: a tape-based tensor autodiff engine on numpy, small enough to read.

>>> import numpy as np, tinygrad_rnn as tg
>>> W = tg.Tensor(np.eye(2), requires_grad=True)
>>> loss = (W @ np.ones(2)).tanh().sum()
>>> loss.backward()
>>> W.grad.shape
(2, 2)

Modules, in reading order:
``tape`` (what is recorded, per-thread scopes, no_grad, saved-data protection) → ``op`` (how an
op declares its rules) → ``ops`` (the seed's ops and their rules) → ``more_ops`` (the rest of the
op set: activations, reductions, shape/index ops, einsum, losses) → ``more_math`` (inverse and hyperbolic
trigonometry, other bases, cumprod, roll, astype) → ``linalg`` (norms) → ``funcs`` (the numpy and traced function
sets rules are written with) → ``backward`` (the reverse walk, the one place broadcasting is
undone, and its recorded twin) → ``tensor`` (the Tensor class; ``interop``: numpy functions on
Tensors; ``creation``: zeros, randn, ...) → ``functional`` (grad, vjp,
jvp, hvp, hessian) → ``gradcheck`` (and gradgradcheck) → ``optim`` → ``testing`` (hypothesis
strategies and checks for your own gradient tests; ``tg.testing``, imported on first use because it
needs hypothesis).
"""

from . import memory, optim
from .memory import reuse_freed_memory  # opt-in, for programs that own their process: nothing is applied at import
from .funcs import SparseGrad
from .op import GradientShapeError
from .gradcheck import GradcheckError, UncheckableInput, gradcheck, gradgradcheck, jacobian, numerical_jacobian
from .op import Op, OpDefinitionError, defop
from .recording import (
    AnomalyError,
    current_scope,
    detect_anomaly,
    enable_grad,
    is_anomaly_enabled,
    is_grad_enabled,
    no_grad,
    scope,
    tag,
)
from .saved import describe_saved
from .tape import Record, Stub, graph_of, tape_of
from .tensor import Tensor
from .functional import gradients, grad, value_and_grad, vjp, jvp, hvp, hessian

from .creation import arange, eye, full, full_like, linspace, ones, ones_like, rand, randn, zeros, zeros_like
from .ops import (  # every op, by kind (tinygrad_rnn/ops/): one registry, ops.REGISTRY
    abs, add, addmm, all, any, arccos, arccosh, arcsin, arcsinh, arctan, arctan2, arctanh, argmax, argmin,
    astype, atleast_1d, atleast_2d, atleast_3d, binary_cross_entropy, binary_cross_entropy_with_logits,
    broadcast_to, cbrt, chunk, clip, concatenate, cos, cosh, cross_entropy, cumprod, cumsum, diagonal, div,
    dot, einsum, elu, exp, exp2, expand_dims, expm1, flatten, flip, gather, gelu, isfinite, isnan, leaky_relu,
    log, log10, log1p, log2, log_softmax, logaddexp, logaddexp2, logsigmoid, logsumexp, matmul, max, maximum,
    mean, min, minimum, moveaxis, mse_loss, mul, neg, nll_loss, one_hot, outer, pad, pow, prod, ravel,
    reciprocal, relu, repeat, reshape, roll, sigmoid, sign, silu, sin, sinh, softmax, softplus, split, sqrt,
    square, squeeze, stack, std, sub, sum, swapaxes, take_along_axis, tan, tanh, tensordot, tile, trace,
    transpose, tril, triu, unsqueeze, var, where,
)
from .ops import linalg  # tg.linalg.norm, as numpy spells it
from .random import manual_seed, default_generator
from .serialization import LoadError, load, save
from . import nn  # layers, recurrent cells, Module (built on everything above)
from .compiler import Compiled, compile  # trace once, replay as generated numpy (tg.compile, as torch.compile)
from .tracing import TraceError

__version__ = "0.1.0"

__all__ = [
    "Tensor", "Op", "defop", "Record", "Stub", "optim",
    # elementwise
    "add", "sub", "mul", "div", "pow", "neg", "tanh", "exp", "log", "sigmoid", "relu", "sqrt", "abs", "where",
    "square", "sign", "log1p", "expm1", "sin", "cos", "softplus", "logsigmoid", "leaky_relu", "elu", "gelu",
    "silu", "maximum", "minimum", "clip", "logaddexp", "isfinite", "isnan", "tan", "arcsin", "arccos", "arctan",
    "arctan2", "sinh", "cosh", "arcsinh", "arccosh", "arctanh", "exp2", "log2", "log10", "cbrt", "reciprocal",
    "logaddexp2", "astype",
    # reductions
    "sum", "mean", "max", "min", "prod", "var", "std", "logsumexp", "cumsum", "cumprod", "argmax", "argmin", "any",
    "all",
    "softmax", "log_softmax",
    # shape and indexing
    "reshape", "transpose", "broadcast_to", "stack", "concatenate", "squeeze", "expand_dims", "unsqueeze",
    "flatten", "flip", "pad", "repeat", "tile", "split", "chunk", "tril", "triu", "swapaxes", "moveaxis",
    "diagonal", "trace", "gather", "take_along_axis", "one_hot", "roll", "ravel", "atleast_1d", "atleast_2d",
    "atleast_3d",
    # linear algebra
    "matmul", "addmm", "dot", "outer", "tensordot", "einsum", "linalg",
    # losses
    "cross_entropy", "nll_loss", "mse_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    # creation
    "zeros", "ones", "full", "eye", "arange", "linspace", "zeros_like", "ones_like", "full_like", "rand", "randn",
    # recording state and inspection
    "no_grad", "enable_grad", "is_grad_enabled", "scope", "tag", "current_scope", "detect_anomaly",
    "is_anomaly_enabled", "describe_saved", "tape_of", "graph_of",
    # checking and higher order
    "gradcheck", "jacobian", "numerical_jacobian", "GradcheckError", "UncheckableInput", "GradientShapeError", "AnomalyError",
    "SparseGrad", "reuse_freed_memory", "OpDefinitionError",
    # building blocks, saving, seeding
    "nn", "save", "load", "LoadError", "manual_seed", "default_generator", "compile", "Compiled", "TraceError",
    "gradients", "grad", "value_and_grad", "vjp", "jvp", "hvp", "hessian", "gradgradcheck",
]


def __getattr__(name: str) -> object:
    """``tg.testing`` on first use: it needs hypothesis, which the engine does not."""
    if name == "testing":
        import importlib

        return importlib.import_module(".testing", __name__)
    raise AttributeError(f"module 'tinygrad_rnn' has no attribute {name!r}")
