"""Elementwise ops: arithmetic, the activations, the rest of numpy's elementwise math, dtype casts.

Each op: its forward, its named backward rules (``rule(F, g, out, *inputs, **static)``), the derivative in
the docstring.  Broadcasting is undone by the walk, once (:func:`tinygrad_rnn.backward.fit_gradient`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..op import defop
from .axes import _floating

if TYPE_CHECKING:  # for annotations only, never run: tensor.py is above the op set
    from ..tensor import Tensor


def _grad(F: Any, g: Any, out: Any, *ins: Any, **static: Any) -> Any:
    return g


def _neg_grad(F: Any, g: Any, out: Any, *ins: Any, **static: Any) -> Any:
    return -g


@defop("add", saves=(), rules=(_grad, _grad))
def add(a: Any, b: Any) -> Any:
    """a + b.   ∂/∂a = 1, ∂/∂b = 1."""
    return np.add(a, b)


@defop("sub", saves=(), rules=(_grad, _neg_grad))
def sub(a: Any, b: Any) -> Any:
    """a − b.   ∂/∂a = 1, ∂/∂b = −1."""
    return np.subtract(a, b)


@defop("mul", saves=(0, 1), rules=(lambda F, g, out, a, b: g * b,
                                   lambda F, g, out, a, b: g * a))
def mul(a: Any, b: Any) -> Any:
    """a ⊙ b.   ∂/∂a = b, ∂/∂b = a."""
    return np.multiply(a, b)


@defop("div", saves=(1, "out"), rules=(lambda F, g, out, a, b: g / b,
                                       lambda F, g, out, a, b: -g * out / b))
def div(a: Any, b: Any) -> Any:
    """a / b.   ∂/∂a = 1/b, ∂/∂b = −a/b² = −out/b."""
    return np.true_divide(a, b)


def _pow_da(F: Any, g: Any, out: Any, a: Any, b: Any) -> Any:
    zero_b = np.equal(F.value(b), 0)
    if np.any(zero_b):  # x⁰ = 1 for every x, even 0: the derivative is 0 there (a kept away from 0⁻¹)
        return g * F.where(zero_b, 0.0, b * F.where(zero_b, 1.0, a) ** (b - 1.0))
    return g * (b * a ** (b - 1.0))


def _pow_db(F: Any, g: Any, out: Any, a: Any, b: Any) -> Any:
    zero_a = np.equal(F.value(a), 0)
    if np.any(zero_a):  # 0^b is constant for b ≥ 0: the derivative is 0 there (ln kept away from 0)
        mask = np.logical_and(zero_a, np.greater_equal(F.value(b), 0))
        with np.errstate(divide="ignore"):  # 0^b for b < 0: inf · ln 0 = −inf, as PyTorch
            return g * F.where(mask, 0.0, out * F.log(F.where(mask, 1.0, a)))
    return g * (out * F.log(a))


@defop("pow", saves=(0, 1, "out"), rules=(_pow_da, _pow_db))
def pow(a: Any, b: Any) -> Any:  # noqa: A001 (shadows builtin inside this module only)
    """a ** b.   ∂/∂a = b·a^(b−1), ∂/∂b = a^b · ln a  (real only for a > 0).

    Limits taken as PyTorch does: ∂/∂a = 0 where b = 0 (x⁰ = 1 for every x, even at 0),
    and ∂/∂b = 0 where a = 0 and b ≥ 0 (0^b is constant there), instead of 0·∞ = NaN.
    """
    return np.power(a, b)


@defop("neg", saves=(), rules=(_neg_grad,))
def neg(x: Any) -> Any:
    """−x.   ∂/∂x = −1."""
    return np.negative(x)


@defop("tanh", saves=("out",), rules=(lambda F, g, y, x: g * (1.0 - y * y),))
def tanh(x: Any) -> Any:
    """tanh x (Θ_h of eq 1).   ∂/∂x = 1 − tanh² x."""
    return np.tanh(x)


@defop("exp", saves=("out",), rules=(lambda F, g, y, x: g * y,))
def exp(x: Any) -> Any:
    """eˣ.   ∂/∂x = eˣ."""
    return np.exp(x)


@defop("log", saves=(0,), rules=(lambda F, g, y, x: g / x,))
def log(x: Any) -> Any:
    """ln x.   ∂/∂x = 1/x.  Non-positive x gives numpy's usual warning and nan/−inf."""
    return np.log(x)


@defop("sigmoid", saves=("out",), rules=(lambda F, g, y, x: g * y * (1.0 - y),))
def sigmoid(x: Any) -> Any:
    """σ(x) = 1/(1+e⁻ˣ).   ∂/∂x = σ(1−σ).

    Computed as 1/(1+e⁻ˣ) for x ≥ 0 and eˣ/(1+eˣ) for x < 0: no overflow, and full relative
    precision for large negative x (σ(−40) ≈ 4.2e−18, not 0), so ln σ stays finite.
    """
    x = np.asarray(x)
    e = np.exp(-np.abs(x))  # ≤ 1: never overflows
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


@defop("relu", saves=(0,), rules=(lambda F, g, y, x: g * (F.value(x) > 0),))
def relu(x: Any) -> Any:
    """max(x, 0).   ∂/∂x = 1 for x > 0, else 0 (we take the subgradient 0 at x = 0)."""
    return np.maximum(x, 0)


@defop("sqrt", saves=("out",), rules=(lambda F, g, y, x: g * 0.5 / y,))
def sqrt(x: Any) -> Any:
    """√x.   ∂/∂x = 1/(2√x)."""
    return np.sqrt(x)


@defop("abs", saves=(0,), rules=(lambda F, g, y, x: g * np.sign(F.value(x)),))
def abs(x: Any) -> Any:  # noqa: A001
    """|x|.   ∂/∂x = sign x (subgradient 0 at x = 0)."""
    return np.abs(x)


@defop("where", saves=(0,), rules=(None,
                                   lambda F, g, out, cond, a, b: F.where(cond, g, 0.0),
                                   lambda F, g, out, cond, a, b: F.where(cond, 0.0, g)))
def where(cond: Any, a: Any, b: Any) -> Any:
    """cond ? a : b, elementwise.   ∂/∂a = [cond], ∂/∂b = [¬cond]; no gradient for cond.

    The unused branch gets an exact 0 (never 0·inf), so ``where(mask, scores, -inf)``
    before a softmax gives exact zeros and a NaN-free backward.
    """
    cond = np.asarray(cond)
    if cond.dtype != np.bool_:
        raise TypeError(f"where: cond must be boolean, got dtype {cond.dtype}")
    return np.where(cond, a, b)


_SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))


_GELU_C = 0.044715


@defop("square", saves=(0,), rules=(lambda F, g, y, x: g * (2.0 * x),))
def square(x: Any) -> Any:
    """x².   ∂/∂x = 2x."""
    return np.square(x)


@defop("sign", saves=(), rules=(lambda F, g, y, x: g * 0.0,))
def sign(x: Any) -> Any:
    """sign x ∈ {−1, 0, 1}.   ∂/∂x = 0 (almost everywhere; 0 also at 0, as PyTorch)."""
    return np.sign(_floating(x))


@defop("log1p", saves=(0,), rules=(lambda F, g, y, x: g / (1.0 + x),))
def log1p(x: Any) -> Any:
    """ln(1 + x), exact for tiny x.   ∂/∂x = 1/(1 + x)."""
    return np.log1p(x)


@defop("expm1", saves=("out",), rules=(lambda F, g, y, x: g * (y + 1.0),))
def expm1(x: Any) -> Any:
    """eˣ − 1, exact for tiny x.   ∂/∂x = eˣ = out + 1."""
    return np.expm1(x)


@defop("sin", saves=(0,), rules=(lambda F, g, y, x: g * F.cos(x),))
def sin(x: Any) -> Any:
    """sin x.   ∂/∂x = cos x."""
    return np.sin(x)


@defop("cos", saves=(0,), rules=(lambda F, g, y, x: -g * F.sin(x),))
def cos(x: Any) -> Any:
    """cos x.   ∂/∂x = −sin x."""
    return np.cos(x)


@defop("softplus", saves=(0,), rules=(lambda F, g, y, x, beta=1.0: g * F.sigmoid(x * beta),))
def softplus(x: Any, beta: float = 1.0) -> Any:
    """ln(1 + e^{βx}) / β, stable for any x (no overflow, no threshold).   ∂/∂x = σ(βx).

    (PyTorch switches to the identity where βx > 20, which differs from the exact value by
    < 2e−9·|x|; this op does not.)"""
    return np.logaddexp(0.0, np.multiply(x, beta)) / beta


@defop("logsigmoid", saves=(0,), rules=(lambda F, g, y, x: g * F.sigmoid(-x),))
def logsigmoid(x: Any) -> Any:
    """ln σ(x) = −softplus(−x), stable: finite and exact for large negative x (ln σ(−800) = −800).
    ∂/∂x = 1 − σ(x) = σ(−x)."""
    return -np.logaddexp(0.0, np.negative(x))


def _leaky_rule(F: Any, g: Any, y: Any, x: Any, negative_slope: float = 0.01) -> Any:
    return g * np.where(F.value(x) > 0, 1.0, negative_slope)


@defop("leaky_relu", saves=(0,), rules=(_leaky_rule,))
def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    """x for x > 0, else slope·x.   ∂/∂x = 1 for x > 0, else slope (also at 0, as PyTorch)."""
    x = np.asarray(x)
    return np.where(x > 0, x, x * negative_slope)


def _elu_rule(F: Any, g: Any, y: Any, x: Any, alpha: float = 1.0) -> Any:
    pos = F.value(x) > 0
    return F.where(pos, g, g * alpha * F.exp(F.where(pos, 0.0, x)))  # e^x only where used: no inf·0


@defop("elu", saves=(0,), rules=(_elu_rule,))
def elu(x: Any, alpha: float = 1.0) -> Any:
    """x for x > 0, else α(eˣ − 1).   ∂/∂x = 1 for x > 0, else α eˣ."""
    x = np.asarray(x)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def _gelu_rule(F: Any, g: Any, y: Any, x: Any) -> Any:
    x2 = x * x
    t = F.tanh(_SQRT_2_OVER_PI * (x + _GELU_C * x2 * x))
    du = _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_C * x2)
    return g * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)


@defop("gelu", saves=(0,), rules=(_gelu_rule,))
def gelu(x: Any) -> Any:
    """GELU, tanh form: ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³) (PyTorch's approximate='tanh').
    ∂/∂x = ½(1 + tanh u) + ½x(1 − tanh² u)·√(2/π)(1 + 3·0.044715x²)."""
    x = np.asarray(x)
    return 0.5 * x * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x + _GELU_C * x * x * x)))


def _silu_rule(F: Any, g: Any, y: Any, x: Any) -> Any:
    s = F.sigmoid(x)
    return g * (s * (1.0 + x * (1.0 - s)))


@defop("silu", saves=(0,), rules=(_silu_rule,))
def silu(x: Any) -> Any:
    """x·σ(x) (swish).   ∂/∂x = σ(x)(1 + x(1 − σ(x)))."""
    return np.multiply(x, sigmoid.fn(x))


def _tie_share(F: Any, a: Any, b: Any, first_wins: Any) -> np.ndarray:
    """1 where a wins, ½ at a tie, 0 where b wins (a constant mask)."""
    av, bv = F.value(a), F.value(b)
    return np.where(first_wins(av, bv), 1.0, np.where(av == bv, 0.5, 0.0))


@defop("maximum", saves=(0, 1), rules=(lambda F, g, y, a, b: g * _tie_share(F, a, b, np.greater),
                                       lambda F, g, y, a, b: g * _tie_share(F, b, a, np.greater)))
def maximum(a: Any, b: Any) -> Any:
    """Elementwise max(a, b).   ∂/∂a = [a > b], ∂/∂b = [b > a]; a tie gives each ½ (as PyTorch)."""
    return np.maximum(a, b)


@defop("minimum", saves=(0, 1), rules=(lambda F, g, y, a, b: g * _tie_share(F, a, b, np.less),
                                       lambda F, g, y, a, b: g * _tie_share(F, b, a, np.less)))
def minimum(a: Any, b: Any) -> Any:
    """Elementwise min(a, b).   ∂/∂a = [a < b], ∂/∂b = [b < a]; a tie gives each ½ (as PyTorch)."""
    return np.minimum(a, b)


def _clip_rule(F: Any, g: Any, y: Any, x: Any, lo: Any = None, hi: Any = None) -> Any:
    xv = F.value(x)
    inside = np.ones(np.shape(xv), dtype=bool)
    if lo is not None:
        inside &= xv >= lo
    if hi is not None:
        inside &= xv <= hi
    return F.where(inside, g, 0.0)


@defop("clip", saves=(0,), rules=(_clip_rule,))
def clip(x: Any, lo: Any = None, hi: Any = None) -> Any:
    """x limited to [lo, hi] (either may be None; constants).
    ∂/∂x = 1 where lo ≤ x ≤ hi (inclusive, as PyTorch's clamp), else 0."""
    if lo is None and hi is None:
        raise ValueError("clip: give lo, hi or both")
    return np.clip(x, lo, hi)


def _lae_rule(F: Any, g: Any, y: Any, a: Any, b: Any, which: int) -> Any:
    return g * F.exp((a if which == 0 else b) - y)


@defop("logaddexp", saves=(0, 1, "out"), rules=(lambda F, g, y, a, b: _lae_rule(F, g, y, a, b, 0),
                                                lambda F, g, y, a, b: _lae_rule(F, g, y, a, b, 1)))
def logaddexp(a: Any, b: Any) -> Any:
    """ln(eᵃ + eᵇ), stable.   ∂/∂a = e^{a − out}, ∂/∂b = e^{b − out}."""
    return np.logaddexp(a, b)


_LN2 = float(np.log(2.0))


_LN10 = float(np.log(10.0))


@defop("tan", saves=("out",), rules=(lambda F, g, y, x: g * (1.0 + y * y),))
def tan(x: Any) -> Any:
    """tan x.   ∂/∂x = 1 + tan² x = sec² x."""
    return np.tan(x)


@defop("arcsin", saves=(0,), rules=(lambda F, g, y, x: g / F.sqrt(1.0 - x * x),))
def arcsin(x: Any) -> Any:
    """arcsin x on [−1, 1].   ∂/∂x = 1/√(1 − x²)."""
    return np.arcsin(x)


@defop("arccos", saves=(0,), rules=(lambda F, g, y, x: -g / F.sqrt(1.0 - x * x),))
def arccos(x: Any) -> Any:
    """arccos x on [−1, 1].   ∂/∂x = −1/√(1 − x²)."""
    return np.arccos(x)


@defop("arctan", saves=(0,), rules=(lambda F, g, y, x: g / (1.0 + x * x),))
def arctan(x: Any) -> Any:
    """arctan x.   ∂/∂x = 1/(1 + x²)."""
    return np.arctan(x)


@defop("arctan2", saves=(0, 1), rules=(lambda F, g, y, a, b: g * b / (a * a + b * b),
                                       lambda F, g, y, a, b: -g * a / (a * a + b * b)))
def arctan2(a: Any, b: Any) -> Any:
    """The angle of the point (b, a): numpy's ``arctan2(y=a, x=b)``.
    ∂/∂a = b/(a² + b²), ∂/∂b = −a/(a² + b²)."""
    return np.arctan2(a, b)


@defop("sinh", saves=(0,), rules=(lambda F, g, y, x: g * F.cosh(x),))
def sinh(x: Any) -> Any:
    """sinh x.   ∂/∂x = cosh x."""
    return np.sinh(x)


@defop("cosh", saves=(0,), rules=(lambda F, g, y, x: g * F.sinh(x),))
def cosh(x: Any) -> Any:
    """cosh x.   ∂/∂x = sinh x."""
    return np.cosh(x)


@defop("arcsinh", saves=(0,), rules=(lambda F, g, y, x: g / F.sqrt(x * x + 1.0),))
def arcsinh(x: Any) -> Any:
    """arsinh x.   ∂/∂x = 1/√(x² + 1)."""
    return np.arcsinh(x)


@defop("arccosh", saves=(0,), rules=(lambda F, g, y, x: g / F.sqrt(x * x - 1.0),))
def arccosh(x: Any) -> Any:
    """arcosh x on [1, ∞).   ∂/∂x = 1/√(x² − 1)."""
    return np.arccosh(x)


@defop("arctanh", saves=(0,), rules=(lambda F, g, y, x: g / (1.0 - x * x),))
def arctanh(x: Any) -> Any:
    """artanh x on (−1, 1).   ∂/∂x = 1/(1 − x²)."""
    return np.arctanh(x)


@defop("exp2", saves=("out",), rules=(lambda F, g, y, x: g * (y * _LN2),))
def exp2(x: Any) -> Any:
    """2ˣ.   ∂/∂x = 2ˣ ln 2."""
    return np.exp2(x)


@defop("log2", saves=(0,), rules=(lambda F, g, y, x: g / (x * _LN2),))
def log2(x: Any) -> Any:
    """log₂ x.   ∂/∂x = 1/(x ln 2)."""
    return np.log2(x)


@defop("log10", saves=(0,), rules=(lambda F, g, y, x: g / (x * _LN10),))
def log10(x: Any) -> Any:
    """log₁₀ x.   ∂/∂x = 1/(x ln 10)."""
    return np.log10(x)


@defop("cbrt", saves=("out",), rules=(lambda F, g, y, x: g / (3.0 * y * y),))
def cbrt(x: Any) -> Any:
    """∛x (real, for negative x too).   ∂/∂x = 1/(3 ∛x²)  (+inf at 0)."""
    return np.cbrt(x)


@defop("reciprocal", saves=("out",), rules=(lambda F, g, y, x: -g * (y * y),))
def reciprocal(x: Any) -> Any:
    """1/x.   ∂/∂x = −1/x² = −out²."""
    return np.reciprocal(_floating(x))


@defop("logaddexp2", saves=(0, 1, "out"), rules=(lambda F, g, y, a, b: g * F.exp2(a - y),
                                                 lambda F, g, y, a, b: g * F.exp2(b - y)))
def logaddexp2(a: Any, b: Any) -> Any:
    """log₂(2ᵃ + 2ᵇ), stable.   ∂/∂a = 2^{a − out}, ∂/∂b = 2^{b − out}."""
    return np.logaddexp2(a, b)


def _astype_rule(F: Any, g: Any, out: Any, x: Any, dtype: Any = None) -> Any:
    return g  # the engine casts it back to x's dtype where it meets x


@defop("astype", saves=(), rules=(_astype_rule,))
def _astype(x: Any, dtype: Any = None) -> Any:
    """x in another floating dtype.   ∂/∂x = g, cast back to x's dtype."""
    return np.asarray(x).astype(dtype)


def astype(x: Any, dtype: Any) -> Tensor:
    """x converted to ``dtype`` (numpy's ``astype``).  Between floating dtypes the result is recorded
    (∂/∂x = g, cast back); to an integer or boolean dtype it has no gradient, as in PyTorch."""
    return _astype(x, dtype=np.dtype(dtype))
