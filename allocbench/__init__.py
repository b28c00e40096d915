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

__version__ = "0.1.0"

from allocbench._core import (  # noqa: E402
    Allocator,
    ConfigError,
    ReplayResult,
    TraceError,
    option_values,
    options,
    parse_spec,
    presets,
)
from allocbench.generate import generate  # noqa: E402
from allocbench.replay import replay  # noqa: E402
from allocbench.results import load  # noqa: E402

__all__ = [
    "Allocator",
    "ConfigError",
    "ReplayResult",
    "TraceError",
    "generate",
    "load",
    "option_values",
    "options",
    "parse_spec",
    "presets",
    "replay",
]
