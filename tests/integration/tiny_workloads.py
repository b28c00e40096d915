"""The tiny suite the run, sweep and report round trips share: two small generated workloads,
written as a workloads folder of their own (ALLOCBENCH_WORKLOADS)."""

from __future__ import annotations

from pathlib import Path

TINY_WORKLOADS = """
[tiny-churn]
description = "a small churn"
generator = "churn"
seed = 3
params = { live = 300, pairs = 20000, lifetime = "random", sizes = "uniform:8-512" }

[tiny-ramp]
description = "every size to 128 B"
generator = "size-ramp"
params = { max_size = 128, per_size = 4, rounds = 2 }
"""


def write_tiny_workloads(folder: Path) -> Path:
    """A workloads folder at `folder` whose suite `tiny` has the two workloads."""
    (folder / "suites").mkdir(parents=True, exist_ok=True)
    (folder / "workloads.toml").write_text(TINY_WORKLOADS)
    (folder / "suites" / "tiny.toml").write_text('description = "two tiny workloads"\nworkloads = ["tiny-churn", "tiny-ramp"]\n')
    return folder
