"""The attention-vs-baseline sweep's statistics and its held-out evaluation (not the runs themselves)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tinygrad_rnn.models import tasks

from tinygrad_rnn.models.app import sweep


@pytest.mark.parametrize("table, p", [((3, 2, 1, 4), 0.5238095238095), ((10, 0, 0, 10), 1.0825088224469e-05),
                                      ((5, 5, 5, 5), 1.0)])
def test_fisher_exact_matches_published_values(table, p):
    # reference values of scipy.stats.fisher_exact (two-sided)
    assert sweep.fisher_exact(*table) == pytest.approx(p, rel=1e-4)


@pytest.mark.parametrize("a, c", [(5, 1), (4, 0), (3, 3), (6, 2)])
def test_fisher_exact_against_enumerating_every_relabelling(a, c):
    """An independent route: with the margins fixed, every way of choosing which k of the 12 runs
    succeed is equally likely; count the tables at most as likely as the observed one."""
    import itertools
    from collections import Counter

    n1 = n2 = 6
    k = a + c
    tally = Counter(sum(1 for i in chosen if i < n1) for chosen in itertools.combinations(range(n1 + n2), k))
    total = sum(tally.values())
    p_obs = tally[a] / total
    expected = sum(v / total for v in tally.values() if v / total <= p_obs * (1 + 1e-9))
    assert sweep.fisher_exact(a, n1 - a, c, n2 - c) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("task, kw", [("recall", {"pairs": 2}), ("recall", {"pairs": 3}),
                                      ("first", {"seq_len": 5}), ("copy", {"seq_len": 5, "delay": 2})])
def test_evaluation_sequences_are_never_training_sequences(task, kw):
    train = tasks.generate(task, np.random.default_rng(0), 20_000, split="train", **kw)
    test = tasks.generate(task, np.random.default_rng(1), 2_000, split="test", **kw)
    seen = {row.tobytes() for row in train.tokens}
    assert not any(row.tobytes() in seen for row in test.tokens)  # measured overlap: 0
    assert tasks.is_held_out(test.tokens).all() and not tasks.is_held_out(train.tokens).any()
    # the reserved share is about 1 in EVAL_SHARE of the raw distribution
    raw = tasks._raw(task, np.random.default_rng(2), 20_000, kw.get("seq_len", 10), kw.get("pairs", 3), 8,
                     kw.get("delay", 3))
    assert abs(tasks.is_held_out(raw.tokens).mean() - 1 / tasks.EVAL_SHARE) < 0.01


def test_the_most_frequent_floor_by_hand():
    # recall, 2 pairs: values (3, 3) -> the blind answer 3 is always right; values (1, 5) -> right half the time
    b = tasks.Batch(np.zeros((2, 6, 13)), np.zeros((2, 6, 8)), np.array([[0, 4 + 3, 1, 4 + 3, 12, 0],
                                                                        [2, 4 + 1, 3, 4 + 5, 12, 3]]))
    b.ys[0, -1, 3] = 1
    b.ys[1, -1, 5] = 1
    assert tasks.most_frequent_accuracy(b, "recall", pairs=2) == pytest.approx((1.0 + 0.5) / 2)
    # measured on the project's generator it is far above chance (1/8): the floor the table reports
    held = tasks.generate("recall", np.random.default_rng(0), 4000, pairs=2, split="test")
    assert tasks.most_frequent_accuracy(held, "recall", pairs=2) > 0.5


def test_rows_from_another_code_version_are_not_merged(tmp_path):
    path = tmp_path / "sweep.jsonl"
    path.write_text(json.dumps({"stage": "main", "task": "first", "value": 5, "attention": True, "seed": 0,
                                "lr": 0.01, "eval_acc": 0.5, "commit": "abc1234", "dirty": False}) + "\n")
    with pytest.raises(sweep.SweepError, match="another code version"):
        sweep.execute([], path, 1, "x", {"commit": "def5678", "dirty": False})
    assert sweep.execute([], path, 1, "x", {"commit": "def5678", "dirty": False}, allow_mixed=True) == []


def test_summary_counts_and_sd_use_ddof_1():
    rows = [{"stage": "main", "task": "first", "value": 5, "attention": attn, "seed": s, "lr": 0.01,
             "eval_acc": acc, "floor": 0.39, "eval_n": 512, "grad_h1": 1.0, "grad_h1_init": 1.0,
             "attn_entropy": 0.0, "attn_self": 1.0, "attn_first": 0.0}
            for attn, accs in ((True, [1.0, 0.95, 0.3]), (False, [0.2, 0.3, 0.95])) for s, acc in enumerate(accs)]
    line = next(s for s in sweep.summarise(rows) if s["task"] == "first" and s["value"] == 5)
    assert line["attn"]["solved"] == 2 and line["rnn"]["solved"] == 1
    assert line["attn"]["above_floor"] == 2 and line["rnn"]["above_floor"] == 1
    assert line["attn"]["acc_sd"] == pytest.approx(np.std([1.0, 0.95, 0.3], ddof=1))
