"""`allocbench spec SPEC`: validate an allocator spec and print its full configuration."""

from __future__ import annotations

import argparse
import json

from allocbench._core import parse_spec

NAME = "spec"
HELP = "validate an allocator spec and print its full configuration"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help='e.g. "pymalloc:preset=cpython-3.11,pool_size=64K"')


def run(args: argparse.Namespace) -> int:
    print(json.dumps(parse_spec(args.spec), indent=2))
    return 0
