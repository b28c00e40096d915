"""The workload programs shipped with allocbench, and their recorded traces.

Programs live in workloads/programs/ (a source checkout) or allocbench/workloads/programs/
(an installed wheel, put there by CMakeLists.txt's install rule). Their traces are recorded
on first use and cached, keyed by the Python version and a hash of the program's text, so a
changed program or interpreter is recorded anew and nothing big is committed. Concurrent
users are safe: each recording goes to a temporary file renamed into place once complete.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from pathlib import Path

import allocbench
from allocbench.errors import UsageError

DEFAULT_CACHE = Path("results") / "traces"


def shipped_folder() -> Path:
    """The workloads allocbench ships: allocbench/workloads in an installed wheel (put there by
    CMakeLists.txt's install rule), the top-level workloads/ of a source checkout."""
    package = Path(allocbench.__file__).parent
    for candidate in (package / "workloads", package.parent / "workloads"):
        if (candidate / "workloads.toml").is_file():
            return candidate
    raise UsageError(f"no workloads folder beside {package} (is allocbench installed?)")


def workloads_folder() -> Path:
    """$ALLOCBENCH_WORKLOADS (a folder with your own workloads.toml, suites/ and programs/)
    when set, else the shipped workloads."""
    own = os.environ.get("ALLOCBENCH_WORKLOADS")
    if own:
        if not (Path(own) / "workloads.toml").is_file():
            raise UsageError(f"ALLOCBENCH_WORKLOADS={own}: no workloads.toml there")
        return Path(own)
    return shipped_folder()


def programs() -> list[str]:
    return sorted(path.stem for path in (workloads_folder() / "programs").glob("*.py"))


def program_path(name: str) -> Path:
    path = workloads_folder() / "programs" / f"{name}.py"
    if not path.is_file():
        raise UsageError(f"{name}: no such workload program (there are: {', '.join(programs())})")
    return path


def cached_trace_path(name: str, cache: str | Path = DEFAULT_CACHE) -> Path:
    digest = hashlib.sha256(program_path(name).read_bytes()).hexdigest()[:16]
    return Path(cache) / f"{name}-py{platform.python_version()}-{digest}.trace"


def recorded_trace(name: str, cache: str | Path = DEFAULT_CACHE) -> Path:
    """The trace of workload program `name`, recorded now if not cached (or if the cached
    file cannot be read, e.g. written by an older trace format)."""
    # Imported here: every `allocbench` command imports this module (for DEFAULT_CACHE),
    # and only recording needs numpy and the recorder.
    from allocbench.commands.record import record
    from allocbench.trace import Trace, TraceError

    path = cached_trace_path(name, cache)
    try:
        Trace(path)
        return path
    except TraceError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    program = str(program_path(name))
    status, failure = record("script", program, [], path, ["python", program], stdout=subprocess.DEVNULL)
    if failure is not None or status != 0:
        raise UsageError(f"{name}: recording failed (exit status {status}){': ' + failure if failure else ''}")
    return path
