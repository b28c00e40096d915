"""`allocbench list presets|options|allocators`: what exists, one line each."""

from __future__ import annotations

import argparse

from allocbench._core import options, presets

NAME = "list"
HELP = "list presets, pymalloc options or allocator kinds"

ALLOCATOR_KINDS = {
    "pymalloc": "allocbench's configurable model of CPython's pymalloc (options: see `list options`)",
    "system": "the process's malloc: glibc, or an LD_PRELOADed allocator",
    "cpython": "the running interpreter's own PyObject_Malloc (pymalloc on a default 3.11)",
    "floor": "the least work a valid allocator can do: bump pointer and size-class free lists",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=["presets", "options", "allocators"])


def run(args: argparse.Namespace) -> int:
    if args.what == "presets":
        for preset in presets():
            print(f"{preset['name']:<14} {preset['description']}")
    elif args.what == "options":
        for option in options():
            print(f"{option['name']:<16} default {option['default']:<16} {option['allowed']}: {option['help']}")
    else:
        for kind, description in ALLOCATOR_KINDS.items():
            print(f"{kind:<10} {description}")
    return 0
