"""Derives workloads/size-mix.csv, the empirical request-size mix of CPython objects, which
the generators draw from with `sizes=mix`.

Records every program in workloads/programs/ with `allocbench record`, counts the requested
size of every block born (alloc, calloc count * size, the new size of a realloc), gives each
program the same total weight so that no single program dominates, and writes `size,weight`
rows (whole-number weights; the generators read them as relative frequencies).

    python workloads/make_size_mix.py [-o workloads/size-mix.csv]
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from allocbench.trace import OPS, Trace

HERE = Path(__file__).resolve().parent
WEIGHT_PER_PROGRAM = 10**9


def requested_sizes(path: Path) -> np.ndarray:
    """Counts of each requested size (index = size) over every birth in the trace."""
    counts = np.zeros(1, dtype=np.int64)
    for _, records in Trace(path).chunks():
        op = records["op"]
        size = records["size"].astype(np.int64)
        births = np.concatenate([
            size[np.isin(op, (OPS["alloc"], OPS["realloc"], OPS["foreign_realloc"]))],
            (size * records["arg"])[op == OPS["calloc"]],
        ])
        chunk = np.bincount(births)
        if len(chunk) > len(counts):
            counts = np.pad(counts, (0, len(chunk) - len(counts)))
        counts[: len(chunk)] += chunk
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=HERE / "size-mix.csv")
    args = parser.parse_args()

    programs = sorted((HERE / "programs").glob("*.py"))
    weights = np.zeros(1, dtype=np.int64)
    with tempfile.TemporaryDirectory() as folder:
        for program in programs:
            trace = Path(folder) / f"{program.stem}.abt"
            command = [sys.executable, "-m", "allocbench", "record", "-o", str(trace), "--", sys.executable, str(program)]
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            counts = requested_sizes(trace)
            scaled = np.rint(counts * (WEIGHT_PER_PROGRAM / counts.sum())).astype(np.int64)
            if len(scaled) > len(weights):
                weights = np.pad(weights, (0, len(scaled) - len(weights)))
            weights[: len(scaled)] += scaled
            print(f"{program.stem}: {counts.sum():,} requests", file=sys.stderr)

    sizes = np.flatnonzero(weights)
    names = ", ".join(p.stem for p in programs)
    lines = [
        f"# Requested sizes of CPython {platform.python_version()} objects (MEM and OBJ domains), from recordings",
        f"# of workloads/programs/: {names};",
        "# each program weighted equally. Made by workloads/make_size_mix.py: rerun it when the programs change.",
        "size,weight",
        *(f"{size},{weights[size]}" for size in sizes),
    ]
    args.output.write_text("\n".join(lines) + "\n")
    share = weights[1:513].sum() / weights.sum()
    print(f"{args.output}: {len(sizes)} sizes, {share:.1%} of the weight in 1..512 bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
