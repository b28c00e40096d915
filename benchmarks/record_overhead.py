"""Recording overhead: each workload program run plain and recorded, same interpreter, same
settings (PYTHONHASHSEED=0, no bytecode writing, ASLR as `allocbench record` leaves it).

Runs are paired: each repetition runs the program plain and then recorded, back to back, and
the ratio of the pair is taken, so that a slow moment of a shared machine falls on both runs
of a pair rather than on one side; the median of the pairs' ratios is printed (the must-show
of issue 11: at most 1.4 for each program). The recorded run is the child `allocbench record`
starts (the bootstrap, hook on), without the CLI's own start-up, which is paid once per
recording and says nothing about the hook; the last column is the whole `allocbench record`
command (start-up, and the compression of the trace once the program has ended, included),
for reference (median of its runs).

`--against PYTHON` compares with another installation of allocbench (an interpreter of
another environment, e.g. one built from an earlier commit): each repetition then also runs
that installation's recording of the program, in the same repetition as this one's and its
plain run, the order of the three rotating from one repetition to the next, so that before
and after are measured side by side under the same load. That installation's bootstrap is
started with the command line it took before its settings came through a pipe (the trace's
path, the metadata as JSON, the program), as the installations this was written against do.

    python benchmarks/record_overhead.py [--repeat 5] [--against PYTHON] [PROGRAM ...]

Prints one row per program and installation: the median plain and recorded seconds, the
median ratio of the pairs and the smallest and largest, ops recorded, the bytes per op of the
trace as the hook wrote it, the hook's cost per op, and the whole command's seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from allocbench import workloads
from allocbench.recording import BOOTSTRAP, HASH_SEED, start_child


def wall_time(command: list[str], environment: dict) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=environment, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def trace_facts(python: str, trace: str) -> tuple[int, int]:
    """(op count, file bytes) of a trace, read by the installation of `python`."""
    code = "import sys; from allocbench import _core; print(_core.TraceReader(sys.argv[1]).summary['op_count'])"
    ops = int(subprocess.run([python, "-P", "-c", code, trace], check=True, capture_output=True, text=True).stdout)
    return ops, os.path.getsize(trace)


def recorded_time(program: str, trace: Path) -> float:
    """The recording child of this installation alone (the bootstrap with the hook on), as
    `record` starts it."""
    start = time.perf_counter()
    child = start_child("script", program, [], trace, {}, stdout=subprocess.DEVNULL)
    if child.wait() != 0:
        raise SystemExit(f"{program}: the recording failed")
    return time.perf_counter() - start


def bootstrap_of(python: str) -> str:
    """The recording bootstrap of the installation of `python` (-P: its own, not a checkout's
    in the current folder), wherever that version kept it."""
    code = ("try:\n from allocbench.recording import BOOTSTRAP\n"
            "except ImportError:\n from allocbench.commands.record import BOOTSTRAP\nprint(BOOTSTRAP)")
    return subprocess.run([python, "-P", "-c", code], check=True, capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="repetitions (pairs of runs) per program")
    parser.add_argument("--against", metavar="PYTHON", help="an interpreter with another allocbench installed")
    parser.add_argument("programs", nargs="*", default=workloads.programs())
    args = parser.parse_args()
    environment = dict(os.environ, PYTHONHASHSEED=str(HASH_SEED), PYTHONDONTWRITEBYTECODE="1")
    installations = {"this": (sys.executable, str(BOOTSTRAP))}
    if args.against:
        installations["against"] = (args.against, bootstrap_of(args.against))
    print(f"median of {args.repeat} paired runs; this: {sys.prefix}" + (f"; against: {args.against}" if args.against else ""))
    print(f"{'program':<20} {'install':<8} {'plain s':>8} {'recorded s':>10} {'ratio':>6} {'min-max':>10} {'ops':>10} "
          f"{'B/op':>6} {'ns/op':>6} {'cli s':>6}")
    worst = dict.fromkeys(installations, 0.0)
    with tempfile.TemporaryDirectory() as folder:
        for name in args.programs:
            program = str(workloads.program_path(name))
            traces = {label: str(Path(folder) / f"{label}.abt") for label in installations}
            runs = ["plain", *installations]
            times: dict[str, list[float]] = {run: [] for run in runs}
            ratios: dict[str, list[float]] = {label: [] for label in installations}
            for repetition in range(args.repeat):
                order = runs[repetition % len(runs):] + runs[:repetition % len(runs)]
                for run in order:
                    if run == "plain":
                        times[run].append(wall_time([sys.executable, program], environment))
                    elif run == "this":
                        times[run].append(recorded_time(program, Path(traces[run])))
                    else:
                        python, bootstrap = installations[run]
                        times[run].append(wall_time([python, bootstrap, traces[run], json.dumps({}), "script", program],
                                                    environment))
                for label in installations:
                    ratios[label].append(times[label][-1] / times["plain"][-1])
            for label, (python, _) in installations.items():
                ops, size = trace_facts(python, traces[label])
                cli_trace = str(Path(folder) / "cli.abt")
                cli = statistics.median(
                    wall_time([python, "-P", "-m", "allocbench", "record", "-o", cli_trace, "--", "python", program], environment)
                    for _ in range(args.repeat)
                )
                plain, recorded = statistics.median(times["plain"]), statistics.median(times[label])
                ratio = statistics.median(ratios[label])
                worst[label] = max(worst[label], ratio)
                print(f"{name.removesuffix('.py'):<20} {label:<8} {plain:8.3f} {recorded:10.3f} {ratio:6.2f} "
                      f"{min(ratios[label]):4.2f}-{max(ratios[label]):<5.2f} {ops:10,} {size / ops:6.2f} "
                      f"{(recorded - plain) / ops * 1e9:6.1f} {cli:6.3f}")
    print("largest median ratio " + ", ".join(f"{label} {value:.2f}" for label, value in worst.items()) + " (target <= 1.4)")


if __name__ == "__main__":
    main()
