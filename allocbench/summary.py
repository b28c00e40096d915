"""Terminal tables of results: what `allocbench run` prints at the end, `allocbench show`
prints later, and `allocbench compare` prints for two runs. The summary renders the report's
own aggregate (allocbench.report.aggregate) as plain text, so page and terminal agree.

Time cells read "1.07x ±0.02" (candidate / reference, 95% interval half width); a leading
"~" marks a difference that is not significant (pyperf's two-sample t-test at 95%).
"""

from __future__ import annotations

from typing import TextIO

import pandas as pd

from allocbench.report.aggregate import aggregate
from allocbench.report.stats import RelativeTime, relative_time
from allocbench.results import ResultsFolder

MiB = 1024 * 1024


def _figures(folder: ResultsFolder) -> dict[tuple[str, str], dict[str, float]]:
    cells: dict[tuple[str, str], dict[str, float]] = {}
    for row in folder.metrics:
        cells.setdefault((row["allocator"], row["workload"]), {})[row["metric"]] = float(row["value"])
    return cells


def _relative(candidate: dict | None, reference: dict | None) -> RelativeTime | None:
    keys = ("time_mean", "time_stdev", "time_values")
    if not candidate or not reference or not all(k in candidate and k in reference for k in keys):
        return None
    return relative_time(
        candidate["time_mean"], candidate["time_stdev"], int(candidate["time_values"]),
        reference["time_mean"], reference["time_stdev"], int(reference["time_values"]),
    )


def format_relative(ratio: float, low: float, high: float, significant: bool) -> str:
    if ratio != ratio:  # NaN: not timed
        return "-"
    spread = f" ±{(high - low) / 2:.2f}" if high == high and low == low else ""
    return f"{'' if significant else '~'}{ratio:.2f}x{spread}"


def format_mib(value: float) -> str:
    return "-" if value != value else f"{value / MiB:.1f}"


def _table(title: str, header: list[str], rows: list[list[str]], stream: TextIO) -> None:
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]
    stream.write(f"\n{title}\n")
    for line in [header, ["-" * w for w in widths], *rows]:
        stream.write("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths))) + "\n")


def print_summary(folder: ResultsFolder, stream: TextIO) -> None:
    """The report's figures (allocbench.report.aggregate), as three text tables."""
    report = aggregate([folder.path])
    run = report.runs[0].label
    labels = report.allocators_of(run)
    cells = report.cells[report.cells["run"] == run].set_index(["allocator", "workload"])

    def text(label: str, workload: str, render) -> str:
        if (label, workload) not in cells.index:
            return "-"
        row = cells.loc[(label, workload)]
        return "FAILED" if "failed" in (row["time"], row["memory"]) and render(row) == "-" else render(row)

    def time_of(row) -> str:
        # The baseline against itself has no test (significant is NA): it gets no "~" mark.
        significant = row.name[0] == report.baseline or (row["significant"] is not pd.NA and bool(row["significant"]))
        return format_relative(row["relative_time"], row["relative_time_low"], row["relative_time_high"], significant)

    workloads = [w for w in report.workloads if w in set(cells.index.get_level_values("workload"))]
    time_rows = [[w] + [text(l, w, time_of) for l in labels] for w in workloads]
    summary = report.summary[report.summary["run"] == run].set_index("allocator")
    time_rows.append(["geometric mean"] + [
        format_relative(summary.loc[l, "relative_time"], summary.loc[l, "relative_time_low"],
                        summary.loc[l, "relative_time_high"], bool(summary.loc[l, "significant"]) or l == report.baseline)
        if l in summary.index else "-"
        for l in labels
    ])
    peak_rows = [[w] + [text(l, w, lambda r: format_mib(r.get("peak_rss_bytes", float("nan")))) for l in labels] for w in workloads]
    retained_rows = [[w] + [text(l, w, lambda r: format_mib(r.get("retained_rss_bytes", float("nan")))) for l in labels] for w in workloads]

    manifest = folder.manifest
    stream.write(f"suite {manifest['suite']} ({manifest['mode']} mode), {len(labels)} allocators, {len(workloads)} workloads\n")
    _table(f"time relative to {report.baseline} (lower is faster; ~ not significant)", ["workload", *labels], time_rows, stream)
    _table("peak RSS above the process before the workload, MiB", ["workload", *labels], peak_rows, stream)
    _table("retained RSS when the workload has ended, MiB", ["workload", *labels], retained_rows, stream)


def print_comparison(before: ResultsFolder, after: ResultsFolder, stream: TextIO) -> None:
    """Each (allocator, workload) present in both runs: after / before."""
    old, new = _figures(before), _figures(after)
    rows = []
    for key in new:
        if key not in old:
            continue
        label, workload = key
        peak_old, peak_new = old[key].get("peak_rss_bytes"), new[key].get("peak_rss_bytes")
        peak = f"{peak_new / peak_old:.2f}x" if peak_old and peak_new is not None else "-"
        rel = _relative(new[key], old[key])
        time = format_relative(rel.ratio, rel.low, rel.high, rel.significant) if rel else "-"
        rows.append([workload, label, time, peak])
    if not rows:
        stream.write("the two runs share no (allocator, workload) cell\n")
        return
    rows.sort()
    _table(
        f"{after.path.name} relative to {before.path.name} (~ not significant)",
        ["workload", "allocator", "time", "peak RSS"],
        rows,
        stream,
    )
