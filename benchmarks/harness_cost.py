"""What the replay harness costs: the same trace through `floor` and the pymalloc model.

The floor allocator does the least a valid allocator can do, so its replay time bounds the
harness's own cost (reading the id table, dispatching the op, touching the block) from above.
Each trace is replayed through both, turn about, --repeat times; the minimum of each is
printed with the ratio floor / pymalloc (the target is at most 0.15). The traces: a churn
drawn from the empirical size mix, and each workload program recorded with `allocbench record`.

    python benchmarks/harness_cost.py [--repeat 7] [--touch first] [TRACE ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import allocbench
from allocbench.replay import time_replay

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
        print(f"touch={args.touch}, min of {args.repeat} replays each, turn about")
        print(f"{'trace':<24}{'ops':>12}{'floor ns/op':>14}{'pymalloc ns/op':>16}{'floor/pymalloc':>16}")
        ratios = []
        for trace in traces:
            ops = allocbench.replay(trace, FLOOR).played_ops
            best = {FLOOR: float("inf"), PYMALLOC: float("inf")}
            for _ in range(args.repeat):
                for spec in best:
                    best[spec] = min(best[spec], time_replay(1, trace, spec, args.touch) * 1e9 / ops)
            ratios.append(best[FLOOR] / best[PYMALLOC])
            print(f"{trace.stem:<24}{ops:>12,}{best[FLOOR]:>14.2f}{best[PYMALLOC]:>16.2f}{ratios[-1]:>16.2f}")
        print(f"largest ratio {max(ratios):.2f} (target <= 0.15)")


if __name__ == "__main__":
    main()
