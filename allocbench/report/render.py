"""The report's figures, tables and page, from an aggregated Report.

Figures are seaborn on matplotlib.figure.Figure objects (pyplot's global state is never
touched), saved as SVG with text kept as text, a fixed hash salt per figure and no date, and
inlined in the page: the same Report gives byte-identical HTML.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
from collections.abc import Callable
from pathlib import Path

import jinja2
import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from markupsafe import Markup
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import EngFormatter

from allocbench import __version__
from allocbench.metrics import METRICS, metric
from allocbench.report.aggregate import (LIVE_PEAK_MEMORY, LIVE_RETAINED_MEMORY, PEAK_MEMORY, RETAINED_MEMORY,
                                         UNMEASURED, Report)
from allocbench.run_modes import LIVE, REPLAY, replayed_name

FIGURE_WIDTH = 10.0  # inches: about the width of the page's text column
NOT_SIGNIFICANT_HATCH = "///"
LOST_COLOUR = "#3b3b3b"
FAILED_COLOUR = "#c2413a"
MISSING = "—"
TEMPLATES = Path(__file__).with_name("templates")


# --- units ----------------------------------------------------------------------------
def byte_unit(largest: float) -> tuple[float, str]:
    """The divisor and name of the unit that shows `largest` bytes with a few digits."""
    for divisor, name in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if largest >= divisor:
            return divisor, name
    return 1, "B"


def time_unit(typical: float) -> tuple[float, str]:
    """The divisor and name of the unit that shows `typical` seconds with a few digits."""
    for divisor, name in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if typical >= divisor:
            return divisor, name
    return 1e-9, "ns"


# --- figures --------------------------------------------------------------------------
def _rc(salt: str) -> dict:
    return {
        **sns.axes_style("whitegrid"),
        **sns.plotting_context("notebook", font_scale=0.85),
        "svg.fonttype": "none",
        "svg.hashsalt": salt,
        "hatch.linewidth": 1.2,
    }


def svg_figure(name: str, height: float, draw: Callable[[Figure], None]) -> Markup:
    """Draws a figure and returns it as inline SVG. `name` salts its ids, so that several
    figures in one page never share one."""
    with mpl.rc_context(_rc(name)):
        figure = Figure(figsize=(FIGURE_WIDTH, height), layout="constrained")
        draw(figure)
        out = io.StringIO()
        figure.savefig(out, format="svg", metadata={"Date": None})
    text = out.getvalue()
    svg = text[text.index("<svg"):]
    # matplotlib numbers some ids per figure (axes_1, patch_1): prefixed, they stay unique
    # among the page's figures.
    prefix = re.sub(r"\W+", "-", name) + "-"
    svg = re.sub(r'(\bid="|url\(#|href="#)', lambda m: m.group(1) + prefix, svg)
    return Markup(svg.replace("<svg ", f'<svg role="img" aria-label="{name}" class="figure" ', 1))


def _tint(colour: str, strength: float = 0.25) -> tuple:
    """The colour mixed into white."""
    return tuple(1 - strength * (1 - c) for c in mpl.colors.to_rgb(colour))


LEGEND_CHARACTER_WIDTH = 0.075  # inches, at the legend's font size
LEGEND_ENTRY_PADDING = 0.8  # inches: the handle and the space between columns


def _legend(figure: Figure, handles: list) -> None:
    """A legend above the panels, as many columns as the longest label allows, read row by
    row (matplotlib fills column by column)."""
    longest = max(len(h.get_label()) for h in handles)
    columns = max(1, min(len(handles), int((FIGURE_WIDTH - 0.5) // (longest * LEGEND_CHARACTER_WIDTH + LEGEND_ENTRY_PADDING))))
    ordered = [h for column in range(columns) for h in handles[column::columns]]
    figure.legend(handles=ordered, loc="outside upper center", ncols=columns, frameon=False)


def _allocator_legend(figure: Figure, report: Report, allocators: list[str], extra: list | None = None) -> None:
    _legend(figure, [Patch(facecolor=report.palette[a], label=a) for a in allocators] + (extra or []))


def _run_title(ax, report: Report, run: str) -> None:
    """Names the panel's run where runs stand side by side."""
    if len(report.runs) > 1:
        ax.set_title(run, fontweight="bold", loc="left")


def _bar_panel(ax, report: Report, data: pd.DataFrame, value: str, allocators: list[str], unmeasured: pd.DataFrame,
               workloads: list[str] | None = None) -> dict:
    """Horizontal bars of `value` per workload (`workloads`, default all of the report's), one
    per allocator, and the word "failed" or "missing" where a cell of `unmeasured` has no bar;
    returns each bar by (workload, allocator)."""
    workloads = workloads or report.workloads
    data = data[data["workload"].isin(workloads)]
    unmeasured = unmeasured[unmeasured["workload"].isin(workloads)]
    sns.barplot(
        data=data, x=value, y="workload", hue="allocator", order=workloads, hue_order=allocators,
        palette=report.palette, saturation=1, errorbar=None, legend=False, ax=ax, orient="h",
    )
    bars = {}
    # seaborn makes one container per hue level, in hue order; a bar's centre is its
    # category's position plus the level's offset within the default 0.8 of the category.
    for allocator, container in zip(allocators, ax.containers):
        for bar in container:
            workload = workloads[round(bar.get_y() + bar.get_height() / 2)]
            bars[workload, allocator] = bar
    slot = 0.8 / len(allocators)
    for workload, allocator, status in unmeasured[["workload", "allocator", "status"]].itertuples(index=False):
        if allocator in allocators:
            centre = workloads.index(workload) - 0.4 + (allocators.index(allocator) + 0.5) * slot
            ax.text(0.01, centre, f"{allocator}: {status}", transform=ax.get_yaxis_transform(), va="center", fontsize=8, color=FAILED_COLOUR)
    ax.set_ylabel("")
    return bars


def _unmeasured(report: Report, run: str, phase: str) -> pd.DataFrame:
    cells = report.cells[(report.cells["run"] == run) & report.cells[phase].isin(UNMEASURED)]
    return cells.assign(status=[f"{phase} {state}" for state in cells[phase]])


def time_figure(report: Report) -> Markup:
    """Per workload, each allocator's time relative to the baseline, with its 95% interval;
    differences that are not significant are hatched and marked n.s."""
    others = [a for a in report.allocators if a != report.baseline]
    runs = [r.label for r in report.runs]
    rows_per_panel = len(report.workloads) * max(1, max(len(report.allocators_of(run)) - 1 for run in runs))

    def draw(figure: Figure) -> None:
        axes = figure.subplots(1, len(runs), sharex=True, squeeze=False)[0]
        timed = report.cells[report.cells["allocator"].isin(others) & report.cells["relative_time"].notna()]
        right = np.nanmax(timed["relative_time_high"].to_numpy(dtype=float), initial=1.0)
        for ax, run in zip(axes, runs):
            data = timed[timed["run"] == run]
            data = data.assign(shown_significant=data["significant"].fillna(False).astype(bool))
            mine = [a for a in report.allocators_of(run) if a != report.baseline]
            _run_title(ax, report, run)
            if not mine:
                ax.set_axis_off()
                ax.text(0.5, 0.5, f"only {report.baseline} was run", ha="center", transform=ax.transAxes)
                continue
            bars = _bar_panel(ax, report, data, "relative_time", mine, _unmeasured(report, run, "time"))
            for row in data.itertuples():
                bar = bars[row.workload, row.allocator]
                centre = bar.get_y() + bar.get_height() / 2
                colour = report.palette[row.allocator]
                if not math.isnan(row.relative_time_low):
                    ax.errorbar(row.relative_time, centre, xerr=[[row.relative_time - row.relative_time_low], [row.relative_time_high - row.relative_time]],
                                fmt="none", ecolor="#222222", elinewidth=1, capsize=2.5)
                label = f"{row.relative_time:.2f}×"
                if not row.shown_significant:
                    # Opaque: an alpha on the face would fade the hatch drawn over it too.
                    bar.set_facecolor(_tint(colour))
                    bar.set_edgecolor(colour)
                    bar.set_hatch(NOT_SIGNIFICANT_HATCH)
                    label += " n.s."
                # In a column of their own, right of every bar and interval: never on a line.
                ax.text(right * 1.03, centre, label, va="center", fontsize=8)
            baseline_unmeasured = _unmeasured(report, run, "time")
            baseline_unmeasured = baseline_unmeasured[baseline_unmeasured["allocator"] == report.baseline]
            for workload, status in zip(baseline_unmeasured["workload"], baseline_unmeasured["status"]):
                ax.text(0.01, report.workloads.index(workload), f"{report.baseline} (the baseline): {status}, so no relative times",
                        transform=ax.get_yaxis_transform(), va="center", fontsize=8, color=FAILED_COLOUR)
            ax.axvline(1.0, color="#222222", linewidth=1, linestyle="--")
            ax.set_xlim(0, right * 1.2)
            ax.set_xlabel(f"time relative to {report.baseline} (lower is faster)")
        not_significant = Patch(facecolor=_tint("grey"), edgecolor="grey", hatch=NOT_SIGNIFICANT_HATCH, label="not significant at 95% (n.s.)")
        _allocator_legend(figure, report, others, [not_significant])

    return svg_figure("time relative to the baseline", 1.3 + 0.2 * rows_per_panel, draw)


MEMORY_PANELS = {
    REPLAY: [(name, metric(name).title) for name in (PEAK_MEMORY, RETAINED_MEMORY, "rss_fragmentation")],
    LIVE: [(name, metric(name).title) for name in (LIVE_PEAK_MEMORY, LIVE_RETAINED_MEMORY)],
}


def workloads_of_mode(report: Report, mode: str) -> list[str]:
    """The report's workloads measured in `mode` (replay or live), in the report's order."""
    measured = set(report.cells.loc[report.cells["mode"] == mode, "workload"])
    return [w for w in report.workloads if w in measured]


def memory_figure(report: Report, mode: str) -> Markup:
    """Per workload of the mode and allocator: replayed, peak RSS, retained RSS and RSS
    fragmentation; live, the program's process peak RSS and RSS at exit."""
    runs = [r.label for r in report.runs]
    workloads = workloads_of_mode(report, mode)
    panels = MEMORY_PANELS[mode]
    rows_per_panel = len(workloads) * max(len(report.allocators_of(run)) for run in runs)

    def draw(figure: Figure) -> None:
        # A column per metric, workloads shared along each row; a row per run.
        axes = figure.subplots(len(runs), len(panels), sharex="col", sharey="row", squeeze=False)
        for column, (name, title) in enumerate(panels):
            values = report.cells.dropna(subset=[name])
            largest = values[name].max() if len(values) else 0.0
            divisor, unit = (1, "peak RSS / peak live bytes") if name == "rss_fragmentation" else byte_unit(largest)
            for ax, run in zip(axes[:, column], runs):
                data = values[values["run"] == run].assign(shown=lambda f: f[name] / divisor)
                _bar_panel(ax, report, data, "shown", report.allocators_of(run), _unmeasured(report, run, "memory"), workloads)
                ax.set_xlabel(f"{title} ({unit})")
                if column == 0:  # the run names its row once
                    _run_title(ax, report, run)
        _allocator_legend(figure, report, report.allocators)

    return svg_figure("memory per workload" + (", live" if mode == LIVE else ""), 1.2 + len(runs) * (0.6 + 0.13 * rows_per_panel), draw)


def agreement_figure(report: Report) -> Markup | None:
    """Per program and allocator, time relative to the baseline replayed (x) against live (y):
    on the diagonal where the two agree."""
    live = report.cells[(report.cells["mode"] == LIVE) & (report.cells["allocator"] != report.baseline)]
    replayed = report.cells[report.cells["mode"] == REPLAY]
    points = live.assign(program=live["workload"].map(replayed_name)).merge(
        replayed, left_on=["run", "allocator", "program"], right_on=["run", "allocator", "workload"],
        suffixes=("_live", "_replay")).dropna(subset=["relative_time_live", "relative_time_replay"])
    if points.empty:
        return None
    runs = [r.label for r in report.runs if r.label in set(points["run"])]

    def draw(figure: Figure) -> None:
        axes = figure.subplots(1, len(runs), squeeze=False)[0]
        values = points[["relative_time_live", "relative_time_replay"]].to_numpy(dtype=float)
        low, high = min(values.min(), 1.0) * 0.95, max(values.max(), 1.0) * 1.05
        for ax, run in zip(axes, runs):
            data = points[points["run"] == run]
            _run_title(ax, report, run)
            ax.plot([low, high], [low, high], color="#222222", linewidth=1, linestyle="--")
            ax.axhline(1.0, color="#999999", linewidth=0.8)
            ax.axvline(1.0, color="#999999", linewidth=0.8)
            for row in data.itertuples():
                ax.scatter(row.relative_time_replay, row.relative_time_live, color=report.palette[row.allocator],
                           s=36, edgecolor="#222222", linewidth=0.5, zorder=3)
                ax.annotate(row.program, (row.relative_time_replay, row.relative_time_live), fontsize=7,
                            xytext=(4, 3), textcoords="offset points")
            ax.set_xlim(low, high)
            ax.set_ylim(low, high)
            ax.set_aspect("equal")
            ax.set_xlabel(f"replayed: time relative to {report.baseline}")
            ax.set_ylabel(f"live: time relative to {report.baseline}")
        _allocator_legend(figure, report, [a for a in report.allocators if a in set(points["allocator"])])

    return svg_figure("live against replayed", 5.2, draw)


def agreement_table(report: Report) -> Markup | None:
    agreement = report.agreement
    if agreement.empty:
        return None
    frame = pd.DataFrame({
        "allocator": agreement["allocator"],
        "programs": agreement["programs"],
        f"live: time × {report.baseline}": [_number(v, suffix="×") for v in agreement["live"]],
        "live 95% interval": [_interval(lo, hi) for lo, hi in zip(agreement["live_low"], agreement["live_high"])],
        f"replayed: time × {report.baseline}": [_number(v, suffix="×") for v in agreement["replay"]],
        "replayed 95% interval": [_interval(lo, hi) for lo, hi in zip(agreement["replay_low"], agreement["replay_high"])],
        "intervals overlap": ["yes" if v else "no" for v in agreement["agree"]],
    })
    caption = (f"Per allocator, its time relative to {report.baseline} over the same programs, run live and replayed "
               "(geometric means). Where the intervals do not overlap, live and replay disagree.")
    return _table_html(_run_column(report, frame, agreement), "agreement", caption, "intervals overlap")


def rank_lines(report: Report) -> list[str]:
    lines = []
    for rank in report.agreement_ranks.itertuples():
        prefix = f"{rank.run}: " if len(report.runs) > 1 else ""
        if rank.same_order:
            order = f"both rank them {' < '.join(rank.live_order)}"
        else:
            order = f"live ranks them {' < '.join(rank.live_order)}; replayed, {' < '.join(rank.replay_order)}"
        lines.append(f"{prefix}over {rank.allocators} allocators, Kendall's τ {rank.kendall_tau:.2f} and Spearman's ρ "
                     f"{rank.spearman_rho:.2f} between their live and replayed times (1 is the same order; fastest first): {order}.")
    return lines


def _grid(panels: int, runs: int) -> tuple[int, int]:
    """Rows and columns: one column per run, or two columns for a single run."""
    columns = runs if runs > 1 else min(2, panels)
    return max(1, math.ceil(panels / max(columns, 1))), max(columns, 1)


def allocators_without_footprint(report: Report) -> list[str]:
    """Allocators with a timeline but no footprint of their own in it (preloaded libraries
    that glibc's mallinfo2 cannot see into)."""
    timelines = report.timelines
    reported = set(timelines.loc[timelines["footprint_bytes"].notna(), "allocator"])
    return [a for a in report.allocators if a in set(timelines["allocator"]) and a not in reported]


def timeline_figure(report: Report) -> Markup:
    """Against operations, a panel per workload and run: each allocator's RSS (solid, the
    same measure for all, with a dot at its high-water mark) and own footprint (dotted,
    where it reports one), and the live requested bytes (dashed, the same for all)."""
    runs = [r.label for r in report.runs]
    panels = [(w, r) for w in report.workloads for r in runs]
    nrows, ncols = _grid(len(panels), len(runs))
    timelines = report.timelines
    largest = np.nanmax(timelines[["live_bytes", "footprint_bytes", "rss_bytes"]].to_numpy(dtype=float), initial=0.0)
    divisor, unit = byte_unit(largest)

    def draw(figure: Figure) -> None:
        axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
        for ax, (workload, run) in zip(axes, panels):
            data = timelines[(timelines["workload"] == workload) & (timelines["run"] == run)]
            data = data.assign(**{column: data[f"{column}_bytes"] / divisor for column in ("footprint", "live", "rss")})
            present = [a for a in report.allocators if a in set(data["allocator"])]
            for column, style in (("rss", "-"), ("footprint", ":")):
                if data[column].notna().any():
                    sns.lineplot(data=data, x="op_index", y=column, hue="allocator", hue_order=present, palette=report.palette,
                                 estimator=None, errorbar=None, legend=False, ax=ax, linewidth=1.4, linestyle=style)
            if present:
                first = data[data["allocator"] == present[0]]
                ax.plot(first["op_index"], first["live"], color="black", linestyle="--", linewidth=1.1)
            for allocator in present:
                mine = data[data["allocator"] == allocator].dropna(subset=["rss"])
                if len(mine):
                    peak = mine.loc[mine["rss"].idxmax()]
                    ax.plot(peak["op_index"], peak["rss"], "o", color=report.palette[allocator], markersize=5, markeredgecolor="black", markeredgewidth=0.6)
            ax.set_title(workload if len(runs) == 1 else f"{workload}: {run}")
            ax.set_xlabel("operations replayed")
            ax.xaxis.set_major_formatter(EngFormatter(sep=""))
            ax.set_ylabel(unit)
            ax.set_ylim(bottom=0)
        for ax in axes[len(panels):]:
            ax.set_visible(False)
        drawn = [a for a in report.allocators if a in set(timelines["allocator"])]
        styles = [
            Line2D([], [], color="grey", linewidth=1.4, label="RSS above the empty process"),
            Line2D([], [], color="grey", linewidth=1.4, linestyle=":", label="the allocator's own footprint"),
            Line2D([], [], color="black", linestyle="--", label="live requested bytes"),
            Line2D([], [], color="grey", marker="o", linestyle="none", markeredgecolor="black", label="peak RSS"),
        ]
        _allocator_legend(figure, report, drawn, styles)

    return svg_figure("memory over time", 1.2 + 2.3 * nrows, draw)


def size_class_figure(report: Report) -> Markup | None:
    """For each pymalloc variant and workload: requested bytes per block size, with the
    bytes lost rounding each request up to its block stacked on top."""
    rounding = report.rounding[report.rounding["block_size"] > 0]
    if rounding.empty:
        return None
    variants = list(dict.fromkeys(zip(rounding["run"], rounding["allocator"])))
    panels = [(w, run, allocator) for w in report.workloads for run, allocator in variants
              if ((rounding["workload"] == w) & (rounding["run"] == run) & (rounding["allocator"] == allocator)).any()]
    nrows, ncols = _grid(len(panels), len(variants))
    divisor, unit = byte_unit(rounding["block_bytes"].max())

    def draw(figure: Figure) -> None:
        axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
        for ax, (workload, run, allocator) in zip(axes, panels):
            mine = rounding[(rounding["workload"] == workload) & (rounding["run"] == run) & (rounding["allocator"] == allocator)]
            alignment, threshold = int(mine["alignment"].iloc[0]), int(mine["threshold"].iloc[0])
            parts = pd.concat([
                pd.DataFrame({"block_size": mine["block_size"], "bytes": mine["requested_bytes"] / divisor, "part": "requested"}),
                pd.DataFrame({"block_size": mine["block_size"], "bytes": mine["lost_bytes"] / divisor, "part": "lost to rounding"}),
            ])
            # seaborn stacks the first hue level on top: the loss sits on the requested bytes.
            sns.histplot(data=parts, x="block_size", weights="bytes", hue="part", hue_order=["lost to rounding", "requested"],
                         palette={"requested": report.palette[allocator], "lost to rounding": LOST_COLOUR}, multiple="stack",
                         binwidth=alignment, binrange=(alignment / 2, threshold + alignment / 2), legend=False, ax=ax, linewidth=0, alpha=1)
            lost, requested = mine["lost_bytes"].sum(), mine["requested_bytes"].sum()
            lost_divisor, lost_unit = byte_unit(lost)
            workload_name = workload + (f" ({run})" if len(report.runs) > 1 else "")
            ax.set_title(f"{workload_name}\n{allocator}\n{lost / lost_divisor:.1f} {lost_unit} lost to rounding ({lost / requested:.1%})", fontsize=8)
            ax.set_xlabel(f"block size (bytes): {alignment} B steps up to {threshold}")
            ax.set_ylabel(unit)
            ax.set_xlim(0, threshold + alignment)
        for ax in axes[len(panels):]:
            ax.set_visible(False)
        allocators = list(dict.fromkeys(a for _, a in variants))
        _allocator_legend(figure, report, allocators, [Patch(facecolor=LOST_COLOUR, label="bytes lost to rounding")])

    return svg_figure("size classes", 1.0 + 2.8 * nrows, draw)


# --- tables ---------------------------------------------------------------------------
def _number(value, digits: int = 2, suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return MISSING
    return f"{value:,.{digits}f}{suffix}"


def _interval(low: float, high: float) -> str:
    return MISSING if math.isnan(low) else f"{low:.2f}–{high:.2f}"


def _significance(value) -> str:
    return MISSING if value is pd.NA or value is None else ("yes" if value else "no")


TEXT_COLUMNS = ("run", "allocator", "workload", "cell")


def _table_html(frame: pd.DataFrame, uuid: str, caption: str, not_significant_column: str | None = None,
                text_columns: tuple[str, ...] = TEXT_COLUMNS) -> Markup:
    """A table of the page: numbers right-aligned, `text_columns` left-aligned, every cell's
    text escaped (a label or a path may hold any character)."""
    styler = frame.style.hide(axis="index").set_caption(caption).set_table_attributes('class="numbers"')
    styler = styler.format(escape="html")
    styler = styler.set_properties(subset=[c for c in frame.columns if c in text_columns], **{"text-align": "left"})
    if "cell" in frame.columns:  # a failure's reason: wrapped rather than widening the table
        styler = styler.set_properties(subset=["cell"], **{"white-space": "normal", "min-width": "14em"})
    if not_significant_column:
        styler = styler.map(lambda v: "background-color: #fff3c4" if v == "no" else "", subset=[not_significant_column])
    return Markup(styler.to_html(table_uuid=uuid))


def _run_column(report: Report, frame: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    if len(report.runs) > 1:
        frame.insert(0, "run", rows["run"].to_numpy())
    return frame


def summary_table(report: Report) -> Markup:
    summary = report.summary
    frame = pd.DataFrame({
        "allocator": summary["allocator"],
        f"time × {report.baseline} (geometric mean)": [_number(v, suffix="×") for v in summary["relative_time"]],
        "95% interval": [_interval(lo, hi) for lo, hi in zip(summary["relative_time_low"], summary["relative_time_high"])],
        "workloads timed": summary["workloads_timed"],
        f"peak RSS × {report.baseline}": [_number(v, suffix="×") for v in summary["relative_peak"]],
        f"retained RSS × {report.baseline}": [_number(v, suffix="×") for v in summary["relative_retained"]],
        "workloads measured": summary["workloads_measured"],
    })
    caption = f"Per allocator, relative to the baseline {report.baseline}: time as the geometric mean over workloads, memory as totals over workloads."
    return _table_html(_run_column(report, frame, summary), "summary", caption)


def _status(row) -> str:
    if row.time == "done" and row.memory == "done":
        return "done"
    return f"time {row.time}, memory {row.memory}" + (f": {row.reason}" if row.reason else "")


def numbers_table(report: Report) -> Markup:
    cells = report.cells
    time_divisor, time_name = time_unit(cells["time_mean"].median() if cells["time_mean"].notna().any() else 1.0)
    byte_columns = [(name, metric(name).title) for name in
                    (PEAK_MEMORY, RETAINED_MEMORY, "peak_footprint_bytes", "retained_footprint_bytes", "peak_live_bytes",
                     LIVE_PEAK_MEMORY, LIVE_RETAINED_MEMORY)]
    frame = pd.DataFrame({
        "workload": cells["workload"],
        "allocator": cells["allocator"],
        "cell": [_status(r) for r in cells.itertuples()],
        f"{metric('time_mean').title} ({time_name})": [_number(v / time_divisor, 3) for v in cells["time_mean"]],
        f"stdev ({time_name})": [_number(v / time_divisor, 3) for v in cells["time_stdev"]],
        "values": [_number(v, 0) for v in cells["time_values"]],
        f"× {report.baseline}": [_number(v, suffix="×") for v in cells["relative_time"]],
        "95% interval": [_interval(lo, hi) for lo, hi in zip(cells["relative_time_low"], cells["relative_time_high"])],
        "significant": [_significance(v) for v in cells["significant"]],
        "test": [t or MISSING for t in cells["test"]],
        metric("ns_per_op").title: [_number(v) for v in cells["ns_per_op"]],
    })
    for name, title in byte_columns:
        values = cells[name]
        divisor, unit = byte_unit(values.max() if values.notna().any() else 0)
        frame[f"{title} ({unit})"] = [_number(v / divisor) for v in values]
    for name in ("rss_fragmentation", "footprint_fragmentation"):
        frame[metric(name).title] = [_number(v) for v in cells[name]]
    frame[metric("served_share").title] = [_number(v * 100, 3, "%") for v in cells["served_share"]]
    for name in ("mmap_calls", "munmap_calls", "madvise_calls"):
        frame[metric(name).title] = [_number(v, 0) for v in cells[name]]
    caption = "Every cell of every run. A dash: not measured (a failed cell, or a figure the allocator does not report)."
    return _table_html(_run_column(report, frame, cells), "numbers", caption, "significant")


def rounding_table(report: Report) -> Markup | None:
    rounding = report.rounding
    if rounding.empty:
        return None
    in_pools = rounding["block_size"] > 0
    keys = ["run", "allocator", "workload"]
    totals = rounding.groupby(keys, sort=False).agg(requests=("requests", "sum"), requested_bytes=("requested_bytes", "sum"), lost_bytes=("lost_bytes", "sum"))
    pooled = rounding[in_pools].groupby(keys, sort=False).agg(pooled_requests=("requests", "sum"), pooled_bytes=("requested_bytes", "sum"))
    table = totals.join(pooled).fillna(0).reset_index()
    frame = pd.DataFrame({
        "allocator": table["allocator"],
        "workload": table["workload"],
        "requests": [f"{int(v):,}" for v in table["requests"]],
        "served by pools": [f"{p / r:.1%}" if r else MISSING for p, r in zip(table["pooled_requests"], table["requests"])],
        "requested bytes in pools": [f"{int(v):,}" for v in table["pooled_bytes"]],
        "bytes lost to rounding": [f"{int(v):,}" for v in table["lost_bytes"]],
        "lost, % of requested": [f"{lost / b:.1%}" if b else MISSING for lost, b in zip(table["lost_bytes"], table["pooled_bytes"])],
    })
    caption = "Requests of 0 bytes or above the threshold go to the system allocator and lose nothing to pymalloc's rounding."
    return _table_html(_run_column(report, frame, table), "rounding", caption)


# --- the page -------------------------------------------------------------------------
def _csv_data_uri(frame: pd.DataFrame) -> str:
    return "data:text/csv;base64," + base64.b64encode(frame.to_csv(index=False).encode()).decode()


def _run_facts(run) -> dict:
    manifest = run.manifest
    return {
        "label": run.label,
        "path": str(run.path),
        "manifest": manifest,
        "command": run.command_line,
        "allocators": [
            {**a, "config_text": ", ".join(f"{k}={v}" for k, v in a.get("config", {}).items())} for a in manifest["allocators"]
        ],
        "workloads": [{**w, "source_text": json.dumps(w.get("source", {}), sort_keys=True)} for w in manifest["workloads"]],
    }


def glossary(report: Report) -> list[tuple[str, str]]:
    """The glossary: the report's terms, then every metric under its one name."""
    return report_terms(report) + metric_terms()


def metric_terms() -> list[tuple[str, str]]:
    """Every metric under its one name, unit and meaning (allocbench.metrics)."""
    return [(f"{m.title} ({m.name}, {m.unit})", m.meaning[0].upper() + m.meaning[1:] + ".") for m in METRICS]


def report_terms(report: Report) -> list[tuple[str, str]]:
    """The run report's own terms."""
    b = report.baseline
    terms = [
        ("baseline", f"The allocator every other one is compared with, here {b}."),
        ("time relative to the baseline", f"An allocator's mean time to replay a workload's trace divided by {b}'s mean "
                                          "time on the same trace; below 1 is faster."),
        ("95% interval", "The range that holds the true relative time with 95% confidence, given the spread and number "
                         "of timing values of both allocators."),
        ("t-test (Student, Welch)", "Whether two mean times differ: Student's two-sample t-test with pooled variance, "
                                    "the test pyperf uses, where the two variances may be equal; Welch's t-test "
                                    "where an F-test at 95% says they differ. The table's test column says which."),
        ("not significant (n.s.)", f"The test at 95% cannot tell the allocator's time from {b}'s."),
        ("geometric mean", "The n-th root of the product of the per-workload relative times, so that a workload twice "
                           "as fast and one twice as slow cancel out."),
        ("peak and retained memory relative to the baseline", f"The allocator's total over all workloads divided by "
                                                               f"{b}'s total over the same workloads."),
        ("live bytes", "The sum of the sizes the program asked for and has not freed yet."),
        ("footprint", "The memory the allocator itself reports holding (arenas and pass-through blocks for pymalloc, "
                      "the heap for glibc malloc), where it can tell."),
        ("size class, block size", "pymalloc serves a request of up to its threshold from a block of the next multiple "
                                   "of its alignment; requests of 0 bytes or above the threshold go to the lower "
                                   "allocator."),
        ("bytes lost to rounding", "Block size minus requested size, summed over a workload's requests that pymalloc "
                                   "serves."),
        ("live (a workload PROGRAM@live)", "The program itself run on the allocator in an unmodified interpreter "
                                           "(allocbench exec), timed start-up to exit, its memory the process's RSS; "
                                           "beside the replay of its recorded trace, which isolates the allocator."),
        ("Kendall's τ, Spearman's ρ", "Rank correlations between the allocators' live and replayed times relative to "
                                     "the baseline: 1 when both put the allocators in the same order, −1 when in "
                                     "opposite orders."),
        ("failed or missing cell", "An (allocator, workload) pair whose timing or memory worker crashed, timed out or "
                                   "did not prove its allocator (failed, with the reason), or was not measured "
                                   "(missing); listed under the verdict."),
    ]
    return terms


def template_environment() -> jinja2.Environment:
    """The pages' templates (report.html.j2, sweep.html.j2 and the style they share)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )


def render_html(report: Report) -> str:
    memory_mode = REPLAY if workloads_of_mode(report, REPLAY) else LIVE
    return template_environment().get_template("report.html.j2").render(
        report=report,
        version=__version__,
        runs=[_run_facts(run) for run in report.runs],
        summary_table=summary_table(report),
        time_figure=time_figure(report),
        memory_mode=memory_mode,
        memory_figure=memory_figure(report, memory_mode),
        live_memory_figure=memory_figure(report, LIVE) if memory_mode == REPLAY and workloads_of_mode(report, LIVE) else None,
        agreement_figure=agreement_figure(report),
        agreement_table=agreement_table(report),
        rank_lines=rank_lines(report),
        timeline_figure=timeline_figure(report) if len(report.timelines) else None,
        without_footprint=allocators_without_footprint(report),
        size_class_figure=size_class_figure(report),
        rounding_table=rounding_table(report),
        numbers_table=numbers_table(report),
        csv_uri=_csv_data_uri(report.metrics),
        failures=report.failures.to_dict("records"),
        glossary=glossary(report),
    )
