"""`allocbench report` as a user runs it, and the page it writes: every section in order, the
failed cell and its reason, inline SVG with text kept as text and no date, ids unique across
figures, the tidy data as a CSV data: URI, nothing fetched from anywhere, and the same bytes
every time; bad input is one line on stderr and status 2, with nothing left behind."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys

import pandas as pd
import pytest
import report_fixture
from report_fixture import FAILING_CELL, measured

from allocbench.report.aggregate import aggregate

pytestmark = pytest.mark.integration

SECTIONS = ["run", "verdict", "failures", "workloads", "timelines", "size-classes", "numbers", "glossary"]


def allocbench(*args) -> subprocess.CompletedProcess:
    """The installed command, from outside the source tree (whose package has no core)."""
    return subprocess.run([sys.executable, "-m", "allocbench", *map(str, args)], capture_output=True, text=True, cwd="/", timeout=300)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return measured(tmp_path_factory, "before"), measured(tmp_path_factory, "after")


@pytest.fixture(scope="module")
def page(folders, tmp_path_factory):
    output = tmp_path_factory.mktemp("page") / "report.html"
    done = allocbench("report", *folders, "-o", output)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(output)
    return output


def test_the_same_folders_give_the_same_bytes(folders, page, tmp_path):
    again = tmp_path / "again.html"
    done = allocbench("report", *folders, "-o", again)
    assert done.returncode == 0, done.stderr
    assert again.read_bytes() == page.read_bytes()


def test_sections_come_in_the_issues_order(page):
    html = page.read_text()
    positions = [html.index(f'id="{section}"') for section in SECTIONS]
    assert positions == sorted(positions)


def test_what_was_run_names_the_command_allocators_and_workloads(page, folders):
    html = page.read_text()
    assert f"python {report_fixture.__file__} {folders[0]} cpython system" in html
    for text in ("pymalloc:threshold=512,alignment=8,pool_size=4K", "pymalloc:preset=cpython-3.11,pool_size=64K", "churn", "size-ramp", "CPython 3."):
        assert text in html


def test_the_failed_cell_is_named_with_its_reason(page):
    html = page.read_text()
    allocator, workload = FAILING_CELL
    assert re.search(rf"before: <strong>{allocator}</strong> on <strong>{workload}</strong>: time done, memory failed: memory: timed out", html)
    assert "system: memory failed" in html  # beside the missing bars in the charts


def test_figures_are_inline_svg_with_text_no_date_and_unique_ids(page):
    html = page.read_text()
    figures = re.findall(r"<svg role=\"img\" aria-label=\"([^\"]+)\" class=\"figure\"", html)
    assert figures == ["time relative to the baseline", "memory per workload", "memory over time", "size classes"]
    assert "<?xml" not in html and "<dc:date>" not in html
    assert html.count("<text") > 100  # svg.fonttype none: labels stay text
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids))


def test_time_bars_say_n_s_exactly_where_the_difference_is_not_significant(page, folders):
    html = page.read_text()
    time_figure = html[html.index('aria-label="time relative to the baseline"'):html.index('aria-label="memory per workload"')]
    labels = re.findall(r">\s*(\d+\.\d\d×(?: n\.s\.)?)\s*<", time_figure)
    cells = aggregate(list(folders)).cells.dropna(subset=["significant"])
    expected = [f"{r.relative_time:.2f}×" + ("" if r.significant else " n.s.") for r in cells.itertuples()]
    assert sorted(labels) == sorted(expected)
    assert cells["significant"].any()  # pymalloc's model is several times cpython's time on size-ramp


def test_nothing_is_fetched_from_anywhere(page):
    html = page.read_text()
    references = re.findall(r'(?:src|href)="([^"#][^"]*)"', html)
    assert references and all(r.startswith("data:") for r in references)
    assert "<script" not in html and "@import" not in html and "url(http" not in html


def test_the_csv_download_is_every_metrics_row_of_every_run(page, folders):
    uri = re.search(r'href="data:text/csv;base64,([^"]+)"', page.read_text()).group(1)
    downloaded = pd.read_csv(io.BytesIO(base64.b64decode(uri)))
    expected = pd.concat([pd.read_csv(f / "metrics.csv").assign(run=f.name) for f in folders], ignore_index=True)
    assert list(downloaded.columns) == ["run", "allocator", "workload", "metric", "value", "unit"]
    pd.testing.assert_frame_equal(downloaded, expected[downloaded.columns])


@pytest.mark.parametrize(
    "arguments, message",
    [
        (lambda tmp, good: [tmp, "-o", tmp / "r.html"], "not a results folder (no manifest.json)"),
        (lambda tmp, good: [tmp / "absent", "-o", tmp / "r.html"], "no such folder"),
        (lambda tmp, good: [good, "-o", tmp / "no" / "such" / "r.html"], "cannot write the report there"),
        (lambda tmp, good: [good, "-o", tmp], "is a folder; give a file name for the report"),
    ],
)
def test_bad_input_is_one_line_and_status_2_and_leaves_nothing(folders, tmp_path, arguments, message):
    done = allocbench("report", *arguments(tmp_path, folders[0]))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr and done.stderr.startswith("allocbench report: ")
    assert list(tmp_path.iterdir()) == [] and not list(tmp_path.parent.glob(".*.partial"))


def test_a_folder_without_its_tables_says_what_is_missing(folders, tmp_path):
    folder = tmp_path / "partial"
    folder.mkdir()
    (folder / "manifest.json").write_bytes((folders[0] / "manifest.json").read_bytes())
    done = allocbench("report", folder, "-o", tmp_path / "r.html")
    assert done.returncode == 0, done.stderr
    html = (tmp_path / "r.html").read_text()
    assert "metrics.csv is missing" in html and "count as missing" in html


def test_a_run_whose_memory_cells_all_failed_still_renders(folders, tmp_path):
    folder = tmp_path / "no-memory"
    folder.mkdir()
    manifest = json.loads((folders[0] / "manifest.json").read_text())
    for cell in manifest["cells"]:
        cell.update(memory="failed", reasons={"memory": "killed by signal SIGKILL"})
    (folder / "manifest.json").write_text(json.dumps(manifest))
    metrics = pd.read_csv(folders[0] / "metrics.csv")
    metrics[metrics["metric"].str.startswith(("time_", "ns_per_op", "ops"))].to_csv(folder / "metrics.csv", index=False)
    done = allocbench("report", folder, "-o", tmp_path / "r.html")
    assert done.returncode == 0, done.stderr
    html = (tmp_path / "r.html").read_text()
    listed = re.findall(r"<li><strong>([^<]+)</strong> on <strong>([^<]+)</strong>: time done, memory failed: memory: killed by signal SIGKILL</li>", html)
    assert sorted(listed) == sorted((c["allocator"], c["workload"]) for c in manifest["cells"])
    assert "No timelines were recorded" in html
