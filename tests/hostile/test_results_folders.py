"""Hostile results folders: damaged manifests and tables, given to every reader (show,
compare, report, run --resume, allocbench.load). Each is refused with one line (exit 2, or
UsageError from the API), or, where the damage is missing rows, read as what it is: the
cells that lack their rows are named as missing, and --resume measures them again."""

from __future__ import annotations

import json

import pytest
from conftest import cli, edit_manifest, refused

import allocbench
from allocbench.errors import UsageError


def readers(folder, tmp_path):
    """Every way a results folder is read from the command line."""
    return {
        "show": ("show", folder),
        "compare": ("compare", folder, folder),
        "report": ("report", folder, "-o", tmp_path / "r.html"),
        "resume": ("run", "--resume", folder, "--no-report"),
    }


def refused_by_every_reader(folder, tmp_path, run_env, *fragments):
    manifest = folder / "manifest.json"
    before = manifest.read_bytes() if manifest.is_file() else None
    for name, args in readers(folder, tmp_path).items():
        refused(cli(*args, cwd=tmp_path, env=run_env), *fragments)
    with pytest.raises(UsageError) as caught:
        allocbench.load(folder)
    assert "\n" not in str(caught.value)
    if before is not None:
        assert manifest.read_bytes() == before, "a refused folder was changed (left 'running'?)"
    assert not (tmp_path / "r.html").exists()


MANIFEST_DAMAGE = [
    ("item 6: top level is an array", lambda m: [], "not a JSON object"),
    ("item 6: top level is a number", lambda m: 1, "not a JSON object"),
    ("item 8: no workloads", lambda m: m.pop("workloads") and None, "no 'workloads'"),
    ("item 8: no cells", lambda m: m.pop("cells") and None, "no 'cells'"),
    ("item 10: a cell listed twice", lambda m: m["cells"].append(dict(m["cells"][0])), "listed twice"),
    ("item 11: no allocators", lambda m: m.update(allocators=[]), "'allocators' is empty"),
    ("item 22: a baseline that is not one of the allocators", lambda m: m.update(baseline="ghost"),
     "baseline 'ghost' is not one of the run's allocators"),
    ("item 23: a cell state that is no known word", lambda m: m["cells"][0].update(time="almost"), "time state 'almost'"),
    ("a cell of an allocator the manifest does not list", lambda m: m["cells"][0].update(allocator="ghost"),
     "names an allocator or workload"),
    ("a mode that does not exist", lambda m: m.update(mode="quick"), "mode 'quick'"),
    ("a run mode that does not exist", lambda m: m.update(run_mode="sideways"), "run_mode 'sideways'"),
    ("a workload of a mode that does not exist", lambda m: m["workloads"][0].update(mode="dreamt"), "mode 'dreamt'"),
    ("a live workload without its program", lambda m: m["workloads"][0].update(mode="live"), "needs its 'program'"),
    ("a status that does not exist", lambda m: m.update(status="done"), "status 'done'"),
    ("the schema of another version", lambda m: m.update(schema=2), "schema 2"),
    ("a command that is a string", lambda m: m.update(command="allocbench run"), "'command' is str"),
    ("a timeout that is not a number", lambda m: m.update(cell_timeout="soon"), "cell_timeout 'soon'"),
    ("a negative timeout", lambda m: m.update(cell_timeout=-1), "cell_timeout -1"),
    ("an allocator without a label", lambda m: m["allocators"][0].pop("label") and None, "needs a 'label'"),
    ("a workload name listed twice", lambda m: m["workloads"].append(dict(m["workloads"][0])), "listed twice"),
    ("a cell missing", lambda m: m["cells"].pop() and None, "cells for"),
]


@pytest.mark.parametrize("name, change, fragment", MANIFEST_DAMAGE, ids=[d[0] for d in MANIFEST_DAMAGE])
def test_damaged_manifests_are_one_line_for_every_reader(name, change, fragment, results, tmp_path, run_env):
    edit_manifest(results, change)
    refused_by_every_reader(results, tmp_path, run_env, fragment)


@pytest.mark.parametrize("data, fragment", [
    (b'{"schema": 1, "suite": "x\xff"}', "not UTF-8"),  # item 7
    (b"{", "not valid JSON"),
    (b"", "not valid JSON"),
    (b'{"a": ' + b"[" * 100000 + b"]" * 100000 + b"}", "not valid JSON"),
], ids=["item 7: invalid UTF-8", "cut short", "empty", "nested past the recursion limit"])
def test_manifests_that_are_not_json_text(data, fragment, results, tmp_path, run_env):
    (results / "manifest.json").write_bytes(data)
    refused_by_every_reader(results, tmp_path, run_env, "manifest.json", fragment)


def test_a_manifest_that_is_a_folder(results, tmp_path, run_env):
    (results / "manifest.json").unlink()
    (results / "manifest.json").mkdir()
    refused_by_every_reader(results, tmp_path, run_env, "manifest.json")


@pytest.mark.parametrize("table, text, fragment", [
    ("sizes.csv", "workload,size,count\ntiny-churn,many,3\n", "'many' is not a number"),  # item 9
    ("sizes.csv", "workload,size\n", "the first line must be the columns"),
    ("metrics.csv", "allocator,workload,metric,value,unit\ncpython,tiny-churn,time_mean,fast,s\n", "'fast' is not a number"),
    ("metrics.csv", "allocator,workload,metric,value,unit\ncpython,tiny-churn,time_mean\n", "has 3 fields, expected 5"),
    ("timelines.csv", "allocator,workload,op_index,live_bytes,footprint_bytes,rss_bytes\ncpython,tiny-churn,x,1,2,3\n",
     "'x' is not a number"),
    ("metrics.csv", "allocator,workload,metric,value,unit\ncpython,\xff,time_mean,1,s\n", "not UTF-8"),
], ids=["item 9: sizes not numeric", "sizes without its columns", "metrics value not numeric", "metrics row short",
        "timelines not numeric", "metrics not UTF-8"])
def test_damaged_tables_are_one_line(table, text, fragment, results, tmp_path, run_env):
    (results / table).write_bytes(text.encode("latin-1"))
    for args in (("show", results), ("report", results, "-o", tmp_path / "r.html")):
        refused(cli(*args, cwd=tmp_path, env=run_env), table, fragment)
    if table != "sizes.csv":  # load() reads metrics.csv (and checks timelines.csv's rows)
        with pytest.raises(UsageError):
            allocbench.load(results)


def _truncate(path, keep: float) -> int:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return len(data)


@pytest.mark.parametrize("table", ["metrics.csv", "timelines.csv"])
def test_item_21_truncated_tables_are_missing_cells_and_resume_measures_them(table, results, tmp_path, run_env):
    _truncate(results / table, 0.5)
    shown = cli("show", results, cwd=tmp_path, env=run_env, text=True)
    assert shown.returncode == 0, shown.stderr
    assert "lack their rows" in shown.stdout and "count as missing" in shown.stdout
    assert "missing:" in shown.stdout
    report = cli("report", results, "-o", tmp_path / "r.html", cwd=tmp_path, env=run_env)
    assert report.returncode == 0 and "lack their rows" in (tmp_path / "r.html").read_text()
    resumed = cli("run", "--resume", results, "--no-report", cwd=tmp_path, env=run_env, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "memory phase" in resumed.stderr or "time phase" in resumed.stderr, "nothing was measured again"
    manifest = json.loads((results / "manifest.json").read_text())
    assert manifest["status"] == "complete" and all(c["time"] == c["memory"] == "done" for c in manifest["cells"])
    frame = allocbench.load(results)
    assert len(frame[frame.metric == "time_mean"]) == len(manifest["cells"])
    assert len(frame[frame.metric == "peak_rss_bytes"]) == len(manifest["cells"])


def test_rows_of_a_cell_the_journal_does_not_call_done_are_not_results(results, tmp_path, run_env):
    """A kill between writing a cell's rows and its journal line: the rows do not count."""
    manifest = json.loads((results / "manifest.json").read_text())
    first = manifest["cells"][0]
    edit_manifest(results, lambda m: m["cells"][0].update(time="missing"))
    frame = allocbench.load(results)
    mine = frame[(frame.allocator == first["allocator"]) & (frame.workload == first["workload"])]
    assert "time_mean" not in set(mine.metric) and "peak_rss_bytes" in set(mine.metric)


def test_a_line_cut_short_by_a_kill_is_dropped(results):
    def time_mean(frame):
        return frame[(frame.allocator == "cpython") & (frame.workload == "tiny-churn") & (frame.metric == "time_mean")]

    before = time_mean(allocbench.load(results)).value.tolist()
    with open(results / "metrics.csv", "a") as out:
        out.write("cpython,tiny-churn,time_mean,0.0")  # no newline: the write was cut
    frame = allocbench.load(results)
    assert not frame.duplicated(["allocator", "workload", "metric"]).any()
    assert time_mean(frame).value.tolist() == before != [0.0]


def test_item_23_resume_takes_no_run_settings(results, tmp_path, run_env):
    for extra in (("--suite", "nosuch"), ("--suite", "tiny"), ("--touch", "all"), ("--cell-timeout", "5"),
                  ("--baseline", "pymalloc"), ("--fast",), ("-a", "system"), ("-o", tmp_path / "x")):
        refused(cli("run", "--resume", results, *extra, cwd=tmp_path, env=run_env), "--resume takes the run's own settings")


def test_not_a_folder_and_no_folder(tmp_path, run_env):
    (tmp_path / "file").write_text("")
    for target, fragment in ((tmp_path / "file", "not a folder"), (tmp_path / "absent", "no such folder"),
                             (tmp_path, "no manifest.json")):
        refused(cli("show", target, cwd=tmp_path, env=run_env), fragment)
        with pytest.raises(UsageError):
            allocbench.load(target)
