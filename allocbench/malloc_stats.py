"""Reading the text of sys._debugmallocstats() (or of an allocbench pymalloc variant's
debugmallocstats(), which has the same layout) into numbers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_CLASS_ROW = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$")
_COUNTER = re.compile(r"^(.*?)\s*=\s*([\d,]+)\s*$")


@dataclass(frozen=True)
class ClassRow:
    size_class: int
    block_size: int
    pools: int
    blocks_in_use: int
    blocks_available: int

    @property
    def blocks_per_pool(self) -> int:
        return (self.blocks_in_use + self.blocks_available) // self.pools


@dataclass
class MallocStats:
    threshold: int
    classes: dict[int, ClassRow] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)

    def row(self, size_class: int) -> ClassRow:
        """The class's row, or an empty one when the class has no pool."""
        return self.classes.get(size_class, ClassRow(size_class, 0, 0, 0, 0))


def parse_malloc_stats(text: str) -> MallocStats:
    """Parses the pymalloc part of the report; raises ValueError when it is not one."""
    header = re.search(r"Small block threshold = (\d+), in (\d+) size classes", text)
    if header is None:
        raise ValueError("not a pymalloc statistics report (no 'Small block threshold' line)")
    stats = MallocStats(threshold=int(header.group(1)))
    for line in text.splitlines():
        if (row := _CLASS_ROW.match(line)) is not None:
            numbers = [int(g) for g in row.groups()]
            stats.classes[numbers[0]] = ClassRow(*numbers)
        elif (counter := _COUNTER.match(line)) is not None:
            stats.counters.setdefault(counter.group(1).strip(), int(counter.group(2).replace(",", "")))
    return stats
