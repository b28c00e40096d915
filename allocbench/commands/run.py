"""`allocbench run --suite NAME`: every allocator on every workload of a suite.

Modes: --fast for a first look (about 2 minutes for small-objects on 2 cores), the default
for figures you report, --rigorous when differences are small (twice the processes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from allocbench.errors import UsageError
from allocbench.runner import DEFAULT_CELL_TIMEOUT
from allocbench.workloads import DEFAULT_CACHE

NAME = "run"
HELP = "time and measure allocators on a suite of workloads (pyperf + a memory pass)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--suite", default="small-objects", help="suite name (allocbench list suites); default small-objects")
    parser.add_argument(
        "--allocator", "-a", action="append", dest="allocators", metavar="SPEC",
        help="allocator to run (repeatable): a core spec, mimalloc, jemalloc, tcmalloc or preload:/path/lib.so; "
        "default: pymalloc:preset=cpython-3.11, cpython, system and every allocator library found installed",
    )
    parser.add_argument("--baseline", default="cpython", help="allocator the others are compared with (default cpython)")
    speed = parser.add_mutually_exclusive_group()
    speed.add_argument("--fast", action="store_const", const="fast", dest="mode", help="fewer pyperf processes and values")
    speed.add_argument("--rigorous", action="store_const", const="rigorous", dest="mode", help="twice the pyperf processes")
    parser.set_defaults(mode="default")
    parser.add_argument("-o", "--output", type=Path, help="results folder (default results/<timestamp>-<suite>)")
    parser.add_argument("--resume", type=Path, metavar="DIR", help="finish an interrupted run in DIR")
    parser.add_argument("--touch", choices=["none", "first", "all"], default="first",
                        help="how much of each new block the replay writes (default first)")
    parser.add_argument("--traces", type=Path, default=DEFAULT_CACHE,
                        help=f"cache of recorded and generated traces (default {DEFAULT_CACHE})")
    parser.add_argument("--cell-timeout", type=float, default=DEFAULT_CELL_TIMEOUT,
                        help=f"seconds one process may take (default {DEFAULT_CELL_TIMEOUT:g})")
    parser.add_argument("--no-report", action="store_true", help="do not write report.html")


def run(args: argparse.Namespace) -> int:
    from allocbench.progress import Progress
    from allocbench.results import ResultsFolder
    from allocbench.runner import RunRequest, execute, make_plan, new_manifest, prepare_traces
    from allocbench.suites import load_workloads

    progress = Progress()
    if args.resume is not None:
        if args.output is not None or args.allocators:
            raise UsageError("--resume takes the run's own settings: give no --output or --allocator with it")
        folder = ResultsFolder.open(args.resume)
        workloads = load_workloads()
        for entry in folder.manifest["workloads"]:
            if entry["name"] not in workloads:
                raise UsageError(f"{args.resume}: workload '{entry['name']}' is no longer defined")
        facts = prepare_traces([workloads[e["name"]] for e in folder.manifest["workloads"]], args.traces, progress)
    else:
        request = RunRequest(
            suite=args.suite,
            allocators=args.allocators,
            baseline=args.baseline,
            mode=args.mode,
            output=args.output,
            touch=args.touch,
            cell_timeout=args.cell_timeout,
            command=["allocbench", *sys.argv[1:]],
        )
        plan = make_plan(request)
        # Traces first: a workload that cannot be made or read stops the run before any
        # results folder exists.
        facts = prepare_traces(list(plan.suite.workloads), args.traces, progress)
        folder = ResultsFolder.create(plan.output, new_manifest(plan, request))

    status = execute(folder, facts, progress, folder.manifest["cell_timeout"])
    if status == "interrupted":
        print(f"interrupted: finish it with  allocbench run --resume {folder.path}", file=sys.stderr)
        return 130
    if not args.no_report:
        from allocbench.report import write_report

        write_report([folder.path], folder.path / "report.html")
    from allocbench.summary import print_summary

    print_summary(folder, sys.stdout)
    print(f"results: {folder.path}")
    for cell in folder.failures():
        print(f"failed: {cell['allocator']} x {cell['workload']}: {cell['reason']}", file=sys.stderr)
    return 1 if status == "failed" else 0
