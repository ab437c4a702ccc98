"""The training run directory survives anything (tinygrad_rnn.models.app.rundir and train.run).

Kill-anywhere: a training subprocess is killed (os._exit, as kill -9) at every file boundary and
at random moments, then resumed; metrics.jsonl and the parameters must equal an uninterrupted
run's.  Then: one writer at a time, no writes through links, FIFOs refused, torn and damaged
metrics, hostile checkpoints, and every bad flag as one line.
"""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tinygrad_rnn.models import train

from tinygrad_rnn.models.app import rundir

TINY = {"task": "recall", "pairs": "2", "steps": "40", "batch-size": "4", "hidden-size": "6",
        "eval-every": "10", "eval-size": "16"}


def argv(out: Path, **kw) -> list[str]:
    args = {**TINY, "out": str(out), **kw}
    return [x for k, v in args.items() for x in ([f"--{k}"] if v is True else [f"--{k}", str(v)])] + ["--no-progress"]


def run_cli(args: list[str], fault: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop(rundir.FAULT_ENV, None)
    if fault:
        env[rundir.FAULT_ENV] = fault
    return subprocess.run([sys.executable, "-m", "tinygrad_rnn.models.train", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def params(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files if k != "config"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("ref") / "run"
    done = run_cli(argv(out))
    assert done.returncode == 0, done.stderr
    return {"metrics": (out / "metrics.jsonl").read_bytes(), "params": params(out / "checkpoint.npz"),
            "best": params(out / "best.npz")}


def assert_same_as_reference(out: Path, reference: dict) -> None:
    assert (out / "metrics.jsonl").read_bytes() == reference["metrics"]
    got = params(out / "checkpoint.npz")
    assert got.keys() == reference["params"].keys()
    for k in got:
        np.testing.assert_array_equal(got[k], reference["params"][k], err_msg=k)
    assert not list(out.glob(".*.tmp"))  # killed writes leave no orphan behind


# every file boundary of a run: a metrics line written / fsynced, a checkpoint's temporary file written but
# not renamed, renamed, the best checkpoint, the history rewrite on resume, half a metrics line
FAULTS = ["after-metrics:1", "after-metrics:3", "checkpoint-before-rename:1", "checkpoint-before-rename:2",
          "after-checkpoint:2", "best-before-rename:1", "metrics-torn:2", "metrics-torn:4", "metrics-partial:3"]


@pytest.mark.parametrize("point", FAULTS)
def test_a_kill_at_any_file_boundary_then_resume_equals_an_uninterrupted_run(tmp_path, reference, point):
    out = tmp_path / "run"
    killed = run_cli(argv(out), fault=point)
    assert killed.returncode == 137, killed.stderr
    first = [] if not (out / "checkpoint.npz").exists() else ["--resume"]
    resumed = run_cli(argv(out) + first + ([] if first else ["--force"]))
    assert resumed.returncode == 0, resumed.stderr
    assert_same_as_reference(out, reference)


def test_a_kill_while_resume_rewrites_the_history_loses_nothing(tmp_path, reference):
    out = tmp_path / "run"
    assert run_cli(argv(out), fault="after-metrics:3").returncode == 137  # metrics ahead of the checkpoint
    again = run_cli(argv(out) + ["--resume"], fault="metrics-rewrite-before-rename")
    assert again.returncode == 137
    assert (out / "metrics.jsonl").stat().st_size > 0  # the old history is still there, whole
    assert run_cli(argv(out) + ["--resume"]).returncode == 0
    assert_same_as_reference(out, reference)


def test_random_kill_then_resume_equals_an_uninterrupted_run(tmp_path, reference):
    rng = random.Random(7)
    stats = {"kills": 0, "resumes": 0}
    for trial in range(4):
        out = tmp_path / f"run{trial}"
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        proc = subprocess.Popen([sys.executable, "-m", "tinygrad_rnn.models.train", *argv(out)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        stats["kills"] += proc.returncode == -signal.SIGKILL
        for _ in range(3):
            resume = ["--resume"] if (out / "checkpoint.npz").exists() else ["--force"]
            if run_cli(argv(out) + resume).returncode == 0:
                stats["resumes"] += 1
                break
        assert_same_as_reference(out, reference)
    assert stats["resumes"] == 4


def test_the_best_held_out_checkpoint_is_kept(tmp_path, reference):
    metrics = [json.loads(line) for line in reference["metrics"].decode().splitlines()]
    evals = [m for m in metrics if "eval_loss" in m]
    best = min(evals, key=lambda m: m["eval_loss"])
    assert int(reference["best"]["step"]) == best["step"]


# ----------------------------------------------------------------------------- one writer, no links
def test_a_second_run_on_the_same_directory_is_refused_with_the_holders_pid(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    with rundir.RunLock(out):
        second = run_cli(argv(out))
    assert second.returncode == 1 and f"in use by another run (pid {os.getpid()})" in second.stderr
    assert second.stderr.count("\n") == 1 and not (out / "metrics.jsonl").exists()


def test_a_killed_runs_lock_does_not_block_its_resume(tmp_path, reference):
    out = tmp_path / "run"
    assert run_cli(argv(out), fault="after-checkpoint:1").returncode == 137
    assert (out / ".lock").exists()
    assert run_cli(argv(out) + ["--resume"]).returncode == 0
    assert_same_as_reference(out, reference)


@pytest.mark.parametrize("name", ["metrics.jsonl", "config.json", "checkpoint.npz", "config_history.json"])
def test_a_link_in_the_run_directory_is_never_written_through(tmp_path, name):
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").touch()  # a run directory (any other directory holding files is refused outright)
    victim = tmp_path / "victim.txt"
    victim.write_text("user data")
    (out / name).symlink_to(victim)
    done = run_cli(argv(out, steps=10))
    assert victim.read_text() == "user data"  # never written through
    if done.returncode == 0:  # replaced: written to a temporary file and renamed over the link
        assert not (out / name).is_symlink()
    else:  # or refused, in one line
        assert done.returncode == 1 and "symbolic link" in done.stderr and "Traceback" not in done.stderr


def test_atomic_write_replaces_a_link_instead_of_following_it(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("user data")
    (tmp_path / "sample.txt").symlink_to(victim)
    rundir.atomic_write(tmp_path / "sample.txt", b"new")
    assert victim.read_text() == "user data" and (tmp_path / "sample.txt").read_text() == "new"


def test_a_fifo_named_checkpoint_is_refused_not_read(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    os.mkfifo(out / "checkpoint.npz")
    done = run_cli(argv(out) + ["--resume"], timeout=60)
    assert done.returncode == 1 and "is a FIFO" in done.stderr


def test_stale_temporary_files_are_cleaned_on_start_and_only_ours(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").touch()
    ours = (".checkpoint.npz.abc12_xy.tmp", ".metrics.jsonl.zzzzzzzz.tmp")  # as tempfile.mkstemp names them
    theirs = (".thesis.tmp", ".checkpoint.npz.tmp", ".notes.abcdefgh.tmp", ".checkpoint.npz.abc.tmp")
    for name in ours + theirs:
        (out / name).write_bytes(b"junk")
    assert run_cli(argv(out, steps=10)).returncode == 0
    assert sorted(p.name for p in out.glob(".*.tmp")) == sorted(theirs)


# ----------------------------------------------------------------------------- damaged metrics
def test_a_torn_last_line_is_dropped_with_a_warning(tmp_path, reference):
    out = tmp_path / "run"
    assert run_cli(argv(out, steps=20)).returncode == 0
    with open(out / "metrics.jsonl", "ab") as fh:
        fh.write(b'{"step": 21, "lo')
    done = run_cli(argv(out) + ["--resume"])
    assert done.returncode == 0 and "dropped a torn last line" in done.stderr
    assert_same_as_reference(out, reference)


@pytest.mark.parametrize("damage, message", [
    (b'{"loss": 1.0}\n', "line 3 has no integer 'step'"),
    (b"\xff\xfe garbage\n", "line 3 is not UTF-8"),
    (b"not json\n", "line 3 is not a JSON record"),
])
def test_other_metrics_damage_is_one_line_naming_the_line(tmp_path, damage, message):
    out = tmp_path / "run"
    assert run_cli(argv(out, steps=20)).returncode == 0
    with open(out / "metrics.jsonl", "ab") as fh:
        fh.write(damage)
    done = run_cli(argv(out) + ["--resume"])
    assert done.returncode == 1 and message in done.stderr and done.stderr.count("\n") == 1


# ----------------------------------------------------------------------------- hostile checkpoints
def _valid(tmp_path) -> tuple[Path, dict]:
    out = tmp_path / "run"
    assert run_cli(argv(out, steps=10)).returncode == 0
    with np.load(out / "checkpoint.npz", allow_pickle=False) as data:
        return out, {k: data[k] for k in data.files}


def _write_npz(path: Path, arrays: dict, extra: dict | None = None) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, v in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(v), allow_pickle=True)
            zf.writestr(f"{k}.npy", buf.getvalue())
        for name, data in (extra or {}).items():
            zf.writestr(name, data)


def _bomb(path: Path, arrays: dict) -> None:
    """W's member inflates to 200 MB of zeros (compressed to about 200 kB)."""
    _write_npz(path, {k: v for k, v in arrays.items() if k != "W"})
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (25_000_000,)})
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("W.npy", header.getvalue() + bytes(200_000_000))


def _huge_header(path: Path, arrays: dict) -> None:
    """W's header declares a 7 TiB array."""
    _write_npz(path, {k: v for k, v in arrays.items() if k != "W"})
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (1 << 40,)})
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("W.npy", header.getvalue())


HOSTILE = {
    "step abc": (lambda a: {**a, "step": np.asarray("abc")}, "step has dtype"),
    "step -5": (lambda a: {**a, "step": np.asarray(-5)}, "step is -5"),
    "step [1, 2]": (lambda a: {**a, "step": np.asarray([1, 2])}, "step has dtype"),
    "step 2.7": (lambda a: {**a, "step": np.asarray(2.7)}, "step has dtype float64"),
    "config list": (lambda a: {**a, "config": np.asarray("[1, 2]")}, "config is not a configuration"),
    "string W": (lambda a: {**a, "W": np.full(a["W"].shape, "x")}, "W has dtype <U1"),
    "object W": (lambda a: {**a, "W": np.asarray([{"evil": 1}], dtype=object)}, "W has dtype object"),
    "NaN W": (lambda a: {**a, "W": np.full(a["W"].shape, np.nan)}, "W has non-finite values"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_checkpoint_fields_are_refused_in_one_line(tmp_path, case):
    out, arrays = _valid(tmp_path)
    change, message = HOSTILE[case]
    _write_npz(out / "checkpoint.npz", change(arrays))
    before = (out / "checkpoint.npz").read_bytes()
    done = run_cli(argv(out, steps=20) + ["--resume"])
    assert done.returncode == 1 and message in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert (out / "checkpoint.npz").read_bytes() == before  # the evidence is left alone


@pytest.mark.parametrize("build, message", [(_bomb, "declares 200000128 bytes uncompressed"),
                                            (_huge_header, "W has dtype float64 and shape (1099511627776,)")])
def test_zip_bombs_and_huge_headers_cost_nothing(tmp_path, build, message):
    out, arrays = _valid(tmp_path)
    build(out / "checkpoint.npz", arrays)
    start = time.perf_counter()
    done = run_cli(argv(out, steps=20) + ["--resume"])
    assert time.perf_counter() - start < 20  # interpreter start included; the check itself reads only headers
    assert done.returncode == 1 and message in done.stderr, done.stderr


def test_a_member_that_is_not_npy_is_refused(tmp_path):
    out, arrays = _valid(tmp_path)
    _write_npz(out / "checkpoint.npz", arrays, extra={"payload.pkl": b"\x80\x04evil"})
    done = run_cli(argv(out, steps=20) + ["--resume"])
    assert done.returncode == 1 and "unexpected members payload.pkl" in done.stderr


# ----------------------------------------------------------------------------- provenance and flags
def test_changed_settings_on_resume_are_recorded(tmp_path):
    out = tmp_path / "run"
    assert run_cli(argv(out, steps=20)).returncode == 0
    done = run_cli(argv(out, steps=30, lr="0.003") + ["--resume"])
    assert done.returncode == 0 and "from step 20 on: steps 20 → 30, lr 0.01 → 0.003" in done.stderr
    history = json.loads((out / "config_history.json").read_text())
    assert [(h["from_step"], h["config"]["lr"]) for h in history] == [(0, 0.01), (20, 0.003)]


def test_resume_keeps_the_plots_the_run_asked_for(tmp_path):
    out = tmp_path / "run"
    assert run_cli(argv(out, steps=10) + ["--plots"]).returncode == 0
    first = (out / "loss.png").stat().st_mtime_ns
    assert run_cli(argv(out, steps=20) + ["--resume"]).returncode == 0
    assert (out / "loss.png").stat().st_mtime_ns > first
    assert json.loads((out / "config.json").read_text())["plots"] is True


BAD_FLAGS = [
    (["--momentum", "nan"], "--momentum: expected a number in [0, 1)"),
    (["--momentum", "5"], "--momentum: expected a number in [0, 1)"),
    (["--seed", "-1"], "--seed: expected a non-negative integer"),
    (["--seed", str(2**64)], "--seed: expected a non-negative integer below 2**63"),
    (["--task", "first", "--seq-len", "1"], "--seq-len: the first task needs at least 2 steps"),
    (["--task", "text", "--seq-len", "100000"], "--seq-len: the text's held-out split has"),
    (["--task", "first", "--seq-len", "30000"], "GiB for the attention arrays and the parameters"),
    (["--hidden-size", "1000000"], "GiB for the attention arrays and the parameters"),
    (["--clip", "nan"], "--clip: expected a non-negative number"),
    (["--clip", "-1"], "--clip: expected a non-negative number"),
    (["--out", ""], "--out: the output directory name is empty"),
]


@pytest.mark.parametrize("flags, message", BAD_FLAGS)
def test_bad_flags_are_one_line_before_any_work(tmp_path, flags, message):
    args = [a for a in argv(tmp_path / "run") if a != "--no-progress"]
    done = run_cli(args[:-2] + flags + ["--no-progress"] if "--out" in flags else args + flags)
    assert done.returncode in (1, 2) and message in done.stderr.replace("argument ", ""), done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()


def test_an_out_that_is_a_file_or_read_only(tmp_path, monkeypatch, capsys):
    (tmp_path / "file").write_text("x")
    done = run_cli(argv(tmp_path / "file"))
    assert done.returncode == 1 and "exists and is not a directory" in done.stderr
    # a read-only parent (root ignores permission bits, so the refusal is simulated where it happens)
    import errno

    def refuse(self, *a, **k):
        raise PermissionError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(Path, "mkdir", refuse)
    assert train.main(argv(tmp_path / "ro" / "run")) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --out: cannot create") and "read-only" in err and err.count("\n") == 1


def test_ctrl_c_stops_cleanly_and_says_where_the_checkpoint_is(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # a shell that runs this suite in the background starts it with SIGINT ignored, and children inherit that;
    # the training process gets the default disposition, as a process started from a terminal has
    proc = subprocess.Popen([sys.executable, "-m", "tinygrad_rnn.models.train", *argv(out, steps=100000)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 60
        while not (out / "checkpoint.npz").exists() and time.time() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert err.startswith("stopped: interrupted at step") and "is intact" in err and "--resume" in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_inspect_run_has_a_real_command_line(tmp_path):
    from tinygrad_rnn.models.app import inspect_run

    proc = subprocess.run([sys.executable, "-m", "tinygrad_rnn.models.app.inspect_run", "--help"], capture_output=True,
                          text=True)
    assert proc.returncode == 0 and "usage:" in proc.stdout
    assert inspect_run.main([str(tmp_path / "nothing")]) == 1
