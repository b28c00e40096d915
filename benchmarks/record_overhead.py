"""Recording overhead: each workload program run plain and recorded, same interpreter, same
settings (PYTHONHASHSEED=0, no bytecode writing, ASLR as `allocbench record` leaves it).

Runs are paired: each repetition runs the program plain and then recorded, back to back, and
the ratio of the pair is taken, so that a slow moment of a shared machine falls on both runs
of a pair rather than on one side; the median of the pairs' ratios is printed (the must-show
of issue 11: at most 1.4 for each program). The recorded run is the child `allocbench record`
starts (the bootstrap, hook on), without the CLI's own start-up, which is paid once per
recording and says nothing about the hook; the last column is the whole `allocbench record`
command (start-up, and the compression of the trace once the program has ended, included),
for reference (median of its runs).

`--against PYTHON` compares with another installation of allocbench (an interpreter of
another environment, e.g. one built from an earlier commit): each repetition then also runs
that installation's recording of the program, in the same repetition as this one's and its
plain run, the order of the three rotating from one repetition to the next, so that before
and after are measured side by side under the same load. That installation's bootstrap is
started as that version took its settings: through a pipe, or (before they came through a
pipe) on its command line (the trace's path, the metadata as JSON, the program).

Wall time is the figure the target is about; the CPU ratio beside it is user + system time
over the plain run's. On a shared machine both swing from run to run (single pairs from 0.8
to 2 here), so `--instructions` adds what load cannot move: each program run once plain and
once recorded under valgrind's cachegrind, and the ratio of the instructions executed
(whole process: start-up, the program, the hook, writing the trace). It does not see cache
misses, which the hook adds too.

    python benchmarks/record_overhead.py [--repeat 5] [--against PYTHON] [--instructions] [PROGRAM ...]

Prints one row per program and installation: the median plain and recorded seconds, the
median ratio of the pairs and the smallest and largest, the median CPU-time ratio of the
pairs, ops recorded, the bytes per op of the trace as the hook wrote it, the hook's cost per
op, and the whole command's seconds (with --instructions, the instruction ratio and the
instructions added per op).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from allocbench import workloads
from allocbench.recording import BOOTSTRAP, DESCRIPTOR_DIGITS, HASH_SEED, settings_bytes


def start(command: list[str], environment: dict, settings: bytes | None, **popen) -> subprocess.Popen:
    """Starts `command`; with `settings`, on a pipe whose descriptor replaces "{FD}" in it."""
    if settings is None:
        return subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, **popen)
    reading, writing = os.pipe()
    command = [part if part != "{FD}" else f"{reading:0{DESCRIPTOR_DIGITS}d}" for part in command]
    child = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, pass_fds=(reading,), **popen)
    os.close(reading)
    with os.fdopen(writing, "wb") as pipe:
        pipe.write(settings)
    return child


def timed(command: list[str], environment: dict, settings: bytes | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system of the process and its threads) of one run."""
    begun = time.perf_counter()
    child = start(command, environment, settings)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - begun
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)}: exit status {child.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def instructions(command: list[str], environment: dict, settings: bytes | None = None) -> int:
    """Instructions the process executes, counted by cachegrind."""
    child = start(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null", *command],
                  environment, settings, stderr=subprocess.PIPE)
    report = child.communicate()[1].decode()
    found = re.search(r"I\s+refs:\s+([\d,]+)", report)
    if child.returncode != 0 or found is None:
        raise SystemExit(f"cachegrind of {' '.join(command)} failed:\n{report[-2000:]}")
    return int(found.group(1).replace(",", ""))


def trace_facts(python: str, trace: str) -> tuple[int, int]:
    """(op count, file bytes) of a trace, read by the installation of `python`."""
    code = "import sys; from allocbench import _core; print(_core.TraceReader(sys.argv[1]).summary['op_count'])"
    ops = int(subprocess.run([python, "-P", "-c", code, trace], check=True, capture_output=True, text=True).stdout)
    return ops, os.path.getsize(trace)


def bootstrap_of(python: str) -> tuple[str, bool]:
    """The recording bootstrap of the installation of `python` (-P: its own, not a checkout's
    in the current folder), wherever that version kept it, and whether it reads its settings
    from a pipe (else from its command line: the versions that kept it in commands/record)."""
    code = ("try:\n from allocbench.recording import BOOTSTRAP\n"
            "except ImportError:\n from allocbench.commands.record import BOOTSTRAP\n"
            "try:\n from allocbench.recording import settings_bytes\n piped = True\n"
            "except ImportError:\n piped = False\n"
            "print(BOOTSTRAP); print(piped)")
    lines = subprocess.run([python, "-P", "-c", code], check=True, capture_output=True, text=True).stdout.split()
    return lines[0], lines[1] == "True"


def settings_of(python: str, trace: str) -> bytes:
    """The settings the installation of `python` sends its bootstrap for `trace` (their format
    is that version's own)."""
    code = ("import sys; from pathlib import Path; from allocbench.recording import settings_bytes; "
            "sys.stdout.buffer.write(settings_bytes(Path(sys.argv[1]), {}, False))")
    return subprocess.run([python, "-P", "-c", code, trace], check=True, capture_output=True).stdout


def recorded_command(python: str, bootstrap: str, piped: bool, program: str, trace: str):
    """The recording child of an installation as `record` starts it (the bootstrap, hook on),
    without the CLI's own start-up: (command, settings sent on its pipe or None)."""
    if piped:
        settings = settings_bytes(Path(trace), {}, False) if python == sys.executable else settings_of(python, trace)
        return [python, bootstrap, "{FD}", "script", program], settings
    return [python, bootstrap, trace, json.dumps({}), "script", program], None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="repetitions (pairs of runs) per program")
    parser.add_argument("--against", metavar="PYTHON", help="an interpreter with another allocbench installed")
    parser.add_argument("--instructions", action="store_true",
                        help="also count the instructions of one plain and one recorded run (valgrind)")
    parser.add_argument("programs", nargs="*", default=workloads.programs())
    args = parser.parse_args()
    if args.instructions and shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind (apt-get install valgrind)")
    environment = dict(os.environ, PYTHONHASHSEED=str(HASH_SEED), PYTHONDONTWRITEBYTECODE="1")
    installations = {"this": (sys.executable, str(BOOTSTRAP), True)}
    if args.against:
        installations["against"] = (args.against, *bootstrap_of(args.against))
    print(f"median of {args.repeat} paired runs; this: {sys.prefix}" + (f"; against: {args.against}" if args.against else ""))
    print(f"{'program':<20} {'install':<8} {'plain s':>8} {'recorded s':>10} {'ratio':>6} {'min-max':>10} "
          f"{'CPU ratio':>9} {'ops':>10} {'B/op':>6} {'ns/op':>6} {'cli s':>6}" +
          (f" {'instr ratio':>11} {'instr/op':>8}" if args.instructions else ""))
    worst = dict.fromkeys(installations, 0.0)
    with tempfile.TemporaryDirectory() as folder:
        for name in args.programs:
            program = str(workloads.program_path(name))
            traces = {label: str(Path(folder) / f"{label}.abt") for label in installations}
            runs = ["plain", *installations]
            commands = {label: recorded_command(*installations[label], program, traces[label]) for label in installations}
            commands["plain"] = ([sys.executable, program], None)
            wall: dict[str, list[float]] = {run: [] for run in runs}
            cpu: dict[str, list[float]] = {run: [] for run in runs}
            for repetition in range(args.repeat):
                order = runs[repetition % len(runs):] + runs[:repetition % len(runs)]
                for run in order:
                    command, settings = commands[run]
                    seconds, cpu_seconds = timed(command, environment, settings=settings)
                    wall[run].append(seconds)
                    cpu[run].append(cpu_seconds)
            for label, (python, _, _) in installations.items():
                ops, size = trace_facts(python, traces[label])
                cli_trace = str(Path(folder) / "cli.abt")
                cli = statistics.median(
                    timed([python, "-P", "-m", "allocbench", "record", "-o", cli_trace, "--", "python", program], environment)[0]
                    for _ in range(args.repeat)
                )
                ratios = [r / p for r, p in zip(wall[label], wall["plain"])]
                cpu_ratio = statistics.median(r / p for r, p in zip(cpu[label], cpu["plain"]))
                plain, recorded = statistics.median(wall["plain"]), statistics.median(wall[label])
                ratio = statistics.median(ratios)
                worst[label] = max(worst[label], ratio)
                counted = ""
                if args.instructions:
                    plain_instructions = instructions([sys.executable, program], environment)
                    command, settings = commands[label]
                    recorded_instructions = instructions(command, environment, settings)
                    counted = (f" {recorded_instructions / plain_instructions:11.3f}"
                               f" {(recorded_instructions - plain_instructions) / ops:8.1f}")
                print(f"{name.removesuffix('.py'):<20} {label:<8} {plain:8.3f} {recorded:10.3f} {ratio:6.2f} "
                      f"{min(ratios):4.2f}-{max(ratios):<5.2f} {cpu_ratio:9.2f} {ops:10,} {size / ops:6.2f} "
                      f"{(recorded - plain) / ops * 1e9:6.1f} {cli:6.3f}{counted}")
    print("largest median ratio " + ", ".join(f"{label} {value:.2f}" for label, value in worst.items()) + " (target <= 1.4)")


if __name__ == "__main__":
    main()
