"""Fidelity of pymalloc:preset=cpython-3.11 against the interpreter's own pymalloc.

A fresh interpreter (default allocator: pymalloc) runs the same op sequences through both
and reports sys._debugmallocstats()-style rows before and after. The interpreter starts with
blocks of its own in use and some available, the variant starts empty; what must be equal
once that is accounted for: the class of every request, blocks per pool per class, blocks in
use added per class, and pools added per class.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from allocbench.allocators import worker_environment

pytestmark = pytest.mark.integration

PROBE = Path(__file__).with_name("fidelity_probe.py")


@pytest.fixture(scope="module")
def report() -> dict:
    # The interpreter's own allocators: no PYTHONMALLOC, and no variant installed live (the
    # test suite may run under one: ALLOCBENCH_TEST_LIVE).
    env = worker_environment(dict(os.environ), preload=None)
    done = subprocess.run([sys.executable, str(PROBE)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def added(probe: dict, column: int) -> dict[int, int]:
    """Per class, how much `column` grew between the two reports."""
    before, after = probe["before"], probe["after"]
    return {
        int(c): after[c][column] - before.get(c, [0, 0, 0, 0])[column]
        for c in after
        if after[c][column] != before.get(c, [0, 0, 0, 0])[column]
    }


IN_USE, POOLS, AVAIL = 2, 1, 3


def test_every_request_size_lands_in_the_same_class(report: dict) -> None:
    for n in range(1, 513):
        real = added(report["cpython"]["single"][str(n)], IN_USE)
        model = added(report["variant"]["single"][str(n)], IN_USE)
        assert real == model == {(n - 1) // 16: 1}, f"request of {n} bytes"


def test_blocks_per_pool_per_class(report: dict) -> None:
    for name in ("cpython", "variant"):
        after = report[name]["bulk"]["after"]
        assert len(after) == 32
        for c, (block, pools, in_use, avail) in after.items():
            assert block == (int(c) + 1) * 16
            assert (in_use + avail) == pools * ((16384 - 48) // block), f"{name}, class {c}"


def test_blocks_in_use_added_per_class(report: dict) -> None:
    counts = {int(c): n for c, n in report["variant"]["counts"].items()}
    assert added(report["cpython"]["bulk"], IN_USE) == counts
    assert added(report["variant"]["bulk"], IN_USE) == counts


def test_pools_added_per_class_once_available_blocks_are_counted(report: dict) -> None:
    counts = {int(c): n for c, n in report["variant"]["counts"].items()}
    for name in ("cpython", "variant"):
        before = report[name]["bulk"]["before"]
        pools = added(report[name]["bulk"], POOLS)
        for c, count in counts.items():
            per_pool = (16384 - 48) // ((c + 1) * 16)
            available = before.get(str(c), [0, 0, 0, 0])[AVAIL]
            expected = math.ceil(max(0, count - available) / per_pool)
            assert pools.get(c, 0) == expected, f"{name}, class {c}: {available} available before"
    assert report["variant"]["bulk"]["before"] == {}, "the variant starts with no pool"


def test_churn_changes_in_use_the_same_way(report: dict) -> None:
    assert added(report["cpython"]["churn"], IN_USE) == added(report["variant"]["churn"], IN_USE)
