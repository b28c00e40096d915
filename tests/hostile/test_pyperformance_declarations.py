"""Hostile pyperformance workloads: declarations that name no recipe or take bad loops, and a
suite run where pyperformance is missing. Each is one line and exit status 2, before any
results folder exists."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli, refused


def folder_with(tmp_path: Path, entry: str) -> Path:
    folder = tmp_path / "workloads"
    (folder / "suites").mkdir(parents=True)
    (folder / "workloads.toml").write_text(entry)
    (folder / "suites" / "pp.toml").write_text('description = "pyperformance"\nworkloads = ["pp"]\n')
    return folder


@pytest.mark.parametrize("entry, fragment", [
    ('[pp]\npyperformance = "../../etc/passwd"\nparams = { loops = 1 }\n', "no recipe for the pyperformance benchmark"),
    ('[pp]\npyperformance = "richards"\nparams = { loops = -3 }\n', "params = { loops = N }"),
    ('[pp]\npyperformance = "richards"\nparams = { loops = "many" }\n', "params = { loops = N }"),
    ('[pp]\npyperformance = ["richards"]\nparams = { loops = 1 }\n', "no recipe for the pyperformance benchmark"),
    ('[pp]\npyperformance = "richards"\nprogram = "x.py"\nparams = { loops = 1 }\n', "exactly one of"),
])
def test_bad_declarations_are_one_line(tmp_path, entry, fragment):
    env = {"ALLOCBENCH_WORKLOADS": str(folder_with(tmp_path, entry))}
    refused(cli("list", "workloads", env=env), fragment)
    refused(cli("run", "--suite", "pp", "--fast", "-o", tmp_path / "out", env=env, cwd=tmp_path), fragment)
    assert not (tmp_path / "out").exists()


def test_a_suite_run_without_pyperformance_says_how_to_install_it(tmp_path):
    # The CLI itself, in a process where the installed pyperformance is not found.
    program = ("import sys\nfrom allocbench import pyperformance_suite\npyperformance_suite.installed = lambda: None\n"
               "from allocbench.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    done = subprocess.run([sys.executable, "-c", program, "run", "--suite", "pyperformance", "--fast", "-o", "out"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    refused(done, "suite 'pyperformance': no workload of it can be made here",
            "pip install 'allocbench[pyperformance]'")
    assert not (tmp_path / "out").exists()
    listed = subprocess.run([sys.executable, "-c", program, "list", "suites"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert listed.returncode == 0 and "pyperformance   0 workloads (20 skipped here" in listed.stdout
