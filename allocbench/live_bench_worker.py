"""The pyperf script of one live cell (`allocbench run --mode live|both`):
`python -m allocbench.live_bench_worker`.

Each value is the wall time of whole runs of the program, start-up to exit, each run a new
interpreter with the allocator installed live as `allocbench exec` installs it
(allocbench/live.py builds the command; the program's output is discarded and no report is
written, so that only the program is timed). This worker is only the stopwatch: it runs on
the interpreter's default allocators, whatever the program runs on.

pyperf filters its workers' environment; the program's is built from what is left, plus the
allocator's variables and a fixed hash seed (as a recording has), so that every allocator
runs the program in the same environment (the hash seed a recording has: recording.HASH_SEED).
"""

from __future__ import annotations

import os
import subprocess
import time

import pyperf

from allocbench.bench_worker import RUNNER_DEFAULTS
from allocbench.live import live_command
from allocbench.recording import HASH_SEED


def program_command(label: str, program: str, environment: dict[str, str], report: str | os.PathLike | None = None):
    """The live command of the program on `label` in `environment` (a worker's), with the
    fixed hash seed; `report`: where it writes its statistics (None: nowhere)."""
    return live_command(label, "script", program, [], report=report,
                        base_environment={**environment, "PYTHONHASHSEED": str(HASH_SEED)})


def time_runs(loops: int, argv: list[str], environment: dict[str, str]) -> float:
    """Wall seconds of `loops` runs of the program; a run that fails stops the benchmark."""
    elapsed = 0.0
    for _ in range(loops):
        start = time.perf_counter()
        done = subprocess.run(argv, env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        elapsed += time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"the program ended with exit status {done.returncode}")
    return elapsed


def add_cmdline_args(cmd: list[str], args) -> None:
    cmd.extend(["--allocbench-label", args.allocbench_label, "--allocbench-program", args.allocbench_program,
                "--allocbench-name", args.allocbench_name])


def main() -> None:
    runner = pyperf.Runner(**RUNNER_DEFAULTS, add_cmdline_args=add_cmdline_args,
                           program_args=("-P", "-m", "allocbench.live_bench_worker"))
    runner.argparser.add_argument("--allocbench-label", required=True)
    runner.argparser.add_argument("--allocbench-program", required=True)
    runner.argparser.add_argument("--allocbench-name", required=True)
    args = runner.parse_args()
    command = program_command(args.allocbench_label, args.allocbench_program, dict(os.environ))
    metadata = {"allocbench_allocator": args.allocbench_label, "allocbench_program": args.allocbench_program,
                "allocbench_live_path": command.path}
    runner.bench_time_func(args.allocbench_name, time_runs, command.argv, command.environment, metadata=metadata)


if __name__ == "__main__":
    main()
