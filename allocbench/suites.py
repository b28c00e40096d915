"""Workloads and suites: what a run replays.

A workload is a recorded program (workloads/programs/*.py, recorded on first use and cached)
or a synthetic generator with its parameters and seed; all are declared once, in
workloads/workloads.toml. A suite (workloads/suites/<name>.toml) names workloads, or other
suites to include. An installed wheel carries the folder as allocbench/workloads.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from allocbench import _core
from allocbench.errors import UsageError
from allocbench.workloads import workloads_folder


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    program: str | None = None  # a file of workloads/programs
    generator: str | None = None
    params: dict = field(default_factory=dict, hash=False)
    seed: int = 0

    @property
    def kind(self) -> str:
        return "program" if self.program else "generator"

    def source(self) -> dict:
        if self.program:
            return {"program": self.program}
        return {"generator": self.generator, "params": self.params, "seed": self.seed}


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    workloads: tuple[Workload, ...]


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


def load_workloads(folder: Path | None = None) -> dict[str, Workload]:
    folder = folder or workloads_folder()
    path = folder / "workloads.toml"
    table = _read_toml(path)
    workloads = {}
    for name, entry in table.items():
        if not isinstance(entry, dict):
            raise UsageError(f"{path}: '{name}' must be a table of workload settings")
        unknown = set(entry) - {"description", "program", "generator", "params", "seed"}
        if unknown:
            raise UsageError(f"{path}: workload '{name}': unknown key(s) {', '.join(sorted(unknown))}")
        program, generator = entry.get("program"), entry.get("generator")
        if (program is None) == (generator is None):
            raise UsageError(f"{path}: workload '{name}': give exactly one of program or generator")
        params = entry.get("params", {})
        if program is not None and not (folder / "programs" / program).is_file():
            raise UsageError(f"{path}: workload '{name}': program {program} not found in {folder / 'programs'}")
        if generator is not None:
            _check_generator(path, name, generator, params)
        seed = entry.get("seed", 0)
        if not isinstance(seed, int) or seed < 0:
            raise UsageError(f"{path}: workload '{name}': seed must be a whole number >= 0")
        workloads[name] = Workload(
            name=name,
            description=str(entry.get("description", "")),
            program=program,
            generator=generator,
            params=params,
            seed=seed,
        )
    return workloads


def suite_names(folder: Path | None = None) -> list[str]:
    folder = folder or workloads_folder()
    return sorted(p.stem for p in (folder / "suites").glob("*.toml"))


def load_suite(name: str, folder: Path | None = None) -> Suite:
    """A suite by name, its includes expanded, each workload once, in declaration order."""
    folder = folder or workloads_folder()
    workloads = load_workloads(folder)
    return _load_suite(name, folder, workloads, trail=())


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
    for included in table.get("include", []):
        for workload in _load_suite(included, folder, workloads, trail + (name,)).workloads:
            chosen.setdefault(workload.name, workload)
    for workload_name in table.get("workloads", []):
        if workload_name not in workloads:
            raise UsageError(f"{path}: unknown workload '{workload_name}' (see `allocbench list workloads`)")
        chosen.setdefault(workload_name, workloads[workload_name])
    if not chosen:
        raise UsageError(f"{path}: suite '{name}' has no workloads")
    return Suite(name=name, description=str(table.get("description", "")), workloads=tuple(chosen.values()))
