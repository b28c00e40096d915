"""`allocbench run --mode both` end to end: a suite's program run live on each allocator beside
the replay of its trace; the results folder, the terminal summary, the report's live section
(in Chromium), resume, and the refusals before anything runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import allocbench
from allocbench.allocators import file_label

pytestmark = pytest.mark.integration

PROGRAM = """\
import sys
table = {}
for i in range(60000):
    table[str(i)] = (i, [i] * (i % 5))
print(len(table), sum(len(v[1]) for v in table.values()))
"""

WORKLOADS = """
[tiny-churn]
description = "a small churn"
generator = "churn"
seed = 3
params = { live = 300, pairs = 20000, lifetime = "random", sizes = "uniform:8-512" }

[small-program]
description = "a dict of small tuples and lists"
program = "small_program.py"
"""


@pytest.fixture()
def workloads(tmp_path: Path) -> Path:
    folder = tmp_path / "workloads"
    (folder / "suites").mkdir(parents=True)
    (folder / "programs").mkdir()
    (folder / "programs" / "small_program.py").write_text(PROGRAM)
    (folder / "workloads.toml").write_text(WORKLOADS)
    (folder / "suites" / "tiny.toml").write_text('description = "a churn and a program"\nworkloads = ["tiny-churn", "small-program"]\n')
    (folder / "suites" / "generated.toml").write_text('description = "no program"\nworkloads = ["tiny-churn"]\n')
    return folder


def cli(args: list, workloads: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ALLOCBENCH_WORKLOADS": str(workloads)}
    return subprocess.run([sys.executable, "-m", "allocbench", *map(str, args)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=900)


ALLOCATORS = ["cpython", "system", "pymalloc:pool_size=64K,arena_release=never"]


def test_run_both_measures_the_program_live_beside_its_replay(workloads: Path, tmp_path: Path) -> None:
    args = ["run", "--suite", "tiny", "--mode", "both", "--fast", "-o", "out", "--traces", tmp_path / "traces"]
    for allocator in ALLOCATORS:
        args += ["-a", allocator]
    done = cli(args, workloads, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "not run live: tiny-churn: a generator workload has no program to run live" in done.stderr
    assert "time phase: 9 cells, 1 at a time" in done.stdout + done.stderr  # never beside other work
    out = tmp_path / "out"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["run_mode"] == "both" and manifest["status"] == "complete"
    entries = {w["name"]: w for w in manifest["workloads"]}
    assert set(entries) == {"tiny-churn", "small-program", "small-program@live"}
    assert entries["small-program@live"]["mode"] == "live"
    assert Path(entries["small-program@live"]["program"]).read_text() == PROGRAM
    assert all(c["time"] == "done" and c["memory"] == "done" for c in manifest["cells"])

    metrics = allocbench.load(out)
    live = metrics[metrics["workload"] == "small-program@live"].set_index(["allocator", "metric"])["value"]
    for allocator in ALLOCATORS:
        # A whole interpreter: tens of MiB, and at least what it had at exit.
        assert 5e6 < live[allocator, "process_peak_rss_bytes"] < 5e8
        assert live[allocator, "process_rss_bytes_at_exit"] <= live[allocator, "process_peak_rss_bytes"]
        assert live[allocator, "time_mean"] > 0.01 and live[allocator, "time_values"] >= 2
    # Timed side by side with the baseline's program, as a sweep's points are with their base.
    for allocator in ALLOCATORS[1:]:
        assert live[allocator, "base_time_values"] >= 2
        assert (out / "pyperf" / f"{file_label(allocator)}@base.json").is_file()
    assert ("cpython", "base_time_mean") not in live.index
    variant = "pymalloc:pool_size=64K,arena_release=never"
    assert live[variant, "served_share"] >= 0.99
    assert (variant, "served_share") in live.index and ("system", "served_share") not in live.index
    # The pyperf file holds the live benchmark beside the replayed ones.
    names = {b["metadata"]["name"] for b in json.loads((out / "pyperf" / "cpython.json").read_text())["benchmarks"]}
    assert names == {"tiny-churn", "small-program", "small-program@live"}

    assert "geometric mean, live" in done.stdout and "the same programs replayed" in done.stdout
    assert "Kendall's tau" in done.stdout
    page = (out / "report.html").read_text()
    assert 'id="live"' in page and "Kendall" in page
    if shutil.which("chromium") is None and not os.environ.get("CI"):
        return  # the page in a browser: Debian's chromium (CI installs it)

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"))
        view = browser.new_page()
        errors = []
        view.on("pageerror", lambda error: errors.append(str(error)))
        view.goto((out / "report.html").as_uri())
        section = view.locator("#live")
        assert section.is_visible()
        rows = section.locator("table#T_agreement tbody tr")
        assert rows.count() == len(ALLOCATORS)
        assert section.locator("svg").count() >= 2  # the scatter and the live memory
        assert "live and replayed" in view.locator("p.verdict").first.inner_text()
        browser.close()
    assert errors == []


@pytest.mark.parametrize("args, message", [
    (["--suite", "generated", "--mode", "live"], "suite 'generated' has no program workload to run live"),
    (["--suite", "tiny", "--mode", "live", "-a", "floor"], "-a floor: cannot run live"),
    (["--suite", "tiny", "--mode", "sideways"], "invalid choice: 'sideways'"),
])
def test_what_cannot_run_live_is_refused_before_anything_runs(workloads: Path, tmp_path: Path, args, message) -> None:
    done = cli(["run", *args, "-o", "out", "--traces", tmp_path / "traces"], workloads, tmp_path)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "traces").exists()
