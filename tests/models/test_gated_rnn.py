"""The LSTM and GRU baselines (models/gated_rnn.py): the same loss as PyTorch's LSTM/GRU with a
linear readout (copied weights, float64, 1e-10), gradients against central differences, parameter
counts by hand, the training command's --cell, and the sweep's bookkeeping for six models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tinygrad_rnn as tg
from tinygrad_rnn.models import tasks, train
from tinygrad_rnn.models.app import sweep
from tinygrad_rnn.models.gated_rnn import GatedRNN, matching_hidden_size, parameter_count


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_loss_and_its_gradients_equal_torchs(cell):
    batch = tasks.generate("first", np.random.default_rng(0), 3, seq_len=6, symbols=4, split="train")
    D, K = batch.xs.shape[-1], batch.ys.shape[-1]
    model = GatedRNN(D, 5, K, cell=cell, seed=1)
    rnn = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(D, 5, batch_first=True).double()
    head = torch.nn.Linear(5, K).double()
    with torch.no_grad():
        for name, p in rnn.named_parameters():
            p.copy_(torch.from_numpy(model.params()["cell." + name.removesuffix("_l0")].data))
        head.weight.copy_(torch.from_numpy(model.readout.weight.data))
        head.bias.copy_(torch.from_numpy(model.readout.bias.data))
    loss = model.loss(batch.xs, batch.ys)
    loss.backward()
    hs, _ = rnn(torch.from_numpy(batch.xs))
    logits = head(hs)
    ys = torch.from_numpy(batch.ys)
    tloss = -(ys * torch.log_softmax(logits, -1)).sum()  # eq 7 summed over the scored steps
    tloss.backward()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-12)
    theirs = {"cell." + n.removesuffix("_l0"): p.grad.numpy() for n, p in rnn.named_parameters()}
    theirs.update({"readout.weight": head.weight.grad.numpy(), "readout.bias": head.bias.grad.numpy()})
    for name, p in model.params().items():
        np.testing.assert_allclose(p.grad, theirs[name], rtol=1e-10, atol=1e-12)


def test_gradients_match_central_differences():
    batch = tasks.generate("recall", np.random.default_rng(2), 2, pairs=2, symbols=4, split="train")
    D, K = batch.xs.shape[-1], batch.ys.shape[-1]
    model = GatedRNN(D, 3, K, cell="lstm", seed=0)
    model.loss(batch.xs, batch.ys).backward()
    rng = np.random.default_rng(0)
    for name, p in model.params().items():
        for flat in rng.choice(p.size, size=min(3, p.size), replace=False):
            idx = np.unravel_index(flat, p.shape)
            old, eps = p.data[idx], 1e-6
            with tg.no_grad():
                p.data[idx] = old + eps
                up = model.loss(batch.xs, batch.ys).item()
                p.data[idx] = old - eps
                down = model.loss(batch.xs, batch.ys).item()
                p.data[idx] = old
            numeric = (up - down) / (2 * eps)
            assert abs(p.grad[idx] - numeric) <= 1e-6 * max(1.0, abs(numeric)), (name, idx, p.grad[idx], numeric)


def test_parameter_counts_by_hand_and_the_matching_hidden_size():
    # first, 8 symbols: D = 8, K = 8; the seed's model at H = 32: 32² + 32·8 + 32 + 8·32 + 8 = 1576
    assert parameter_count("tanh", 8, 32, 8) == 1576
    assert parameter_count("lstm", 8, 15, 8) == 4 * (225 + 120 + 30) + 120 + 8 == 1628
    assert parameter_count("lstm", 8, 14, 8) == 1464
    assert matching_hidden_size("lstm", 8, 32, 8) == 15  # |1628 − 1576| = 52 < |1464 − 1576| = 112
    assert sum(p.size for p in GatedRNN(8, 15, 8, "lstm").parameters()) == 1628  # the model agrees


def test_the_training_command_trains_and_resumes_a_gated_baseline(tmp_path):
    out = tmp_path / "run"
    common = ["--task", "first", "--seq-len", "5", "--symbols", "4", "--cell", "gru", "--no-attention",
              "--eval-every", "20", "--no-progress", "--out", str(out)]
    assert train.main([*common, "--steps", "20"]) == 0
    assert train.main(["--resume", "--steps", "40", "--out", str(out), "--no-progress"]) == 0
    cfg = train.Config(task="first", seq_len=5, symbols=4, cell="gru", attention=False, steps=40, out=str(out))
    model = train.make_model(cfg)
    assert train.load_checkpoint(out / "checkpoint.npz", cfg, model, train.make_optimizer(cfg, model)) == 40


def test_a_gated_cell_with_attention_is_refused_in_one_line(capsys):
    assert train.main(["--task", "first", "--cell", "lstm", "--steps", "1", "--no-progress", "--out", "/tmp/x"]) == 1
    assert "--cell lstm: an LSTM or GRU baseline has no attention; add --no-attention" in capsys.readouterr().err


def test_the_sweep_keeps_six_models_apart_and_tunes_each_by_one_rule(tmp_path):
    jobs = [sweep.job_for("main", "first", 10, name, 0, 0.01, 5, tmp_path / name) for name in sweep.MODELS]
    assert len({sweep.key(j) for j in jobs}) == 6
    sizes = {j["model"]: j.get("override", {}).get("hidden_size", 32) for j in jobs}
    assert sizes == {"attn": 32, "rnn": 32, "lstm": 32, "gru": 32, "lstm_p": 15, "gru_p": 17}
    assert sweep.model_of({"attention": True}) == "attn" and sweep.model_of({"attention": False}) == "rnn"
    rows = [{**sweep.job_for("main", "first", 5, name, s, 0.01, 5, tmp_path), "eval_acc": acc, "floor": 0.39,
             "eval_n": 512, "grad_h1": 1.0, "grad_h1_init": 1.0, "attn_entropy": 0.0, "attn_self": 1.0,
             "attn_first": 0.0}
            for name, accs in (("attn", [1.0, 1.0]), ("lstm", [0.2, 0.95]), ("gru_p", [0.1, 0.2]))
            for s, acc in enumerate(accs)]
    line = next(s for s in sweep.summarise(rows) if s["task"] == "first" and s["value"] == 5)
    assert line["lstm"]["solved"] == 1 and line["gru_p"]["solved"] == 0 and line["gru_p"]["hidden_size"] == 17
    assert line["gru_p"]["p_solved_vs_attn"] == pytest.approx(sweep.fisher_exact(2, 0, 0, 2))
    md = sweep.markdown(sweep.summarise(rows), 5, 2, "abc")
    assert "| first | T = 5 | 0.390 | 1.000 ± 0.000 (solved 2/2) | 0.575 ± 0.530 (solved 1/2, p = 1) " in md
    assert "(solved 0/2, p = 0.33, H = 17) |" in md  # the parameter-matched size is given per row
