"""Recording a Python program's allocations into a trace: `record()`, which `allocbench
record` and the trace cache both call.

The program runs in a child process of this very interpreter (allocbench/_record_bootstrap.py)
with PYTHONHASHSEED=0 and, where Linux allows it, address space randomisation off, so that
the same program gives the same trace (sets of objects hash by address: with ASLR on, their
probing, and so when they resize, varies from run to run); and without writing bytecode
caches, so that a first run and a second one import the same way. The child's command line
is the program's own; the trace's path and metadata reach it on a pipe, in a fixed number of
bytes (the path padded with slashes, which Linux reads as one): what the child holds before
the hook goes in shapes the heap the program starts from, and an output path one character
longer used to change the trace. Its output passes through and its exit status is returned. The trace is written to a temporary file beside the output
and renamed only once it is complete, so a recording that fails never leaves a file that
looks finished; a program that exits with an error still gives its trace, marked with its
exit status in the metadata.

The recording hook writes format version 2 with its chunks encoded but not compressed, so that
the program pays for no compression while it runs; once it has ended, the trace is read
through (every chunk decoded and its checksum verified) and written again compressed, as
`allocbench trace convert` does.
"""

from __future__ import annotations

import datetime
import json
import marshal
import os
import platform
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import allocbench
from allocbench import _core
from allocbench.address_space import without_address_randomization
from allocbench.errors import UsageError
from allocbench.outputs import check_output_file

BOOTSTRAP = Path(allocbench.__file__).parent / "_record_bootstrap.py"
HASH_SEED = 0
# The child receives its settings in whole blocks of this many bytes, and the trace's path
# padded to a multiple of PATH_BLOCK (below PATH_MAX, 4096 with its NUL): sizes that do not
# depend on the path's length or on the time of day.
SETTINGS_BLOCK = 4096
PATH_BLOCK = 1024
LONGEST_PATH = 4095
# The pipe's descriptor number, written with a fixed width on the child's command line.
DESCRIPTOR_DIGITS = 10
_INTERPRETER_NAME = re.compile(r"python[0-9.]*$")


@dataclass(frozen=True)
class RecordingResult:
    status: int  # the program's exit status, as a shell reports it (128 + signal when killed)
    written: bool  # a complete trace is at the output
    failure: str | None = None  # why no trace was written, when the bootstrap did not say it itself


def program_to_run(module: list[str] | None, program: list[str], verb: str = "record") -> tuple[str, str, list[str]]:
    """("script", path, args) or ("module", name, args) from the command line (`record`'s and
    `exec`'s: -- python SCRIPT [ARGS] or -m MODULE [ARGS]); `verb` names the command in errors."""
    if module is not None:
        if program:
            raise UsageError("give either -m MODULE or -- python SCRIPT, not both")
        if not module or not module[0]:
            raise UsageError("-m needs a module name")
        return "module", module[0], module[1:]
    if program and _INTERPRETER_NAME.match(os.path.basename(program[0])):
        program = program[1:]  # the interpreter is always this one: sys.executable
    if not program:
        raise UsageError(f"nothing to {verb}: give -- python SCRIPT [ARGS...] or -m MODULE [ARGS...]")
    if program[0] == "-m":
        return program_to_run(program[1:], [], verb)
    if program[0].startswith("-"):
        raise UsageError(f"{program[0]}: interpreter options are not supported; {verb} a SCRIPT or -m MODULE")
    if not os.path.isfile(program[0]):
        raise UsageError(f"{program[0]}: no such script")
    return "script", program[0], program[1:]


def _temporary_trace(output: Path) -> Path:
    """An empty file beside `output` for the recording."""
    try:
        descriptor, name = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".partial")
    except OSError as error:
        raise UsageError(f"{output.parent}: cannot write a trace there: {error.strerror}") from None
    os.close(descriptor)
    return Path(name)


def padded_path(path: Path) -> bytes:
    """The absolute path, extra slashes before its last component bringing it to a multiple of
    PATH_BLOCK bytes (at most LONGEST_PATH): the same file, named in the same number of bytes
    whatever folder it is in."""
    absolute = os.fsencode(os.path.abspath(path))
    folder, name = absolute.rsplit(b"/", 1)
    length = min(-(-len(absolute) // PATH_BLOCK) * PATH_BLOCK, max(LONGEST_PATH, len(absolute)))
    return folder + b"/" * (length - len(folder) - len(name)) + name


def settings_bytes(trace: Path, metadata: dict, empty_profile_function: bool) -> bytes:
    """What the child reads on its settings pipe: marshal data (the metadata in it as JSON
    text), padded with zero bytes to whole blocks."""
    data = marshal.dumps({"trace": os.fsdecode(padded_path(trace)), "metadata": json.dumps(metadata),
                          "empty_profile_function": empty_profile_function})
    return data + bytes(-len(data) % SETTINGS_BLOCK)


def start_child(kind: str, target: str, args: list[str], trace: Path, metadata: dict,
                empty_profile_function: bool = False, stdout=None) -> subprocess.Popen:
    """The bootstrap recording the program into `trace`, started with the recording
    environment (the caller turns address randomisation off around it, where it can)."""
    environment = dict(os.environ, PYTHONHASHSEED=str(HASH_SEED), PYTHONDONTWRITEBYTECODE="1")
    reading, writing = os.pipe()
    try:
        child = subprocess.Popen(
            [sys.executable, str(BOOTSTRAP), f"{reading:0{DESCRIPTOR_DIGITS}d}", kind, target, *args],
            env=environment, stdout=stdout, pass_fds=[reading],
        )
    except BaseException:
        os.close(writing)
        raise
    finally:
        os.close(reading)
    with os.fdopen(writing, "wb") as pipe:
        try:
            pipe.write(settings_bytes(trace, metadata, empty_profile_function))
        except BrokenPipeError:
            pass  # the child died before reading: its exit status says so
    return child


def record(kind: str, target: str, args: list[str], output: Path, command: list[str],
           quiet: bool = False, empty_profile_function: bool = False, source: dict | None = None) -> RecordingResult:
    """Records the program into `output`. `quiet`: the program's standard output goes
    nowhere (the trace cache's own programs); else it passes through. `kind` is script,
    module or call (target: a file whose prepare(*args) returns the function to record).
    `empty_profile_function`: record with a profile function that does nothing installed, as
    memray's tracker installs one (on CPython 3.11 every Python call then allocates a frame
    object), so that the trace compares with a memray capture of the same program. `source`:
    metadata keys that say where the program comes from."""
    output = check_output_file(Path(output), [Path(target)] if kind in ("script", "call") else [], what="trace")
    temporary = _temporary_trace(output)
    compressed = _temporary_trace(output)
    try:
        with without_address_randomization() as randomization_off:
            metadata = {
                "python_version": platform.python_version(),
                "python_implementation": platform.python_implementation(),
                "command": command,
                "domains": ["mem", "obj"],
                "hash_seed": HASH_SEED,
                "address_randomization": not randomization_off,
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "allocbench_version": allocbench.__version__,
            }
            if empty_profile_function:
                metadata["profile_function"] = "empty"
            metadata.update(source or {})
            child = start_child(kind, target, args, temporary, metadata, empty_profile_function,
                                stdout=subprocess.DEVNULL if quiet else None)
        status = _wait(child)
        if not temporary.exists():
            return RecordingResult(status, written=False)  # the bootstrap refused the program and said why
        try:
            _core.copy_trace(temporary, compressed, _core.TRACE_VERSION)
        except _core.TraceError as error:
            failure = str(error).removeprefix(f"{temporary}: ").removeprefix(f"{compressed}: ")
            return RecordingResult(status, written=False, failure=failure)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(compressed, 0o666 & ~umask)  # mkstemp made it private; a trace is an ordinary file
        os.replace(compressed, output)
        return RecordingResult(status, written=True)
    finally:
        temporary.unlink(missing_ok=True)
        compressed.unlink(missing_ok=True)


def _wait(child: subprocess.Popen) -> int:
    """The child's exit status, as a shell reports it (128 + signal for a killed child).
    Ctrl-C reaches the child too, which stops and finishes its trace: we wait for it."""
    while True:
        try:
            status = child.wait()
            break
        except KeyboardInterrupt:
            continue
    return 128 - status if status < 0 else status
