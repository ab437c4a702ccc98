"""``tg.save`` / ``tg.load``: a state dict as ``.npz``, no pickle, written atomically, and each
hostile file refused cheaply with one line naming the file and the entry (and nothing returned)."""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np
import pytest

import tinygrad_rnn as tg


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_round_trip_keeps_names_dtypes_and_bits(tmp_path):
    state = {"w": np.random.default_rng(0).standard_normal((3, 2)), "b32": np.arange(3, dtype=np.float32),
             "steps": np.asarray(7), "t": tg.Tensor([1.0, 2.0])}
    tg.save(state, tmp_path / "s.npz")
    got = tg.load(tmp_path / "s.npz")
    assert set(got) == set(state)
    for k, v in state.items():
        v = np.asarray(getattr(v, "data", v))
        assert got[k].dtype == v.dtype and got[k].tobytes() == v.tobytes()


def test_save_is_atomic_and_refuses_what_would_need_pickle(tmp_path):
    path = tmp_path / "s.npz"
    tg.save({"a": np.ones(2)}, path)
    with pytest.raises(TypeError, match=r"entry 'bad' has dtype object; only number arrays are saved \(no pickle\)"):
        tg.save({"a": np.zeros(2), "bad": np.array([{"x": 1}], dtype=object)}, path)
    np.testing.assert_array_equal(tg.load(path)["a"], np.ones(2))  # the old file, whole
    assert [p.name for p in tmp_path.iterdir()] == ["s.npz"]  # no temporary left behind
    with pytest.raises(ValueError, match="entry names must be non-empty strings without '/'"):
        tg.save({"a/b": np.ones(1)}, path)


def test_save_replaces_a_link_and_never_writes_through_it(tmp_path):
    target = tmp_path / "elsewhere.npz"
    target.write_bytes(b"keep me")
    link = tmp_path / "s.npz"
    link.symlink_to(target)
    tg.save({"a": np.ones(1)}, link)
    assert target.read_bytes() == b"keep me" and not link.is_symlink()


@pytest.mark.parametrize("case", ["object", "nan", "extra member", "not npz", "truncated", "too many members",
                                  "zip bomb", "too big", "link", "fifo", "missing", "duplicate", "bad header"])
def test_hostile_files_are_refused_in_one_line(tmp_path, case):
    path = tmp_path / "s.npz"
    kw = {}
    if case == "object":
        np.savez(path, w=np.array([1, "x"], dtype=object))
        want = r"entry 'w' has dtype object .*no pickle"
    elif case == "nan":
        _npz(path, w=np.array([1.0, np.nan]))
        want = "entry 'w' has non-finite values"
    elif case == "extra member":
        _npz(path, w=np.ones(2))
        with zipfile.ZipFile(path, "a") as zf:
            zf.writestr("evil.py", "print('hi')")
        want = "unexpected entry 'evil.py'"
    elif case == "not npz":
        path.write_bytes(b"hello, not a zip")
        want = "is not an .npz file"
    elif case == "truncated":
        _npz(path, w=np.ones(1000))
        path.write_bytes(path.read_bytes()[:-300])
        want = "is not an .npz file|corrupt or truncated"
    elif case == "too many members":
        _npz(path, **{f"w{i}": np.ones(1) for i in range(5)})
        kw = {"max_members": 3}
        want = "declares 5 entries .* at most max_members=3"
    elif case == "zip bomb":  # a small header, a huge declared (and compressed-away) payload
        buf = io.BytesIO()
        np.lib.format.write_array(buf, np.ones(2))
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("w.npy", buf.getvalue() + b"\0" * 50_000_000)
        assert path.stat().st_size < 1_000_000
        want = r"entry 'w' declares 50000\d+ bytes uncompressed; its header says 144"
    elif case == "too big":
        _npz(path, w=np.ones(1000))
        kw = {"max_bytes": 1000}
        want = r"bytes, more than max_bytes=1000"
    elif case == "link":
        _npz(tmp_path / "real.npz", w=np.ones(1))
        path.symlink_to(tmp_path / "real.npz")
        want = "is a symbolic link"
    elif case == "fifo":
        os.mkfifo(path)
        want = "is not a regular file"
    elif case == "missing":
        want = "no such file"
    elif case == "duplicate":
        buf = io.BytesIO()
        np.lib.format.write_array(buf, np.ones(1))
        with zipfile.ZipFile(path, "w") as zf, pytest.warns(UserWarning, match="Duplicate name"):
            zf.writestr("w.npy", buf.getvalue())
            zf.writestr("w.npy", buf.getvalue())
        want = "entry 'w' appears twice"
    else:  # bad header
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("w.npy", b"\x93NUMPY\x09\x00garbage")
        want = "entry 'w' is not a readable .npy array"
    with pytest.raises(tg.LoadError, match=want) as info:
        tg.load(path, **kw)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_a_good_file_passes_every_refusal(tmp_path):
    # the positive control for the refusals above: the same limits on an honest file
    _npz(tmp_path / "s.npz", **{f"w{i}": np.ones(10) for i in range(3)})
    assert len(tg.load(tmp_path / "s.npz", max_bytes=10_000, max_members=3)) == 3
