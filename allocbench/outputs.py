"""The rules for files a command reads or writes at a path the user names: the one home on
the Python side of cpp/files.h's rules, which it calls or mirrors.

An output (`-o`, `--stats`) is refused, with one line naming it, when it is a folder, a
symbolic link, a device or any other file that is not regular (writing there would replace
or damage something the user never meant to give), or when it is one of the command's
inputs (recording a script into itself would destroy it). An input (a sweep file, a suite)
must be a regular file: a FIFO would block the reader forever.
"""

from __future__ import annotations

import contextlib
import os
import stat
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


def read_input_file(path: Path, what: str = "file") -> bytes:
    """The bytes of a regular file; UsageError (one line) for anything else."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such {what}") from None
    except OSError as error:
        raise UsageError(f"{path}: cannot open the {what}: {error.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = _core.file_type_name(mode) if hasattr(_core, "file_type_name") else "not a regular file"
            raise UsageError(f"{path}: the {what} is not a regular file ({kind})")
        with os.fdopen(fd, "rb", closefd=False) as file:
            return file.read()
    finally:
        os.close(fd)
