"""Terminal tables of results: what `allocbench run` prints at the end, `allocbench show`
prints later, and `allocbench compare` prints for two runs. Aggregates with the report's
statistics (allocbench.report.stats), then renders as plain text.

Time cells read "1.07x ±0.02" (candidate / reference, 95% interval half width); a leading
"~" marks a difference that is not significant (pyperf's two-sample t-test at 95%).
"""

from __future__ import annotations

from typing import TextIO

from allocbench.report.stats import RelativeTime, geometric_mean_ratio, relative_time
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


def format_relative(rel: RelativeTime | None) -> str:
    if rel is None:
        return "-"
    mark = "" if rel.significant else "~"
    spread = f" ±{rel.half_width:.2f}" if rel.half_width == rel.half_width else ""
    return f"{mark}{rel.ratio:.2f}x{spread}"


def format_mib(value: float | None) -> str:
    return "-" if value is None else f"{value / MiB:.1f}"


def _table(title: str, header: list[str], rows: list[list[str]], stream: TextIO) -> None:
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]
    stream.write(f"\n{title}\n")
    for line in [header, ["-" * w for w in widths], *rows]:
        stream.write("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths))) + "\n")


def print_summary(folder: ResultsFolder, stream: TextIO) -> None:
    manifest = folder.manifest
    labels = [a["label"] for a in manifest["allocators"]]
    workloads = [w["name"] for w in manifest["workloads"]]
    baseline = manifest["baseline"]
    cells = _figures(folder)
    failed = {(c["allocator"], c["workload"]) for c in folder.failures()}

    def cell_text(label: str, workload: str, text: str) -> str:
        return "FAILED" if (label, workload) in failed and text == "-" else text

    time_rows, peak_rows, retained_rows = [], [], []
    for workload in workloads:
        base = cells.get((baseline, workload))
        time_rows.append([workload] + [cell_text(l, workload, format_relative(_relative(cells.get((l, workload)), base))) for l in labels])
        peak_rows.append([workload] + [cell_text(l, workload, format_mib(cells.get((l, workload), {}).get("peak_rss_bytes"))) for l in labels])
        retained_rows.append([workload] + [cell_text(l, workload, format_mib(cells.get((l, workload), {}).get("retained_rss_bytes"))) for l in labels])

    overall = ["geometric mean"]
    for label in labels:
        pairs = [(cells.get((label, w)), cells.get((baseline, w))) for w in workloads]
        pairs = [(c, b) for c, b in pairs if _relative(c, b) is not None]
        if not pairs:
            overall.append("-")
            continue
        overall.append(format_relative(geometric_mean_ratio(
            [c["time_mean"] for c, _ in pairs], [c["time_stdev"] for c, _ in pairs], [c["time_values"] for c, _ in pairs],
            [b["time_mean"] for _, b in pairs], [b["time_stdev"] for _, b in pairs], [b["time_values"] for _, b in pairs],
        )))
    time_rows.append(overall)

    stream.write(f"suite {manifest['suite']} ({manifest['mode']} mode), {len(labels)} allocators, {len(workloads)} workloads\n")
    _table(f"time relative to {baseline} (lower is faster; ~ not significant)", ["workload", *labels], time_rows, stream)
    _table("peak RSS above the empty process, MiB", ["workload", *labels], peak_rows, stream)
    _table("retained RSS at the end of the workload, MiB", ["workload", *labels], retained_rows, stream)


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
        rows.append([workload, label, format_relative(_relative(new[key], old[key])), peak])
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
