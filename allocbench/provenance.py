"""What a results folder records about where it was made: the clock, the machine, the
versions of what measured. Every result keeps these beside the full configs it ran."""

from __future__ import annotations

import datetime as dt
import os
import platform
import socket
import sys

from allocbench import __version__


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def machine_facts() -> dict:
    memory = 0
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        pass
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_bytes": memory,
    }


def python_facts() -> dict:
    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
    }


def package_versions(extra: tuple[str, ...] = ()) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"allocbench": __version__}
    for name in ("pyperf", "numpy", "pandas", "seaborn", "matplotlib", "scipy", "rich", *extra):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out
