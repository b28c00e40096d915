"""The memray round trip: each program captured by memray (`memray run --trace-python-allocators`)
and imported (`allocbench import memray`), beside allocbench's own recording of it, made
plainly and with `--empty-profile-function` (memray's tracker runs a profile function, and on
CPython 3.11 every Python call then allocates a frame object: that recording is the like for
like). Both sides run with PYTHONHASHSEED=0 and address randomisation off.

    python benchmarks/memray_round_trip.py [PROGRAM ...]   (default: the programs of workloads/programs)

Prints, per program: the op counts of the three traces by kind (alloc, calloc, realloc, free,
foreign), the ratio imported / recorded, and how the live-bytes curves agree: each trace's
live bytes after every op, sampled at 1,000 evenly spaced fractions of its op count; the
largest and the mean gap between the two curves as a share of the recording's peak, and the
two peaks.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from allocbench import workloads
from allocbench.address_space import without_address_randomization
from allocbench.memray_import import import_capture
from allocbench.recording import HASH_SEED, record
from allocbench.trace import OPS, Trace

SAMPLES = 1000
KINDS = ("alloc", "calloc", "realloc", "free", "foreign")


def capture_with_memray(program: str, capture: Path) -> None:
    environment = dict(os.environ, PYTHONHASHSEED=str(HASH_SEED), PYTHONDONTWRITEBYTECODE="1")
    with without_address_randomization():
        subprocess.run([sys.executable, "-m", "memray", "run", "--trace-python-allocators", "-q", "-f",
                        "-o", str(capture), program], env=environment, check=True, stdout=subprocess.DEVNULL)


def records(path: Path) -> np.ndarray:
    return np.concatenate([chunk for _, chunk in Trace(path).chunks()])


def op_counts(ops: np.ndarray) -> dict[str, int]:
    counts = {kind: int((ops["op"] == OPS[kind]).sum()) for kind in KINDS[:-1]}
    counts["foreign"] = int(np.isin(ops["op"], [OPS["foreign_free"], OPS["foreign_realloc"]]).sum())
    counts["total"] = len(ops)
    return counts


def live_bytes(ops: np.ndarray) -> np.ndarray:
    """Live bytes after each op. A free gives back what its block's last alloc or realloc
    asked for: ops grouped by block id (stably, so each group stays in trace order), each
    op's previous size is that of the op before it in its group."""
    op = ops["op"]
    size = ops["size"].astype(np.int64)
    size = np.where(op == OPS["calloc"], size * ops["arg"], size)
    block = np.where(op == OPS["foreign_realloc"], ops["arg"], ops["id"]).astype(np.int64)
    block = np.where(op == OPS["foreign_free"], -1, block)
    order = np.argsort(block, kind="stable")
    grouped_block, grouped_size = block[order], size[order]
    previous = np.zeros(len(ops), dtype=np.int64)
    same_block = grouped_block[1:] == grouped_block[:-1]
    previous[order[1:]] = np.where(same_block, grouped_size[:-1], 0)
    births = np.isin(op, [OPS["alloc"], OPS["calloc"], OPS["foreign_realloc"]])
    delta = np.where(births, size, 0)
    delta = np.where(op == OPS["realloc"], size - previous, delta)
    delta = np.where(op == OPS["free"], -previous, delta)
    return np.cumsum(delta)


def sampled(curve: np.ndarray) -> np.ndarray:
    return curve[np.minimum((np.arange(SAMPLES) + 1) * len(curve) // SAMPLES, len(curve)) - 1]


def compare(program: str, folder: Path) -> dict:
    name = Path(program).stem
    capture, imported = folder / f"{name}.bin", folder / f"{name}.memray.abt"
    recorded, profiled = folder / f"{name}.abt", folder / f"{name}.profiled.abt"
    capture_with_memray(program, capture)
    import_capture(capture, imported)
    for output, empty_profile_function in ((recorded, False), (profiled, True)):
        result = record("script", program, [], output, ["python", program], quiet=True,
                        empty_profile_function=empty_profile_function)
        if not result.written or result.status:
            raise SystemExit(f"{program}: recording failed (exit status {result.status})")
    traces = {label: records(path) for label, path in
              (("memray", imported), ("record", recorded), ("record --empty-profile-function", profiled))}
    curves = {label: live_bytes(ops) for label, ops in traces.items()}
    reference, other = sampled(curves["record --empty-profile-function"]), sampled(curves["memray"])
    peak = curves["record --empty-profile-function"].max()
    return {
        "program": name,
        "counts": {label: op_counts(ops) for label, ops in traces.items()},
        "peaks": {label: int(curve.max()) for label, curve in curves.items()},
        "largest_gap": float(np.abs(reference - other).max() / peak),
        "mean_gap": float(np.abs(reference - other).mean() / peak),
    }


def print_table(rows: list[dict]) -> None:
    header = ("| program | trace | total ops | alloc | calloc | realloc | free | foreign | memray / this |"
              " peak live bytes |")
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for row in rows:
        memray_total = row["counts"]["memray"]["total"]
        for label, counts in row["counts"].items():
            ratio = "" if label == "memray" else f"{memray_total / counts['total']:.4f}"
            cells = " | ".join(f"{counts[k]:,}" for k in KINDS)
            print(f"| {row['program']} | {label} | {counts['total']:,} | {cells} | {ratio} | {row['peaks'][label]:,} |")
    print()
    print("| program | live bytes, memray vs record --empty-profile-function: largest gap | mean gap |")
    print("|---|---|---|")
    for row in rows:
        print(f"| {row['program']} | {row['largest_gap']:.2%} of the peak | {row['mean_gap']:.2%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("programs", nargs="*", default=[str(workloads.program_path(p)) for p in workloads.programs()])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        rows = [compare(program, Path(folder)) for program in args.programs]
    print_table(rows)


if __name__ == "__main__":
    main()
