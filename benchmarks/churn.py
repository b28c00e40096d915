"""Small-object churn through every allocator kind, in one process: ns per alloc+free pair.

A fixed churn (sizes 8..512 bytes uniform, random lifetimes, each new block's first byte
written) at two live-set sizes, replayed through the pymalloc model, the interpreter's own
allocator, system malloc and the floor, with interleaved repetitions; the minimum of each is
printed with its ratio to `cpython`. For scale: CPython 3.11's pymalloc takes about 13 ns per
pair at 1,000 live blocks and 33 ns at 100,000; glibc about 20 and 108.

    python benchmarks/churn.py [--pairs 1000000] [--repeat 5] [--touch first]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import allocbench

SPECS = ["pymalloc:preset=cpython-3.11", "cpython", "system", "floor"]
LIVE_SETS = [1_000, 100_000]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000_000, help="alloc+free pairs after the live set is built")
    parser.add_argument("--repeat", type=int, default=5, help="replays of each trace per allocator (minimum kept)")
    parser.add_argument("--touch", choices=["none", "first", "all"], default="first")
    args = parser.parse_args()

    best: dict[tuple[int, str], float] = {}
    with tempfile.TemporaryDirectory() as folder:
        for live in LIVE_SETS:
            path = Path(folder) / f"churn-{live}.abt"
            allocbench.generate("churn", path, seed=1, live=live, pairs=args.pairs, lifetime="random", sizes="uniform:8-512")
            for _ in range(args.repeat):
                for spec in SPECS:  # interleaved, so drift in the machine hits every allocator alike
                    result = allocbench.replay(path, spec, touch=args.touch)
                    ns_per_pair = result.elapsed_seconds * 1e9 / (result.played_ops / 2)
                    best[live, spec] = min(best.get((live, spec), float("inf")), ns_per_pair)

    print(f"churn, sizes 8..512 uniform, random lifetimes, {args.pairs:,} pairs, touch={args.touch}, min of {args.repeat}")
    print(f"{'allocator':<30}" + "".join(f"{f'{live:,} live: ns/pair':>24}{'/ cpython':>11}" for live in LIVE_SETS))
    for spec in SPECS:
        cells = "".join(f"{best[live, spec]:>24.2f}{best[live, spec] / best[live, 'cpython']:>11.2f}" for live in LIVE_SETS)
        print(f"{spec:<30}{cells}")


if __name__ == "__main__":
    main()
