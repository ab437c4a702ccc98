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
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Sequence

import numpy as np

import tinygrad_rnn as tg

from . import tasks
from .attention_rnn import PARAM_NAMES, AttentionRNN
from .cli import OneLineParser, positive_float, positive_int

# settings that define the model and the data: a checkpoint must agree on all of them
ARCHITECTURE = ("task", "seq_len", "pairs", "symbols", "delay", "hidden_size", "attention", "attend_h0",
                "optimizer", "seed")
EVAL_SEED = 2**31 - 1


class TrainError(Exception):
    """A user-facing problem: printed as one line, exit code 1."""


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
    attention: bool = True
    attend_h0: bool = False
    eval_every: int = 100
    eval_size: int = 256
    log_every: int = 10
    out: str = "runs/default"
    plots: bool = False
    progress: bool = True

    @property
    def spec(self) -> tasks.TaskSpec:
        return tasks.spec(self.task, seq_len=self.seq_len, pairs=self.pairs, symbols=self.symbols, delay=self.delay)


# ----------------------------------------------------------------------------- pieces
def make_model(cfg: Config) -> AttentionRNN:
    s = cfg.spec
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


def train_step(model: AttentionRNN, opt: tg.optim.Optimizer, batch: tasks.Batch, clip: float | None) -> float:
    """One update; returns the loss per scored token (before the update)."""
    opt.zero_grad()
    loss = model.loss(batch.xs, batch.ys, mode="fused")
    value = loss.item() / max(int(batch.scored.sum()), 1)
    if not math.isfinite(value):
        return value
    loss.backward()
    if clip:
        tg.optim.clip_grad_norm(model.parameters(), clip)
    opt.step()
    return value


def evaluate(model: AttentionRNN, batch: tasks.Batch) -> dict[str, Any]:
    """Loss and accuracy at the scored steps, attention statistics there (entropy of α_t, the
    weight on i = t and on i = 1) and the mean total gradient norm ‖∂L/∂h_t‖ for every t."""
    saved = {k: p.grad for k, p in model.parameters().items()}
    fwd = model.forward(batch.xs)
    for h in fwd.steps:
        h.retain_grad()
    loss = tg.cross_entropy(fwd.logits, batch.ys, axis=-1, reduction="sum")
    loss.backward()
    for k, p in model.parameters().items():
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
    """All plain arrays; written to a temporary file and renamed, so it is never half-written."""
    arrays: dict[str, np.ndarray] = {k: t.data for k, t in model.parameters().items()}
    arrays.update({f"opt.{k}": np.asarray(v) for k, v in opt.state_dict().items()})
    arrays["step"] = np.asarray(step)
    arrays["config"] = np.asarray(json.dumps(asdict(cfg), sort_keys=True))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".checkpoint.", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp creates 0600; a checkpoint gets the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path: Path, cfg: Config, model: AttentionRNN, opt: tg.optim.Optimizer) -> int:
    """Restore parameters and optimizer state; return the step.  Any problem is a TrainError."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise TrainError(f"--resume: no checkpoint at {path}") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise TrainError(f"--resume: {path} is corrupt or truncated ({type(e).__name__}: {e})") from None
    missing = [k for k in (*PARAM_NAMES, "step", "config") if k not in arrays]
    if missing:
        raise TrainError(f"--resume: {path} is not a checkpoint of this program (missing {', '.join(missing)})")
    try:
        saved = json.loads(str(arrays["config"]))
    except json.JSONDecodeError:
        raise TrainError(f"--resume: {path} has an unreadable config") from None
    diffs = [f"{k}={saved.get(k)!r} (now {getattr(cfg, k)!r})" for k in ARCHITECTURE if saved.get(k) != getattr(cfg, k)]
    if diffs:
        raise TrainError(f"--resume: {path} was written by a different configuration: {', '.join(diffs)}")
    for k, t in model.parameters().items():
        if arrays[k].shape != t.shape:
            raise TrainError(f"--resume: {k} in {path} has shape {arrays[k].shape}, the model needs {t.shape}")
        t.data[...] = arrays[k]
    try:
        opt.load_state_dict({k[4:]: v for k, v in arrays.items() if k.startswith("opt.")})
    except (KeyError, ValueError) as e:
        raise TrainError(f"--resume: optimizer state in {path} does not fit: {e}") from None
    return int(arrays["step"])


def read_metrics(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ----------------------------------------------------------------------------- the loop
def run(cfg: Config, resume: bool = False, force: bool = False) -> dict[str, Any]:
    """Train according to ``cfg``; returns the last evaluation.  Raises TrainError for user errors."""
    out = Path(cfg.out)
    if not out.parent.exists():
        raise TrainError(f"--out: the parent directory {str(out.parent)!r} does not exist")
    ckpt, metrics_path = out / "checkpoint.npz", out / "metrics.jsonl"
    if cfg.plots:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise TrainError("--plots needs matplotlib: pip install 'tinygrad_rnn[train]' (or pip install matplotlib)") from None
    if ckpt.exists() and not resume and not force:
        raise TrainError(f"{ckpt} exists; pass --resume to continue it, --force to start over, or another --out")
    model = make_model(cfg)
    opt = make_optimizer(cfg, model)
    start = 0
    if resume:
        start = load_checkpoint(ckpt, cfg, model, opt)
        if start > cfg.steps:
            raise TrainError(f"--resume: the checkpoint is at step {start}, beyond --steps {cfg.steps}")
    out.mkdir(exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2, sort_keys=True) + "\n")
    history = [m for m in read_metrics(metrics_path) if m["step"] <= start] if resume else []
    metrics_path.write_text("".join(json.dumps(m) + "\n" for m in history))
    held_out = eval_batch(cfg)
    last_eval: dict[str, Any] = {}
    bar = _progress(cfg, start)
    with metrics_path.open("a") as log:
        for step in range(start + 1, cfg.steps + 1):
            loss = train_step(model, opt, train_batch(cfg, step - 1), cfg.clip)
            if not math.isfinite(loss):
                bar.close()
                kept = f"the last good checkpoint ({ckpt}) is intact" if ckpt.exists() else "no checkpoint was written"
                raise TrainError(f"training loss became {loss} at step {step}; stopped, {kept}")
            record: dict[str, Any] = {"step": step, "loss": loss}
            if step % cfg.eval_every == 0 or step == cfg.steps:
                last_eval = evaluate(model, held_out)
                record.update({k: v for k, v in last_eval.items() if k != "grad_h"})
                record["grad_h1"], record["grad_hT"] = last_eval["grad_h"][0], last_eval["grad_h"][-1]
                save_checkpoint(ckpt, model, opt, step, cfg)
            if "eval_acc" in record or step % cfg.log_every == 0:
                log.write(json.dumps(record) + "\n")
                log.flush()
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", acc=f"{last_eval.get('eval_acc', float('nan')):.3f}", refresh=False)
    bar.close()
    if not last_eval:  # resumed at the final step
        last_eval = evaluate(model, held_out)
    if cfg.task == "text":
        sample = sample_text(model, cfg, 300)
        (out / "sample.txt").write_text(sample + "\n")
        last_eval["sample"] = sample
    if cfg.plots:
        from . import plots

        last_eval["plots"] = plots.write_all(out, read_metrics(metrics_path), model, held_out, last_eval)
    return last_eval


def _progress(cfg: Config, start: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=cfg.steps, initial=start, desc=f"{cfg.task}{'' if cfg.attention else ' (no attention)'}",
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
    p.add_argument("--momentum", type=float, default=d.momentum, help="for sgd (default 0.9)")
    p.add_argument("--clip", type=float, default=d.clip, help="global grad-norm clipping; 0 turns it off (default 1)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--no-attention", action="store_true", help="the baseline: Ω_t = V h_t + c")
    p.add_argument("--attend-h0", action="store_true", help="the literal k = 0..t reading of eqs 3-4")
    p.add_argument("--eval-every", type=positive_int, default=d.eval_every, help="evaluate and checkpoint every N steps")
    p.add_argument("--eval-size", type=positive_int, default=d.eval_size, help="held-out sequences (default 256)")
    p.add_argument("--out", default=d.out, help="output directory (its parent must exist)")
    p.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.npz")
    p.add_argument("--force", action="store_true", help="start over even if DIR has a checkpoint")
    p.add_argument("--plots", action="store_true", help="write loss, attention and gradient-norm plots (matplotlib)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def config_from_args(args: argparse.Namespace) -> Config:
    names = {f.name for f in fields(Config)}
    values = {k: v for k, v in vars(args).items() if k in names}
    values["attention"] = not args.no_attention
    values["progress"] = not args.no_progress
    values["clip"] = args.clip if args.clip and args.clip > 0 else None
    cfg = Config(**values)
    try:
        _ = cfg.spec  # computing the spec validates the task-specific settings
    except ValueError as e:
        raise TrainError(str(e)) from None
    return cfg


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        import tqdm  # noqa: F401  (the 'train' extra)
    except ImportError:
        print("error: training needs the 'train' extra: pip install 'tinygrad_rnn[train]'", file=sys.stderr)
        return 1
    tg.reuse_freed_memory()  # keep freed buffers for reuse: ~2x faster steps on VMs (tinygrad_rnn/memory.py)
    try:
        cfg = config_from_args(args)
        result = run(cfg, resume=args.resume, force=args.force)
    except TrainError as e:
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
