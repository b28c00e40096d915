"""`allocbench run --suite NAME`: every allocator on every workload of a suite.

Speed: --fast for a first look (about 2 minutes for small-objects on 2 cores), the default
for figures you report, --rigorous when differences are small (twice the processes).
--mode: replay the workloads' traces (the default), run the suite's programs live on each
allocator, or both side by side (allocbench/run_modes.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from allocbench.allocators import KNOWN_LIBRARIES
from allocbench.commands._shared import finish
from allocbench.errors import UsageError
from allocbench.plan import DEFAULT_CELL_TIMEOUT
from allocbench.run_modes import LIVE, REPLAY, RUN_MODES, workload_mode
from allocbench.trace_cache import DEFAULT_CACHE

HELP = "time and measure allocators on a suite of workloads (pyperf + a memory pass)"
# What defines a run: given again with --resume, it would contradict the run's own.
RUN_SETTINGS = ("suite", "allocators", "baseline", "mode", "run_mode", "output", "touch", "cell_timeout")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--suite", help="suite name (allocbench list suites); default small-objects")
    parser.add_argument(
        "--allocator", "-a", action="append", dest="allocators", metavar="SPEC",
        help=f"allocator to run (repeatable): a core spec, {', '.join(KNOWN_LIBRARIES)} or preload:/path/lib.so; "
        "default: pymalloc:preset=cpython-3.11, cpython, system and every allocator library found installed",
    )
    parser.add_argument("--baseline", help="allocator the others are compared with (default cpython)")
    speed = parser.add_mutually_exclusive_group()
    speed.add_argument("--fast", action="store_const", const="fast", dest="mode", help="fewer pyperf processes and values")
    speed.add_argument("--rigorous", action="store_const", const="rigorous", dest="mode", help="twice the pyperf processes")
    parser.add_argument("--mode", dest="run_mode", choices=RUN_MODES,
                        help="replay the workloads' traces (default), run the suite's programs live on each "
                        "allocator (allocbench exec), or both, side by side in the report")
    parser.add_argument("-o", "--output", type=Path, help="results folder (default results/<timestamp>-<suite>)")
    parser.add_argument("--resume", type=Path, metavar="DIR", help="finish an interrupted run in DIR, with its own settings")
    parser.add_argument("--touch", choices=["none", "first", "all"],
                        help="how much of each new block the timed replays write (default first)")
    parser.add_argument("--traces", type=Path, default=DEFAULT_CACHE,
                        help=f"cache of recorded and generated traces (default {DEFAULT_CACHE})")
    parser.add_argument("--cell-timeout", type=float, metavar="SECONDS",
                        help=f"seconds one process may take (default {DEFAULT_CELL_TIMEOUT:g})")
    parser.add_argument("--jobs", "-j", type=int, metavar="N",
                        help="memory cells measured at once, each in a process of its own (default: the core count); "
                        "timing always runs one cell at a time")
    parser.add_argument("--no-report", action="store_true", help="do not write report.html")


def run(args: argparse.Namespace) -> int:
    from allocbench.executors import LocalExecutor, default_jobs
    from allocbench.plan import RunRequest, make_plan, new_manifest
    from allocbench.progress import Progress
    from allocbench.results import ResultsFolder
    from allocbench.runner import execute, resume
    from allocbench.suites import load_workloads
    from allocbench.trace_cache import prepare

    jobs = default_jobs() if args.jobs is None else args.jobs
    if jobs < 1:
        raise UsageError(f"--jobs {jobs}: at least 1")
    progress = Progress()
    if args.resume is not None:
        given = [name for name in RUN_SETTINGS if getattr(args, name) is not None]
        if given:
            raise UsageError(f"--resume takes the run's own settings: give no {', '.join('--' + g.replace('_', '-') for g in given)} with it")
        folder = resume(args.resume)
        if folder.manifest.get("kind") == "sweep":
            raise UsageError(f"{args.resume}: a sweep's results folder: finish it with allocbench sweep --resume")
        workloads = load_workloads()
        replayed = [e["name"] for e in folder.manifest["workloads"] if workload_mode(e) == REPLAY]
        missing = [name for name in replayed if name not in workloads]
        if missing:
            raise UsageError(f"{args.resume}: workload '{missing[0]}' is no longer defined")
        programs = [e["program"] for e in folder.manifest["workloads"] if workload_mode(e) == LIVE]
        gone = [program for program in programs if not Path(program).is_file()]
        if gone:
            raise UsageError(f"{args.resume}: the live workload's program {gone[0]} is no longer there")
        facts = prepare([workloads[name] for name in replayed], args.traces, progress.note)
    else:
        request = RunRequest(
            suite="small-objects" if args.suite is None else args.suite,
            allocators=args.allocators,
            baseline="cpython" if args.baseline is None else args.baseline,
            mode=args.mode or "default",
            run_mode=args.run_mode or REPLAY,
            output=args.output,
            touch=args.touch or "first",
            cell_timeout=DEFAULT_CELL_TIMEOUT if args.cell_timeout is None else args.cell_timeout,
        )
        plan = make_plan(request)
        for workload, reason in plan.suite.skipped:
            progress.note(f"skipped {workload}: {reason}")
        for workload, reason in plan.not_live:
            progress.note(f"not run live: {workload}: {reason}")
        # Traces first: a workload that cannot be made or read stops the run before any
        # results folder exists.
        facts = prepare(plan.replayed, args.traces, progress.note)
        folder = ResultsFolder.create(plan.output, new_manifest(plan, ["allocbench", *sys.argv[1:]], facts),
                                      {name: fact.sizes for name, fact in facts.items()})

    status = execute(folder, facts, LocalExecutor(jobs), progress)
    return finish(folder.path, status, "run", write_report=not args.no_report)
