"""tinygrad_rnn.models: what is built *with* the engine — the seed's attention RNN, its
closed-form gradients (eqs 10-17, corrected and as printed), the errata, training and drawing.

    from tinygrad_rnn.models import AttentionRNN
    python -m tinygrad_rnn.models.train --task recall --steps 300 --out runs/recall
    python -m tinygrad_rnn.models.draw --steps 4 -o unrolled.svg

Installed with the engine (the repository's ``models/`` folder); training needs the ``train``
extra (tqdm, matplotlib) and drawing the ``viz`` extra (graphviz).
"""

from .attention_rnn import AttentionRNN

__all__ = ["AttentionRNN"]
