"""Progress of a run on stderr: the current cell, how many are done, and an ETA.

On a terminal one line is rewritten in place; elsewhere (CI logs, pipes) each cell gets a
line of its own. The clock is injected so that tests can drive it.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    def __init__(self, stream: TextIO = sys.stderr, clock: Callable[[], float] = time.monotonic, width: int = 24):
        self.stream = stream
        self.clock = clock
        self.width = width
        self.tty = stream.isatty()
        self.total = 0
        self.finished = 0
        self.started = 0.0

    def _write(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r\x1b[2K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def note(self, text: str) -> None:
        self._write(f"preparing {text}")

    def start(self, total: int) -> None:
        self.total, self.finished, self.started = total, 0, self.clock()

    def cell(self, allocator: str, workload: str, phase: str) -> None:
        """Called as a cell starts: the previous one is finished."""
        filled = self.width * self.finished // max(1, self.total)
        bar = "#" * filled + "." * (self.width - filled)
        eta = ""
        if self.finished:
            per_cell = (self.clock() - self.started) / self.finished
            eta = f" ETA {format_seconds(per_cell * (self.total - self.finished))}"
        self._write(f"[{bar}] {self.finished + 1}/{self.total} {allocator} x {workload} ({phase}){eta}")
        self.finished += 1

    def done(self) -> None:
        elapsed = format_seconds(self.clock() - self.started)
        self._write(f"[{'#' * self.width}] {self.total}/{self.total} done in {elapsed}")
        if self.tty:
            self.stream.write("\n")
