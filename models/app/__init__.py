"""The application around the model (``tinygrad_rnn.models.app``), apart from its maths.

- :mod:`.rundir`       a run directory's guarantees: one lock, crash-consistent files, no links followed;
- :mod:`.cli`          the command lines' shared argparse helpers (one-line errors, Ctrl-C once);
- :mod:`.plots`        loss, attention and gradient-norm plots (matplotlib);
- :mod:`.sweep`        ``python -m tinygrad_rnn.models.app.sweep``: attention vs the baseline, over seeds;
- :mod:`.inspect_run`  ``python -m tinygrad_rnn.models.app.inspect_run DIR``: where a trained run attends.

The model (:mod:`tinygrad_rnn.models.attention_rnn`), its closed-form gradients, the tasks and
the training loop (:mod:`tinygrad_rnn.models.train`) do not depend on anything here but the
run directory and the command-line helpers.
"""
