"""`allocbench spec SPEC`: validate an allocator spec, as `run` reads it, and print its full
configuration (a preloaded library: the file that would be preloaded)."""

from __future__ import annotations

import argparse
import json

HELP = "validate an allocator spec and print its full configuration"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help='e.g. "pymalloc:preset=cpython-3.11,pool_size=64K", system, jemalloc, preload:/path/lib.so')


def run(args: argparse.Namespace) -> int:
    from allocbench.allocators import resolve

    choice = resolve(args.spec)
    print(json.dumps({**choice.config, "spec": choice.spec}, indent=2))
    return 0
