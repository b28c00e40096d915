"""Suites and workloads from TOML, allocator labels and discovery."""

from __future__ import annotations

from pathlib import Path

import pytest

from allocbench.allocators import choose, discover, resolve, worker_environment
from allocbench.errors import UsageError
from allocbench.suites import load_suite, suite_names

WORKLOAD = '[w1]\ndescription = "d"\ngenerator = "churn"\nparams = { live = 10, pairs = 10 }\n'


def folder_with(tmp_path: Path, workloads: str, suites: dict[str, str]) -> Path:
    (tmp_path / "suites").mkdir()
    (tmp_path / "workloads.toml").write_text(workloads)
    for name, text in suites.items():
        (tmp_path / "suites" / f"{name}.toml").write_text(text)
    return tmp_path


def test_shipped_suites_load() -> None:
    assert {"small-objects", "fragmentation", "realloc", "programs", "all"} <= set(suite_names())
    everything = {w.name for w in load_suite("all").workloads}
    for name in suite_names():
        assert {w.name for w in load_suite(name).workloads} <= everything
    small = [w.name for w in load_suite("small-objects").workloads]
    assert "churn-random" in small and "json-roundtrip" in small


def test_includes_expand_once_in_order(tmp_path: Path) -> None:
    two = WORKLOAD + WORKLOAD.replace("w1", "w2")
    folder = folder_with(tmp_path, two, {"a": 'workloads = ["w1"]', "b": 'include = ["a"]\nworkloads = ["w2", "w1"]'})
    assert [w.name for w in load_suite("b", folder).workloads] == ["w1", "w2"]


@pytest.mark.parametrize(
    "workloads, suite, message",
    [
        (WORKLOAD, 'workloads = ["w9"]', "unknown workload 'w9'"),
        (WORKLOAD, "workloads = [", "not valid TOML"),
        (WORKLOAD, 'include = ["s"]', "includes itself"),
        (WORKLOAD, 'workloads = []', "has no workloads"),
        (WORKLOAD, 'workload = ["w1"]', "unknown key(s) workload"),
        (WORKLOAD.replace("churn", "churning"), 'workloads = ["w1"]', "unknown generator 'churning'"),
        (WORKLOAD.replace("live", "alive"), 'workloads = ["w1"]', "no parameter 'alive'"),
        ('[w1]\nprogram = "nope.py"\n', 'workloads = ["w1"]', "program nope.py not found"),
        ('[w1]\ndescription = "both"\n', 'workloads = ["w1"]', "exactly one of program, generator or pyperformance"),
    ],
)
def test_broken_suite_files_give_one_clear_line(tmp_path: Path, workloads: str, suite: str, message: str) -> None:
    folder = folder_with(tmp_path, workloads, {"s": suite})
    with pytest.raises(UsageError) as caught:
        load_suite("s", folder)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_unknown_suite_names_the_known_ones(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, WORKLOAD, {"only": 'workloads = ["w1"]'})
    with pytest.raises(UsageError, match=r"unknown suite 'x' \(suites: only\)"):
        load_suite("x", folder)


def test_discovery_finds_installed_libraries(tmp_path: Path) -> None:
    (tmp_path / "libjemalloc.so.2").write_bytes(b"")
    (tmp_path / "libtcmalloc_minimal.so.4").write_bytes(b"")
    found = discover((str(tmp_path),))
    assert [(a.label, a.preload, a.spec, a.discovered) for a in found] == [
        ("jemalloc", str(tmp_path / "libjemalloc.so.2"), "system", True),
        ("tcmalloc", str(tmp_path / "libtcmalloc_minimal.so.4"), "system", True),
    ]
    defaults = choose(None, (str(tmp_path),))
    assert [a.label for a in defaults] == ["pymalloc:preset=cpython-3.11", "cpython", "system", "jemalloc", "tcmalloc"]


def test_asking_for_a_missing_library_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="allocator 'mimalloc': not installed"):
        resolve("mimalloc", (str(tmp_path),))
    with pytest.raises(UsageError, match="given twice"):
        choose(["system", "system"])


def test_a_preloaded_allocator_only_exists_in_its_workers_environment() -> None:
    choice = resolve("preload:/bin/sh")  # any existing absolute path is accepted as a library
    env = worker_environment({"PATH": "/bin", "LD_PRELOAD": "/other.so", "PYTHONMALLOC": "malloc"}, choice.preload)
    assert env == {"PATH": "/bin", "LD_PRELOAD": "/bin/sh"}
    assert worker_environment({"PYTHONMALLOC": "malloc"}, resolve("cpython").preload) == {}
