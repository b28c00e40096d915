"""The terminal reporter, beside the HTML one: the tables `allocbench run` prints at the end,
`allocbench show` prints later, and `allocbench compare` prints for two runs. Like the page,
it renders the aggregate (allocbench.report.aggregate): one computation of every figure, two
renderings. Tables are rich's, plain text when the output is not a terminal.

Time cells read "1.07x ±0.02" (candidate / reference, 95% interval half width); a leading
"~" marks a difference that is not significant at 95%.
"""

from __future__ import annotations

import os
from typing import TextIO

import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table

from allocbench.metrics import metric
from allocbench.report.aggregate import (LIVE_PEAK_MEMORY, LIVE_RETAINED_MEMORY, PEAK_MEMORY, RETAINED_MEMORY, Report,
                                         aggregate)
from allocbench.report.stats import relative_time
from allocbench.run_modes import LIVE, REPLAY

MiB = 1024 * 1024


def format_relative(ratio: float, low: float, high: float, significant: bool) -> str:
    if ratio != ratio:  # NaN: not timed
        return "-"
    spread = f" ±{(high - low) / 2:.2f}" if high == high and low == low else ""
    return f"{'' if significant else '~'}{ratio:.2f}x{spread}"


def format_mib(value: float) -> str:
    return "-" if value != value else f"{value / MiB:.1f}"


def _console(stream: TextIO) -> Console:
    # Never cut a label short: off a terminal the tables take the width they need.
    terminal = Console(file=stream)
    return Console(file=stream, width=terminal.width if terminal.is_terminal else 10_000, highlight=False,
                   markup=False, soft_wrap=False, emoji=False)


def _table(title: str, header: list[str], rows: list[list[str]]) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for i, column in enumerate(header):
        table.add_column(column, justify="left" if i == 0 else "right", overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def _ratio(value: float, low: float, high: float) -> str:
    if value != value:
        return "-"
    return f"{value:.2f}x" + (f" ({low:.2f}-{high:.2f})" if low == low and high == high and low != high else "")


def print_sweep_summary(report, stream: TextIO) -> None:
    """A sweep's verdict and its configurations, best first on time (or on peak memory)."""
    from allocbench.report.sweep import aggregate_sweep

    sweep = aggregate_sweep(report)
    console = _console(stream)
    for sentence in sweep.verdict:
        console.print(sentence)
    order = "relative_time" if sweep.timed else "relative_peak"
    points = sweep.points.sort_values(order, kind="stable", na_position="last")
    fronts = {"front_time_peak": "T×P", "front_time_retained": "T×R", "front_memory": "P×R"}
    rows = []
    for row in points.itertuples():
        name = row.allocator + (f" ({row.preset})" if row.preset else "") + (" [base]" if row.role == "base" else "")
        rows.append([name, _ratio(row.relative_time, row.relative_time_low, row.relative_time_high),
                     _ratio(row.relative_peak, row.relative_peak_low, row.relative_peak_high),
                     _ratio(row.relative_retained, row.relative_retained_low, row.relative_retained_high),
                     " ".join(label for column, label in fronts.items() if getattr(row, column)) or "-"])
    console.print(_table(f"relative to the base {sweep.base}: geometric means over workloads (95% interval); "
                         "fronts: T time, P peak RSS, R retained RSS", ["configuration", "time", "peak RSS",
                                                                         "retained RSS", "fronts"], rows))


def print_summary(folders: list[str | os.PathLike], stream: TextIO) -> None:
    """The report's figures of one run, as three tables: time, peak RSS and retained RSS; a
    sweep's as its verdict and its configurations."""
    report = aggregate(folders)
    run = report.runs[0]
    if run.manifest.get("kind") == "sweep":
        print_sweep_summary(report, stream)
        return
    console = _console(stream)
    labels = report.allocators_of(run.label)
    cells = report.cells[report.cells["run"] == run.label].set_index(["allocator", "workload"])

    def text(label: str, workload: str, render) -> str:
        if (label, workload) not in cells.index:
            return "-"
        row = cells.loc[(label, workload)]
        shown = render(row)
        return "FAILED" if "failed" in (row["time"], row["memory"]) and shown == "-" else shown

    def time_of(row) -> str:
        # The baseline against itself has no test (significant is NA): it gets no "~" mark.
        significant = row.name[0] == report.baseline or (row["significant"] is not pd.NA and bool(row["significant"]))
        return format_relative(row["relative_time"], row["relative_time_low"], row["relative_time_high"], significant)

    present = set(cells.index.get_level_values("workload"))
    modes = cells.reset_index().drop_duplicates("workload").set_index("workload")["mode"]
    replayed = [w for w in report.workloads if w in present and modes[w] == REPLAY]
    live = [w for w in report.workloads if w in present and modes[w] == LIVE]
    primary = replayed or live
    time_rows = [[w] + [text(label, w, time_of) for label in labels] for w in primary]
    summary = report.summary[report.summary["run"] == run.label].set_index("allocator")
    time_rows.append(["geometric mean"] + [
        format_relative(summary.loc[label, "relative_time"], summary.loc[label, "relative_time_low"],
                        summary.loc[label, "relative_time_high"],
                        bool(summary.loc[label, "significant"]) or label == report.baseline)
        if label in summary.index else "-"
        for label in labels
    ])
    agreement = report.agreement[report.agreement["run"] == run.label].set_index("allocator")
    if replayed and live:
        time_rows += [[w] + [text(label, w, time_of) for label in labels] for w in live]
        for side in ("live", "replay"):
            name = "geometric mean, live" if side == "live" else "the same programs replayed"
            time_rows.append([name] + [
                format_relative(agreement.loc[label, side], agreement.loc[label, f"{side}_low"],
                                agreement.loc[label, f"{side}_high"], label == report.baseline or not (
                                    agreement.loc[label, f"{side}_low"] <= 1 <= agreement.loc[label, f"{side}_high"]))
                if label in agreement.index else "-"
                for label in labels
            ])

    def memory_rows(name: str, workloads: list[str]) -> list[list[str]]:
        return [[w] + [text(label, w, lambda r: format_mib(r.get(name, float("nan")))) for label in labels] for w in workloads]

    manifest = run.manifest
    ran = "replayed" if not live else "live" if not replayed else "replayed and live"
    console.print(f"suite {manifest['suite']} ({manifest['mode']} mode, {ran}), {len(labels)} allocators, "
                  f"{len(replayed) + len(live)} workloads")
    console.print(_table(f"time relative to {report.baseline} (lower is faster; ~ not significant)", ["workload", *labels], time_rows))
    if replayed:
        console.print(_table(f"{metric(PEAK_MEMORY).title} above the process before the workload, MiB", ["workload", *labels],
                             memory_rows(PEAK_MEMORY, replayed)))
        console.print(_table(f"{metric(RETAINED_MEMORY).title} when the workload has ended, MiB", ["workload", *labels],
                             memory_rows(RETAINED_MEMORY, replayed)))
    if live:
        def live_memory(row) -> str:
            return f"{format_mib(row.get(LIVE_PEAK_MEMORY))} / {format_mib(row.get(LIVE_RETAINED_MEMORY))}"

        console.print(_table(f"live: {metric(LIVE_PEAK_MEMORY).title} / {metric(LIVE_RETAINED_MEMORY).title}, MiB",
                             ["workload", *labels], [[w] + [text(label, w, live_memory) for label in labels] for w in live]))
    for rank in report.agreement_ranks[report.agreement_ranks["run"] == run.label].itertuples():
        alike = "the same order" if rank.same_order else "different orders"
        console.print(f"live and replayed, the programs rank the {rank.allocators} allocators in {alike}: "
                      f"Kendall's tau {rank.kendall_tau:.2f}, Spearman's rho {rank.spearman_rho:.2f}")


def print_failures(folders: list[str | os.PathLike], stream: TextIO) -> None:
    """Every failed or missing cell with its reasons, and what reading found missing."""
    report = aggregate(folders)
    for run in report.runs:
        for problem in run.problems:
            stream.write(f"{run.label}: {problem}\n")
    for row in report.failures.itertuples():
        states = f"time {row.time}, memory {row.memory}"
        stream.write(f"failed: {row.allocator} x {row.workload}: {row.reason or states}\n"
                     if "failed" in (row.time, row.memory) else f"missing: {row.allocator} x {row.workload}: {states}\n")


def print_comparison(before: str | os.PathLike, after: str | os.PathLike, stream: TextIO) -> None:
    """Each (allocator, workload) present in both runs: after relative to before."""
    names = [os.path.basename(os.path.normpath(os.fspath(f))) for f in (before, after)]
    report: Report = aggregate([before, after], labels=names if names[0] != names[1] else ["before", "after"])
    first, second = (run.label for run in report.runs)
    cells = report.cells.set_index(["run", "allocator", "workload"])
    rows = []
    for (run, label, workload) in cells.index:
        if run != second or (first, label, workload) not in cells.index:
            continue
        old, new = cells.loc[(first, label, workload)], cells.loc[(second, label, workload)]
        peak = (f"{new[PEAK_MEMORY] / old[PEAK_MEMORY]:.2f}x"
                if old[PEAK_MEMORY] == old[PEAK_MEMORY] and old[PEAK_MEMORY] and new[PEAK_MEMORY] == new[PEAK_MEMORY] else "-")
        timed = all(v == v for v in (old["time_mean"], new["time_mean"]))
        time = "-"
        if timed:
            rel = relative_time(new["time_mean"], new["time_stdev"], int(new["time_values"]),
                                old["time_mean"], old["time_stdev"], int(old["time_values"]))
            time = format_relative(rel.ratio, rel.low, rel.high, rel.significant)
        rows.append([workload, label, time, peak])
    if not rows:
        stream.write("the two runs share no (allocator, workload) cell\n")
        return
    rows.sort()
    _console(stream).print(_table(f"{second} relative to {first} (~ not significant)",
                                  ["workload", "allocator", "time", metric(PEAK_MEMORY).title], rows))
