"""Trace size: each workload program recorded with `allocbench record` (format version 2), the
same trace converted to version 1, and the program captured with memray
(`memray run --trace-python-allocators`, memray's default lz4-compressed capture).

Prints, per program, the bytes per op of each: allocbench's per op of its trace, memray's per
record of its capture (its own count, which includes the frame objects its profiler makes the
interpreter allocate, and the RAW domain) and per allocbench op (the same program, the same
work), then the two ratios the issue asks for: v2 / v1 (target at most 0.35) and the v2 trace's
size / memray's capture's (target below 1).

    python benchmarks/trace_size.py [PROGRAM ...]      (memray: pip install memray)
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from allocbench import workloads
from allocbench.trace import Trace, convert


def memray_capture(program: str, folder: Path) -> tuple[int, int] | None:
    """(bytes, records) of memray's capture of the program; None without memray."""
    if importlib.util.find_spec("memray") is None:
        return None
    import memray

    capture = folder / f"{Path(program).stem}.bin"
    subprocess.run([sys.executable, "-m", "memray", "run", "--trace-python-allocators", "-q", "-o", str(capture), program],
                   check=True, stdout=subprocess.DEVNULL)
    return capture.stat().st_size, memray.FileReader(str(capture)).metadata.total_allocations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("programs", nargs="*", default=workloads.programs())
    args = parser.parse_args()
    print(f"{'program':<20} {'ops':>10} {'v1 B/op':>8} {'v2 B/op':>8} {'v2/v1':>6} {'memray MB':>10} "
          f"{'records':>10} {'B/record':>9} {'B/op':>6} {'v2/memray':>9}")
    worst_ratio, worst_memray = 0.0, 0.0
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for name in args.programs:
            program = str(workloads.program_path(name))
            two, one = folder / "v2.abt", folder / "v1.abt"
            subprocess.run([sys.executable, "-m", "allocbench", "record", "-o", str(two), "--", sys.executable, program],
                           check=True, stdout=subprocess.DEVNULL)
            convert(two, one, 1)
            ops = Trace(two).summary["op_count"]
            v1, v2 = os.path.getsize(one) / ops, os.path.getsize(two) / ops
            worst_ratio = max(worst_ratio, v2 / v1)
            row = f"{name.removesuffix('.py'):<20} {ops:10,} {v1:8.2f} {v2:8.3f} {v2 / v1:6.3f}"
            captured = memray_capture(program, folder)
            if captured is not None:
                size, records = captured
                worst_memray = max(worst_memray, os.path.getsize(two) / size)
                row += (f" {size / 1e6:10.2f} {records:10,} {size / records:9.2f} {size / ops:6.2f}"
                        f" {os.path.getsize(two) / size:9.3f}")
            print(row)
    print(f"largest v2/v1 {worst_ratio:.3f} (target <= 0.35)"
          + (f"; largest v2/memray {worst_memray:.3f} (target < 1)" if worst_memray else "; memray not installed"))


if __name__ == "__main__":
    main()
