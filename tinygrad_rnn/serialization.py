"""``tg.save(state, path)`` and ``tg.load(path)``: a dict of named arrays as an ``.npz`` file, with no
pickle anywhere, written atomically, read with the refusals a file from elsewhere needs.

Writing: a temporary file in the same directory, fsynced, renamed over ``path`` (a symbolic link
there is replaced, never followed), the directory fsynced: a crash leaves the old file or the new
one, never half of one.

Reading checks everything cheap *before* any array is read, from one open descriptor (no link
followed, no FIFO): the file's size (``max_bytes``), the zip's member count and directory size from
its end record (so a zip of a million members is refused before it is listed), each member's name
(``NAME.npy``, unique), its ``.npy`` header (numbers only: no object dtype, so no pickle; a sane
shape) and that its declared uncompressed size matches its header (no zip bomb).  Then the arrays,
and that every floating value is finite.  Any problem is one :class:`LoadError` naming the file
and the entry; nothing is returned then.
"""

from __future__ import annotations

import os
import stat
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import Any, BinaryIO, Mapping

import numpy as np

__all__ = ["save", "load", "LoadError", "zip_directory_size", "npy_header"]

MAX_MEMBERS = 100_000
HEADER_SLACK = 4096  # bytes a .npy header may take beyond the data


class LoadError(ValueError):
    """A file ``tg.load`` refuses (named with the entry at fault)."""


def save(state: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``{name: array}`` (arrays, Tensors or numbers) to ``path`` as an ``.npz``, atomically."""
    path = Path(path)
    if not isinstance(state, Mapping):
        raise TypeError(f"save: expected a mapping of names to arrays, got {type(state).__name__}")
    arrays = {}
    for name, value in state.items():
        if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
            raise ValueError(f"save: {path}: entry names must be non-empty strings without '/', got {name!r}")
        arr = np.asarray(getattr(value, "data", value))
        if arr.dtype.kind not in "fiub":
            raise TypeError(f"save: {path}: entry {name!r} has dtype {arr.dtype}; only number arrays are saved "
                            "(no pickle)")
        arrays[name] = arr
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dfd = os.open(path.parent if str(path.parent) else ".", os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _open(path: Path, max_bytes: int) -> BinaryIO:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise LoadError(f"load: {path}: no such file") from None
    except OSError as e:
        if os.path.islink(path):
            raise LoadError(f"load: {path} is a symbolic link; give the file itself") from None
        raise LoadError(f"load: cannot open {path}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise LoadError(f"load: {path} is not a regular file")
        if st.st_size > max_bytes:
            raise LoadError(f"load: {path} is {st.st_size} bytes, more than max_bytes={max_bytes}")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def zip_directory_size(fh: BinaryIO) -> tuple[int, int] | None:
    """(members, directory bytes) a zip declares, from its end record (and the zip64 one where
    present), without reading the directory itself; None if ``fh`` holds no end record.  The
    caller can refuse a zip of a million members before ``zipfile`` lists them."""
    size = fh.seek(0, os.SEEK_END)
    tail_len = min(size, 22 + 0xFFFF)
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return None
    _, _, _, _, members, cd_size, _, _ = struct.unpack("<4s4H2LH", tail[at:at + 22])
    if (members == 0xFFFF or cd_size == 0xFFFFFFFF) and at >= 20 and tail[at - 20:at - 16] == b"PK\x06\x07":
        _, _, offset, _ = struct.unpack("<4sLQL", tail[at - 20:at])
        if offset + 56 <= size:
            fh.seek(offset)
            record = fh.read(56)
            if record[:4] == b"PK\x06\x06":
                members, cd_size = struct.unpack("<QQ", record[32:48])
    fh.seek(0)
    return members, cd_size


def npy_header(member: Any) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, header length) of the ``.npy`` stream ``member``, read without its data;
    ``ValueError``/``EOFError``/``OSError`` if it is not a readable header."""
    fmt = np.lib.format
    version = fmt.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = fmt.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, _, dtype = fmt.read_array_header_2_0(member)
    else:
        raise ValueError(f"unsupported .npy version {version}")
    return tuple(int(n) for n in shape), np.dtype(dtype), member.tell()


def _directory(fh: BinaryIO, path: Path) -> tuple[int, int]:
    found = zip_directory_size(fh)
    if found is None:
        raise LoadError(f"load: {path} is not an .npz file (not a zip archive)")
    return found


def _header(member: Any, name: str, path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    try:
        return npy_header(member)
    except (ValueError, EOFError, OSError) as e:
        raise LoadError(f"load: {path}: entry {name!r} is not a readable .npy array ({e})") from None


def load(path: str | os.PathLike[str], max_bytes: int = 1 << 32, max_members: int = MAX_MEMBERS) -> dict[str, np.ndarray]:
    """The ``{name: array}`` a :func:`save` wrote (see the module docstring for what is refused):
    at most ``max_bytes`` of file and of data, at most ``max_members`` entries."""
    path = Path(path)
    fh = _open(path, max_bytes)
    out: dict[str, np.ndarray] = {}
    try:
        with fh:
            members, cd_size = _directory(fh, path)
            if members > max_members or cd_size > max_members * 1024:
                raise LoadError(f"load: {path} declares {members} entries in {cd_size} bytes of directory; "
                                f"at most max_members={max_members} are read")
            with zipfile.ZipFile(fh) as zf:
                infos = zf.infolist()
                total = 0
                for info in infos:
                    if not info.filename.endswith(".npy") or "/" in info.filename or info.filename.startswith("."):
                        raise LoadError(f"load: {path}: unexpected entry {info.filename!r} (an .npz holds NAME.npy)")
                    name = info.filename[:-4]
                    if name in out:
                        raise LoadError(f"load: {path}: entry {name!r} appears twice")
                    with zf.open(info) as member:
                        shape, dtype, header_len = _header(member, name, path)
                    if dtype.hasobject or dtype.kind not in "fiub" or any(n < 0 for n in shape):
                        raise LoadError(f"load: {path}: entry {name!r} has dtype {dtype} and shape {shape}; only number "
                                        "arrays are loaded (no pickle)")
                    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
                    total += nbytes
                    if total > max_bytes:
                        raise LoadError(f"load: {path}: the entries declare more than max_bytes={max_bytes} of data")
                    if info.file_size > nbytes + header_len + HEADER_SLACK or info.file_size < nbytes + header_len:
                        raise LoadError(f"load: {path}: entry {name!r} declares {info.file_size} bytes uncompressed; "
                                        f"its header says {nbytes + header_len}")
                    with zf.open(info) as member:
                        arr = np.lib.format.read_array(member, allow_pickle=False)
                    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                        raise LoadError(f"load: {path}: entry {name!r} has non-finite values")
                    out[name] = arr
    except LoadError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError, RuntimeError, struct.error) as e:
        raise LoadError(f"load: {path} is corrupt or truncated ({type(e).__name__}: {str(e)[:200]})") from None
    return out
