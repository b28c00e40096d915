"""`allocbench generate` and `allocbench replay` as a user runs them: a table and status 0, or
one line on stderr and status 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from allocbench.trace import write_trace

pytestmark = pytest.mark.integration


def allocbench(*args, cwd="/") -> subprocess.CompletedProcess:
    """Runs the installed command (from outside the source tree, whose package has no core)."""
    command = [sys.executable, "-m", "allocbench", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.fixture(scope="module")
def churn(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "churn.abt"
    done = allocbench("generate", "churn", "-o", path, "--seed", 5, "live=500", "pairs=20000", "lifetime=fifo")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{path}: churn, seed 5: 41,000 ops, id space 500"
    return path


def test_generate_takes_options_and_parameters_in_any_order(churn, tmp_path):
    other = tmp_path / "same.abt"
    done = allocbench("generate", "--seed", 5, "churn", "live=500", "-o", other, "pairs=20000", "lifetime=fifo")
    assert done.returncode == 0, done.stderr
    assert other.read_bytes() == churn.read_bytes()


def test_replay_prints_a_table_row_per_allocator(churn):
    specs = ["pymalloc:preset=cpython-3.11", "system", "cpython", "floor"]
    done = allocbench("replay", churn, *[arg for spec in specs for arg in ("--allocator", spec)], "--touch", "all", "--repeat", 2)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{churn}: 41,000 ops played, 0 skipped; peak live ")
    assert lines[0].endswith("touch=all, fastest of 2")
    assert lines[1].split() == ["allocator", "ns/op", "own", "peak", "footprint", "own", "retained", "footprint",
                                "footprint", "fragmentation"]
    assert [line.split()[0] for line in lines[2:]] == specs
    pymalloc = lines[2].split()
    assert float(pymalloc[1]) > 0
    assert pymalloc[2:4] == ["1.00", "MiB"]  # one arena, the pymalloc model's exact peak
    assert float(pymalloc[-1]) > 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["-a", "pymalloc:pool_size=3K"], "allocbench replay: pool_size=3K: "),
        (["-a", "floor", "-a", "bogus"], "allocbench replay: allocator 'bogus': unknown"),
        (["-a", "floor", "--touch", "most"], "allocbench replay: error: argument --touch: invalid choice: 'most'"),
    ],
)
def test_replay_bad_options_are_one_line_and_status_2(churn, args, message):
    done = allocbench("replay", churn, *args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith(message)


def test_replay_of_a_bad_trace_names_the_op(tmp_path):
    path = tmp_path / "bad.abt"
    write_trace(path, [("alloc", "obj", 0, 16, 0), ("free", "obj", 0, 0, 0), ("free", "obj", 0, 0, 0)], {"made_by": "test"})
    done = allocbench("replay", path, "-a", "system")
    assert done.returncode == 2
    assert done.stderr == f"allocbench replay: {path}: op 2: free of id 0, which is not live (freed already)\n"
    missing = allocbench("replay", tmp_path / "missing.abt", "-a", "system")
    assert missing.returncode == 2
    assert len(missing.stderr.splitlines()) == 1
    assert str(tmp_path / "missing.abt") in missing.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope", "-o", "x.abt"], "allocbench generate: unknown generator 'nope'"),
        (["churn", "-o", "x.abt", "live=-3"], "allocbench generate: churn: live=-3: a whole number"),
        (["churn", "-o", "x.abt", "live"], "allocbench generate: parameter 'live': expected NAME=VALUE"),
        (["churn", "live=3"], "allocbench generate: the trace file to write is required: -o FILE"),
        (["churn", "-o", "no/such/folder/x.abt"], "allocbench generate: no/such/folder/x.abt: cannot open"),
    ],
)
def test_generate_bad_input_is_one_line_and_status_2(args, message, tmp_path):
    done = allocbench("generate", *args, cwd=tmp_path)
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith(message)
