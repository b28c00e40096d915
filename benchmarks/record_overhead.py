"""Recording overhead: each workload program run plain and recorded, same interpreter, same
settings (PYTHONHASHSEED=0, no bytecode writing, ASLR as `allocbench record` leaves it), the
minimum wall time of a few repetitions each. The recorded run is the child `allocbench record`
starts (the bootstrap, hook on), without the CLI's own start-up, which is paid once per
recording and says nothing about the hook; the last column is the whole `allocbench record`
command, start-up included, for reference.

    python benchmarks/record_overhead.py [--repeat 5] [PROGRAM ...]

Prints one row per program: plain and recorded seconds, the ratio, ops recorded and the cost
per op. The target (issue 3) is a ratio of at most 1.5.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from allocbench import workloads
from allocbench.recording import HASH_SEED, start_child
from allocbench.trace import Trace


def best_time(command: list[str], repeat: int, environment: dict) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, env=environment, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return min(times)


def best_recorded_time(program: str, trace: Path, repeat: int) -> float:
    """The recording child alone (the bootstrap with the hook on), as `record` starts it."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        child = start_child("script", program, [], trace, {}, stdout=subprocess.DEVNULL)
        if child.wait() != 0:
            raise SystemExit(f"{program}: the recording failed")
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("programs", nargs="*", default=workloads.programs())
    args = parser.parse_args()
    environment = dict(os.environ, PYTHONHASHSEED=str(HASH_SEED), PYTHONDONTWRITEBYTECODE="1")
    print(f"{'program':<20} {'plain s':>8} {'recorded s':>10} {'ratio':>6} {'ops':>10} {'ns/op':>6} {'cli s':>6}")
    with tempfile.TemporaryDirectory() as folder:
        trace = str(Path(folder) / "t.trace")
        for name in args.programs:
            program = str(workloads.program_path(name))
            plain = best_time([sys.executable, program], args.repeat, environment)
            recorded = best_recorded_time(program, Path(trace), args.repeat)
            ops = Trace(trace).summary["op_count"]
            per_op = (recorded - plain) / ops * 1e9
            cli = best_time([sys.executable, "-m", "allocbench", "record", "-o", trace, "--", "python", program],
                            args.repeat, environment)
            print(f"{name:<20} {plain:8.3f} {recorded:10.3f} {recorded / plain:6.2f} {ops:10,} {per_op:6.1f} {cli:6.3f}")


if __name__ == "__main__":
    main()
