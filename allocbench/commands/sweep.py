"""`allocbench sweep --suite S --grid KNOB=VALUES ...` (or `--file sweep.toml`): a grid of
pymalloc variants over one base, with reference allocators, measured like a run
(allocbench.sweep), on local cores or a Dask cluster."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from allocbench.commands._shared import finish
from allocbench.errors import UsageError
from allocbench.plan import DEFAULT_CELL_TIMEOUT
from allocbench.sweep import DEFAULT_BASE, DEFAULT_REFERENCES, TIME_MODES
from allocbench.trace_cache import DEFAULT_CACHE

HELP = "sweep pymalloc options over a grid: Pareto fronts, heatmaps, on local cores or a Dask cluster"
# What defines a sweep: in its file, or given again with --resume, it would contradict it.
SWEEP_SETTINGS = ("suite", "grid", "base", "references", "no_references", "time", "mode", "sample", "seed", "touch",
                  "cell_timeout", "output")
FILE_SETTINGS = ("suite", "grid", "base", "references", "no_references", "time", "mode", "sample", "seed", "touch",
                 "cell_timeout")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--suite", help="suite name (allocbench list suites); default small-objects")
    parser.add_argument("--grid", action="append", metavar="KNOB=VALUES",
                        help="a knob and its values: KNOB=V1,V2,... or KNOB=A..B (every allowed value from A to B); "
                        "several --grid make the product (allocbench list options)")
    parser.add_argument("--base", help=f"the pymalloc spec the grid varies and every point is timed against (default {DEFAULT_BASE})")
    parser.add_argument("--allocator", "-a", action="append", dest="references", metavar="SPEC",
                        help=f"a reference allocator measured once beside the grid (repeatable; default {', '.join(DEFAULT_REFERENCES)})")
    parser.add_argument("--no-references", action="store_true", help="no reference allocators")
    parser.add_argument("--time", choices=TIME_MODES,
                        help="time every point (all, default), only the points on the memory front (front), or none")
    speed = parser.add_mutually_exclusive_group()
    speed.add_argument("--fast", action="store_const", const="fast", dest="mode", help="fewer pyperf processes and values")
    speed.add_argument("--rigorous", action="store_const", const="rigorous", dest="mode", help="twice the pyperf processes")
    parser.add_argument("--sample", type=int, metavar="N", help="draw N distinct points of the grid instead of all")
    parser.add_argument("--seed", type=int, help="the seed of --sample (default 0)")
    parser.add_argument("--file", type=Path, help="a sweep file (TOML) with the settings above; kept in the results")
    parser.add_argument("--jobs", "-j", type=int, metavar="N", help="memory cells at once (default: the core count)")
    parser.add_argument("--executor", choices=("local", "dask"), default="local", help="where cells run (default local)")
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                        help="with --executor dask: the scheduler (default: a LocalCluster on this machine)")
    parser.add_argument("-o", "--output", type=Path, help="results folder (default results/<timestamp>-sweep-<suite>)")
    parser.add_argument("--resume", type=Path, metavar="DIR", help="finish an interrupted sweep in DIR")
    parser.add_argument("--touch", choices=["none", "first", "all"], help="how much of each block the timed replays write")
    parser.add_argument("--cell-timeout", type=float, metavar="SECONDS", help=f"seconds one process may take (default {DEFAULT_CELL_TIMEOUT:g})")
    parser.add_argument("--traces", type=Path, default=DEFAULT_CACHE, help=f"cache of traces (default {DEFAULT_CACHE})")
    parser.add_argument("--no-report", action="store_true", help="do not write report.html")


def _request(args: argparse.Namespace):
    from allocbench.sweep import SweepRequest, read_sweep_file

    if args.file is not None:
        given = [name for name in FILE_SETTINGS if getattr(args, name) not in (None, False)]
        if given:
            raise UsageError("--file holds the sweep's settings: give no "
                             + ", ".join("--" + g.replace("_", "-") for g in given) + " with it")
        request = read_sweep_file(args.file)
    else:
        request = SweepRequest(grid=args.grid or [], references=[] if args.no_references else args.references)
        for name in ("suite", "base", "time", "mode", "sample", "seed", "touch", "cell_timeout"):
            if getattr(args, name) is not None:
                setattr(request, name, getattr(args, name))
    request.output = args.output
    return request


def run(args: argparse.Namespace) -> int:
    from allocbench.sweep import resume, start

    if args.scheduler and args.executor != "dask":
        raise UsageError("--scheduler goes with --executor dask")
    where = dict(jobs=args.jobs, executor=args.executor, scheduler=args.scheduler, traces=args.traces)
    if args.resume is not None:
        given = [name for name in SWEEP_SETTINGS if getattr(args, name) not in (None, False)] + (["file"] if args.file else [])
        if given:
            raise UsageError("--resume takes the sweep's own settings: give no "
                             + ", ".join("--" + g.replace("_", "-") for g in given) + " with it")
        folder, status = resume(args.resume, **where)
    else:
        folder, status = start(_request(args), command=["allocbench", *sys.argv[1:]], **where)
    return finish(folder.path, status, "sweep", write_report=not args.no_report)
