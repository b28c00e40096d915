"""What the report computes from measured results folders (tests/report_fixture.py): the
cells and their relative figures, the geometric means, the verdict, failed cells, the
comparison of two runs, the rounding to size classes, and one-line errors for bad folders."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
from report_fixture import FAILING_CELL, RUNS, measured

from allocbench.errors import UsageError
from allocbench.report.aggregate import aggregate

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def before(tmp_path_factory):
    return measured(tmp_path_factory, "before")


@pytest.fixture(scope="module")
def after(tmp_path_factory):
    return measured(tmp_path_factory, "after")


@pytest.fixture(scope="module")
def report(before):
    return aggregate([before])


@pytest.fixture(scope="module")
def metrics(before):
    frame = pd.read_csv(before / "metrics.csv")
    return frame.set_index(["allocator", "workload", "metric"])["value"]


def test_every_cell_of_the_manifest_is_a_row(report, before):
    manifest = json.loads((before / "manifest.json").read_text())
    expected = {(c["allocator"], c["workload"]) for c in manifest["cells"]}
    assert set(zip(report.cells["allocator"], report.cells["workload"])) == expected
    assert len(report.cells) == len(expected)


def test_relative_time_is_the_ratio_of_the_measured_means(report, metrics):
    for row in report.cells.itertuples():
        expected = metrics[row.allocator, row.workload, "time_mean"] / metrics["cpython", row.workload, "time_mean"]
        assert row.relative_time == pytest.approx(expected)
        if row.allocator == "cpython":
            assert row.relative_time == 1.0 and row.significant is pd.NA
        else:
            assert row.relative_time_low < row.relative_time < row.relative_time_high
            assert row.significant == (not row.relative_time_low <= 1 <= row.relative_time_high)


def test_geometric_mean_is_over_the_workloads_both_timed(report):
    for row in report.summary.itertuples():
        ratios = report.cells.loc[report.cells["allocator"] == row.allocator, "relative_time"].dropna()
        assert row.workloads_timed == len(ratios)
        assert row.relative_time == pytest.approx(math.exp(np.mean(np.log(ratios))))
        if row.allocator != "cpython":
            assert row.relative_time_low < row.relative_time < row.relative_time_high


def test_memory_relative_to_the_baseline_sums_the_workloads_both_measured(report, metrics):
    system = report.summary.set_index("allocator").loc["system"]
    assert system.workloads_measured == 1  # its memory cell on size-ramp failed
    expected = metrics["system", "churn", "peak_rss_bytes"] / metrics["cpython", "churn", "peak_rss_bytes"]
    assert system.relative_peak == pytest.approx(expected)
    pymalloc = report.summary.set_index("allocator").loc["pymalloc:preset=cpython-3.11"]
    peaks = [metrics[a, w, "peak_rss_bytes"] for a in ("pymalloc:preset=cpython-3.11", "cpython") for w in ("churn", "size-ramp")]
    assert pymalloc.relative_peak == pytest.approx((peaks[0] + peaks[1]) / (peaks[2] + peaks[3]))


def test_failed_cell_is_listed_with_its_reason_and_has_no_memory(report):
    allocator, workload = FAILING_CELL
    failures = report.failures
    assert list(zip(failures["allocator"], failures["workload"])) == [FAILING_CELL]
    failed = failures.iloc[0]
    assert (failed["time"], failed["memory"]) == ("done", "failed")
    assert failed["reason"].startswith("memory: timed out")
    cell = report.cells[(report.cells["allocator"] == allocator) & (report.cells["workload"] == workload)].iloc[0]
    assert math.isnan(cell["peak_rss_bytes"]) and not math.isnan(cell["time_mean"])


def test_verdict_names_the_fastest_the_leanest_and_every_insignificant_difference(report):
    verdict = report.verdicts["before"]
    summary = report.summary.set_index("allocator")
    fastest = summary["relative_time"].idxmin()
    leanest = summary["relative_peak"].idxmin()
    expected_fastest = "cpython, the baseline, was fastest" if fastest == "cpython" else f"{fastest} was fastest at {summary.loc[fastest, 'relative_time']:.2f}×"
    assert expected_fastest in verdict
    expected_leanest = "cpython, the baseline, used least memory" if leanest == "cpython" else f"{leanest} used least memory at"
    assert expected_leanest in verdict
    insignificant = report.cells[report.cells["significant"].eq(False).fillna(False)]
    for allocator, workloads in insignificant.groupby("allocator", sort=False)["workload"]:
        assert f"{allocator} on {', '.join(workloads)}" in verdict
    if insignificant.empty:
        assert "every time difference from cpython is significant" in verdict
    assert "1 measurement failed or missing" in verdict
    assert verdict.endswith(".") and verdict.count(";") <= 4


def test_two_runs_share_the_baseline_palette_and_workloads(before, after):
    report = aggregate([before, after])
    assert [r.label for r in report.runs] == ["before", "after"]
    assert report.allocators[0] == "cpython"
    assert set(report.allocators) == set(RUNS["before"][0]) | set(RUNS["after"][0])
    assert len(set(report.palette.values())) == len(report.allocators)
    assert report.allocators_of("after") == ["cpython", "system", "pymalloc:preset=cpython-3.11,pool_size=64K"]
    assert set(report.verdicts) == {"before", "after"}
    by_run = report.cells.groupby("run")["relative_time"]
    assert (by_run.count() > 0).all()
    alone = aggregate([before])
    assert alone.palette["cpython"] == report.palette["cpython"]
    pd.testing.assert_frame_equal(
        report.cells[report.cells["run"] == "before"].reset_index(drop=True), alone.cells, check_dtype=False
    )


def test_folders_of_the_same_name_are_told_apart_by_their_parent(before, tmp_path):
    other = tmp_path / "elsewhere" / "before"
    shutil.copytree(before, other)
    report = aggregate([before, other])
    assert [r.label for r in report.runs] == [f"{before.parent.name}/before", "elsewhere/before"]


def test_runs_with_different_baselines_are_refused(before, tmp_path):
    other = shutil.copytree(before, tmp_path / "other")
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["baseline"] = "system"
    (other / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UsageError, match="different baselines: before \\(cpython\\), other \\(system\\)"):
        aggregate([before, other])


def test_rounding_to_size_classes_follows_each_variants_config(report, before):
    sizes = pd.read_csv(before / "sizes.csv")
    for allocator, alignment in (("pymalloc:preset=cpython-3.11", 16), ("pymalloc:preset=cpython-3.7", 8)):
        mine = report.rounding[report.rounding["allocator"] == allocator]
        assert set(mine["alignment"]) == {alignment} and set(mine["threshold"]) == {512}
        pooled = mine[mine["block_size"] > 0]
        assert (pooled["block_size"] % alignment == 0).all() and pooled["block_size"].max() <= 512
        for workload, requests in sizes.groupby("workload"):
            small = requests[(requests["size"] >= 1) & (requests["size"] <= 512)]
            lost = ((np.ceil(small["size"] / alignment) * alignment - small["size"]) * small["count"]).sum()
            assert mine.loc[mine["workload"] == workload, "lost_bytes"].sum() == lost
            large = requests[requests["size"] > 512]["count"].sum()
            passed_on = mine[(mine["workload"] == workload) & (mine["block_size"] == 0)]["requests"].sum()
            assert passed_on == large
    assert not report.rounding["allocator"].isin(["cpython", "system"]).any()


def _drop_from_manifest(folder, key):
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest[key]
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _broken_copy(before, tmp_path, change):
    folder = shutil.copytree(before, tmp_path / "broken")
    change(folder)
    return folder


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda f: (f / "manifest.json").unlink(), "not a results folder \\(no manifest.json\\)"),
        (lambda f: (f / "manifest.json").write_text("{"), "manifest.json: not valid JSON"),
        (lambda f: (f / "manifest.json").write_text('{"schema": 7}'), "schema 7, this allocbench reads 1"),
        (lambda f: _drop_from_manifest(f, "machine"), "manifest.json: no 'machine'"),
        (lambda f: (f / "metrics.csv").write_text("allocator,metric\nx,y\n"), "metrics.csv: the first line must be the columns"),
        (lambda f: (f / "metrics.csv").write_text(""), "metrics.csv: the first line must be the columns"),
        (lambda f: (f / "sizes.csv").write_text("workload,size,count\nchurn,many,1\n"), "sizes.csv: 'many' is not a number"),
    ],
)
def test_a_folder_that_is_not_a_results_folder_is_one_line_of_error(before, tmp_path, change, message):
    folder = _broken_copy(before, tmp_path, change)
    with pytest.raises(UsageError, match=message) as error:
        aggregate([folder])
    assert "\n" not in str(error.value)


def test_a_folder_without_its_rows_says_what_is_missing(before, tmp_path):
    folder = _broken_copy(before, tmp_path, lambda f: (f / "metrics.csv").unlink())
    report = aggregate([folder])
    assert any("metrics.csv is missing" in problem for problem in report.runs[0].problems)
    assert (report.cells["time"] == "missing").all()


def test_a_file_is_not_a_folder(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="not a folder"):
        aggregate([tmp_path / "file"])
