"""Recording a Python program's allocations into a trace: `record()`, which `allocbench
record` and the trace cache both call.

The program runs in a child process of this very interpreter (allocbench/_record_bootstrap.py)
with PYTHONHASHSEED=0 and, where Linux allows it, address space randomisation off, so that
the same program gives the same trace (sets of objects hash by address: with ASLR on, their
probing, and so when they resize, varies from run to run); and without writing bytecode
caches, so that a first run and a second one import the same way. Its output passes through
and its exit status is returned. The trace is written to a temporary file beside the output
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
_INTERPRETER_NAME = re.compile(r"python[0-9.]*$")


@dataclass(frozen=True)
class RecordingResult:
    status: int  # the program's exit status, as a shell reports it (128 + signal when killed)
    written: bool  # a complete trace is at the output
    failure: str | None = None  # why no trace was written, when the bootstrap did not say it itself


def program_to_run(module: list[str] | None, program: list[str]) -> tuple[str, str, list[str]]:
    """("script", path, args) or ("module", name, args) from the command line."""
    if module is not None:
        if program:
            raise UsageError("give either -m MODULE or -- python SCRIPT, not both")
        if not module or not module[0]:
            raise UsageError("-m needs a module name")
        return "module", module[0], module[1:]
    if program and _INTERPRETER_NAME.match(os.path.basename(program[0])):
        program = program[1:]  # the interpreter is always this one: sys.executable
    if not program:
        raise UsageError("nothing to record: give -- python SCRIPT [ARGS...] or -m MODULE [ARGS...]")
    if program[0] == "-m":
        return program_to_run(program[1:], [])
    if program[0].startswith("-"):
        raise UsageError(f"{program[0]}: interpreter options are not supported; record a SCRIPT or -m MODULE")
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


def record(kind: str, target: str, args: list[str], output: Path, command: list[str],
           quiet: bool = False) -> RecordingResult:
    """Records the program into `output`. `quiet`: the program's standard output goes
    nowhere (the trace cache's own programs); else it passes through."""
    output = check_output_file(Path(output), [Path(target)] if kind == "script" else [], what="trace")
    temporary = _temporary_trace(output)
    compressed = _temporary_trace(output)
    environment = dict(os.environ, PYTHONHASHSEED=str(HASH_SEED), PYTHONDONTWRITEBYTECODE="1")
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
            child = subprocess.Popen(
                [sys.executable, str(BOOTSTRAP), os.fsencode(temporary), json.dumps(metadata), kind, target, *args],
                env=environment,
                stdout=subprocess.DEVNULL if quiet else None,
            )
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
