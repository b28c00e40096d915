"""Synthetic traces: the Python face of cpp/generators.h.

>>> generate("churn", "churn.abt", seed=1, live=1000, pairs=100_000, lifetime="fifo")
{'op_count': 202000, ...}

The same generator, parameters and seed always give a byte-identical file. Parameters are
passed by name; `generators()` lists them with their defaults. A `sizes` parameter takes
uniform:LOW-HIGH, fixed:N, table:PATH (a size,weight CSV) or `mix`, the empirical size mix
of CPython objects shipped as workloads/size-mix.csv.
"""

from __future__ import annotations

from os import PathLike, fspath
from pathlib import Path

from allocbench import _core

SIZE_MIX_FILE = "size-mix.csv"


def generators() -> list[dict]:
    """Each generator's name, description and parameters (name, default, help)."""
    return _core.generators()


def size_mix_path() -> Path:
    """The shipped workloads/size-mix.csv (imported late: workers import this module)."""
    from allocbench.workloads import shipped_folder

    path = shipped_folder() / SIZE_MIX_FILE
    if not path.is_file():
        raise _core.ConfigError(f"sizes=mix: workloads/{SIZE_MIX_FILE} is missing from this installation")
    return path


def _parameter_text(name: str, value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if name == "sizes" and value == "mix":
        return f"table:{size_mix_path()}"
    return str(value)


def generate(kind: str, path: str | PathLike, /, *, seed: int = 0, **params: object) -> dict:
    """Writes the trace of generator `kind` to `path` and returns its summary (op count,
    id space, ...). Raises ConfigError for an unknown generator or parameter, or a bad value."""
    if not isinstance(seed, int) or not 0 <= seed < 2**64:
        raise _core.ConfigError(f"seed={seed}: a whole number in [0, 2**64)")
    args = [(name, _parameter_text(name, value)) for name, value in params.items()]
    return _core.generate(kind, fspath(path), seed, args)
