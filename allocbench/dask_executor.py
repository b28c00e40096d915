"""The Dask executor: cell tasks on a dask.distributed cluster (`--executor dask`), beside
the local ones (allocbench/executors.py), with the same interface and the same outcomes.

Workers need allocbench installed and nothing shared with the coordinator: each trace goes
to the cluster once, by content (the data scattered under its sha256), and each worker
keeps it as a local file named by that hash, so a worker receives a trace once however many
of its cells replay it. Outcomes come back as records (allocbench.cells.CellOutcome); the
coordinator alone writes the results folder.

Timing: a time task needs the worker resource `timing` (start workers with `--resources
timing=1`); at most one time task runs per host at a time, pinned to one worker of that
host, so that no timing ever shares a machine with other work of the sweep, and each task
times its cell and the base there, alternating, so that a ratio never mixes machines.
Memory tasks run on every worker thread, a bounded window of them in flight.

Without a scheduler address a LocalCluster is started on this machine (loopback), a worker
process per job, each with the timing resource.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from allocbench.cells import CellOutcome, CellTask
from allocbench.errors import UsageError
from allocbench.executors import OnStart

TIMING = "timing"


def _local_trace(sha256: str, data: bytes) -> str:
    """On a worker: the trace as a local file named by its content, written once per worker
    process (into its own folder: allocbench.measure.traces_folder)."""
    from allocbench.measure import traces_folder

    path = traces_folder() / f"{sha256}.abt"
    if not path.is_file():
        if hashlib.sha256(data).hexdigest() != sha256:
            raise RuntimeError(f"trace {sha256[:16]} arrived damaged")
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        partial.write_bytes(data)
        os.replace(partial, path)
    return str(path)


def run_remote(task: CellTask, trace_data: bytes) -> CellOutcome:
    """The task on a worker: its trace made local, its worker processes started with a fixed
    address layout (a worker process is ours for its whole life, so the flag stays set)."""
    import socket

    from allocbench.address_space import fix_for_children
    from allocbench.measure import run_cell

    path = _local_trace(task.trace.sha256, trace_data)
    fix_for_children()
    outcome = run_cell(task, trace=path)
    return CellOutcome(**{**outcome.__dict__, "worker": socket.gethostname()})


class DaskExecutor:
    def __init__(self, scheduler: str | None = None, jobs: int | None = None):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise UsageError("--executor dask needs dask.distributed: pip install 'allocbench[dask]'") from None
        self._cluster = None
        try:
            if scheduler:
                self._client = Client(scheduler, timeout="10s")
            else:
                self._cluster = LocalCluster(n_workers=max(1, jobs or os.cpu_count() or 1), threads_per_worker=1,
                                             processes=True, resources={TIMING: 1}, host="127.0.0.1",
                                             dashboard_address=None)
                self._client = Client(self._cluster)
        except OSError as error:
            raise UsageError(f"--scheduler {scheduler}: cannot reach the Dask scheduler: {error}") from None
        self._traces: dict[str, object] = {}
        self.jobs = max(1, sum(w.get("nthreads", 1) for w in self._workers().values()))

    def _workers(self) -> dict:
        return self._client.scheduler_info()["workers"]

    def _timing_workers(self) -> list[str]:
        """One worker per host among those offering the timing resource."""
        by_host: dict[str, str] = {}
        for address, info in sorted(self._workers().items()):
            if info.get("resources", {}).get(TIMING, 0) >= 1:
                by_host.setdefault(info.get("host", address), address)
        if not by_host:
            raise UsageError(f"no Dask worker offers the `{TIMING}` resource: start workers with --resources {TIMING}=1")
        return list(by_host.values())

    def _trace(self, task: CellTask):
        """The trace's bytes on the cluster, scattered once under its content hash."""
        if task.trace.sha256 not in self._traces:
            data = Path(task.trace.path).read_bytes()
            self._traces[task.trace.sha256] = self._client.scatter(data, hash=False, direct=False)
        return self._traces[task.trace.sha256]

    def run(self, tasks: Sequence[CellTask], on_start: OnStart | None = None) -> Iterator[CellOutcome]:
        from dask.distributed import wait

        memory = [t for t in tasks if t.phase == "memory"]
        timed = [t for t in tasks if t.phase != "memory"]
        running = {}
        try:
            queue = list(memory)
            while queue or running:
                while queue and len(running) < self.jobs:
                    task = queue.pop(0)
                    if on_start:
                        on_start(task)
                    future = self._client.submit(run_remote, task, self._trace(task), pure=False)
                    running[future] = task
                done = wait(list(running), return_when="FIRST_COMPLETED").done
                for future in done:
                    running.pop(future)
                    yield future.result()
            hosts = self._timing_workers()
            queue = list(timed)
            busy: dict[object, str] = {}
            while queue or running:
                for worker in [w for w in hosts if w not in busy.values()]:
                    if not queue:
                        break
                    task = queue.pop(0)
                    if on_start:
                        on_start(task)
                    future = self._client.submit(run_remote, task, self._trace(task), pure=False,
                                                 workers=[worker], allow_other_workers=False, resources={TIMING: 1})
                    running[future] = task
                    busy[future] = worker
                done = wait(list(running), return_when="FIRST_COMPLETED").done
                for future in done:
                    running.pop(future)
                    busy.pop(future)
                    yield future.result()
        except BaseException:
            self._client.cancel(list(running))
            raise

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()
