"""Central differences that know how wrong they are (numpy only; used by ``gradcheck``).

The central difference along a direction d,

    D(h) = (f(x + h d) − f(x − h d)) / 2h  =  f'(x)·d + c h² + O(h⁴)  +  ρ/h          (1)

has two errors: **truncation** c h² (large when h is not small next to the distance to a pole or
to where f curves fast, e.g. sqrt near 0) and **round-off** ρ/h, with ρ the noise in evaluating
f (at least u·|f|, often far more: a constant row into a normalisation cancels every digit).
One step cannot tell which dominates, so a disagreement between ``backward`` and one D(h) says
nothing about the rule.  :func:`refine` tries a ladder of steps h₀·10^k and, at each, measures

- the truncation from two steps:  D(h) − D(2h) = −3 c h², and Richardson's
  R(h) = (4 D(h) − D(2h)) / 3, whose truncation is O(h⁴);
- the round-off from the smaller steps, where it dominates: |D(hⱼ) − D(2hⱼ)|·hⱼ/h estimates
  ρ/h (noise grows as 1/h), the largest over all smaller steps so that one lucky sample does not
  hide it; never below u·Σ|f|/h;
- the **drift** between the Richardson values of a step and its closer neighbour (a converged
  estimate is stable over a decade of steps; round-off that happens to be linear in the step is not);
- a **kink**: the one-sided slopes (f(x + h) − f(x))/h and (f(x) − f(x − h))/h differ by h·|f''|
  on a smooth f (shrinking with h) but by the jump at a kink or step (constant in h).

and keeps, per output entry, the step whose estimated error is smallest.  ``gradcheck`` then
judges a disagreement against that error: larger than it, the rule is wrong; within it, or at a
kink, finite differences cannot check this input (a different, distinct verdict).

The limit: rounding that is exactly linear in the step over two decades of steps is, to any
finite-difference oracle, a derivative (of the function as computed); it is not reported as noise.

A complex-step derivative (Im f(x + i h)/h, no round-off) would be sharper where f is analytic;
the engine is real-only (a Tensor refuses complex dtypes), so it is not used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["steps", "Estimate", "refine", "LADDER"]

#: multiples of the first step tried when an entry fails with the first step
LADDER: tuple[float, ...] = (0.0001, 0.001, 0.01, 0.1, 1.0, 10.0, 100.0)
_U = float(np.finfo(np.float64).eps)


def steps(x: np.ndarray, eps: float) -> np.ndarray:
    """Per-element steps ε·max(1, |x|), rounded so that x ± h is exactly representable
    (the step the difference divides by is the step the input moved)."""
    x = np.asarray(x, dtype=np.float64)
    h = eps * np.maximum(1.0, np.abs(x))
    return (x + h) - x


@dataclass
class Estimate:
    """Per output entry: the best derivative estimate, its estimated error, the step it came from,
    and whether the one-sided slopes disagree at every small step (a kink or a discontinuity)."""

    value: np.ndarray
    error: np.ndarray
    step: np.ndarray
    kink: np.ndarray
    left: np.ndarray
    right: np.ndarray


def refine(g: Callable[[float], np.ndarray], h0: float, f0: np.ndarray, x0: float = 0.0) -> Estimate:
    """Derivative of ``t ↦ g(t)`` at 0 (``g(t) = f(x + t d)`` flattened, ``f0 = g(0)``) by central
    differences at the steps ``h0 · LADDER`` (module docstring, eq. 1).  With ``x0`` (one input entry
    moved, full mode), each step is rounded to what ``x0 + t`` really moves."""
    f0 = np.asarray(f0, dtype=np.float64).reshape(-1)
    rows = []
    for m in LADDER:  # smallest step first: the round-off estimate reads the smaller steps
        h = float((x0 + h0 * m) - x0)
        h2 = float((x0 + 2 * h) - x0)
        with np.errstate(all="ignore"):  # a large step may leave f's domain (sqrt of < 0): that step is NaN, not used
            p1, m1, p2, m2 = (np.asarray(g(t), dtype=np.float64).reshape(-1) for t in (h, -h, h2, -h2))
        d1 = (p1 - m1) / (2 * h)
        d2 = (p2 - m2) / (2 * h2)
        floor = _U * (np.abs(p1) + np.abs(m1) + np.abs(p2) + np.abs(m2) + np.abs(f0)) / h
        rows.append({"h": h, "rich": (4 * d1 - d2) / 3, "diff": np.abs(d1 - d2), "floor": floor,
                     "right": (p1 - f0) / h, "left": (f0 - m1) / h})
    with np.errstate(invalid="ignore", over="ignore"):
        errors = []
        for k, r in enumerate(rows):
            # round-off at this step: the largest noise seen at a smaller step, scaled by h_small / h
            r["noise"] = np.maximum(r["floor"], np.max([s["diff"] * s["h"] / r["h"] for s in rows
                                                        if s["h"] <= r["h"]], axis=0))
            # and a converged estimate is stable over a decade of steps: round-off that is locally
            # linear in the step (rounding in a mean, say) fools the two-step estimate, not this
            # (the closer neighbour counts: a kink just beyond the smaller steps spoils only the larger ones)
            drift = np.min([np.abs(r["rich"] - rows[q]["rich"]) for q in (k - 1, k + 1) if 0 <= q < len(rows)], axis=0)
            errors.append(2.0 * (r["diff"] + r["noise"]) + drift)
        errors_arr = np.array(errors)
        errors_arr = np.where(np.isfinite(errors_arr), errors_arr, np.inf)
        best = np.argmin(errors_arr, axis=0)
        pick = lambda key: np.array([r[key] for r in rows])[best, np.arange(f0.size)]  # noqa: E731
        value, error = pick("rich"), errors_arr[best, np.arange(f0.size)]
        # a kink: at the two smallest steps the one-sided slopes differ by about the same amount
        # (a smooth f's difference h·|f''| shrinks tenfold), and by far more than the noise there
        j0, j1 = (np.abs(rows[k]["right"] - rows[k]["left"]) for k in (0, 1))
        kink = (j0 >= 0.5 * j1) & (j0 > 20.0 * rows[0]["noise"]) & np.isfinite(j0)
    return Estimate(value=value, error=error, step=np.array([r["h"] for r in rows])[best], kink=kink,
                    left=rows[0]["left"], right=rows[0]["right"])
