"""``python -m tinygrad_rnn.models.train``: train the seed's attention RNN (or the plain-RNN baseline).

    python -m tinygrad_rnn.models.train --task recall --pairs 3 --steps 2000 --out runs/recall
    python -m tinygrad_rnn.models.train --task recall --pairs 3 --steps 4000 --out runs/recall --resume
    python -m tinygrad_rnn.models.train --task first --seq-len 20 --no-attention --out runs/first-rnn
    python -m tinygrad_rnn.models.train --task text --seq-len 32 --hidden-size 64 --steps 3000 --out runs/text --plots

Writes ``DIR/config.json``, ``DIR/metrics.jsonl`` (one JSON object per logged step: ``step``,
``loss`` = training loss per scored token, and ``eval_loss``/``eval_acc``/attention statistics
when evaluated) and ``DIR/checkpoint.npz`` (W, U, b, V, c, optimizer state, step, config; plain
arrays, ``np.load(path, allow_pickle=False)``; written atomically).  ``--resume`` continues from
the checkpoint and gives the same numbers as an uninterrupted run: the batch of step n is drawn
from its own generator ``default_rng([seed, n])``, so no random state needs saving.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct
import sys
import zipfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Sequence

import numpy as np

import tinygrad_rnn as tg

from . import tasks
from .app import rundir
from tinygrad_rnn.serialization import npy_header, zip_directory_size

from .attention_rnn import AttentionRNN
from .data import as_batch
from .gated_rnn import GatedRNN
from .app.cli import OneLineParser, non_negative_int, positive_float, positive_int

# settings that define the model and the data: a checkpoint must agree on all of them
ARCHITECTURE = ("task", "seq_len", "pairs", "symbols", "delay", "hidden_size", "cell", "attention", "attend_h0",
                "optimizer", "seed")
CELLS = ("tanh", "lstm", "gru")  # tanh: the seed's model (with or without attention); lstm/gru: gated_rnn
EVAL_SEED = 2**31 - 1


class TrainError(rundir.RunError):
    """A user-facing problem: printed as one line, exit code 1."""


class Interrupted(TrainError):
    """Ctrl-C: stopped cleanly (exit code 130)."""


@dataclass
class Config:
    task: str = "recall"
    steps: int = 1000
    batch_size: int = 32
    seq_len: int = 10
    pairs: int = 3
    symbols: int = 8
    delay: int = 3
    hidden_size: int = 32
    lr: float = 0.01
    optimizer: str = "adam"
    momentum: float = 0.9
    clip: float | None = 1.0
    seed: int = 0
    cell: str = "tanh"
    attention: bool = True
    attend_h0: bool = False
    eval_every: int = 100
    eval_size: int = 256
    log_every: int = 10
    out: str = ""  # default: out/runs/<task> (under the one ignored output folder)
    plots: bool = False
    progress: bool = True

    @property
    def spec(self) -> tasks.TaskSpec:
        return tasks.spec(self.task, seq_len=self.seq_len, pairs=self.pairs, symbols=self.symbols, delay=self.delay)


# ----------------------------------------------------------------------------- pieces
def make_model(cfg: Config) -> AttentionRNN | GatedRNN:
    s = cfg.spec
    if cfg.cell != "tanh":
        return GatedRNN(s.input_size, cfg.hidden_size, s.output_size, cell=cfg.cell, seed=cfg.seed)
    return AttentionRNN(s.input_size, cfg.hidden_size, s.output_size, seed=cfg.seed, attend_h0=cfg.attend_h0,
                        attention=cfg.attention)


def make_optimizer(cfg: Config, model: AttentionRNN) -> tg.optim.Optimizer:
    params = model.parameters()
    if cfg.optimizer == "adam":
        return tg.optim.Adam(params, lr=cfg.lr)
    return tg.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum)


def train_batch(cfg: Config, step: int) -> tasks.Batch:
    """The batch of step ``step`` (0-based): its own generator, so resuming needs no RNG state."""
    return tasks.generate(cfg.task, np.random.default_rng([cfg.seed, step]), cfg.batch_size, cfg.seq_len,
                          cfg.pairs, cfg.symbols, cfg.delay, split="train")


def eval_batch(cfg: Config) -> tasks.Batch:
    """Held-out sequences (a generator no training step uses; the text task's last 10 %)."""
    return tasks.generate(cfg.task, np.random.default_rng([cfg.seed, EVAL_SEED]), cfg.eval_size, cfg.seq_len,
                          cfg.pairs, cfg.symbols, cfg.delay, split="test")


def train_step(model: AttentionRNN, opt: tg.optim.Optimizer, batch: tasks.Batch, clip: float | None,
               compiled: Any = None) -> float:
    """One update; returns the loss per scored token (before the update).  ``compiled``: the
    step from :func:`compiled_step` (forward and backward replayed by ``tg.compile``; the same
    numbers bit for bit)."""
    opt.zero_grad()
    if compiled is not None:
        X, Y, _ = as_batch(batch.xs, batch.ys, model.input_size, model.output_size)  # checked, in numpy, as loss() does
        loss = compiled(X, Y)  # the gradients are in .grad already (not applied if the loss is not finite)
        value = loss.item() / max(int(batch.scored.sum()), 1)
        if not math.isfinite(value):
            return value
    else:
        loss = model.loss(batch.xs, batch.ys, mode="fused")
        value = loss.item() / max(int(batch.scored.sum()), 1)
        if not math.isfinite(value):
            return value
        loss.backward()
    if clip:
        tg.optim.clip_grad_norm(model.parameters(), clip)
    opt.step()
    return value


def compiled_step(model: AttentionRNN | GatedRNN) -> Any:
    """``tg.compile`` of the model's fused loss on a checked batch: traced once per batch shape."""
    if not isinstance(model, AttentionRNN):
        raise TrainError("--compile: only the seed's model (--cell tanh) is compiled so far; drop --compile for --cell lstm/gru")
    return tg.compile(lambda X, Y: model.batch_loss(X, Y, mode="fused"))


def evaluate(model: AttentionRNN, batch: tasks.Batch) -> dict[str, Any]:
    """Loss and accuracy at the scored steps, attention statistics there (entropy of α_t, the
    weight on i = t and on i = 1) and the mean total gradient norm ‖∂L/∂h_t‖ for every t."""
    saved = {k: p.grad for k, p in model.params().items()}
    fwd = model.forward(batch.xs)
    for h in fwd.steps:
        h.retain_grad()
    loss = tg.cross_entropy(fwd.logits, batch.ys, axis=-1, reduction="sum")
    loss.backward()
    for k, p in model.params().items():
        p.grad = saved[k]
    scored = batch.scored
    n = max(int(scored.sum()), 1)
    correct = (fwd.probs.data.argmax(-1) == batch.ys.argmax(-1)) & scored
    out: dict[str, Any] = {
        "eval_loss": loss.item() / n,
        "eval_acc": float(correct.sum() / n),
        "grad_h": [float(np.linalg.norm(h.grad, axis=-1).mean()) for h in fwd.steps],
    }
    if fwd.attention is not None:
        a = fwd.attention.data[scored]  # (n, T) rows at scored steps
        t_idx = np.nonzero(scored)[1]
        with np.errstate(divide="ignore", invalid="ignore"):
            ent = -np.where(a > 0, a * np.log(a), 0.0).sum(-1)
        out.update({
            "attn_entropy": float(ent.mean()),
            "attn_self": float(a[np.arange(len(a)), t_idx].mean()),
            "attn_first": float(a[:, 0].mean()),
        })
    return out


# ----------------------------------------------------------------------------- files
def save_checkpoint(path: Path, model: AttentionRNN, opt: tg.optim.Optimizer, step: int, cfg: Config) -> None:
    """All plain arrays; written whole or not at all (temporary file, fsync, rename, directory fsync)."""
    arrays: dict[str, np.ndarray] = {k: t.data for k, t in model.params().items()}
    arrays.update({f"opt.{k}": np.asarray(v) for k, v in opt.state_dict().items()})
    arrays["step"] = np.asarray(step, dtype=np.int64)
    arrays["config"] = np.asarray(json.dumps(asdict(cfg), sort_keys=True))
    rundir.atomic_write(path, writer=lambda fh: np.savez(fh, **arrays), point=f"{path.stem}-before-rename")


HEADER_SLACK = 1 << 16  # an .npy header is at most a few kB


def _expected_members(model: AttentionRNN, opt: tg.optim.Optimizer) -> dict[str, tuple[str, tuple[int, ...]]]:
    """name -> (dtype kind, shape) of every array a checkpoint of this model must hold."""
    want = {k: ("f", t.shape) for k, t in model.params().items()}
    for k, v in opt.state_dict().items():
        v = np.asarray(v)
        want[f"opt.{k}"] = (v.dtype.kind, v.shape)
    want["step"] = ("i", ())
    want["config"] = ("U", ())
    return want


def _read_header(fh: Any, name: str, path: Path, what: str = "--resume") -> tuple[tuple[int, ...], np.dtype]:
    try:
        shape, dtype, _ = npy_header(fh)
    except (ValueError, EOFError, OSError) as e:
        raise TrainError(f"{what}: {path}: member {name!r} is not a readable .npy array ({e})") from None
    return shape, dtype


def _zip_directory_size(fh: Any, path: Path, what: str = "--resume") -> tuple[int, int]:
    """(members, bytes) the zip's central directory declares (:func:`tinygrad_rnn.serialization.zip_directory_size`)."""
    found = zip_directory_size(fh)
    if found is None:
        raise TrainError(f"{what}: {path} is not a zip archive (np.savez writes one); the file is corrupt")
    return found


def load_checkpoint(path: Path, cfg: Config, model: AttentionRNN, opt: tg.optim.Optimizer,
                    what: str = "--resume") -> int:
    """Validate, then restore parameters and optimizer state; return the step (see :func:`read_checkpoint`)."""
    return read_checkpoint(path, cfg, model, opt, what)[0]


def read_checkpoint(path: Path, cfg: Config, model: AttentionRNN, opt: tg.optim.Optimizer,
                    what: str = "--resume") -> tuple[int, dict[str, Any]]:
    """Validate, then restore parameters and optimizer state; return the step and the checkpoint's
    configuration.

    The file is opened once (:func:`tinygrad_rnn.models.app.rundir.open_regular`: no link, no FIFO, a
    size bounded by what this model's checkpoint can hold) and everything comes from that one
    descriptor.  Then everything is checked from the zip's end record, its directory and the .npy
    headers *before* any array is read (member count, names, dtypes, shapes, uncompressed sizes),
    so a hostile file costs nothing: no pickle, no zip bomb, no huge allocation.  Then the scalars'
    types and ranges, the configuration, that every array is finite, and that the optimizer state
    is consistent (its step count equals the checkpoint's; see ``Optimizer.load_state_dict``).
    Any problem is one :class:`TrainError` naming file and field; nothing is restored then."""
    want = _expected_members(model, opt)
    limit = sum(int(np.prod(shape, dtype=np.int64)) * 8 for _, shape in want.values()) \
        + len(want) * (HEADER_SLACK + 4096) + (1 << 20)
    fh = rundir.open_regular(path, what, limit)
    if fh is None:
        raise TrainError(f"{what}: no checkpoint at {path}")
    arrays: dict[str, np.ndarray] = {}
    saved: dict[str, Any] = {}
    try:
        with fh:
            members, cd_size = _zip_directory_size(fh, path, what)
            if members > len(want) + 16 or cd_size > (len(want) + 16) * 1024:
                raise TrainError(f"{what}: {path} declares {members} members in {cd_size} bytes of directory; "
                                 f"a checkpoint of this model has {len(want)}")
            with zipfile.ZipFile(fh) as zf:
                infos = {i.filename: i for i in zf.infolist()}
                names = {n[:-4] if n.endswith(".npy") else n: n for n in infos}
                extra = sorted(set(names) - set(want))
                missing = sorted(set(want) - set(names))
                if missing:
                    raise TrainError(f"{what}: {path} is not a checkpoint of this model (missing {rundir.few(missing)})")
                if extra:
                    raise TrainError(f"{what}: {path} has unexpected members {rundir.few(extra)}")
                for key in ("config", "step", *(k for k in want if k not in ("config", "step"))):
                    kind, shape = want[key]
                    info = infos[names[key]]
                    if not names[key].endswith(".npy"):
                        raise TrainError(f"{what}: {path}: member {names[key]!r} is not an .npy array")
                    member_limit = (1 << 20) if kind == "U" else int(np.prod(shape, dtype=np.int64)) * 8 + HEADER_SLACK
                    if info.file_size > member_limit:
                        raise TrainError(f"{what}: {path}: {key} declares {info.file_size} bytes uncompressed, "
                                         f"at most {member_limit} expected for shape {shape}")
                    with zf.open(info) as member:
                        got_shape, dtype = _read_header(member, key, path, what)
                        if dtype.hasobject or dtype.kind != kind or got_shape != shape:
                            raise TrainError(f"{what}: {path}: {key} has dtype {dtype} and shape {got_shape}, "
                                             f"expected {'integer' if kind == 'i' else 'float' if kind == 'f' else 'text'} "
                                             f"of shape {shape}")
                    with zf.open(info) as member:
                        arrays[key] = np.lib.format.read_array(member, allow_pickle=False)
                    if key == "config":
                        saved = _check_config(arrays["config"], cfg, path, what)
    except TrainError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError, RuntimeError, struct.error) as e:
        raise TrainError(f"{what}: {path} is corrupt or truncated ({type(e).__name__}: {str(e)[:200]})") from None
    step = int(arrays["step"])
    if step < 0:
        raise TrainError(f"{what}: {path}: step is {step}, expected a non-negative integer")
    for key, arr in arrays.items():
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise TrainError(f"{what}: {path}: {key} has non-finite values; this is not a good checkpoint")
    opt_steps = int(arrays["opt.steps"]) if "opt.steps" in arrays else step
    if opt_steps != step:
        raise TrainError(f"{what}: {path}: the optimizer has taken {opt_steps} steps but the checkpoint is at "
                         f"step {step}; one update per step, so they must agree")
    try:  # the optimizer checks everything before it writes anything; then the parameters
        opt.load_state_dict({k[4:]: v for k, v in arrays.items() if k.startswith("opt.")})
    except (KeyError, ValueError) as e:
        raise TrainError(f"{what}: optimizer state in {path} does not fit: {e}") from None
    for k, t in model.params().items():
        t.data[...] = arrays[k]
    return step, saved


def _check_config(raw: np.ndarray, cfg: Config, path: Path, what: str = "--resume") -> dict[str, Any]:
    try:
        saved = json.loads(str(raw))
    except (json.JSONDecodeError, RecursionError):
        raise TrainError(f"{what}: {path}: config is not readable JSON") from None
    if not isinstance(saved, dict):
        raise TrainError(f"{what}: {path}: config is not a configuration (a JSON object)")
    diffs = [f"{k}={repr(saved.get(k))[:40]} (now {getattr(cfg, k)!r})" for k in ARCHITECTURE
             if saved.get(k) != getattr(cfg, k)]
    if diffs:
        raise TrainError(f"{what}: {path} was written by a different configuration: {rundir.few(diffs)}")
    return saved


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The records of a run's ``metrics.jsonl`` (a torn last line is dropped)."""
    return rundir.read_metrics(path)[0]


# ----------------------------------------------------------------------------- the loop
SETTINGS = ("steps", "batch_size", "lr", "momentum", "clip", "eval_every", "eval_size", "log_every", "plots")
MAX_HISTORY_BYTES = 16 << 20  # one entry (~600 bytes) per resume that changed a setting
MAX_CONFIG_BYTES = 1 << 20
RECORD_BYTES = 4096  # the most a metrics line of this program holds, with room to spare


def _metrics_limit(cfg: Config, step: int) -> int:
    """The most bytes ``metrics.jsonl`` can hold up to ``step``: a line every ``log_every`` and
    every ``eval_every`` steps (a resume with other settings may have used smaller ones: ×4 slack)."""
    lines = step // max(1, min(cfg.log_every, 10)) + step // max(1, min(cfg.eval_every, 10)) + 2
    return 4 * lines * RECORD_BYTES + (1 << 20)


def _history(out: Path, cfg: Config, start: int) -> list[dict[str, Any]]:
    """Which steps ran under which settings: ``config_history.json`` gains an entry whenever a
    resume changes a setting (the first entry is the configuration the run started with)."""
    path = out / "config_history.json"
    history: list[dict[str, Any]] = []
    raw = rundir.read_bounded(path, "config history", MAX_HISTORY_BYTES)
    if raw is not None:
        history = rundir.parse_json(raw, str(path))
        if not (isinstance(history, list) and all(
                isinstance(h, dict) and type(h.get("from_step")) is int and isinstance(h.get("config"), dict)
                for h in history)):
            raise TrainError(f"{path} is not a list of {{'from_step': integer, 'config': {{...}}}} entries; "
                             "remove it to start a new history")
    current = asdict(cfg)
    if not history or {k: history[-1]["config"].get(k) for k in SETTINGS} != {k: current[k] for k in SETTINGS}:
        if history:
            changed = [f"{k} {history[-1]['config'].get(k)!r} → {current[k]!r}" for k in SETTINGS
                       if history[-1]["config"].get(k) != current[k]]
            rundir.say(f"from step {start} on: {', '.join(changed)} (recorded in {path.name})")
        history = [h for h in history if h["from_step"] < start] + [{"from_step": start, "config": current}]
        rundir.atomic_write(path, (json.dumps(history, indent=2, sort_keys=True) + "\n").encode())
    return history


def run(cfg: Config, resume: bool = False, force: bool = False, compiled: bool = False) -> dict[str, Any]:
    """Train according to ``cfg``; returns the last evaluation.  Raises TrainError for user errors.
    The run directory's guarantees (crash consistency, one writer, no links) are in
    :mod:`tinygrad_rnn.models.app.rundir`."""
    if cfg.plots:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise TrainError("--plots needs matplotlib: pip install 'tinygrad_rnn[train]' (or pip install matplotlib)") from None
    if resume and not os.path.lexists(os.path.join(cfg.out, "checkpoint.npz")):
        raise TrainError(f"--resume: no checkpoint at {os.path.join(cfg.out, 'checkpoint.npz')}")  # before any mkdir
    out = rundir.prepare(cfg.out, force=force or resume)
    with rundir.RunLock(out):
        rundir.clean_temporaries(out)
        state = {"done": 0}
        try:
            return _run_locked(cfg, out, resume, force, state, compiled)
        except (Interrupted, rundir.RunError):
            raise
        except KeyboardInterrupt:
            raise Interrupted("interrupted " + ("after training" if state["done"] else "before training started")
                              + "; " + _kept(out / "checkpoint.npz", state["done"])
                              + ("; continue with --resume" if state["done"] else "")) from None
        except OSError as e:
            raise TrainError(f"cannot write the run directory {out} ({rundir._why(e)}); "
                             + _kept(out / "checkpoint.npz", state["done"])) from None


def _run_locked(cfg: Config, out: Path, resume: bool, force: bool, state: dict[str, int],
                compiled: bool = False) -> dict[str, Any]:
    ckpt, best, metrics_path = out / "checkpoint.npz", out / "best.npz", out / "metrics.jsonl"
    has_ckpt = rundir.regular_file(ckpt, "checkpoint")
    if has_ckpt and not resume and not force:
        raise TrainError(f"{ckpt} exists; pass --resume to continue it, --force to start over, or another --out")
    model = make_model(cfg)
    opt = make_optimizer(cfg, model)
    start = 0
    history: list[dict[str, Any]] = []
    if resume:
        start, saved_cfg = read_checkpoint(ckpt, cfg, model, opt)
        state["done"] = start
        if start > cfg.steps:
            raise TrainError(f"--resume: the checkpoint is at step {start}, beyond --steps {cfg.steps}")
        records, torn = rundir.read_metrics(metrics_path, _metrics_limit(cfg, start))
        if torn:
            rundir.say(torn)
        history = [m for m in records if m["step"] <= start]  # later records are recomputed, identically
        if torn or len(history) != len(records):
            rundir.atomic_write(metrics_path, "".join(json.dumps(m) + "\n" for m in history).encode(),
                                point="metrics-rewrite-before-rename")
        if saved_cfg.get("plots") is True and not cfg.plots:
            cfg.plots = True  # resume keeps what the run asked for
    else:
        for stale in (ckpt, best, metrics_path, out / "config_history.json"):
            if rundir.regular_file(stale, "--force"):
                stale.unlink()
    _history(out, cfg, start)
    rundir.atomic_write(out / "config.json", (json.dumps(asdict(cfg), indent=2, sort_keys=True) + "\n").encode())
    held_out = eval_batch(cfg)
    evals = [m for m in history if "eval_loss" in m]
    last_eval: dict[str, Any] = {}
    best_loss = min((m["eval_loss"] for m in evals), default=math.inf)
    last_acc = evals[-1]["eval_acc"] if evals else float("nan")
    done = start  # the step of the last durable checkpoint
    bar = _progress(cfg, start)
    log = rundir.MetricsLog(metrics_path)
    step = start
    replay = compiled_step(model) if compiled else None  # an execution choice, like --malloc: not recorded
    try:
        for step in range(start + 1, cfg.steps + 1):
            loss = train_step(model, opt, train_batch(cfg, step - 1), cfg.clip, replay)
            if not math.isfinite(loss):
                raise TrainError(f"training loss became {loss} at step {step}; stopped, " + _kept(ckpt, done))
            record: dict[str, Any] = {"step": step, "loss": loss}
            if step % cfg.eval_every == 0 or step == cfg.steps:
                last_eval = evaluate(model, held_out)
                record.update({k: v for k, v in last_eval.items() if k != "grad_h"})
                record["grad_h1"], record["grad_hT"] = last_eval["grad_h"][0], last_eval["grad_h"][-1]
                last_acc = last_eval["eval_acc"]
            if "eval_acc" in record or step % cfg.log_every == 0:
                log.append(record)
            if "eval_acc" in record:
                log.sync()  # the record is durable before the checkpoint that covers it appears
                rundir.fault("after-metrics")
                save_checkpoint(ckpt, model, opt, step, cfg)
                done = state["done"] = step
                rundir.fault("after-checkpoint")
                if record["eval_loss"] < best_loss:  # the best held-out checkpoint so far
                    best_loss = record["eval_loss"]
                    save_checkpoint(best, model, opt, step, cfg)
            bar.update(1)
            bar.set_postfix(train_loss=f"{loss:.3f}", heldout_acc=f"{last_acc:.3f}", refresh=False)
    except OSError as e:
        raise TrainError(f"step {step}: cannot write the run directory ({rundir._why(e)}); " + _kept(ckpt, done)) from None
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted at step {step}; " + _kept(ckpt, done) + "; continue with --resume") from None
    finally:
        bar.close()
        log.close()
    if not last_eval:  # resumed at the final step
        last_eval = evaluate(model, held_out)
    try:
        if cfg.task == "text":
            sample = sample_text(model, cfg, 300)
            rundir.atomic_write(out / "sample.txt", (sample + "\n").encode())
            last_eval["sample"] = sample
        if cfg.plots:
            from .app import plots

            last_eval["plots"] = plots.write_all(out, read_metrics(metrics_path), model, held_out, last_eval)
    except OSError as e:
        raise TrainError(f"cannot write the run directory ({rundir._why(e)}); " + _kept(ckpt, done)) from None
    return last_eval


def _kept(ckpt: Path, step: int) -> str:
    if step > 0:
        return f"the last good checkpoint ({ckpt}, step {step}) is intact"
    return "no checkpoint was written yet"


def _progress(cfg: Config, start: int) -> Any:
    from tqdm import tqdm

    what = "" if cfg.attention else " (no attention)" if cfg.cell == "tanh" else f" ({cfg.cell})"
    return tqdm(total=cfg.steps, initial=start, desc=f"{cfg.task}{what}",
                disable=not cfg.progress, dynamic_ncols=True, leave=True)


def sample_text(model: AttentionRNN, cfg: Config, n: int, temperature: float = 0.8) -> str:
    """Generate ``n`` characters after a prompt from the held-out text (attention over the
    whole generated history, so each character costs one forward pass of the sequence so far)."""
    vocab = tasks.text_vocabulary()
    rng = np.random.default_rng([cfg.seed, 7])
    ids = list(tasks.text_ids("test")[: cfg.seq_len])
    V = len(vocab)
    with tg.no_grad():
        for _ in range(n):
            window = np.eye(V)[ids[-4 * cfg.seq_len:]]
            logits = model.forward(window).logits.data[-1] / temperature
            p = np.exp(logits - logits.max())
            ids.append(int(rng.choice(V, p=p / p.sum())))
    return "".join(vocab[i] for i in ids)


# ----------------------------------------------------------------------------- CLI
def parser() -> argparse.ArgumentParser:
    d = Config()
    p = OneLineParser(prog="python -m tinygrad_rnn.models.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--task", choices=tasks.TASKS, default=d.task, help="which task (default recall)")
    p.add_argument("--steps", type=positive_int, default=d.steps, help="train until this step (default 1000)")
    p.add_argument("--batch-size", type=positive_int, default=d.batch_size)
    p.add_argument("--seq-len", type=positive_int, default=d.seq_len, help="T for first/copy/text (recall: 2·pairs+2)")
    p.add_argument("--pairs", type=positive_int, default=d.pairs, help="key-value pairs for recall (default 3)")
    p.add_argument("--symbols", type=positive_int, default=d.symbols, help="alphabet size for recall/first/copy")
    p.add_argument("--delay", type=positive_int, default=d.delay, help="delay for copy (default 3)")
    p.add_argument("--hidden-size", type=positive_int, default=d.hidden_size)
    p.add_argument("--lr", type=positive_float, default=d.lr)
    p.add_argument("--optimizer", choices=["sgd", "adam"], default=d.optimizer)
    p.add_argument("--momentum", type=float, default=d.momentum, help="for sgd, in [0, 1) (default 0.9)")
    p.add_argument("--clip", type=float, default=d.clip, help="global grad-norm clipping; 0 turns it off (default 1)")
    p.add_argument("--seed", type=non_negative_int, default=d.seed, help="a non-negative integer (default 0)")
    p.add_argument("--no-attention", action="store_true", help="the baseline: Ω_t = V h_t + c")
    p.add_argument("--cell", choices=CELLS, default=d.cell,
                   help="tanh: the seed's recurrence (default); lstm, gru: the gated baselines (with --no-attention)")
    p.add_argument("--attend-h0", action="store_true", help="the literal k = 0..t reading of eqs 3-4")
    p.add_argument("--eval-every", type=positive_int, default=d.eval_every, help="evaluate and checkpoint every N steps")
    p.add_argument("--eval-size", type=positive_int, default=d.eval_size, help="held-out sequences (default 256)")
    p.add_argument("--out", default=None, help="output directory, created with its parents (default out/runs/TASK)")
    p.add_argument("--resume", action="store_true",
                   help="continue from DIR/checkpoint.npz with the run's recorded settings (DIR/config.json); "
                        "flags given now override them")
    p.add_argument("--force", action="store_true",
                   help="start over even if DIR has a checkpoint (removes this program's files there, nothing else), "
                        "or use a DIR that holds other files")
    p.add_argument("--plots", action="store_true", help="write loss, attention and gradient-norm plots (matplotlib)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--compile", action="store_true",
                   help="replay each step as generated numpy (tg.compile): the same metrics bit for bit, faster at small "
                        "sizes; an execution choice, not a setting (not recorded in config.json)")
    p.add_argument("--malloc", choices=tg.memory.CHOICES, default="reuse",
                   help="reuse: keep freed buffers for reuse (tinygrad_rnn.reuse_freed_memory, ~2x faster steps on VMs; "
                        "the default of this command, not of the library); system: glibc's defaults")
    return p


def _available_memory() -> int:
    """Bytes of memory available now (MemAvailable), or a generous guess where /proc is missing."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return 16 << 30  # pragma: no cover


MAX_COUNT = 10**9  # steps, sizes, intervals: beyond this a run would never end (or never start)
_FIELD_TYPES = {f.name: f.type for f in fields(Config)}
_POSITIVE = ("steps", "batch_size", "seq_len", "pairs", "symbols", "delay", "hidden_size", "eval_every", "eval_size",
             "log_every")


def check_config(cfg: Config) -> Config:
    """Every setting of ``cfg`` checked (types, ranges, the task's own limits, memory) before any
    work: one-line :class:`TrainError` naming the setting.  The command line's flags and a
    recorded ``config.json`` go through the same checks."""
    for name, kind in _FIELD_TYPES.items():
        value = getattr(cfg, name)
        ok = {"int": type(value) is int, "float": type(value) in (int, float), "bool": type(value) is bool,
              "str": type(value) is str, "float | None": value is None or type(value) in (int, float)}[kind]
        if not ok:
            raise TrainError(f"{name}: expected {kind.replace(' | None', ' or null')}, got {repr(value)[:60]}")
    flag = lambda name: "--" + name.replace("_", "-")  # noqa: E731
    for name in _POSITIVE:
        if not 1 <= getattr(cfg, name) <= MAX_COUNT:
            raise TrainError(f"{flag(name)}: expected a positive integer up to {MAX_COUNT:.0e}, "
                             f"got {str(getattr(cfg, name))[:40]}")
    if cfg.task not in tasks.TASKS:
        raise TrainError(f"--task: expected one of {', '.join(tasks.TASKS)}, got {cfg.task[:40]!r}")
    if cfg.cell not in CELLS:
        raise TrainError(f"--cell: expected one of {', '.join(CELLS)}, got {cfg.cell[:40]!r}")
    if cfg.cell != "tanh" and (cfg.attention or cfg.attend_h0):
        raise TrainError(f"--cell {cfg.cell}: an LSTM or GRU baseline has no attention; add --no-attention "
                         "(and leave out --attend-h0)")
    if cfg.optimizer not in ("sgd", "adam"):
        raise TrainError(f"--optimizer: expected sgd or adam, got {cfg.optimizer[:40]!r}")
    if not (math.isfinite(cfg.lr) and cfg.lr > 0):
        raise TrainError(f"--lr: expected a positive number, got {cfg.lr}")
    if cfg.clip is not None and not (math.isfinite(cfg.clip) and cfg.clip > 0):
        raise TrainError(f"--clip: expected a non-negative number (0 turns clipping off), got {cfg.clip}")
    if not (math.isfinite(cfg.momentum) and 0.0 <= cfg.momentum < 1.0):
        raise TrainError(f"--momentum: expected a number in [0, 1), got {cfg.momentum}")
    if cfg.seed < 0 or cfg.seed >= 2**63:
        raise TrainError(f"--seed: expected a non-negative integer below 2**63, got {cfg.seed}")
    if not cfg.out or not cfg.out.strip():
        raise TrainError("--out: the output directory name is empty")
    try:
        spec = cfg.spec  # computing the spec validates the task-specific settings
    except ValueError as e:
        raise TrainError(str(e)) from None
    if cfg.task == "first" and cfg.seq_len < 2:
        raise TrainError(f"--seq-len: the first task needs at least 2 steps (a symbol, then a reply), got {cfg.seq_len}")
    if cfg.task == "text":
        held_out = len(tasks.text_ids("test"))
        if cfg.seq_len + 1 > held_out:
            raise TrainError(f"--seq-len: the text's held-out split has {held_out} characters; use at most {held_out - 1}")
    T = spec.seq_len
    batch = max(cfg.batch_size, cfg.eval_size)
    H, D, K = cfg.hidden_size, spec.input_size, spec.output_size
    need = 8 * batch * T * T * 6 + 8 * batch * T * (H + D + K) * 12 + 8 * 4 * (H * (H + D + K) + H + K)
    have = _available_memory()
    if need > have:
        raise TrainError(f"--seq-len {T}, --hidden-size {H} with batch {batch} (the larger of --batch-size and "
                         f"--eval-size) need about {need / 2**30:.1f} GiB for the attention arrays and the "
                         f"parameters, more than the {have / 2**30:.1f} GiB available")
    return cfg


def config_from_args(args: argparse.Namespace, recorded: dict[str, Any] | None = None,
                     given: set[str] | frozenset[str] = frozenset()) -> Config:
    """The configuration, with every setting checked before any work (one-line TrainError).

    ``recorded`` (``--resume``: the run's own ``config.json``, :func:`read_config_file`) supplies
    every setting the command line did not give (``given``: the flags' destinations typed on the command line)."""
    names = {f.name for f in fields(Config)}
    values = {k: v for k, v in vars(args).items() if k in names}
    values["attention"] = not args.no_attention
    values["progress"] = not args.no_progress
    if args.out is None:
        args.out = values["out"] = f"out/runs/{args.task}"
    if not math.isfinite(args.clip) or args.clip < 0:
        raise TrainError(f"--clip: expected a non-negative number (0 turns clipping off), got {args.clip}")
    values["clip"] = args.clip if args.clip > 0 else None
    if recorded is not None:
        flags = {"no_attention": "attention", "no_progress": "progress"}
        typed = {flags.get(d, d) for d in given}
        for name, value in recorded.items():
            if name not in typed and name not in ("out", "progress"):
                values[name] = value
    return check_config(Config(**values))


def read_config_file(path: Path, what: str) -> dict[str, Any] | None:
    """A run's ``config.json`` (read once, bounded), or None if there is none: refused in one
    :class:`TrainError` unless it is a JSON object of this program's settings (their values are
    checked by :func:`check_config` once merged)."""
    try:
        raw = rundir.read_bounded(path, what, MAX_CONFIG_BYTES)
    except rundir.RunError as e:
        raise TrainError(str(e)) from None
    if raw is None:
        return None
    saved = rundir.parse_json(raw, str(path))
    if not isinstance(saved, dict):
        raise TrainError(f"{what}: {path} is not a training configuration (a JSON object)")
    unknown = sorted(set(saved) - set(_FIELD_TYPES))
    if unknown:
        raise TrainError(f"{what}: {path} has settings this program does not know: {rundir.few(unknown)}")
    return saved


def _given(argv: Sequence[str] | None) -> set[str]:
    """The destinations of the flags typed on the command line (not left at their defaults)."""
    p = parser()
    unset = object()  # argparse fills in a default only where the namespace has no value yet
    namespace = argparse.Namespace(**{dest: unset for dest in vars(p.parse_args([]))})
    return {dest for dest, value in vars(p.parse_args(argv, namespace=namespace)).items() if value is not unset}


def main(argv: Sequence[str] | None = None) -> int:
    from .app.cli import interrupt_once, readable_streams

    readable_streams()
    args = parser().parse_args(argv)
    try:
        import tqdm  # noqa: F401  (the 'train' extra)
    except ImportError:
        print("error: training needs the 'train' extra: pip install 'tinygrad_rnn[train]'", file=sys.stderr)
        return 1
    tg.memory.apply(args.malloc)  # this program owns its process: the allocator choice is its to make
    with interrupt_once():
        try:
            recorded = None
            if args.resume:  # continue from the run's own settings; flags typed now override them
                out = args.out if args.out is not None else f"out/runs/{args.task}"
                recorded = read_config_file(Path(out) / "config.json", "--resume")
            cfg = config_from_args(args, recorded, _given(argv) if recorded is not None else frozenset())
            result = run(cfg, resume=args.resume, force=args.force, compiled=args.compile)
        except Interrupted as e:
            print(f"stopped: {e}", file=sys.stderr)
            return 130
        except KeyboardInterrupt:
            print("stopped: interrupted before training started; nothing was written", file=sys.stderr)
            return 130
        except rundir.RunError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    summary = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in result.items()
               if k not in ("grad_h", "sample", "plots")}
    print(f"done: {json.dumps(summary)}  (outputs in {cfg.out}/)")
    if "sample" in result:
        print("sample:", result["sample"])
    for path in result.get("plots", []):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
