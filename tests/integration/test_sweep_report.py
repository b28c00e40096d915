"""The report of a sweep (`allocbench report DIR` on a folder of `allocbench sweep`), from real
sweeps of a tiny suite: one memory-only (three knobs, two invalid combinations skipped, a
base off the grid, a CPython preset on it) and one timed (one knob, the base on the grid).
Every section in order, each showing what the aggregate (allocbench.report.sweep) computed;
the same bytes every time, and the same page the sweep itself writes; a damaged or failed
sweep still renders; bad input is one line."""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import os
import re
import shutil
from collections import Counter
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from tiny_workloads import write_tiny_workloads

import allocbench
from allocbench.report.aggregate import aggregate
from allocbench.report import render_sweep
from allocbench.report.render_sweep import heatmap_layout, short_label
from allocbench.report.sweep import aggregate_sweep

pytestmark = pytest.mark.integration

SECTIONS = ["verdict", "failures", "fronts", "heatmaps", "main-effects", "best", "run", "data", "glossary"]
# A 64K arena cannot hold four 64K pools: two points of this grid are skipped.
MEMORY_GRID = ["--grid", "pool_size=4K,64K", "--grid", "arena_size=64K,256K", "--grid", "arena_release=never,immediate"]


def allocbench_cli(args: list, cwd: Path, workloads: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **({"ALLOCBENCH_WORKLOADS": str(workloads)} if workloads else {})}
    return subprocess.run([sys.executable, "-m", "allocbench", *map(str, args)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def workloads(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("workloads")
    write_tiny_workloads(folder)
    return folder


@pytest.fixture(scope="module")
def memory_sweep(workloads, tmp_path_factory) -> Path:
    """Memory only, with the report the sweep writes itself (no --no-report)."""
    where = tmp_path_factory.mktemp("memory-sweep")
    done = allocbench_cli(["sweep", "--suite", "tiny", *MEMORY_GRID, "--time", "none", "-o", "memory"], where, workloads)
    assert done.returncode == 0, done.stderr
    return where / "memory"


@pytest.fixture(scope="module")
def timed_sweep(workloads, tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("timed-sweep")
    done = allocbench_cli(["sweep", "--suite", "tiny", "--grid", "pool_size=4K,16K", "-a", "cpython", "--fast",
                           "--no-report", "-o", "timed"], where, workloads)
    assert done.returncode == 0, done.stderr
    return where / "timed"


def report_of(folder: Path, output: Path) -> str:
    done = allocbench_cli(["report", folder, "-o", output], output.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(output)
    return output.read_text()


@pytest.fixture(scope="module")
def memory_page(memory_sweep, tmp_path_factory) -> str:
    return report_of(memory_sweep, tmp_path_factory.mktemp("memory-page") / "sweep.html")


@pytest.fixture(scope="module")
def timed_page(timed_sweep, tmp_path_factory) -> str:
    return report_of(timed_sweep, tmp_path_factory.mktemp("timed-page") / "sweep.html")


def figure_texts(page: str, name: str) -> list[str]:
    """The text of one inline SVG figure, element by element."""
    start = page.index(f'aria-label="{name}"')
    svg = page[start:page.index("</svg>", start)]
    return [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]


def section(page: str, name: str) -> str:
    start = page.index(f'<section id="{name}">')
    return page[start:page.index("</section>", start)]


def figures(page: str) -> list[str]:
    return re.findall(r'<svg role="img" aria-label="([^"]+)" class="figure"', page)


# --- the sections ---------------------------------------------------------------------------
@pytest.mark.parametrize("page_name", ["memory_page", "timed_page"])
def test_sections_come_in_order_with_their_figures(page_name, request):
    page = request.getfixturevalue(page_name)
    positions = [page.index(f'id="{s}"') for s in SECTIONS]
    assert positions == sorted(positions)
    measures = (["time"] if page_name == "timed_page" else []) + ["peak RSS", "retained RSS"]
    assert figures(page) == ["Pareto fronts", *(f"heatmap of {m} relative to the base" for m in measures), "main effects"]
    assert "<?xml" not in page and "<dc:date>" not in page
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids))


def test_the_verdict_is_the_aggregates(memory_sweep, memory_page, timed_sweep, timed_page):
    for folder, page in ((memory_sweep, memory_page), (timed_sweep, timed_page)):
        verdict = aggregate_sweep(aggregate([folder])).verdict
        shown = [html.unescape(s) for s in re.findall(r"<li>([^<]+)</li>", section(page, "verdict"))]
        assert shown[:len(verdict)] == verdict
    assert "Time was not measured (--time none)" in section(memory_page, "verdict")
    assert re.search(r"Best for time: (the base itself|.+ at \d\.\d\d× the base)", html.unescape(section(timed_page, "verdict")))


def test_the_front_labels_the_front_presets_base_and_references_only(memory_sweep, memory_page):
    sweep = aggregate_sweep(aggregate([memory_sweep]))
    texts = figure_texts(memory_page, "Pareto fronts")
    assert "peak RSS relative to the base (×, lower is better)" in texts
    assert "retained RSS relative to the base (×, lower is better)" in texts
    front = sweep.points[sweep.points["front_memory"]]
    assert any(t.startswith(f"peak RSS against retained RSS: {len(front)} of ") for t in texts)
    labels = [t for t in texts if "·" in t or t.startswith(("cpython", "system"))]
    for row in sweep.points.to_dict("records"):
        name = short_label(row, sweep.knobs)
        if row["role"] == "reference":
            # By name, or on the panel's edge with its values when far from the grid.
            beyond = f"{row['allocator']} ({row['relative_peak']:.2f}×, {row['relative_retained']:.2f}×)"
            assert row["allocator"] in labels or beyond in labels, labels
        elif row["role"] == "base":
            assert f"base {name} ({row['preset']})" in labels  # cpython-3.11 is off this grid
        elif row["preset"]:
            assert f"{row['preset']}: {name}" in labels
        elif row["front_memory"]:
            assert name in labels
        else:
            assert not any(label.endswith(name) for label in labels), f"{name} is on no front, yet labelled"
    assert sweep.points["preset"].eq("cpython-3.8").any()  # 4K pools, 256K arenas, released at once


def test_a_long_front_is_numbered_with_a_key(memory_sweep, monkeypatch):
    """A front longer than NAMED_FRONT points gets numbers along it, and a table says which
    configuration each number is (here every front, made "long" by lowering the bound)."""
    monkeypatch.setattr(render_sweep, "NAMED_FRONT", 0)
    sweep = aggregate_sweep(aggregate([memory_sweep]))
    page = render_sweep.render_sweep_html(sweep)
    front = sweep.points[sweep.points["front_memory"]].sort_values(["relative_peak", "relative_retained"], kind="stable")
    texts = figure_texts(page, "Pareto fronts")
    for number, row in enumerate(front.to_dict("records"), start=1):
        # A plain number; a preset or the base on the front keeps its name after it.
        assert str(number) in texts or any(t.startswith(f"{number} – ") and row["preset"] in t for t in texts), texts
    key = html.unescape(page[page.index('id="T_front-key-0"'):])
    key = key[:key.index("</table>")]
    rows = re.findall(r"<tr>(.*?)</tr>", key, re.S)[1:]
    cells = [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for row in rows]
    assert [c[:4] for c in cells] == [[str(n), *(str(r[k]) for k in sweep.knobs)]
                                      for n, r in enumerate(front.to_dict("records"), start=1)]
    assert [c[4] for c in cells] == [f"{v:.3f}×" for v in front["relative_peak"]]


def test_the_timed_fronts_put_time_against_both_memories(timed_sweep, timed_page):
    texts = figure_texts(timed_page, "Pareto fronts")
    assert texts.count("time relative to the base (×, lower is better)") == 2
    assert any(t.startswith("time against peak RSS: ") for t in texts)
    assert any(t.startswith("time against retained RSS: ") for t in texts)
    assert not any(t.startswith("peak RSS against retained RSS") for t in texts)


def test_heatmap_cells_hold_every_points_value_and_the_skipped_ones(memory_sweep, memory_page):
    sweep = aggregate_sweep(aggregate([memory_sweep]))
    layout = heatmap_layout(sweep)
    # Three knobs of two values each: grid order, the last one makes the panels.
    assert (layout.rows, layout.columns, layout.facets, layout.held) == ("pool_size", "arena_size", "arena_release", ())
    on_grid = sweep.points[sweep.points["role"] == "point"]
    for column, words in (("relative_peak", "peak RSS"), ("relative_retained", "retained RSS")):
        texts = Counter(figure_texts(memory_page, f"heatmap of {words} relative to the base"))
        values = on_grid[column]
        digits = 3 if values.max() - values.min() < 0.1 else 2  # three where neighbours would look alike
        expected = Counter(f"{v:.{digits}f}×" for v in values)
        assert all(texts[text] >= count for text, count in expected.items()), (expected, texts)
        assert texts["skipped"] == len(sweep.skipped) == 2
        assert "arena_release = never" in texts and "arena_release = immediate" in texts
        assert f"{words} relative to the base (×)" in texts  # the colour bar's label


def test_the_heatmap_layout_suits_the_number_of_knobs(memory_sweep):
    sweep = aggregate_sweep(aggregate([memory_sweep]))
    one = dataclasses.replace(sweep, knobs=["pool_size"], grid={"pool_size": sweep.grid["pool_size"]})
    assert heatmap_layout(one) == type(heatmap_layout(sweep))(None, "pool_size", None, ())
    two = dataclasses.replace(sweep, knobs=["pool_size", "arena_size"])
    assert (heatmap_layout(two).rows, heatmap_layout(two).columns, heatmap_layout(two).facets) == ("pool_size", "arena_size", None)
    # Three knobs: the one with fewest values makes the panels, whatever its place in the grid.
    uneven = dataclasses.replace(sweep, grid={**sweep.grid, "pool_size": ["4K", "16K", "64K"], "arena_size": ["64K", "256K", "1M"]})
    assert heatmap_layout(uneven).facets == "arena_release"
    uneven = dataclasses.replace(sweep, grid={**sweep.grid, "arena_release": ["never", "immediate", "keep-one"],
                                              "arena_size": ["64K", "256K", "1M"]})
    assert heatmap_layout(uneven).facets == "pool_size"


def test_main_effects_label_each_mean(memory_sweep, memory_page):
    sweep = aggregate_sweep(aggregate([memory_sweep]))
    texts = figure_texts(memory_page, "main effects")
    for measure in ("relative_peak", "relative_retained"):
        means = sweep.main_effects.loc[sweep.main_effects["measure"] == measure, "mean"]
        digits = 3 if means.max() - means.min() < 0.1 else 2
        for mean in means:
            assert f"{mean:.{digits}f}×" in texts
    for knob in sweep.knobs:
        assert knob in texts


def test_best_points_per_workload_and_overall_with_full_configs(memory_sweep, memory_page):
    sweep = aggregate_sweep(aggregate([memory_sweep]))
    best = html.unescape(section(memory_page, "best"))
    names = {r["allocator"]: short_label(r, sweep.knobs) for r in sweep.points.to_dict("records")}
    rows = re.findall(r"<tr>(.*?)</tr>", best, re.S)
    cells = [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for row in rows]
    by_scope = {c[0]: c for c in cells if c and c[0] in ("all workloads (geometric mean)", "tiny-churn", "tiny-ramp")}
    assert set(by_scope) == {"all workloads (geometric mean)", "tiny-churn", "tiny-ramp"}
    memory = sweep.best[sweep.best["measure"] != "time"]
    for row in memory.itertuples():
        scope = "all workloads (geometric mean)" if row.scope == "overall" else row.scope
        shown = by_scope[scope]
        column = 1 if row.measure == "peak RSS" else 3
        values = memory.loc[memory["measure"] == row.measure, "value"]
        digits = 3 if values.max() - values.min() < 0.1 else 2
        assert shown[column].startswith(names[row.allocator]) and shown[column + 1] == f"{row.value:.{digits}f}×"
        assert row.config in best  # every pymalloc option, in the configurations below
    assert "best for time" not in best  # --time none: no time column, no base at 1× in it


def test_what_was_run_names_grid_skipped_points_machine_and_command(memory_sweep, memory_page):
    manifest = json.loads((memory_sweep / "manifest.json").read_text())
    run = html.unescape(section(memory_page, "run"))
    assert " ".join(manifest["command"]) in run
    assert manifest["machine"]["hostname"] in run
    for skipped in manifest["sweep"]["skipped"]:
        point = ", ".join(f"{k}={v}" for k, v in skipped["point"].items())
        assert re.search(rf"{re.escape(point)}</td><td>{re.escape(skipped['reason'])}</td>", run)
    assert "at least 4 pools" in run
    for knob, values in manifest["sweep"]["grid"].items():
        assert knob in run and ", ".join(values) in run
    assert "pymalloc:preset=cpython-3.11" in run and "reference" in run


def test_the_csv_download_is_what_allocbench_load_gives(memory_sweep, memory_page):
    uri = re.search(r'href="data:text/csv;base64,([^"]+)"', memory_page).group(1)
    downloaded = pd.read_csv(io.BytesIO(base64.b64decode(uri)))
    expected = allocbench.load(memory_sweep)
    assert list(downloaded.columns) == list(expected.columns)
    assert list(downloaded.columns[2:5]) == ["pool_size", "arena_size", "arena_release"]
    pd.testing.assert_frame_equal(downloaded, pd.read_csv(io.StringIO(expected.to_csv(index=False))))


def test_every_number_in_the_points_table_says_its_unit(memory_page, timed_page):
    for page in (memory_page, timed_page):
        table = section(page, "data")
        headers = [html.unescape(h) for h in re.findall(r"<th[^>]*>([^<]+)</th>", table)]
        ratios = [h for h in headers if "× the base" in h]
        assert ratios and all("(95% interval)" in h for h in ratios)
        assert any(h.endswith("total (KiB)") or h.endswith("total (MiB)") for h in headers)
        rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]
        measured = [(header, html.unescape(value)) for row in rows
                    for header, value in zip(headers, re.findall(r"<td[^>]*>([^<]*)</td>", row))
                    if "× the base" in header or "total" in header]
        assert measured
        for header, value in measured:
            # A ratio with its interval, or a total whose header gives its unit; a dash where there is none.
            pattern = r"[\d.]+× \([\d.,]+–[\d.,]+×\)|[\d.]+×" if "× the base" in header else r"[\d.,]+"
            assert value == "—" or re.fullmatch(pattern, value), (header, value)
    assert "time × the base (95% interval)" in html.unescape(section(timed_page, "data"))


def test_the_glossary_has_the_sweeps_terms(memory_page):
    glossary = html.unescape(section(memory_page, "glossary"))
    for term in ("point", "base", "reference", "Pareto front", "main effect", "heatmap", "skipped point",
                 "peak RSS (peak_rss_bytes, bytes)"):
        assert f"<dt>{term}</dt>" in glossary


# --- bytes, the sweep's own report, damage, errors ----------------------------------------
def test_the_same_folder_gives_the_same_bytes_as_the_sweeps_own_report(memory_sweep, memory_page, tmp_path):
    again = report_of(memory_sweep, tmp_path / "again.html")
    assert again == memory_page
    # The sweep wrote its report with the folder as given (-o memory), as the page shows it.
    done = allocbench_cli(["report", memory_sweep.name, "-o", tmp_path / "relative.html"], memory_sweep.parent)
    assert done.returncode == 0, done.stderr
    assert (memory_sweep / "report.html").read_bytes() == (tmp_path / "relative.html").read_bytes()


def test_nothing_is_fetched_from_anywhere(memory_page):
    references = re.findall(r'(?:src|href)="([^"#][^"]*)"', memory_page)
    assert references and all(r.startswith("data:") for r in references)
    assert "<script" not in memory_page and "@import" not in memory_page and "url(http" not in memory_page


def _copy(folder: Path, where: Path) -> Path:
    copy = where / folder.name
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("report.html"))
    return copy


def test_an_interrupted_sweep_renders_what_it_has(memory_sweep, tmp_path):
    folder = _copy(memory_sweep, tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["status"] = "interrupted"
    lost = next(c for c in manifest["cells"] if c["allocator"].startswith("pool_size=4K,arena_size=256K"))
    lost.update(memory="missing")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    metrics = pd.read_csv(folder / "metrics.csv")
    metrics = metrics[~((metrics["allocator"] == lost["allocator"]) & (metrics["workload"] == lost["workload"]))]
    metrics.to_csv(folder / "metrics.csv", index=False)
    page = html.unescape(report_of(folder, tmp_path / "r.html"))
    assert "The sweep is interrupted" in page
    assert f"<strong>{lost['allocator']}</strong> on <strong>{lost['workload']}</strong>: time skipped, memory missing" in page
    assert "1 configuration without both measures: not drawn" in page


def test_a_sweep_whose_memory_cells_all_failed_still_renders(memory_sweep, tmp_path):
    folder = _copy(memory_sweep, tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    for cell in manifest["cells"]:
        cell.update(memory="failed", reasons={"memory": "killed by signal SIGKILL"})
    (folder / "manifest.json").write_text(json.dumps(manifest))
    pd.read_csv(folder / "metrics.csv").iloc[:0].to_csv(folder / "metrics.csv", index=False)
    page = html.unescape(report_of(folder, tmp_path / "r.html"))
    assert "No configuration was measured for peak RSS on every workload." in page
    assert page.count("memory failed: memory: killed by signal SIGKILL") == len(manifest["cells"])
    assert figures(page)[0] == "Pareto fronts"


@pytest.mark.parametrize(
    "arguments, message",
    [
        (lambda tmp, sweep: [sweep, "-o", tmp / "no" / "such" / "r.html"], "cannot write the report there"),
        (lambda tmp, sweep: [sweep, "-o", tmp], "is a folder; give a file name for the report"),
    ],
)
def test_bad_input_is_one_line_and_status_2(memory_sweep, tmp_path, arguments, message):
    done = allocbench_cli(["report", *arguments(tmp_path, memory_sweep)], tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr and done.stderr.startswith("allocbench report: ")
    assert list(tmp_path.iterdir()) == []
