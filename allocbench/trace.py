"""Trace files from Python: write, open, iterate as numpy chunks, summarise, convert.

The format (docs/trace-format.md, versions 1 and 2) is read and written by the C++ core, which
verifies every chunk and hands out 16-byte records whatever the version on disk; the summary that `allocbench trace info` prints comes from the core's scan_trace,
which reads the trace through the replay loop's own checks (liveness, absurd sizes), so a
fault is worded the same by `trace info` and by a replay. Memory stays bounded: one chunk at
a time, plus a table of the trace's id space (at most its peak live blocks plus one) and one
count per distinct requested size.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from allocbench import _core
from allocbench._core import TRACE_VERSION, TRACE_VERSIONS, TraceError, TraceReader, TraceWriter, trace_op_names
from allocbench.errors import UsageError
from allocbench.outputs import check_output_file

__all__ = [
    "RECORD_DTYPE",
    "OPS",
    "DOMAINS",
    "Trace",
    "TraceError",
    "TraceStats",
    "write_trace",
    "summarise",
    "convert",
]

RECORD_DTYPE = np.dtype(
    [("op", "u1"), ("domain", "u1"), ("reserved", "<u2"), ("id", "<u4"), ("size", "<u4"), ("arg", "<u4")]
)
OP_NAMES: dict[int, str] = trace_op_names()
OPS: dict[str, int] = {name: code for code, name in OP_NAMES.items()}
DOMAINS: dict[str, int] = {"raw": 0, "mem": 1, "obj": 2}
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


def write_trace(path: str | bytes | os.PathLike, records: np.ndarray | Iterable[tuple], metadata: dict,
                version: int = TRACE_VERSION, compress: bool = True) -> dict:
    """Writes a whole trace in format `version` (default: the newest; `compress`: version 2's
    chunks with zlib, where that makes them smaller); returns its summary (version, op count,
    id space, checksum, ...)."""
    writer = TraceWriter(path, json.dumps(metadata), version=version, compress=compress)
    writer.append_records(_as_records(records))
    writer.close()
    return writer.summary


class Trace:
    """An open trace: header and trailer already verified, chunks verified as they are read."""

    def __init__(self, path: str | bytes | os.PathLike):
        self.path = Path(os.fsdecode(path))
        self._reader = TraceReader(self.path)
        # The core has checked that the metadata is one JSON object that every reader parses
        # the same (no lone surrogates, no numbers of absurd length).
        self.metadata: dict = json.loads(self._reader.metadata_json)
        self.summary: dict = self._reader.summary
        self.version: int = self.summary["version"]
        self.file_bytes: int = self._reader.file_bytes

    def chunks(self) -> Iterator[tuple[int, np.ndarray]]:
        """(index of the chunk's first op, records) for each chunk, from the start."""
        self._reader.rewind()
        while (data := self._reader.next_chunk()) is not None:
            yield self._reader.chunk_first_op, np.frombuffer(data, dtype=RECORD_DTYPE)


@dataclass
class TraceStats:
    path: str
    metadata: dict
    version: int  # of the trace format
    file_bytes: int
    bytes_per_op: float | None  # file_bytes / op_count; None for a trace without ops
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
    # for the requests pymalloc hands to the lower allocator.
    by_size_class: dict[str, int] = field(default_factory=dict)


def _percentile(values: np.ndarray, counts: np.ndarray, p: int) -> int:
    rank = np.cumsum(counts)
    return int(values[np.searchsorted(rank, rank[-1] * p / 100)])


def by_size_class(values: np.ndarray, counts: np.ndarray, spec: str = "pymalloc") -> dict[str, int]:
    """Requests by the block size a pymalloc spec (default: preset cpython-3.11) serves them
    from, "0" for 0 bytes and ">THRESHOLD" for those it passes to the lower allocator. The
    rounding is the core's (SizeClasses), not restated here."""
    classes = [c["block_size"] for c in _core.Allocator(spec).size_classes()]
    blocks = np.array(_core.block_sizes(spec, values.tolist()), dtype=np.int64)
    out = {"0": int(counts[values == 0].sum())}
    out.update({str(block): int(counts[blocks == block].sum()) for block in classes})
    out[f">{classes[-1]}"] = int(counts[(blocks == 0) & (values > 0)].sum())
    return out


def summarise(source: str | os.PathLike | Trace) -> TraceStats:
    """Reads the whole trace through the core's replay checks (scan_trace: the one home of
    the liveness rules); raises TraceError (one line, naming the file and the op index) for a
    corrupt trace or one whose ops are inconsistent."""
    trace = source if isinstance(source, Trace) else Trace(source)
    scan = _core.scan_trace(trace.path)
    sizes = np.array(scan.request_sizes, dtype=np.int64).reshape(-1, 2)
    values, counts = sizes[:, 0], sizes[:, 1]
    requests = int(counts.sum())
    recorded_skips = trace.metadata.get("ops_skipped", {})
    ops = scan.ops
    op_count = trace.summary["op_count"]
    return TraceStats(
        path=os.fsdecode(trace.path),
        metadata=trace.metadata,
        version=trace.version,
        file_bytes=trace.file_bytes,
        bytes_per_op=trace.file_bytes / op_count if op_count else None,
        op_count=op_count,
        ops_by_kind=ops.as_dict(),
        ops_by_domain=ops.by_domain,
        skipped_on_replay=trace.summary["skipped_ops"],
        # The recorder counts foreign ops too, but those are in the trace: keep the others.
        skipped_by_recorder={k: v for k, v in recorded_skips.items() if k not in OPS and isinstance(v, int)}
        if isinstance(recorded_skips, dict)
        else {},
        peak_live_objects=scan.peak_live_objects,
        peak_live_bytes=scan.peak_live_bytes,
        final_live_objects=scan.retained_live_objects,
        final_live_bytes=scan.retained_live_bytes,
        requests=requests,
        size_min=int(values[0]) if requests else None,
        size_max=int(values[-1]) if requests else None,
        size_mean=float((values.astype(np.float64) * counts).sum() / requests) if requests else None,
        size_percentiles={p: _percentile(values, counts, p) for p in PERCENTILES} if requests else {},
        by_size_class=by_size_class(values, counts),
    )


def convert(source: str | os.PathLike, output: str | os.PathLike, version: int = TRACE_VERSION) -> dict:
    """Writes the trace at `source` again at `output` in format `version`: the same metadata
    and records in the same order, only their encoding changes (so the chunk CRCs and the
    checksum of the records stay the same). The output follows the rule of outputs.py (not a
    folder, link or device, not the source itself) and is written under a temporary name
    beside it, renamed into place only when complete: a source found corrupt halfway through
    leaves nothing behind. Returns the new trace's summary. Raises TraceError (one line) for a
    bad source, UsageError for a bad output or version."""
    if version not in TRACE_VERSIONS:
        raise UsageError(f"version {version}: this allocbench writes versions {', '.join(map(str, TRACE_VERSIONS))}")
    output = check_output_file(Path(os.fsdecode(output)), [Path(os.fsdecode(source))], what="trace")
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    try:
        summary = _core.copy_trace(source, partial, version)
        os.replace(partial, output)
    except TraceError as error:  # a failure to write names the output, not its temporary name
        message = str(error)
        if message.startswith(f"{partial}: "):
            raise TraceError(f"{output}: {message.removeprefix(f'{partial}: ')}") from None
        raise
    finally:
        partial.unlink(missing_ok=True)
    return summary
