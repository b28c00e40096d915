"""A program run from the same starting point under memray and under allocbench's recorder,
for benchmarks/memray_round_trip.py.

`memray run` imports a good part of the standard library (its own command line, runpy,
pathlib, ...) before it starts tracking, and `allocbench record` almost none: a program's own
imports then cost ops on one side and none on the other. Here both sides first import what the
program imports and collect garbage, then only running the program is recorded:

    python memray_same_start.py PROGRAM CAPTURE      memray's Tracker (with Python allocators) around it
    allocbench's recorder: kind `call` of this file, prepare(PROGRAM)
"""

import ast
import gc
import importlib
import runpy
import sys


def prepare(program):
    """Imports the program's top-level modules; returns the run of the program."""
    with open(program) as source:
        tree = ast.parse(source.read())
    for node in tree.body:
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
        for name in names:
            importlib.import_module(name)
    return lambda: runpy.run_path(program, run_name="__main__")


def main():
    program, capture = sys.argv[1:3]
    import memray

    run = prepare(program)
    gc.collect()
    with memray.Tracker(capture, trace_python_allocators=True):
        run()


if __name__ == "__main__":
    main()
