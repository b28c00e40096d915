"""The hostile-input battery: bad inputs a hostile but fair user gives, each with the outcome
it must have. Every family builds its inputs itself.

Outcomes, and the helpers that check them:
  refused(done)      exit status 2, exactly one line on stderr, no traceback (the CLI)
  a clean exception  the API raises one of its documented errors, never a crash
  a failed cell      the run records the cell as failed, with the reason

Rule for new commands (docs/architecture.md): every new input surface (a file format, a
grid, a command's arguments) adds its family here before it lands.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TINY_WORKLOADS = """
[tiny-churn]
description = "a small churn"
generator = "churn"
seed = 3
params = { live = 200, pairs = 5000, lifetime = "random", sizes = "uniform:8-512" }

[tiny-fifo]
description = "a small churn, queue-like lifetimes"
generator = "churn"
seed = 4
params = { live = 300, pairs = 4000, lifetime = "fifo", sizes = "uniform:1-700" }
"""


def cli(*args, cwd: Path | None = None, env: dict | None = None, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """`python -m allocbench ARGS`, its output captured."""
    kwargs.setdefault("capture_output", True)
    return subprocess.run([sys.executable, "-m", "allocbench", *map(os.fsdecode, args)], cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=timeout, **kwargs)


def refused(done: subprocess.CompletedProcess, *fragments: str) -> str:
    """Asserts the one-line refusal: exit status 2, one line on stderr naming what was wrong,
    no traceback. Returns the line."""
    stderr = done.stderr if isinstance(done.stderr, str) else done.stderr.decode("utf-8", "replace")
    assert done.returncode == 2, (done.returncode, stderr[-2000:])
    assert "Traceback" not in stderr, stderr[-2000:]
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr[-2000:]
    assert lines[0].startswith("allocbench"), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.fixture(scope="session")
def workloads(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile-workloads")
    (folder / "suites").mkdir()
    (folder / "workloads.toml").write_text(TINY_WORKLOADS)
    (folder / "suites" / "tiny.toml").write_text('description = "two tiny workloads"\nworkloads = ["tiny-churn", "tiny-fifo"]\n')
    (folder / "suites" / "one.toml").write_text('description = "one tiny workload"\nworkloads = ["tiny-churn"]\n')
    return folder


@pytest.fixture(scope="session")
def run_env(workloads) -> dict:
    return {"ALLOCBENCH_WORKLOADS": str(workloads)}


@pytest.fixture(scope="session")
def complete_run(tmp_path_factory, run_env) -> Path:
    """A real, complete results folder: two allocators on two tiny workloads."""
    where = tmp_path_factory.mktemp("hostile-run")
    done = cli("run", "--suite", "tiny", "--fast", "--no-report", "-o", "out", "-a", "cpython", "-a", "pymalloc",
               "--traces", where / "traces", cwd=where, env=run_env)
    assert done.returncode == 0, done.stderr
    return where / "out"


@pytest.fixture()
def results(complete_run, tmp_path) -> Path:
    """A copy of the complete folder, free to damage."""
    return Path(shutil.copytree(complete_run, tmp_path / "results"))


def edit_manifest(folder: Path, change) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    changed = change(manifest)
    path.write_text(json.dumps(manifest if changed is None else changed))


@pytest.fixture(scope="session")
def crash_library(tmp_path_factory) -> Path:
    """A library that kills any process it is preloaded into."""
    folder = tmp_path_factory.mktemp("crash")
    source = folder / "crash.c"
    source.write_text("#include <signal.h>\n__attribute__((constructor)) static void crash(void) { raise(SIGSEGV); }\n")
    library = folder / "libcrash.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    return library
