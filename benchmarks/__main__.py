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

from benchmarks import memory, train_step  # noqa: E402
from benchmarks import floor  # noqa: E402

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
    lines = ["| config (B, T, D, H, K) | implementation | ms per step, median [IQR] | × floor | × torch (same formulation) |",
             "|---|---|---|---|---|"]
    for r in results:
        t = r["times"]
        floor = t["floor"]["median"]
        for name, v in t.items():
            ref = {"engine fused": "torch fused", "engine unrolled": "torch per-step"}.get(name)
            ratio_t = f"{v['median'] / t[ref]['median']:.2f}" if ref in t else "—"
            lines.append(f"| {r['config']} {tuple(r['shape'])} | {name} | {fmt_ms(v['median'])} "
                         f"[{fmt_ms(v['q1'])}–{fmt_ms(v['q3'])}] | {v['median'] / floor:.2f} | {ratio_t} |")
    return "\n".join(lines)


TARGETS = (("fused train step, tiny and small", "≤ 2.5× the floor"), ("fused train step, medium, long, wide", "≤ 1.3× the floor"),
           ("per-op overhead (forward + backward, 8 elements)", "≤ 2.5 µs"),
           ("faster than PyTorch eager, both formulations", "< 1.00× torch everywhere"),
           ("peak memory of a fused step, T ≥ 1024", "≤ 1.5× the floor"),
           ("compiled fused step (tg.compile), tiny and small", "≤ 2.0× the floor"),
           ("compiled fused step (tg.compile), medium, long, wide", "≤ 1.1× the floor"),
           ("compiled per-op cost (forward + backward, 8 elements)", "≤ 1.5 µs"))


def targets_table(fresh_res: dict, mem_rows: list) -> str:
    c = fresh_res["configs"]
    rows = []

    def xf(config: str) -> float:
        return c[config]["impls"]["engine fused"]["x_floor"]["median"]

    small = [k for k in ("tiny", "small") if k in c]
    big = [k for k in ("medium", "long", "wide") if k in c]
    if small:
        worst = max(xf(k) for k in small)
        rows.append((TARGETS[0], ", ".join(f"{k} {xf(k):.2f}×" for k in small), worst <= 2.5))
    if big:
        worst = max(xf(k) for k in big)
        rows.append((TARGETS[1], ", ".join(f"{k} {xf(k):.2f}×" for k in big), worst <= 1.3))
    oh = fresh_res["overhead_us"]["engine"]["median"]
    rows.append((TARGETS[2], f"{oh:.2f} µs (torch eager {fresh_res['overhead_us'].get('torch', {}).get('median', float('nan')):.2f} µs)",
                 oh <= 2.5))
    vs = [(k, i, e["x_torch"]["median"]) for k, v in c.items() for i, e in v["impls"].items() if "x_torch" in e]
    if vs:
        rows.append((TARGETS[3], "; ".join(f"{k} {i.split()[1]} {x:.2f}×" for k, i, x in vs), all(x < 1 for _, _, x in vs)))
    big_mem = [(label, r["engine_peak"] / r["floor_peak"]) for label, r in mem_rows if r["T"] >= 1024]
    if big_mem:
        rows.append((TARGETS[4], "; ".join(f"{label.split()[0]} {x:.2f}×" for label, x in big_mem),
                     all(x <= 1.5 for _, x in big_mem)))
    def xc(config: str) -> float | None:
        e = c[config]["impls"].get("engine compiled")
        return None if e is None else e["x_floor"]["median"]

    for target, keys, goal in ((TARGETS[5], small, 2.0), (TARGETS[6], big, 1.1)):
        got = [(k, xc(k)) for k in keys if xc(k) is not None]
        if got:
            rows.append((target, ", ".join(f"{k} {x:.2f}×" for k, x in got), max(x for _, x in got) <= goal))
    if "compiled" in fresh_res["overhead_us"]:
        oc = fresh_res["overhead_us"]["compiled"]["median"]
        rows.append((TARGETS[7], f"{oc:.2f} µs (eager engine {oh:.2f} µs)", oc <= 1.5))
    return ("| target | goal | measured | met |\n|---|---|---|---|\n" +
            "\n".join(f"| {t[0]} | {t[1]} | {m} | {'yes' if ok else '**no**'} |" for t, m, ok in rows))


def profile_text(config: str, top: int = 12) -> str:
    """cProfile's top entries (internal time) for 20 engine fused steps: where the time goes."""
    import cProfile
    import io
    import pstats

    B, T, D, H, K = train_step.CONFIGS[config]
    params, xs, ys = train_step.make_case(B, T, D, H, K)
    step = train_step.engine(params, "fused")
    step(xs, ys)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(20 if config in ("tiny", "small") else 3):
        step(xs, ys)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("tottime").print_stats(top)
    lines = [ln for ln in buf.getvalue().splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls"))
    return "\n".join(lines[start - 1:start + top + 1])


def main(argv: list[str] | None = None) -> int:
    from benchmarks import fresh

    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", nargs="*", default=list(train_step.CONFIGS), choices=list(train_step.CONFIGS))
    p.add_argument("--reps", type=int, default=None, help="repetitions per configuration (default: per config)")
    p.add_argument("--rounds", type=int, default=5, help="rounds of fresh processes (default 5)")
    p.add_argument("--smoke", action="store_true", help="tiny config, one repetition, no memory/depth runs")
    p.add_argument("--no-unrolled", action="store_true", help="skip the per-step formulations")
    p.add_argument("--out", default=str(RESULTS), help="markdown output (default benchmarks/results.md)")
    args = p.parse_args(argv)
    if args.smoke:
        args.configs, args.reps, args.rounds = ["tiny"], 1, 1
    from tinygrad_rnn import memory as _mem

    _mem.reuse_freed_memory()  # the library leaves the allocator alone; a benchmark process asks for the tuning
    sections = [f"# Benchmark results\n\n{versions()}\n\nCommand: `python -m benchmarks {' '.join(argv or sys.argv[1:])}`\n\n"
                f"Allocator: freed memory reused (`tinygrad_rnn.reuse_freed_memory()`, opt-in, called by every "
                f"benchmark process, the floor's and PyTorch's included; applied here: {_mem.TUNED}); the second "
                "fresh-process table uses glibc's own defaults (`--malloc system`).\n\n"
                "The **floor** is `benchmarks/floor.py`'s `bptt_fast`: the fastest numpy I could write for this model (time-major "
                "buffers, in-place softmax, batched matmuls, buffers reused across calls), checked against the "
                "readable closed form, the nested sums, the engine and PyTorch to 1e-12 (`tests/models/test_closed_form_fast.py`). "
                "`closed form` is the readable `closed_form.bptt`, the floor of earlier versions of this file."]
    mem_rows: list = []
    fresh_main = fresh.run(args.configs, args.rounds, "reuse", steps_scale=0.02 if args.smoke else 1.0)
    sections.append(f"## Train step in fresh processes (the primary view)\n\nEach implementation in its own "
                    f"process, {args.rounds} rounds in rotated order; one thread; forward + backward, all five "
                    "gradients, each checked against the closed form in every worker before timing. Ratios are "
                    "per round, then summarised.\n\n" + fresh.table(fresh_main))
    peak = fresh_main["peak_gflops"]
    sections.append("## The floor's arithmetic rate\n\n"
                    f"Matmul peak of this machine, one thread, float64 1024 × 1024: **{peak:.1f} GFLOP/s**.\n\n"
                    "| config | floor ms | matmul MFLOP in the step | floor GFLOP/s | % of peak |\n|---|---|---|---|---|\n" +
                    "\n".join(f"| {k} | {v['impls']['floor']['ms']['median']:.3g} | {floor.bptt_flops(*v['shape']) / 1e6:.3g} | "
                              f"{v['floor_gflops']:.2f} | {100 * v['floor_gflops'] / peak:.0f} % |"
                              for k, v in fresh_main["configs"].items()))
    if not args.smoke:
        fresh_sys = fresh.run(args.configs, max(2, args.rounds // 2), "system")
        sections.append("## Train step in fresh processes, glibc's allocator defaults (`--malloc system`)\n\n"
                        + fresh.table(fresh_sys))
        sections.append("## Per-op overhead (fresh processes; forward + backward, 8-element tensors, chain of 300 ops)\n\n"
                        "| implementation | µs per op: median [range over rounds] |\n|---|---|\n" +
                        "\n".join(f"| {k} | {v['median']:.2f} [{v['min']:.2f}–{v['max']:.2f}] |"
                                   for k, v in fresh_main["overhead_us"].items()))
        mem_rows = [(f"T={T} (1, {T}, 16, 32, 16)", memory.peak_step(T)) for T in (64, 256, 1024, 4096)]
        B, T, D, H, K = train_step.CONFIGS["long"]
        mem_rows.append((f"long {train_step.CONFIGS['long']}", memory.peak_step(T, B=B, D=D, H=H, K=K)))
        sections.append(
            "## Memory of one train step (tracemalloc)\n\nThe floor's peak is of a cold call (its reused buffers "
            "included); `closed form` (the readable `bptt`) keeps fewer T × T arrays and is the leanest.\n\n"
            "| run (B, T, D, H, K) | engine fused peak (MB) | floor peak (MB) | × floor | closed form peak (MB) | × closed form | engine memory still held after backward (MB) |\n"
            "|---|---|---|---|---|---|---|\n" + "\n".join(
                f"| {label} | {r['engine_peak'] / 1e6:.2f} | {r['floor_peak'] / 1e6:.2f} | {r['engine_peak'] / r['floor_peak']:.2f} | "
                f"{r['closed_peak'] / 1e6:.2f} | {r['engine_peak'] / r['closed_peak']:.2f} | {r['engine_after'] / 1e6:.3f} |"
                for label, r in mem_rows))
    sections.append("## Targets\n\n" + targets_table(fresh_main, mem_rows))
    if not args.smoke:
        sections.append("## Where the engine's time goes (cProfile, internal time, engine fused)\n\n" + "\n\n".join(
            f"{c}:\n\n```\n{profile_text(c)}\n```" for c in ("tiny", "long") if c in args.configs))
    results = []
    for name in args.configs:
        res = train_step.time_config(name, reps=args.reps, unrolled=not args.no_unrolled)
        results.append(res)
        print(f"[in-process] {name}: " + ", ".join(f"{k} {fmt_ms(v['median'])} ms" for k, v in res["times"].items()),
              flush=True)
    agree = max(e for r in results for e in r["errors"].values())
    sections.append("## Train step in one process, interleaved (secondary view)\n\nAll implementations in one "
                    "process with PyTorch imported, round-robin per repetition. PyTorch's allocations and thread pool "
                    "change numpy's timings here; the fresh-process table above is how users run code. "
                    f"All implementations agree with the closed form to {agree:.1e} (max relative error) before "
                    "timing.\n\n" + train_table(results))
    if not args.smoke:
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
