"""Fuzz every command line and every file it reads, as a hostile tester would.

    python tools/cli_fuzz.py                 # a table of what happened, by command
    python tools/cli_fuzz.py --json out.jsonl  # one JSON line per invocation (tests/models/test_cli_fuzz.py reads it)

Every flag of ``train``, ``draw``, ``explore``, ``sweep`` and ``inspect_run`` gets each value of
:data:`VALUES` (negative, zero, NaN, infinite, huge, empty, not UTF-8, unicode, over-long), and each
file those commands read gets each damage of :func:`hostile_files` (FIFOs, links to /dev/zero,
sparse files of gigabytes, zip directories of 300 000 members, deep JSON, wrong field types, ...).

Each invocation runs ``main(argv)`` in a forked child (the modules are imported once, so a run costs
milliseconds, not an interpreter start) in an empty working directory, with a 60 s deadline and an
address-space limit of 4 GiB.  Recorded: exit code, stderr, whether a Python traceback escaped
(``main`` raised), seconds, peak memory (``ru_maxrss`` of the child, minus a child that does
nothing), and which files appeared (a refusal must write nothing) or changed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

from tinygrad_rnn.models import draw, explore, train  # noqa: E402

from tinygrad_rnn.models.app import inspect_run, sweep

#: hostile values for every flag that takes one
VALUES = ["-5", "0", "nan", "inf", "1e400", str(10**30), "", "\udcff\udcfe", "☃", "a" * 5000]
DEADLINE = 60.0
ADDRESS_LIMIT = 4 << 30

TINY_TRAIN = ["--task", "recall", "--pairs", "2", "--steps", "2", "--batch-size", "2", "--hidden-size", "3",
              "--eval-every", "1", "--eval-size", "4", "--no-progress"]


def flags_of(parser: argparse.ArgumentParser) -> list[tuple[str, bool]]:
    """(flag, takes a value) for every optional flag of ``parser`` but --help."""
    out = []
    for action in parser._actions:  # argparse keeps its actions here (stable since Python 2.7)
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        long = max(action.option_strings, key=len)
        out.append((long, action.nargs != 0))
    return out


def replace_flag(base: list[str], flag: str, value: str | None) -> list[str]:
    """``base`` with ``flag`` set to ``value`` (removed first if ``base`` has it)."""
    out, skip = [], False
    for i, a in enumerate(base):
        if skip:
            skip = False
            continue
        if a == flag:
            skip = i + 1 < len(base) and not base[i + 1].startswith("--")
            continue
        out.append(a)
    return out + ([flag] if value is None else [flag, value])


def invocations(shared: Path) -> list[dict[str, Any]]:
    """Every flag with every hostile value, for every command (``shared`` holds a trained run)."""
    run = str(shared / "run")
    commands: dict[str, tuple[Callable[[], argparse.ArgumentParser], list[str]]] = {
        "train": (train.parser, TINY_TRAIN + ["--out", "out"]),
        "draw": (draw.parser, ["--steps", "2", "-o", "d.dot"]),
        "explore": (explore.parser, ["--steps", "2", "-o", "e.html"]),
        # --report: a value the sweep accepts then reports instead of starting hours of training
        "sweep": (sweep.parser, ["--report", "--out", "res"]),
        "inspect_run": (inspect_run.parser, [run]),
    }
    jobs = []
    for name, (make, base) in commands.items():
        for flag, takes in flags_of(make()):
            if name == "sweep" and flag == "--report":
                continue  # without --report a valid value starts a real sweep
            for value in (VALUES if takes else [None]):
                jobs.append({"command": name, "argv": replace_flag(base, flag, value), "flag": flag, "value": value})
    for value in VALUES:  # the positional run directory
        jobs.append({"command": "inspect_run", "argv": [value], "flag": "DIR", "value": value})
    return jobs


MAINS = {"train": train.main, "draw": draw.main, "explore": explore.main, "sweep": sweep.main,
         "inspect_run": inspect_run.main}


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (st.st_size, st.st_mtime_ns)
    return out


def run_forked(command: str, argv: list[str], cwd: Path) -> dict[str, Any]:
    """``MAINS[command](argv)`` in a forked child in ``cwd``; what happened."""
    err_r, err_w = os.pipe()
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.close(err_r)
            os.chdir(cwd)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(err_w, 2)
            sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", buffering=0), write_through=True)
            sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", buffering=0), write_through=True,
                                          errors="backslashreplace")
            resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_LIMIT, ADDRESS_LIMIT))
            signal.signal(signal.SIGINT, signal.default_int_handler)
            code = 0
            try:
                result = MAINS[command](argv)
                code = result if isinstance(result, int) else 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                if isinstance(e.code, str):
                    sys.stderr.write(e.code + "\n")
            except BaseException:
                sys.stderr.write("TRACEBACK\n" + traceback.format_exc())
                code = 99
            sys.stderr.flush()
        finally:
            os._exit(code if "code" in locals() else 98)
    os.close(err_w)
    chunks, hung = [], False
    while True:
        left = DEADLINE - (time.perf_counter() - start)
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            hung = True
            break
        ready, _, _ = select.select([err_r], [], [], min(left, 1.0))
        if ready:
            chunk = os.read(err_r, 1 << 16)
            if not chunk:
                break
            if sum(map(len, chunks)) < 1 << 20:
                chunks.append(chunk)
    _, status, usage = os.wait4(pid, 0)
    os.close(err_r)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    return {"code": code, "stderr": b"".join(chunks).decode("utf-8", "replace"), "seconds": seconds,
            "maxrss_mb": usage.ru_maxrss / 1024, "hung": hung}


def _write_npz(path: Path, arrays: dict[str, Any]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for k, v in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(v), allow_pickle=False)
            zf.writestr(f"{k}.npy", buf.getvalue())


def _sparse(path: Path, size: int, head: bytes = b"") -> None:
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(size)


def hostile_files(shared: Path) -> list[dict[str, Any]]:
    """(a damage to one file of a trained run directory, the command that reads it) pairs; each is
    built fresh by copying the trained run, then damaging one file."""
    ckpt = dict(np.load(shared / "run" / "checkpoint.npz", allow_pickle=False))
    base_cfg = json.loads((shared / "run" / "config.json").read_text())

    def npz(change: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[Path], None]:
        return lambda p: _write_npz(p, change(dict(ckpt)))

    def members(n: int) -> Callable[[Path], None]:
        def build(p: Path) -> None:
            _write_npz(p, ckpt)
            with zipfile.ZipFile(p, "a") as zf:
                for i in range(n):
                    zf.writestr(f"x{i}.npy", b"")
        return build

    def forged_directory(p: Path) -> None:  # an end record declaring 300 000 members
        _write_npz(p, ckpt)
        data = bytearray(p.read_bytes())
        at = data.rfind(b"PK\x05\x06")
        data[at + 8:at + 12] = (0xFFFF).to_bytes(2, "little") * 2
        data[at + 12:at + 16] = (300_000 * 60).to_bytes(4, "little")
        p.write_bytes(bytes(data))

    def link_to(target: str) -> Callable[[Path], None]:
        return lambda p: (p.unlink(missing_ok=True), p.symlink_to(target))

    def fifo(p: Path) -> None:
        p.unlink(missing_ok=True)
        os.mkfifo(p)

    def text(data: bytes) -> Callable[[Path], None]:
        return lambda p: p.write_bytes(data)

    def config(**changes: Any) -> Callable[[Path], None]:
        return lambda p: p.write_text(json.dumps({**base_cfg, **changes}))

    s0 = {k: v for k, v in ckpt.items() if k.startswith("opt.s.")}
    damages: dict[str, dict[str, Callable[[Path], None]]] = {
        "checkpoint.npz": {
            "FIFO": fifo, "link to /dev/zero": link_to("/dev/zero"), "directory": lambda p: (p.unlink(), p.mkdir()),
            "sparse 3 GB": lambda p: _sparse(p, 3 << 30, b"PK\x03\x04"), "empty": text(b""),
            "random bytes": text(os.urandom(5000)), "truncated": lambda p: p.write_bytes(p.read_bytes()[:300]),
            "20 000 members": members(20_000), "end record: 300 000 members": forged_directory,
            "NaN W": npz(lambda a: {**a, "W": np.full(a["W"].shape, np.nan)}),
            "negative Adam s": npz(lambda a: {**a, **{k: -np.ones_like(v) for k, v in s0.items()}}),
            "Adam steps 0": npz(lambda a: {**a, "opt.steps": np.asarray(0)}),
            "Adam steps 7 at step 2": npz(lambda a: {**a, "opt.steps": np.asarray(7)}),
            "step -5": npz(lambda a: {**a, "step": np.asarray(-5)}),
            "config 2 MB": npz(lambda a: {**a, "config": np.asarray("x" * (2 << 20))}),
            "config nested 100 000 deep": npz(lambda a: {**a, "config": np.asarray("[" * 100_000)}),
        },
        "config.json": {
            "FIFO": fifo, "link to /dev/zero": link_to("/dev/zero"), "sparse 200 MB": lambda p: _sparse(p, 200 << 20),
            "nested 100 000 deep": text(b"[" * 100_000), "not UTF-8": text(b"\xff\xfe{}"), "a list": text(b"[1, 2]"),
            "unknown key": config(evil=1), "hidden_size 'abc'": config(hidden_size="abc"),
            "hidden_size 10**12": config(hidden_size=10**12), "hidden_size true": config(hidden_size=True),
            "seed -5": config(seed=-5), "task 'nope'": config(task="nope"), "lr NaN": text(
                json.dumps({**base_cfg, "lr": float("nan")}).encode()), "clip 'x'": config(clip="x"),
            "steps 0": config(steps=0),
        },
        "config_history.json": {
            "FIFO": fifo, "sparse 200 MB": lambda p: _sparse(p, 200 << 20), "an object": text(b'{"a": 1}'),
            "from_step 'x'": text(b'[{"from_step": "x", "config": {}}]'), "config 5": text(b'[{"from_step": 0, "config": 5}]'),
            "nested": text(b"[" * 100_000),
        },
        "metrics.jsonl": {
            "FIFO": fifo, "sparse 1 GB, no newline": lambda p: _sparse(p, 1 << 30),
            "a 2 MB line": text(b'{"step": 1, "x": "' + b"a" * (2 << 20) + b'"}\n'),
            "eval_loss 'x'": text(b'{"step": 2, "eval_loss": "x", "eval_acc": 0.5}\n'),
            "step true": text(b'{"step": true}\n'), "nested": text(b"[" * 100_000 + b"\n"),
            "step -1": text(b'{"step": -1}\n'),
        },
    }
    jobs = []
    for name, cases in damages.items():
        readers = [("train", ["--resume", "--out", "RUN", "--no-progress", "--steps", "4"])]
        if name in ("checkpoint.npz", "config.json"):
            readers.append(("inspect_run", ["RUN"]))
        for case, build in cases.items():
            for command, argv in readers:
                jobs.append({"command": command, "argv": argv, "file": name, "damage": case, "build": build})
    sweep_cases = {
        "FIFO": fifo, "sparse 2 GB": lambda p: _sparse(p, 2 << 30), "not JSON": text(b"{not json\n"),
        "wrong types": text(b'{"stage": 1, "task": "first"}\n'), "a list": text(b"[1]\n"),
        "a 2 MB line": text(b'"' + b"a" * (2 << 20) + b'"\n'),
    }
    for case, build in sweep_cases.items():
        jobs.append({"command": "sweep", "argv": ["--report", "--out", "RES"], "file": "sweep.jsonl", "damage": case,
                     "build": build})
    return jobs


def baseline_rss(cwd: Path) -> float:
    MAINS["noop"] = lambda argv: 0
    try:
        return run_forked("noop", [], cwd)["maxrss_mb"]
    finally:
        del MAINS["noop"]


def fuzz(work: Path) -> list[dict[str, Any]]:
    shared = work / "shared"
    shared.mkdir()
    done = run_forked("train", TINY_TRAIN + ["--out", str(shared / "run")], shared)
    if done["code"] != 0:
        raise SystemExit(f"cli_fuzz: the tiny training run failed: {done['stderr']}")
    base = baseline_rss(shared)
    rows = []
    for job in invocations(shared):
        cwd = Path(tempfile.mkdtemp(dir=work))
        res = run_forked(job["command"], job["argv"], cwd)
        rows.append({**{k: v for k, v in job.items()}, **res, "kind": "flag", "rss_over_mb": res["maxrss_mb"] - base,
                     "written": sorted(_snapshot(cwd)) if res["code"] != 0 else []})
        shutil.rmtree(cwd, ignore_errors=True)
    for job in hostile_files(shared):
        cwd = Path(tempfile.mkdtemp(dir=work))
        if job["file"] == "sweep.jsonl":
            target_dir = cwd / "res"
            target_dir.mkdir()
        else:
            target_dir = cwd / "run"
            shutil.copytree(shared / "run", target_dir, symlinks=True)
            (target_dir / ".lock").unlink(missing_ok=True)
            (target_dir / ".lock").touch()
        job["build"](target_dir / job["file"])
        before = _snapshot(cwd)
        argv = [str(target_dir) if a in ("RUN", "RES") else a for a in job["argv"]]
        res = run_forked(job["command"], argv, cwd)
        after = _snapshot(cwd)
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k) and k != "run/.lock")
        rows.append({"command": job["command"], "argv": argv, "file": job["file"], "damage": job["damage"], **res,
                     "kind": "file", "rss_over_mb": res["maxrss_mb"] - base, "changed": changed})
        shutil.rmtree(cwd, ignore_errors=True)
    return rows


def verdict(row: dict[str, Any]) -> str:
    """'ok' (succeeded), 'refused' (exit != 0, one line, no traceback), or what went wrong."""
    err = row["stderr"]
    if row["hung"]:
        return "HUNG"
    if "TRACEBACK" in err or "Traceback" in err or row["code"] not in (0, 1, 2, 130):
        return "TRACEBACK"
    if row["code"] == 0:
        return "ok"
    if err.count("\n") != 1:
        return "NOT ONE LINE"
    if row.get("written") or row.get("changed"):
        return "WROTE"
    return "refused"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, help="write one JSON line per invocation here")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        rows = fuzz(Path(d))
    for r in rows:
        r["verdict"] = verdict(r)
    if args.json:
        with open(args.json, "w") as fh:
            for r in rows:
                fh.write(json.dumps({k: v for k, v in r.items() if k != "build"}, default=str) + "\n")
    print("| command | kind | invocations | succeeded | refused in one line | tracebacks | other failures "
          "| slowest refusal (s) | most memory of a refusal (MB over baseline) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for command in MAINS:
        for kind in ("flag", "file"):
            sel = [r for r in rows if r["command"] == command and r["kind"] == kind]
            if not sel:
                continue
            refused = [r for r in sel if r["verdict"] == "refused"]
            bad = [r for r in sel if r["verdict"] not in ("ok", "refused", "TRACEBACK")]
            print(f"| {command} | {kind} | {len(sel)} | {sum(r['verdict'] == 'ok' for r in sel)} | {len(refused)} "
                  f"| {sum(r['verdict'] == 'TRACEBACK' for r in sel)} | {len(bad)} "
                  f"| {max((r['seconds'] for r in refused), default=0):.2f} "
                  f"| {max((r['rss_over_mb'] for r in refused), default=0):.0f} |")
    worst = [r for r in rows if r["verdict"] not in ("ok", "refused")]
    for r in worst[:40]:
        print(f"{r['verdict']}: {r['command']} {r.get('flag', r.get('file'))} {str(r.get('value', r.get('damage')))[:30]!r}: "
              f"{r['stderr'].strip()[-300:]!r}", file=sys.stderr)
    return 1 if worst else 0


if __name__ == "__main__":
    raise SystemExit(main())
