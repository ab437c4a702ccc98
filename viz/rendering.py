"""Writing a drawing to disk: DOT source always; SVG/PNG/PDF through the Graphviz ``dot`` binary."""

from __future__ import annotations

import os
import shutil
import subprocess
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


def _pipe(graph: graphviz.Digraph, fmt: str, timeout: float) -> bytes:
    """Run dot (stopped after ``timeout`` seconds).  dot's ranking with clusters has a long-standing
    bug ("trouble in init_rank", e.g. Graphviz 2.43 on large cluster graphs with newrank=true); on
    that error we lay the graph out once more without newrank, which avoids it at the cost of a
    less tidy cluster order."""
    exe = dot_binary()
    if exe is None:  # pragma: no cover - raced with the check in render()
        raise VizError("viz: the Graphviz 'dot' program is missing; " + INSTALL_HINT)
    try:
        done = subprocess.run([exe, f"-T{fmt}"], input=graph.source.encode("utf-8"), capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise VizError(f"viz: 'dot' did not finish within {timeout:g} s; draw fewer nodes (collapse=True, a "
                       "smaller graph) or pass a larger timeout") from None
    if done.returncode == 0:
        return done.stdout
    stderr = done.stderr.decode(errors="replace")
    if "trouble in init_rank" in stderr and graph.graph_attr.get("newrank") == "true":
        retry = graph.copy()
        retry.graph_attr = {k: v for k, v in graph.graph_attr.items() if k != "newrank"}  # any value enables it
        return _pipe(retry, fmt, timeout)
    first = stderr.strip().splitlines()[0] if stderr.strip() else f"exit status {done.returncode}"
    raise VizError(f"viz: 'dot' failed: {first[:300]}")


def render(graph: graphviz.Digraph, path: str | os.PathLike[str], timeout: float = 120.0) -> Path:
    """Write ``graph`` to ``path``; the format comes from the extension (.svg .png .pdf .dot).

    The file appears complete or not at all (written to a temporary file in the same directory,
    then renamed over the target, so a symbolic link at ``path`` is replaced, never followed).
    Without the ``dot`` binary, only .dot works; other formats fail *before* anything is written.
    ``dot`` is stopped after ``timeout`` seconds.
    """
    path = _checked_path(path, FORMATS, "use one of " + ", ".join(sorted(FORMATS)))
    fmt = FORMATS[path.suffix.lower()]
    if fmt == "dot":
        data = graph.source.encode("utf-8")
    else:
        if dot_binary() is None:
            raise VizError(f"viz: rendering {path.suffix} needs the Graphviz 'dot' program, which is not on PATH; "
                           + INSTALL_HINT)
        data = _pipe(graph, fmt, timeout)
    return write_atomic(path, data)


def svg(graph: graphviz.Digraph, timeout: float = 120.0) -> str:
    """The drawing as SVG text (needs the ``dot`` binary)."""
    if dot_binary() is None:
        raise VizError("viz: an SVG drawing needs the Graphviz 'dot' program, which is not on PATH; " + INSTALL_HINT)
    return _pipe(graph, "svg", timeout).decode("utf-8")


def _checked_path(path: str | os.PathLike[str], formats: dict[str, str], hint: str) -> Path:
    """``path`` as a Path whose extension is one of ``formats`` and whose directory exists."""
    try:
        path = Path(path)
        os.fsencode(path)
    except (TypeError, UnicodeError, ValueError) as e:
        raise VizError(f"viz: cannot use {path!r} as an output path: {e}") from None
    if path.suffix.lower() not in formats:
        raise VizError(f"viz: cannot tell the format of {str(path)!r}; {hint}")
    if path.is_dir():
        raise VizError(f"viz: the output path {str(path)!r} is a directory; give a file name")
    if not path.parent.is_dir():
        raise VizError(f"viz: the directory {str(path.parent)!r} does not exist")
    return path


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` completely or not at all: a temporary file in the same directory,
    then renamed over the target (a symbolic link at ``path`` is replaced, never followed)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise VizError(f"viz: cannot write into {str(path.parent)!r}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise VizError(f"viz: cannot write {str(path)!r}: {e.strerror}") from None
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
