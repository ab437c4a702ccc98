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
- **Nothing of yours is deleted**: ``--out`` must be a run directory (it holds ``.lock``), an empty
  or new directory, or given with ``--force``; never ``/`` or your home directory.  The only files
  ever removed are this program's own names (:data:`OWN_FILES`, and their temporaries
  ``.NAME.XXXXXXXX.tmp`` as ``tempfile.mkstemp`` makes them).
- **Read once, bounded**: a file is opened once (``O_NOFOLLOW | O_NONBLOCK``, so a link or a FIFO
  swapped in after any check cannot redirect or block the read), checked on the open descriptor
  (``fstat``: a regular file, no larger than what it can legitimately hold), and everything is
  taken from that one read.

A test-only hook, the environment variable ``TINYGRAD_RNN_FAULT=<point>[:<n>]``, ends the process
with ``os._exit(137)`` the n-th time (default 1st) the named point is reached; see :func:`fault`.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable

__all__ = ["RunError", "prepare", "RunLock", "atomic_write", "MetricsLog", "read_metrics", "fault",
           "clean_temporaries", "regular_file", "open_regular", "read_bounded", "few", "OWN_FILES"]

#: every file a training run writes into its directory (and the only names it ever removes)
OWN_FILES = ("checkpoint.npz", "best.npz", "metrics.jsonl", "config.json", "config_history.json", "sample.txt",
             "loss.png", "attention.png", "grad_norms.png")
_OWN_TEMPORARY = re.compile(r"^\.(" + "|".join(re.escape(n) for n in OWN_FILES) + r")\.[a-z0-9_]{8}\.tmp$")
MAX_LINE = 1 << 20  # a metrics record is a few hundred bytes; a longer line is damage

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


def few(names: Any, n: int = 5) -> str:
    """The first ``n`` names and how many more (an error line stays short whatever a file holds)."""
    names = list(names)
    shown = ", ".join(str(x)[:80] for x in names[:n])
    return shown + (f" and {len(names) - n} more" if len(names) > n else "")


def is_run_directory(path: Path) -> bool:
    """A directory a run has used: it holds the run's ``.lock`` file."""
    return os.path.lexists(path / ".lock")


def prepare(out: str, force: bool = False) -> Path:
    """Check ``--out`` and create it (with its parents); any problem is one line.

    Refused: ``/`` and the home directory (always), and an existing directory that holds files but
    is not a run directory, unless ``force`` (the run then writes only its own names there)."""
    if not out or not out.strip():
        raise RunError("--out: the output directory name is empty")
    path = Path(out)
    try:
        if path.is_symlink() and not path.is_dir():
            raise RunError(f"--out: {out!r} is a symbolic link to nothing usable; give a directory")
        if path.exists() and not path.is_dir():
            raise RunError(f"--out: {out!r} exists and is not a directory")
        if path.is_dir():
            real = path.resolve()
            home = Path(os.path.expanduser("~")).resolve()
            if real == Path(real.anchor) or real == home:
                raise RunError(f"--out: {out!r} is {'the file-system root' if real != home else 'your home directory'}"
                               "; give a directory of its own for the run (e.g. runs/NAME)")
            if not force and not is_run_directory(path):
                with os.scandir(path) as entries:
                    others = sorted(e.name for e in entries)
                if others:
                    raise RunError(f"--out: {out!r} holds files ({few(others, 3)}) and is not a run directory; "
                                   "use a new or empty directory, or --force to write the run's files there")
        path.mkdir(parents=True, exist_ok=True)
    except RunError:
        raise
    except (OSError, ValueError) as e:
        why = _why(e) if isinstance(e, OSError) else str(e)
        raise RunError(f"--out: cannot create {out!r}: {why}") from None
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
    """Remove the temporary files that killed writes of this program left behind
    (``.NAME.XXXXXXXX.tmp`` for NAME in :data:`OWN_FILES`, exactly as :func:`atomic_write` names
    them; any other ``.tmp`` file is not ours and stays); returns them."""
    removed = []
    for p in directory.glob(".*.tmp"):
        if not _OWN_TEMPORARY.match(p.name):
            continue
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


def _kind(mode: int) -> str:
    return "a symbolic link" if stat.S_ISLNK(mode) else "a FIFO" if stat.S_ISFIFO(mode) else \
        "a directory" if stat.S_ISDIR(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else \
        "not a regular file"


def open_regular(path: Path, what: str, limit: int) -> BinaryIO | None:
    """Open ``path`` once for reading, or None if it does not exist.  ``O_NOFOLLOW | O_NONBLOCK``:
    a symbolic link is refused, a FIFO cannot block; then the *open descriptor* is checked
    (``fstat``): a regular file of at most ``limit`` bytes.  Whatever is swapped in at ``path``
    after this, the caller reads the file checked here."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise RunError(f"{what}: {path} is a symbolic link; remove it or use another --out") from None
        raise RunError(f"{what}: cannot open {path}: {_why(e)}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise RunError(f"{what}: {path} is {_kind(st.st_mode)}; remove it or use another --out")
        if st.st_size > limit:
            raise RunError(f"{what}: {path} is {st.st_size} bytes, more than the {limit} it can hold; "
                           "the file is damaged or not this program's")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bounded(path: Path, what: str, limit: int) -> bytes | None:
    """The bytes of the regular file ``path`` (None if it does not exist), read once, at most
    ``limit`` bytes (see :func:`open_regular`; a file that grows while read is refused too)."""
    fh = open_regular(path, what, limit)
    if fh is None:
        return None
    with fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise RunError(f"{what}: {path} grew past {limit} bytes while it was read")
    return data


def parse_json(data: bytes, what: str) -> Any:
    """JSON from bytes, any damage (not UTF-8, not JSON, nested too deep) one :class:`RunError`."""
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise RunError(f"{what} is not UTF-8 text; the file is damaged") from None
    except (json.JSONDecodeError, RecursionError):
        raise RunError(f"{what} is not readable JSON; the file is damaged") from None


def _number(value: Any) -> bool:
    return type(value) in (int, float)


def read_jsonl(path: Path, what: str, max_bytes: int,
               record: Callable[[Path, int, bytes], dict[str, Any] | None]) -> tuple[list[dict[str, Any]], str | None]:
    """The records of a JSON-lines file and a warning if its last line was torn (cut short by a
    crash: dropped).  Read once (:func:`open_regular`), at most ``max_bytes`` and lines of at most
    :data:`MAX_LINE`; ``record(path, n, line)`` parses and checks line ``n`` (None: skip it) and
    raises :class:`RunError` naming the line for any damage."""
    fh = open_regular(path, what, max_bytes)
    if fh is None:
        return [], None
    records: list[dict[str, Any]] = []
    warning = None
    with fh:
        n = 0
        while True:
            line = fh.readline(MAX_LINE + 1)
            if not line:
                break
            n += 1
            if not line.endswith(b"\n"):
                if len(line) > MAX_LINE:
                    raise RunError(f"{path}: line {n} is longer than {MAX_LINE} bytes; the file is damaged")
                # after the last newline: a line the writer never finished
                warning = f"{path}: dropped a torn last line ({len(line)} bytes, written when a run was killed)"
                break
            records.append(record(path, n, line))
    return [r for r in records if r is not None], warning


def read_metrics(path: Path, max_bytes: int = 1 << 30) -> tuple[list[dict[str, Any]], str | None]:
    """The records of ``metrics.jsonl`` (:func:`read_jsonl`): each an object with an integer
    ``step`` and numbers for its losses and accuracy."""
    return read_jsonl(path, "metrics", max_bytes, _record)


def _record(path: Path, n: int, line: bytes) -> dict[str, Any] | None:
    if not line.strip():
        return None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise RunError(f"{path}: line {n} is not UTF-8 text; the file is damaged") from None
    try:
        record = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise RunError(f"{path}: line {n} is not a JSON record; the file is damaged") from None
    if not isinstance(record, dict) or type(record.get("step")) is not int or record["step"] < 0:
        raise RunError(f"{path}: line {n} has no integer 'step'; the file is damaged")
    bad = [k for k in ("loss", "eval_loss", "eval_acc") if k in record and not _number(record[k])]
    if bad:
        raise RunError(f"{path}: line {n}: {bad[0]!r} is {type(record[bad[0]]).__name__}, expected a number; "
                       "the file is damaged")
    return record


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
