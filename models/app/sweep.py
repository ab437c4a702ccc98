"""``python -m tinygrad_rnn.models.app.sweep``: when does the seed's attention help a plain tanh RNN?

Attention (the seed's model) against the plain tanh RNN (``--no-attention``: Ω_t = V h_t + c) and
the gated baselines people use, an LSTM and a GRU (``models/gated_rnn.py``), each at the seed
model's hidden size and at the hidden size with the seed model's parameter count; ten seeds each
(``--seeds``), on ``first`` with sequence lengths 5, 10, 20, 40 and on ``recall`` with 2, 3, 4, 6
pairs.  Every model gets the same budget of steps and its learning rate by the same rule, tuned
first: for each task and model, every candidate rate trains the model once (seed 100, a middle
setting) and the rate with the best held-out accuracy wins.  Evaluation uses
sequences no training step can draw (``tasks.is_held_out``).

Every row records the commit it was computed at (and whether the tree had uncommitted changes);
the sweep refuses to add rows to a file holding another commit's rows unless
``--allow-mixed-commits`` is given, so one table is always one code version.

Reported per setting: mean ± sd (ddof=1), [min, max], the number of runs that *solve* the task
(held-out accuracy ≥ 0.9), the number that beat the **most-frequent floor** (a strategy that
ignores the question: the most frequent value, blind to the query key, for ``recall``; the most
frequent symbol for ``first``) by more than two standard errors of the evaluation, and Fisher's
exact test on those counts (attention vs baseline).

Writes ``results/sweep.jsonl`` (one line per finished run; resumable: finished runs are
skipped), ``results/sweep.png`` and ``results/sweep.md``.  Never part of ``make test``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import math
import subprocess

import numpy as np

from tinygrad_rnn import memory

from .cli import OneLineParser, positive_int
from .rundir import RunError, atomic_write, parse_json, read_jsonl

SOLVED = 0.9  # held-out accuracy that counts as solving the task

GRID = {"first": ("seq_len", (5, 10, 20, 40)), "recall": ("pairs", (2, 3, 4, 6))}
TUNE_AT = {"first": 10, "recall": 3}
LRS = (0.003, 0.01, 0.03)
COMMON = {"batch_size": 32, "hidden_size": 32, "optimizer": "adam", "clip": 1.0, "symbols": 8, "eval_size": 512}
# name -> (cell, attention, hidden-size rule): "H" the same H as the seed's model (COMMON), "params" the H
# whose parameter count is closest to the seed's model at that H (gated_rnn.matching_hidden_size)
MODELS = {"attn": ("tanh", True, "H"), "rnn": ("tanh", False, "H"), "lstm": ("lstm", False, "H"),
          "gru": ("gru", False, "H"), "lstm_p": ("lstm", False, "params"), "gru_p": ("gru", False, "params")}
LABELS = {"attn": "seed's attention", "rnn": "tanh RNN (no attention)", "lstm": "LSTM, same H", "gru": "GRU, same H",
          "lstm_p": "LSTM, same parameters", "gru_p": "GRU, same parameters"}


def model_of(row: dict[str, Any]) -> str:
    """The model a job or row trained (rows before the gated baselines name none: attention or not)."""
    return row.get("model") or ("attn" if row["attention"] else "rnn")


def hidden_size(name: str, task: str, value: int) -> int:
    """The hidden size ``name`` trains with on this task setting (see MODELS)."""
    from .. import tasks
    from ..gated_rnn import matching_hidden_size

    cell, _, rule = MODELS[name]
    H = COMMON["hidden_size"]
    if rule == "H":
        return H
    kw = {GRID[task][0]: value}
    spec = tasks.spec(task, symbols=COMMON["symbols"], delay=3, **{"seq_len": 10, "pairs": 3, **kw})
    return matching_hidden_size(cell, spec.input_size, H, spec.output_size)


def job_for(stage: str, task: str, value: int, name: str, seed: int, lr: float, steps: int, directory: Path,
            ) -> dict[str, Any]:
    cell, attention, _ = MODELS[name]
    job = {"stage": stage, "task": task, "value": value, "model": name, "cell": cell, "attention": attention,
           "seed": seed, "lr": lr, "steps": steps, "dir": str(directory)}
    H = hidden_size(name, task, value)
    if H != COMMON["hidden_size"]:
        job["override"] = {"hidden_size": H}
    return job


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """Train one configuration (in a worker process) and return its final evaluation."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from .. import train

    common = {**COMMON, **job.get("override", {})}
    cfg = train.Config(task=job["task"], steps=job["steps"], lr=job["lr"], seed=job["seed"],
                       attention=job["attention"], cell=job.get("cell", "tanh"), eval_every=job["steps"], log_every=100,
                       out=job["dir"], progress=False, **{GRID[job["task"]][0]: job["value"]}, **common)
    from .. import tasks

    start = time.perf_counter()
    res = train.run(cfg, force=True)
    grad_end = res.pop("grad_h")
    res["grad_h1"], res["grad_hT"] = grad_end[0], grad_end[-1]
    held_out = train.eval_batch(cfg)
    grad_init = train.evaluate(train.make_model(cfg), held_out)["grad_h"]  # at initialisation
    model = train.make_model(cfg)
    train.load_checkpoint(Path(job["dir"]) / "checkpoint.npz", cfg, model, train.make_optimizer(cfg, model))
    fwd = model.forward(held_out.xs)
    attn_last = None if fwd.attention is None else fwd.attention.data[:, -1, :].mean(axis=0).tolist()
    floor = tasks.most_frequent_accuracy(held_out, job["task"], cfg.pairs)
    return {**job, **res, "grad_h1_init": grad_init[0], "grad_h_end": grad_end, "grad_h_init": grad_init,
            "attn_last": attn_last, "floor": floor, "eval_n": len(held_out.tokens),
            "seconds": time.perf_counter() - start}


def key(job: dict[str, Any]) -> str:
    return f"{job['stage']}|{job['task']}|{job['value']}|{model_of(job)}|{job['seed']}|{job['lr']}"


ROW_KEYS = {"stage": str, "task": str, "value": int, "attention": bool, "seed": int, "lr": (int, float),
            "eval_acc": (int, float)}


def load(path: Path) -> list[dict[str, Any]]:
    """The rows of ``sweep.jsonl`` (none if it does not exist), read once and bounded like the run
    directory's files (:func:`~tinygrad_rnn.models.app.rundir.read_jsonl`); a damaged line is one
    :class:`SweepError` naming it (a torn last line, from a killed sweep, is dropped: that run is
    simply done again)."""
    try:
        return read_jsonl(path, "sweep results", 1 << 30, _row)[0]
    except RunError as e:
        raise SweepError(str(e)) from None


def _row(path: Path, n: int, line: bytes) -> dict[str, Any] | None:
    if not line.strip():
        return None
    row = parse_json(line, f"{path}: line {n}")
    bad = [k for k, kind in ROW_KEYS.items()
           if not isinstance(row, dict) or k not in row or not isinstance(row[k], kind)
           or (kind is int and isinstance(row[k], bool))]
    if bad:
        raise RunError(f"{path}: line {n} is not a sweep result ({bad[0]!r} missing or of the wrong type); "
                       "the file is damaged")
    return row


class SweepError(Exception):
    """A user-facing problem: one line, exit code 1."""


def _start_worker() -> None:
    """A worker's initializer: the kernel kills it when the sweep's process dies (even by kill -9),
    so no worker trains on for good (``prctl(PR_SET_PDEATHSIG, SIGKILL)``, Linux); and if the
    parent died before this ran, exit now.  Then the sweep's ``--malloc`` choice, applied in the
    worker (a worker may be started by fork or by a fork server, so it is not inherited)."""
    import ctypes
    import signal

    parent = int(os.environ.get("TINYGRAD_RNN_SWEEP_PARENT", "0"))
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
    if parent and os.getppid() != parent:
        os._exit(1)
    memory.apply(os.environ.get("TINYGRAD_RNN_SWEEP_MALLOC", "reuse"))


def code_version() -> dict[str, Any]:
    """The commit of the checkout this runs from, and whether its code (not its results/) has
    uncommitted changes."""
    root = Path(__file__).resolve().parents[2]  # models/app/sweep.py -> the checkout
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                     "tinygrad_rnn", "models", "viz", "pyproject.toml"],  # the code, not results/
                                    cwd=root, capture_output=True, text=True, check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "dirty": True}
    return {"commit": rev, "dirty": dirty}


def execute(jobs: list[dict[str, Any]], path: Path, workers: int, desc: str, version: dict[str, Any],
            allow_mixed: bool = False) -> list[dict[str, Any]]:
    """Run the jobs not yet in ``path``; append each result (with the code version) as it finishes."""
    from tqdm import tqdm

    existing = load(path)
    others = {(r.get("commit"), r.get("dirty")) for r in existing} - {(version["commit"], version["dirty"])}
    if others and not allow_mixed:
        raise SweepError(f"{path} holds rows from another code version {sorted(map(str, others))[:3]}; "
                         f"this is {version['commit']}{' (dirty)' if version['dirty'] else ''}. Use another --out, "
                         "or --allow-mixed-commits to merge them anyway")
    done = {key(r) for r in existing}
    todo = [j for j in jobs if key(j) not in done]
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)  # never through a link
    os.environ["TINYGRAD_RNN_SWEEP_PARENT"] = str(os.getpid())  # (inherited by the workers)
    with ProcessPoolExecutor(max_workers=workers, initializer=_start_worker) as pool, \
            os.fdopen(fd, "a") as out, \
            tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc=desc, dynamic_ncols=True) as bar:
        for res in pool.map(run_one, todo):
            res.update(version)
            out.write(json.dumps(res) + "\n")
            out.flush()
            bar.update(1)
            bar.set_postfix(last=f"{res['task']} {res['value']} {model_of(res)} "
                                 f"acc={res['eval_acc']:.2f}", refresh=False)
    wanted = {key(j) for j in jobs}
    return [r for r in load(path) if key(r) in wanted]


def tune(results_dir: Path, steps: int, workers: int, version: dict[str, Any], allow_mixed: bool,
         models: tuple[str, ...] = tuple(MODELS)) -> dict[tuple[str, str], float]:
    """Each model's learning rate on each task, by one rule for all: every rate of LRS trains the
    model once at the task's tuning point (seed 100), and the rate with the best held-out accuracy
    wins (ties: the smaller rate)."""
    jobs = [job_for("tune", task, TUNE_AT[task], name, 100, lr, steps,
                    results_dir / "runs" / f"tune-{task}-{lr}-{name}")
            for task in GRID for lr in LRS for name in models]
    rows = execute(jobs, results_dir / "sweep.jsonl", workers, "tuning lr", version, allow_mixed)
    best = {}
    for task in GRID:
        for name in models:
            score = {r["lr"]: r["eval_acc"] for r in rows if r["task"] == task and model_of(r) == name}
            best[(task, name)] = max(LRS, key=lambda lr: (score.get(lr, -1.0), -lr))
    return best


def sweep(results_dir: Path, steps: int, seeds: int, workers: int, allow_mixed: bool = False,
          models: tuple[str, ...] = tuple(MODELS)) -> list[dict[str, Any]]:
    version = code_version()
    lrs = tune(results_dir, steps, workers, version, allow_mixed, models)
    jobs = [job_for("main", task, v, name, s, lrs[(task, name)], steps, results_dir / "runs" / f"{task}-{v}-{name}-{s}")
            for task, (_, values) in GRID.items() for v in values for name in models for s in range(seeds)]
    # does the recall look-up scale with a wider state and a longer budget? (3 pairs, H = 128, 3x the steps)
    for name in ("attn", "rnn"):
        if name in models:
            for s in range(min(seeds, 5)):
                job = job_for("probe", "recall", 3, name, s, lrs[("recall", name)], 3 * steps,
                              results_dir / "runs" / f"probe-recall-3-h128-{name}-{s}")
                job["override"] = {"hidden_size": 128}
                jobs.append(job)
    return execute(jobs, results_dir / "sweep.jsonl", workers, "sweep", version, allow_mixed)


# ----------------------------------------------------------------------------- reporting
def fisher_exact(a: int, b: int, c: int, d: int) -> float:
    """Two-sided Fisher's exact test for the 2x2 table [[a, b], [c, d]]: the probability, with the
    margins fixed, of a table at most as likely as the observed one."""
    n1, n2, k = a + b, c + d, a + c
    total = math.comb(n1 + n2, k)

    def p(x: int) -> float:
        return math.comb(n1, x) * math.comb(n2, k - x) / total

    observed = p(a)
    lo, hi = max(0, k - n2), min(k, n1)
    return min(1.0, sum(p(x) for x in range(lo, hi + 1) if p(x) <= observed * (1 + 1e-9)))


def above_floor(r: dict[str, Any]) -> bool:
    """Held-out accuracy above the most-frequent floor by more than two evaluation standard errors."""
    se = math.sqrt(max(r["floor"] * (1 - r["floor"]), 1e-12) / r["eval_n"])
    return r["eval_acc"] > r["floor"] + 2 * se


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for task, (param, values) in GRID.items():
        for v in values:
            line: dict[str, Any] = {"task": task, "param": param, "value": v}
            for name in MODELS:
                sel = sorted((r for r in rows if r["stage"] == "main" and r["task"] == task and r["value"] == v
                              and model_of(r) == name), key=lambda r: r["seed"])
                if not sel:
                    continue
                acc = np.array([r["eval_acc"] for r in sel])
                line["floor"] = float(np.mean([r["floor"] for r in sel]))
                line[name] = {"accs": [float(a) for a in acc], "seeds": [r["seed"] for r in sel],
                              "acc_mean": float(acc.mean()), "acc_min": float(acc.min()), "acc_max": float(acc.max()),
                              "acc_sd": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0, "n": len(sel),
                              "lr": sel[0]["lr"], "solved": int((acc >= SOLVED).sum()),
                              "hidden_size": int(sel[0].get("override", {}).get("hidden_size", COMMON["hidden_size"])),
                              "above_floor": int(sum(above_floor(r) for r in sel)),
                              "grad_h1": float(np.mean([r["grad_h1"] for r in sel])),
                              "grad_h1_init": float(np.mean([r["grad_h1_init"] for r in sel]))}
                if name == "attn":
                    line[name].update({k: float(np.mean([r[k] for r in sel]))
                                       for k in ("attn_entropy", "attn_self", "attn_first")})
            a = line.get("attn")
            for name in MODELS:
                o = line.get(name)
                if a is None or o is None or name == "attn":
                    continue
                ps = fisher_exact(a["solved"], a["n"] - a["solved"], o["solved"], o["n"] - o["solved"])
                pf = fisher_exact(a["above_floor"], a["n"] - a["above_floor"], o["above_floor"], o["n"] - o["above_floor"])
                o["p_solved_vs_attn"], o["p_floor_vs_attn"] = ps, pf
                if name == "rnn":
                    line["p_solved"], line["p_floor"] = ps, pf
            out.append(line)
    return out


def markdown(summary: list[dict[str, Any]], steps: int, seeds: int, version: str) -> str:
    lines = [
        f"Held-out accuracy after {steps} steps on sequences no training step can draw; {seeds} seeds per cell; "
        f"all rows from commit {version}. Accuracy: mean ± sd (ddof=1) [min, max]. *Floor*: accuracy of answering "
        "the most frequent value (recall: blind to the query key) or symbol (first), on the same held-out "
        f"sequences; chance is 1/8. *Solved*: runs with accuracy ≥ {SOLVED}. *> floor*: runs above the floor by "
        "more than 2 evaluation standard errors. p: Fisher's exact test, attention vs baseline, on those counts. "
        "‖∂L/∂h_1‖: mean norm of the gradient reaching the first hidden state on held-out data, at the end "
        "(and at initialisation).",
        "",
        "| task | setting | floor | attention acc | baseline acc | solved (attn / base, p) | > floor (attn / base, p) "
        "| α entropy | α on i=t | ‖∂L/∂h_1‖ attn end (init) | ‖∂L/∂h_1‖ rnn end (init) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        a, r = s.get("attn"), s.get("rnn")
        if not a or not r:
            continue
        label = f"T = {s['value']}" if s["param"] == "seq_len" else f"{s['value']} pairs"
        lines.append(
            f"| {s['task']} | {label} | {s['floor']:.3f} "
            f"| {a['acc_mean']:.3f} ± {a['acc_sd']:.3f} [{a['acc_min']:.2f}, {a['acc_max']:.2f}] "
            f"| {r['acc_mean']:.3f} ± {r['acc_sd']:.3f} [{r['acc_min']:.2f}, {r['acc_max']:.2f}] "
            f"| {a['solved']}/{a['n']} vs {r['solved']}/{r['n']}, p = {s['p_solved']:.2g} "
            f"| {a['above_floor']}/{a['n']} vs {r['above_floor']}/{r['n']}, p = {s['p_floor']:.2g} "
            f"| {a['attn_entropy']:.2f} | {a['attn_self']:.2f} "
            f"| {a['grad_h1']:.2e} ({a['grad_h1_init']:.1e}) | {r['grad_h1']:.2e} ({r['grad_h1_init']:.1e}) |"
        )
    gated = [n for n in MODELS if n not in ("attn", "rnn") and any(n in sm for sm in summary)]
    if gated:
        lines += [
            "",
            "**The seed's attention against the gated baselines** (same steps, same tuning rule, same seeds and "
            "held-out data; LSTM and GRU read out Ω_t = V h_t + c with no attention; *same H*: hidden size "
            f"{COMMON['hidden_size']}, {_ratios()} the seed model's parameters; *same parameters*: the hidden size "
            "whose parameter count is closest to the seed model's, given per row). Solved counts and Fisher's exact "
            "p against the attention model.",
            "",
            "| task | setting | floor | attention | " + " | ".join(LABELS[n] for n in gated) + " |",
            "|---|---|---|---|" + "---|" * len(gated),
        ]
        for s in summary:
            a = s.get("attn")
            if not a or not all(n in s for n in gated):
                continue
            label = f"T = {s['value']}" if s["param"] == "seq_len" else f"{s['value']} pairs"
            cells = [f"{a['acc_mean']:.3f} ± {a['acc_sd']:.3f} (solved {a['solved']}/{a['n']})"]
            for n in gated:
                o = s[n]
                size = f", H = {o['hidden_size']}" if MODELS[n][2] == "params" else ""
                cells.append(f"{o['acc_mean']:.3f} ± {o['acc_sd']:.3f} (solved {o['solved']}/{o['n']}, "
                             f"p = {o['p_solved_vs_attn']:.2g}{size})")
            lines.append(f"| {s['task']} | {label} | {s['floor']:.3f} | " + " | ".join(cells) + " |")
    rates = sorted({(s["task"], n, s[n]["lr"]) for s in summary for n in MODELS if n in s})
    if rates:
        lines += ["", "Learning rates (tuned per model and task): " + "; ".join(
            f"{task} {LABELS[n]} {lr:g}" for task, n, lr in rates) + "."]
    return "\n".join(lines) + "\n"


def _ratios() -> str:
    """How many times the seed model's parameters an LSTM and a GRU of the same H have, over the tasks."""
    from .. import tasks
    from ..gated_rnn import parameter_count

    H = COMMON["hidden_size"]
    out = []
    for cell in ("gru", "lstm"):
        r = []
        for task, (param, values) in GRID.items():
            for v in values:
                sp = tasks.spec(task, symbols=COMMON["symbols"], delay=3, **{"seq_len": 10, "pairs": 3, param: v})
                r.append(parameter_count(cell, sp.input_size, H, sp.output_size)
                         / parameter_count("tanh", sp.input_size, H, sp.output_size))
        out.append(f"{min(r):.1f}–{max(r):.1f}× ({cell.upper()})")
    return " and ".join(out)


def evidence(rows: list[dict[str, Any]]) -> str:
    """The numbers behind each explanatory sentence of the README's results section, per run
    (``python -m tinygrad_rnn.models.app.sweep --report``)."""
    main = [r for r in rows if r["stage"] == "main"]
    out = []

    def sel(task: str, value: int, attn: bool) -> list[dict[str, Any]]:
        return sorted((r for r in main if r["task"] == task and r["value"] == value
                       and model_of(r) == ("attn" if attn else "rnn")), key=lambda r: r["seed"])

    for T in (20, 40):
        a, b = sel("first", T, True), sel("first", T, False)
        ratios = [x["grad_h1_init"] / y["grad_h1_init"] for x, y in zip(a, b) if x["seed"] == y["seed"]]
        if ratios:
            out.append(f"first T={T}: ‖∂L/∂h_1‖ at initialisation, attention / baseline, per seed (paired): "
                       + ", ".join(f"{q:.2g}" for q in ratios)
                       + f"; median {np.median(ratios):.2g}, range [{min(ratios):.2g}, {max(ratios):.2g}]")
        for name, runs in (("attention", a), ("baseline", b)):
            failed = [r for r in runs if r["eval_acc"] < SOLVED]
            for r in failed:
                g = np.asarray(r["grad_h_end"])
                rate = (g[-1] / g[-10]) ** (1 / 9)  # > 1: smaller further back
                trend = f"shrinks ×{rate:.2g}" if rate >= 1 else f"grows ×{1 / rate:.2g}"
                line = (f"first T={T} {name} seed {r['seed']} failed (acc {r['eval_acc']:.2f}): ‖∂L/∂h_t‖ at the end "
                        f"{trend} per step going back from t = {T} to {T - 9}; largest at t = {int(np.argmax(g)) + 1}")
                if r.get("attn_last"):
                    att = np.asarray(r["attn_last"])
                    line += f"; attention at t = T: max weight {att.max():.2f} (on i = {int(att.argmax()) + 1}), uniform = {1 / T:.3f}"
                out.append(line)
        for r in (x for x in a if x["eval_acc"] >= SOLVED and x.get("attn_last")):
            att, g = np.asarray(r["attn_last"]), np.asarray(r["grad_h_end"])
            top = [int(i) + 1 for i in np.argsort(att)[::-1][:3]]
            out.append(f"first T={T} attention seed {r['seed']} solved (acc {r['eval_acc']:.2f}): attention at t = T on "
                       f"i = {top} ({', '.join(f'{att[i - 1]:.2f}' for i in top)}); largest ‖∂L/∂h_t‖ at t = "
                       f"{[int(i) + 1 for i in np.argsort(g)[::-1][:3]]}")
    probe = [r for r in rows if r["stage"] == "probe"]
    if probe:
        for name, attn in (("attention", True), ("baseline", False)):
            runs = sorted((r for r in probe if model_of(r) == ("attn" if attn else "rnn")), key=lambda r: r["seed"])
            if runs:
                out.append(f"recall 3 pairs, H = 128, {runs[0]['steps']} steps, {name}: accuracy "
                           + ", ".join(f"{r['eval_acc']:.2f}" for r in runs)
                           + f" (floor {np.mean([r['floor'] for r in runs]):.3f}; above floor: "
                           f"{sum(above_floor(r) for r in runs)}/{len(runs)})")
    return "\n".join(out) + "\n"


def plot(summary: list[dict[str, Any]], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("note: matplotlib is not installed; no plot (pip install 'tinygrad_rnn[train]')", file=sys.stderr)
        return None
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, (task, (param, values)) in zip(axes, GRID.items()):
        colours = {"attn": "tab:blue", "rnn": "tab:orange", "lstm": "tab:green", "gru": "tab:red",
                   "lstm_p": "tab:olive", "gru_p": "tab:purple"}
        for k, name in enumerate(MODELS):
            label, colour = LABELS[name], colours[name]
            rows = [s[name] for s in summary if s["task"] == task and name in s]
            if not rows:
                continue
            xs = list(values)[: len(rows)]
            mean = np.array([r["acc_mean"] for r in rows])
            ax.plot(xs, mean, "o-", color=colour, label=label)
            ax.fill_between(xs, [r["acc_min"] for r in rows], [r["acc_max"] for r in rows], color=colour, alpha=0.15)
            offset = 0.012 * (max(values) - min(values)) * (k - (len(MODELS) - 1) / 2)
            for x, r in zip(xs, rows):  # every run, so a bimodal outcome shows as two clusters
                ax.plot([x + offset] * len(r["accs"]), r["accs"], ".", color=colour, alpha=0.6, ms=5)
        ax.axhline(1 / 8, color="grey", lw=0.8, ls=":", label="chance")
        floors = [sm["floor"] for sm in summary if sm["task"] == task and "floor" in sm]
        if floors:
            ax.plot(list(values)[: len(floors)], floors, "k--", lw=1, label="most-frequent floor")
        ax.set_xlabel("sequence length T" if param == "seq_len" else "key-value pairs")
        ax.set_ylabel("held-out accuracy")
        ax.set_title(task)
        ax.set_ylim(0, 1.02)
        ax.set_xticks(list(values))
    axes[0].legend(fontsize=8)
    fig.suptitle("mean (line), [min, max] (band) and every run (dots) over seeds", fontsize=9)
    fig.tight_layout()
    atomic_write(path, writer=lambda fh: fig.savefig(fh, dpi=110, format="png"))
    plt.close(fig)
    return path


def parser() -> OneLineParser:
    p = OneLineParser(prog="python -m tinygrad_rnn.models.app.sweep", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="results", help="results directory (default results/)")
    p.add_argument("--steps", type=positive_int, default=3000, help="training steps per run (default 3000)")
    p.add_argument("--seeds", type=positive_int, default=10, help="seeds per configuration (default 10)")
    p.add_argument("--report", action="store_true",
                   help="only print the per-run evidence behind the README's results section (no training)")
    p.add_argument("--allow-mixed-commits", action="store_true",
                   help="add to a results file that holds rows from another code version")
    p.add_argument("--workers", type=positive_int, default=2, help="parallel runs (default 2: one per core)")
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS),
                   help="which models to train (default all: " + ", ".join(f"{k} = {v}" for k, v in LABELS.items()) + ")")
    p.add_argument("--malloc", choices=memory.CHOICES, default="reuse",
                   help="reuse: every run keeps freed buffers for reuse (tinygrad_rnn.reuse_freed_memory, ~2x faster "
                        "steps on VMs; the default here); system: glibc's defaults")
    return p


def main(argv: list[str] | None = None) -> int:
    from .cli import readable_streams

    readable_streams()
    args = parser().parse_args(argv)
    os.environ["TINYGRAD_RNN_SWEEP_MALLOC"] = args.malloc  # applied by each worker (_start_worker)
    out = Path(args.out)
    try:
        if not args.out.strip():
            raise SweepError("--out: the results directory name is empty")
        if args.report:
            rows = load(out / "sweep.jsonl")
            if not rows:
                raise SweepError(f"--report: no sweep results in {(out / 'sweep.jsonl').absolute()} (looked relative "
                                 "to the current directory); run from the checkout, or give --out DIR")
            print(evidence(rows), end="")
            return 0
        try:
            (out / "runs").mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SweepError(f"--out: cannot create {str(out)[:200]!r}: {e.strerror}") from None
        start = time.perf_counter()
        rows = sweep(out, args.steps, args.seeds, args.workers, args.allow_mixed_commits, tuple(args.models))
    except (SweepError, RunError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"stopped: interrupted; every finished run is in {out / 'sweep.jsonl'} (run again to continue)",
              file=sys.stderr)
        return 130
    summary = summarise(rows)
    versions = sorted({f"{r.get('commit')}{' (dirty)' if r.get('dirty') else ''}" for r in rows})
    atomic_write(out / "sweep.md", markdown(summary, args.steps, args.seeds, ", ".join(versions)).encode())
    atomic_write(out / "summary.json", (json.dumps(summary, indent=1) + "\n").encode())
    atomic_write(out / "evidence.txt", evidence(rows).encode())
    png = plot(summary, out / "sweep.png")
    print((out / "sweep.md").read_text())
    print(f"wrote {out / 'sweep.jsonl'}, {out / 'sweep.md'}" + (f", {png}" if png else "")
          + f" in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
