"""The pyperformance suite's rules (allocbench.pyperformance_suite, suites.py): which benchmarks
can run here and why the others cannot, how workloads of them are declared and checked, what
the trace cache's key covers."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from allocbench import pyperformance_suite
from allocbench.errors import UsageError
from allocbench.suites import Workload, load_suite, load_workloads
from allocbench.trace_cache import cache_key


def benchmark_folder(root: Path, name: str, dependencies: str = '["pyperf"]', source: str = "import json\n",
                     requires: str = ">=3.8") -> pyperformance_suite.Benchmark:
    folder = root / f"bm_{name}"
    folder.mkdir()
    (folder / "pyproject.toml").write_text(textwrap.dedent(f"""
        [project]
        name = "pyperformance_bm_{name}"
        requires-python = "{requires}"
        dependencies = {dependencies}
        """))
    (folder / "run_benchmark.py").write_text(source)
    return pyperformance_suite.Benchmark(name, folder)


def test_a_benchmark_of_the_standard_library_can_run(tmp_path):
    assert pyperformance_suite.missing(benchmark_folder(tmp_path, "plain", source="import json, re\nimport pyperf\n")) is None


def test_what_a_benchmark_needs_and_cannot_have_is_its_reason(tmp_path):
    packages = benchmark_folder(tmp_path, "packages", dependencies='["pyperf", "no-such-package-here>=1", "No_Such.Package-Here"]')
    assert pyperformance_suite.missing(packages) == "needs no-such-package-here (not installed)"
    requirements = benchmark_folder(tmp_path, "requirements")
    (requirements.folder / "requirements.txt").write_text("# pinned\nanother-missing-package==1.0\n")
    assert pyperformance_suite.missing(requirements) == "needs another-missing-package (not installed)"
    modules = benchmark_folder(tmp_path, "modules", source="import os\ntry:\n    import no_such_module_here\nexcept ImportError:\n    pass\n")
    assert pyperformance_suite.missing(modules) == "imports no_such_module_here, which is not importable here"
    python = benchmark_folder(tmp_path, "python", requires=">=3.99")
    assert pyperformance_suite.missing(python) == "needs Python >=3.99"


def test_a_file_beside_the_benchmark_is_not_a_missing_module(tmp_path):
    sibling = benchmark_folder(tmp_path, "sibling", source="import helper_beside_it\n")
    (sibling.folder / "helper_beside_it.py").write_text("")
    assert pyperformance_suite.missing(sibling) is None


def workloads_folder(tmp_path: Path, entry: str) -> Path:
    (tmp_path / "suites").mkdir()
    (tmp_path / "workloads.toml").write_text(entry)
    (tmp_path / "suites" / "pp.toml").write_text('description = "pyperformance"\nworkloads = ["pp-richards"]\n')
    return tmp_path


@pytest.mark.parametrize("entry, message", [
    ('[pp-richards]\npyperformance = "no_such_benchmark"\nparams = { loops = 1 }\n', "no recipe for the pyperformance benchmark 'no_such_benchmark'"),
    ('[pp-richards]\npyperformance = "richards"\n', "params = { loops = N }"),
    ('[pp-richards]\npyperformance = "richards"\nparams = { loops = 0 }\n', "params = { loops = N }"),
    ('[pp-richards]\npyperformance = "richards"\nparams = { loops = true }\n', "params = { loops = N }"),
    ('[pp-richards]\npyperformance = "richards"\nparams = { loops = 1, size = 3 }\n', "params = { loops = N }"),
    ('[pp-richards]\npyperformance = "richards"\ngenerator = "churn"\nparams = { loops = 1 }\n', "exactly one of"),
])
def test_a_pyperformance_workload_is_checked_where_it_is_declared(tmp_path, entry, message):
    with pytest.raises(UsageError, match=message.replace("{", r"\{").replace("}", r"\}")):
        load_workloads(workloads_folder(tmp_path, entry))


def test_without_pyperformance_the_suite_is_listed_with_its_workloads_skipped(tmp_path, monkeypatch):
    folder = workloads_folder(tmp_path, '[pp-richards]\npyperformance = "richards"\nparams = { loops = 2 }\n')
    monkeypatch.setattr(pyperformance_suite, "installed", lambda: None)
    suite = load_suite("pp", folder, runnable=False)
    assert suite.workloads == () and suite.skipped == (("pp-richards", "pyperformance is not installed "
                                                                        "(pip install 'allocbench[pyperformance]')"),)
    with pytest.raises(UsageError, match=r"suite 'pp': no workload of it can be made here \(pp-richards: "
                                         r"pyperformance is not installed"):
        load_suite("pp", folder)


def test_the_cache_key_covers_the_benchmark_its_loops_and_pyperformances_version(monkeypatch):
    one = Workload("w", "", pyperformance="richards", params={"loops": 1})
    keys = {cache_key(one), cache_key(Workload("w", "", pyperformance="richards", params={"loops": 2})),
            cache_key(Workload("w", "", pyperformance="go", params={"loops": 1}))}
    monkeypatch.setattr(pyperformance_suite, "version", lambda: "0.0-another")
    keys.add(cache_key(one))
    assert len(keys) == 4


def test_the_cache_key_of_a_recording_covers_the_recording_bootstrap(monkeypatch, tmp_path):
    """What the recording process holds before the hook goes in shapes the trace: another
    bootstrap makes another trace of the same program."""
    from allocbench import recording

    workloads = [Workload("p", "", program="word_count.py"), Workload("w", "", pyperformance="richards", params={"loops": 1})]
    before = [cache_key(w) for w in workloads]
    other = tmp_path / "_record_bootstrap.py"
    other.write_bytes(recording.BOOTSTRAP.read_bytes() + b"\n# another bootstrap\n")
    monkeypatch.setattr(recording, "BOOTSTRAP", other)
    assert all(cache_key(w) != key for w, key in zip(workloads, before))


def test_every_recipe_names_a_benchmark_of_the_installed_pyperformance():
    if pyperformance_suite.installed() is None:
        pytest.skip("pyperformance is not installed")
    listed = {b.name for b in pyperformance_suite.manifest()}
    for name in pyperformance_suite.recipes():
        assert pyperformance_suite.unavailable(name) is None, name
        assert pyperformance_suite.driver.RECIPES[name].manifest_name in listed, name


def test_the_shipped_suite_declares_each_recipe_once():
    suite, workloads = load_suite("pyperformance", runnable=False), load_workloads()
    names = [w.name for w in suite.workloads] + [name for name, _ in suite.skipped]
    assert sorted(workloads[name].pyperformance for name in names) == pyperformance_suite.recipes()
