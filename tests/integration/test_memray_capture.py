"""`allocbench import memray` on a capture memray makes here of a small program: the trace is
whole and replays, its blocks are memray's, and it compares with allocbench's own recording of
the same program made with an empty profile function."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import allocbench
from allocbench.trace import Trace, summarise

memray = pytest.importorskip("memray")
pytestmark = pytest.mark.integration

# Work enough to dwarf start-up: strings, dicts, list growth by realloc, a sort.
PROGRAM = textwrap.dedent(
    """
    rows = []
    for i in range(20000):
        rows.append({"id": i, "name": "x" * (i % 50), "pair": (i, str(i))})
    rows.sort(key=lambda row: row["name"])
    text = ",".join(row["pair"][1] for row in rows)
    del rows
    print(len(text))
    """
)


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("memray")
    (folder / "program").mkdir()
    program = folder / "program" / "program.py"
    program.write_text(PROGRAM)
    capture = folder / "capture.bin"
    subprocess.run([sys.executable, "-m", "memray", "run", "--trace-python-allocators", "-q", "-o", str(capture),
                    str(program)], check=True, capture_output=True, timeout=120,
                   env=dict(os.environ, PYTHONHASHSEED="0"))
    return capture, program


def allocbench_cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "allocbench", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def live_blocks_by_memray(capture: Path) -> int:
    """Python-allocator blocks allocated during the capture and live at its end, counted from
    memray's records by address (a realloc moves its block: FREE old, REALLOC new)."""
    kinds = memray.AllocatorType
    live = set()
    for record in memray.FileReader(str(capture)).get_allocation_records():
        if record.allocator == kinds.PYMALLOC_FREE:
            live.discard(record.address)
        elif record.allocator in (kinds.PYMALLOC_MALLOC, kinds.PYMALLOC_CALLOC, kinds.PYMALLOC_REALLOC) and record.address:
            live.add(record.address)
    return len(live)


def test_import_gives_a_whole_trace_of_memrays_blocks(capture, tmp_path):
    capture_file, _ = capture
    trace = tmp_path / "imported.abt"
    done = allocbench_cli("import", "memray", capture_file, "-o", trace, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    stats = summarise(trace)
    assert done.stdout.startswith(f"{trace}: {stats.op_count:,} ops (alloc ")
    assert stats.ops_by_kind["realloc"] > 0 and stats.ops_by_kind["free"] > 20_000
    assert stats.ops_by_kind["foreign_free"] > 0  # blocks from before memray's tracker started
    assert stats.final_live_objects == live_blocks_by_memray(capture_file)
    metadata = Trace(trace).metadata
    assert metadata["imported_from"] == "memray" and metadata["memray_version"] == memray.__version__
    assert stats.ops_by_domain == {"raw": 0, "mem": 0, "obj": stats.op_count}
    for spec in ("pymalloc", "system"):
        assert allocbench.replay(trace, spec).peak_live_bytes == stats.peak_live_bytes


def test_the_import_compares_with_a_recording_made_with_an_empty_profile_function(capture, tmp_path):
    capture_file, program = capture
    imported, recorded = tmp_path / "imported.abt", tmp_path / "recorded.abt"
    assert allocbench_cli("import", "memray", capture_file, "-o", imported, cwd=tmp_path).returncode == 0
    done = allocbench_cli("record", "--empty-profile-function", "-o", recorded, "--", "python", program, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    by_memray, by_record = summarise(imported), summarise(recorded)
    # Each side's own start-up differs (memray's tracker imports and runs its own code): the
    # program's work, 20,000 rows and their frames, is the same.
    for kind in ("alloc", "free"):
        assert by_memray.ops_by_kind[kind] == pytest.approx(by_record.ops_by_kind[kind], rel=0.15), kind
    assert by_memray.peak_live_bytes == pytest.approx(by_record.peak_live_bytes, rel=0.15)
