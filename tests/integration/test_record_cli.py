"""`allocbench record` and `allocbench trace info` through the command line, in subprocesses
of this interpreter (run from tmp_path, so that the installed package is the one imported)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from allocbench.trace import Trace, summarise

pytestmark = pytest.mark.integration

SCRIPT = textwrap.dedent(
    """
    import sys
    rows = [{"id": i, "name": str(i) * 2, "tags": (i, i + 1)} for i in range(3000)]
    rows.sort(key=lambda r: r["name"])
    print("args:", " ".join(sys.argv[1:]), "rows:", len(rows))
    sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    """
)


def allocbench(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "allocbench", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def script(tmp_path):
    # In a folder of its own: the import system lists the script's folder, so traces written
    # beside it would change what the next recording allocates.
    (tmp_path / "program").mkdir()
    path = tmp_path / "program" / "program.py"
    path.write_text(SCRIPT)
    return path


def test_record_passes_output_and_exit_status_through(tmp_path, script):
    out = tmp_path / "p.trace"
    result = allocbench("record", "-o", out, "--", "python", script, "3", "x", cwd=tmp_path)
    assert result.returncode == 3
    assert result.stdout == "args: 3 x rows: 3000\n"
    stats = summarise(out)
    assert stats.ops_by_kind["alloc"] > 3000 and stats.peak_live_objects > 3000
    metadata = Trace(out).metadata
    assert metadata["command"] == ["python", str(script), "3", "x"]
    assert metadata["hash_seed"] == 0 and metadata["domains"] == ["mem", "obj"]
    assert metadata["ops_skipped"]["oversize"] == 0
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


@pytest.mark.parametrize("form", ["zip archive", "bytecode"])
def test_programs_python_runs_that_are_not_source(tmp_path, script, form):
    """A .pyz (a zip archive with __main__.py) and a .pyc run as `python` runs them, and are
    recorded as a script is: the program's output, exit status and ops."""
    import py_compile
    import zipapp

    if form == "zip archive":
        (tmp_path / "app").mkdir()
        (tmp_path / "app" / "__main__.py").write_text(SCRIPT)
        program = tmp_path / "app.pyz"
        zipapp.create_archive(tmp_path / "app", program)
    else:
        program = tmp_path / "program.pyc"
        py_compile.compile(str(script), cfile=str(program), doraise=True)
    out = tmp_path / "p.trace"
    result = allocbench("record", "-o", out, "--", "python", program, "3", "x", cwd=tmp_path)
    plain = subprocess.run([sys.executable, program, "3", "x"], capture_output=True, text=True, cwd=tmp_path)
    assert (result.returncode, result.stdout) == (plain.returncode, plain.stdout) == (3, "args: 3 x rows: 3000\n")
    assert summarise(out).peak_live_objects > 3000


def test_the_same_program_gives_the_same_trace(tmp_path, script):
    summaries = []
    for name in ("a.trace", "b.trace"):
        assert allocbench("record", "-o", tmp_path / name, "--", "python", script, cwd=tmp_path).returncode == 0
        summaries.append(Trace(tmp_path / name).summary)
    assert summaries[0]["op_count"] > 10_000
    assert summaries[0] == summaries[1]  # checksum included: the very same ops


def records_after_the_metadata(path) -> bytes:
    """The trace's records, decoded, as 16-byte records (whatever the format version)."""
    return b"".join(records.tobytes() for _, records in Trace(path).chunks())


def test_recordings_into_paths_of_other_lengths_are_identical_after_the_metadata(tmp_path, script):
    # The output's path used to reach the child on its command line: one character more
    # shifted the heap the program starts from, and with it the garbage collector's timing.
    outputs = [tmp_path / "a.abt", tmp_path / ("b" * 120 + ".abt"), tmp_path / "deeper" / "still" / "c.abt"]
    outputs[2].parent.mkdir(parents=True)
    for output in outputs:
        assert allocbench("record", "-o", output, "--", "python", script, cwd=tmp_path).returncode == 0
    first = records_after_the_metadata(outputs[0])
    assert len(first) > 16 * 10_000
    for output in outputs[1:]:
        assert records_after_the_metadata(output) == first, output.name
    metadata = [Trace(output).metadata for output in outputs]
    assert len({json.dumps(m["ops_skipped"]) for m in metadata}) == 1


def test_record_with_an_empty_profile_function(tmp_path, script):
    plain, profiled = tmp_path / "plain.abt", tmp_path / "profiled.abt"
    assert allocbench("record", "-o", plain, "--", "python", script, cwd=tmp_path).returncode == 0
    done = allocbench("record", "--empty-profile-function", "-o", profiled, "--", "python", script, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert Trace(profiled).metadata["profile_function"] == "empty" and "profile_function" not in Trace(plain).metadata
    # Every Python call now allocates its frame object: the sort's key function alone is 3000 calls.
    assert summarise(profiled).ops_by_kind["alloc"] > summarise(plain).ops_by_kind["alloc"] + 3000


def test_record_a_module(tmp_path):
    (tmp_path / "data.json").write_text(json.dumps({"b": [1, 2, {"c": None}], "a": "x" * 50}))
    out = tmp_path / "m.trace"
    result = allocbench("record", "-o", out, "-m", "json.tool", "--sort-keys", "data.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"a": "x" * 50, "b": [1, 2, {"c": None}]}
    assert result.stdout.index('"a"') < result.stdout.index('"b"')  # --sort-keys reached json.tool
    assert summarise(out).op_count > 0
    assert Trace(out).metadata["command"] == ["-m", "json.tool", "--sort-keys", "data.json"]


def test_a_program_that_raises_still_gets_its_trace(tmp_path):
    program = tmp_path / "boom.py"
    program.write_text("x = [str(i) for i in range(100)]\nraise RuntimeError('boom')\n")
    out = tmp_path / "boom.trace"
    result = allocbench("record", "-o", out, "--", "python", program, cwd=tmp_path)
    assert result.returncode == 1 and "RuntimeError: boom" in result.stderr
    assert summarise(out).ops_by_kind["alloc"] >= 100


def test_a_killed_program_leaves_no_trace_file(tmp_path):
    program = tmp_path / "die.py"
    program.write_text("import os, signal\nx = [str(i) for i in range(100)]\nos.kill(os.getpid(), signal.SIGKILL)\n")
    out = tmp_path / "die.trace"
    result = allocbench("record", "-o", out, "--", "python", program, cwd=tmp_path)
    assert result.returncode == 128 + 9
    assert result.stderr.count("\n") == 1 and "no trace written" in result.stderr
    assert sorted(tmp_path.iterdir()) == [out.parent / "die.py"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into a read-only folder")
def test_unwritable_output_folder_is_one_line_exit_2(tmp_path, script):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    result = allocbench("record", "-o", folder / "x.trace", "--", "python", script, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "cannot write a trace there" in result.stderr


@pytest.mark.parametrize("folder, reason", [("no", "No such file or directory"), ("a_file", "Not a directory")])
def test_output_folder_that_cannot_be_written_is_one_line_exit_2(tmp_path, script, folder, reason):
    (tmp_path / "a_file").write_text("")
    result = allocbench("record", "-o", tmp_path / folder / "x.trace", "--", "python", script, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == f"allocbench record: {tmp_path / folder}: cannot write a trace there: {reason}\n"


@pytest.mark.parametrize(
    "program, message",
    [([], "nothing to record"), (["--", "python", "-X", "dev", "p.py"], "interpreter options are not supported"),
     (["--", "python", "missing.py"], "missing.py: no such script"), (["-m"], "-m needs a module name")],
)
def test_bad_program_is_one_line_exit_2(tmp_path, program, message):
    result = allocbench("record", "-o", tmp_path / "x.trace", *program, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr


def test_trace_info(tmp_path, script):
    out = tmp_path / "p.trace"
    allocbench("record", "-o", out, "--", "python", script, cwd=tmp_path)
    result = allocbench("trace", "info", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    stats = summarise(out)
    assert f"ops        {stats.op_count:,}" in result.stdout
    assert f"peak live  {stats.peak_live_objects:,} objects, {stats.peak_live_bytes:,} bytes" in result.stdout
    assert "by pymalloc size class" in result.stdout and '"hash_seed"' not in result.stdout
    assert "hash_seed" in result.stdout
    as_json = json.loads(allocbench("trace", "info", "--json", out, cwd=tmp_path).stdout)
    assert as_json["peak_live_bytes"] == stats.peak_live_bytes


def test_trace_info_of_a_bad_trace_is_one_line_exit_2(tmp_path, script):
    out = tmp_path / "p.trace"
    allocbench("record", "-o", out, "--", "python", script, cwd=tmp_path)
    out.write_bytes(out.read_bytes()[:-10])
    result = allocbench("trace", "info", out, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"allocbench trace: {out}: op ") and result.stderr.count("\n") == 1
    assert "truncated" in result.stderr


def test_a_program_that_forks_and_uses_threads(tmp_path):
    program = tmp_path / "forks.py"
    program.write_text(textwrap.dedent(
        """
        import os, sys, threading
        def work():
            return [str(i) * 4 for i in range(2000)]
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads: t.start()
        for t in threads: t.join()
        pid = os.fork()
        if pid == 0:
            work()
            sys.exit(0)  # through the bootstrap's clean-up, as a child of a real program would
        _, status = os.waitpid(pid, 0)
        work()
        print("child", os.waitstatus_to_exitcode(status))
        """
    ))
    out = tmp_path / "forks.trace"
    result = allocbench("record", "-o", out, "--", "python", program, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "child 0\n" and result.stderr == ""
    stats = summarise(out)  # the child wrote nothing into the parent's trace
    assert stats.ops_by_kind["alloc"] > 5 * 2000
    assert Trace(out).metadata["recorder"]["ops_recorded"] == stats.op_count
