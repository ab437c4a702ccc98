"""Training: task generators, the loop, checkpoints and resume, failure paths, the baseline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn.models import tasks, train
from tinygrad_rnn.models import attention_rnn
from tinygrad_rnn.models.attention_rnn import AttentionRNN

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- task generators
@given(seed=st.integers(0, 10**6), pairs=st.integers(1, 6), batch=st.integers(1, 4))
def test_recall_labels(seed, pairs, batch):
    b = tasks.recall(np.random.default_rng(seed), batch, pairs, symbols=5)
    n_keys = 2 * pairs
    assert b.xs.shape == (batch, 2 * pairs + 2, n_keys + 5 + 1) and b.ys.shape == (batch, 2 * pairs + 2, 5)
    for s in range(batch):
        tok = b.tokens[s]
        keys, values = tok[0:2 * pairs:2], tok[1:2 * pairs:2] - n_keys
        assert len(set(keys)) == pairs and (keys < n_keys).all() and (values >= 0).all()
        assert tok[-2] == n_keys + 5  # the query marker
        answer = values[list(keys).index(tok[-1])]
        assert b.ys[s, -1].argmax() == answer and b.ys[s, -1].sum() == 1
        assert b.ys[s, :-1].sum() == 0
        np.testing.assert_array_equal(b.xs[s].argmax(-1), tok)


@given(seed=st.integers(0, 10**6), T=st.integers(2, 12))
def test_first_labels(seed, T):
    b = tasks.first(np.random.default_rng(seed), 3, T, symbols=6)
    np.testing.assert_array_equal(b.ys[:, -1].argmax(-1), b.tokens[:, 0])
    assert b.ys[:, :-1].sum() == 0 and b.scored.sum() == 3


@given(seed=st.integers(0, 10**6), T=st.integers(3, 12), data=st.data())
def test_copy_labels(seed, T, data):
    d = data.draw(st.integers(1, T - 1))
    b = tasks.copy(np.random.default_rng(seed), 2, T, delay=d, symbols=6)
    assert b.ys[:, :d].sum() == 0
    np.testing.assert_array_equal(b.ys[:, d:].argmax(-1), b.tokens[:, : T - d])


def test_text_labels_are_the_next_character():
    b = tasks.text(np.random.default_rng(0), 2, 16)
    vocab = tasks.text_vocabulary()
    corpus = tasks.CORPUS.read_text(encoding="utf-8")
    for s in range(2):
        inp = "".join(vocab[i] for i in b.tokens[s])
        nxt = "".join(vocab[i] for i in b.ys[s].argmax(-1))
        assert inp[1:] == nxt[:-1] and (inp + nxt[-1]) in corpus
    assert 4_000 < len(corpus.encode()) < 50_000


def test_task_errors():
    with pytest.raises(ValueError, match="unknown task"):
        tasks.spec("sort")
    with pytest.raises(ValueError, match="0 < delay < seq_len"):
        tasks.spec("copy", seq_len=3, delay=3)


# ---------------------------------------------------------------- the loop
def cfg(tmp_path: Path, **kw) -> list[str]:
    args = {"task": "recall", "pairs": "2", "steps": "30", "batch-size": "8", "hidden-size": "8",
            "eval-every": "10", "eval-size": "32", "out": str(tmp_path / "run"), **kw}
    return [x for k, v in args.items() for x in ([f"--{k}"] if v is True else [f"--{k}", str(v)])] + ["--no-progress"]


def test_loss_decreases_on_a_tiny_config(tmp_path):
    assert train.main(cfg(tmp_path, task="first", **{"seq-len": 3, "steps": 150, "lr": 0.03})) == 0
    losses = [m["loss"] for m in train.read_metrics(tmp_path / "run" / "metrics.jsonl")]
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3])


def test_outputs_and_checkpoint_round_trip(tmp_path):
    assert train.main(cfg(tmp_path)) == 0
    run = tmp_path / "run"
    config = json.loads((run / "config.json").read_text())
    assert config["task"] == "recall" and config["steps"] == 30
    metrics = train.read_metrics(run / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [10, 20, 30]
    assert all({"step", "loss", "eval_acc", "eval_loss"} <= set(m) for m in metrics)
    with np.load(run / "checkpoint.npz", allow_pickle=False) as data:
        assert {"W", "U", "b", "V", "c", "step", "config", "opt.steps"} <= set(data.files)
        assert int(data["step"]) == 30
        saved = {k: data[k] for k in data.files}
    c = train.config_from_args(train.parser().parse_args(cfg(tmp_path)))
    model, opt = train.make_model(c), None
    opt = train.make_optimizer(c, model)
    assert train.load_checkpoint(run / "checkpoint.npz", c, model, opt) == 30
    for k in "WUbVc":
        np.testing.assert_array_equal(model.params()[k].data, saved[k])
    np.testing.assert_array_equal(opt.m[0], saved["opt.m.0"])


def test_resume_equals_an_uninterrupted_run(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    assert train.main(cfg(a, steps=20, optimizer="adam")) == 0
    assert train.main(cfg(a, steps=50, optimizer="adam") + ["--resume"]) == 0
    assert train.main(cfg(b, steps=50, optimizer="adam")) == 0
    with np.load(a / "run" / "checkpoint.npz") as x, np.load(b / "run" / "checkpoint.npz") as y:
        for k in x.files:
            if k != "config":
                np.testing.assert_array_equal(x[k], y[k], err_msg=k)
    assert train.read_metrics(a / "run" / "metrics.jsonl") == train.read_metrics(b / "run" / "metrics.jsonl")


def test_corrupt_checkpoint_is_a_one_line_error_and_is_not_overwritten(tmp_path, capsys):
    assert train.main(cfg(tmp_path)) == 0
    ckpt = tmp_path / "run" / "checkpoint.npz"
    ckpt.write_bytes(ckpt.read_bytes()[: 200])
    before = ckpt.read_bytes()
    capsys.readouterr()
    assert train.main(cfg(tmp_path, steps=40) + ["--resume"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --resume:") and "corrupt" in err and err.count("\n") == 1
    assert ckpt.read_bytes() == before


def test_checkpoint_from_another_configuration(tmp_path, capsys):
    assert train.main(cfg(tmp_path)) == 0
    capsys.readouterr()
    assert train.main(cfg(tmp_path, steps=40, **{"hidden-size": 6}) + ["--resume"]) == 1
    assert "different configuration: hidden_size=8 (now 6)" in capsys.readouterr().err


def test_existing_checkpoint_is_not_overwritten_without_resume_or_force(tmp_path, capsys):
    assert train.main(cfg(tmp_path)) == 0
    before = (tmp_path / "run" / "checkpoint.npz").read_bytes()
    capsys.readouterr()
    assert train.main(cfg(tmp_path)) == 1
    assert "pass --resume" in capsys.readouterr().err
    assert (tmp_path / "run" / "checkpoint.npz").read_bytes() == before


def test_missing_out_parents_are_created(tmp_path):
    assert train.main(cfg(tmp_path, out=str(tmp_path / "no" / "such" / "dir"))) == 0
    assert (tmp_path / "no" / "such" / "dir" / "checkpoint.npz").is_file()


def test_nonsense_flags_give_one_line_and_exit_2():
    for argv in (["--steps", "-3"], ["--task", "sort"], ["--frobnicate"], ["--lr", "nan"]):
        proc = subprocess.run([sys.executable, "-m", "tinygrad_rnn.models.train", *argv], cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 2, argv
        assert proc.stderr.startswith("error:") and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_nan_loss_stops_with_the_step_and_keeps_the_last_checkpoint(tmp_path, capsys, monkeypatch):
    real = train.train_step
    calls = {"n": 0}

    def flaky(model, opt, batch, clip, compiled=None):
        calls["n"] += 1
        return float("nan") if calls["n"] == 17 else real(model, opt, batch, clip, compiled)

    monkeypatch.setattr(train, "train_step", flaky)
    capsys.readouterr()
    assert train.main(cfg(tmp_path)) == 1
    err = capsys.readouterr().err
    assert "loss became nan at step 17" in err and "last good checkpoint" in err
    with np.load(tmp_path / "run" / "checkpoint.npz", allow_pickle=False) as data:
        assert int(data["step"]) == 10


def test_plots_without_matplotlib_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert train.main(cfg(tmp_path) + ["--plots"]) == 1
    assert "--plots needs matplotlib" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_plots_are_written(tmp_path):
    assert train.main(cfg(tmp_path) + ["--plots"]) == 0
    for name in ("loss.png", "attention.png", "grad_norms.png"):
        assert (tmp_path / "run" / name).read_bytes()[:4] == b"\x89PNG"


def test_text_task_samples(tmp_path):
    assert train.main(cfg(tmp_path, task="text", **{"seq-len": 12, "steps": 10})) == 0
    sample = (tmp_path / "run" / "sample.txt").read_text()
    assert len(sample.rstrip("\n")) == 12 + 300


# ---------------------------------------------------------------- the baseline
@given(seed=st.integers(0, 1000), T=st.integers(1, 6), onehot=st.booleans())
def test_baseline_gradients(seed, T, onehot):
    rng = np.random.default_rng(seed)
    base = AttentionRNN(3, 4, 3, seed=seed, attention=False)
    xs, ys = rng.standard_normal((2, T, 3)), rng.integers(0, 3, (2, T))
    if onehot:
        ys = np.eye(3)[ys]
    names = ("W", "U", "b", "V", "c")

    def loss(*ts):
        return attention_rnn.loss(dict(zip(names, ts)), xs, ys, attention=False)

    tg.gradcheck(loss, [base.numpy_params()[k] for k in names])
    grads = {}
    for mode in ("fused", "unrolled"):
        m = AttentionRNN.from_params(base.numpy_params(), attention=False)
        m.loss(xs, ys, mode=mode).backward()
        grads[mode] = {k: p.grad for k, p in m.params().items()}
    for k in names:
        np.testing.assert_allclose(grads["unrolled"][k], grads["fused"][k], rtol=1e-12, atol=1e-15)
    f = base.forward(xs)
    assert f.attention is None
    np.testing.assert_array_equal(f.context.data, f.hidden.data)


def test_inspect_run_reports_attention_and_gradient_peaks(tmp_path, capsys):
    from tinygrad_rnn.models.app import inspect_run

    assert train.main(cfg(tmp_path)) == 0
    capsys.readouterr()
    assert inspect_run.main([str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "held-out accuracy" in out and "attention at t=T on i:" in out and "largest ‖∂L/∂h_t‖ at t:" in out
    assert inspect_run.main([str(tmp_path / "nothing")]) == 1


def test_compile_reproduces_the_eager_run_bit_for_bit(tmp_path, capsys):
    """--compile (tg.compile's replay of each step) gives the same metrics file and the same
    parameters and optimizer state as the eager run, to the bit."""
    import numpy as np

    from tinygrad_rnn.models import train as train_mod

    made = []
    real = train_mod.compiled_step

    def spy(model):
        made.append(real(model))
        return made[-1]

    common = ["--task", "recall", "--pairs", "2", "--steps", "120", "--hidden-size", "8", "--eval-every", "60",
              "--no-progress"]
    import pytest as _pytest

    with _pytest.MonkeyPatch.context() as mp:
        mp.setattr(train_mod, "compiled_step", spy)
        assert train_mod.main(common + ["--out", str(tmp_path / "eager")]) == 0
        assert made == []                                   # the eager run compiled nothing
        assert train_mod.main(common + ["--out", str(tmp_path / "compiled"), "--compile"]) == 0
    assert len(made) == 1 and made[0].traces == 1 and made[0].replays == 119   # every step after the first replayed
    assert (tmp_path / "eager" / "metrics.jsonl").read_bytes() == (tmp_path / "compiled" / "metrics.jsonl").read_bytes()
    a, b = np.load(tmp_path / "eager" / "checkpoint.npz"), np.load(tmp_path / "compiled" / "checkpoint.npz")
    assert sorted(a.files) == sorted(b.files)
    assert all(a[k].tobytes() == b[k].tobytes() for k in a.files if k != "config")
    capsys.readouterr()
    assert train_mod.main(common + ["--out", str(tmp_path / "gated"), "--cell", "lstm", "--no-attention", "--compile"]) == 1
    err = capsys.readouterr().err
    assert "--compile" in err and len(err.strip().splitlines()) == 1
