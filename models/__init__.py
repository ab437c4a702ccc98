"""What is built *with* the engine: the seed's attention RNN, its closed-form gradients, training.

Run from the checkout (``python -m models.train ...``); this package is not installed.
"""
