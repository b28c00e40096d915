"""What `allocbench run --mode` measures: `replay` (each workload's trace replayed into the
allocator: the default), `live` (each program workload run live on the allocator, the program
itself in an unmodified interpreter: allocbench/live.py) or `both`, side by side.

A live measurement is a workload of its own in the results, named after the program workload
it runs with LIVE_SUFFIX (`word_count@live` beside `word_count`), so that the results folder,
its tables and the report's per-workload charts hold it as they hold any workload; its entry
in the manifest says `"mode": "live"` and names the program. This module is the one home of
that rule.
"""

from __future__ import annotations

RUN_MODES = ("replay", "live", "both")
LIVE_SUFFIX = "@live"
LIVE = "live"
REPLAY = "replay"


def replays(run_mode: str) -> bool:
    return run_mode in (REPLAY, "both")


def runs_live(run_mode: str) -> bool:
    return run_mode in (LIVE, "both")


def live_name(workload: str) -> str:
    """The name of the live measurement of a program workload."""
    return workload + LIVE_SUFFIX


def replayed_name(live_workload: str) -> str:
    """The workload a live measurement runs the program of."""
    return live_workload.removesuffix(LIVE_SUFFIX)


def live_unavailable(kind: str) -> str | None:
    """Why a workload of this kind cannot run live (None: it can). A trace made by a generator
    has no program, and a pyperformance benchmark is recorded in-process by a driver that
    times nothing but its inner loop: only the suite's programs run as themselves."""
    return None if kind == "program" else f"a {kind} workload has no program to run live"


def workload_mode(entry: dict) -> str:
    """The mode of a manifest's workload entry (folders from before live runs: replay)."""
    return entry.get("mode", REPLAY)
