"""``python -m benchmarks``: engine vs numpy closed form vs PyTorch, one process, one thread each.

Writes ``benchmarks/results.md`` (machine, versions, date) and prints the same summary.
``--configs tiny small`` picks configurations; ``--smoke`` runs the smallest one once (used by a
test to check the harness, never to judge speed).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy is imported: one thread for every library

import argparse  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import tinygrad_rnn as tg  # noqa: E402
from benchmarks import memory, overhead, train_step  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results.md"


def commit() -> str:
    """The checkout's commit (and whether it has uncommitted changes), or 'unknown'."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + (" (with uncommitted changes)" if dirty else "")


def versions() -> str:
    parts = [f"commit {commit()}", f"Python {platform.python_version()}", f"numpy {np.__version__}"]
    try:
        import torch

        parts.append(f"torch {torch.__version__}")
    except ImportError:
        parts.append("torch not installed")
    cpu = platform.processor() or platform.machine()
    return f"{datetime.date.today().isoformat()}; {cpu}, {os.cpu_count()} cores; " + ", ".join(parts) + \
        "; OMP/OPENBLAS threads = 1, torch.set_num_threads(1)"


def fmt_ms(s: float) -> str:
    return f"{s * 1e3:.3g}"


def train_table(results: list[dict]) -> str:
    lines = ["| config (B, T, D, H, K) | implementation | ms per step, median [IQR] | × closed form | × torch (same formulation) |",
             "|---|---|---|---|---|"]
    for r in results:
        t = r["times"]
        cf_med = t["closed form"]["median"]
        for name, v in t.items():
            ratio_cf = v["median"] / cf_med
            ref = {"engine fused": "torch fused", "engine unrolled": "torch per-step"}.get(name)
            ratio_t = f"{v['median'] / t[ref]['median']:.2f}" if ref in t else "—"
            lines.append(f"| {r['config']} {tuple(r['shape'])} | {name} | {fmt_ms(v['median'])} "
                         f"[{fmt_ms(v['q1'])}–{fmt_ms(v['q3'])}] | {ratio_cf:.2f} | {ratio_t} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", nargs="*", default=list(train_step.CONFIGS), choices=list(train_step.CONFIGS))
    p.add_argument("--reps", type=int, default=None, help="repetitions per configuration (default: per config)")
    p.add_argument("--smoke", action="store_true", help="tiny config, one repetition, no memory/depth runs")
    p.add_argument("--no-unrolled", action="store_true", help="skip the per-step formulations")
    p.add_argument("--out", default=str(RESULTS), help="markdown output (default benchmarks/results.md)")
    args = p.parse_args(argv)
    if args.smoke:
        args.configs, args.reps = ["tiny"], 1
    sections = [f"# Benchmark results\n\n{versions()}\n\nCommand: `python -m benchmarks {' '.join(argv or sys.argv[1:])}`"]
    phases = [("glibc malloc defaults", None)]
    if not args.smoke:
        phases.append(("freed memory reused (tg.reuse_freed_memory(), for every implementation)", "reuse"))
    for label, tuning in phases:
        if tuning == "reuse" and not tg.reuse_freed_memory():
            sections.append("(not glibc: the allocator could not be tuned)")
            break
        results = []
        for name in args.configs:
            res = train_step.time_config(name, reps=args.reps, unrolled=not args.no_unrolled)
            results.append(res)
            print(f"[{tuning or 'default'}] {name}: " +
                  ", ".join(f"{k} {fmt_ms(v['median'])} ms" for k, v in res["times"].items()), flush=True)
        agree = max(e for r in results for e in r["errors"].values())
        sections.append(f"## Train step (forward + backward, all five gradients): {label}\n\n"
                        f"All implementations agree with the closed form to {agree:.1e} (max relative error) "
                        "before timing.\n\n" + train_table(results))
    if not args.smoke:
        oh = overhead.measure()
        sections.append("## Per-op overhead (forward + backward, 8-element tensors, chain of 300 ops)\n\n"
                        "| implementation | µs per op, median [IQR] |\n|---|---|\n" +
                        "\n".join(f"| {k} | {m:.2f} [{lo:.2f}–{hi:.2f}] |" for k, (m, lo, hi) in oh.items()))
        rows = [(f"T={T} (1, {T}, 16, 32, 16)", memory.peak_step(T)) for T in (64, 256, 1024, 4096)]
        B, T, D, H, K = train_step.CONFIGS["long"]
        rows.append((f"long {train_step.CONFIGS['long']}", memory.peak_step(T, B=B, D=D, H=H, K=K)))
        sections.append(
            "## Memory of one train step (tracemalloc)\n\n"
            "| run (B, T, D, H, K) | engine fused peak (MB) | closed form peak (MB) | ratio | engine memory still held after backward (MB) |\n"
            "|---|---|---|---|---|\n" + "\n".join(
                f"| {label} | {r['engine_peak'] / 1e6:.2f} | {r['closed_peak'] / 1e6:.2f} | "
                f"{r['engine_peak'] / r['closed_peak']:.2f} | {r['engine_after'] / 1e6:.3f} |" for label, r in rows))
        d = memory.depth(10_000)
        sections.append(
            "## Depth (T = 10 000, B=1, D=4, H=8, K=4)\n\n| run | ops on the tape | seconds | finite gradients |\n"
            "|---|---|---|---|\n" + "\n".join(
                f"| {k} | {v['ops']} | {v['seconds']:.2f} | {v['finite']} |" for k, v in d.items() if k != "T"))
    text = "\n\n".join(sections) + "\n"
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
