"""`write_report`: the self-contained HTML page of one or more results folders.

Aggregation (aggregate.py; sweep.py on top of it for a sweep's folder) computes every number
the page shows; render.py (render_sweep.py for a sweep) draws and lays them out. The page
makes no network request: figures are inline SVG, styles are inline, and the tidy data is a
data: URI.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from allocbench.errors import UsageError

__all__ = ["write_report"]


def write_report(result_dirs: list[str | os.PathLike], output_path: str | os.PathLike) -> Path:
    """Writes the report of `result_dirs` to `output_path` (through a temporary file in the
    same folder, renamed into place) and returns that path. Raises UsageError for a folder
    that is not a results folder or an output that cannot be written."""
    from allocbench.report.aggregate import aggregate
    from allocbench.report.render import render_html
    from allocbench.report.render_sweep import render_sweep_html
    from allocbench.report.sweep import aggregate_sweep, is_sweep

    from allocbench.outputs import check_output_file

    output = check_output_file(Path(output_path), what="report")
    try:
        # Opened before the work, so that an unwritable output fails at once.
        partial = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=output.parent, prefix=f".{output.name}.", suffix=".partial", delete=False)
    except OSError as error:
        raise UsageError(f"{output}: cannot write the report there: {error.strerror or error}") from None
    try:
        report = aggregate(list(result_dirs))
        # One sweep's folder gets the sweep's page; a sweep given beside other folders is
        # compared with them as a run.
        html = render_sweep_html(aggregate_sweep(report)) if is_sweep(report) else render_html(report)
        try:
            with partial:
                partial.write(html)
            os.chmod(partial.name, 0o644)
            os.replace(partial.name, output)
        except OSError as error:
            raise UsageError(f"{output}: cannot write the report there: {error.strerror or error}") from None
    except BaseException:
        Path(partial.name).unlink(missing_ok=True)
        raise
    return output
