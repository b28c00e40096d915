"""`allocbench list suites|workloads|allocators|presets|options`: what exists, one line each."""

from __future__ import annotations

import argparse

from allocbench._core import options, presets

NAME = "list"
HELP = "list suites, workloads, allocators, presets or pymalloc options"

ALLOCATOR_KINDS = {
    "pymalloc": "allocbench's configurable model of CPython's pymalloc (options: see `list options`)",
    "system": "the process's malloc: glibc, or an LD_PRELOADed allocator",
    "cpython": "the running interpreter's own PyObject_Malloc (pymalloc on a default 3.11)",
    "floor": "the least work a valid allocator can do: bump pointer and size-class free lists",
    "mimalloc, jemalloc, tcmalloc": "an installed library, run as `system` in a worker started with LD_PRELOAD",
    "preload:/path/lib.so": "any other malloc replacement, the same way",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=["suites", "workloads", "allocators", "presets", "options"])


def run(args: argparse.Namespace) -> int:
    if args.what == "suites":
        from allocbench.suites import load_suite, suite_names

        for name in suite_names():
            suite = load_suite(name)
            print(f"{name:<14} {len(suite.workloads):>2} workloads: {suite.description}")
    elif args.what == "workloads":
        from allocbench.suites import load_workloads

        for workload in load_workloads().values():
            print(f"{workload.name:<22} {workload.kind:<9} {workload.description}")
    elif args.what == "allocators":
        from allocbench.allocators import discover

        for kind, description in ALLOCATOR_KINDS.items():
            print(f"{kind:<28} {description}")
        for found in discover():
            print(f"{found.label:<28} installed: {found.preload}")
    elif args.what == "presets":
        for preset in presets():
            print(f"{preset['name']:<14} {preset['description']}")
    else:
        for option in options():
            print(f"{option['name']:<16} default {option['default']:<16} {option['allowed']}: {option['help']}")
    return 0
