"""Labels and colours.  Labels are Graphviz HTML-like labels built from html-escaped text, so
names containing < > " { | \\ or newlines can never break the DOT."""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np

# one fill per tag value, assigned in order (Paul Tol's "light" scheme: distinguishable with the
# common colour-vision deficiencies, and dark text stays readable on every entry)
TAG_COLOURS = ["#77AADD", "#EE8866", "#EEDD88", "#FFAABB", "#99DDFF", "#44BB99", "#BBCC33", "#AAAA00", "#DDDDDD"]
# darker partners for edges that cross from one scope into another (Tol "bright"/"muted")
TAG_EDGE_COLOURS = ["#0077BB", "#CC3311", "#997700", "#AA3377", "#33BBEE", "#009988", "#666600", "#555500", "#555555"]
OP_DEFAULT = "#eeeeee"
PARAM_COLOUR = "#ffe599"
CONST_COLOUR = "#ffffff"
TENSOR_COLOUR = "#ffffff"
NO_GRAD_COLOUR = "#dddddd"
ZERO_GRAD_COLOUR = "#ffffff"  # an exact zero gradient is not "small": it gets its own legend entry
MAX_TEXT = 120  # characters per label line; longer names are cut (Graphviz limits labels, and they stop being readable)
# a perceptually ordered ramp (viridis samples), low → high gradient norm
RAMP = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"]


def clean(text: Any, limit: int = MAX_TEXT) -> str:
    """Text that DOT can always carry: lone surrogates and control characters become U+FFFD,
    and each line is cut to ``limit`` characters (with an ellipsis)."""
    s = str(text).encode("utf-8", "replace").decode("utf-8")  # lone surrogates -> '?'
    s = "".join(c if c == "\n" or (c >= " " and c != "\x7f") else "\ufffd" for c in s)
    return "\n".join(line if len(line) <= limit else line[: limit - 1] + "…" for line in s.split("\n"))


def esc(text: Any) -> str:
    """Escape any text for use inside an HTML-like label (newlines become line breaks)."""
    return "<BR/>".join(html.escape(line, quote=True) for line in clean(text).split("\n"))


def html_label(title: str, *lines: str, bold: bool = True) -> str:
    """``<title / small grey lines>`` as a Graphviz HTML-like label (inputs are escaped here)."""
    head = f"<B>{esc(title)}</B>" if bold and title else esc(title)
    rest = "".join(f'<BR/><FONT POINT-SIZE="9">{esc(line)}</FONT>' for line in lines if line)
    return f"<{head}{rest}>"


def fmt_number(x: float) -> str:
    if x == 0:
        return "0"  # also for -0.0
    if not math.isfinite(x):
        return f"{x:g}"
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e4 else f"{x:.2e}"


SHOW_ELEMENTS = 4  # tensors with at most this many elements show their signed values


def summarise(a: np.ndarray) -> str:
    """Signed values for ≤ 4 elements (``-4``, ``[1, -2]``), else min … max and the L2 norm."""
    a = np.asarray(a)
    if a.size == 0:
        return "empty"
    if a.dtype.kind == "b":
        return f"{int(a.sum())}/{a.size} true"
    if a.size == 1:
        return fmt_number(float(a.reshape(-1)[0]))
    if a.size <= SHOW_ELEMENTS:
        return "[" + ", ".join(fmt_number(float(v)) for v in a.reshape(-1)) + "]"
    return (f"min {fmt_number(float(a.min()))}  max {fmt_number(float(a.max()))}  "
            f"‖·‖ {fmt_number(float(np.sqrt(np.sum(np.asarray(a, dtype=np.float64) ** 2))))}")


def grad_norm(g: Any) -> float | None:
    """‖g‖₂ of a gradient: an array, or a Tensor (a .grad with history after create_graph=True)."""
    return None if g is None else float(np.sqrt(np.sum(np.asarray(getattr(g, "data", g), dtype=np.float64) ** 2)))


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
        if norm == 0:
            return ZERO_GRAD_COLOUR
        if not math.isfinite(norm):
            return RAMP[-1]
        f = (math.log10(norm) - self.lo) / (self.hi - self.lo)
        return RAMP[min(len(RAMP) - 1, max(0, int(f * len(RAMP))))]

    def font(self, norm: float | None) -> str:
        """Black or white text, whichever reads on the fill."""
        c = self.colour(norm)
        return "white" if c in RAMP[:5] else "black"  # (the zero and no-gradient fills are light)

    def legend_rows(self) -> list[tuple[str, str]]:
        """(colour, text) rows from low to high, one per ramp colour."""
        rows = []
        for i, c in enumerate(RAMP):
            a = 10 ** (self.lo + (self.hi - self.lo) * i / len(RAMP))
            b = 10 ** (self.lo + (self.hi - self.lo) * (i + 1) / len(RAMP))
            rows.append((c, f"{fmt_number(a)} ≤ ‖∇‖ < {fmt_number(b)}"))
        return rows
