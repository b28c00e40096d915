"""`allocbench record -o FILE -- python SCRIPT [ARGS...]` or `... -o FILE -m MODULE [ARGS...]`:
run a Python program with the recording hook on and write its allocation trace.

The program runs in a child process of this very interpreter, with PYTHONHASHSEED=0 and,
where Linux allows it, address space randomisation off, so that the same program gives the
same trace (sets of objects hash by address: with ASLR on, their probing, and so when they
resize, varies from run to run); and without writing bytecode caches, so that a first run
and a second one import the same way. Its output passes through and its exit status is ours. The
trace is written to a temporary file beside FILE and renamed only once it is complete, so a
recording that fails never leaves a file that looks finished.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import allocbench
from allocbench._core import TraceError, TraceReader
from allocbench.errors import UsageError

NAME = "record"
HELP = "run a Python program and record its allocations (MEM and OBJ domains) into a trace"
BOOTSTRAP = Path(allocbench.__file__).parent / "_record_bootstrap.py"
HASH_SEED = 0
ADDR_NO_RANDOMIZE = 0x0040000  # <sys/personality.h>
QUERY_PERSONALITY = 0xFFFFFFFF
_INTERPRETER_NAME = re.compile(r"python[0-9.]*$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", required=True, metavar="FILE", help="the trace to write")
    parser.add_argument("-m", dest="module", nargs=argparse.REMAINDER, metavar="MODULE [ARGS]",
                        help="run a module, as python -m does")
    parser.add_argument("program", nargs=argparse.REMAINDER, metavar="-- python SCRIPT [ARGS]",
                        help="the script to run (after --) and its arguments")


def program_to_run(module: list[str] | None, program: list[str]) -> tuple[str, str, list[str]]:
    """("script", path, args) or ("module", name, args) from the command line."""
    if module is not None:
        if program:
            raise UsageError("give either -m MODULE or -- python SCRIPT, not both")
        if not module:
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
    """An empty file beside `output` for the recording; OSError (exit 2) if the folder cannot
    take one."""
    if output.is_dir():
        raise UsageError(f"{output}: is a folder; give a file name for the trace")
    try:
        descriptor, name = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".partial")
    except OSError as error:
        raise UsageError(f"{output.parent}: cannot write a trace there: {error.strerror}") from None
    os.close(descriptor)
    return Path(name)


@contextlib.contextmanager
def _without_address_randomization():
    """While inside, programs this process starts run with ASLR off (the personality flag is
    inherited through fork and exec). Yields whether that could be arranged: not outside
    Linux, nor where a seccomp policy forbids it."""
    try:
        personality = ctypes.CDLL(None, use_errno=True).personality
    except (OSError, AttributeError):
        yield False
        return
    previous = personality(QUERY_PERSONALITY)
    changed = previous != -1 and personality(previous | ADDR_NO_RANDOMIZE) != -1
    try:
        yield changed and personality(QUERY_PERSONALITY) & ADDR_NO_RANDOMIZE != 0
    finally:
        if changed:
            personality(previous)


def record(kind: str, target: str, args: list[str], output: Path, command: list[str],
           stdout: int | None = None) -> tuple[int, str | None]:
    """Records the program into `output`; returns its exit status and, when no trace was
    written, why not. `stdout` as for subprocess (None: the program's output passes through)."""
    temporary = _temporary_trace(output)
    environment = dict(os.environ, PYTHONHASHSEED=str(HASH_SEED), PYTHONDONTWRITEBYTECODE="1")
    try:
        with _without_address_randomization() as randomization_off:
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
                [sys.executable, str(BOOTSTRAP), str(temporary), json.dumps(metadata), kind, target, *args],
                env=environment,
                stdout=stdout,
            )
        status = _wait(child)
        try:
            TraceReader(str(temporary))
        except TraceError as error:
            return status, str(error).removeprefix(f"{temporary}: ")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp made it private; a trace is an ordinary file
        os.replace(temporary, output)
        return status, None
    finally:
        temporary.unlink(missing_ok=True)


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


def run(args: argparse.Namespace) -> int:
    program = args.program[1:] if args.program[:1] == ["--"] else args.program
    kind, target, program_args = program_to_run(args.module, program)
    command = ["-m", *args.module] if args.module is not None else program
    status, failure = record(kind, target, program_args, Path(args.output), command)
    if failure is not None:
        print(f"allocbench record: {args.output}: no trace written: {failure}", file=sys.stderr)
        return status or 2
    return status

