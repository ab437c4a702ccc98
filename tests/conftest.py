"""Shared test configuration: the hypothesis profile (no deadline, derandomized)."""

import os

from hypothesis import settings

from tinygrad_rnn.testing import register_profiles

register_profiles()
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "tinygrad_rnn"))
