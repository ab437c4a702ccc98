"""``python -m tinygrad_rnn.models.sweep``: when does the seed's attention help a plain tanh RNN?

Attention (the seed's model) against the baseline (``--no-attention``: Ω_t = V h_t + c), three
seeds each, on ``first`` with sequence lengths 5, 10, 20, 40 and on ``recall`` with 2, 3, 4, 6
pairs.  Both models get the same budget of steps and the same learning rate, tuned first: for
each task, every candidate rate trains both models once (seed 100, a middle setting) and the rate
with the best mean held-out accuracy over the two models wins.

Writes ``results/sweep.jsonl`` (one line per finished run; the sweep is resumable: finished runs
are skipped), ``results/sweep.png`` and ``results/sweep.md``.  Never part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from .rundir import atomic_write

GRID = {"first": ("seq_len", (5, 10, 20, 40)), "recall": ("pairs", (2, 3, 4, 6))}
TUNE_AT = {"first": 10, "recall": 3}
LRS = (0.003, 0.01, 0.03)
COMMON = {"batch_size": 32, "hidden_size": 32, "optimizer": "adam", "clip": 1.0, "symbols": 8, "eval_size": 512}


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """Train one configuration (in a worker process) and return its final evaluation."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from . import train

    cfg = train.Config(task=job["task"], steps=job["steps"], lr=job["lr"], seed=job["seed"],
                       attention=job["attention"], eval_every=job["steps"], log_every=100,
                       out=job["dir"], progress=False, **{GRID[job["task"]][0]: job["value"]}, **COMMON)
    start = time.perf_counter()
    res = train.run(cfg, force=True)
    grad_end = res.pop("grad_h")
    res["grad_h1"], res["grad_hT"] = grad_end[0], grad_end[-1]
    grad_h = train.evaluate(train.make_model(cfg), train.eval_batch(cfg))["grad_h"]  # at initialisation
    return {**job, **res, "grad_h1_init": grad_h[0], "seconds": time.perf_counter() - start}


def key(job: dict[str, Any]) -> str:
    return f"{job['stage']}|{job['task']}|{job['value']}|{'attn' if job['attention'] else 'rnn'}|{job['seed']}|{job['lr']}"


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def execute(jobs: list[dict[str, Any]], path: Path, workers: int, desc: str) -> list[dict[str, Any]]:
    """Run the jobs not yet in ``path``; append each result as it finishes."""
    from tqdm import tqdm

    done = {key(r) for r in load(path)}
    todo = [j for j in jobs if key(j) not in done]
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)  # never through a link
    with ProcessPoolExecutor(max_workers=workers) as pool, os.fdopen(fd, "a") as out, \
            tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc=desc, dynamic_ncols=True) as bar:
        for res in pool.map(run_one, todo):
            out.write(json.dumps(res) + "\n")
            out.flush()
            bar.update(1)
            bar.set_postfix(last=f"{res['task']} {res['value']} {'attn' if res['attention'] else 'rnn'} "
                                 f"acc={res['eval_acc']:.2f}", refresh=False)
    wanted = {key(j) for j in jobs}
    return [r for r in load(path) if key(r) in wanted]


def tune(results_dir: Path, steps: int, workers: int) -> dict[str, float]:
    jobs = [{"stage": "tune", "task": task, "value": TUNE_AT[task], "attention": attn, "seed": 100, "lr": lr,
             "steps": steps, "dir": str(results_dir / "runs" / f"tune-{task}-{lr}-{int(attn)}")}
            for task in GRID for lr in LRS for attn in (True, False)]
    rows = execute(jobs, results_dir / "sweep.jsonl", workers, "tuning lr")
    best = {}
    for task in GRID:
        score = {lr: np.mean([r["eval_acc"] for r in rows if r["task"] == task and r["lr"] == lr]) for lr in LRS}
        best[task] = max(LRS, key=lambda lr: (score[lr], -lr))
    return best


def sweep(results_dir: Path, steps: int, seeds: int, workers: int) -> list[dict[str, Any]]:
    lrs = tune(results_dir, steps, workers)
    jobs = [{"stage": "main", "task": task, "value": v, "attention": attn, "seed": s, "lr": lrs[task],
             "steps": steps, "dir": str(results_dir / "runs" / f"{task}-{v}-{int(attn)}-{s}")}
            for task, (_, values) in GRID.items() for v in values for attn in (True, False) for s in range(seeds)]
    return execute(jobs, results_dir / "sweep.jsonl", workers, "sweep")


# ----------------------------------------------------------------------------- reporting
def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for task, (param, values) in GRID.items():
        for v in values:
            line: dict[str, Any] = {"task": task, "param": param, "value": v}
            for name, attn in (("attn", True), ("rnn", False)):
                sel = [r for r in rows if r["task"] == task and r["value"] == v and r["attention"] == attn]
                if not sel:
                    continue
                acc = np.array([r["eval_acc"] for r in sel])
                line[name] = {"accs": [float(a) for a in acc],
                              "acc_mean": float(acc.mean()), "acc_min": float(acc.min()), "acc_max": float(acc.max()),
                              "acc_sd": float(acc.std()), "n": len(sel), "lr": sel[0]["lr"],
                              "grad_h1": float(np.mean([r["grad_h1"] for r in sel])),
                              "grad_h1_init": float(np.mean([r["grad_h1_init"] for r in sel]))}
                if attn:
                    line[name].update({k: float(np.mean([r[k] for r in sel]))
                                       for k in ("attn_entropy", "attn_self", "attn_first")})
            out.append(line)
    return out


def markdown(summary: list[dict[str, Any]], steps: int, seeds: int) -> str:
    lines = [
        f"Held-out accuracy after {steps} steps (mean ± sd over {seeds} seeds, [min, max]); chance is 1/8. "
        "Attention columns: entropy of α_t and weight on i = t and on i = 1 at the scored step; ‖∂L/∂h_1‖ is the "
        "mean norm of the total gradient reaching the first hidden state on held-out data, at the end "
        "(and at initialisation).",
        "",
        "| task | setting | attention acc | baseline acc | α entropy | α on i=t | α on i=1 | ‖∂L/∂h_1‖ attn end (init) | ‖∂L/∂h_1‖ rnn end (init) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        a, r = s.get("attn"), s.get("rnn")
        if not a or not r:
            continue
        label = f"T = {s['value']}" if s["param"] == "seq_len" else f"{s['value']} pairs"
        lines.append(
            f"| {s['task']} | {label} | {a['acc_mean']:.3f} ± {a['acc_sd']:.3f} [{a['acc_min']:.2f}, {a['acc_max']:.2f}] "
            f"| {r['acc_mean']:.3f} ± {r['acc_sd']:.3f} [{r['acc_min']:.2f}, {r['acc_max']:.2f}] "
            f"| {a['attn_entropy']:.2f} | {a['attn_self']:.2f} | {a['attn_first']:.3f} "
            f"| {a['grad_h1']:.2e} ({a['grad_h1_init']:.1e}) | {r['grad_h1']:.2e} ({r['grad_h1_init']:.1e}) |"
        )
    return "\n".join(lines) + "\n"


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
        for name, label, colour in (("attn", "seed's attention", "tab:blue"), ("rnn", "no attention", "tab:orange")):
            rows = [s[name] for s in summary if s["task"] == task and name in s]
            if not rows:
                continue
            xs = list(values)[: len(rows)]
            mean = np.array([r["acc_mean"] for r in rows])
            ax.plot(xs, mean, "o-", color=colour, label=label)
            ax.fill_between(xs, [r["acc_min"] for r in rows], [r["acc_max"] for r in rows], color=colour, alpha=0.15)
            offset = 0.012 * (max(values) - min(values)) * (-1 if name == "attn" else 1)
            for x, r in zip(xs, rows):  # every run, so a bimodal outcome shows as two clusters
                ax.plot([x + offset] * len(r["accs"]), r["accs"], ".", color=colour, alpha=0.6, ms=5)
        ax.axhline(1 / 8, color="grey", lw=0.8, ls=":", label="chance")
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tinygrad_rnn.models.sweep", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="results", help="results directory (default results/)")
    p.add_argument("--steps", type=int, default=3000, help="training steps per run (default 3000)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per configuration (default 3; results/ has 5)")
    p.add_argument("--workers", type=int, default=2, help="parallel runs (default 2: one per core)")
    args = p.parse_args(argv)
    out = Path(args.out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    rows = sweep(out, args.steps, args.seeds, args.workers)
    summary = summarise(rows)
    atomic_write(out / "sweep.md", markdown(summary, args.steps, args.seeds).encode())
    png = plot(summary, out / "sweep.png")
    print((out / "sweep.md").read_text())
    print(f"wrote {out / 'sweep.jsonl'}, {out / 'sweep.md'}" + (f", {png}" if png else "")
          + f" in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
