"""The sweep report's figures, tables and page, from a SweepAggregate (allocbench.report.sweep).

Every figure of fact comes from the aggregate; this module only chooses what goes where:
which knobs span a heatmap, which points get a label, which axis is logarithmic. Figures
go through render.py's `svg_figure` (seaborn on a matplotlib Figure, inline SVG, the same
bytes for the same input), tables through its `_table_html`.

Colours here follow the points' roles, not report.palette: a sweep has tens or hundreds of
grid points, and a colour each would say nothing, while the few references must stay
apart (report.palette turns to evenly spaced hues past ten allocators, where cpython and
system come out nearly the same pink).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from markupsafe import Markup
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.text import Text
from matplotlib.transforms import Bbox
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator, ScalarFormatter

from allocbench import __version__, _core
from allocbench.metrics import metric
from allocbench.report.aggregate import PEAK_MEMORY, RETAINED_MEMORY
from allocbench.report.render import (
    MISSING, _csv_data_uri, _legend, _number, _run_facts, _table_html,
    byte_unit, metric_terms, report_terms, svg_figure, template_environment,
)
from allocbench.report.sweep import FRONTS, MEASURES, SweepAggregate
from allocbench.results import with_knob_columns

# Roles' colours and markers, the same in every figure of the page.
POINT_COLOUR = "#a8a8a8"
FRONT_COLOUR = "#0173b2"
BASE_COLOUR = "#1d1d1d"
PRESET_COLOUR = "#7a3e9d"
# seaborn's colour-blind palette without its blue (the front's) and purple (the presets').
REFERENCE_COLOURS = ["#de8f05", "#029e73", "#d55e00", "#cc78bc", "#ca9161", "#949494", "#ece133", "#56b4e9"]
HEATMAP_COLOURS = "vlag"  # diverging, colour-blind safe: blue below the base, red above
LOG_AXIS_SPAN = 4.0  # a ratio axis whose largest value is this many times its smallest is logarithmic
ANNOTATED_CELLS = 16  # heatmaps with more rows or columns than this are coloured, not numbered
CELLS_ACROSS = 24  # heatmap panels stand side by side while together they are at most this many cells wide
COLOUR_BAR_WIDTH = 0.15  # inches
LABELLED_VALUES = 8  # main-effect panels with more knob values than this leave the means unlabelled
TICK_LABELS = 16  # main-effect panels label at most about this many knob values
FACET_COLUMNS = 3  # heatmap panels side by side, at most
UNIT = "×"  # relative to the base: every ratio on the page says it


# --- names ------------------------------------------------------------------------------
def short_label(row, knobs: list[str]) -> str:
    """A grid configuration by its knob values alone, in grid order ("16K · 1M · keep-one"):
    the figures' key says which knob each value is."""
    return " · ".join(str(row[k]) for k in knobs)


def measure_title(column: str) -> str:
    return next(title for name, _, title in MEASURES if name == column)


def _measures(sweep: SweepAggregate) -> list[tuple[str, str, str]]:
    """The measures this sweep has: time only where it was timed."""
    return [m for m in MEASURES if m[0] != "relative_time" or sweep.timed]


def ratio_text(value: float, digits: int = 2) -> str:
    return _number(value, digits, UNIT)


def _decimals(values: np.ndarray) -> int:
    """Two decimals, or three where the values lie within 0.1 of each other (peak RSS often
    does), so that neighbours differ."""
    finite = values[np.isfinite(values)]
    return 3 if len(finite) and finite.max() - finite.min() < 0.1 else 2


@dataclass(frozen=True)
class Table:
    html: Markup
    style: str  # CSS for its text columns, for the page's head


def _table(frame: pd.DataFrame, uuid: str, caption: str, text: list[str], prose: tuple[str, ...] = (),
           configuration: tuple[str, ...] = ()) -> Table:
    """render._table_html's table with a sweep's columns set as they read best (it knows
    only the run report's): `text` aligned left, `prose` also wrapped, `configuration`
    wrapped and set small in monospace."""
    rules = []
    for index, column in enumerate(frame.columns):
        if column in configuration:
            rules.append(f"#T_{uuid} td.col{index} {{ text-align: left; white-space: normal; min-width: 22em; "
                         'font-family: "DejaVu Sans Mono", monospace; font-size: 0.75rem; }')
        elif column in prose:
            rules.append(f"#T_{uuid} td.col{index} {{ text-align: left; white-space: normal; min-width: 10em; }}")
        elif column in text:
            rules.append(f"#T_{uuid} td.col{index} {{ text-align: left; }}")
    return Table(_table_html(frame, uuid, caption), "\n".join(rules))


# --- ratio axes -------------------------------------------------------------------------
NICE_RATIOS = [m * 10.0**e for e in range(-4, 5) for m in (1, 2, 5)]


def _ratio_axis(ax, which: str, values: np.ndarray) -> None:
    """A ratio axis ("x" or "y"): logarithmic where the values span more than LOG_AXIS_SPAN
    (0.5× and 2× then sit as far from 1×), linear otherwise; every tick labelled with ×."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    values = values[np.isfinite(values) & (values > 0)]
    if len(values) and values.max() / values.min() > LOG_AXIS_SPAN:
        (ax.set_xscale if which == "x" else ax.set_yscale)("log")
        low, high = values.min() / 1.15, values.max() * 1.15
        ticks = [t for t in NICE_RATIOS if low <= t <= high]
        axis.set_major_locator(FixedLocator(ticks))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}{UNIT}"))
        axis.set_minor_locator(NullLocator())
        axis.set_minor_formatter(NullFormatter())
    else:
        axis.set_major_formatter(_TimesFormatter(useOffset=False))


class _TimesFormatter(ScalarFormatter):
    """matplotlib's plain tick labels (as many decimals as the ticks need), with ×."""

    def __call__(self, x, pos=None):
        text = super().__call__(x, pos)
        return f"{text}{UNIT}" if text else text


# --- the Pareto fronts --------------------------------------------------------------------
@dataclass(frozen=True)
class Panel:
    front: str  # the points table's column saying who is on it
    x: str
    y: str
    words: str


def front_panels(sweep: SweepAggregate) -> list[Panel]:
    """Time against peak and against retained RSS where points were timed; memory against
    memory without time, and beside the time panels with --time front (the front that
    chose what was timed)."""
    panels = [Panel(*f) for f in FRONTS]
    if not sweep.timed:
        return panels[2:]
    return panels if sweep.time_mode == "front" else panels[:2]


LABEL_OFFSETS = [(8, 5), (8, -13), (-8, 5), (-8, -13), (0, 10), (0, -18)]  # points from the dot
# Farther out, in two rings, with a line back to the dot.
LEADER_OFFSETS = [(dx * 3, dy * 2.6) for dx, dy in LABEL_OFFSETS] + [(dx * 5, dy * 4.5) for dx, dy in LABEL_OFFSETS]
DOT_RADIUS = 4.5  # points: the largest marker's half-width


def _label_points(ax, figure: Figure, labelled: list[tuple[float, float, str, str]], dots: list[tuple[float, float]]) -> None:
    """Writes each label beside its point, at the first place (around the point, then
    farther out with a leader line) that keeps it inside the panel and off every other
    label and point; where there is none, at the place that overlaps least: other labels
    and labelled points count most, leaving the panel more still."""
    figure.draw_without_rendering()  # the layout is final: display coordinates hold
    renderer = FigureCanvasAgg(figure).get_renderer()  # measures text as the SVG will set it
    panel = ax.get_window_extent()
    radius = DOT_RADIUS * figure.dpi / 72

    def around(x: float, y: float) -> Bbox:
        px, py = ax.transData.transform((x, y))
        return Bbox.from_bounds(px - radius, py - radius, 2 * radius, 2 * radius)

    labelled_dots = [around(x, y) for x, y, _, _ in labelled]
    other_dots = [around(x, y) for x, y in dots]
    placed: list[Bbox] = []
    for index, (x, y, text, colour) in enumerate(labelled):
        own = labelled_dots[index]
        firm = placed + [d for i, d in enumerate(labelled_dots) if i != index]
        soft = [d for d in other_dots if not d.overlaps(own)]
        best = None  # (cost, offset)
        for dx, dy in LABEL_OFFSETS + LEADER_OFFSETS:
            candidate = _annotation(ax, x, y, text, colour, dx, dy)
            extent = _text_extent(candidate, renderer).expanded(1.04, 1.1)
            candidate.remove()
            inside = panel.x0 <= extent.x0 and extent.x1 <= panel.x1 and panel.y0 <= extent.y0 and extent.y1 <= panel.y1
            cost = (0 if inside else 100) + 10 * sum(extent.overlaps(b) for b in firm) + sum(extent.overlaps(b) for b in soft)
            if best is None or cost < best[0]:
                best = (cost, (dx, dy))
            if cost == 0:
                break
        chosen = _annotation(ax, x, y, text, colour, *best[1])
        chosen.set_in_layout(False)  # labels must not move the panels they were placed in
        placed.append(_text_extent(chosen, renderer))


def _text_extent(annotation, renderer) -> Bbox:
    """Where a label's words are, without its leader line (which may cross what it must)."""
    annotation.update_positions(renderer)  # as Annotation.get_window_extent does before measuring
    return Text.get_window_extent(annotation, renderer)


def _annotation(ax, x: float, y: float, text: str, colour: str, dx: float, dy: float):
    """A label `dx, dy` points from its point; from the farther places, a line leads back."""
    leader = (dx, dy) in LEADER_OFFSETS
    return ax.annotate(
        text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=7.5, color=colour,
        ha="left" if dx > 0 else "right" if dx < 0 else "center", va="bottom", annotation_clip=False,
        arrowprops=dict(arrowstyle="-", color=colour, linewidth=0.6, shrinkA=0, shrinkB=4) if leader else None,
    )


def _reference_colours(sweep: SweepAggregate) -> dict[str, str]:
    references = sweep.points.loc[sweep.points["role"] == "reference", "allocator"]
    return {r: REFERENCE_COLOURS[i % len(REFERENCE_COLOURS)] for i, r in enumerate(references)}


NAMED_FRONT = 6  # a front of more points is numbered along its length, with a key below the figure
REFERENCE_REACH = 1.0  # a reference farther than this many grid spans (log scale) from the grid sits on the edge


def numbered_front(sweep: SweepAggregate, panel: Panel) -> pd.DataFrame:
    """The panel's front in the order the line joins it, numbered from 1 where it is too long
    to name each point in the figure (NAMED_FRONT), unnumbered (empty) otherwise."""
    grid = sweep.points[(sweep.points["role"] != "reference")].dropna(subset=[panel.x, panel.y])
    on = grid[grid[panel.front]].sort_values([panel.x, panel.y], kind="stable")
    return on.assign(number=range(1, len(on) + 1)) if len(on) > NAMED_FRONT else on.iloc[:0].assign(number=[])


def _panel_range(grid: np.ndarray, references: np.ndarray) -> tuple[float, float]:
    """The stretch of a ratio axis the panel shows: the grid's points (and 1, the base),
    and the references that lie near them; one far off would squeeze the grid into a corner."""
    values = np.append(grid[np.isfinite(grid) & (grid > 0)], 1.0)
    low, high = values.min(), values.max()
    span = max(math.log(high / low), math.log(1.05))
    reach_low, reach_high = low * math.exp(-REFERENCE_REACH * span), high * math.exp(REFERENCE_REACH * span)
    near = references[np.isfinite(references) & (references >= reach_low) & (references <= reach_high)]
    return min(low, near.min(initial=low)), max(high, near.max(initial=high))


def _padded(low: float, high: float) -> tuple[float, float]:
    """Limits with room for the markers, as a fraction of the span on the log scale."""
    pad = max(math.log(high / low), math.log(1.02)) * 0.08
    return low * math.exp(-pad), high * math.exp(pad)


def front_figure(sweep: SweepAggregate) -> Markup:
    """Every point of the grid, the base and the references at their measures relative to
    the base; the front joined by a line; the front (by name, or by number for a long one),
    the presets, the base and the references labelled: only they, so that a large grid
    stays legible. A reference far from the grid is drawn on the panel's edge, pointing to
    where it lies, with its values."""
    panels = front_panels(sweep)
    points = sweep.points
    colours = _reference_colours(sweep)

    def draw(figure: Figure) -> None:
        axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
        for ax in axes[len(panels):]:
            ax.set_visible(False)
        for ax, panel in zip(axes, panels):
            drawn = points.dropna(subset=[panel.x, panel.y])
            grid = drawn[drawn["role"] != "reference"]
            references = drawn[drawn["role"] == "reference"]
            on_front = grid[grid[panel.front]].sort_values([panel.x, panel.y], kind="stable")
            off_front = grid[~grid[panel.front]]
            ax.scatter(off_front[panel.x], off_front[panel.y], s=18, color=POINT_COLOUR, linewidths=0, zorder=2)
            ax.plot(on_front[panel.x], on_front[panel.y], color=FRONT_COLOUR, linewidth=1.3, zorder=3)
            ax.scatter(on_front[panel.x], on_front[panel.y], s=30, color=FRONT_COLOUR, linewidths=0, zorder=4)
            presets = grid[(grid["preset"] != "") & (grid["role"] != "base")]
            ax.scatter(presets[panel.x], presets[panel.y], s=70, marker="D", facecolors="none", edgecolors=PRESET_COLOUR,
                       linewidths=1.3, zorder=5)
            base = grid[grid["role"] == "base"]
            ax.scatter(base[panel.x], base[panel.y], s=120, marker="*", color=BASE_COLOUR, linewidths=0, zorder=6)
            x_range = _panel_range(grid[panel.x].to_numpy(dtype=float), references[panel.x].to_numpy(dtype=float))
            y_range = _panel_range(grid[panel.y].to_numpy(dtype=float), references[panel.y].to_numpy(dtype=float))
            (x_low, x_high), (y_low, y_high) = _padded(*x_range), _padded(*y_range)
            reference_labels, dots = [], list(zip(grid[panel.x], grid[panel.y]))
            for row in references.itertuples():
                x, y = getattr(row, panel.x), getattr(row, panel.y)
                shown_x, shown_y = min(max(x, x_low), x_high), min(max(y, y_low), y_high)
                if (shown_x, shown_y) == (x, y):
                    marker, label = "s", row.allocator
                else:  # beyond the panel: on its edge, pointing out to where it lies
                    marker = ">" if x > x_high else "<" if x < x_low else "^" if y > y_high else "v"
                    label = f"{row.allocator} ({x:.2f}{UNIT}, {y:.2f}{UNIT})"
                ax.scatter([shown_x], [shown_y], s=55, marker=marker, color=colours[row.allocator], edgecolors="white",
                           linewidths=0.6, zorder=6, clip_on=False)
                reference_labels.append((shown_x, shown_y, label, colours[row.allocator]))
                dots.append((shown_x, shown_y))
            ax.axhline(1.0, color="#777777", linewidth=0.8, linestyle="--", zorder=1)
            ax.axvline(1.0, color="#777777", linewidth=0.8, linestyle="--", zorder=1)
            _ratio_axis(ax, "x", np.array([x_low, x_high]))
            _ratio_axis(ax, "y", np.array([y_low, y_high]))
            ax.set_xlim(x_low, x_high)
            ax.set_ylim(y_low, y_high)
            ax.set_xlabel(f"{measure_title(panel.x)} ({UNIT}, lower is better)")
            ax.set_ylabel(f"{measure_title(panel.y)} ({UNIT}, lower is better)")
            title = f"{panel.words}: {len(on_front)} of {len(grid)} configurations on the front"
            unplaced = len(points[points["role"] != "reference"]) - len(grid)
            if unplaced:
                title += f"\n{unplaced} configuration{'s' if unplaced != 1 else ''} without both measures: not drawn"
            ax.set_title(title, fontsize=9)
            numbers = numbered_front(sweep, panel).set_index("allocator")["number"]
            named, front_labels = [], []
            for row in grid.itertuples():
                name = short_label(row._asdict(), sweep.knobs)
                at = (getattr(row, panel.x), getattr(row, panel.y))
                number = f"{numbers[row.allocator]} – " if row.allocator in numbers.index else ""  # its place on a numbered front
                if row.role == "base":
                    named.append((*at, f"{number}base {name}" + (f" ({row.preset})" if row.preset else ""), BASE_COLOUR))
                elif row.preset:
                    named.append((*at, f"{number}{row.preset}: {name}", PRESET_COLOUR))
                elif getattr(row, panel.front):
                    front_labels.append((*at, number[:-3] or name, FRONT_COLOUR))
            # Placed in this order: the base and presets, then the front, then the references around them.
            _label_points(ax, figure, named + front_labels + reference_labels, dots)
        handles = [
            Line2D([], [], color=POINT_COLOUR, marker="o", linestyle="none", markersize=5, label="a point of the grid"),
            Line2D([], [], color=FRONT_COLOUR, marker="o", markersize=5, label="the front (joined)"),
            Line2D([], [], color=BASE_COLOUR, marker="*", linestyle="none", markersize=10, label="the base"),
            Line2D([], [], color=PRESET_COLOUR, marker="D", markerfacecolor="none", linestyle="none", markersize=7,
                   label="a CPython preset"),
        ] + [Line2D([], [], color=c, marker="s", linestyle="none", markersize=7, label=f"reference: {r}") for r, c in colours.items()]
        _legend(figure, handles)

    # Two panels side by side at most: a third (--time front) goes below, where labels have room.
    ncols = min(2, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    height = 0.6 + (4.0 if ncols > 1 else 5.0) * nrows
    return svg_figure("Pareto fronts", height, draw)


def front_key_tables(sweep: SweepAggregate) -> list[Table]:
    """For each panel whose front is numbered, what each number is."""
    tables = []
    for index, panel in enumerate(front_panels(sweep)):
        front = numbered_front(sweep, panel)
        if front.empty:
            continue
        frame = pd.DataFrame({
            "number": front["number"],
            **{knob: front[knob].astype(str) for knob in sweep.knobs},
            # Three decimals: neighbours along a front are close.
            measure_title(panel.x): [ratio_text(v, 3) for v in front[panel.x]],
            measure_title(panel.y): [ratio_text(v, 3) for v in front[panel.y]],
        })
        caption = f"The numbered front of {panel.words}, from left to right."
        tables.append(_table(frame, f"front-key-{index}", caption, text=list(sweep.knobs)))
    return tables


# --- heatmaps -----------------------------------------------------------------------------
@dataclass(frozen=True)
class HeatmapLayout:
    rows: str | None  # the knob down the rows (None: one row)
    columns: str
    facets: str | None  # the knob that makes one panel per value
    held: tuple[str, ...]  # knobs held at the best point's values (a grid of four knobs or more)


def _effect_size(sweep: SweepAggregate, knob: str) -> float:
    """How far apart the knob's main effects are, on the log scale (a ratio's own), at most over the measures."""
    effects = sweep.main_effects[sweep.main_effects["knob"] == knob]
    spans = [np.log(g["mean"].max() / g["mean"].min()) for _, g in effects.groupby("measure") if (g["mean"] > 0).all()]
    return max(spans, default=0.0)


def heatmap_layout(sweep: SweepAggregate) -> HeatmapLayout:
    """One knob: a strip of its values. Two: the one with more values across (the page is
    wide), the other down; ties in grid order. Three: the one with fewest values makes a
    panel per value, the other two as for two. More: the three whose main effects differ
    most, the others held at the best point's values."""
    knobs = list(sweep.knobs)
    if len(knobs) == 1:
        return HeatmapLayout(None, knobs[0], None, ())
    held: tuple[str, ...] = ()
    if len(knobs) > 3:
        ranked = sorted(knobs, key=lambda k: -_effect_size(sweep, k))  # sorted is stable: ties keep grid order
        shown = set(ranked[:3])
        held = tuple(k for k in knobs if k not in shown)
        knobs = [k for k in knobs if k in shown]
    facets = None
    if len(knobs) == 3:
        facets = min(reversed(knobs), key=lambda k: len(sweep.grid[k]))  # ties: the last in grid order
        knobs = [k for k in knobs if k != facets]
    rows, columns = knobs if len(sweep.grid[knobs[1]]) >= len(sweep.grid[knobs[0]]) else knobs[::-1]
    return HeatmapLayout(rows, columns, facets, held)


def _held_values(sweep: SweepAggregate, layout: HeatmapLayout, words: str) -> dict[str, str]:
    """The best point's values of the knobs a heatmap holds (the slice through the optimum)."""
    if not layout.held:
        return {}
    best = sweep.best[(sweep.best["scope"] == "overall") & (sweep.best["measure"] == words)]
    if best.empty:
        return {}
    row = sweep.points.set_index("allocator").loc[best["allocator"].iloc[0]]
    return {k: str(row[k]) for k in layout.held}


def _symmetric_norm(values: np.ndarray) -> LogNorm:
    """A log scale centred on 1 (the base): 0.5× as blue as 2× is red."""
    values = values[np.isfinite(values) & (values > 0)]
    reach = max([1.02, *(values.max(initial=1.0), 1 / values.min(initial=1.0))])
    return LogNorm(vmin=1 / reach, vmax=reach)


# Tick levels either side of 1 on a colour bar, nearest first: they read as round numbers.
TICKS_ABOVE = [1.01, 1.02, 1.05, 1.1, 1.25, 2, 5, 10, 20, 50, 100, 1000]
TICKS_BELOW = [0.99, 0.98, 0.95, 0.9, 0.8, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.001]


def _norm_ticks(norm: LogNorm) -> list[float]:
    """1, and up to two levels each side: the farthest that fits, and one at most half as
    far on the log scale, so that the ticks spread over the bar."""
    chosen = []
    for above, below in reversed(list(zip(TICKS_ABOVE, TICKS_BELOW))):
        if above <= norm.vmax and below >= norm.vmin and (not chosen or math.log(above) <= math.log(chosen[-1]) / 2):
            chosen.append(above)
            if len(chosen) == 2:
                break
    pairs = dict(zip(TICKS_ABOVE, TICKS_BELOW))
    return sorted([1.0, *chosen, *(pairs[c] for c in chosen)])


def _configured_values(sweep: SweepAggregate, knob: str) -> list[str]:
    """The knob's grid values that some configuration has: a value whose every combination
    was skipped as invalid (threshold=72 with 16-byte alignment) has no row or column."""
    present = set(sweep.points.loc[sweep.points["role"] != "reference", knob].astype(str))
    return [v for v in sweep.grid[knob] if v in present]


def heatmap_figure(sweep: SweepAggregate, column: str, words: str, layout: HeatmapLayout) -> Markup:
    """A measure over two knobs, a panel per value of a third, each cell a point of the grid
    annotated with its value; the colours diverge from 1 (the base) on a log scale."""
    grid_points = sweep.points[sweep.points["role"] != "reference"].drop_duplicates(subset=sweep.knobs)
    held = _held_values(sweep, layout, words)
    for knob, value in held.items():
        grid_points = grid_points[grid_points[knob].astype(str) == value]
    row_values = _configured_values(sweep, layout.rows) if layout.rows else [""]
    column_values = _configured_values(sweep, layout.columns)
    facet_values = _configured_values(sweep, layout.facets) if layout.facets else [None]
    skipped = {tuple(sorted(s["point"].items())) for s in sweep.skipped}
    base = sweep.points[sweep.points["role"] == "base"].iloc[0] if (sweep.points["role"] == "base").any() else None
    presets = grid_points[(grid_points["preset"] != "") & (grid_points["role"] != "base")]

    def table(facet) -> pd.DataFrame:
        mine = grid_points if facet is None else grid_points[grid_points[layout.facets].astype(str) == facet]
        mine = mine.assign(_row=mine[layout.rows].astype(str) if layout.rows else "")
        return mine.pivot(index="_row", columns=layout.columns, values=column).reindex(index=row_values, columns=column_values)

    tables = [table(f) for f in facet_values]
    norm = _symmetric_norm(np.concatenate([t.to_numpy(dtype=float).ravel() for t in tables]))
    cmap = sns.color_palette(HEATMAP_COLOURS, as_cmap=True)
    annotate = len(row_values) <= ANNOTATED_CELLS and len(column_values) <= ANNOTATED_CELLS
    digits = _decimals(np.concatenate([t.to_numpy(dtype=float).ravel() for t in tables]))
    # Side by side while the panels keep cells wide enough, one above the other beyond.
    ncols = max(1, min(FACET_COLUMNS, len(facet_values), CELLS_ACROSS // len(column_values)))
    nrows = math.ceil(len(facet_values) / ncols)
    upright = len(column_values) <= 8  # tick labels across; more columns turn them

    def cell_of(row, facet) -> tuple[int, int] | None:
        """Where a configuration sits in a facet's table, if it is in it."""
        values = {k: str(row[k]) for k in sweep.knobs}
        if (facet is not None and values[layout.facets] != facet) or any(values[k] != v for k, v in held.items()):
            return None
        r = row_values.index(values[layout.rows]) if layout.rows and values[layout.rows] in row_values else (0 if not layout.rows else None)
        c = column_values.index(values[layout.columns]) if values[layout.columns] in column_values else None
        return None if r is None or c is None else (r, c)

    def draw(figure: Figure) -> None:
        axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
        drawn = set()  # which marks the figure has, for its legend
        for index, (ax, facet, frame) in enumerate(zip(axes, facet_values, tables)):
            shown = frame.to_numpy(dtype=float)
            labels = np.vectorize(lambda v: "" if math.isnan(v) else f"{v:.{digits}f}{UNIT}")(shown) if annotate else False
            sns.heatmap(frame.astype(float), ax=ax, cmap=cmap, norm=norm, cbar=False, annot=labels, fmt="",
                        annot_kws={"fontsize": 8 if len(column_values) <= 6 else 6.5}, linewidths=0.8, linecolor="white",
                        square=False)
            ax.set_facecolor("#f1f1f1")  # a cell with no point: not drawn, not measured or skipped
            ax.grid(False)
            for r, row_value in enumerate(row_values):
                for c, column_value in enumerate(column_values):
                    if not math.isnan(shown[r, c]):
                        continue
                    key = {layout.columns: column_value, **held}
                    if layout.rows:
                        key[layout.rows] = row_value
                    if facet is not None:
                        key[layout.facets] = facet
                    invalid = tuple(sorted(key.items())) in skipped
                    if invalid:
                        ax.add_patch(Rectangle((c, r), 1, 1, facecolor="none", edgecolor="#c4c4c4", hatch="///", linewidth=0))
                        drawn.add("skipped")
                    if annotate:
                        ax.text(c + 0.5, r + 0.5, "skipped" if invalid else MISSING, ha="center", va="center",
                                fontsize=7.5, color="#666666")
            if base is not None and (where := cell_of(base, facet)):
                ax.add_patch(Rectangle((where[1], where[0]), 1, 1, fill=False, edgecolor=BASE_COLOUR, linewidth=2.2, zorder=5))
                drawn.add("base")
            for _, preset in presets.iterrows():
                if where := cell_of(preset, facet):
                    ax.add_patch(Rectangle((where[1] + 0.06, where[0] + 0.06), 0.88, 0.88, fill=False, edgecolor=PRESET_COLOUR,
                                           linewidth=1.6, linestyle="--", zorder=5))
                    drawn.add("preset")
            ax.set_xlabel(layout.columns)
            ax.set_ylabel(layout.rows if layout.rows and index % ncols == 0 else "")
            if not layout.rows:
                ax.set_yticks([])
            ax.tick_params(axis="y", rotation=0)
            ax.tick_params(axis="x", rotation=0 if upright else 90, labelsize=None if upright else 6.5)
            ax.tick_params(axis="y", labelsize=None if len(row_values) <= 12 else 6.5)
            if facet is not None:
                ax.set_title(f"{layout.facets} = {facet}", fontsize=9)
        for ax in axes[len(facet_values):]:
            ax.set_visible(False)
        colourbar = figure.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes[: len(facet_values)].tolist(),
                                    shrink=0.9, pad=0.02, aspect=max(8.0, cells_height / COLOUR_BAR_WIDTH))
        colourbar.set_label(f"{words} relative to the base ({UNIT})")
        colourbar.ax.yaxis.set_major_locator(FixedLocator(_norm_ticks(norm)))
        colourbar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}{UNIT}"))
        colourbar.ax.yaxis.set_minor_locator(NullLocator())
        handles = {
            "base": Patch(fill=False, edgecolor=BASE_COLOUR, linewidth=2.2, label="the base (1× by definition)"),
            "preset": Patch(fill=False, edgecolor=PRESET_COLOUR, linewidth=1.6, linestyle="--", label="a CPython preset"),
            "skipped": Patch(facecolor="#f1f1f1", edgecolor="#c4c4c4", hatch="///", label="skipped: not a valid configuration"),
        }
        if drawn:
            _legend(figure, [handle for name, handle in handles.items() if name in drawn])

    # At least 1.3 inches of cells, for the colour bar beside them to hold its ticks.
    cells_height = nrows * max(1.3, (0.42 if len(row_values) <= 12 else 0.2) * len(row_values))
    # The legend, then per row of panels: the title, the cells, the tick labels and the knob's name.
    height = 0.5 + cells_height + nrows * ((0.3 if layout.facets else 0.0) + (0.6 if upright else 0.9))
    return svg_figure(f"heatmap of {words} relative to the base", height, draw)


def heatmap_notes(sweep: SweepAggregate, layout: HeatmapLayout) -> dict[str, str]:
    """Per measure, what a heatmap holds fixed, in words."""
    notes = {}
    for _, words, _ in _measures(sweep):
        held = _held_values(sweep, layout, words)
        if held:
            notes[words] = "Other knobs held at the best point's values: " + ", ".join(f"{k}={v}" for k, v in held.items()) + "."
    return notes


# --- main effects ---------------------------------------------------------------------------
def _knob_values(sweep: SweepAggregate, knob: str) -> list[str]:
    """The knob's values that some measured point has: in grid order, then any the grid
    lacks (an off-grid base's). Values whose every point was skipped have no mean."""
    measured = list(dict.fromkeys(str(v) for v in sweep.main_effects.loc[sweep.main_effects["knob"] == knob, "value"]))
    return [v for v in sweep.grid[knob] if v in measured] + [v for v in measured if v not in sweep.grid[knob]]


def main_effects_figure(sweep: SweepAggregate) -> Markup:
    """A row per knob, a column per measure: for each value of the knob, the mean of the
    measure over the points that have it (whatever the other knobs), and the lowest and
    highest of them; measures share their scale down a column, so knobs compare."""
    measures = _measures(sweep)
    effects = sweep.main_effects
    base = sweep.points[sweep.points["role"] == "base"]
    base_values = {k: str(base[k].iloc[0]) for k in sweep.knobs} if len(base) else {}

    def draw(figure: Figure) -> None:
        axes = figure.subplots(len(sweep.knobs), len(measures), squeeze=False, sharey="col")
        for column, (measure, _, title) in enumerate(measures):
            mine = effects[effects["measure"] == measure]
            reach = mine[["low", "high"]].to_numpy(dtype=float).ravel()
            digits = _decimals(mine["mean"].to_numpy(dtype=float))
            for row, knob in enumerate(sweep.knobs):
                ax = axes[row, column]
                values = _knob_values(sweep, knob)
                data = mine[mine["knob"] == knob].assign(position=lambda f: [values.index(str(v)) for v in f["value"]])
                data = data.sort_values("position", kind="stable")  # a sample meets the values in any order
                ax.set_xlabel(knob)
                ax.set_ylabel(f"{UNIT} the base")
                if data.empty:  # every point with this knob failed or was skipped
                    ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center", va="center", color="#777777")
                    ax.set_xticks([])
                    continue
                ax.vlines(data["position"], data["low"], data["high"], color=FRONT_COLOUR, linewidth=1.2, alpha=0.6)
                ax.scatter(data["position"], data["low"], marker="_", s=60, color=FRONT_COLOUR, linewidths=1.2)
                ax.scatter(data["position"], data["high"], marker="_", s=60, color=FRONT_COLOUR, linewidths=1.2)
                ax.plot(data["position"], data["mean"], color=FRONT_COLOUR, marker="o", markersize=5, linewidth=0.8)
                if len(values) <= LABELLED_VALUES:
                    for position, mean in zip(data["position"], data["mean"]):
                        ax.annotate(f"{mean:.{digits}f}{UNIT}", (position, mean), xytext=(5, 0), textcoords="offset points",
                                    fontsize=7, va="center", color="#333333")
                ax.axhline(1.0, color="#777777", linewidth=0.8, linestyle="--")
                # Every value a tick; past TICK_LABELS values, every n-th one labelled (and the base's).
                step = math.ceil(len(values) / TICK_LABELS)
                shown = [v if i % step == 0 or v == base_values.get(knob) else "" for i, v in enumerate(values)]
                ax.set_xticks(range(len(values)), shown, rotation=0 if len(values) <= 8 else 90)
                ax.xaxis.grid(len(values) <= TICK_LABELS)
                for label in ax.get_xticklabels():
                    if base_values.get(knob) == label.get_text():
                        label.set_fontweight("bold")
                ax.set_xlim(-0.5, len(values) - 0.5)
            axes[0, column].set_title(title, fontsize=9)
            _ratio_axis(axes[0, column], "y", reach)  # the column shares it
        _legend(figure, [
            Line2D([], [], color=FRONT_COLOUR, marker="o", markersize=5, linewidth=0.8, label="mean over the other knobs"),
            Line2D([], [], color=FRONT_COLOUR, marker="|", linestyle="none", markersize=11, markeredgewidth=1.2, alpha=0.6,
                   label="lowest to highest point"),
            Line2D([], [], color="#777777", linestyle="--", label="the base (1×; its value in bold)"),
        ])

    return svg_figure("main effects", 1.0 + 2.1 * len(sweep.knobs), draw)


# --- tables -------------------------------------------------------------------------------
def _bound(value: float, digits: int) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.{digits}f}"


def ratio_with_interval(value: float, low: float, high: float, digits: int) -> str:
    """"0.42× (0.25–0.70×)"; over few workloads an interval can span orders of magnitude,
    and its ends past 100 lose their decimals."""
    if value != value:
        return MISSING
    if low != low or high != high:
        return ratio_text(value, digits)
    return f"{value:.{digits}f}{UNIT} ({_bound(low, digits)}–{_bound(high, digits)}{UNIT})"


def _role_text(row) -> str:
    if row["role"] == "reference":
        return f"reference: {row['allocator']}"
    return f"{row['role']}, preset {row['preset']}" if row["preset"] else row["role"]


def _knob_text(row, knob: str) -> str:
    return str(row[knob]) if row[knob] != "" else MISSING


def points_table(sweep: SweepAggregate) -> Table:
    """Every configuration with its measures relative to the base, the fronts it is on and
    its totals over workloads."""
    points = sweep.points
    rows = [r for _, r in points.iterrows()]
    frame = pd.DataFrame({knob: [_knob_text(r, knob) for r in rows] for knob in sweep.knobs})
    frame["role"] = [_role_text(r) for r in rows]
    for column, words, _ in _measures(sweep):
        # The grid's configurations set the decimals: they are what the table tells apart.
        digits = _decimals(points.loc[points["role"] != "reference", column].to_numpy(dtype=float))
        frame[f"{words} × the base (95% interval)"] = [
            ratio_with_interval(r[column], r[f"{column}_low"], r[f"{column}_high"], digits) for r in rows]
    for panel in front_panels(sweep):
        frame[f"front: {panel.words.replace(' against ', ' / ')}"] = ["yes" if r[panel.front] else "no" for r in rows]
    for name, title in (("peak_rss_total", metric(PEAK_MEMORY).title), ("retained_rss_total", metric(RETAINED_MEMORY).title),
                        ("peak_footprint_total", metric("peak_footprint_bytes").title)):
        values = points[name]
        divisor, unit = byte_unit(values.max() if values.notna().any() else 0)
        frame[f"{title}, total ({unit})"] = [_number(v / divisor) for v in values]
    frame[f"{metric('mmap_calls').title}, total"] = [_number(v, 0) for v in points["mmap_calls_total"]]
    caption = ("Every configuration: its measures relative to the base (geometric means over workloads, with their 95% "
               "intervals), the fronts it is on among the grid's configurations (references are on none), and its totals "
               "over workloads. A dash: not measured, or not reported by that allocator.")
    return _table(frame, "points", caption, text=list(sweep.knobs), prose=("role",))


def _best_rows(sweep: SweepAggregate) -> pd.DataFrame:
    """sweep.best for the measures this sweep has."""
    return sweep.best[sweep.best["measure"].isin({words for _, words, _ in _measures(sweep)})]


def best_table(sweep: SweepAggregate) -> Table:
    """The best configuration for each measure, over all workloads and on each: a row per
    scope, a pair of columns per measure."""
    best = _best_rows(sweep)
    names = {r["allocator"]: short_label(r, sweep.knobs) + (" (the base)" if r["role"] == "base" else "")
             for _, r in sweep.points.iterrows()}
    scopes = list(dict.fromkeys(best["scope"]))
    frame = pd.DataFrame({"workload": ["all workloads (geometric mean)" if s == "overall" else s for s in scopes]})
    for _, words, _ in _measures(sweep):
        mine = best[best["measure"] == words].set_index("scope")
        frame[f"best for {words}"] = [names[mine.loc[s, "allocator"]] if s in mine.index else MISSING for s in scopes]
        digits = _decimals(mine["value"].to_numpy(dtype=float))
        frame[f"{words} × the base"] = [ratio_text(mine.loc[s, "value"], digits) if s in mine.index else MISSING for s in scopes]
    caption = (f"For each measure, the configuration of the grid with the lowest value relative to the base, named by its "
               f"{' · '.join(sweep.knobs)}: over all workloads (the geometric mean), then on each workload alone. Lower is "
               f"better; the configurations in full are below.")
    return _table(frame, "best", caption, text=["workload", *(f"best for {w}" for _, w, _ in _measures(sweep))])


def best_configurations_table(sweep: SweepAggregate) -> Table:
    """Each configuration the best table names, in full."""
    named = set(_best_rows(sweep)["allocator"])
    points = sweep.points[sweep.points["allocator"].isin(named)]
    frame = pd.DataFrame({
        **{knob: [_knob_text(r, knob) for _, r in points.iterrows()] for knob in sweep.knobs},
        "role": [_role_text(r) for _, r in points.iterrows()],
        "configuration": points["config"],
    })
    caption = "The configurations named above, in full: every pymalloc option."
    return _table(frame, "best-configurations", caption, text=[*sweep.knobs, "role"], configuration=("configuration",))


def grid_table(sweep: SweepAggregate) -> Table:
    options = {o["name"]: o for o in _core.options()}
    base = sweep.points[sweep.points["role"] == "base"]
    frame = pd.DataFrame({
        "knob": sweep.knobs,
        "values": [", ".join(sweep.grid[k]) for k in sweep.knobs],
        "the base's": [str(base[k].iloc[0]) if len(base) else MISSING for k in sweep.knobs],
        "what it sets": [options[k]["help"] if k in options else MISSING for k in sweep.knobs],
    })
    caption = "The grid: every combination of these values is a point, unless listed as skipped."
    return _table(frame, "grid", caption, text=list(frame.columns), prose=("what it sets",))


# --- the page -----------------------------------------------------------------------------
def sweep_metrics(sweep: SweepAggregate) -> pd.DataFrame:
    """The tidy data as `allocbench.load` gives a sweep: a column per knob after `allocator`."""
    return with_knob_columns(sweep.report.metrics.copy(), sweep.report.runs[0].manifest)


SWEEP_TERMS = [
    ("point", "One configuration of the grid: the base with the grid's knobs set to one combination of their values."),
    ("base", "The configuration every point is compared with (and timed beside, interleaved, so that every time ratio "
             "is measured side by side): {base}. Every figure relative to the base is 1× for the base itself."),
    ("reference", "An allocator measured once beside the grid ({references}), drawn as a fixed point: is any "
                  "configuration better than it?"),
    ("CPython preset", "The exact configuration of a CPython release's pymalloc (allocbench list presets); a point equal "
                       "to one is named after it."),
    ("relative to the base (×)", "A configuration's figure on a workload divided by the base's on the same workload, then "
                                 "the geometric mean over workloads. For RSS, a page (4 KiB) is added to both sides "
                                 "of each ratio, so that a workload leaving nothing resident keeps a defined ratio."),
    ("95% interval", "For time: the range that holds the true relative time with 95% confidence, given the spread and "
                     "number of timing values. For memory, which repeats exactly: the range of Student's t over the "
                     "workloads' ratios, that is how much the gain varies from workload to workload."),
    ("Pareto front", "The configurations no other configuration of the grid beats on both measures of a panel (at least "
                     "as good on both and better on one). References are drawn beside the front, not on it."),
    ("main effect", "For one value of a knob, the mean of a measure over every point with that value, whatever the other "
                    "knobs; the bar runs from the lowest to the highest of those points."),
    ("heatmap", "A measure over two knobs, one cell per point, faceted by a third knob; colours diverge from white at 1× "
                "(the base): blue is below the base (better), red above."),
    ("skipped point", "A combination the option table forbids (an arena smaller than four pools, say): not run, listed "
                      "with its reason."),
]
# The run report's terms that hold unchanged for a sweep (its "baseline" terms are the base's, above).
RUN_TERMS = ("geometric mean", "live bytes", "footprint", "failed or missing cell")


def sweep_glossary(sweep: SweepAggregate) -> list[tuple[str, str]]:
    references = ", ".join(sweep.points.loc[sweep.points["role"] == "reference", "allocator"]) or "none in this sweep"
    terms = [(t, meaning.format(base=sweep.base, references=references)) for t, meaning in SWEEP_TERMS]
    run_terms = dict(report_terms(sweep.report))
    return terms + [(t, run_terms[t]) for t in RUN_TERMS] + metric_terms()


def _skipped(sweep: SweepAggregate) -> list[dict]:
    return [{"point": ", ".join(f"{k}={v}" for k, v in s["point"].items()), "reason": s["reason"]} for s in sweep.skipped]


def render_sweep_html(sweep: SweepAggregate) -> str:
    environment = template_environment()
    run = sweep.report.runs[0]
    layout = heatmap_layout(sweep)
    measures = _measures(sweep)
    points = sweep.points
    front_keys = front_key_tables(sweep)
    tables = {
        "best": best_table(sweep), "best_configurations": best_configurations_table(sweep),
        "points": points_table(sweep), "grid": grid_table(sweep),
    }
    return environment.get_template("sweep.html.j2").render(
        sweep=sweep,
        run=_run_facts(run),
        version=__version__,
        grid_points=int((points["role"] != "reference").sum()),
        references=points[points["role"] == "reference"].to_dict("records"),
        reference_colours=_reference_colours(sweep),
        base=points[points["role"] == "base"].to_dict("records"),
        layout=layout,
        front_figure=front_figure(sweep),
        front_keys=[table.html for table in front_keys],
        named_front=NAMED_FRONT,
        fronts=[p.words for p in front_panels(sweep)],
        heatmaps=[(words, heatmap_figure(sweep, column, words, layout)) for column, words, _ in measures],
        heatmap_notes=heatmap_notes(sweep, layout),
        base_values=[short_label(r, sweep.knobs) for r in points[points["role"] == "base"].to_dict("records")],
        base_on_grid=bool((points["role"] == "base").any()) and all(
            str(points.loc[points["role"] == "base", k].iloc[0]) in sweep.grid[k] for k in sweep.knobs),
        main_effects_figure=main_effects_figure(sweep),
        tables={name: table.html for name, table in tables.items()},
        table_style=Markup("\n".join(table.style for table in [*tables.values(), *front_keys])),
        skipped=_skipped(sweep),
        failures=sweep.report.failures.to_dict("records"),
        csv_uri=_csv_data_uri(sweep_metrics(sweep)),
        glossary=sweep_glossary(sweep),
    )
