"""The rules for files a command reads or writes at a path the user names: the one home on
the Python side of cpp/files.h's rules, which it calls.

An input (a sweep file, a suite, a capture another library reads) is refused, with one line
naming it, unless it is a regular file that opens: a FIFO would block the reader, a device
never ends. An output (`-o`, `--stats`) is refused when it is a folder, a symbolic link, a
device or any other file that is not regular (writing there would replace or damage
something the user never meant to give), or when it is one of the command's inputs
(recording a script into itself would destroy it).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from allocbench import _core
from allocbench.errors import UsageError


def check_output_file(output: Path, inputs: list[Path] = (), what: str = "output") -> Path:
    output = Path(output)
    if output.is_dir() and not output.is_symlink():
        raise UsageError(f"{output}: is a folder; give a file name for the {what}")
    problem = _core.output_path_problem(output)
    if problem:
        raise UsageError(f"{output}: {problem}")
    for source in inputs:
        with contextlib.suppress(OSError):
            if output.exists() and os.path.samefile(output, source):
                raise UsageError(f"{output}: is also an input of the command; give another name for the {what}")
    return output


def check_input_file(path: Path, what: str = "input") -> Path:
    problem = _core.input_path_problem(Path(path))
    if problem:
        raise UsageError(f"{path}: {problem}" + (f" (the {what})" if problem.startswith("not a regular") else ""))
    return Path(path)


def read_input_file(path: Path, what: str = "file") -> bytes:
    """The bytes of a regular file (check_input_file's rule); UsageError (one line) else."""
    if not os.path.lexists(path):
        raise UsageError(f"{path}: no such {what}")
    check_input_file(path, what)
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise UsageError(f"{path}: cannot read the {what}: {error.strerror}") from None
