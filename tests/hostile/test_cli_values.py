"""Hostile command lines: bad values, bad targets, bad programs, closed or full outputs, and
allocators that are not what they claim. Each gets its one line and exit status 2 (leaving
nothing behind), or a failed cell with the reason, or the documented behaviour."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import cli, refused

import allocbench


def nothing_left(folder: Path, before: set) -> None:
    assert set(folder.rglob("*")) == before, "something was left behind"


@pytest.mark.parametrize("timeout", ["nan", "-1", "0", "inf", "-inf", "-0"],
                         ids=["item 12: nan", "item 18: -1", "item 18: 0", "inf", "-inf", "-0"])
def test_items_12_18_bad_cell_timeouts_leave_no_folder(timeout, tmp_path, run_env):
    before = set(tmp_path.rglob("*"))
    refused(cli("run", "--suite", "tiny", "--fast", "-o", "out", f"--cell-timeout={timeout}", cwd=tmp_path, env=run_env),
            "--cell-timeout", "a number of seconds above 0")
    nothing_left(tmp_path, before)


RUN_VALUES = [
    (["--suite", "nosuch"], "unknown suite 'nosuch'"),
    (["--suite", ""], "unknown suite ''"),
    (["--suite", "../../etc/passwd"], "unknown suite"),
    (["--suite", "tiny", "-a", "pymalloc:pool_size=3K"], "pool_size=3K"),
    (["--suite", "tiny", "-a", "pymalloc", "-a", "pymalloc"], "given twice"),
    (["--suite", "tiny", "-a", "nosuch"], "allocator 'nosuch': unknown"),
    (["--suite", "tiny", "-a", "preload:relative/lib.so"], "not an existing absolute path"),
    (["--suite", "tiny", "-a", "preload:"], "(empty)"),
    (["--suite", "tiny", "-a", "system", "--baseline", "floor"], "baseline 'floor'"),
    (["--suite", "tiny", "--jobs", "0"], "--jobs 0: at least 1"),
    (["--suite", "tiny", "-o", "/proc/allocbench-out"], "/proc/allocbench-out"),
    (["--suite", "tiny", "--cell-timeout", "soon"], "invalid float value"),
    (["--suite", "tiny", "--touch", "most"], "invalid choice"),
]


@pytest.mark.parametrize("args, fragment", RUN_VALUES, ids=[" ".join(a) for a, _ in RUN_VALUES])
def test_bad_run_requests_are_one_line_and_leave_no_folder(args, fragment, tmp_path, run_env):
    before = set(tmp_path.rglob("*"))
    refused(cli("run", "--fast", *args, cwd=tmp_path, env=run_env), fragment)
    nothing_left(tmp_path, before)


def test_item_13_recording_a_module_that_does_not_exist(tmp_path):
    refused(cli("record", "-o", tmp_path / "x.abt", "-m", "no_such_module", cwd=tmp_path),
            "no module named 'no_such_module'")
    assert list(tmp_path.iterdir()) == [], "a trace (or its temporary) was left"


def test_a_failed_program_gives_a_trace_marked_with_its_status(tmp_path):
    script = tmp_path / "fails.py"
    script.write_text("x = [str(i) for i in range(1000)]\nraise SystemExit(3)\n")
    done = cli("record", "-o", tmp_path / "x.abt", "--", sys.executable, script, cwd=tmp_path)
    assert done.returncode == 3
    info = cli("trace", "info", tmp_path / "x.abt", "--json", text=True)
    assert json.loads(info.stdout)["metadata"]["program_exit_status"] == 3


def test_item_16_recording_a_script_into_itself(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("print('hello')\n")
    refused(cli("record", "-o", script, "--", sys.executable, script, cwd=tmp_path), "is also an input")
    assert script.read_text() == "print('hello')\n"


@pytest.fixture()
def symlink_target(tmp_path) -> tuple[Path, Path]:
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    link = tmp_path / "link.html"
    link.symlink_to(target)
    return link, target


def test_item_15_outputs_that_are_not_regular_files_are_refused(tmp_path, symlink_target, results):
    link, target = symlink_target
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    script = tmp_path / "s.py"
    script.write_text("pass\n")
    for output, fragment in ((link, "is a symbolic link"), (fifo, "not a regular file (a FIFO)"),
                             (Path("/dev/null"), "not a regular file (a character device)")):
        refused(cli("report", results, "-o", output, timeout=60), str(output), fragment)
        refused(cli("record", "-o", output, "--", sys.executable, script, timeout=60), str(output), fragment)
        refused(cli("generate", "churn", "-o", output, "pairs=10", "live=5", timeout=60), str(output), fragment)
    assert target.read_text() == "keep me" and link.is_symlink()
    assert stat.S_ISFIFO(fifo.stat().st_mode) and stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert not list(tmp_path.glob(".*.partial"))


def test_item_14_show_with_standard_output_closed(results):
    done = subprocess.run(["sh", "-c", f'exec "{sys.executable}" -m allocbench show "{results}" >&-'],
                          capture_output=False, stderr=subprocess.PIPE, text=True, timeout=60)
    refused(done, "standard output is closed")


def test_item_28_show_into_a_full_disk(results):
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "allocbench", "show", str(results)], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    line = refused(done, "No space left on device")
    assert ": :" not in line and "cannot write the output" in line


def test_item_24_spec_knows_every_run_allocator():
    for label in ("mimalloc", "jemalloc", "tcmalloc"):
        done = cli("spec", label, text=True)
        if done.returncode == 2:  # not installed here: said so, not "unknown"
            assert "not installed" in done.stderr and "unknown" not in done.stderr
            continue
        assert done.returncode == 0, done.stderr
        config = json.loads(done.stdout)
        assert config["allocator"] == "system" and label in config["preload"]
    done = cli("spec", "preload:/etc/passwd", text=True)
    assert done.returncode == 0 and json.loads(done.stdout)["preload"] == "/etc/passwd"
    refused(cli("spec", "preload:/no/such.so"), "not an existing absolute path")
    line = refused(cli("spec", "mimaloc"), "unknown")
    assert "mimalloc" in line and "preload:" in line


def test_item_27_a_huge_spec_is_elided_in_its_error():
    spec = "pymalloc:pool_size=" + "9" * 100_000
    for args in (("spec", spec), ("replay", "/dev/null", "-a", spec)):
        line = refused(cli(*args, timeout=60))
        assert len(line) < 500 and "elided" in line
    with pytest.raises(allocbench.ConfigError) as caught:
        allocbench.parse_spec(spec)
    assert len(str(caught.value)) < 500


@pytest.mark.parametrize("spec", ["pymalloc:pool_size=16K\n1", "pymalloc:\x01", "pymalloc:pool_size=\x1b[31m",
                                  "pymalloc:" + "a=b," * 1000, "pymalloc:preset=cpython-3.11,preset=cpython-3.9",
                                  "PYMALLOC", " pymalloc : ", "system:x=1", "cpython:", "floor:pool_size=4K"])
def test_odd_specs_are_one_printable_line(spec):
    line = refused(cli("spec", spec))
    assert all(ord(c) >= 0x20 for c in line)


def test_a_nul_in_a_spec_is_shown_escaped():
    with pytest.raises(allocbench.ConfigError) as caught:
        allocbench.parse_spec("pymalloc:pool_size=\x00")
    assert "\\x00" in str(caught.value)


def test_item_19_a_preload_that_is_not_an_allocator_fails_its_cells(tmp_path, run_env):
    libz = next(p for p in ("/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1",
                            "/lib/aarch64-linux-gnu/libz.so.1", "/usr/lib64/libz.so.1") if os.path.isfile(p))
    done = cli("run", "--suite", "one", "--fast", "--no-report", "-o", "out", "-a", "cpython",
               "-a", "preload:/etc/passwd", "-a", f"preload:{libz}", cwd=tmp_path, env=run_env, text=True)
    assert done.returncode == 1, done.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    for cell in manifest["cells"]:
        if cell["allocator"] == "cpython":
            assert cell["time"] == cell["memory"] == "done"
            continue
        assert cell["time"] == cell["memory"] == "failed", cell
        reasons = cell["reasons"]
        assert "did not replace malloc" in reasons["memory"] and "did not replace malloc" in reasons["time"]
        if "passwd" in cell["allocator"]:
            assert "cannot be preloaded" in reasons["memory"]  # the loader's own message
    assert set(allocbench.load(tmp_path / "out").allocator) == {"cpython"}


def test_item_30_a_cell_failing_in_both_phases_keeps_both_reasons(tmp_path, run_env, crash_library):
    done = cli("run", "--suite", "one", "--fast", "--no-report", "-o", "out", "-a", f"preload:{crash_library}",
               cwd=tmp_path, env=run_env, text=True)
    assert done.returncode == 1, done.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    (cell,) = manifest["cells"]
    assert cell["time"] == cell["memory"] == "failed"
    assert "SIGSEGV" in cell["reasons"]["memory"] and cell["reasons"]["time"]
    assert "memory: " in done.stderr and "time: " in done.stderr


def test_item_17_a_run_whose_every_cell_failed_is_shown_with_its_reasons(tmp_path, run_env, crash_library):
    done = cli("run", "--suite", "tiny", "--fast", "-o", "out", "-a", f"preload:{crash_library}",
               cwd=tmp_path, env=run_env, text=True)
    assert done.returncode == 1, done.stderr
    assert "not a complete results folder" not in done.stderr and "Traceback" not in done.stderr
    assert done.stderr.count("failed: preload:") == 2
    shown = cli("show", tmp_path / "out", text=True)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count("SIGSEGV") >= 2 and "status: failed" in shown.stdout
    assert (tmp_path / "out" / "report.html").is_file()


def test_item_29_an_interrupted_trace_generation_leaves_no_temporary(tmp_path, workloads):
    big = workloads.parent / "big-workloads"
    (big / "suites").mkdir(parents=True, exist_ok=True)
    (big / "workloads.toml").write_text('[big]\ndescription = "big"\ngenerator = "churn"\n'
                                        'params = { live = 100000, pairs = 5000000 }\n')
    (big / "suites" / "big.toml").write_text('description = "big"\nworkloads = ["big"]\n')
    env = {**os.environ, "ALLOCBENCH_WORKLOADS": str(big)}
    cache = tmp_path / "traces"
    run = subprocess.Popen([sys.executable, "-m", "allocbench", "run", "--suite", "big", "--traces", str(cache), "-o", "out"],
                           cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (cache.is_dir() and any(cache.iterdir())):
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    _, stderr = run.communicate(timeout=300)
    assert run.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert not cache.is_dir() or not list(cache.iterdir()), list(cache.iterdir())
    assert not (tmp_path / "out").exists()

def test_item_29_temporaries_of_a_killed_process_are_removed_by_the_next_run(tmp_path, run_env):
    cache = tmp_path / "traces"
    cache.mkdir()
    stale = cache / ".big-0123456789abcdef.abt.999999999.partial"
    stale.write_bytes(b"x" * 1000)
    cli("run", "--suite", "one", "--fast", "--no-report", "-o", "out", "-a", "floor", "--cell-timeout", "0.001",
        "--traces", cache, cwd=tmp_path, env=run_env)
    assert not stale.exists() and [p.suffix for p in cache.iterdir()] == [".abt"]


@pytest.mark.parametrize("args, fragment", [
    (("generate", "nosuch", "-o", "x.abt"), "unknown generator 'nosuch'"),
    (("generate", "churn", "-o", "x.abt", "live=-1"), "live=-1"),
    (("generate", "churn", "-o", "x.abt", "live"), "expected NAME=VALUE"),
    (("generate", "churn", "-o", "x.abt", "sizes=table:/dev/urandom"), "sizes"),
    (("generate", "churn", "-o", "/proc/x.abt"), "/proc/x.abt"),
    (("generate", "churn", "-o", "x.abt", "--seed", "-1"), "seed"),
    (("replay", "x.abt", "-a", "system", "--repeat", "0"), "--repeat 0"),
    (("replay", "x.abt", "-a", "jemalloc"), "runs only in the worker processes"),
    (("record", "-o", "x.abt"), "nothing to record"),
    (("record", "-o", "x.abt", "--", "python", "-c", "pass"), "interpreter options are not supported"),
    (("record", "-o", "x.abt", "--", "python", "nosuch.py"), "no such script"),
    (("record", "-o", "x.abt", "-m"), "-m needs a module name"),
    (("trace", "info", "nosuch.abt"), "cannot open"),
    (("list", "things"), "invalid choice"),
    (("show",), "the following arguments are required"),
], ids=lambda v: " ".join(v) if isinstance(v, tuple) else None)
def test_other_bad_command_lines(args, fragment, tmp_path):
    (tmp_path / "x.abt").write_bytes(b"")
    before = set(tmp_path.rglob("*"))
    refused(cli(*args, cwd=tmp_path, timeout=60), fragment)
    nothing_left(tmp_path, before)
