"""pyperformance's benchmarks as workloads: where they are, which can run here, and why the
others are skipped.

pyperformance (`pip install 'allocbench[pyperformance]'`) ships each benchmark as a folder
bm_<name>/ with run_benchmark.py and a pyproject.toml of its dependencies, and lists them in
its MANIFEST. A workload of kind pyperformance names one benchmark that allocbench's driver
knows how to call (allocbench/_pyperformance_driver.py, RECIPES) and how many loops of it to
record. It can run when pyperformance is installed and everything the benchmark needs is
importable: the packages its pyproject.toml and requirements.txt declare besides pyperf, and
every module its run_benchmark.py imports; else it is skipped, with that reason.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import importlib.util
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from allocbench import _pyperformance_driver as driver
from allocbench.errors import UsageError

DRIVER = Path(driver.__file__)
INSTALL_HINT = "pip install 'allocbench[pyperformance]'"
# Every benchmark needs pyperf, which allocbench itself depends on.
ALWAYS_THERE = {"pyperf"}
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class Benchmark:
    """One entry of pyperformance's MANIFEST."""

    name: str
    folder: Path


def recipes() -> list[str]:
    """The benchmarks the driver can run in-process."""
    return sorted(driver.RECIPES)


@functools.cache
def installed() -> tuple[str, Path] | None:
    """(version, benchmarks folder) of the installed pyperformance, or None."""
    spec = importlib.util.find_spec("pyperformance")
    if spec is None or not spec.origin:
        return None
    folder = Path(spec.origin).parent / "data-files" / "benchmarks"
    if not (folder / "MANIFEST").is_file():
        return None
    return importlib.metadata.version("pyperformance"), folder


def version() -> str | None:
    found = installed()
    return found[0] if found else None


def benchmarks_folder() -> Path:
    found = installed()
    if found is None:
        raise UsageError(f"the pyperformance package is not installed: {INSTALL_HINT}")
    return found[1]


@functools.cache
def manifest() -> tuple[Benchmark, ...]:
    """Every benchmark pyperformance lists (its [benchmarks] section), in its order."""
    folder = benchmarks_folder()
    found, section = [], None
    for line in (folder / "MANIFEST").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
            continue
        fields = line.split()
        if section != "[benchmarks]" or len(fields) != 2 or fields[0] == "name":
            continue
        name, metafile = fields
        local = metafile.removeprefix("<local").removesuffix(">").lstrip(":")
        found.append(Benchmark(name, folder / f"bm_{local or name}"))
    return tuple(found)


def _declared_packages(folder: Path) -> list[str]:
    """Packages the benchmark declares besides pyperf (pyproject.toml, requirements.txt)."""
    names = []
    pyproject = folder / "pyproject.toml"
    if pyproject.is_file():
        names += tomllib.loads(pyproject.read_text()).get("project", {}).get("dependencies", [])
    requirements = folder / "requirements.txt"
    if requirements.is_file():
        names += [line for line in requirements.read_text().splitlines() if line.strip() and not line.startswith("#")]
    packages = {}
    for requirement in names:
        match = _REQUIREMENT_NAME.match(requirement)
        key = match and re.sub(r"[-_.]+", "-", match.group(1)).lower()  # PEP 503's normal form
        if match and key not in ALWAYS_THERE:
            packages.setdefault(key, match.group(1))
    return list(packages.values())


def _required_python(folder: Path) -> str | None:
    pyproject = folder / "pyproject.toml"
    if not pyproject.is_file():
        return None
    return tomllib.loads(pyproject.read_text()).get("project", {}).get("requires-python")


def _imported_modules(folder: Path) -> list[str]:
    """Top-level modules run_benchmark.py imports, other than files beside it."""
    tree = ast.parse((folder / "run_benchmark.py").read_text())
    modules = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules += [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.append(node.module.split(".")[0])
    return sorted({m for m in modules if not (folder / f"{m}.py").is_file()})


def _times_a_command(folder: Path) -> bool:
    return "bench_command" in (folder / "run_benchmark.py").read_text()


def _python_too_old(requirement: str | None) -> bool:
    match = re.fullmatch(r"\s*>=\s*(\d+)\.(\d+)\s*", requirement or "")
    return bool(match) and sys.version_info[:2] < (int(match.group(1)), int(match.group(2)))


def missing(benchmark: Benchmark) -> str | None:
    """Why the benchmark cannot run in this interpreter (None: it can)."""
    if not (benchmark.folder / "run_benchmark.py").is_file():
        return f"{benchmark.folder.name}/run_benchmark.py is not in pyperformance {version()}"
    requirement = _required_python(benchmark.folder)
    if _python_too_old(requirement):
        return f"needs Python {requirement.strip()}"
    packages = [p for p in _declared_packages(benchmark.folder) if not _distribution_installed(p)]
    if packages:
        return f"needs {', '.join(packages)} (not installed)"
    modules = [m for m in _imported_modules(benchmark.folder) if importlib.util.find_spec(m) is None]
    if modules:
        return f"imports {', '.join(modules)}, which is not importable here"
    return None


def _distribution_installed(name: str) -> bool:
    try:
        importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def unavailable(recipe_name: str) -> str | None:
    """Why a workload of this recipe's benchmark cannot be recorded here (None: it can)."""
    if installed() is None:
        return f"pyperformance is not installed ({INSTALL_HINT})"
    recipe = driver.RECIPES[recipe_name]
    if recipe.manifest_name not in {b.name for b in manifest()}:
        return f"pyperformance {version()} has no benchmark '{recipe.manifest_name}'"
    return missing(Benchmark(recipe.manifest_name, benchmarks_folder() / recipe.folder))


def origin(recipe_name: str) -> str:
    """Where a workload of this recipe comes from, in words."""
    recipe = driver.RECIPES[recipe_name]
    return f"pyperformance {version() or '(not installed)'} {recipe.folder}/run_benchmark.py"


def not_in_suite(benchmark: Benchmark, recorded: set[str]) -> str | None:
    """Why a benchmark of the MANIFEST has no workload; None when it has one (`recorded`:
    the recipes the workloads use)."""
    if any(driver.RECIPES[name].manifest_name == benchmark.name for name in recorded):
        return None
    reason = missing(benchmark)
    if reason:
        return reason
    packages = _declared_packages(benchmark.folder)
    if packages:
        return f"needs {', '.join(packages)}: not the standard library alone"
    if _times_a_command(benchmark.folder):
        return "times a command in a new interpreter (bench_command): nothing to record in-process"
    return "not chosen: the suite's set keeps `run --suite pyperformance --fast` within 10 minutes (workloads/README.md)"
