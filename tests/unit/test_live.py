"""The live mode's library, in this process: the command and environment each allocator runs
with, the path chosen, the stats reader, and the arena observer held against the
interpreter's own counts. (Programs actually run live: tests/integration/test_live_exec.py.)"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from allocbench import _core
from allocbench.allocators import find_library
from allocbench.errors import UsageError
from allocbench.live import (BOOTSTRAP, PRELOAD_LIBRARY, VARIABLES, dynamic_symbols, early_path_possible,
                             live_command, read_stats)

EARLY_HERE = early_path_possible(sys.executable)
BASE = {"PATH": "/usr/bin:/bin", "HOME": "/nowhere"}


def command(label, path="auto", report=None, base=BASE, kind="module", target="json.tool", args=("x",)):
    return live_command(label, kind, target, list(args), report=report, path=path, base_environment=dict(base))


def preloads(environment) -> list[str]:
    return environment.get("LD_PRELOAD", "").split()


@pytest.mark.skipif(not EARLY_HERE, reason="this interpreter is statically linked")
def test_a_pymalloc_variant_runs_the_program_itself_with_the_shim_preloaded():
    live = command("pymalloc:pool_size=64K")
    assert live.path == "early"
    assert live.argv == [sys.executable, "-m", "json.tool", "x"]
    assert preloads(live.environment) == [str(PRELOAD_LIBRARY)]
    assert live.environment[VARIABLES["spec"]] == _core.check_live_spec("pymalloc:pool_size=64K")
    assert live.environment[VARIABLES["label"]] == "pymalloc:pool_size=64K"
    assert live.environment[VARIABLES["core"]] == _core.__file__
    assert "PYTHONMALLOC" not in live.environment and VARIABLES["report"] not in live.environment


def test_the_fallback_path_runs_the_bootstrap_without_the_shim():
    live = command("pymalloc", path="fallback", kind="script", target="prog.py", args=("a", "b"),
                   base={**BASE, "LD_PRELOAD": f"/x/libasan.so {PRELOAD_LIBRARY}"})
    assert live.argv == [sys.executable, str(BOOTSTRAP), "script", "prog.py", "a", "b"]
    assert preloads(live.environment) == ["/x/libasan.so"]


def test_system_runs_with_pythonmalloc_malloc_and_cpython_as_it_is():
    assert command("system").environment["PYTHONMALLOC"] == "malloc"
    assert command("cpython", base={**BASE, "PYTHONMALLOC": "debug"}).environment["PYTHONMALLOC"] == "debug"


@pytest.mark.skipif(find_library("jemalloc") is None, reason="jemalloc is not installed")
def test_a_library_is_preloaded_first_and_runs_as_system():
    live = command("jemalloc", base={**BASE, "LD_PRELOAD": "/x/libfirst.so"})
    assert preloads(live.environment)[0] == find_library("jemalloc")
    assert preloads(live.environment)[-1] == "/x/libfirst.so"
    assert live.environment["PYTHONMALLOC"] == "malloc"
    assert live.environment[VARIABLES["spec"]] == "system" and live.environment[VARIABLES["label"]] == "jemalloc"


def test_the_report_target_is_absolute_or_stderr(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert command("cpython", report="s.json").environment[VARIABLES["report"]] == str(tmp_path / "s.json")
    assert command("cpython", report="-").environment[VARIABLES["report"]] == "-"
    with pytest.raises(UsageError, match="not a folder"):
        command("cpython", report=tmp_path / "missing" / "s.json")


@pytest.mark.parametrize("label, error", [("pymalloc:pool_size=3K", _core.ConfigError), ("floor", _core.ConfigError),
                                          ("nosuch", UsageError), ("preload:lib.so", UsageError)])
def test_labels_that_cannot_run_are_refused_before_anything_runs(label, error):
    with pytest.raises(error):
        command(label)


def test_the_early_path_needs_an_interpreter_that_imports_py_bytesmain(tmp_path):
    not_elf = tmp_path / "python3"
    not_elf.write_text("#!/bin/sh\n")
    assert not early_path_possible(str(not_elf)) and not early_path_possible("/bin/sh")
    assert not early_path_possible(str(tmp_path / "missing"))
    with pytest.raises(UsageError, match="statically linked"):
        live_command("pymalloc", "module", "x", [], path="early", interpreter=str(not_elf))
    assert live_command("pymalloc", "module", "x", [], interpreter=str(not_elf)).path == "fallback"


def test_the_shim_references_no_python_symbol_and_defines_py_bytesmain():
    symbols = dynamic_symbols(str(PRELOAD_LIBRARY))
    assert symbols["Py_BytesMain"] == "defined"
    assert [name for name, kind in symbols.items() if kind == "imported" and name.lstrip("_").startswith("Py")] == []
    assert dynamic_symbols(_core.__file__)["allocbench_live_start_early"] == "defined"


LABELS = st.sampled_from(["pymalloc", "pymalloc:preset=cpython-3.8", "cpython", "system"])
ENTRIES = st.lists(st.sampled_from(["/a/liba.so", str(PRELOAD_LIBRARY), "/b/libb.so"]), max_size=4)


@given(label=LABELS, path=st.sampled_from(["early", "fallback"]), inherited=ENTRIES)
def test_the_shim_is_preloaded_once_on_the_early_path_and_never_on_the_fallback(label, path, inherited):
    if path == "early" and not EARLY_HERE:
        return
    live = command(label, path=path, base={**BASE, "LD_PRELOAD": " ".join(inherited)})
    entries = preloads(live.environment)
    assert entries.count(str(PRELOAD_LIBRARY)) == (1 if path == "early" else 0)
    assert [e for e in entries if e != str(PRELOAD_LIBRARY)] == [e for e in inherited if e != str(PRELOAD_LIBRARY)]
    assert live.environment[VARIABLES["spec"]] == _core.check_live_spec(label)


def test_read_stats_refuses_what_is_not_a_report(tmp_path):
    with pytest.raises(UsageError, match="no statistics"):
        read_stats(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text(json.dumps({"allocator": "x"}))
    with pytest.raises(UsageError, match="not a live run's statistics"):
        read_stats(tmp_path / "bad.json")


def interpreter_arena_counts() -> tuple[int, int]:
    """sys._debugmallocstats()'s "# arenas allocated total" and "# arenas reclaimed"."""
    with tempfile.TemporaryFile(mode="w+") as captured:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        text = captured.read()

    def counter(message):
        return int(re.search(rf"^{message}\s*=\s*([\d,]+)$", text, re.M).group(1).replace(",", ""))

    return counter("# arenas allocated total"), counter("# arenas reclaimed")


def churn_arenas():
    for round_ in range(4):
        kept = [(i, str(i)) for i in range(80_000 * (round_ + 1))]
        del kept

    def deep(n):
        return 0 if n == 0 else 1 + deep(n - 1)

    threads = [threading.Thread(target=deep, args=(300,)) for _ in range(3)]  # data-stack chunks
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.mark.skipif(_core.Allocator("cpython").debugmallocstats() == "", reason="the interpreter's pymalloc is not in use")
def test_the_arena_observer_counts_what_the_interpreter_reports():
    _core.observe_arenas()
    before, (total_before, reclaimed_before) = _core.arena_observation(), interpreter_arena_counts()
    churn_arenas()
    after, (total_after, reclaimed_after) = _core.arena_observation(), interpreter_arena_counts()
    assert after["arenas_mapped"] - before["arenas_mapped"] == total_after - total_before > 0
    assert after["arenas_unmapped"] - before["arenas_unmapped"] == reclaimed_after - reclaimed_before > 0
    assert after["other_chunks_mapped"] > before["other_chunks_mapped"]  # the size filter was needed
    assert after["valid"] == ""
    times = [t for t, _ in after["timeline"]]
    assert times == sorted(times) and len(times) >= total_after - total_before


@pytest.mark.skipif(_core.live_status() is None or not _core.live_status()["variant_installed"],
                    reason="no variant installed live in this process (ALLOCBENCH_TEST_LIVE)")
def test_the_variant_installed_under_the_test_suite_keeps_its_invariants():
    churn_arenas()
    status = _core.live_status()
    assert status["valid"] == ""
    assert status["path"] == "early" and status["served_share"] >= 0.99
