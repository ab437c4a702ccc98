"""A training run directory that survives anything: one writer, crash-consistent files, no links followed.

What is promised (and tested by killing a training process at every file boundary and at random
moments, then resuming):

- **Process death at any instant** (``kill -9``, out of memory, Ctrl-C) followed by ``--resume`` gives
  the same ``metrics.jsonl`` and the same parameters as an uninterrupted run.  The order that makes
  it so: a step's metrics line is written (and fsynced) *before* the checkpoint that covers it is
  renamed into place, and ``--resume`` keeps only the records up to the checkpoint's step (later
  ones are recomputed, identically, because every batch has its own seeded generator).
- **Power loss**: every file that matters is fsynced before it is renamed into place, and the
  directory is fsynced after the rename, so after a crash of the machine the directory holds the
  last checkpoint and at least every metrics record up to it.
- **One writer**: an exclusive ``flock`` on ``DIR/.lock`` for the whole run; a second run on the
  same directory fails at once, naming the holder's pid.  The kernel drops the lock when a process
  dies, so a killed run never blocks its own resume.
- **No writes through links**: every file is written to a temporary file in the directory and
  renamed over the target (a symbolic link there is replaced, never followed), or opened with
  ``O_NOFOLLOW``.  Non-regular files (a FIFO named ``checkpoint.npz``) are refused.

A test-only hook, the environment variable ``TINYGRAD_RNN_FAULT=<point>[:<n>]``, ends the process
with ``os._exit(137)`` the n-th time (default 1st) the named point is reached; see :func:`fault`.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["RunError", "prepare", "RunLock", "atomic_write", "MetricsLog", "read_metrics", "fault",
           "clean_temporaries", "regular_file"]

FAULT_ENV = "TINYGRAD_RNN_FAULT"
_fault_counts: dict[str, int] = {}


class RunError(Exception):
    """A user-facing problem with the run directory: printed as one line, exit code 1."""


def _due(point: str) -> bool:
    """Test-only: has ``TINYGRAD_RNN_FAULT`` reached this point the number of times it names?"""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return False
    name, _, nth = spec.partition(":")
    if name != point:
        return False
    _fault_counts[point] = _fault_counts.get(point, 0) + 1
    return _fault_counts[point] == int(nth or 1)


def fault(point: str) -> None:
    """Test-only fault injection: die like ``kill -9`` here if ``TINYGRAD_RNN_FAULT`` names this point."""
    if _due(point):
        os._exit(137)


def _why(e: OSError) -> str:
    if e.errno == errno.ENOSPC:
        return "the disk is full"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "permission denied (read-only?)"
    return e.strerror or str(e)


def prepare(out: str) -> Path:
    """Check ``--out`` and create it (with its parents); any problem is one line."""
    if not out or not out.strip():
        raise RunError("--out: the output directory name is empty")
    path = Path(out)
    if path.is_symlink() and not path.is_dir():
        raise RunError(f"--out: {out!r} is a symbolic link to nothing usable; give a directory")
    if path.exists() and not path.is_dir():
        raise RunError(f"--out: {out!r} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(f"--out: cannot create {out!r}: {_why(e)}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise RunError(f"--out: {out!r} is not writable")
    return path


class RunLock:
    """An exclusive lock on a run directory for as long as the run lives (``flock`` on ``DIR/.lock``)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / ".lock"
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as e:
            raise RunError(f"cannot open the lock file {self.path}: {_why(e)}") from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self.fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(self.fd)
            raise RunError(f"{directory} is in use by another run (pid {holder}); wait for it to finish, "
                           "or use another --out") from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing drops the flock
            self.fd = -1

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes | None = None, writer: Any = None, point: str = "") -> None:
    """Write ``path`` whole or not at all: a temporary file in the same directory, fsynced, then
    renamed over ``path`` (replacing a link there, never following it), then the directory fsynced.
    Give ``data``, or ``writer(fh)`` that writes into a binary file object.  ``OSError`` propagates
    after the temporary file is removed."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            if writer is not None:
                writer(fh)
            else:
                fh.write(data or b"")
            fh.flush()
            os.fsync(fh.fileno())
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp creates 0600; give the file the usual permissions
        if point:
            fault(point)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def clean_temporaries(directory: Path) -> list[Path]:
    """Remove temporary files that killed writes left behind (``.NAME.*.tmp``); returns them."""
    removed = []
    for p in directory.glob(".*.tmp"):
        try:
            if stat.S_ISREG(p.lstat().st_mode):
                p.unlink()
                removed.append(p)
        except OSError:  # pragma: no cover - raced with another cleaner
            pass
    return removed


def regular_file(path: Path, what: str) -> bool:
    """True if ``path`` is a regular file, False if it does not exist; refuses anything else
    (a FIFO would block a reader forever; a link is not ours to follow)."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(mode):
        kind = "a symbolic link" if stat.S_ISLNK(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
        raise RunError(f"{what}: {path} is {kind}; remove it or use another --out")
    return True


def read_metrics(path: Path) -> tuple[list[dict[str, Any]], str | None]:
    """The records of ``metrics.jsonl`` and a warning if its last line was torn (cut short by a
    crash: dropped).  Any other damage is a :class:`RunError` naming the line."""
    if not regular_file(path, "metrics"):
        return [], None
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    torn = lines.pop()  # after the last newline: empty, or a line the writer never finished
    warning = f"{path}: dropped a torn last line ({len(torn)} bytes, written when a run was killed)" if torn else None
    records = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise RunError(f"{path}: line {n} is not UTF-8 text; the file is damaged") from None
        try:
            record = json.loads(text)
        except json.JSONDecodeError:
            raise RunError(f"{path}: line {n} is not a JSON record; the file is damaged") from None
        if not isinstance(record, dict) or type(record.get("step")) is not int:
            raise RunError(f"{path}: line {n} has no integer 'step'; the file is damaged")
        records.append(record)
    return records, warning


class MetricsLog:
    """Appends one JSON line per record to ``metrics.jsonl`` (opened with ``O_NOFOLLOW | O_APPEND``);
    :meth:`sync` makes everything written so far durable (called before a checkpoint covers it)."""

    def __init__(self, path: Path) -> None:
        regular_file(path, "metrics")
        try:
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as e:
            raise RunError(f"cannot open {path}: {_why(e)}") from None
        self.path = path

    def append(self, record: dict[str, Any]) -> None:
        data = (json.dumps(record) + "\n").encode()
        fault("metrics-partial")  # (a test can die here, or with half a line written, below)
        if _due("metrics-torn"):
            os.write(self.fd, data[: len(data) // 2])
            os._exit(137)
        os.write(self.fd, data)

    def sync(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def say(message: str) -> None:
    """A one-line note on stderr (warnings that do not stop the run)."""
    print(f"note: {message}", file=sys.stderr)
