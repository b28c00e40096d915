"""Executors: where and how many cell tasks run at once. An executor takes tasks and yields
their outcomes as they finish (allocbench.cells); it never writes results: the coordinator
(allocbench.runner) alone writes the folder, whatever executor measured.

  SerialExecutor  one task at a time, each in a fresh process
  LocalExecutor   memory tasks on `jobs` processes at once (each still a process of its
                  own, as a memory measurement must be); time tasks one at a time, never
                  beside other work of the run, so timings are not disturbed
The Dask executor (sweeps over a cluster) is the same interface over dask.distributed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Protocol

from allocbench.cells import CellOutcome, CellTask
from allocbench.measure import kill_children, run_cell

OnStart = Callable[[CellTask], None]


class Executor(Protocol):
    jobs: int  # tasks that may run at once

    def run(self, tasks: Sequence[CellTask], on_start: OnStart | None = None) -> Iterator[CellOutcome]:
        """Yields each task's outcome as it finishes, in any order. Interrupting the
        iteration (Ctrl-C, SIGTERM) kills the tasks still running."""
        ...

    def close(self) -> None: ...


def default_jobs() -> int:
    return os.cpu_count() or 1


class SerialExecutor:
    jobs = 1

    def run(self, tasks: Sequence[CellTask], on_start: OnStart | None = None) -> Iterator[CellOutcome]:
        for task in tasks:
            if on_start:
                on_start(task)
            yield run_cell(task)

    def close(self) -> None:
        pass


class LocalExecutor:
    def __init__(self, jobs: int | None = None):
        self.jobs = max(1, jobs or default_jobs())

    def run(self, tasks: Sequence[CellTask], on_start: OnStart | None = None) -> Iterator[CellOutcome]:
        memory = [t for t in tasks if t.phase == "memory"]
        timed = [t for t in tasks if t.phase != "memory"]
        if memory:
            yield from self._in_parallel(memory, on_start)
        yield from SerialExecutor().run(timed, on_start)

    def _in_parallel(self, tasks: list[CellTask], on_start: OnStart | None) -> Iterator[CellOutcome]:
        def measured(task: CellTask) -> CellOutcome:
            if on_start:
                on_start(task)
            return run_cell(task)

        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="allocbench-cell")
        try:
            pending = {pool.submit(measured, task) for task in tasks}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            kill_children()
            raise
        finally:
            pool.shutdown(wait=True)

    def close(self) -> None:
        pass
