"""Where workloads live: the folder of workloads.toml, suites/ and programs/.

The shipped folder is workloads/ of a source checkout, or allocbench/workloads in an
installed wheel (put there by CMakeLists.txt's install rule); ALLOCBENCH_WORKLOADS points at
a folder of your own instead. Traces of the programs are made by allocbench.trace_cache.
"""

from __future__ import annotations

import os
from pathlib import Path

import allocbench
from allocbench.errors import UsageError


def shipped_folder() -> Path:
    """The workloads allocbench ships."""
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
    """The file names of the workload programs."""
    return sorted(path.name for path in (workloads_folder() / "programs").glob("*.py"))


def program_path(file_name: str) -> Path:
    """A workload program by its file name (json_roundtrip.py)."""
    path = workloads_folder() / "programs" / file_name
    if not path.is_file():
        raise UsageError(f"{file_name}: no such workload program (there are: {', '.join(programs())})")
    return path
