"""The one cache of workload traces: recorded programs and generated patterns, made on first
use and kept under results/traces/ (or --traces DIR) as <workload>-<key>.abt.

The key covers everything the trace depends on: the trace format version and, for a
program, the interpreter's version, the program's text and the recording bootstrap's (what
the recording process holds before the hook goes in shapes the heap the program starts
from); for a pyperformance benchmark, pyperformance's version, the interpreter's, the
benchmark, its loops, the driver's text (its recipes) and the bootstrap's; for a generator,
allocbench's version, the generator, its parameters and seed. A trace is made under a
temporary name and renamed into place only when complete; an interrupted making leaves nothing behind (and
temporaries left by a killed process are removed on the next use of the cache). A cached
trace that cannot be read is made again once; if it still cannot, that is an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path

from allocbench import __version__, _core, pyperformance_suite
from allocbench.errors import UsageError
from allocbench.suites import Workload
from allocbench.workloads import program_path

DEFAULT_CACHE = Path("results") / "traces"
SUFFIX = ".abt"
_PARTIAL = re.compile(r"^\..*\.(\d+)\.partial$")


@dataclass(frozen=True)
class TraceFacts:
    """A workload's trace, read through once (every chunk's checksum and every op checked)."""

    path: Path
    sha256: str
    ops: int
    sizes: dict  # requested size -> count (allocs, callocs, reallocs' new sizes, foreign reallocs)


def cache_key(workload: Workload) -> str:
    from allocbench.recording import BOOTSTRAP

    def text_of(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    if workload.program:
        source = ["program", platform.python_version(), text_of(program_path(workload.program)), text_of(BOOTSTRAP)]
    elif workload.pyperformance:
        source = ["pyperformance", pyperformance_suite.version(), platform.python_version(), workload.pyperformance,
                  workload.params, text_of(pyperformance_suite.DRIVER), text_of(BOOTSTRAP)]
    else:
        source = ["generator", __version__, workload.generator, workload.params, workload.seed]
    return hashlib.sha256(json.dumps([_core.TRACE_VERSION, *source], sort_keys=True).encode()).hexdigest()[:16]


def cached_path(workload: Workload, cache: Path) -> Path:
    return Path(cache) / f"{workload.name}-{cache_key(workload)}{SUFFIX}"


def remove_stale_partials(cache: Path) -> None:
    """Temporaries of processes that no longer run (a kill during a recording)."""
    if not Path(cache).is_dir():
        return
    for entry in Path(cache).iterdir():
        match = _PARTIAL.match(entry.name)
        if match and not _process_alive(int(match.group(1))):
            entry.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def make_trace(workload: Workload, path: Path) -> None:
    """Records or generates the workload's trace into `path`, through a temporary file that
    is removed if anything (Ctrl-C included) stops it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        if workload.program:
            from allocbench.recording import record

            program = str(program_path(workload.program))
            result = record("script", program, [], partial, ["python", program], quiet=True)
            _check_recorded(workload, workload.program, result)
        elif workload.pyperformance:
            from allocbench.recording import record

            loops = str(workload.params["loops"])
            result = record("call", str(pyperformance_suite.DRIVER),
                            [workload.pyperformance, loops, str(pyperformance_suite.benchmarks_folder())], partial,
                            ["pyperformance", workload.pyperformance, f"loops={loops}"], quiet=True,
                            source={"pyperformance": workload.source()})
            _check_recorded(workload, f"pyperformance {workload.pyperformance}", result)
        else:
            from allocbench.generate import generate

            generate(workload.generator, partial, seed=workload.seed, **workload.params)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _check_recorded(workload: Workload, what: str, result) -> None:
    if not result.written or result.status != 0:
        raise UsageError(f"workload '{workload.name}': recording {what} failed "
                         f"(exit status {result.status}){': ' + result.failure if result.failure else ''}")


def trace_facts(path: Path) -> TraceFacts:
    """Reads the whole trace through the core's checks: its sha256, op count and histogram
    of requested sizes. Raises TraceError for a corrupt file."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    scan = _core.scan_trace(path)
    return TraceFacts(path=path, sha256=digest.hexdigest(), ops=scan.ops.total, sizes=dict(scan.request_sizes))


def prepare(workloads: list[Workload], cache: Path, note=lambda text: None) -> dict[str, TraceFacts]:
    """Every workload's trace, made if not cached, and read through once."""
    remove_stale_partials(cache)
    facts = {}
    for workload in workloads:
        path = cached_path(workload, cache)
        for attempt in (1, 2):
            if not path.is_file():
                note(f"{'generating' if workload.kind == 'generator' else 'recording'} the trace of {workload.name}")
                make_trace(workload, path)
            try:
                facts[workload.name] = trace_facts(path)
                break
            except _core.TraceError as error:
                path.unlink(missing_ok=True)
                if attempt == 2:
                    raise UsageError(f"workload '{workload.name}': {error}") from None
    return facts
