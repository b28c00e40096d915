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


# The live switch: ALLOCBENCH_TEST_LIVE=SPEC runs the whole test suite with that allocator
# installed live (allocbench exec) in the pytest process and every Python it starts. pytest
# re-executes itself under the variant before collecting; the summary says what ran.
LIVE_SWITCH = "ALLOCBENCH_TEST_LIVE"
_REEXECUTED = "ALLOCBENCH_TEST_LIVE_STARTED"


def pytest_configure(config):
    spec = os.environ.get(LIVE_SWITCH)
    if not spec:
        return
    import sys

    from allocbench import _core
    from allocbench.live import live_command, replace_process

    status = _core.live_status()
    if status is not None and status["allocator"] == spec:
        return
    if os.environ.get(_REEXECUTED) == spec:
        raise SystemExit(f"{LIVE_SWITCH}={spec}: pytest was started under it, but it is not installed")
    # Started again as it was started: `python -m pytest` (the current folder first on sys.path)
    # or the pytest script (the installed package only).
    kind, target = ("module", "pytest") if os.path.basename(sys.argv[0]) == "__main__.py" else ("script", sys.argv[0])
    command = live_command(spec, kind, target, sys.argv[1:], base_environment={**os.environ, _REEXECUTED: spec})
    replace_process(command)


def pytest_terminal_summary(terminalreporter):
    from allocbench import _core

    status = _core.live_status()
    if status is None or not os.environ.get(LIVE_SWITCH):
        return
    line = f"live: {status['allocator']} ({status['path']} path)"
    if status["variant_installed"]:
        line += (f": served {status['served_share']:.2%} of {status['small_requests']:,} small requests; "
                 f"invariants: {status['valid'] or 'hold'}")
    terminalreporter.write_line(line)
