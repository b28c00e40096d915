"""Progress of a run on stderr: a bar per phase with cells done, elapsed time and an ETA,
and a line for each cell being measured (several at once when memory cells run in
parallel). On a terminal it is rich's live display; elsewhere (CI logs, pipes) each finished
cell gets a plain line of its own with the same figures. The clock is injected so that tests
can drive it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, SpinnerColumn, TextColumn, TimeElapsedColumn

from allocbench.cells import CellOutcome, CellTask


def format_seconds(seconds: float) -> str:
    seconds = int(round(max(0.0, seconds)))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    def __init__(self, stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic,
                 console: Console | None = None):
        self.console = console or Console(file=stream or sys.stderr, stderr=stream is None, soft_wrap=True)
        self.clock = clock
        self.live = self.console.is_terminal
        self._rich: RichProgress | None = None
        self._bar = None
        self._running: dict[tuple, object] = {}
        self._phase = ""
        self._total = 0
        self._done = 0
        self._started = 0.0

    def note(self, text: str) -> None:
        """Work before the cells (making traces)."""
        self.console.print(f"[dim]{escape(text)}[/dim]" if self.live else text, highlight=False, markup=self.live)

    def eta_seconds(self) -> float | None:
        """Time left at the mean pace (wall time) of the cells done so far."""
        if not self._done:
            return None
        return (self.clock() - self._started) / self._done * (self._total - self._done)

    def start(self, phase: str, tasks: list[CellTask], jobs: int) -> None:
        self._phase, self._total, self._done, self._started = phase, len(tasks), 0, self.clock()
        if not tasks:
            return
        if self.live:
            self._rich = RichProgress(
                SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[timing]}"), TimeElapsedColumn(),
                console=self.console, get_time=self.clock, transient=False,
            )
            self._rich.start()
            self._bar = self._rich.add_task(f"{phase} phase", total=len(tasks), timing="")
        else:
            self.console.print(f"{phase} phase: {len(tasks)} cells, {jobs} at a time", highlight=False, markup=False)

    def started(self, task: CellTask) -> None:
        if self._rich is not None:
            line = self._rich.add_task(escape(f"  {task.allocator} x {task.workload}"), total=None, timing="")
            self._running[task.key] = line

    def finished(self, outcome: CellOutcome) -> None:
        self._done += 1
        task = outcome.task
        eta = self.eta_seconds()
        eta_text = f"ETA {format_seconds(eta)}" if eta is not None else ""
        state = "done" if outcome.state == "done" else f"FAILED: {outcome.reason}"
        if self._rich is not None:
            line = self._running.pop(task.key, None)
            if line is not None:
                self._rich.remove_task(line)
            self._rich.update(self._bar, advance=1, timing=eta_text)
            if outcome.state != "done":
                self._rich.console.print(f"[red]{escape(f'{task.phase}: {task.allocator} x {task.workload}: {state}')}[/red]",
                                         highlight=False)
        else:
            self.console.print(f"[{self._done}/{self._total}] {task.phase} {task.allocator} x {task.workload}: "
                               f"{state} ({outcome.seconds:.1f} s) {eta_text}".rstrip(), highlight=False, markup=False)

    def stop(self) -> None:
        if self._rich is not None:
            self._rich.stop()
            self._rich = None
            self._running.clear()
        if self._total:
            elapsed = format_seconds(self.clock() - self._started)
            self.console.print(f"{self._phase} phase: {self._done}/{self._total} cells in {elapsed}", highlight=False,
                               markup=False)
            self._total = 0
