"""``tinygrad_rnn.nn``: building blocks a learner expects, as PyTorch's ``torch.nn`` names them.

``Module`` (parameters registered by attribute assignment, ``named_parameters``, ``state_dict``,
``train``/``eval``), layers (``Linear``, ``Embedding``, ``LayerNorm``, ``Dropout``, ``Sequential``,
activations), recurrent cells and sequence layers (``RNNCell``/``LSTMCell``/``GRUCell``,
``RNN``/``LSTM``/``GRU``, PyTorch's gate equations and parameter layout), ``nn.init`` and
``nn.batches``.  Built from engine ops only: every gradient is the engine's walk.  Save and load a
state dict with ``tg.save`` / ``tg.load``; seed everything with ``tg.manual_seed``.
"""

from __future__ import annotations

from . import init
from .data import batches
from .layers import (ELU, GELU, Dropout, Embedding, Flatten, Identity, LayerNorm, LeakyReLU, Linear, LogSoftmax,
                     ModuleList, ReLU, Sequential, Sigmoid, SiLU, Softmax, Softplus, Tanh)
from .module import Module, Parameter, StateDictError
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

__all__ = ["Module", "Parameter", "StateDictError", "Linear", "Embedding", "LayerNorm", "Dropout", "Sequential",
           "ModuleList", "Identity", "Tanh", "ReLU", "Sigmoid", "GELU", "SiLU", "LeakyReLU", "ELU", "Softplus",
           "Softmax", "LogSoftmax", "Flatten", "RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU", "init",
           "batches"]
