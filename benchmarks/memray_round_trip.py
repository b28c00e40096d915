"""The memray round trip: each program captured by memray and imported (`allocbench import
memray`), beside allocbench's own recording of it. Both sides run with PYTHONHASHSEED=0 and
address randomisation off.

    python benchmarks/memray_round_trip.py [PROGRAM ...]   (default: the programs of workloads/programs)

Two ways, one table each:
  * as a user would: `memray run --trace-python-allocators` against `allocbench record`, made
    plainly and with `--empty-profile-function` (memray's tracker runs a profile function, and
    on CPython 3.11 every Python call then allocates a frame object);
  * from the same start (benchmarks/memray_same_start.py): both sides first import what the
    program imports, collect garbage, and record only running it, memray with its Tracker and
    allocbench with an empty profile function (`memray run` has imported much of the standard
    library before it tracks anything, `record` almost nothing).

Per program: op counts by kind (alloc, calloc, realloc, free, foreign) and their ratio; the
calls as memray records them (a realloc of a block is two records, FREE and REALLOC, which is
why an import cannot tell it from a free followed by a realloc of NULL: counted this way, that
ambiguity drops out); how the live-bytes curves agree: each trace's live bytes after every op,
sampled at 1,000 evenly spaced fractions of its op count, the largest and the mean gap between
the two curves as a share of the recording's peak, and the two peaks.
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

SAME_START = Path(__file__).with_name("memray_same_start.py")
SAMPLES = 1000
# A garbage collection a few thousand ops earlier on one side moves a whole drop of the curve:
# the gap is also measured allowing either curve to be shifted by up to this many samples (1%).
SHIFT = 10
KINDS = ("alloc", "calloc", "realloc", "free", "foreign")


def capture_with_memray(program: str, capture: Path, same_start: bool) -> None:
    environment = dict(os.environ, PYTHONHASHSEED=str(HASH_SEED), PYTHONDONTWRITEBYTECODE="1")
    command = [str(SAME_START), program, str(capture)] if same_start else \
        ["-m", "memray", "run", "--trace-python-allocators", "-q", "-f", "-o", str(capture), program]
    with without_address_randomization():
        subprocess.run([sys.executable, *command], env=environment, check=True, stdout=subprocess.DEVNULL)


def record_with_allocbench(program: str, output: Path, empty_profile_function: bool, same_start: bool) -> None:
    kind, target, args = ("call", str(SAME_START), [program]) if same_start else ("script", program, [])
    result = record(kind, target, args, output, ["python", program], quiet=True,
                    empty_profile_function=empty_profile_function)
    if not result.written or result.status:
        raise SystemExit(f"{program}: recording failed (exit status {result.status})")


def records(path: Path) -> np.ndarray:
    return np.concatenate([chunk for _, chunk in Trace(path).chunks()])


def op_counts(ops: np.ndarray) -> dict[str, int]:
    counts = {kind: int((ops["op"] == OPS[kind]).sum()) for kind in KINDS[:-1]}
    counts["foreign"] = int(np.isin(ops["op"], [OPS["foreign_free"], OPS["foreign_realloc"]]).sum())
    counts["total"] = len(ops)
    # memray writes a realloc of a block as two records
    counts["memray_records"] = len(ops) + counts["realloc"] + int((ops["op"] == OPS["foreign_realloc"]).sum())
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


def largest_gap_within_shift(reference: np.ndarray, other: np.ndarray) -> float:
    """The largest gap between two sampled curves when each sample of one may be matched with
    any sample of the other up to SHIFT samples away."""
    padded = np.pad(other, SHIFT, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * SHIFT + 1)
    return float(np.abs(windows - reference[:, None]).min(axis=1).max())


def compare(program: str, folder: Path, same_start: bool) -> dict:
    name = Path(program).stem
    capture, imported = folder / f"{name}.bin", folder / f"{name}.memray.abt"
    capture_with_memray(program, capture, same_start)
    import_capture(capture, imported)
    paths = {"memray": imported}
    for label, empty_profile_function in (("record", False), ("record --empty-profile-function", True)):
        if same_start and not empty_profile_function:
            continue
        paths[label] = folder / f"{name}.{label.replace(' ', '')}.abt"
        record_with_allocbench(program, paths[label], empty_profile_function, same_start)
    traces = {label: records(path) for label, path in paths.items()}
    curves = {label: live_bytes(ops) for label, ops in traces.items()}
    reference, other = sampled(curves["record --empty-profile-function"]), sampled(curves["memray"])
    peak = curves["record --empty-profile-function"].max()
    return {
        "program": name,
        "counts": {label: op_counts(ops) for label, ops in traces.items()},
        "peaks": {label: int(curve.max()) for label, curve in curves.items()},
        "largest_gap": float(np.abs(reference - other).max() / peak),
        "mean_gap": float(np.abs(reference - other).mean() / peak),
        "shifted_gap": max(largest_gap_within_shift(reference, other), largest_gap_within_shift(other, reference)) / peak,
    }


def print_table(rows: list[dict]) -> None:
    header = ("| program | trace | total ops | alloc | calloc | realloc | free | foreign | memray / this |"
              " calls as memray records them | memray / this | peak live bytes |")
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for row in rows:
        memray = row["counts"]["memray"]
        for label, counts in row["counts"].items():
            ratios = ["", ""] if label == "memray" else \
                [f"{memray[key] / counts[key]:.4f}" for key in ("total", "memray_records")]
            cells = " | ".join(f"{counts[k]:,}" for k in KINDS)
            print(f"| {row['program']} | {label} | {counts['total']:,} | {cells} | {ratios[0]} | "
                  f"{counts['memray_records']:,} | {ratios[1]} | {row['peaks'][label]:,} |")
    print()
    print("| program | live bytes, memray vs record --empty-profile-function: largest gap | mean gap |"
          " largest gap, curves shifted up to 1% of their ops |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['program']} | {row['largest_gap']:.2%} of the peak | {row['mean_gap']:.2%} | "
              f"{row['shifted_gap']:.2%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("programs", nargs="*", default=[str(workloads.program_path(p)) for p in workloads.programs()])
    args = parser.parse_args()
    for same_start, title in ((False, "memray run against allocbench record"),
                              (True, "from the same start: the program's imports done, only its run recorded")):
        with tempfile.TemporaryDirectory() as folder:
            rows = [compare(program, Path(folder), same_start) for program in args.programs]
        print(f"## {title}\n")
        print_table(rows)
        print(flush=True)


if __name__ == "__main__":
    main()
