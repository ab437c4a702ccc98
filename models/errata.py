"""How far the seed's printed equations are from the truth, measured on random inputs.

``python -m tinygrad_rnn.models.errata [--draws N]`` prints the tables quoted in docs/ERRATA.md.
For each draw: T = 5, H = 4, D = 3, K = 3, one sequence, integer targets, parameters
N(0, scale²/fan_in) with b ~ N(0, (0.1·scale)²), c = 0, for each scale.  Reported: the
relative error ‖printed − true‖ / ‖true‖ (median, min, max over draws) and the cosine
between printed and true gradients.  "true" is :func:`tinygrad_rnn.models.closed_form.bptt`, which the
tests check against the engine and finite differences.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from . import closed_form as cf

SCALES = (0.3, 1.0, 1.5, 3.0)


def random_case(seed: int, scale: float, T: int = 5, H: int = 4, D: int = 3, K: int = 3) -> tuple[dict, Any, Any]:
    """One draw: (params, xs (T, D), ys (T,) integer classes)."""
    rng = np.random.default_rng(seed)
    params = {
        "W": rng.standard_normal((H, H)) * scale / np.sqrt(H),
        "U": rng.standard_normal((H, D)) * scale / np.sqrt(D),
        "b": rng.standard_normal(H) * 0.1 * scale,
        "V": rng.standard_normal((K, H)) * scale / np.sqrt(H),
        "c": np.zeros(K),
    }
    return params, rng.standard_normal((T, D)), rng.integers(0, K, T)


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sum(a * b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def discrepancies(draws: int = 100, scales: tuple[float, ...] = SCALES, **sizes: int) -> dict[float, dict[str, dict]]:
    """{scale: {param: {"rel": [...], "cos": [...], "rel_sign_fixed": [...]}}} over ``draws`` seeds.
    ``rel_sign_fixed`` is the relative error of −printed (the sign of (y − ŷ) undone)."""
    out: dict[float, dict[str, dict]] = {}
    for scale in scales:
        stats: dict[str, dict] = {k: {"rel": [], "cos": [], "rel_sign_fixed": []} for k in "WUbV"}
        for seed in range(draws):
            params, xs, ys = random_case(seed, scale, **sizes)
            true = cf.bptt(params, xs, ys)
            printed = cf.as_printed(params, xs, ys)
            for k in "WUbV":
                stats[k]["rel"].append(relative_error(printed[k], true[k]))
                stats[k]["cos"].append(cosine(printed[k], true[k]))
                stats[k]["rel_sign_fixed"].append(relative_error(-printed[k], true[k]))
        out[scale] = stats
    return out


def table(draws: int = 100) -> str:
    """The markdown table for docs/ERRATA.md."""
    eq = {"V": "10", "W": "13", "U": "15", "b": "17"}
    lines = [
        "| eq | grad | scale | rel. error median [min, max] | cosine median | rel. error with sign undone, median |",
        "|---|---|---|---|---|---|",
    ]
    res = discrepancies(draws)
    for k in "VWUb":
        for scale, stats in res.items():
            s = stats[k]
            undone = "n/a (sign printed right)" if k == "V" else f"{np.median(s['rel_sign_fixed']):.3g}"
            lines.append(
                f"| {eq[k]} | ∂L/∂{k} | {scale} | {np.median(s['rel']):.3g} [{np.min(s['rel']):.3g}, "
                f"{np.max(s['rel']):.3g}] | {np.median(s['cos']):.3f} | {undone} |"
            )
    return "\n".join(lines)


def product_order_table(draws: int = 100, scales: tuple[float, ...] = (0.3, 1.0, 3.0)) -> str:
    """Eqs 12/14/16 evaluated with the product Π_{j=k}^{m−1} ∂h_{j+1}/∂h_j in each order, against
    the true gradient (``bptt``; tested against the engine): relative error median and max."""
    lines = ["| product order | grad | scale | rel. error median | rel. error max |", "|---|---|---|---|---|"]
    for order in ("chain", "as_written"):
        for k in "WUb":
            for scale in scales:
                errs = []
                for seed in range(draws):
                    params, xs, ys = random_case(seed, scale)
                    errs.append(relative_error(cf.nested_sums(params, xs, ys, product_order=order)[k],
                                               cf.bptt(params, xs, ys)[k]))
                lines.append(f"| {order} | ∂L/∂{k} | {scale} | {np.median(errs):.3g} | {np.max(errs):.3g} |")
    return "\n".join(lines)


def k0_effect_table(draws: int = 100, scales: tuple[float, ...] = SCALES) -> str:
    """How much the literal k = 0 reading of eqs 3-4 (``attend_h0``) changes the loss and the
    gradients: relative difference median [max] over draws."""
    lines = ["| scale | loss | ∂L/∂W | ∂L/∂U | ∂L/∂b | ∂L/∂V |", "|---|---|---|---|---|---|"]
    for scale in scales:
        diffs: dict[str, list[float]] = {k: [] for k in ("loss", "W", "U", "b", "V")}
        for seed in range(draws):
            params, xs, ys = random_case(seed, scale)
            a, b = cf.forward(params, xs, ys), cf.forward(params, xs, ys, attend_h0=True)
            la = float(-(a.Y * np.log(a.probs)).sum())
            lb = float(-(b.Y * np.log(b.probs)).sum())
            diffs["loss"].append(abs(lb - la) / abs(la))
            ga, gb = cf.bptt(params, xs, ys), cf.bptt(params, xs, ys, attend_h0=True)
            for k in "WUbV":
                diffs[k].append(relative_error(gb[k], ga[k]))
        lines.append(f"| {scale} | " + " | ".join(f"{np.median(d):.3g} [{np.max(d):.3g}]" for d in diffs.values()) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tinygrad_rnn.models.errata", description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=100, help="random draws per scale (default 100)")
    args = parser.parse_args(argv)
    print(f"{args.draws} draws per scale; T=5, H=4, D=3, K=3, one sequence, integer targets")
    print(table(args.draws))
    print("\neqs 12/14/16, the product's two orders:")
    print(product_order_table(args.draws))
    print("\neqs 3/4, the literal k = 0 reading against k = 1..t (relative difference, median [max]):")
    print(k0_effect_table(args.draws))


if __name__ == "__main__":
    main()
