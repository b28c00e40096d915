"""Shared test settings.

Hypothesis runs derandomized by default so that a red CI run can be replayed exactly;
ALLOCBENCH_HYPOTHESIS=thorough explores more (and fresh) examples during development.
"""

import os

import pytest
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


@pytest.fixture(scope="session", autouse=True)
def _outside_the_checkout(tmp_path_factory):
    """Runs the session from an empty folder. `python -m allocbench` puts its working folder
    first on sys.path; started from the checkout, the tests' subprocesses would import the
    source tree (which has no built core) instead of the installed package under test."""
    previous = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    os.chdir(previous)
