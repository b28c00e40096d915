"""A results folder (docs/results-format.md): created, updated cell by cell, read back.

Every file is written whole to a temporary name and renamed into place, so whatever is on
disk is complete; the manifest says which cells are done, failed or missing. That is what
makes an interrupted run resumable and a half-written result impossible.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from allocbench.errors import UsageError

SCHEMA = 1
METRIC_COLUMNS = ("allocator", "workload", "metric", "value", "unit")
TIMELINE_COLUMNS = ("allocator", "workload", "op_index", "live_bytes", "footprint_bytes", "rss_bytes")
SIZE_COLUMNS = ("workload", "size", "count")
PHASES = ("memory", "time")  # memory first: its replay time sets pyperf's loops


def atomic_write(path: Path, data: str | bytes) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    with open(partial, "wb") as file:
        file.write(data.encode() if isinstance(data, str) else data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)


def _csv_text(columns: tuple[str, ...], rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _read_csv(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


class ResultsFolder:
    def __init__(self, path: Path, manifest: dict):
        self.path = path
        self.manifest = manifest
        self.metrics = _read_csv(path / "metrics.csv")
        self.timelines = _read_csv(path / "timelines.csv")
        self.sizes = _read_csv(path / "sizes.csv")

    @classmethod
    def create(cls, path: Path, manifest: dict) -> "ResultsFolder":
        """A new folder. Refuses one that exists and is not empty."""
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise UsageError(f"{path}: already exists and is not empty (use --resume to finish a run)")
        try:
            (path / "pyperf").mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(f"{path}: cannot create the results folder: {error.strerror}") from None
        folder = cls(path, manifest)
        folder.save_manifest()
        return folder

    @classmethod
    def open(cls, path: Path) -> "ResultsFolder":
        manifest_path = path / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text())
        except FileNotFoundError:
            raise UsageError(f"{path}: not a results folder (no manifest.json)") from None
        except json.JSONDecodeError as error:
            raise UsageError(f"{manifest_path}: not valid JSON: {error}") from None
        if manifest.get("schema") != SCHEMA:
            raise UsageError(f"{manifest_path}: schema {manifest.get('schema')!r}, this allocbench reads {SCHEMA}")
        return cls(path, manifest)

    def save_manifest(self) -> None:
        atomic_write(self.path / "manifest.json", json.dumps(self.manifest, indent=2) + "\n")

    def cell(self, allocator: str, workload: str) -> dict:
        for cell in self.manifest["cells"]:
            if cell["allocator"] == allocator and cell["workload"] == workload:
                return cell
        raise KeyError((allocator, workload))

    def mark(self, allocator: str, workload: str, phase: str, status: str, reason: str | None = None) -> None:
        cell = self.cell(allocator, workload)
        cell[phase] = status
        if reason:
            cell["reason"] = f"{phase}: {reason}"
        self.save_manifest()

    def put_metrics(self, allocator: str, workload: str, rows: list[dict]) -> None:
        """Adds a cell's rows, replacing rows of the same metrics that a run interrupted
        between writing them and marking the cell done may have left."""
        names = {row["metric"] for row in rows}
        self.metrics = [
            r for r in self.metrics
            if not (r["allocator"] == allocator and r["workload"] == workload and r["metric"] in names)
        ] + rows
        atomic_write(self.path / "metrics.csv", _csv_text(METRIC_COLUMNS, self.metrics))

    def put_timeline(self, allocator: str, workload: str, rows: list[dict]) -> None:
        self.timelines = [
            r for r in self.timelines if not (r["allocator"] == allocator and r["workload"] == workload)
        ] + rows
        atomic_write(self.path / "timelines.csv", _csv_text(TIMELINE_COLUMNS, self.timelines))

    def set_sizes(self, workload: str, histogram: dict[int, int]) -> None:
        self.sizes = [r for r in self.sizes if r["workload"] != workload]
        self.sizes.extend({"workload": workload, "size": s, "count": c} for s, c in sorted(histogram.items()))
        atomic_write(self.path / "sizes.csv", _csv_text(SIZE_COLUMNS, self.sizes))

    def missing(self) -> list[tuple[str, str, str]]:
        """(allocator, workload, phase) of every cell phase not run yet."""
        return [
            (cell["allocator"], cell["workload"], phase)
            for cell in self.manifest["cells"]
            for phase in PHASES
            if cell[phase] == "missing"
        ]

    def failures(self) -> list[dict]:
        return [cell for cell in self.manifest["cells"] if "failed" in (cell["time"], cell["memory"])]


def load(path: str | os.PathLike):
    """The tidy table of a results folder (metrics.csv) as a pandas DataFrame, with a `run`
    column naming the folder, so that several runs concatenate cleanly."""
    import pandas as pd

    folder = ResultsFolder.open(Path(path))
    frame = pd.DataFrame(folder.metrics, columns=list(METRIC_COLUMNS))
    frame["value"] = pd.to_numeric(frame["value"])
    frame.insert(0, "run", folder.path.name)
    return frame
