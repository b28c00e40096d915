"""Record a small program, replay it: the live-bytes curve comes out the same through the
interpreter's allocator and the pymalloc model, and equals the curve computed independently
from the trace's records."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import allocbench
from allocbench.trace import OPS, Trace

pytestmark = pytest.mark.integration

PROGRAM = """
import json
rows = [{"name": f"row{i}", "values": list(range(i % 40)), "tag": ("a", i)} for i in range(3000)]
text = json.dumps(rows)
back = json.loads(text)
groups = {}
for row in back:
    groups.setdefault(len(row["values"]), []).append(row["name"])
del rows, back
print(len(text), len(groups))
"""


def live_bytes_curve(path, every: int) -> list[int]:
    """Live requested bytes after every `every` ops, from the records alone."""
    live: dict[int, int] = {}
    total, curve, index = 0, [], 0
    for _, records in Trace(path).chunks():
        for op, id_, size, arg in zip(records["op"].tolist(), records["id"].tolist(),
                                      records["size"].tolist(), records["arg"].tolist()):
            if op in (OPS["alloc"], OPS["foreign_realloc"]):
                born = id_ if op == OPS["alloc"] else arg
                live[born] = size
                total += size
            elif op == OPS["calloc"]:
                live[id_] = size * arg
                total += size * arg
            elif op == OPS["realloc"]:
                total += size - live.pop(id_)
                live[arg] = size
            elif op == OPS["free"]:
                total -= live.pop(id_)
            index += 1
            if index % every == 0:
                curve.append(total)
    return curve


def test_recorded_program_replays_to_the_same_live_bytes_curve(tmp_path):
    script = tmp_path / "program.py"
    script.write_text(PROGRAM)
    trace = tmp_path / "program.abt"
    done = subprocess.run(
        [sys.executable, "-m", "allocbench", "record", "-o", str(trace), "--", sys.executable, str(script)],
        capture_output=True, text=True, cwd="/", timeout=120,
    )
    assert done.returncode == 0, done.stderr
    every = 1000
    expected = live_bytes_curve(trace, every)
    assert len(expected) > 50
    curves = {}
    for spec in ("cpython", "pymalloc:preset=cpython-3.11"):
        result = allocbench.replay(trace, spec, timeline_every=every)
        curves[spec] = np.array([sample.live_bytes for sample in result.timeline])
        assert result.figures["live_bytes"] == result.retained_live_bytes
    assert np.array_equal(curves["cpython"], curves["pymalloc:preset=cpython-3.11"])
    assert curves["cpython"].tolist() == expected
