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

from allocbench._core import Allocator, ConfigError, options, parse_spec, presets
from allocbench.generate import generate
from allocbench.replay import replay

__all__ = ["Allocator", "ConfigError", "generate", "options", "parse_spec", "presets", "replay"]
__version__ = "0.1.0"
