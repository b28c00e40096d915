"""Shared test settings.

Hypothesis runs derandomized by default so that a red CI run can be replayed exactly;
ALLOCBENCH_HYPOTHESIS=thorough explores more (and fresh) examples during development.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "default",
    derandomize=True,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    deadline=None,
    max_examples=1000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("ALLOCBENCH_HYPOTHESIS", "default"))
