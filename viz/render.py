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


def dot_binary() -> str | None:
    """Path of the ``dot`` executable, or None."""
    return shutil.which("dot")


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
        try:
            data = graph.pipe(format=fmt)
        except graphviz.ExecutableNotFound as e:  # pragma: no cover - raced with the check above
            raise VizError("viz: the Graphviz 'dot' program is missing; " + INSTALL_HINT) from e
        except graphviz.CalledProcessError as e:
            raise VizError(f"viz: 'dot' failed: {e.stderr.decode(errors='replace')[:500] if e.stderr else e}") from e
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
