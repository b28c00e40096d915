"""The report opened in headless Chromium (Debian's `chromium`, driven by Playwright with
that binary; Playwright's own browser downloads are never used): no console error, no
request but the file itself, every figure drawn, every section on screen; a full-page
screenshot is saved, and copied to docs/report-screenshot.png with
ALLOCBENCH_UPDATE_SCREENSHOT=1, from a real `allocbench run --suite small-objects --fast`
(the README shows it) instead of the test's small measured folders."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from report_fixture import measured

from allocbench.report import write_report

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium")
UPDATE_SCREENSHOT = os.environ.get("ALLOCBENCH_UPDATE_SCREENSHOT") == "1"
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "report-screenshot.png"
SECTIONS = ["run", "verdict", "failures", "workloads", "timelines", "size-classes", "numbers", "glossary"]

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


def test_report_in_chromium(report_file, tmp_path):
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
                for section in SECTIONS
            }
            screenshot = tmp_path / "report.png"
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()

    assert console_errors == [] and page_errors == []
    assert requests == [report_file.as_uri()]
    assert all(complete and width > 0 for _, complete, width in images), images
    assert [label for label, _, _ in figures] == ["time relative to the baseline", "memory per workload", "memory over time", "size classes"]
    assert all(width > 300 and height > 100 for _, width, height in figures), figures
    assert all(height > 0 for height in sections.values()), sections
    assert screenshot.stat().st_size > 50_000
    if UPDATE_SCREENSHOT:
        shutil.copyfile(screenshot, DOCS_SCREENSHOT)
