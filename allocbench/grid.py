"""The grid of a parameter sweep: which pymalloc variants it measures.

A grid is a list of knobs, each with its values: `KNOB=V1,V2,...` lists values, `KNOB=A..B`
is every allowed value of the knob from A to B (the core's typed option table enumerates
them: `option_values`), several knobs make their product. Every value is checked against its
knob's kind and range before anything else; a point (one value per knob, applied over the
base spec) is then checked as a whole by the core's validate(), and a combination the
options do not allow together (an arena of fewer than 4 pools, a threshold a pool cannot
hold four times) is skipped with its reason. `sample` draws that many distinct points of
the product with a seed instead of taking them all; the product itself is never built.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from allocbench import _core
from allocbench.errors import UsageError

MOST_POINTS = 100_000  # a grid larger than this must be sampled


@dataclass(frozen=True)
class Knob:
    name: str
    values: tuple[str, ...]  # canonical text, in the order given


@dataclass(frozen=True)
class Point:
    """One combination of knob values, and the spec it gives over the base."""

    values: tuple[tuple[str, str], ...]  # (knob, value), in grid order

    @property
    def label(self) -> str:
        return ",".join(f"{knob}={value}" for knob, value in self.values)

    def spec_over(self, base: dict[str, str]) -> str:
        """The spec of the point: the base's full configuration (parse_spec's), its knobs
        replaced by the point's values."""
        options = {name: value for name, value in base.items() if name not in ("allocator", "preset", "spec")}
        options.update(self.values)
        return "pymalloc:" + ",".join(f"{name}={value}" for name, value in options.items())

    def as_dict(self) -> dict[str, str]:
        return dict(self.values)


@dataclass(frozen=True)
class Grid:
    knobs: tuple[Knob, ...]
    sample: int | None = None
    seed: int = 0

    @property
    def size(self) -> int:
        size = 1
        for knob in self.knobs:
            size *= len(knob.values)
        return size

    def point(self, index: int) -> Point:
        """The index-th point of the product, the last knob varying fastest."""
        values = []
        for knob in reversed(self.knobs):
            index, digit = divmod(index, len(knob.values))
            values.append((knob.name, knob.values[digit]))
        return Point(tuple(reversed(values)))

    def indices(self) -> list[int]:
        """Which points of the product the sweep takes: all, or a seeded sample, in order."""
        if self.sample is None:
            if self.size > MOST_POINTS:
                raise UsageError(f"the grid has {self.size:,} points (more than {MOST_POINTS:,}); "
                                 "narrow it, or draw some with --sample N")
            return list(range(self.size))
        return sorted(random.Random(self.seed).sample(range(self.size), min(self.sample, self.size)))

    def as_dict(self) -> dict[str, list[str]]:
        return {knob.name: list(knob.values) for knob in self.knobs}


@dataclass
class Resolved:
    """The grid's points, checked: the valid ones with their specs, the others with why."""

    points: list[Point] = field(default_factory=list)
    specs: dict[str, str] = field(default_factory=dict)  # label -> canonical spec
    skipped: list[tuple[Point, str]] = field(default_factory=list)


def parse_knob(text: str) -> Knob:
    """`KNOB=V1,V2,...` or `KNOB=A..B`; each value checked against the knob's kind and range.
    Raises ConfigError (an unknown knob, a value it does not allow) or UsageError (a shape
    that is neither)."""
    name, equals, values = text.partition("=")
    name = name.strip()
    if not equals or not name or not values.strip():
        raise UsageError(f"--grid {text!r}: expected KNOB=V1,V2,... or KNOB=A..B")
    if name == "preset":
        raise UsageError("--grid preset=...: a grid varies options over one base; give presets with --base or -a")
    values = values.strip()
    if ".." in values and "," not in values:
        low, _, high = values.partition("..")
        found = _core.option_values(name, low.strip() or None, high.strip() or None)
    else:
        found = [_core.check_option_value(name, v.strip()) for v in values.split(",")]
    if len(set(found)) != len(found):
        raise UsageError(f"--grid {name}: a value is given twice ({values})")
    return Knob(name, tuple(found))


def make_grid(knobs: list[Knob], sample: int | None = None, seed: int = 0) -> Grid:
    if not knobs:
        raise UsageError("the grid is empty: give at least one --grid KNOB=VALUES")
    names = [k.name for k in knobs]
    for name in names:
        if names.count(name) > 1:
            raise UsageError(f"--grid {name} is given twice; list all its values in one --grid")
    if sample is not None and sample < 1:
        raise UsageError(f"--sample {sample}: at least 1")
    if not 0 <= seed < 2**64:
        raise UsageError(f"--seed {seed}: a whole number in [0, 2**64)")
    return Grid(tuple(knobs), sample, seed)


def resolve(grid: Grid, base: str) -> Resolved:
    """Checks every point of the grid over the base spec. Raises UsageError when none is valid."""
    base_config = _core.parse_spec(base)
    if base_config["allocator"] != "pymalloc":
        raise UsageError(f"--base {base}: a sweep varies pymalloc options; give a pymalloc spec")
    out = Resolved()
    for index in grid.indices():
        point = grid.point(index)
        try:
            spec = _core.parse_spec(point.spec_over(base_config))["spec"]
        except _core.ConfigError as error:
            out.skipped.append((point, str(error)))
            continue
        out.points.append(point)
        out.specs[point.label] = spec
    if not out.points:
        reasons = sorted({reason for _, reason in out.skipped})
        raise UsageError(f"no point of the grid is valid ({len(out.skipped)} skipped; e.g. {reasons[0]})")
    return out
