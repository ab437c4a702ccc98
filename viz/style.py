"""Labels and colours.  Labels are Graphviz HTML-like labels built from html-escaped text, so
names containing < > " { | \\ or newlines can never break the DOT."""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np

# one colour per equation tag (eq 1..7) and a neutral one
EQ_COLOURS = {
    1: "#cfe2f3", 2: "#fce5cd", 3: "#fff2cc", 4: "#d9ead3", 5: "#ead1dc", 6: "#d0e0e3", 7: "#f4cccc",
}
# darker versions for edges that cross from one scope into another
EQ_EDGE_COLOURS = {
    1: "#3d85c6", 2: "#e69138", 3: "#bf9000", 4: "#6aa84f", 5: "#a64d79", 6: "#45818e", 7: "#cc0000",
}
OP_DEFAULT = "#eeeeee"
PARAM_COLOUR = "#ffe599"
CONST_COLOUR = "#ffffff"
TENSOR_COLOUR = "#ffffff"
NO_GRAD_COLOUR = "#dddddd"
# a perceptually ordered ramp (viridis samples), low → high gradient norm
RAMP = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"]


def esc(text: Any) -> str:
    """Escape any text for use inside an HTML-like label (newlines become line breaks)."""
    return "<BR/>".join(html.escape(str(line), quote=True) for line in str(text).split("\n"))


def html_label(title: str, *lines: str, bold: bool = True) -> str:
    """``<title / small grey lines>`` as a Graphviz HTML-like label (inputs are escaped here)."""
    head = f"<B>{esc(title)}</B>" if bold and title else esc(title)
    rest = "".join(f'<BR/><FONT POINT-SIZE="9">{esc(line)}</FONT>' for line in lines if line)
    return f"<{head}{rest}>"


def fmt_number(x: float) -> str:
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e4 else f"{x:.2e}"


def summarise(a: np.ndarray) -> str:
    """A short value summary: the values for ≤ 3 elements, else mean/std/max|·|."""
    a = np.asarray(a)
    if a.size == 0:
        return "empty"
    if a.dtype.kind == "b":
        return f"{int(a.sum())}/{a.size} true"
    if a.size <= 3:
        return "[" + ", ".join(fmt_number(float(v)) for v in a.reshape(-1)) + "]"
    return f"μ {fmt_number(float(a.mean()))}  σ {fmt_number(float(a.std()))}  max|·| {fmt_number(float(np.abs(a).max()))}"


def grad_norm(g: np.ndarray | None) -> float | None:
    return None if g is None else float(np.sqrt(np.sum(np.asarray(g, dtype=np.float64) ** 2)))


class LogScale:
    """Maps gradient norms onto RAMP on a log10 scale spanning the observed non-zero norms."""

    def __init__(self, norms: list[float]) -> None:
        positive = [n for n in norms if n > 0 and math.isfinite(n)]
        self.lo = math.floor(math.log10(min(positive))) if positive else 0
        self.hi = math.ceil(math.log10(max(positive))) if positive else 1
        if self.hi <= self.lo:
            self.hi = self.lo + 1

    def colour(self, norm: float | None) -> str:
        if norm is None:
            return NO_GRAD_COLOUR
        if norm <= 0 or not math.isfinite(norm):
            return RAMP[0]
        f = (math.log10(norm) - self.lo) / (self.hi - self.lo)
        return RAMP[min(len(RAMP) - 1, max(0, int(f * len(RAMP))))]

    def font(self, norm: float | None) -> str:
        """Black or white text, whichever reads on the fill."""
        c = self.colour(norm)
        return "white" if c in RAMP[:5] else "black"

    def legend_rows(self) -> list[tuple[str, str]]:
        """(colour, text) rows from low to high, one per ramp colour."""
        rows = []
        for i, c in enumerate(RAMP):
            a = 10 ** (self.lo + (self.hi - self.lo) * i / len(RAMP))
            b = 10 ** (self.lo + (self.hi - self.lo) * (i + 1) / len(RAMP))
            rows.append((c, f"{fmt_number(a)} ≤ ‖∇‖ < {fmt_number(b)}"))
        return rows
