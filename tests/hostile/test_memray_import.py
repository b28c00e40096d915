"""Hostile memray captures for `allocbench import memray`: each is refused with one line and
exit status 2, and no trace is left behind. The captures are made here, by memray itself, from
a small program, then damaged: cut short (lz4 and uncompressed), a header whose tracker never
finished, made without --trace-python-allocators or with --aggregate, not a capture at all,
special files, an output that is the input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli, refused

pytest.importorskip("memray")

PROGRAM = "rows = [{'id': i, 'name': str(i) * 2} for i in range(2000)]\nrows.sort(key=lambda r: r['name'])\n"
COUNTS_AT = 17  # memray's header version 13: n_allocations, a little-endian u64


def memray_run(folder: Path, name: str, *options: str) -> Path:
    capture = folder / name
    subprocess.run([sys.executable, "-m", "memray", "run", *options, "-q", "-f", "-o", str(capture),
                    str(folder / "program.py")], check=True, capture_output=True, timeout=120)
    return capture


@pytest.fixture(scope="session")
def captures(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("memray-captures")
    (folder / "program.py").write_text(PROGRAM)
    return {
        "lz4": memray_run(folder, "lz4.bin", "--trace-python-allocators"),
        "uncompressed": memray_run(folder, "plain.bin", "--trace-python-allocators", "--no-compress"),
        "no python allocators": memray_run(folder, "libc.bin"),
        "aggregated": memray_run(folder, "aggregated.bin", "--trace-python-allocators", "--aggregate"),
    }


def refused_without_a_trace(tmp_path: Path, capture, *fragments: str) -> str:
    output = tmp_path / "out.abt"
    line = refused(cli("import", "memray", capture, "-o", output), *fragments)
    assert not output.exists()
    assert not [p for p in output.parent.iterdir() if p.name.endswith(".partial")]
    return line


def test_a_good_capture_is_imported(captures, tmp_path):
    done = cli("import", "memray", captures["lz4"], "-o", tmp_path / "good.abt")
    assert done.returncode == 0, done.stderr
    assert cli("trace", "info", tmp_path / "good.abt").returncode == 0


def test_a_capture_without_python_allocator_records_says_how_to_make_one(captures, tmp_path):
    refused_without_a_trace(tmp_path, captures["no python allocators"], "without --trace-python-allocators",
                            "memray run --trace-python-allocators")


def test_an_aggregated_capture_is_refused(captures, tmp_path):
    refused_without_a_trace(tmp_path, captures["aggregated"], "--aggregate", "memray run --trace-python-allocators")


@pytest.mark.parametrize("kind", ["lz4", "uncompressed"])
@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999])
def test_a_capture_cut_short_is_refused(captures, tmp_path, kind, keep):
    data = captures[kind].read_bytes().rstrip(b"\0")  # an uncompressed capture ends in zero padding
    cut = tmp_path / "cut.bin"
    cut.write_bytes(data[:int(len(data) * keep)])
    refused_without_a_trace(tmp_path, cut, str(cut), "truncated")


def test_a_capture_whose_tracker_never_finished_is_refused(captures, tmp_path):
    data = bytearray(captures["uncompressed"].read_bytes())
    data[COUNTS_AT:COUNTS_AT + 8] = bytes(8)  # as memray leaves the header until the tracker stops
    killed = tmp_path / "killed.bin"
    killed.write_bytes(bytes(data))
    refused_without_a_trace(tmp_path, killed, "never finished")


@pytest.mark.parametrize("content", [b"", b"hello, not a capture\n" * 10, os.urandom(4096),
                                     b"memray\x00" + os.urandom(200), b"\x04\x22\x4d\x18" + os.urandom(300)],
                         ids=["empty", "text", "random", "memray magic then noise", "lz4 magic then noise"])
def test_what_is_not_a_capture_is_refused(tmp_path, content):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(content)
    refused_without_a_trace(tmp_path, bad, str(bad))


def test_an_allocbench_trace_is_not_a_capture(captures, tmp_path):
    trace = tmp_path / "trace.abt"
    assert cli("import", "memray", captures["lz4"], "-o", trace).returncode == 0
    refused(cli("import", "memray", trace, "-o", tmp_path / "again.abt"), "not a memray capture")


def test_special_files_and_missing_ones_are_named(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    refused_without_a_trace(tmp_path, fifo, "not a regular file (a FIFO)")
    refused_without_a_trace(tmp_path, "/dev/zero", "not a regular file (a character device)")
    refused_without_a_trace(tmp_path, tmp_path, "a directory")
    refused_without_a_trace(tmp_path, tmp_path / "missing.bin", "cannot open")


def test_the_output_may_not_be_the_capture_a_folder_or_a_device(captures, tmp_path):
    before = captures["lz4"].read_bytes()
    refused(cli("import", "memray", captures["lz4"], "-o", captures["lz4"]), "is also an input")
    assert captures["lz4"].read_bytes() == before
    refused(cli("import", "memray", captures["lz4"], "-o", tmp_path), "is a folder")
    refused(cli("import", "memray", captures["lz4"], "-o", "/dev/null"), "not a regular file")


def test_a_missing_output_option_and_an_unknown_source_are_one_line(captures):
    refused(cli("import", "memray", captures["lz4"]), "-o")
    refused(cli("import", "heaptrack", captures["lz4"], "-o", "x.abt"), "invalid choice")


def test_without_memray_installed_the_line_says_how_to_install_it(captures, tmp_path):
    # A package that fails to import, first on the path, is what an interpreter without
    # memray shows the importer.
    shadow = tmp_path / "shadow" / "memray"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named memray')\n")
    done = cli("import", "memray", captures["lz4"], "-o", tmp_path / "x.abt",
               env={"PYTHONPATH": str(shadow.parent)})
    refused(done, "memray is not installed", "pip install 'allocbench[memray]'")
