"""Live-mode overhead: each workload program run plain (the interpreter's own pymalloc) and with
a pymalloc variant installed live (the same constants: pymalloc:preset=cpython-3.11 by
default), in paired runs whose order alternates, so that a drift of the machine's load hits
both sides alike. The figure is the median over pairs of live / plain: CPU time of the child
(user + system, from wait4: less sensitive to other work on the machine than wall time) and
wall time. The live run is the program's own process as `allocbench exec` makes it (the
shim loads the core, pre-initialises, installs), without the CLI's start-up, which is paid
once per run and says nothing about the allocator.

    python benchmarks/live_overhead.py [--pairs 9] [--spec SPEC] [--path early|fallback]
                                       [--instructions] [PROGRAM ...]

Prints one row per program: median plain and live CPU seconds, the median ratios, and the
share of the program's small requests the variant served (from its report). The target
(issue 10) is a median CPU ratio of at most 1.05 on every program. On a machine busy with
other work, times of a few percent drown in noise; --instructions adds the ratio of
instructions executed (one run of each side under valgrind's callgrind, whole process,
start-up included), which the machine's load does not move.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from allocbench import workloads
from allocbench.live import live_command, read_stats

HASH_SEED = {"PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}


def timed(argv: list[str], environment: dict) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one run of the command."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, env=environment, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit status {child.returncode}")
    return usage.ru_utime + usage.ru_stime, wall


def instructions(argv: list[str], environment: dict) -> int:
    """Instructions one run executes, counted by callgrind."""
    done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv], env=environment,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True)
    return int(re.search(r"Collected : (\d+)", done.stderr).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=9)
    parser.add_argument("--spec", default="pymalloc:preset=cpython-3.11")
    parser.add_argument("--path", default="auto", choices=("auto", "early", "fallback"))
    parser.add_argument("--instructions", action="store_true", help="also count instructions with callgrind")
    parser.add_argument("programs", nargs="*", default=workloads.programs())
    args = parser.parse_args()
    plain_environment = {**os.environ, **HASH_SEED}
    print(f"{args.spec} live ({args.pairs} pairs each) against the interpreter's own pymalloc")
    print(f"{'program':<22} {'plain cpu s':>11} {'live cpu s':>10} {'cpu ratio':>9} {'wall ratio':>10} "
          f"{'small requests':>14} {'served':>8}" + (f" {'instr ratio':>11}" if args.instructions else ""))
    cpu_ratios_all = []
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "stats.json"
        for name in args.programs:
            program = str(workloads.program_path(name))
            live = live_command(args.spec, "script", program, [], report=report, path=args.path,
                                base_environment=plain_environment)
            plain_argv = [sys.executable, program]
            plain_cpu, live_cpu, cpu_ratios, wall_ratios = [], [], [], []
            timed(plain_argv, plain_environment)  # warm the page cache and bytecode
            for pair in range(args.pairs):
                runs = [(plain_argv, plain_environment), (live.argv, live.environment)]
                if pair % 2:
                    runs.reverse()
                results = {id(argv): timed(argv, environment) for argv, environment in runs}
                (p_cpu, p_wall), (l_cpu, l_wall) = results[id(plain_argv)], results[id(live.argv)]
                plain_cpu.append(p_cpu)
                live_cpu.append(l_cpu)
                cpu_ratios.append(l_cpu / p_cpu)
                wall_ratios.append(l_wall / p_wall)
            stats = read_stats(report)
            cpu_ratio = statistics.median(cpu_ratios)
            cpu_ratios_all.append(cpu_ratio)
            served = f"{stats.served_share:.3%}" if stats.served_share is not None else "-"
            row = (f"{name:<22} {statistics.median(plain_cpu):11.3f} {statistics.median(live_cpu):10.3f} "
                   f"{cpu_ratio:9.3f} {statistics.median(wall_ratios):10.3f} {stats.small_requests or 0:14,} {served:>8}")
            if args.instructions:
                ratio = instructions(live.argv, live.environment) / instructions(plain_argv, plain_environment)
                row += f" {ratio:11.4f}"
            print(row, flush=True)
    print(f"worst median CPU ratio: {max(cpu_ratios_all):.3f} (target: at most 1.05)")


if __name__ == "__main__":
    main()
