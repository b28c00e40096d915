"""Results folders (docs/results-format.md) in, every figure of fact the report shows out.

Reads one or more folders into tidy pandas tables, each with a `run` column (the folder's
name), then derives: per workload, each allocator's time relative to the baseline with its
interval and significance, and its memory; per allocator, the geometric-mean time and the
memory relative to the baseline; the verdict sentence; the cells that failed; the rounding
of requested sizes to each pymalloc variant's blocks; one colour per allocator. Nothing here
draws: render.py only lays these tables out.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from allocbench import _core
from allocbench.errors import UsageError
from allocbench.metrics import METRICS
from allocbench.report.stats import RelativeTime, geometric_mean_ratio, relative_time
from allocbench.results import ResultsFolder, reason_text
from allocbench.run_modes import LIVE, REPLAY, replayed_name, workload_mode

TIME_METRICS = ["time_mean", "time_stdev", "time_values"]
UNMEASURED = ("failed", "missing")  # a phase skipped by design (a sweep's --time) is neither
# The memory every allocator is measured by in the same way (the process's RSS), and so the
# one the verdict compares; the allocators' own footprints are not comparable across kinds.
PEAK_MEMORY = "peak_rss_bytes"
RETAINED_MEMORY = "retained_rss_bytes"
# A program run live is measured as a whole process: its peak RSS and its RSS at exit.
LIVE_PEAK_MEMORY = "process_peak_rss_bytes"
LIVE_RETAINED_MEMORY = "process_rss_bytes_at_exit"
MEMORY_OF_MODE = {REPLAY: (PEAK_MEMORY, RETAINED_MEMORY), LIVE: (LIVE_PEAK_MEMORY, LIVE_RETAINED_MEMORY)}


@dataclass(frozen=True)
class Run:
    """One results folder: its label in the report, its manifest, and what reading it found
    missing or damaged."""

    label: str
    path: Path
    manifest: dict
    problems: tuple[str, ...] = ()

    @property
    def command_line(self) -> str:
        return shlex.join(self.manifest.get("command", []))


@dataclass(frozen=True)
class Report:
    runs: list[Run]
    baseline: str
    allocators: list[str]  # every label, baseline first, then in the manifests' order
    workloads: list[str]
    palette: dict[str, str]  # allocator label -> colour, the same in every chart
    metrics: pd.DataFrame  # run + metrics.csv: the tidy data the page offers for download
    cells: pd.DataFrame  # run, allocator, workload, time, memory, reason, then wide metrics and relative figures
    summary: pd.DataFrame  # run, allocator: geometric-mean time and memory relative to the baseline
    # (over the replayed workloads; over the live ones in a run that replayed nothing)
    agreement: pd.DataFrame  # run, allocator: live and replayed ratios over the same programs
    agreement_ranks: pd.DataFrame  # run: whether live and replay rank the allocators alike
    failures: pd.DataFrame  # the cells whose time or memory is not done
    timelines: pd.DataFrame
    rounding: pd.DataFrame  # run, allocator, workload, block_size: requests and bytes rounded up
    verdicts: dict[str, str]  # run label -> one sentence

    def allocators_of(self, run: str) -> list[str]:
        """The run's allocators, in the report's order."""
        manifest = next(r.manifest for r in self.runs if r.label == run)
        mine = {a["label"] for a in manifest["allocators"]}
        return [a for a in self.allocators if a in mine]


def _labels(folders: list[Path]) -> list[str]:
    """The folders' names; their parent's name as well where two names clash."""
    names = [f.name for f in folders]
    if len(set(names)) == len(names):
        return names
    longer = [f"{f.parent.name}/{f.name}" for f in folders]
    if len(set(longer)) < len(longer):
        raise UsageError("the same results folder is given twice")
    return longer


def _with_run(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    return frame.assign(run=label)[["run", *frame.columns]]


# seaborn's colour-blind palette, reordered so that the first few allocators (the usual
# run has four or five) get the colours most easily told apart: orange and vermilion apart.
COLOURBLIND_ORDER = [0, 1, 2, 4, 3, 5, 9, 7, 6, 8]


def _palette(allocators: list[str]) -> dict[str, str]:
    """One colour per allocator: seaborn's colour-blind palette for up to ten, then
    matplotlib's 20 paired colours (hues far apart, each in two shades), then evenly spread
    hues (a sweep of hundreds of points, where colour names no single allocator)."""
    import seaborn as sns
    from matplotlib.colors import to_hex

    if len(allocators) <= len(COLOURBLIND_ORDER):
        colourblind = sns.color_palette("colorblind", len(COLOURBLIND_ORDER))
        colours = [colourblind[i] for i in COLOURBLIND_ORDER]
    elif len(allocators) <= 20:
        colours = sns.color_palette("tab20", 20)
    else:
        colours = sns.color_palette("husl", len(allocators))
    return {label: to_hex(colour) for label, colour in zip(allocators, colours)}


def _ordered_union(lists: list[list[str]], first: str | None = None) -> list[str]:
    return list(dict.fromkeys(([first] if first else []) + [item for items in lists for item in items]))


def _with_relative_time(cells: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Adds the baseline's figures of the same run and workload, and the relative ones. A
    cell timed alongside the base (a sweep's) is compared with the base's timing of that
    very cell, side by side; other cells with the baseline's own cell."""
    memory = [name for pair in MEMORY_OF_MODE.values() for name in pair]
    base = cells.loc[cells["allocator"] == baseline, ["run", "workload", *TIME_METRICS, *memory]]
    cells = cells.merge(base, on=["run", "workload"], how="left", suffixes=("", "_base"))
    paired = cells["base_time_mean"].notna()
    for name in TIME_METRICS:
        cells.loc[paired, f"{name}_base"] = cells.loc[paired, f"base_{name}"]
    relative = [
        relative_time(r.time_mean, r.time_stdev, int(r.time_values), r.time_mean_base, r.time_stdev_base, int(r.time_values_base))
        if r.allocator != baseline and not (math.isnan(r.time_mean) or math.isnan(r.time_mean_base))
        else None
        for r in cells.itertuples()
    ]
    cells["relative_time"] = [r.ratio if r else math.nan for r in relative]
    cells["relative_time_low"] = [r.low if r else math.nan for r in relative]
    cells["relative_time_high"] = [r.high if r else math.nan for r in relative]
    cells["significant"] = pd.array([r.significant if r else pd.NA for r in relative], dtype="boolean")
    cells["test"] = [r.test if r else None for r in relative]
    cells.loc[(cells["allocator"] == baseline) & (cells["time_mean"].notna() | (cells["time"] == "skipped")), "relative_time"] = 1.0
    live = cells["mode"] == LIVE
    for relative, (replayed, run_live) in (("relative_peak", (PEAK_MEMORY, LIVE_PEAK_MEMORY)),
                                           ("relative_retained", (RETAINED_MEMORY, LIVE_RETAINED_MEMORY))):
        cells[relative] = (cells[replayed] / cells[f"{replayed}_base"]).where(~live, cells[run_live] / cells[f"{run_live}_base"])
    return cells


def primary_mode(run: Run) -> str:
    """The mode a run's summary and verdict speak of: replay, unless it replayed nothing."""
    return REPLAY if any(workload_mode(w) == REPLAY for w in run.manifest["workloads"]) else LIVE


def _summary(cells: pd.DataFrame, runs: list[Run], allocators: list[str], baseline: str,
             mode_of_run=primary_mode) -> pd.DataFrame:
    """Per run and allocator, over the run's workloads of one mode (`mode_of_run(run)`)."""
    rows = []
    for run in runs:
        mode = mode_of_run(run)
        peak_memory, retained_memory = MEMORY_OF_MODE[mode]
        for allocator in allocators:
            mine = cells[(cells["run"] == run.label) & (cells["allocator"] == allocator) & (cells["mode"] == mode)]
            if mine.empty:
                continue
            timed = mine.dropna(subset=["time_mean", "time_mean_base"])
            time = (
                RelativeTime(1.0, math.nan, math.nan, False) if allocator == baseline else geometric_mean_ratio(
                    timed["time_mean"], timed["time_stdev"], timed["time_values"],
                    timed["time_mean_base"], timed["time_stdev_base"], timed["time_values_base"],
                )
            )
            # Memory is summed over workloads before dividing: bytes add up, and retained
            # memory is often zero, where a mean of ratios would be undefined.
            measured = mine.dropna(subset=[peak_memory, f"{peak_memory}_base"])
            rows.append({
                "run": run.label,
                "mode": mode,
                "allocator": allocator,
                "workloads_timed": len(timed),
                "relative_time": time.ratio,
                "relative_time_low": time.low,
                "relative_time_high": time.high,
                "significant": time.significant,
                "workloads_measured": len(measured),
                "relative_peak": _ratio_of_sums(measured[peak_memory], measured[f"{peak_memory}_base"]),
                "relative_retained": _ratio_of_sums(measured[retained_memory], measured[f"{retained_memory}_base"]),
            })
    return pd.DataFrame(rows)


AGREEMENT_COLUMNS = ["run", "allocator", "programs", "live", "live_low", "live_high", "replay", "replay_low",
                     "replay_high", "agree"]


def _agreement(cells: pd.DataFrame, runs: list[Run], allocators: list[str], baseline: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Where a run has programs both live and replayed: per allocator, its time relative to the
    baseline live and replayed, each a geometric mean over the same programs (those timed
    both ways for it and the baseline), and whether the two agree (their 95% intervals
    overlap); per run, whether live and replay rank the allocators alike (Kendall's tau and
    Spearman's rho over the allocators' two ratios, the baseline's 1.0 included)."""
    from scipy import stats

    rows, ranks = [], []
    for run in runs:
        mine = cells[cells["run"] == run.label]
        live = mine[mine["mode"] == LIVE].assign(program=lambda f: f["workload"].map(replayed_name))
        if live.empty or not (mine["mode"] == REPLAY).any():
            continue
        replayed = mine[(mine["mode"] == REPLAY) & mine["workload"].isin(live["program"])].assign(program=lambda f: f["workload"])
        for allocator in allocators:
            both = live[live["allocator"] == allocator].merge(
                replayed[replayed["allocator"] == allocator], on="program", suffixes=("_live", "_replay"))
            if both.empty:
                continue
            timed = both.dropna(subset=[f"{m}{side}" for m in ("time_mean", "time_mean_base") for side in ("_live", "_replay")])
            if timed.empty:
                continue
            figures = {}
            for side in ("live", "replay"):
                if allocator == baseline:
                    figures[side] = RelativeTime(1.0, math.nan, math.nan, False)
                    continue
                columns = [f"{m}_{side}" for m in ("time_mean", "time_stdev", "time_values", "time_mean_base",
                                                    "time_stdev_base", "time_values_base")]
                figures[side] = geometric_mean_ratio(*(timed[c] for c in columns))
            live_time, replay_time = figures["live"], figures["replay"]
            rows.append({
                "run": run.label, "allocator": allocator, "programs": len(timed),
                "live": live_time.ratio, "live_low": live_time.low, "live_high": live_time.high,
                "replay": replay_time.ratio, "replay_low": replay_time.low, "replay_high": replay_time.high,
                "agree": allocator == baseline or bool(live_time.low <= replay_time.high and replay_time.low <= live_time.high),
            })
        compared = [row for row in rows if row["run"] == run.label]
        if len(compared) >= 3:
            live_ratios = [row["live"] for row in compared]
            replay_ratios = [row["replay"] for row in compared]
            order_live = [row["allocator"] for row in sorted(compared, key=lambda r: r["live"])]
            order_replay = [row["allocator"] for row in sorted(compared, key=lambda r: r["replay"])]
            ranks.append({
                "run": run.label, "allocators": len(compared),
                "kendall_tau": float(stats.kendalltau(live_ratios, replay_ratios).statistic),
                "spearman_rho": float(stats.spearmanr(live_ratios, replay_ratios).statistic),
                "same_order": order_live == order_replay,
                "live_order": order_live, "replay_order": order_replay,
            })
    return (pd.DataFrame(rows, columns=AGREEMENT_COLUMNS),
            pd.DataFrame(ranks, columns=["run", "allocators", "kendall_tau", "spearman_rho", "same_order",
                                         "live_order", "replay_order"]))


def _ratio_of_sums(values: pd.Series, base: pd.Series) -> float:
    total = base.sum()
    return values.sum() / total if len(values) and total > 0 else math.nan


def _rounding(runs: list[Run], sizes: pd.DataFrame) -> pd.DataFrame:
    """Per pymalloc variant and workload, requests by the block size they round up to (the
    core's size classes: `_core.block_sizes`); 0 bytes and requests above the threshold go
    to the lower allocator and are counted at block size 0."""
    frames = []
    for run in runs:
        workload_sizes = sizes[sizes["run"] == run.label]
        size = workload_sizes["size"].to_numpy(dtype=np.int64)
        count = workload_sizes["count"].to_numpy(dtype=np.int64)
        for allocator in run.manifest["allocators"]:
            config = allocator.get("config", {})
            if config.get("allocator") != "pymalloc":
                continue
            block = np.array(_core.block_sizes(allocator["spec"], size.tolist()), dtype=np.int64)
            classes = [c["block_size"] for c in _core.Allocator(allocator["spec"]).size_classes()]
            in_pools = block > 0
            frame = pd.DataFrame({
                "run": run.label,
                "allocator": allocator["label"],
                "threshold": classes[-1],
                "alignment": classes[0],
                "workload": workload_sizes["workload"].to_numpy(),
                "block_size": block,
                "requests": count,
                "requested_bytes": size * count,
                "block_bytes": np.where(in_pools, block * count, 0),
                "lost_bytes": np.where(in_pools, (block - size) * count, 0),
            })
            keys = ["run", "allocator", "threshold", "alignment", "workload", "block_size"]
            frames.append(frame.groupby(keys, as_index=False, sort=False).sum())
    columns = ["run", "allocator", "threshold", "alignment", "workload", "block_size", "requests", "requested_bytes", "block_bytes", "lost_bytes"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _pairs(names: list[tuple[str, str]]) -> str:
    """'a on w1, w2 and b on w3' from (allocator, workload) pairs, in order."""
    by_allocator: dict[str, list[str]] = {}
    for allocator, workload in names:
        by_allocator.setdefault(allocator, []).append(workload)
    parts = [f"{allocator} on {', '.join(workloads)}" for allocator, workloads in by_allocator.items()]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _verdict(run: Run, baseline: str, cells: pd.DataFrame, summary: pd.DataFrame, ranks: pd.DataFrame) -> str:
    """One sentence: the fastest allocator (and whether it is significantly ahead of the
    next), the one with least peak memory, and where time differs insignificantly from the
    baseline, over the workloads of the run's primary mode; whether live and replay rank the
    allocators alike, where the run has both."""
    mine = summary[summary["run"] == run.label]
    every_cell = cells[cells["run"] == run.label]
    run_cells = every_cell[every_cell["mode"] == primary_mode(run)]
    clauses = []
    timed = mine[mine["workloads_timed"] > 0].sort_values("relative_time", kind="stable")
    if timed.empty:
        clauses.append("No allocator was timed against the baseline")
    else:
        fastest = timed.iloc[0]
        if fastest["allocator"] == baseline:
            clause = f"{baseline}, the baseline, was fastest"
        else:
            clause = (
                f"{fastest['allocator']} was fastest at {fastest['relative_time']:.2f}× the time of {baseline} "
                f"(geometric mean over {fastest['workloads_timed']} workload{'s' if fastest['workloads_timed'] != 1 else ''}, "
                f"95% interval {fastest['relative_time_low']:.2f}–{fastest['relative_time_high']:.2f})"
            )
        if len(timed) > 1:
            runner_up = timed.iloc[1]["allocator"]
            ahead = _compare_allocators(run_cells, fastest["allocator"], runner_up)
            if not ahead.significant:
                clause += f", not significantly faster than {runner_up}"
        clauses.append(clause)
    measured = mine.dropna(subset=["relative_peak"]).sort_values("relative_peak", kind="stable")
    if not measured.empty:
        least = measured.iloc[0]
        if least["allocator"] == baseline:
            clauses.append(f"{baseline}, the baseline, used least memory (peak RSS)")
        else:
            clauses.append(f"{least['allocator']} used least memory at {least['relative_peak']:.2f}× the peak RSS of {baseline}")
    insignificant = run_cells[run_cells["significant"].eq(False).fillna(False)]
    if insignificant.empty:
        if run_cells["significant"].notna().any():
            clauses.append(f"every time difference from {baseline} is significant at 95%")
    else:
        pairs = list(zip(insignificant["allocator"], insignificant["workload"]))
        clauses.append(f"time differences from {baseline} are not significant for {_pairs(pairs)}")
    ranked = ranks[ranks["run"] == run.label]
    if not ranked.empty:
        rank = ranked.iloc[0]
        alike = "in the same order" if rank["same_order"] else "in different orders"
        clauses.append(f"live and replayed, the programs rank the {rank['allocators']} allocators {alike} "
                       f"(Kendall's τ {rank['kendall_tau']:.2f})")
    failed = int(every_cell["time"].isin(UNMEASURED).sum() + every_cell["memory"].isin(UNMEASURED).sum())
    if failed:
        clauses.append(f"{failed} measurement{'s' if failed != 1 else ''} failed or missing (listed below)")
    # Allocator labels keep their case, even at the start of the sentence.
    return "; ".join(clauses) + "."


def _compare_allocators(run_cells: pd.DataFrame, first: str, second: str):
    """The geometric-mean time of `first` relative to `second` over the workloads both ran."""
    left = run_cells[run_cells["allocator"] == first].set_index("workload")[TIME_METRICS]
    right = run_cells[run_cells["allocator"] == second].set_index("workload")[TIME_METRICS]
    both = left.merge(right, left_index=True, right_index=True, suffixes=("", "_other")).dropna()
    return geometric_mean_ratio(
        both["time_mean"], both["time_stdev"], both["time_values"],
        both["time_mean_other"], both["time_stdev_other"], both["time_values_other"],
    )


def aggregate(folders: list[str | Path], labels: list[str] | None = None) -> Report:
    """Reads the folders and computes the report's tables. Raises UsageError for a folder
    that is not a results folder, or folders with different baselines."""
    if not folders:
        raise UsageError("no results folder given")
    paths = [Path(f) for f in folders]
    opened = [ResultsFolder.open(p) for p in paths]
    labels = labels or _labels([p.resolve() for p in paths])
    runs = [Run(label, f.path, {**f.manifest, "cells": f.cell_list()}, tuple(f.problems)) for label, f in zip(labels, opened)]
    baselines = {run.manifest["baseline"] for run in runs}
    if len(baselines) > 1:
        listed = ", ".join(f"{run.label} ({run.manifest['baseline']})" for run in runs)
        raise UsageError(f"the runs have different baselines: {listed}; compare runs with the same baseline")
    baseline = baselines.pop()

    metrics = pd.concat([_with_run(f.frame("metrics"), r.label) for f, r in zip(opened, runs)], ignore_index=True)
    timelines = pd.concat([_with_run(f.frame("timelines"), r.label) for f, r in zip(opened, runs)], ignore_index=True)
    sizes = pd.concat([_with_run(f.frame("sizes"), r.label) for f, r in zip(opened, runs)], ignore_index=True)

    allocators = _ordered_union([[a["label"] for a in r.manifest["allocators"]] for r in runs], first=baseline)
    workloads = _ordered_union([[w["name"] for w in r.manifest["workloads"]] for r in runs])
    modes = {(r.label, w["name"]): workload_mode(w) for r in runs for w in r.manifest["workloads"]}
    states = pd.DataFrame(
        [{"run": r.label, **{k: c[k] for k in ("allocator", "workload", "time", "memory")}, "reason": reason_text(c) or None,
          "mode": modes[(r.label, c["workload"])]}
         for r in runs for c in r.manifest["cells"]],
        columns=["run", "allocator", "workload", "time", "memory", "reason", "mode"],
    )
    wide = metrics.pivot_table(index=["run", "allocator", "workload"], columns="metric", values="value", aggfunc="last")
    cells = states.merge(wide.reset_index(), on=["run", "allocator", "workload"], how="left")
    for metric in METRICS:
        if metric.name not in cells:
            cells[metric.name] = math.nan
    cells = _with_relative_time(cells, baseline)
    summary = _summary(cells, runs, allocators, baseline)
    agreement, agreement_ranks = _agreement(cells, runs, allocators, baseline)
    failures = states[states["time"].isin(UNMEASURED) | states["memory"].isin(UNMEASURED)].reset_index(drop=True)
    return Report(
        runs=runs,
        baseline=baseline,
        allocators=allocators,
        workloads=workloads,
        palette=_palette(allocators),
        metrics=metrics,
        cells=cells,
        summary=summary,
        agreement=agreement,
        agreement_ranks=agreement_ranks,
        failures=failures,
        timelines=timelines,
        rounding=_rounding(runs, sizes),
        verdicts={run.label: _verdict(run, baseline, cells, summary, agreement_ranks) for run in runs},
    )
