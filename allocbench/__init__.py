"""allocbench: measure CPython's small-object allocator (pymalloc) with any parameters.

The public API is small: build an allocator from a spec, drive it by handles, read its
statistics.

>>> import allocbench
>>> a = allocbench.Allocator("pymalloc:preset=cpython-3.11,pool_size=64K")
>>> h = a.malloc(48)
>>> a.stats()["live_requested_bytes"]
48
>>> a.free(h)
"""

import importlib

from allocbench._core import Allocator, ConfigError, options, parse_spec, presets

__version__ = "0.1.0"

# Imported on first use: pyperf workers import this package, and every millisecond of their
# start-up (numpy, pandas) is paid once per worker process.
_LAZY = {
    "generate": "allocbench.generate",
    "replay": "allocbench.replay",
    "load": "allocbench.results",
}

__all__ = ["Allocator", "ConfigError", "generate", "load", "options", "parse_spec", "presets", "replay"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'allocbench' has no attribute '{name}'")
