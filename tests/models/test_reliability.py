"""Reliability round 3 (issue 29): never delete a user's file, read each file once and bounded,
refuse before the work, resume as the messages say, workers that die with the sweep, Ctrl-C twice.
Real processes where the case is about processes (kills, signals); the fuzz of every flag and
hostile file is tests/models/test_cli_fuzz.py."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tinygrad_rnn.models import train

from tinygrad_rnn.models.app import rundir

from test_rundir import argv, run_cli


# ----------------------------------------------------------------------------- never delete a user's file
def test_a_directory_of_the_users_is_refused_and_nothing_in_it_is_touched(tmp_path):
    home = tmp_path / "experiments"
    home.mkdir()
    (home / ".thesis.tmp").write_text("two years of work")
    (home / "notes.txt").write_text("mine")
    done = run_cli(argv(home, steps=4))
    assert done.returncode == 1 and "holds files (.thesis.tmp, notes.txt) and is not a run directory" in done.stderr
    assert done.stderr.count("\n") == 1
    assert sorted(p.name for p in home.iterdir()) == [".thesis.tmp", "notes.txt"]


def test_force_writes_the_runs_files_beside_the_users_and_removes_none_of_theirs(tmp_path):
    home = tmp_path / "experiments"
    home.mkdir()
    (home / ".thesis.tmp").write_text("two years of work")
    (home / ".notes.abcdefgh.tmp").write_text("not ours either: not one of our names")
    done = run_cli(argv(home, steps=4) + ["--force"])
    assert done.returncode == 0, done.stderr
    assert (home / ".thesis.tmp").read_text() == "two years of work"
    assert (home / ".notes.abcdefgh.tmp").exists() and (home / "checkpoint.npz").exists()


@pytest.mark.parametrize("where", ["root", "home"])
def test_the_root_and_the_home_directory_are_refused_even_with_force(tmp_path, where):
    env_home = tmp_path / "home"
    env_home.mkdir()
    out = "/" if where == "root" else str(env_home)
    done = subprocess.run([sys.executable, "-m", "tinygrad_rnn.models.train", *argv(Path(out), steps=2), "--force"],
                          capture_output=True, text=True, env={**os.environ, "HOME": str(env_home)}, timeout=120)
    assert done.returncode == 1, done.stderr
    assert ("the file-system root" if where == "root" else "your home directory") in done.stderr
    assert list(env_home.iterdir()) == [] and not Path("/checkpoint.npz").exists() and not Path("/.lock").exists()


def test_only_our_own_temporaries_are_removed(tmp_path):
    ours = [tmp_path / f".{name}.abcd_123.tmp" for name in rundir.OWN_FILES]
    theirs = [tmp_path / n for n in (".thesis.tmp", ".x.abcdefgh.tmp", ".checkpoint.npz.short.tmp",
                                     ".checkpoint.npz.abcdefghi.tmp", "checkpoint.npz.abcdefgh.tmp")]
    for p in ours + theirs:
        p.write_text("x")
    assert sorted(rundir.clean_temporaries(tmp_path)) == sorted(ours)
    assert all(p.exists() for p in theirs)


# ----------------------------------------------------------------------------- read once, bounded
def test_a_checkpoint_is_read_once_from_the_checked_descriptor(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    assert train.main(argv(out, steps=10)) == 0
    opened = []
    real_open = os.open

    def counting_open(path, flags, *a, **k):
        if str(path).endswith("checkpoint.npz") and not flags & (os.O_WRONLY | os.O_RDWR):
            opened.append(flags)
        return real_open(path, flags, *a, **k)

    monkeypatch.setattr(os, "open", counting_open)
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("np.load re-opened a run file by path"))
    assert train.main(argv(out, steps=20) + ["--resume"]) == 0
    assert len(opened) == 1 and opened[0] & os.O_NOFOLLOW and opened[0] & os.O_NONBLOCK


@pytest.mark.parametrize("swap", ["fifo", "devzero", "sparse"])
def test_a_file_swapped_in_after_any_check_is_refused_on_the_descriptor(tmp_path, swap):
    """The window the audit found (an lstat, then an open by path) no longer exists: the only check
    is on the open descriptor, so whatever is at the path when it is opened is what is checked."""
    path = tmp_path / "checkpoint.npz"
    if swap == "fifo":
        os.mkfifo(path)
    elif swap == "devzero":
        path.symlink_to("/dev/zero")
    else:
        with open(path, "wb") as fh:
            fh.truncate(3 << 30)
    start = time.perf_counter()
    with pytest.raises(rundir.RunError, match="is a FIFO|symbolic link|more than the 1000 it can hold"):
        rundir.open_regular(path, "test", 1000)
    assert time.perf_counter() - start < 1


def test_a_growing_file_is_refused(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b"x" * 10)
    with pytest.raises(rundir.RunError, match="more than the 5 it can hold"):
        rundir.read_bounded(path, "test", 5)
    assert rundir.read_bounded(path, "test", 10) == b"x" * 10 and rundir.read_bounded(tmp_path / "no", "t", 1) is None


def test_error_lines_stay_short_whatever_the_file_holds():
    assert rundir.few([f"m{i}" for i in range(300_000)]) == "m0, m1, m2, m3, m4 and 299995 more"
    assert len(rundir.few(["x" * 10**6])) == 80


# ----------------------------------------------------------------------------- optimizer state
def test_hostile_optimizer_state_is_refused_before_anything_is_written():
    import tinygrad_rnn as tg

    p = tg.Tensor(np.ones(3), requires_grad=True)
    opt = tg.optim.Adam([p])
    good = {"steps": np.asarray(5), "m.0": np.full(3, 0.1), "s.0": np.full(3, 0.2)}
    opt.load_state_dict(good)
    for bad, message in [({**good, "s.0": np.array([0.2, -1.0, 0.2])}, "negative entries"),
                         ({**good, "steps": np.asarray(0)}, "'steps' is 0 but the moments are not zero"),
                         ({**good, "steps": np.asarray(-1)}, "non-negative integer"),
                         ({**good, "steps": np.asarray(2.5)}, "non-negative integer"),
                         ({**good, "m.0": np.array([np.nan, 0, 0])}, "finite numbers")]:
        with pytest.raises(ValueError, match=message):
            opt.load_state_dict({**bad, "m.0": bad["m.0"] * 7} if "m.0" not in message else bad)
        assert opt.steps == 5 and np.array_equal(opt.m[0], np.full(3, 0.1))  # nothing was written
    fresh = tg.optim.Adam([p])
    fresh.load_state_dict({"steps": np.asarray(0), "m.0": np.zeros(3), "s.0": np.zeros(3)})  # a fresh state loads
    sgd = tg.optim.SGD([p], lr=0.1, momentum=0.9)
    with pytest.raises(KeyError, match="velocity.0"):
        sgd.load_state_dict({"steps": np.asarray(1)})


# ----------------------------------------------------------------------------- resume as the messages say
def test_resume_with_only_out_continues_the_runs_own_settings(tmp_path):
    out = tmp_path / "run"
    first = run_cli(argv(out, steps=20, **{"hidden-size": "5", "lr": "0.02"}))
    assert first.returncode == 0, first.stderr
    done = subprocess.run([sys.executable, "-m", "tinygrad_rnn.models.train", "--resume", "--out", str(out),
                           "--no-progress"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr  # the same 20 steps: nothing left to do, the run says so and ends
    again = subprocess.run([sys.executable, "-m", "tinygrad_rnn.models.train", "--resume", "--out", str(out),
                            "--steps", "30", "--no-progress"], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["hidden_size"], cfg["lr"], cfg["steps"], cfg["pairs"]) == (5, 0.02, 30, 2)
    assert "steps 20 → 30" in again.stderr and "lr" not in again.stderr  # only what was typed changed


def test_resume_on_a_directory_without_a_checkpoint_writes_nothing(tmp_path):
    done = run_cli(argv(tmp_path / "new") + ["--resume"])
    assert done.returncode == 1 and "no checkpoint at" in done.stderr and not (tmp_path / "new").exists()


def test_sweep_report_outside_the_checkout_says_where_it_looked(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tinygrad_rnn.models.app.sweep", "--report"], capture_output=True,
                          text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 1 and f"no sweep results in {tmp_path}/results/sweep.jsonl" in done.stderr


# ----------------------------------------------------------------------------- before the work
def test_disk_full_before_the_training_loop_is_one_line(tmp_path, monkeypatch, capsys):
    def full(path, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(rundir, "atomic_write", full)
    assert train.main(argv(tmp_path / "run", steps=4)) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write the run directory") and "the disk is full" in err
    assert "no checkpoint was written yet" in err and err.count("\n") == 1


def test_ctrl_c_after_the_loop_says_what_was_kept_not_nothing_was_written(tmp_path, monkeypatch, capsys):
    from tinygrad_rnn.models.app import plots

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(plots, "write_all", interrupted)
    assert train.main(argv(tmp_path / "run", steps=10) + ["--plots"]) == 130
    err = capsys.readouterr().err
    assert "nothing was written" not in err and "step 10) is intact" in err and err.count("\n") == 1


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_twice_is_one_clean_stop(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "tinygrad_rnn.models.train", *argv(out, steps=100000)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, preexec_fn=_sigint_default)
    try:
        deadline = time.time() + 60
        while not (out / "checkpoint.npz").exists() and time.time() < deadline:
            time.sleep(0.05)
        for _ in range(5):  # as fast as a person hammering Ctrl-C
            proc.send_signal(signal.SIGINT)
            time.sleep(0.002)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.startswith("stopped: interrupted at step") and "Traceback" not in err and err.count("\n") == 1


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return False


def test_sweep_workers_die_with_the_sweep_after_kill_9(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "tinygrad_rnn.models.app.sweep", "--out", str(tmp_path / "res"),
                             "--steps", "100000", "--seeds", "1", "--workers", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.time() + 60
        workers: list[int] = []
        while time.time() < deadline and len(workers) < 2:
            workers = _children(proc.pid)
            time.sleep(0.1)
        assert len(workers) >= 2, "the sweep started no workers"
        time.sleep(1.0)  # the workers are training
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.time() + 20
        while time.time() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.1)
        assert not any(_alive(w) for w in workers), "workers outlived the sweep"
    finally:
        proc.kill()
        for w in _children(proc.pid):
            os.kill(w, signal.SIGKILL)


# ----------------------------------------------------------------------------- the page's data
def test_the_explore_page_carries_names_that_are_not_utf8(tmp_path):
    import tinygrad_rnn as tg
    from tinygrad_rnn import viz

    x = tg.Tensor(np.array([0.5, -1.0]), requires_grad=True, name="x\udcff")
    y = (x * 2).sum()
    y.name = "loss\udcfe"
    page = viz.explore(y, tmp_path / "page.html")
    text = page.read_text(encoding="utf-8")
    assert "x\ufffd" in text and "\\udcff" not in text
