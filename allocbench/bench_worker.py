"""The pyperf script of one (allocator, workload) cell: `python -m allocbench.bench_worker`.

Each worker process builds its allocator once and replays the trace into it loop after
loop, so that every allocator is timed warm, in the steady state a long-running program
sees: the interpreter's pymalloc and the system malloc are process-wide and warm anyway,
and a pymalloc variant keeps (or gives back) its arenas between loops as its release policy
says, exactly as it would between two phases of a program.

pyperf re-executes this module in every worker process, so it imports only what a worker
needs. The parent `allocbench run` starts it with the allocator's environment (LD_PRELOAD for
a preloaded library) and `--inherit-environ=LD_PRELOAD`, since pyperf filters the workers'
environment. Each worker records, as benchmark metadata, which malloc it really runs and
whether the interpreter's pymalloc is active, so that a result proves its own label.
"""

from __future__ import annotations

import pyperf

from allocbench import _core
from allocbench.allocators import KNOWN_LIBRARIES

# Defaults sized for 2-core machines: --fast keeps 3 processes of 2 values, the default mode
# 6 processes of 3 values, --rigorous 12; each value lasts at least min_time.
RUNNER_DEFAULTS = {"processes": 6, "values": 3, "warmups": 1, "min_time": 0.05}


def processes_and_values(mode: str) -> tuple[int, int]:
    """What pyperf's --fast and --rigorous make of RUNNER_DEFAULTS (pyperf's own rule), for
    callers that run the processes one at a time themselves (a sweep's paired timing)."""
    processes, values = RUNNER_DEFAULTS["processes"], RUNNER_DEFAULTS["values"]
    if mode == "fast":
        return max(processes // 2, 3), max(values * 2 // 3, 2)
    if mode == "rigorous":
        return processes * 2, values
    return processes, values


def worker_identity() -> dict:
    """What this process really runs: read from the process itself, not from its label."""
    system = _core.Allocator("system").stats()
    cpython = _core.Allocator("cpython").stats()
    with open("/proc/self/maps") as maps:
        mapped = {line.split()[-1] for line in maps if "/" in line}
    preloads = sorted(p for p in mapped if any(name in p for name in KNOWN_LIBRARIES))
    return {
        "allocbench_malloc_library": system["malloc_library"],
        "allocbench_pymalloc_active": int("arenas_current" in cpython),
        "allocbench_preloaded": ",".join(preloads) or "none",
    }


def time_replays(loops: int, trace: str, allocator: _core.Allocator, touch: str) -> float:
    """Seconds of the op loops of `loops` replays into the same allocator."""
    return _core.replay(trace, allocator, touch, 0, loops).elapsed_seconds


def add_cmdline_args(cmd: list[str], args) -> None:
    cmd.extend(
        [
            "--allocbench-trace", args.allocbench_trace,
            "--allocbench-spec", args.allocbench_spec,
            "--allocbench-name", args.allocbench_name,
            "--allocbench-touch", args.allocbench_touch,
        ]
    )


def main() -> None:
    runner = pyperf.Runner(
        **RUNNER_DEFAULTS,
        add_cmdline_args=add_cmdline_args,
        program_args=("-P", "-m", "allocbench.bench_worker"),
    )
    runner.argparser.add_argument("--allocbench-trace", required=True)
    runner.argparser.add_argument("--allocbench-spec", required=True)
    runner.argparser.add_argument("--allocbench-name", required=True)
    runner.argparser.add_argument("--allocbench-touch", default="first")
    args = runner.parse_args()
    metadata = {
        "allocbench_spec": args.allocbench_spec,
        "allocbench_trace": args.allocbench_trace,
        "allocbench_touch": args.allocbench_touch,
        **worker_identity(),
    }
    runner.bench_time_func(
        args.allocbench_name,
        time_replays,
        args.allocbench_trace,
        _core.Allocator(args.allocbench_spec),
        args.allocbench_touch,
        metadata=metadata,
    )


if __name__ == "__main__":
    main()
