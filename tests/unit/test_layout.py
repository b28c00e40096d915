"""The repository's own rules, checked: layers point one way, pybind11 stays in the bindings,
the repository stands alone, and the documents name every metric as the code does."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import allocbench
from allocbench.metrics import METRICS

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "allocbench"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_library_modules_never_import_the_commands():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "commands" or relative.name == "cli.py":
            continue
        if any(name == "allocbench.commands" or name.startswith("allocbench.commands.") for name in imported_modules(path)):
            offenders.append(str(relative))
    assert offenders == []


def test_only_the_bindings_include_pybind11():
    including = [p.name for p in (ROOT / "cpp").iterdir() if re.search(r"#include\s*[<\"]pybind11", p.read_text())]
    assert including == ["bindings.cpp"]


def test_every_core_layer_is_a_pair_that_says_what_it_owns():
    for header in (ROOT / "cpp").glob("*.h"):
        source = header.with_suffix(".cpp")
        assert source.is_file() or header.name == "pool.h", f"{header.name} has no source"
        first = header.read_text().splitlines()[0]
        assert first.startswith(f"// {header.name} — "), first


def test_the_repository_stands_alone():
    for folder in ("cpp", "allocbench"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".h", ".cpp", ".j2"):
                text = path.read_text()
                assert "shared/reference" not in text and "../shared" not in text, path


def test_cited_sections_of_the_fact_sheet_exist():
    headings = set(re.findall(r"^## (.+)$", (ROOT / "docs" / "pymalloc-facts.md").read_text(), re.M))
    texts = [p.read_text() for p in (ROOT / "cpp").iterdir()] + [p.read_text() for p in PACKAGE.rglob("*.py")]
    texts += [preset["description"] for preset in allocbench.presets()]
    cited = set()
    for text in texts:
        for sections in re.findall(r"pymalloc-facts\.md,([^)]*)\)", text):
            cited.update(re.findall(r"[\"'](.+?)[\"']", sections))
    assert cited and cited <= headings, cited - headings


def test_the_readme_links_the_documents():
    readme = (ROOT / "README.md").read_text()
    for document in ("docs/pymalloc-facts.md", "docs/architecture.md", "docs/results-format.md", "docs/trace-format.md"):
        assert f"]({document})" in readme and (ROOT / document).is_file(), document


def test_the_results_format_lists_every_metric_as_the_code_names_it():
    text = (ROOT / "docs" / "results-format.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| (\w+) \| \w+ \|", text, re.M))
    assert rows == {m.name: m.unit for m in METRICS}
    for metric in METRICS:
        assert f"| `{metric.name}` | {metric.unit} | {metric.phase} | {metric.meaning} |" in text, metric.name


def test_the_architecture_names_every_library_module():
    text = (ROOT / "docs" / "architecture.md").read_text()
    for path in PACKAGE.glob("*.py"):
        if path.stem not in ("__init__", "__main__", "errors", "_record_bootstrap"):
            assert f"{path.stem}.py" in text or path.stem in text, path.name


IMPORTS_OF_A_COMMAND = """
import sys
from allocbench import cli
cli.build_parser(sys.argv[1:])
print(" ".join(sorted(m for m in sys.modules if m.startswith("allocbench.commands.") or m == "numpy")))
"""


def test_a_command_imports_its_own_module_only_and_help_lists_them_all():
    import subprocess
    import sys

    from allocbench.cli import COMMANDS

    def imported(*words: str) -> set[str]:
        result = subprocess.run([sys.executable, "-c", IMPORTS_OF_A_COMMAND, *words], capture_output=True, text=True,
                                check=True)
        return set(result.stdout.split())

    assert imported("record", "-o", "t.abt", "--", "python", "x.py") == {"allocbench.commands._shared",
                                                                          "allocbench.commands.record"}
    assert {f"allocbench.commands.{module}" for module in COMMANDS.values()} <= imported("--help")
