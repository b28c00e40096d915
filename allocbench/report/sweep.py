"""A sweep's results folder in, every figure of fact its report shows out (aggregate first,
then render: allocbench/report/render_sweep.py draws these tables).

On top of the run-level aggregate (allocbench.report.aggregate: cells, relative times timed
side by side with the base, their tests), per allocator of the sweep (its points, the base,
the references):
  * time relative to the base: the geometric mean over workloads, with its 95% interval;
  * peak and retained RSS relative to the base: the geometric mean over workloads of the
    per-workload ratios, with its 95% interval over workloads; and the totals;
  * the model's own figures (footprint, OS calls) summed over workloads;
  * which Pareto fronts it is on (allocbench.pareto): time against peak RSS, time against
    retained RSS, peak against retained RSS;
  * the CPython preset its configuration equals, if any;
then the main effect of each knob on each measure (the mean over the other knobs, with its
spread), the best points per workload and overall, and the verdict's sentences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from allocbench import _core
from allocbench.pareto import front
from allocbench.report.aggregate import PEAK_MEMORY, RETAINED_MEMORY, Report
from allocbench.report.stats import geometric_mean_ratio, ratio_over_workloads

# The three measures a sweep weighs, each "lower is better": column, words, relative column.
MEASURES = (
    ("relative_time", "time", "time relative to the base"),
    ("relative_peak", "peak RSS", "peak RSS relative to the base"),
    ("relative_retained", "retained RSS", "retained RSS relative to the base"),
)
FRONTS = (
    ("front_time_peak", "relative_peak", "relative_time", "time against peak RSS"),
    ("front_time_retained", "relative_retained", "relative_time", "time against retained RSS"),
    ("front_memory", "relative_peak", "relative_retained", "peak RSS against retained RSS"),
)


@dataclass(frozen=True)
class SweepAggregate:
    report: Report
    knobs: list[str]  # the grid's knobs, in grid order
    grid: dict[str, list[str]]
    time_mode: str
    base: str  # the base's label
    points: pd.DataFrame  # one row per allocator: role, knobs, preset, relative figures, totals, fronts
    cells: pd.DataFrame  # the run-level cells, with the knobs and roles of their allocators
    main_effects: pd.DataFrame  # knob, value, measure, mean, stdev, low, high, points
    best: pd.DataFrame  # scope (a workload or "overall"), measure, allocator, value, config
    skipped: list[dict]  # grid points skipped, with the reason
    verdict: list[str]

    @property
    def timed(self) -> bool:
        return self.time_mode != "none" and self.points["workloads_timed"].gt(0).any()


def _preset_names() -> dict[str, str]:
    """Canonical spec -> preset name, for every CPython preset."""
    return {p["spec"]: p["name"] for p in _core.presets()}


def _point_rows(report: Report, manifest: dict, knobs: list[str]) -> pd.DataFrame:
    run = report.runs[0].label
    cells = report.cells[report.cells["run"] == run]
    base = manifest["baseline"]
    presets = _preset_names()
    workloads = len(manifest["workloads"])
    rows = []
    for allocator in manifest["allocators"]:
        label = allocator["label"]
        mine = cells[cells["allocator"] == label]
        base_cells = cells[cells["allocator"] == base].set_index("workload")
        timed = mine.dropna(subset=["time_mean", "time_mean_base"])
        if label == base:
            # The base is timed alongside every other cell: against itself it is 1 exactly.
            time = (1.0, 1.0, 1.0) if cells["base_time_mean"].notna().any() else (math.nan,) * 3
        elif len(timed):
            t = geometric_mean_ratio(timed["time_mean"], timed["time_stdev"], timed["time_values"],
                                     timed["time_mean_base"], timed["time_stdev_base"], timed["time_values_base"])
            time = (t.ratio, t.low, t.high)
        else:
            time = (math.nan,) * 3
        measured = mine.dropna(subset=[PEAK_MEMORY, RETAINED_MEMORY])
        measured = measured[measured["workload"].isin(base_cells.dropna(subset=[PEAK_MEMORY]).index)]
        complete = len(measured) == workloads
        peak = ratio_over_workloads(measured[PEAK_MEMORY], base_cells.loc[measured["workload"], PEAK_MEMORY])
        retained = ratio_over_workloads(measured[RETAINED_MEMORY], base_cells.loc[measured["workload"], RETAINED_MEMORY])
        config = allocator.get("config", {})
        rows.append({
            "allocator": label,
            "role": allocator.get("role", "point"),
            **{knob: (allocator.get("knobs") or {}).get(knob, config.get(knob, "")) for knob in knobs},
            "preset": presets.get(allocator["spec"], ""),
            "workloads_timed": len(timed) if label != base else (workloads if time[0] == 1.0 else 0),
            "relative_time": time[0], "relative_time_low": time[1], "relative_time_high": time[2],
            "workloads_measured": len(measured),
            "relative_peak": peak.ratio if complete else math.nan,
            "relative_peak_low": peak.low if complete else math.nan,
            "relative_peak_high": peak.high if complete else math.nan,
            "relative_retained": retained.ratio if complete else math.nan,
            "relative_retained_low": retained.low if complete else math.nan,
            "relative_retained_high": retained.high if complete else math.nan,
            "peak_rss_total": measured[PEAK_MEMORY].sum() if complete else math.nan,
            "retained_rss_total": measured[RETAINED_MEMORY].sum() if complete else math.nan,
            "peak_footprint_total": mine["peak_footprint_bytes"].sum(min_count=workloads) if complete else math.nan,
            "mmap_calls_total": mine["mmap_calls"].sum(min_count=workloads) if complete else math.nan,
            "config": ", ".join(f"{k}={v}" for k, v in config.items() if k not in ("allocator", "preset")) or allocator["spec"],
        })
    points = pd.DataFrame(rows)
    # Fronts among the sweep's own configurations (points and base; a --time front sweep chose
    # what to time from the same memory front: allocbench.sweep.memory_ratios); references are
    # drawn beside them.
    candidates = points[points["role"] != "reference"]
    for name, x, y, _ in FRONTS:
        on = set(front([(r.allocator, (getattr(r, y), getattr(r, x))) for r in candidates.itertuples()]))
        points[name] = points["allocator"].isin(on)
    return points


def _on_grid(points: pd.DataFrame, grid: dict[str, list[str]]) -> pd.DataFrame:
    """The grid's own points: the base among them only when it is one of them."""
    inside = pd.Series(True, index=points.index)
    for knob, values in grid.items():
        inside &= points[knob].isin(values)
    return points[(points["role"] == "point") | ((points["role"] == "base") & inside)]


def _main_effects(points: pd.DataFrame, knobs: list[str]) -> pd.DataFrame:
    grid_points = points
    rows = []
    for knob in knobs:
        for measure, words, _ in MEASURES:
            for value, group in grid_points.groupby(knob, sort=False):
                values = group[measure].dropna()
                if values.empty:
                    continue
                rows.append({"knob": knob, "value": value, "measure": measure, "words": words,
                             "mean": values.mean(), "stdev": values.std(ddof=1) if len(values) > 1 else 0.0,
                             "low": values.min(), "high": values.max(), "points": len(values)})
    return pd.DataFrame(rows, columns=["knob", "value", "measure", "words", "mean", "stdev", "low", "high", "points"])


def _best(points: pd.DataFrame, cells: pd.DataFrame, timed: bool) -> pd.DataFrame:
    configs = points.set_index("allocator")["config"]
    grid_points = points[points["role"] != "reference"]
    rows = []
    measures = [m for m in MEASURES if timed or m[0] != "relative_time"]
    for measure, words, _ in measures:
        ranked = grid_points.dropna(subset=[measure]).sort_values(measure, kind="stable")
        if len(ranked):
            top = ranked.iloc[0]
            rows.append({"scope": "overall", "measure": words, "allocator": top["allocator"], "value": top[measure],
                         "config": top["config"]})
    per_cell = {words: column for column, words, _ in measures}
    ours = cells[cells["allocator"].isin(grid_points["allocator"])]
    for workload, group in ours.groupby("workload", sort=False):
        for words, column in per_cell.items():
            ranked = group.dropna(subset=[column]).sort_values(column, kind="stable")
            if len(ranked):
                top = ranked.iloc[0]
                rows.append({"scope": workload, "measure": words, "allocator": top["allocator"], "value": top[column],
                             "config": configs[top["allocator"]]})
    return pd.DataFrame(rows, columns=["scope", "measure", "allocator", "value", "config"])


def _gain(row: pd.Series, column: str) -> str:
    low, high = row[f"{column}_low"], row[f"{column}_high"]
    interval = f", 95% interval {low:.2f}–{high:.2f}" if low == low and high == high else ""
    return f"{row[column]:.2f}× the base{interval}"


def _verdict(points: pd.DataFrame, base: str, time_mode: str) -> list[str]:
    grid_points = points[points["role"] != "reference"]
    sentences = []
    for column, words, _ in MEASURES:
        ranked = grid_points.dropna(subset=[column]).sort_values(column, kind="stable")
        if column == "relative_time" and (time_mode == "none" or ranked.empty):
            sentences.append("Time was not measured (--time none): the fronts weigh memory against memory."
                             if time_mode == "none" else "No configuration was timed on every workload.")
            continue
        if ranked.empty:
            sentences.append(f"No configuration was measured for {words} on every workload.")
            continue
        top = ranked.iloc[0]
        if top["allocator"] == base:
            sentences.append(f"Best for {words}: the base itself ({base}).")
        else:
            sentences.append(f"Best for {words}: {top['allocator']} at {_gain(top, column)}.")
    presets = grid_points[grid_points["preset"] != ""]
    fronts = FRONTS if time_mode != "none" else FRONTS[2:]
    for row in presets.itertuples():
        on = [words for name, _, _, words in fronts if getattr(row, name)]
        sentences.append(f"CPython's {row.preset} configuration ({row.allocator}) is "
                         + (f"on the front of {' and of '.join(on)}." if on else "on no front: other configurations do better on both measures."))
    if presets.empty:
        sentences.append("No configuration of the grid is a CPython preset's.")
    for reference in points[points["role"] == "reference"].itertuples():
        beaten = []
        for column, words, _ in MEASURES:
            value = getattr(reference, column)
            if value == value and (grid_points[column] < value).any():
                beaten.append(words)
        sentences.append(f"Against {reference.allocator}: " + (
            f"some configuration of the grid does better on {', '.join(beaten)}." if beaten
            else "no configuration of the grid does better on any measure."))
    return sentences


def aggregate_sweep(report: Report) -> SweepAggregate:
    """The sweep's tables, from the run-level aggregate of its one results folder."""
    manifest = report.runs[0].manifest
    sweep = manifest["sweep"]
    knobs = list(sweep["grid"])
    points = _point_rows(report, manifest, knobs)
    knob_columns = points.set_index("allocator")[knobs + ["role"]]
    cells = report.cells.join(knob_columns, on="allocator")
    return SweepAggregate(
        report=report, knobs=knobs, grid=sweep["grid"], time_mode=sweep["time"], base=manifest["baseline"],
        points=points, cells=cells, main_effects=_main_effects(_on_grid(points, sweep["grid"]), knobs),
        best=_best(points, cells, timed=sweep["time"] != "none"),
        skipped=sweep.get("skipped", []), verdict=_verdict(points, manifest["baseline"], sweep["time"]),
    )


def is_sweep(report: Report) -> bool:
    return len(report.runs) == 1 and report.runs[0].manifest.get("kind") == "sweep"
