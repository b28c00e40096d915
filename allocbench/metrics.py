"""Every figure a results folder holds, declared once: its name (the same in the C++ core,
metrics.csv, the report and its glossary), unit, the phase that measures it and what it means.

docs/results-format.md lists the same table (a test holds the two together); the report's
glossary and the terminal tables take their words from here.
"""

from __future__ import annotations

from dataclasses import dataclass

PHASES = ("memory", "time")  # memory first: its replay time sets pyperf's loops


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str  # s, ns, bytes, count, ratio
    phase: str  # the cell phase that writes it: "memory" or "time"
    source: str  # where the number comes from
    meaning: str  # one sentence, for the format's documentation and the report's glossary
    label: str = ""  # the words charts and tables use for it

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ")


METRICS: tuple[Metric, ...] = (
    Metric("time_mean", "s", "time", "pyperf",
           "mean time of one replay of the workload's trace (a live workload: of one run of the program, "
           "start-up to exit)", label="time mean"),
    Metric("time_median", "s", "time", "pyperf", "median of the same values"),
    Metric("time_stdev", "s", "time", "pyperf", "standard deviation of the values", label="time stdev"),
    Metric("time_values", "count", "time", "pyperf", "number of values (for confidence intervals and tests)", label="timing values"),
    Metric("ns_per_op", "ns", "time", "pyperf", "time_mean divided by ops", label="ns/op"),
    Metric("ops", "count", "time", "trace",
           "operations in the trace, one replay (foreign frees included, though replay skips them)"),
    Metric("base_time_mean", "s", "time", "pyperf",
           "a sweep's base, timed in processes that alternate with this cell's: mean time of one replay",
           label="base time mean"),
    Metric("base_time_median", "s", "time", "pyperf", "the same base timing's median", label="base time median"),
    Metric("base_time_stdev", "s", "time", "pyperf", "the same base timing's standard deviation",
           label="base time stdev"),
    Metric("base_time_values", "count", "time", "pyperf", "the same base timing's number of values",
           label="base timing values"),
    Metric("peak_live_bytes", "bytes", "memory", "memory pass",
           "peak of the live requested bytes: the least memory any allocator could use", label="peak live bytes"),
    Metric("peak_rss_bytes", "bytes", "memory", "memory pass",
           "process RSS high-water mark during the replay, above the RSS just before its first operation "
           "(the replay's own id table and first chunk already in)", label="peak RSS"),
    Metric("retained_rss_bytes", "bytes", "memory", "memory pass",
           "process RSS when the workload has ended (it freed what it frees; what it leaves live still is), "
           "above the same baseline", label="retained RSS"),
    Metric("peak_footprint_bytes", "bytes", "memory", "memory pass",
           "the allocator's own peak footprint (bytes it holds from the OS), where it reports one", label="own peak footprint"),
    Metric("retained_footprint_bytes", "bytes", "memory", "memory pass",
           "the allocator's own footprint when the workload has ended, where it reports one", label="own retained footprint"),
    Metric("rss_fragmentation", "ratio", "memory", "memory pass",
           "peak_rss_bytes / peak_live_bytes: bytes of resident memory per requested byte at the worst "
           "moment, the same measure for every allocator", label="RSS fragmentation"),
    Metric("footprint_fragmentation", "ratio", "memory", "memory pass",
           "peak_footprint_bytes / peak_live_bytes: the same from the allocator's own account, where it "
           "reports a footprint", label="footprint fragmentation"),
    Metric("process_peak_rss_bytes", "bytes", "memory", "live run",
           "a live workload: the program's process RSS high-water mark, interpreter and all", label="process peak RSS"),
    Metric("process_rss_bytes_at_exit", "bytes", "memory", "live run",
           "a live workload: the program's process RSS when it ends (after the interpreter's finalisation)",
           label="process RSS at exit"),
    Metric("served_share", "ratio", "memory", "live run",
           "a live workload on a pymalloc variant: the share of the program's small requests the variant served "
           "(the rest went to the allocator below)", label="served share"),
    Metric("mmap_calls", "count", "memory", "memory pass", "mmap calls of a pymalloc variant"),
    Metric("munmap_calls", "count", "memory", "memory pass", "munmap calls of a pymalloc variant"),
    Metric("madvise_calls", "count", "memory", "memory pass",
           "madvise calls of a pymalloc variant (purged pools, huge-page advice)"),
)

BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}


def metric(name: str) -> Metric:
    return BY_NAME[name]


def names(phase: str, source: str) -> tuple[str, ...]:
    """The metrics of a phase from one source (the memory pass, a live run), in table order."""
    return tuple(m.name for m in METRICS if m.phase == phase and m.source == source)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is unknown or the denominator is zero:
    the one rule for the fragmentation figures."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator
