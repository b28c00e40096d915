"""`allocbench list suites|workloads|allocators|presets|options`: what exists, one line each.
`allocbench list options --markdown` prints the option table as the README shows it."""

from __future__ import annotations

import argparse

from allocbench.allocators import KNOWN_LIBRARIES

HELP = "list suites, workloads, allocators, presets or pymalloc options"

ALLOCATOR_KINDS = {
    "pymalloc": "allocbench's configurable model of CPython's pymalloc (options: see `list options`)",
    "system": "the process's malloc: glibc, or an LD_PRELOADed allocator",
    "cpython": "the running interpreter's own PyObject_Malloc (pymalloc on a default 3.11)",
    "floor": "the least work a valid allocator can do: bump pointer and size-class free lists",
    ", ".join(KNOWN_LIBRARIES): "an installed library, run as `system` in a worker started with LD_PRELOAD",
    "preload:/path/lib.so": "any other malloc replacement, the same way",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=["suites", "workloads", "allocators", "presets", "options"])
    parser.add_argument("--markdown", action="store_true", help="options: the README's Markdown table")


def option_range(option: dict) -> str:
    """An option's kind and range, from the core's typed table."""
    if option["kind"] == "word":
        return "word: " + " | ".join(option["words"])
    if option["kind"] == "word or keep:N":
        return "word: " + " | ".join(option["words"]) + f" | keep:N ({option['min']}..{option['max']})"
    if option["kind"] == "bytes in steps":
        return f"bytes: multiples of {option['step']}, {option['min']}..{option['max']}"
    return f"bytes: powers of two, {option['min']}..{option['max']}"


def options_markdown(options: list[dict]) -> str:
    lines = ["| option | default | kind and range | what |", "|---|---|---|---|"]
    lines += [f"| `{o['name']}` | `{o['default']}` | {option_range(o)} | {o['help']} |" for o in options]
    return "\n".join(lines)


def _list_workloads() -> None:
    """Each workload, what it is and where it comes from; those that cannot be made here with
    the reason; then pyperformance's benchmarks that no workload records, and why."""
    from allocbench import pyperformance_suite
    from allocbench.suites import load_workloads

    workloads = load_workloads()
    for workload in workloads.values():
        reason = workload.unavailable()
        skipped = f"; skipped here: {reason}" if reason else ""
        print(f"{workload.name:<34} {workload.kind:<13} {workload.description} (from: {workload.origin()}{skipped})")
    if pyperformance_suite.installed() is None:
        return
    recorded = {w.pyperformance for w in workloads.values() if w.pyperformance}
    left_out = [(b.name, pyperformance_suite.not_in_suite(b, recorded)) for b in pyperformance_suite.manifest()]
    left_out = [(name, reason) for name, reason in left_out if reason]
    for name, reason in left_out:
        print(f"{name:<34} {'not recorded':<13} pyperformance {pyperformance_suite.version()} benchmark: {reason}")


def run(args: argparse.Namespace) -> int:
    from allocbench import _core

    if args.what == "suites":
        from allocbench.suites import load_suite, suite_names

        for name in suite_names():
            suite = load_suite(name, runnable=False)
            skipped = f" ({len(suite.skipped)} skipped here: see `list workloads`)" if suite.skipped else ""
            print(f"{name:<14} {len(suite.workloads):>2} workloads{skipped}: {suite.description}")
    elif args.what == "workloads":
        _list_workloads()
    elif args.what == "allocators":
        from allocbench.allocators import discover

        for kind, description in ALLOCATOR_KINDS.items():
            print(f"{kind:<28} {description}")
        for found in discover():
            print(f"{found.label:<28} installed: {found.preload}")
    elif args.what == "presets":
        for preset in _core.presets():
            print(f"{preset['name']:<14} {preset['description']}")
    elif args.markdown:
        print(options_markdown(_core.options()))
    else:
        for option in _core.options():
            print(f"{option['name']:<16} default {option['default']:<16} {option_range(option)}: {option['help']}")
    return 0
