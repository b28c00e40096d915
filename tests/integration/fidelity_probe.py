"""Run in a fresh interpreter by test_fidelity.py: drives fixed op sequences through the
interpreter's own allocator (`cpython`) and through `pymalloc:preset=cpython-3.11`, and
prints, as JSON, the per-class rows of sys._debugmallocstats()-style reports taken before
and after each sequence. The sequences run inside C++ (Allocator.probe), so no Python object
is allocated between the two reports."""

import json
import sys

import allocbench
from allocbench import _core

ALLOCATORS = {"cpython": "cpython", "variant": "pymalloc:preset=cpython-3.11"}


def rows(text: str) -> dict:
    stats = _core.parse_debug_malloc_stats(text)
    return {c: [r["block_size"], r["pools"], r["blocks_in_use"], r["blocks_available"]] for c, r in stats["classes"].items()}


def probe(allocator: allocbench.Allocator, program: list) -> dict:
    before, after = allocator.probe(program)
    return {"before": rows(before), "after": rows(after)}


def main() -> None:
    out = {}
    for name, spec in ALLOCATORS.items():
        allocator = allocbench.Allocator(spec)
        # One request of each size, alone: which class does it land in?
        single = {n: probe(allocator, [(0, 0, n)]) for n in range(1, 513)}
        # Many requests per class: 2.5 pools' worth of class c plus c blocks, all live at once.
        counts = {}
        program = []
        slot = 0
        for c in range(32):
            block = (c + 1) * 16
            count = (5 * ((16384 - 48) // block)) // 2 + c
            counts[c] = count
            for _ in range(count):
                program.append((0, slot, block - (slot % 16)))  # sizes across the class
                slot += 1
        bulk = probe(allocator, program)
        # Allocate everything again, then free every other block and realloc some in place.
        churn_program = program + [(1, s, 0) for s in range(0, slot, 2)]
        churn_program += [(2, s, 1 + (c * 16)) for c, s in zip(range(32), range(1, slot, 98))]
        churn = probe(allocator, churn_program)
        out[name] = {"single": single, "bulk": bulk, "counts": counts, "churn": churn}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
