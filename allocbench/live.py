"""Running a Python program live on an allocator: the command and environment that do it, and
the reader of the statistics it leaves. `allocbench exec` calls these; so can `run`'s live
mode (build a LiveCommand, start it, read_stats its report).

What each allocator label installs (cpp/live.h):
  pymalloc:...             the variant in MEM and OBJ, through the live shim
  cpython                  the interpreter's own pymalloc, its arenas observed by the shim
  system                   PYTHONMALLOC=malloc: every domain to the C library's malloc
  mimalloc, jemalloc, tcmalloc, preload:/path/lib.so
                           the library in LD_PRELOAD, run as system
In every case the shim writes the report at exit (peak and final RSS at least).

Two paths (cpp/live_startup.h): early, where the interpreter imports Py_BytesMain from
libpython (built with --enable-shared): LD_PRELOAD puts the shim's Py_BytesMain first and the
allocator is in before the interpreter's first allocation; the program runs as `python
SCRIPT` itself. Fallback, for a statically linked interpreter (one that defines Py_BytesMain
itself, as Debian's /usr/bin/python3.x does; sysconfig's Py_ENABLE_SHARED cannot tell, it says
1 there too): the program runs under allocbench/_live_bootstrap.py, which installs a wrapping
hook before running it, and the blocks made at start-up stay with the interpreter's allocator.

The environment is the caller's, with only what the allocator needs changed; processes the
program starts inherit it and run live too (only the program's own process reports).
"""

from __future__ import annotations

import json
import os
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

from allocbench import _core
from allocbench.allocators import AllocatorChoice, resolve
from allocbench.errors import UsageError
from allocbench.outputs import check_output_file

PATHS = ("auto", "early", "fallback")
BOOTSTRAP = Path(__file__).parent / "_live_bootstrap.py"
PRELOAD_LIBRARY = Path(os.path.realpath(_core.__file__)).parent / "liballocbench_preload.so"
VARIABLES = _core.LIVE_VARIABLES  # the environment's names, declared once in cpp/live_preload.h
REPORT_TO_STDERR = "-"


@dataclass(frozen=True)
class LiveCommand:
    argv: list[str]  # the interpreter first
    environment: dict[str, str]
    path: str  # "early" or "fallback"
    choice: AllocatorChoice


def early_path_possible(interpreter: str) -> bool:
    """Whether the interpreter executable imports Py_BytesMain (from libpython), so that a
    preloaded definition is the one its main() calls. False for an executable that defines
    it, has none, or is not a 64-bit ELF file."""
    return dynamic_symbols(os.path.realpath(interpreter)).get("Py_BytesMain") == "imported"


def dynamic_symbols(path: str) -> dict[str, str]:
    """Every name in the ELF64 dynamic symbol table of `path`: "imported" (undefined there) or
    "defined". Empty for a file that cannot be read or is not a 64-bit ELF file."""
    try:
        with open(path, "rb") as executable:
            data = executable.read()
    except OSError:
        return {}
    if data[:4] != b"\x7fELF" or len(data) < 64 or data[4] != 2:
        return {}
    order = "<" if data[5] == 1 else ">"
    symbols = {}
    try:
        (section_offset,) = struct.unpack_from(order + "Q", data, 0x28)
        entry_size, entries = struct.unpack_from(order + "HH", data, 0x3A)
        sections = [struct.unpack_from(order + "IIQQQQIIQQ", data, section_offset + i * entry_size) for i in range(entries)]
        for _, kind, _, _, offset, size, link, _, _, symbol_size in sections:
            if kind != 11 or symbol_size == 0:  # SHT_DYNSYM
                continue
            strings = sections[link][4]
            for i in range(1, size // symbol_size):  # entry 0 is the null symbol
                name_at, _, _, section_index, _, _ = struct.unpack_from(order + "IBBHQQ", data, offset + i * symbol_size)
                start = strings + name_at
                name = data[start:data.index(b"\0", start)].decode("ascii", "replace")
                symbols[name] = "imported" if section_index == 0 else "defined"
    except (struct.error, IndexError, ValueError):
        return {}
    return symbols


def _without_shim(preloads: str) -> list[str]:
    """LD_PRELOAD's entries less the live shim (a program run live that runs allocbench exec
    again: the inner run sets its own)."""
    return [entry for entry in preloads.replace(":", " ").split() if os.path.basename(entry) != PRELOAD_LIBRARY.name]


def live_command(label: str, kind: str, target: str, args: list[str], report: str | os.PathLike | None = None,
                 path: str = "auto", base_environment: dict[str, str] | None = None,
                 interpreter: str = sys.executable) -> LiveCommand:
    """The command that runs the program ("script", PATH or "module", NAME, with `args`) on the
    allocator `label`, and its environment. `report`: None for none, "-" for the dump on
    stderr, else the JSON file to write (checked now, written at exit). Raises ConfigError or
    UsageError, before anything runs, for a label, path or report that cannot be used."""
    choice = resolve(label)
    _core.check_live_spec(choice.spec)
    if path not in PATHS:
        raise UsageError(f"path '{path}': expected one of {', '.join(PATHS)}")
    if path == "auto":
        path = "early" if early_path_possible(interpreter) else "fallback"
    elif path == "early" and not early_path_possible(interpreter):
        raise UsageError(f"{interpreter}: does not import Py_BytesMain from libpython (a statically linked "
                         "interpreter): the early path cannot reach it; use the fallback path")
    if path == "early" and not PRELOAD_LIBRARY.is_file():
        raise UsageError(f"{PRELOAD_LIBRARY}: the live shim is missing; reinstall allocbench")

    environment = dict(os.environ if base_environment is None else base_environment)
    environment[VARIABLES["spec"]] = choice.spec
    environment[VARIABLES["label"]] = choice.label
    environment.pop(VARIABLES["report"], None)
    if report == REPORT_TO_STDERR:
        environment[VARIABLES["report"]] = REPORT_TO_STDERR
    elif report is not None:
        environment[VARIABLES["report"]] = _report_file(Path(report), [Path(target)] if kind == "script" else [])
    environment[VARIABLES["core"]] = _core.__file__
    preloads = [choice.preload] if choice.preload else []
    if path == "early":
        preloads.append(str(PRELOAD_LIBRARY))
    preloads += _without_shim(environment.get("LD_PRELOAD", ""))
    if preloads:
        environment["LD_PRELOAD"] = " ".join(preloads)
    else:
        environment.pop("LD_PRELOAD", None)
    if choice.spec == "system":
        environment["PYTHONMALLOC"] = "malloc"

    program = [target, *args] if kind == "script" else ["-m", target, *args]
    argv = [interpreter, *program] if path == "early" else [interpreter, str(BOOTSTRAP), kind, target, *args]
    return LiveCommand(argv=argv, environment=environment, path=path, choice=choice)


def _report_file(report: Path, inputs: list[Path]) -> str:
    """The statistics file's absolute path (the program may change folders), checked now:
    it is written only when the program ends."""
    check_output_file(report, inputs, what="statistics")
    folder = report.absolute().parent
    if not folder.is_dir():
        raise UsageError(f"{report}: cannot write the statistics there: {folder} is not a folder")
    return str(report.absolute())


def replace_process(command: LiveCommand) -> None:
    """Becomes the program: this process's output, input, exit status and signals are then its own."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os.execve(command.argv[0], command.argv, command.environment)


@dataclass(frozen=True)
class LiveStats:
    """The report a live run writes at exit (cpp/live.cpp, live_report_json): the names are the
    core's. The small-request counts and the variant's figures exist for pymalloc variants,
    the arena observation for cpython."""

    allocator: str  # as the user named it
    spec: str  # the core spec that ran
    path: str  # "early" or "fallback"
    python_allocator: str  # what PYTHONMALLOC selected below (pymalloc, malloc, *_debug)
    debug_hooks: bool
    pid: int
    ended: str  # "finalised" (Py_FinalizeEx ran) or "exited" (it did not: --version, usage errors)
    malloc_library: str
    process_peak_rss_bytes: int | None
    process_rss_bytes_at_exit: int | None
    debug_malloc_stats: str  # the variant's report, or the interpreter's (cpython)
    small_requests: int | None = None
    small_requests_served: int | None = None
    small_blocks_before_install: int | None = None  # fallback: pymalloc's blocks left below
    served_share: float | None = None  # of the program's small requests (cpp/live.h, LiveCounts)
    variant: dict = field(default_factory=dict)
    arenas: dict = field(default_factory=dict)

    def interpreter_counters(self) -> dict[str, int]:
        """The interpreter's own report read back (cpython): "# arenas allocated total" and the rest."""
        parsed = _core.parse_debug_malloc_stats(self.debug_malloc_stats)
        return parsed["counters"] if parsed else {}


def read_stats(path: str | os.PathLike) -> LiveStats:
    """The report at `path`. Raises UsageError when it is missing (the program was killed, or
    ended with os._exit) or is not a report."""
    try:
        data = json.loads(Path(path).read_text())
        return LiveStats(**data)
    except FileNotFoundError:
        raise UsageError(f"{path}: no statistics (the program was killed or ended with os._exit)") from None
    except (OSError, ValueError, TypeError) as error:
        raise UsageError(f"{path}: not a live run's statistics ({error})") from None
