"""Writing a drawing to disk: DOT source always; SVG/PNG/PDF through the Graphviz ``dot`` binary."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import graphviz

from .graph import VizError

FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}

INSTALL_HINT = (
    "install Graphviz (Debian/Ubuntu: 'apt-get install graphviz'; macOS: 'brew install graphviz'; "
    "'make demo' / 'make test' do it on these machines), or write the DOT source with a .dot file name"
)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def dot_binary() -> str | None:
    """Path of the ``dot`` executable, or None."""
    return shutil.which("dot")


def _pipe(graph: graphviz.Digraph, fmt: str) -> bytes:
    """Run dot.  dot's ranking with clusters has a long-standing bug ("trouble in init_rank",
    e.g. Graphviz 2.43 on large cluster graphs with newrank=true); on that error we lay the graph
    out once more without newrank, which avoids it at the cost of a less tidy cluster order."""
    try:
        return graph.pipe(format=fmt, quiet=True)
    except graphviz.ExecutableNotFound as e:  # pragma: no cover - raced with the check in render()
        raise VizError("viz: the Graphviz 'dot' program is missing; " + INSTALL_HINT) from e
    except graphviz.CalledProcessError as e:
        stderr = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else str(e.stderr or "")
        if "trouble in init_rank" in stderr and graph.graph_attr.get("newrank") == "true":
            retry = graph.copy()
            retry.graph_attr = {k: v for k, v in graph.graph_attr.items() if k != "newrank"}  # any value enables it
            return _pipe(retry, fmt)
        first = stderr.strip().splitlines()[0] if stderr.strip() else str(e)
        raise VizError(f"viz: 'dot' failed: {first[:300]}") from None


def render(graph: graphviz.Digraph, path: str | os.PathLike[str]) -> Path:
    """Write ``graph`` to ``path``; the format comes from the extension (.svg .png .pdf .dot).

    The file appears complete or not at all (written to a temporary file, then renamed).
    Without the ``dot`` binary, only .dot works; other formats fail *before* anything is written.
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise VizError(f"viz: cannot tell the format of {str(path)!r}; use one of {', '.join(sorted(FORMATS))}")
    if not path.parent.exists():
        raise VizError(f"viz: the directory {str(path.parent)!r} does not exist")
    if fmt == "dot":
        data = graph.source.encode("utf-8")
    else:
        if dot_binary() is None:
            raise VizError(f"viz: rendering {path.suffix} needs the Graphviz 'dot' program, which is not on PATH; "
                           + INSTALL_HINT)
        data = _pipe(graph, fmt)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
