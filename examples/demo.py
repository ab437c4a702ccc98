"""`make demo`: the main job — the engine, the seed's model trained, checked and drawn.

1. record a small RNN-like computation inside scopes and print the tape;
2. backward, and compare with float64 finite differences (gradcheck);
3. show that gradcheck catches a deliberately wrong rule (negative control);
4. train the seed's model on associative recall for a few seconds (python -m tinygrad_rnn.models.train);
5. the seed's attention RNN: engine gradients (both modes) against the closed forms, and how far
   the seed's printed equations are from them (docs/ERRATA.md);
6. the unrolled graph of that model after backward, and its recorded backward pass, rendered with Graphviz (out/);
7. a page that steps through that model's backward walk (out/bptt.html), and a picture of it half way (out/bptt.png).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import viz
from tinygrad_rnn.models import closed_form as cf
from tinygrad_rnn.models.attention_rnn import AttentionRNN
from tinygrad_rnn.models.draw import draw_backward, draw_unrolled

OUT = Path("out")


def max_relative_error(got: dict, want: dict) -> float:
    """max over parameters of max|got − want| / max|want|."""
    return max(float(np.abs(got[k] - want[k]).max() / max(np.abs(want[k]).max(), 1e-300)) for k in want)


def model_gradient_check() -> None:
    print("\n== 5. the seed's attention RNN (eqs 1-7): gradients against the closed form (eqs 9-17)")
    rng = np.random.default_rng(1)
    model = AttentionRNN(input_size=3, hidden_size=5, output_size=4, seed=1)
    xs, ys = rng.standard_normal((2, 6, 3)), rng.integers(0, 4, (2, 6))
    params = model.numpy_params()
    reference = cf.bptt(params, xs, ys)
    for mode in ("fused", "unrolled"):
        model.loss(xs, ys, mode=mode).backward()
        grads = {k: p.grad for k, p in model.params().items()}
        print(f"   engine ({mode:8s}) vs closed-form bptt: max relative error {max_relative_error(grads, reference):.2e}")
        for p in model.params().values():
            p.zero_grad()
    print(f"   nested sums (eqs 12/14/16, corrected) vs bptt: max relative error "
          f"{max_relative_error(cf.nested_sums(params, xs, ys), reference):.2e}")
    printed = cf.as_printed(params, xs, ys)
    for k, eq in (("V", 10), ("W", 13), ("U", 15), ("b", 17)):
        err = np.linalg.norm(printed[k] - reference[k]) / np.linalg.norm(reference[k])
        print(f"   eq {eq} as printed (dL/d{k}): relative error {err:.2f}  -> see docs/ERRATA.md")


def train_recall() -> None:
    print("\n== 4. train the seed's attention RNN on associative recall (2 pairs, 1500 steps)")
    from tinygrad_rnn.models import tasks, train

    OUT.mkdir(exist_ok=True)
    cfg = train.Config(task="recall", pairs=2, steps=1500, lr=0.01, eval_every=500, out=str(OUT / "train-recall"))
    result = train.run(cfg, force=True)
    floor = tasks.most_frequent_accuracy(train.eval_batch(cfg), "recall", pairs=2)
    print(f"   held-out accuracy {result['eval_acc']:.3f} (chance 0.125; answering the most frequent value, blind to "
          f"the query, scores {floor:.3f}); attention weight on i=t "
          f"{result['attn_self']:.2f}, entropy {result['attn_entropy']:.2f}")
    print(f"   wrote {cfg.out}/config.json, metrics.jsonl, checkpoint.npz  (resume: python -m tinygrad_rnn.models.train "
          f"--resume --out {cfg.out} --steps 3000)")


def render_unrolled() -> None:
    print("\n== 6. the unrolled graph (T=4) after backward, coloured by gradient norm")
    OUT.mkdir(exist_ok=True)
    rng = np.random.default_rng(2)
    model = AttentionRNN(input_size=2, hidden_size=3, output_size=3, seed=0)
    xs, ys = rng.standard_normal((4, 2)), rng.integers(0, 3, 4)
    for name, kwargs in (("unrolled_T4.svg", {}), ("unrolled_T4_grad.svg", {"color_by": "grad"}),
                         ("unrolled_T4.dot", {})):
        path = viz.render(draw_unrolled(model, xs, ys, **kwargs), OUT / name)
        print(f"   wrote {path}")
    path = viz.render(draw_unrolled(model, rng.standard_normal((120, 2)), rng.integers(0, 3, 120),
                                    collapse=True, color_by="grad"), OUT / "unrolled_T120_collapsed.svg")
    print(f"   wrote {path} (T=120, one node per block of 8 steps)")
    from tinygrad_rnn.models.long_view import draw_long

    path = draw_long(model, rng.standard_normal((1000, 2)), rng.integers(0, 3, 1000), OUT / "long_T1000.png")
    print(f"   wrote {path} (T=1000, the long view: where the last step's gradient reaches, with and without attention)")
    path = viz.render(draw_backward(model, xs[:2], ys[:2]), OUT / "backward_T2.svg")
    print(f"   wrote {path} (the recorded backward pass giving dL/dW, T=2: BPTT as a graph)")


def explore_walk() -> None:
    print("\n== 7. step through BPTT: a self-contained page of the forward replay and the backward walk (T=5)")
    from tinygrad_rnn.models.explore import explore_unrolled
    from tinygrad_rnn.viz.browser import screenshot

    rng = np.random.default_rng(2)
    model = AttentionRNN(input_size=2, hidden_size=3, output_size=3, seed=0)
    page = explore_unrolled(model, rng.standard_normal((5, 2)), rng.integers(0, 3, 5), OUT / "bptt.html")
    print(f"   wrote {page} ({page.stat().st_size / 1024:.0f} KiB; open it in any browser, no network needed; "
          "arrow keys step, space plays)")
    print(f"   wrote {screenshot(page, OUT / 'bptt.png')} (headless Chromium, the backward walk half way through)")


def main() -> None:
    # this program owns its process, so it may retune the allocator (the library never does by itself)
    print(f"(allocator: freed buffers kept for reuse, tg.reuse_freed_memory() -> {tg.reuse_freed_memory()})")
    rng = np.random.default_rng(0)
    H, D, T = 3, 2, 3
    W = tg.Tensor(rng.standard_normal((H, H)) * 0.5, requires_grad=True, name="W")
    U = tg.Tensor(rng.standard_normal((H, D)) * 0.5, requires_grad=True, name="U")
    xs = rng.standard_normal((T, D))

    def unrolled(W: tg.Tensor, U: tg.Tensor) -> tg.Tensor:
        h = tg.zeros(H)
        for t in range(T):
            with tg.scope(f"t={t + 1}"):
                h = (W @ h + U @ xs[t]).tanh()
        return (h * h).sum()

    print("== 1. the tape of a 3-step tanh recurrence (each op: rule, inputs -> output shape @scope)")
    loss = unrolled(W, U)
    for t in loss.history():
        print("  ", t.record)

    print("\n== 2. backward, checked against central differences in float64")
    loss.backward()
    print("   dL/dW =", np.array2string(W.grad, precision=5, prefix="   dL/dW = "))
    print("   gradcheck(W, U):", tg.gradcheck(unrolled, [W, U]), "(rtol 1e-6, atol 1e-8)")

    print("\n== 3. negative control: a wrong tanh rule (1 - y instead of 1 - y^2) must fail")

    @tg.defop("wrong_tanh", rules=(lambda F, g, y, x: g * (1.0 - y),))
    def wrong_tanh(x):
        return np.tanh(x)

    try:
        tg.gradcheck(lambda w: wrong_tanh(w @ xs[0]).sum(), [W.data[:, :D]])
        raise SystemExit("demo: gradcheck did NOT catch the wrong rule")
    except tg.GradcheckError as err:
        print("   caught:", str(err).splitlines()[0])
        print("  ", str(err).splitlines()[2].strip())

    train_recall()

    model_gradient_check()
    render_unrolled()
    explore_walk()


if __name__ == "__main__":
    main()
