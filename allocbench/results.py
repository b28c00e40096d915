"""A results folder (docs/results-format.md): created, appended to cell by cell, read back.
The one home of the format: the runner writes through it, and `load()`, `show`, `compare`,
`report` and `--resume` read through it.

Writing costs O(1) per cell, however many cells a run has:
  * a cell's rows are appended to metrics.csv and timelines.csv as whole lines, in one
    write each;
  * its new state (done or failed, the rows it wrote, the loops its memory pass gave pyperf)
    is then appended to cells.jsonl, the journal;
  * manifest.json is rewritten (to a temporary name, renamed into place) only when the run
    starts, finishes or resumes, with the journal folded into its cells;
  * pyperf/<allocator>.json is rewritten whole, but holds one allocator's workloads only.
A kill at any moment leaves files that read back as what was complete: a line cut short, or
rows whose cell the journal does not call done, are not results. Reading folds the journal
into the manifest's cells and then checks that every phase called done has all the rows it
wrote; a phase that lacks them is reported as missing (and `--resume` measures it again).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from allocbench.errors import UsageError
from allocbench.metrics import BY_NAME, PHASES
from allocbench.run_modes import LIVE, REPLAY, RUN_MODES

SCHEMA = 1
MANIFEST = "manifest.json"
JOURNAL = "cells.jsonl"
METRICS_FILE = "metrics.csv"
TIMELINES_FILE = "timelines.csv"
SIZES_FILE = "sizes.csv"
METRIC_COLUMNS = ("allocator", "workload", "metric", "value", "unit")
TIMELINE_COLUMNS = ("allocator", "workload", "op_index", "live_bytes", "footprint_bytes", "rss_bytes")
SIZE_COLUMNS = ("workload", "size", "count")
STATES = ("done", "failed", "skipped", "missing")  # skipped: not measured by design (a sweep's --time)
STATUSES = ("running", "complete", "interrupted", "failed")
MODES = ("fast", "default", "rigorous")


def atomic_write(path: Path, data: str | bytes) -> None:
    """Writes a whole file under a temporary name and renames it into place."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with open(partial, "wb") as file:
            file.write(data.encode() if isinstance(data, str) else data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _csv_lines(columns: tuple[str, ...], rows: list[tuple], header: bool = False) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(columns)
    writer.writerows(rows)
    return out.getvalue()


def _append(path: Path, text: str) -> None:
    """Appends whole lines with one write, then makes them durable: a kill leaves either all
    of them or, at worst, a last line cut short, which readers drop."""
    if not text:
        return
    data = text.encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
    try:
        while data:
            data = data[os.write(fd, data):]
        os.fdatasync(fd)
    finally:
        os.close(fd)


def _value_text(value: float | int) -> str:
    return repr(value) if isinstance(value, float) else str(value)


# --- the manifest ---------------------------------------------------------------------
def _fail(path: Path, what: str) -> None:
    raise UsageError(f"{path}: {what}")


def _require(manifest: dict, key: str, kind: type | tuple, path: Path) -> object:
    if key not in manifest:
        _fail(path, f"no '{key}': not a results folder's manifest (or a damaged one)")
    value = manifest[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        _fail(path, f"'{key}' is {type(value).__name__}, expected {getattr(kind, '__name__', kind)}")
    return value


def validate_manifest(manifest: object, path: Path) -> dict:
    """Checks everything a reader relies on; raises UsageError (one line naming the file
    and the fault) for anything else."""
    if not isinstance(manifest, dict):
        _fail(path, f"the top level is {type(manifest).__name__}, not a JSON object")
    if manifest.get("schema") != SCHEMA:
        _fail(path, f"schema {manifest.get('schema')!r}, this allocbench reads {SCHEMA}")
    for key in ("suite", "baseline", "cwd", "created"):
        _require(manifest, key, str, path)
    if _require(manifest, "mode", str, path) not in MODES:
        _fail(path, f"mode {manifest['mode']!r}: one of {', '.join(MODES)}")
    if _require(manifest, "status", str, path) not in STATUSES:
        _fail(path, f"status {manifest['status']!r}: one of {', '.join(STATUSES)}")
    command = _require(manifest, "command", list, path)
    if not all(isinstance(word, str) for word in command):
        _fail(path, "'command' must be a list of strings")
    for key in ("machine", "python", "packages"):
        _require(manifest, key, dict, path)
    timeout = manifest.get("cell_timeout", 600.0)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout <= 0:
        _fail(path, f"cell_timeout {timeout!r}: a number of seconds above 0")
    if manifest.get("run_mode", REPLAY) not in RUN_MODES:
        _fail(path, f"run_mode {manifest.get('run_mode')!r}: one of {', '.join(RUN_MODES)}")
    if manifest.get("touch", "first") not in ("none", "first", "all"):
        _fail(path, f"touch {manifest.get('touch')!r}: one of none, first, all")

    allocators = _require(manifest, "allocators", list, path)
    if not allocators:
        _fail(path, "'allocators' is empty: a run has at least one allocator")
    labels = []
    for entry in allocators:
        if not isinstance(entry, dict) or not isinstance(entry.get("label"), str) or not isinstance(entry.get("spec"), str):
            _fail(path, "every allocator needs a 'label' and a 'spec' (strings)")
        if not isinstance(entry.get("config", {}), dict) or entry.get("preload") not in (None,) and not isinstance(entry.get("preload"), str):
            _fail(path, f"allocator {entry['label']!r}: 'config' must be an object and 'preload' a path or null")
        labels.append(entry["label"])
    if len(set(labels)) != len(labels):
        _fail(path, "an allocator label is listed twice")
    if manifest["baseline"] not in labels:
        _fail(path, f"baseline {manifest['baseline']!r} is not one of the run's allocators ({', '.join(labels)})")

    workloads = _require(manifest, "workloads", list, path)
    if not workloads:
        _fail(path, "'workloads' is empty: a run has at least one workload")
    names = []
    for entry in workloads:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            _fail(path, "every workload needs a 'name' (a string)")
        if entry.get("mode", REPLAY) not in (REPLAY, LIVE):
            _fail(path, f"workload {entry['name']!r}: mode {entry.get('mode')!r}, one of {REPLAY}, {LIVE}")
        if entry.get("mode") == LIVE and not isinstance(entry.get("program"), str):
            _fail(path, f"workload {entry['name']!r}: a live workload needs its 'program' (a path)")
        names.append(entry["name"])
    if len(set(names)) != len(names):
        _fail(path, "a workload name is listed twice")

    cells = _require(manifest, "cells", list, path)
    seen = set()
    for cell in cells:
        if not isinstance(cell, dict):
            _fail(path, "every cell must be an object")
        key = (cell.get("allocator"), cell.get("workload"))
        if key[0] not in labels or key[1] not in names:
            _fail(path, f"cell {key[0]!r} x {key[1]!r} names an allocator or workload the manifest does not list")
        if key in seen:
            _fail(path, f"cell {key[0]} x {key[1]} is listed twice")
        seen.add(key)
        for phase in PHASES:
            if cell.get(phase) not in STATES:
                _fail(path, f"cell {key[0]} x {key[1]}: {phase} state {cell.get(phase)!r}, one of {', '.join(STATES)}")
    if len(seen) != len(labels) * len(names):
        _fail(path, f"{len(seen)} cells for {len(labels)} allocators x {len(names)} workloads")
    return manifest


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path.parent}: not a results folder (no {path.name})") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a folder, not a file") from None
    except UnicodeDecodeError as error:
        raise UsageError(f"{path}: not UTF-8 text (byte {error.start})") from None
    except (json.JSONDecodeError, ValueError, RecursionError) as error:
        raise UsageError(f"{path}: not valid JSON: {str(error).splitlines()[0][:200]}") from None


# --- cell states ----------------------------------------------------------------------
def new_cell(allocator: str, workload: str) -> dict:
    return {"allocator": allocator, "workload": workload, "time": "missing", "memory": "missing",
            "reasons": {}, "rows": {}, "loops": None}


def reason_text(cell: dict) -> str:
    """Why the cell's phases failed or were skipped, each after its name: "memory: ...; time: ..."."""
    reasons = cell.get("reasons") or {}
    return "; ".join(f"{phase}: {reasons[phase]}" for phase in PHASES if reasons.get(phase))


@dataclass
class Journal:
    """One line per finished cell phase, appended as it finishes."""

    path: Path

    def append(self, entry: dict) -> None:
        _append(self.path, json.dumps(entry, separators=(",", ":")) + "\n")

    def entries(self) -> list[dict]:
        if not self.path.is_file():
            return []
        out = []
        for line in self.path.read_bytes().split(b"\n"):
            try:
                entry = json.loads(line)
            except (ValueError, UnicodeDecodeError):
                continue  # a line cut short by a kill, or damage: not a state
            if isinstance(entry, dict) and entry.get("phase") in PHASES and entry.get("state") in STATES[:3]:
                out.append(entry)
        return out


def _apply(cells: dict, entry: dict) -> None:
    cell = cells.get((entry.get("allocator"), entry.get("workload")))
    if cell is None:
        return
    phase = entry["phase"]
    cell[phase] = entry["state"]
    reasons = dict(cell.get("reasons") or {})
    reasons.pop(phase, None)
    if entry["state"] in ("failed", "skipped"):
        reasons[phase] = str(entry.get("reason") or "no reason given")
    cell["reasons"] = reasons
    rows = dict(cell.get("rows") or {})
    for key, count in (entry.get("rows") or {}).items():
        rows[key] = count
    cell["rows"] = rows
    if phase == "memory" and entry.get("loops") is not None:
        cell["loops"] = entry["loops"]


# --- the folder -----------------------------------------------------------------------
@dataclass
class ResultsFolder:
    path: Path
    manifest: dict
    # (allocator, workload) -> the cell of the manifest, the journal folded in
    cells: dict = field(default_factory=dict)
    # what reading found missing or damaged: one sentence each, for show/report to say
    problems: list = field(default_factory=list)
    _metrics: list = field(default_factory=list, repr=False)
    _timelines: list = field(default_factory=list, repr=False)

    # --- creation and writing ----------------------------------------------------------
    @classmethod
    def create(cls, path: Path, manifest: dict, sizes: dict[str, dict[int, int]]) -> "ResultsFolder":
        """A new folder with its manifest, sizes.csv and empty tables. Refuses one that exists
        and is not empty."""
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise UsageError(f"{path}: already exists and is not empty (use --resume to finish a run)")
        try:
            (path / "pyperf").mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(f"{path}: cannot create the results folder: {error.strerror}") from None
        folder = cls(path, manifest)
        folder.cells = {(c["allocator"], c["workload"]): c for c in manifest["cells"]}
        size_rows = [(w, s, c) for w, histogram in sizes.items() for s, c in sorted(histogram.items())]
        atomic_write(path / SIZES_FILE, _csv_lines(SIZE_COLUMNS, size_rows, header=True))
        atomic_write(path / METRICS_FILE, _csv_lines(METRIC_COLUMNS, [], header=True))
        atomic_write(path / TIMELINES_FILE, _csv_lines(TIMELINE_COLUMNS, [], header=True))
        (path / JOURNAL).touch()
        folder.save_manifest()
        return folder

    def save_manifest(self) -> None:
        """Rewrites manifest.json with the cells as they are now (O(cells): at start, end and
        resume only)."""
        self.manifest["cells"] = list(self.cells.values())
        atomic_write(self.path / MANIFEST, json.dumps(self.manifest, indent=2) + "\n")

    def set_status(self, status: str, finished: str | None) -> None:
        """Rewrites the manifest with the cells as they are; once the run has stopped, the
        journal's lines are all in it, so the journal is emptied (a kill in between leaves
        lines that fold in to the same states)."""
        self.manifest["status"] = status
        self.manifest["finished"] = finished
        self.save_manifest()
        if status != "running":
            atomic_write(self.path / JOURNAL, "")

    def record(self, allocator: str, workload: str, phase: str, state: str, *, reason: str | None = None,
               metrics: list[tuple[str, float]] = (), timeline: list[tuple] = (), pyperf_json: str | None = None,
               pair_pyperf_json: str | None = None, loops: int | None = None) -> None:
        """Writes what a cell phase produced, then journals its state: rows first, so that a
        state the journal holds always has its rows on disk."""
        rows = {}
        if state == "done":
            lines = [(allocator, workload, name, _value_text(value), BY_NAME[name].unit) for name, value in metrics]
            _append(self.path / METRICS_FILE, _csv_lines(METRIC_COLUMNS, lines))
            self._metrics.extend((allocator, workload, name, value, BY_NAME[name].unit) for name, value in metrics)
            rows[phase] = len(lines)
            if phase == "memory":
                samples = [(allocator, workload, *("" if v is None else v for v in sample)) for sample in timeline]
                _append(self.path / TIMELINES_FILE, _csv_lines(TIMELINE_COLUMNS, samples))
                self._timelines.extend((allocator, workload, *sample) for sample in timeline)
                rows["timeline"] = len(samples)
            if pyperf_json is not None:
                self._merge_pyperf(self.pyperf_path(allocator), pyperf_json)
            if pair_pyperf_json is not None:
                self._merge_pyperf(self.pyperf_path(allocator, paired_base=True), pair_pyperf_json)
        entry = {"allocator": allocator, "workload": workload, "phase": phase, "state": state,
                 "reason": reason, "rows": rows, "loops": loops}
        Journal(self.path / JOURNAL).append(entry)
        _apply(self.cells, entry)

    def _merge_pyperf(self, path: Path, benchmark_json: str) -> None:
        """pyperf/<allocator>.json holds one benchmark per workload: rewritten whole, which
        costs the allocator's own workloads, not the run's cells."""
        import pyperf

        with io.StringIO(benchmark_json) as text:
            benchmark = pyperf.Benchmark.load(text)
        benchmarks = []
        if path.is_file():
            benchmarks = [b for b in pyperf.BenchmarkSuite.load(str(path)).get_benchmarks() if b.get_name() != benchmark.get_name()]
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        pyperf.BenchmarkSuite(benchmarks + [benchmark]).dump(str(partial), replace=True)
        os.replace(partial, path)

    def pyperf_path(self, allocator: str, paired_base: bool = False) -> Path:
        """pyperf/<allocator>.json; with paired_base, pyperf/<allocator>@base.json: a sweep's
        base timed alongside that allocator, the same benchmark names (pyperf compare_to)."""
        from allocbench.allocators import file_label

        return self.path / "pyperf" / f"{file_label(allocator)}{'@base' if paired_base else ''}.json"

    # --- reading ------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike) -> "ResultsFolder":
        """Reads and checks a folder; raises UsageError (one line) for one that is not a
        results folder or whose manifest is damaged. Missing or cut rows are not errors: they
        are listed in `problems`, and their cell phases read as missing."""
        path = Path(path)
        if not path.is_dir():
            raise UsageError(f"{path}: not a folder" if path.exists() else f"{path}: no such folder")
        manifest = validate_manifest(_read_json(path / MANIFEST), path / MANIFEST)
        folder = cls(path, manifest)
        folder.cells = {(c["allocator"], c["workload"]): dict(c) for c in manifest["cells"]}
        for cell in folder.cells.values():
            cell.setdefault("reasons", {})
            cell.setdefault("rows", {})
            cell.setdefault("loops", None)
        for entry in Journal(path / JOURNAL).entries():
            _apply(folder.cells, entry)
        folder._metrics, folder._timelines = folder._read_tables()
        folder._check_rows()
        return folder

    def _done(self, allocator: str, workload: str, phase: str) -> bool:
        cell = self.cells.get((allocator, workload))
        return cell is not None and cell[phase] == "done"

    def _read_tables(self) -> tuple[list[tuple], list[tuple]]:
        """The rows of cell phases that are done, the last of each key kept (a resumed cell
        may have been written twice), a line cut short dropped."""
        metrics: dict[tuple, tuple] = {}
        for row in self._read_csv(METRICS_FILE, METRIC_COLUMNS):
            allocator, workload, name, value, unit = row
            metric = BY_NAME.get(name)
            if metric is None or not self._done(allocator, workload, metric.phase):
                continue
            metrics[(allocator, workload, name)] = (allocator, workload, name, self._number(value, METRICS_FILE), unit)
        timelines: dict[tuple, tuple] = {}
        for row in self._read_csv(TIMELINES_FILE, TIMELINE_COLUMNS):
            allocator, workload = row[0], row[1]
            if not self._done(allocator, workload, "memory"):
                continue
            numbers = tuple(None if v == "" else self._number(v, TIMELINES_FILE) for v in row[2:])
            timelines[(allocator, workload, numbers[0])] = (allocator, workload, *numbers)
        return list(metrics.values()), list(timelines.values())

    def _read_csv(self, name: str, columns: tuple[str, ...]) -> list[list[str]]:
        path = self.path / name
        if not path.is_file():
            self.problems.append(f"{name} is missing")
            return []
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            data = data[: data.rfind(b"\n") + 1]  # the last line was cut short: not a row
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise UsageError(f"{path}: not UTF-8 text (byte {error.start})") from None
        rows = list(csv.reader(io.StringIO(text)))
        if not rows or tuple(rows[0]) != columns:
            raise UsageError(f"{path}: the first line must be the columns {','.join(columns)}")
        body = rows[1:]
        for number, row in enumerate(body, start=2):
            if len(row) != len(columns):
                raise UsageError(f"{path}: line {number} has {len(row)} fields, expected {len(columns)}")
        return body

    def _number(self, text: str, file: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise UsageError(f"{self.path / file}: {text[:40]!r} is not a number") from None
        return int(value) if value.is_integer() and abs(value) < 2**53 and "." not in text and "e" not in text.lower() else value

    def _check_rows(self) -> None:
        """Every phase called done must have every row it wrote; else it reads as missing."""
        counts: dict[tuple, int] = {}
        for allocator, workload, name, _, _ in self._metrics:
            key = (allocator, workload, BY_NAME[name].phase)
            counts[key] = counts.get(key, 0) + 1
        for allocator, workload, *_ in self._timelines:
            key = (allocator, workload, "timeline")
            counts[key] = counts.get(key, 0) + 1
        lacking = []
        for (allocator, workload), cell in self.cells.items():
            for phase in PHASES:
                if cell[phase] != "done":
                    continue
                expected = cell["rows"]
                wanted = [(phase, expected.get(phase))] + ([("timeline", expected.get("timeline"))] if phase == "memory" else [])
                if any(n is not None and counts.get((allocator, workload, kind), 0) != n for kind, n in wanted):
                    cell[phase] = "missing"
                    lacking.append(f"{allocator} x {workload} ({phase})")
        if lacking:
            shown = ", ".join(lacking[:5]) + (f" and {len(lacking) - 5} more" if len(lacking) > 5 else "")
            self.problems.append(
                f"{len(lacking)} cell phase(s) the manifest calls done lack their rows in {METRICS_FILE} or "
                f"{TIMELINES_FILE}, so they count as missing: {shown}"
            )
        # Drop the rows of phases that no longer count.
        self._metrics = [r for r in self._metrics if self._done(r[0], r[1], BY_NAME[r[2]].phase)]
        self._timelines = [r for r in self._timelines if self._done(r[0], r[1], "memory")]

    def compact(self) -> None:
        """Rewrites the tables with exactly the rows that count, the manifest with the
        journal folded in, and empties the journal (in that order, so that a kill between two
        steps still reads back the same): what --resume does before it measures."""
        atomic_write(self.path / METRICS_FILE, _csv_lines(METRIC_COLUMNS, [
            (a, w, m, _value_text(v), u) for a, w, m, v, u in self._metrics], header=True))
        atomic_write(self.path / TIMELINES_FILE, _csv_lines(TIMELINE_COLUMNS, [
            tuple("" if v is None else v for v in row) for row in self._timelines], header=True))
        self.save_manifest()
        atomic_write(self.path / JOURNAL, "")

    # --- what readers see ---------------------------------------------------------------
    def cell_list(self) -> list[dict]:
        return list(self.cells.values())

    def missing(self) -> list[tuple[str, str, str]]:
        """(allocator, workload, phase) of every cell phase not measured yet."""
        return [(c["allocator"], c["workload"], phase) for c in self.cells.values() for phase in PHASES
                if c[phase] == "missing"]

    def failures(self) -> list[dict]:
        return [c for c in self.cells.values() if "failed" in (c["time"], c["memory"])]

    def metrics_rows(self) -> list[tuple]:
        """(allocator, workload, metric, value, unit) of every cell phase that is done."""
        return list(self._metrics)

    def timeline_rows(self) -> list[tuple]:
        return list(self._timelines)

    def size_rows(self) -> list[tuple]:
        rows = []
        for workload, size, count in self._read_csv(SIZES_FILE, SIZE_COLUMNS):
            rows.append((workload, int(self._number(size, SIZES_FILE)), int(self._number(count, SIZES_FILE))))
        return rows

    def frame(self, which: str = "metrics"):
        """metrics, timelines or sizes as a pandas DataFrame."""
        import pandas as pd

        if which == "metrics":
            return pd.DataFrame(self.metrics_rows(), columns=list(METRIC_COLUMNS)).astype({"value": float})
        if which == "timelines":
            return pd.DataFrame(self.timeline_rows(), columns=list(TIMELINE_COLUMNS)).astype(
                {c: float for c in TIMELINE_COLUMNS[2:]})
        if which == "sizes":
            return pd.DataFrame(self.size_rows(), columns=list(SIZE_COLUMNS))
        raise ValueError(which)


def load(path: str | os.PathLike):
    """The tidy table of a results folder (metrics.csv: every figure of every cell that is
    done) as a pandas DataFrame, with a `run` column naming the folder, so that several runs
    concatenate cleanly. A sweep's knobs follow `allocator`, a column each: the value of each
    pymalloc configuration (points and base; empty for the references)."""
    folder = ResultsFolder.open(path)
    frame = folder.frame("metrics")
    frame.insert(0, "run", folder.path.name)
    return with_knob_columns(frame, folder.manifest)


def with_knob_columns(frame, manifest: dict):
    """For a sweep, a column per knob after `allocator` (the one rule, for load() and the
    report's CSV): each configuration's value, empty for the references."""
    if manifest.get("kind") != "sweep":
        return frame
    configs = {a["label"]: a.get("config", {}) for a in manifest["allocators"]}
    at = list(frame.columns).index("allocator") + 1
    for offset, knob in enumerate(manifest["sweep"]["grid"]):
        frame.insert(at + offset, knob, frame["allocator"].map(lambda label: configs.get(label, {}).get(knob)))
    return frame
