"""Trace files from Python: write, open, iterate as numpy chunks, summarise.

The format (docs/trace-format.md) is read and written by the C++ core, which verifies every
chunk; this module adds the consumer's checks (liveness, absurd sizes) and the summary that
`allocbench trace info` prints. Memory stays bounded: one chunk at a time, plus per-id
tables of the trace's id space (at most its peak live blocks plus one) and one count per
distinct requested size.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from allocbench import _core
from allocbench._core import TraceError, TraceReader, TraceWriter, trace_op_names

__all__ = [
    "RECORD_DTYPE",
    "OPS",
    "DOMAINS",
    "ABSURD_SIZE",
    "Trace",
    "TraceError",
    "TraceStats",
    "write_trace",
    "summarise",
]

RECORD_DTYPE = np.dtype(
    [("op", "u1"), ("domain", "u1"), ("reserved", "<u2"), ("id", "<u4"), ("size", "<u4"), ("arg", "<u4")]
)
OP_NAMES: dict[int, str] = trace_op_names()
OPS: dict[str, int] = {name: code for code, name in OP_NAMES.items()}
DOMAINS: dict[str, int] = {"raw": 0, "mem": 1, "obj": 2}
# No small-object workload asks for a block this large in one request: in a trace it means
# corruption (or a generator bug), and replaying it would only measure the OS.
ABSURD_SIZE = _core.ABSURD_REQUEST_BYTES  # larger requests are taken as a corrupt trace
PERCENTILES = (50, 90, 99)


def _as_records(records: np.ndarray | Iterable[tuple]) -> np.ndarray:
    """A structured array of RECORD_DTYPE from an array or from (op, domain, id, size, arg)
    tuples, where op and domain may be names ("alloc", "obj") or codes."""
    if isinstance(records, np.ndarray):
        return np.ascontiguousarray(records, dtype=RECORD_DTYPE)
    rows = [
        (OPS[op] if isinstance(op, str) else op, DOMAINS[domain] if isinstance(domain, str) else domain, 0, id_, size, arg)
        for op, domain, id_, size, arg in records
    ]
    return np.array(rows, dtype=RECORD_DTYPE)


def write_trace(path: str | os.PathLike, records: np.ndarray | Iterable[tuple], metadata: dict) -> dict:
    """Writes a whole trace; returns its summary (op count, id space, checksum, ...)."""
    writer = TraceWriter(str(path), json.dumps(metadata))
    writer.append_records(_as_records(records))
    writer.close()
    return writer.summary


class Trace:
    """An open trace: header and trailer already verified, chunks verified as they are read."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._reader = TraceReader(str(path))
        self.metadata: dict = json.loads(self._reader.metadata_json)
        self.summary: dict = self._reader.summary

    def chunks(self) -> Iterator[tuple[int, np.ndarray]]:
        """(index of the chunk's first op, records) for each chunk, from the start."""
        self._reader.rewind()
        while (data := self._reader.next_chunk()) is not None:
            yield self._reader.chunk_first_op, np.frombuffer(data, dtype=RECORD_DTYPE)

    def error(self, op_index: int, message: str) -> TraceError:
        """The one-line error of a consumer's check, shaped as the reader's own."""
        return TraceError(f"{self.path}: op {op_index}: {message}")


@dataclass
class TraceStats:
    path: str
    metadata: dict
    op_count: int
    ops_by_kind: dict[str, int]
    ops_by_domain: dict[str, int]
    skipped_on_replay: int  # foreign frees and reallocs, in the trace
    skipped_by_recorder: dict[str, int]  # not in the trace at all (from the metadata)
    peak_live_objects: int
    peak_live_bytes: int
    final_live_objects: int
    final_live_bytes: int
    requests: int  # blocks requested: allocs, callocs, reallocs' new sizes
    size_min: int | None
    size_max: int | None
    size_mean: float | None
    size_percentiles: dict[int, int] = field(default_factory=dict)
    # pymalloc size class block size (16, 32, ... 512) -> requests; "0" and ">512" as well,
    # for the requests pymalloc hands to the system.
    by_size_class: dict[str, int] = field(default_factory=dict)


# Liveness states of an id, kept across chunks.
_NEVER, _LIVE, _FREED, _MOVED = 0, 1, 2, 3


class _Liveness:
    """Per-id state and size across chunks; checks each chunk's births and deaths.

    A chunk's ops become events: a birth (alloc, calloc, the new id of a realloc or foreign
    realloc) or a death (free, the old id of a realloc). Sorted by (id, op index, death
    first), each event's predecessor is the previous event of the same id, so whether the id
    was live before it, and the size that dies with it, come out vectorised. The first bad
    event by op index is a real error: everything before it was consistent."""

    def __init__(self, trace: Trace):
        self.trace = trace
        id_space = trace.summary["id_space"]
        self.state = np.zeros(id_space, dtype=np.int8)
        self.size = np.zeros(id_space, dtype=np.int64)
        self.live_objects = 0
        self.live_bytes = 0
        self.peak_objects = 0
        self.peak_bytes = 0

    def feed(self, first_op: int, records: np.ndarray, block_bytes: np.ndarray) -> None:
        op = records["op"]
        n = len(records)
        position = np.arange(n)
        birth_by_id = np.isin(op, (OPS["alloc"], OPS["calloc"]))
        birth_by_arg = np.isin(op, (OPS["realloc"], OPS["foreign_realloc"]))
        death = np.isin(op, (OPS["free"], OPS["realloc"]))
        e_pos = np.concatenate([position[death], position[birth_by_id], position[birth_by_arg]])
        e_id = np.concatenate([records["id"][death], records["id"][birth_by_id], records["arg"][birth_by_arg]])
        n_death = int(death.sum())
        e_birth = np.arange(len(e_pos)) >= n_death
        e_size = np.where(e_birth, block_bytes[e_pos], 0)
        e_op = op[e_pos]
        order = np.lexsort((e_birth, e_pos, e_id))
        e_pos, e_id, e_birth, e_size, e_op = (a[order] for a in (e_pos, e_id, e_birth, e_size, e_op))

        first = np.ones(len(e_id), dtype=bool)
        first[1:] = e_id[1:] != e_id[:-1]
        previous = np.maximum(np.arange(len(e_id)) - 1, 0)
        table_state = self.state[e_id]
        live_before = np.where(first, table_state == _LIVE, e_birth[previous])
        freed_before = np.where(first, table_state == _FREED, ~e_birth[previous] & (e_op[previous] == OPS["free"]))
        dying_size = np.where(first, self.size[e_id], e_size[previous])

        self._raise_first_error(first_op, e_pos, e_id, e_op, e_birth, live_before, freed_before, block_bytes)

        sign = np.where(e_birth, 1, -1)
        object_delta = np.bincount(e_pos, weights=sign, minlength=n).astype(np.int64)
        byte_delta = np.bincount(e_pos, weights=np.where(e_birth, e_size, -dying_size), minlength=n).astype(np.int64)
        objects = self.live_objects + np.cumsum(object_delta)
        live_bytes = self.live_bytes + np.cumsum(byte_delta)
        if n:
            self.peak_objects = max(self.peak_objects, int(objects.max()))
            self.peak_bytes = max(self.peak_bytes, int(live_bytes.max()))
            self.live_objects, self.live_bytes = int(objects[-1]), int(live_bytes[-1])

        last = np.ones(len(e_id), dtype=bool)
        last[:-1] = e_id[:-1] != e_id[1:]
        ids = e_id[last]
        self.state[ids] = np.where(e_birth[last], _LIVE, np.where(e_op[last] == OPS["free"], _FREED, _MOVED))
        self.size[ids] = np.where(e_birth[last], e_size[last], 0)

    def _raise_first_error(self, first_op, e_pos, e_id, e_op, e_birth, live_before, freed_before, block_bytes):
        problems = {
            "reborn": e_birth & live_before,
            "dead": ~e_birth & ~live_before,
            "absurd": e_birth & (block_bytes[e_pos] > ABSURD_SIZE),
        }
        candidates = [(int(e_pos[mask].min()), kind) for kind, mask in problems.items() if mask.any()]
        if not candidates:
            return
        position, kind = min(candidates)
        i = int(np.flatnonzero(problems[kind] & (e_pos == position))[0])
        name, block_id = OP_NAMES[int(e_op[i])], int(e_id[i])
        if kind == "reborn":
            message = f"{name} gives id {block_id}, which is already live"
        elif kind == "absurd":
            message = f"{name} of id {block_id}: absurd size {int(block_bytes[position])} bytes (more than {ABSURD_SIZE})"
        elif freed_before[i] and name == "free":
            message = f"double free of id {block_id}"
        else:
            message = f"{name} of id {block_id}, which is not live"
        raise self.trace.error(first_op + position, message)


class SizeHistogram:
    """Counts of each distinct requested size, merged chunk by chunk."""

    def __init__(self) -> None:
        self.values = np.zeros(0, dtype=np.int64)
        self.counts = np.zeros(0, dtype=np.int64)

    def add(self, sizes: np.ndarray) -> None:
        values, counts = np.unique(sizes, return_counts=True)
        merged, where = np.unique(np.concatenate([self.values, values]), return_inverse=True)
        total = np.zeros(len(merged), dtype=np.int64)
        np.add.at(total, where, np.concatenate([self.counts, counts]))
        self.values, self.counts = merged, total

    def percentile(self, p: int) -> int:
        rank = np.cumsum(self.counts)
        return int(self.values[np.searchsorted(rank, rank[-1] * p / 100)])

    def by_size_class(self) -> dict[str, int]:
        """Requests by the block size pymalloc (preset cpython-3.11) rounds them up to."""
        classes = _core.Allocator("pymalloc").size_classes()
        alignment, threshold = classes[0]["block_size"], classes[-1]["block_size"]
        values = self.values
        out = {"0": int(self.counts[values == 0].sum())}
        small = (values > 0) & (values <= threshold)
        counts = np.bincount((values[small] - 1) // alignment, weights=self.counts[small], minlength=len(classes))
        for index, count in enumerate(counts):
            out[str((index + 1) * alignment)] = int(count)
        out[f">{threshold}"] = int(self.counts[values > threshold].sum())
        return out


def block_bytes(records: np.ndarray) -> np.ndarray:
    """Bytes of the block each record creates (calloc: count * element size), as int64."""
    size = records["size"].astype(np.uint64)
    product = size * records["arg"].astype(np.uint64)  # below 2**64: both factors are u32
    # Clipped, so that the cast to int64 cannot wrap a huge calloc into a negative size.
    block = np.where(records["op"] == OPS["calloc"], np.minimum(product, np.uint64(1 << 62)), size)
    return block.astype(np.int64)


def summarise(source: str | os.PathLike | Trace) -> TraceStats:
    """Reads the whole trace, chunk by chunk; raises TraceError (one line, naming the file
    and the op index) for a corrupt trace or one whose ops are inconsistent."""
    trace = source if isinstance(source, Trace) else Trace(source)
    liveness = _Liveness(trace)
    histogram = SizeHistogram()
    by_kind = np.zeros(256, dtype=np.int64)
    by_domain = np.zeros(256, dtype=np.int64)
    for first_op, records in trace.chunks():
        by_kind += np.bincount(records["op"], minlength=256)
        by_domain += np.bincount(records["domain"], minlength=256)
        sizes = block_bytes(records)
        liveness.feed(first_op, records, sizes)
        requests = np.isin(records["op"], (OPS["alloc"], OPS["calloc"], OPS["realloc"], OPS["foreign_realloc"]))
        histogram.add(sizes[requests])

    requests = int(histogram.counts.sum())
    recorded_skips = trace.metadata.get("ops_skipped", {})
    return TraceStats(
        path=str(trace.path),
        metadata=trace.metadata,
        op_count=trace.summary["op_count"],
        ops_by_kind={name: int(by_kind[code]) for code, name in OP_NAMES.items()},
        ops_by_domain={name: int(by_domain[code]) for name, code in DOMAINS.items()},
        skipped_on_replay=trace.summary["skipped_ops"],
        # The recorder counts foreign ops too, but those are in the trace: keep the others.
        skipped_by_recorder={k: v for k, v in recorded_skips.items() if k not in OPS and isinstance(v, int)}
        if isinstance(recorded_skips, dict)
        else {},
        peak_live_objects=liveness.peak_objects,
        peak_live_bytes=liveness.peak_bytes,
        final_live_objects=liveness.live_objects,
        final_live_bytes=liveness.live_bytes,
        requests=requests,
        size_min=int(histogram.values[0]) if requests else None,
        size_max=int(histogram.values[-1]) if requests else None,
        size_mean=float((histogram.values.astype(np.float64) * histogram.counts).sum() / requests) if requests else None,
        size_percentiles={p: histogram.percentile(p) for p in PERCENTILES} if requests else {},
        by_size_class=histogram.by_size_class(),
    )
