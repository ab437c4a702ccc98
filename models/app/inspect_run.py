"""``python -m tinygrad_rnn.models.app.inspect_run DIR [DIR ...]``: where a trained run attends, and where its
gradient reaches.

Loads ``DIR/checkpoint.npz`` with ``DIR/config.json``, runs 64 held-out sequences and prints, for
the last step t = T: the positions i with the largest mean attention weight α_{T,i}, and the steps t
with the largest mean ‖∂L/∂h_t‖.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from . import rundir
from .. import train


def inspect(run: Path, top: int = 6) -> str:
    path = run / "config.json"
    saved = train.read_config_file(path, "inspect_run")
    if saved is None:
        raise train.TrainError(f"{run} has no config.json: not a training run directory")
    try:
        cfg = train.check_config(train.Config(**saved))
    except train.TrainError as e:
        raise train.TrainError(f"{path}: {e}") from None
    model = train.make_model(cfg)
    opt = train.make_optimizer(cfg, model)
    step = train.load_checkpoint(run / "checkpoint.npz", cfg, model, opt, what="inspect_run")
    batch = train.eval_batch(cfg)
    ev = train.evaluate(model, batch)
    g = np.asarray(ev["grad_h"])
    lines = [f"{run}: {cfg.task}, step {step}, held-out accuracy {ev['eval_acc']:.3f}"]
    fwd = model.forward(batch.xs[:64])
    if fwd.attention is not None:
        a = fwd.attention.data[:, -1, :].mean(axis=0)
        order = np.argsort(a)[::-1][:top]
        lines.append("  attention at t=T on i: " + ", ".join(f"{i + 1} ({a[i]:.2f})" for i in order))
    order = np.argsort(g)[::-1][:top]
    lines.append("  largest ‖∂L/∂h_t‖ at t: " + ", ".join(f"{t + 1} ({g[t]:.1e})" for t in order))
    return "\n".join(lines)


def parser() -> "OneLineParser":
    from .cli import OneLineParser, positive_int

    p = OneLineParser(prog="python -m tinygrad_rnn.models.app.inspect_run", description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", metavar="DIR", help="training run directories (with config.json, checkpoint.npz)")
    p.add_argument("--top", type=positive_int, default=6, help="how many positions and steps to list (default 6)")
    return p


def main(argv: list[str] | None = None) -> int:
    from .cli import readable_streams

    readable_streams()
    args = parser().parse_args(argv)
    try:
        for run in args.runs:
            print(inspect(Path(run), top=args.top))
    except rundir.RunError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
