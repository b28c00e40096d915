"""What the replay harness costs: the same trace through `floor` and the pymalloc model.

The floor allocator does the least work a valid allocator can do, so its replay time bounds
the harness's own cost (id table, op dispatch, checks, touch) from above; the harness alone
(time_harness_only: every block one scratch region, no allocator) measures it directly.
Each trace is replayed all three ways, turn about, --repeat times; the minimum of each is
printed with its ratio to the pymalloc model (the target is at most 0.15). The traces: a
churn drawn from the empirical size mix, and each workload program recorded with
`allocbench record`.

    python benchmarks/harness_cost.py [--repeat 7] [--touch first] [TRACE ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import allocbench
from allocbench.replay import time_harness_only, time_replay

FLOOR = "floor"
PYMALLOC = "pymalloc:preset=cpython-3.11"
PROGRAMS = Path(__file__).resolve().parent.parent / "workloads" / "programs"


def traces_to_measure(folder: Path, given: list[str]) -> list[Path]:
    if given:
        return [Path(path) for path in given]
    churn = folder / "churn-mix-10k.abt"
    allocbench.generate("churn", churn, seed=1, live=10_000, pairs=1_000_000, sizes="mix")
    out = [churn]
    for program in sorted(PROGRAMS.glob("*.py")):
        trace = folder / f"{program.stem}.abt"
        command = [sys.executable, "-m", "allocbench", "record", "-o", str(trace), "--", sys.executable, str(program)]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        out.append(trace)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("traces", nargs="*", help="traces to measure (default: a churn and the recorded programs)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--touch", choices=["none", "first", "all"], default="first")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        traces = traces_to_measure(Path(folder), args.traces)
        print(f"touch={args.touch}, min of {args.repeat} replays each, turn about; ns per op")
        print(f"{'trace':<22}{'ops':>11}{'harness':>9}{'floor':>8}{'pymalloc':>10}{'harness/pm':>12}{'floor/pm':>10}")
        worst = {"harness": 0.0, FLOOR: 0.0}
        for trace in traces:
            ops = allocbench.replay(trace, FLOOR).ops.played
            timers = {
                "harness": lambda: time_harness_only(1, trace, args.touch),
                FLOOR: lambda: time_replay(1, trace, FLOOR, args.touch),
                PYMALLOC: lambda: time_replay(1, trace, PYMALLOC, args.touch),
            }
            best = dict.fromkeys(timers, float("inf"))
            for _ in range(args.repeat):
                for name, timer in timers.items():
                    best[name] = min(best[name], timer() * 1e9 / ops)
            ratios = {name: best[name] / best[PYMALLOC] for name in worst}
            worst = {name: max(worst[name], ratios[name]) for name in worst}
            print(
                f"{trace.stem:<22}{ops:>11,}{best['harness']:>9.2f}{best[FLOOR]:>8.2f}{best[PYMALLOC]:>10.2f}"
                f"{ratios['harness']:>12.2f}{ratios[FLOOR]:>10.2f}"
            )
        print(f"largest ratios: harness/pymalloc {worst['harness']:.2f}, floor/pymalloc {worst[FLOOR]:.2f} (target <= 0.15)")


if __name__ == "__main__":
    main()
