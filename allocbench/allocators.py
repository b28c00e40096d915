"""The allocators a run can compare, by label: the core's specs, and shared-library allocators
run as the `system` allocator of a worker process started with LD_PRELOAD.

Labels:
  pymalloc[:key=value,...], system, cpython, floor   the core's specs (see `allocbench list options`)
  mimalloc, jemalloc, tcmalloc                       an installed library, found by name
  preload:/path/to/lib.so                            any other malloc replacement

A preloaded library cannot be loaded into a running process safely (jemalloc crashes when
dlopen'ed: its TLS model), so it is only ever named in the environment of a new process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from allocbench._core import parse_spec
from allocbench.errors import UsageError

# Library file names of the allocators allocbench knows, as Debian installs them.
KNOWN_LIBRARIES = {
    "mimalloc": ("libmimalloc.so.2", "libmimalloc.so"),
    "jemalloc": ("libjemalloc.so.2", "libjemalloc.so"),
    "tcmalloc": ("libtcmalloc_minimal.so.4", "libtcmalloc.so.4", "libtcmalloc_minimal.so"),
}
LIBRARY_DIRS = (
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/lib/x86_64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
)
DEFAULT_LABELS = ("pymalloc:preset=cpython-3.11", "cpython", "system")
CORE_KINDS = ("pymalloc", "system", "cpython", "floor")


@dataclass(frozen=True)
class AllocatorChoice:
    label: str  # what the user wrote, or the default name: the key in every result
    spec: str  # the canonical core spec the worker builds
    config: dict = field(hash=False)  # the full configuration, for the manifest
    preload: str | None = None  # LD_PRELOAD for the worker process
    discovered: bool = False  # found by default discovery rather than asked for

    def to_manifest(self) -> dict:
        return {
            "label": self.label,
            "spec": self.spec,
            "config": self.config,
            "preload": self.preload,
            "discovered": self.discovered,
        }


# What a worker process keeps of its parent's environment: what finds the interpreter and
# its packages, and the locale. Nothing else, so that a worker's environment (and with it the
# address layout its allocations follow) is the same whatever started it: the command line,
# a thread pool, or a Dask worker that sets variables of its own.
WORKER_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "PYTHONPATH", "PYTHONHOME")


def worker_environment(base: dict[str, str], preload: str | None) -> dict[str, str]:
    """The environment of a worker process: the parent's WORKER_ENVIRONMENT variables, the
    interpreter's default allocators (no PYTHONMALLOC), and LD_PRELOAD only when the
    allocator is a preloaded library."""
    env = {k: v for k, v in base.items() if k in WORKER_ENVIRONMENT}
    if preload:
        env["LD_PRELOAD"] = preload
    return env


def find_library(name: str, search_dirs: tuple[str, ...] = LIBRARY_DIRS) -> str | None:
    for directory in search_dirs:
        for file_name in KNOWN_LIBRARIES[name]:
            candidate = Path(directory) / file_name
            if candidate.is_file():
                return str(candidate)
    return None


def _preloaded(label: str, path: str, discovered: bool) -> AllocatorChoice:
    return AllocatorChoice(
        label=label,
        spec="system",
        config={"allocator": "system", "preload": path},
        preload=path,
        discovered=discovered,
    )


def resolve(label: str, search_dirs: tuple[str, ...] = LIBRARY_DIRS) -> AllocatorChoice:
    """The allocator a label names. Raises ConfigError for a bad core spec and UsageError for a
    library that is not installed."""
    label = label.strip()
    if not label.isascii() and label.encode("utf-8", "surrogateescape") != label.encode("utf-8", "replace"):
        raise UsageError(f"allocator '{label[:200]}': not UTF-8 text (a spec is ASCII words and numbers)")
    if label in KNOWN_LIBRARIES:
        path = find_library(label, search_dirs)
        if path is None:
            raise UsageError(
                f"allocator '{label}': not installed (looked for {', '.join(KNOWN_LIBRARIES[label])} "
                f"in {', '.join(search_dirs)})"
            )
        return _preloaded(label, path, discovered=False)
    if label.startswith("preload:"):
        path = label[len("preload:"):]
        if not os.path.isabs(path) or not os.path.isfile(path):
            raise UsageError(f"allocator '{label}': {path or '(empty)'} is not an existing absolute path to a library")
        return _preloaded(label, path, discovered=False)
    if label.partition(":")[0].strip() not in CORE_KINDS:
        raise UsageError(f"allocator '{label[:200]}': unknown; expected pymalloc[:key=value,...], "
                         f"{', '.join(CORE_KINDS[1:])}, {', '.join(KNOWN_LIBRARIES)} or preload:/path/lib.so")
    config = parse_spec(label)
    return AllocatorChoice(label=label, spec=config.pop("spec"), config=config)


def is_preloaded(label: str) -> bool:
    """Whether a label names a library that only a new process can run (LD_PRELOAD)."""
    label = label.strip()
    return label in KNOWN_LIBRARIES or label.startswith("preload:")


def discover(search_dirs: tuple[str, ...] = LIBRARY_DIRS) -> list[AllocatorChoice]:
    """The known shared-library allocators installed on this machine."""
    found = []
    for name in KNOWN_LIBRARIES:
        path = find_library(name, search_dirs)
        if path is not None:
            found.append(_preloaded(name, path, discovered=True))
    return found


def choose(labels: list[str] | None, search_dirs: tuple[str, ...] = LIBRARY_DIRS) -> list[AllocatorChoice]:
    """The allocators of a run: those asked for, or the defaults plus every library found.
    Every label is resolved before anything runs, so a bad one stops the run at once."""
    if labels:
        chosen = [resolve(label, search_dirs) for label in labels]
    else:
        chosen = [resolve(label, search_dirs) for label in DEFAULT_LABELS] + discover(search_dirs)
    seen: set[str] = set()
    for choice in chosen:
        if choice.label in seen:
            raise UsageError(f"allocator '{choice.label}' given twice")
        seen.add(choice.label)
    return chosen


def file_label(label: str) -> str:
    """A file-name-safe form of a label (for pyperf/<allocator>.json)."""
    safe = "".join(c if c.isalnum() or c in "-_.=" else "_" for c in label)
    return safe.strip("._") or "allocator"
