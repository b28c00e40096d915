"""Workloads and suites: what a run replays.

A workload is a recorded program (workloads/programs/*.py, recorded on first use and cached),
a pyperformance benchmark (recorded in-process, a fixed number of loops, on first use and
cached: allocbench/pyperformance_suite.py) or a synthetic generator with its parameters and
seed; all are declared once, in workloads/workloads.toml. A suite (workloads/suites/<name>.toml)
names workloads, or other suites to include; a workload that cannot be made here (a
pyperformance benchmark whose dependencies are not importable) is left out of the suite and
listed as skipped, with the reason. An installed wheel carries the folder as
allocbench/workloads.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from allocbench import _core, pyperformance_suite
from allocbench.errors import UsageError
from allocbench.workloads import workloads_folder


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    program: str | None = None  # a file of workloads/programs
    generator: str | None = None
    pyperformance: str | None = None  # a benchmark the pyperformance driver has a recipe for
    params: dict = field(default_factory=dict, hash=False)  # a generator's; pyperformance: loops
    seed: int = 0

    @property
    def kind(self) -> str:
        return "program" if self.program else "pyperformance" if self.pyperformance else "generator"

    def source(self) -> dict:
        if self.program:
            return {"program": self.program}
        if self.pyperformance:
            return {"pyperformance": self.pyperformance, "version": pyperformance_suite.version(), "params": self.params}
        return {"generator": self.generator, "params": self.params, "seed": self.seed}

    def origin(self) -> str:
        """Where the workload comes from, in words."""
        if self.program:
            return f"recorded program workloads/programs/{self.program}"
        if self.pyperformance:
            return f"recorded {pyperformance_suite.origin(self.pyperformance)}, loops={self.params['loops']}"
        settings = ", ".join(f"{key}={value}" for key, value in self.params.items())
        return f"generator {self.generator} ({settings}), seed {self.seed}"

    def unavailable(self) -> str | None:
        """Why its trace cannot be made here (None: it can)."""
        return pyperformance_suite.unavailable(self.pyperformance) if self.pyperformance else None


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    workloads: tuple[Workload, ...]
    skipped: tuple[tuple[str, str], ...] = ()  # (workload, why it cannot be made here)


def _read_toml(path: Path) -> dict:
    from allocbench.outputs import read_input_file

    try:
        return tomllib.loads(read_input_file(path, "TOML file").decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: not valid TOML: {error}") from None


def _check_generator(path: Path, name: str, generator: str, params: dict) -> None:
    known = {g["name"]: g for g in _core.generators()}
    if generator not in known:
        raise UsageError(f"{path}: workload '{name}': unknown generator '{generator}' (generators: {', '.join(known)})")
    allowed = {p["name"] for p in known[generator]["params"]}
    for key in params:
        if key not in allowed:
            raise UsageError(
                f"{path}: workload '{name}': generator '{generator}' has no parameter '{key}' "
                f"(parameters: {', '.join(sorted(allowed))})"
            )


def _check_benchmark(path: Path, name: str, benchmark: str, params: dict) -> None:
    known = pyperformance_suite.recipes()
    if benchmark not in known:
        raise UsageError(f"{path}: workload '{name}': allocbench has no recipe for the pyperformance benchmark "
                         f"'{benchmark}' (recipes: {', '.join(known)})")
    loops = params.get("loops")
    if set(params) != {"loops"} or not isinstance(loops, int) or isinstance(loops, bool) or loops < 1:
        raise UsageError(f"{path}: workload '{name}': a pyperformance workload takes params = {{ loops = N }}, "
                         "N a whole number >= 1")


def load_workloads(folder: Path | None = None) -> dict[str, Workload]:
    folder = folder or workloads_folder()
    path = folder / "workloads.toml"
    table = _read_toml(path)
    workloads = {}
    for name, entry in table.items():
        if not isinstance(entry, dict):
            raise UsageError(f"{path}: '{name}' must be a table of workload settings")
        unknown = set(entry) - {"description", "program", "generator", "pyperformance", "params", "seed"}
        if unknown:
            raise UsageError(f"{path}: workload '{name}': unknown key(s) {', '.join(sorted(unknown))}")
        program, generator, benchmark = entry.get("program"), entry.get("generator"), entry.get("pyperformance")
        if [program, generator, benchmark].count(None) != 2:
            raise UsageError(f"{path}: workload '{name}': give exactly one of program, generator or pyperformance")
        params = entry.get("params", {})
        if program is not None and not (folder / "programs" / program).is_file():
            raise UsageError(f"{path}: workload '{name}': program {program} not found in {folder / 'programs'}")
        if generator is not None:
            _check_generator(path, name, generator, params)
        if benchmark is not None:
            _check_benchmark(path, name, benchmark, params)
        seed = entry.get("seed", 0)
        if not isinstance(seed, int) or seed < 0:
            raise UsageError(f"{path}: workload '{name}': seed must be a whole number >= 0")
        workloads[name] = Workload(
            name=name,
            description=str(entry.get("description", "")),
            program=program,
            generator=generator,
            pyperformance=benchmark,
            params=params,
            seed=seed,
        )
    return workloads


def suite_names(folder: Path | None = None) -> list[str]:
    folder = folder or workloads_folder()
    return sorted(p.stem for p in (folder / "suites").glob("*.toml"))


def load_suite(name: str, folder: Path | None = None, runnable: bool = True) -> Suite:
    """A suite by name, its includes expanded, each workload once, in declaration order, less
    the workloads that cannot be made here (in `skipped`). `runnable`: refuse a suite none of
    whose workloads can be made here, with the first reason."""
    folder = folder or workloads_folder()
    workloads = load_workloads(folder)
    suite = _load_suite(name, folder, workloads, trail=())
    if runnable and not suite.workloads:
        workload_name, reason = suite.skipped[0]
        raise UsageError(f"suite '{name}': no workload of it can be made here ({workload_name}: {reason})")
    return suite


def _load_suite(name: str, folder: Path, workloads: dict[str, Workload], trail: tuple[str, ...]) -> Suite:
    path = folder / "suites" / f"{name}.toml"
    if not path.is_file():
        raise UsageError(f"unknown suite '{name}' (suites: {', '.join(suite_names(folder))})")
    if name in trail:
        raise UsageError(f"{path}: suite '{name}' includes itself (through {' -> '.join(trail)})")
    table = _read_toml(path)
    unknown = set(table) - {"description", "workloads", "include"}
    if unknown:
        raise UsageError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    chosen: dict[str, Workload] = {}
    skipped: dict[str, str] = {}
    for included in table.get("include", []):
        suite = _load_suite(included, folder, workloads, trail + (name,))
        for workload in suite.workloads:
            chosen.setdefault(workload.name, workload)
        for workload_name, reason in suite.skipped:
            skipped.setdefault(workload_name, reason)
    for workload_name in table.get("workloads", []):
        if workload_name not in workloads:
            raise UsageError(f"{path}: unknown workload '{workload_name}' (see `allocbench list workloads`)")
        reason = workloads[workload_name].unavailable()
        if reason:
            skipped.setdefault(workload_name, reason)
        else:
            chosen.setdefault(workload_name, workloads[workload_name])
    if not chosen and not skipped:
        raise UsageError(f"{path}: suite '{name}' has no workloads")
    return Suite(name=name, description=str(table.get("description", "")), workloads=tuple(chosen.values()),
                 skipped=tuple(skipped.items()))
