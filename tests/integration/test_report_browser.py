"""The report opened in headless Chromium (Debian's `chromium`, driven by Playwright with
that binary; Playwright's own browser downloads are never used): no console error, no
request but the file itself, every figure drawn, every section on screen; a full-page
screenshot is saved, and copied to docs/report-screenshot.png with
ALLOCBENCH_UPDATE_SCREENSHOT=1, from a real `allocbench run --suite small-objects --fast`
(the README shows it) instead of the test's small measured folders. The same for a sweep's
report: a memory-only sweep of a tiny suite, or with ALLOCBENCH_UPDATE_SCREENSHOT=1 the
issue's 27-point sweep of small-objects, copied to docs/sweep-screenshot.png."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_workloads import write_tiny_workloads
from report_fixture import measured

from allocbench.report import write_report

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium")
UPDATE_SCREENSHOT = os.environ.get("ALLOCBENCH_UPDATE_SCREENSHOT") == "1"
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "report-screenshot.png"
SWEEP_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "sweep-screenshot.png"
SECTIONS = ["run", "verdict", "failures", "workloads", "timelines", "size-classes", "numbers", "glossary"]
SWEEP_SECTIONS = ["verdict", "failures", "fronts", "heatmaps", "main-effects", "best", "run", "data", "glossary"]
SWEEP_FIGURES = ["Pareto fronts", "heatmap of peak RSS relative to the base", "heatmap of retained RSS relative to the base",
                 "main effects"]
# The sweep: every pymalloc era's pool size, arena size and release policy, memory only.
SMALL_OBJECTS_SWEEP = ["--suite", "small-objects", "--grid", "pool_size=4K,16K,64K", "--grid", "arena_size=256K,1M,4M",
                       "--grid", "arena_release=never,immediate,keep-one", "--time", "none"]
# Three knobs, a preset on the grid and two invalid combinations (a 64K arena of 64K pools).
TINY_SWEEP = ["--suite", "tiny", "--grid", "pool_size=4K,64K", "--grid", "arena_size=64K,256K",
              "--grid", "arena_release=never,immediate", "--time", "none"]

if not os.environ.get("CI") and CHROMIUM is None:
    pytest.skip("Debian's chromium is not installed (apt-get install chromium); CI always runs this test", allow_module_level=True)
if not os.environ.get("CI"):
    pytest.importorskip("playwright", reason="Playwright is in the test extra: pip install '.[test]'")
from playwright.sync_api import sync_playwright  # noqa: E402


def _small_objects_run(folder: Path) -> Path:
    command = [sys.executable, "-m", "allocbench", "run", "--suite", "small-objects", "--fast", "-o", str(folder), "--no-report"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=folder.parent, timeout=600)
    assert done.returncode in (0, 1), done.stderr  # 1: a cell failed, which the report shows
    return folder


@pytest.fixture(scope="module")
def report_file(tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("browser") / "report.html"
    if UPDATE_SCREENSHOT:
        folders = [_small_objects_run(output.parent / "small-objects")]
    else:
        folders = [measured(tmp_path_factory, "before"), measured(tmp_path_factory, "after")]
    return write_report(folders, output)


def _sweep(folder: Path, arguments: list[str], env: dict) -> Path:
    command = [sys.executable, "-m", "allocbench", "sweep", *arguments, "-o", str(folder), "--no-report"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=folder.parent, env=env, timeout=900)
    assert done.returncode == 0, done.stderr
    return folder


@pytest.fixture(scope="module")
def sweep_report_file(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("sweep-browser")
    if UPDATE_SCREENSHOT:
        folder = _sweep(where / "small-objects-sweep", SMALL_OBJECTS_SWEEP, dict(os.environ))
    else:
        workloads = where / "workloads"
        write_tiny_workloads(workloads)
        folder = _sweep(where / "tiny-sweep", TINY_SWEEP, {**os.environ, "ALLOCBENCH_WORKLOADS": str(workloads)})
    return write_report([folder], where / "sweep.html")


def _open(report_file: Path, section_ids: list[str], screenshot: Path) -> dict:
    """What Chromium made of the page: its errors, requests, images, figures and sections."""
    console_errors, page_errors, requests = [], [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
            page.on("pageerror", lambda error: page_errors.append(str(error)))
            page.on("request", lambda request: requests.append(request.url))
            page.goto(report_file.as_uri(), wait_until="load")
            images = page.eval_on_selector_all("img", "all => all.map(i => [i.src.slice(0, 60), i.complete, i.naturalWidth])")
            figures = page.eval_on_selector_all(
                "svg", "all => all.map(s => { const r = s.getBoundingClientRect(); return [s.getAttribute('aria-label'), r.width, r.height]; })"
            )
            sections = {
                section: page.evaluate(f"(() => {{ const e = document.getElementById('{section}'); return e ? e.getBoundingClientRect().height : 0; }})()")
                for section in section_ids
            }
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return {"console_errors": console_errors, "page_errors": page_errors, "requests": requests, "images": images,
            "figures": figures, "sections": sections}


def test_report_in_chromium(report_file, tmp_path):
    screenshot = tmp_path / "report.png"
    seen = _open(report_file, SECTIONS, screenshot)
    assert seen["console_errors"] == [] and seen["page_errors"] == []
    assert seen["requests"] == [report_file.as_uri()]
    assert all(complete and width > 0 for _, complete, width in seen["images"]), seen["images"]
    figures = seen["figures"]
    assert [label for label, _, _ in figures] == ["time relative to the baseline", "memory per workload", "memory over time", "size classes"]
    assert all(width > 300 and height > 100 for _, width, height in figures), figures
    assert all(height > 0 for height in seen["sections"].values()), seen["sections"]
    assert screenshot.stat().st_size > 50_000
    if UPDATE_SCREENSHOT:
        shutil.copyfile(screenshot, DOCS_SCREENSHOT)


def test_sweep_report_in_chromium(sweep_report_file, tmp_path):
    screenshot = tmp_path / "sweep.png"
    seen = _open(sweep_report_file, SWEEP_SECTIONS, screenshot)
    assert seen["console_errors"] == [] and seen["page_errors"] == []
    assert seen["requests"] == [sweep_report_file.as_uri()]
    assert all(complete and width > 0 for _, complete, width in seen["images"]), seen["images"]
    figures = seen["figures"]
    assert [label for label, _, _ in figures] == SWEEP_FIGURES
    assert all(width > 300 and height > 100 for _, width, height in figures), figures
    assert all(height > 0 for height in seen["sections"].values()), seen["sections"]
    assert screenshot.stat().st_size > 50_000
    if UPDATE_SCREENSHOT:
        shutil.copyfile(screenshot, SWEEP_SCREENSHOT)
