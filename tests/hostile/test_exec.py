"""Hostile `allocbench exec` arguments and environments. A bad allocator, program or statistics
file is one line and exit status 2 before the program starts (a marker it would write is
never written); a bad environment gets the interpreter's own error or the shim's one line,
never a crash; what the program is given (arguments that are not UTF-8, an outer live run)
reaches it untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli, refused

from allocbench import _core
from allocbench.live import PRELOAD_LIBRARY, VARIABLES, early_path_possible

EARLY_HERE = early_path_possible(sys.executable)
MARKER_PROGRAM = "import pathlib, sys\npathlib.Path(sys.argv[1]).write_text('ran')\nprint('ran')\n"


@pytest.fixture
def program(tmp_path) -> Path:
    path = tmp_path / "program.py"
    path.write_text(MARKER_PROGRAM)
    return path


def never_started(tmp_path) -> None:
    assert not (tmp_path / "marker").exists(), "the program ran"


BAD_ALLOCATORS = [
    ("nosuch", "allocator 'nosuch': unknown"),
    ("", "allocator '': unknown"),
    ("pymalloc:pool_size=3K", "pool_size=3K"),
    ("pymalloc:pool_size=64K,pool_size=64K", "given twice"),
    ("pymalloc:threshold=4K,pool_size=4K", "threshold=4096"),
    ("floor", "cannot run a program"),
    ("system:x=1", "takes no options"),
    ("preload:relative/lib.so", "not an existing absolute path"),
    ("preload:", "(empty)"),
    ("pymalloc:" + "x" * 5000 + "=1", "pymalloc option 'xxx"),
    ("pymalloc:pool_size=\udcff", "not UTF-8 text"),
]


@pytest.mark.parametrize("allocator, fragment", BAD_ALLOCATORS, ids=[a[:40] for a, _ in BAD_ALLOCATORS])
def test_a_bad_allocator_is_one_line_and_the_program_never_starts(allocator, fragment, program, tmp_path):
    refused(cli("exec", "-a", allocator, "--", "python", program, tmp_path / "marker", cwd=tmp_path), fragment)
    never_started(tmp_path)


BAD_PROGRAMS = [
    ([], "nothing to run"),
    (["--", "python"], "nothing to run"),
    (["--", "python", "-X", "dev", "program.py"], "interpreter options are not supported; run a SCRIPT"),
    (["--", "python", "-c", "pass"], "interpreter options are not supported"),
    (["--", "python", "missing.py"], "missing.py: no such script"),
    (["-m"], "-m needs a module name"),
    (["-m", "json.tool", "--", "python", "program.py"], "not both"),
]


@pytest.mark.parametrize("program_args, fragment", BAD_PROGRAMS, ids=[" ".join(a) or "nothing" for a, _ in BAD_PROGRAMS])
def test_a_bad_program_is_one_line(program_args, fragment, program, tmp_path):
    refused(cli("exec", "-a", "pymalloc", *program_args, cwd=tmp_path), fragment)
    never_started(tmp_path)


def bad_stats(tmp_path, program):
    (tmp_path / "folder").mkdir()
    (tmp_path / "link.json").symlink_to(tmp_path / "elsewhere.json")
    return [
        (tmp_path / "folder", "is a folder"),
        (tmp_path / "link.json", "symbolic link"),
        (Path("/dev/null"), "/dev/null"),
        (program, "is also an input"),
        (tmp_path / "missing" / "s.json", "not a folder"),
        (tmp_path / "program.py" / "s.json", "not a folder"),
    ]


def test_a_bad_statistics_file_is_one_line_and_nothing_is_written(program, tmp_path):
    for stats, fragment in bad_stats(tmp_path, program):
        refused(cli("exec", "-a", "cpython", "--stats", stats, "--", "python", program, tmp_path / "marker",
                    cwd=tmp_path), fragment)
        never_started(tmp_path)
    assert program.read_text() == MARKER_PROGRAM and not (tmp_path / "elsewhere.json").exists()


def test_a_bad_path_choice_is_one_line(program, tmp_path):
    refused(cli("exec", "-a", "pymalloc", "--path", "late", "--", "python", program, cwd=tmp_path), "invalid choice")
    never_started(tmp_path)


def test_arguments_that_are_not_utf8_reach_the_program_untouched(tmp_path):
    script = tmp_path / "argv.py"
    script.write_text("import os, sys\nsys.stdout.buffer.write(b'|'.join(os.fsencode(a) for a in sys.argv[1:]))\n")
    odd = os.fsdecode(b"caf\xe9\xff")
    done = cli("exec", "-a", "pymalloc", "--stats", tmp_path / "s.json", "--", "python", script, odd, "-m", "--stats",
               cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, b"caf\xe9\xff|-m|--stats")


def test_pythonmalloc_that_cpython_refuses_gets_its_own_error(program, tmp_path):
    done = cli("exec", "-a", "pymalloc", "--stats", tmp_path / "s.json", "--", "python", program, tmp_path / "marker",
               cwd=tmp_path, env={"PYTHONMALLOC": "bogus"})
    assert done.returncode == 1 and b"PYTHONMALLOC" in done.stderr and b"Traceback" not in done.stderr
    never_started(tmp_path)
    assert not (tmp_path / "s.json").exists()


def shim_environment(**overrides) -> dict:
    environment = {**os.environ, "LD_PRELOAD": str(PRELOAD_LIBRARY), VARIABLES["core"]: _core.__file__,
                   VARIABLES["spec"]: "pymalloc", VARIABLES["report"]: "-"}
    environment.update(overrides)
    return {k: v for k, v in environment.items() if v is not None}


@pytest.mark.skipif(not EARLY_HERE, reason="this interpreter is statically linked")
@pytest.mark.parametrize("overrides, fragment", [
    ({VARIABLES["spec"]: "pymalloc:arena_size=3"}, "arena_size=3"),
    ({VARIABLES["spec"]: "floor"}, "cannot run a program"),
    ({VARIABLES["core"]: "/nowhere/_core.so"}, "cannot load the core"),
    ({VARIABLES["core"]: None}, "ALLOCBENCH_LIVE_CORE: not set"),
    ({VARIABLES["core"]: "/bin/sh"}, "cannot load the core"),
], ids=["bad spec", "floor", "missing core", "no core", "not a library"])
def test_a_bad_environment_under_the_shim_is_one_line_before_the_program(overrides, fragment, program, tmp_path):
    done = subprocess.run([sys.executable, program, tmp_path / "marker"], env=shim_environment(**overrides),
                          capture_output=True, timeout=60)
    refused(done, fragment)
    never_started(tmp_path)


@pytest.mark.skipif(not EARLY_HERE, reason="this interpreter is statically linked")
def test_processes_that_are_not_this_python_ignore_the_shim(tmp_path):
    done = subprocess.run(["sh", "-c", "echo shell"], env=shim_environment(), capture_output=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"shell\n", b"")
    other = Path(sys.base_prefix).parent / "3.12.1" / "bin" / "python3.12"
    if other.is_file():  # another CPython version: the shim stands aside
        done = subprocess.run([other, "-c", "print('other')"], env=shim_environment(), capture_output=True, timeout=60)
        assert (done.returncode, done.stdout, done.stderr) == (0, b"other\n", b"")


@pytest.mark.skipif(not EARLY_HERE, reason="this interpreter is statically linked")
def test_a_run_inside_a_live_run_installs_its_own_allocator(tmp_path):
    inner = tmp_path / "inner.py"
    inner.write_text("import os\nfrom allocbench import _core\n"
                     "print(_core.live_status()['allocator'], os.environ['LD_PRELOAD'].split().count(os.environ['X_SHIM']))\n")
    outer = tmp_path / "outer.py"
    outer.write_text(f"import subprocess, sys\nsubprocess.run([sys.executable, '-m', 'allocbench', 'exec', '-a', "
                     f"'pymalloc:pool_size=4K', '--stats', {str(tmp_path / 'inner.json')!r}, '--', 'python', {str(inner)!r}])\n")
    done = cli("exec", "-a", "cpython", "--stats", tmp_path / "outer.json", "--", "python", outer, cwd=tmp_path,
               env={"X_SHIM": str(PRELOAD_LIBRARY)})
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"pymalloc:pool_size=4K 1\n"
    assert json.loads((tmp_path / "outer.json").read_text())["allocator"] == "cpython"
    assert json.loads((tmp_path / "inner.json").read_text())["allocator"] == "pymalloc:pool_size=4K"
