"""The typed option table: every allowed value of every option builds an allocator, the
values just outside each range are refused with one line, ranges enumerate in order, and
the listings (`allocbench list options`, the README table) are the table's own words."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

import allocbench
from allocbench import _core
from allocbench.commands.list import options_markdown

OPTIONS = {o["name"]: o for o in allocbench.options()}
README = Path(__file__).resolve().parents[2] / "README.md"
KiB = 1024

# What each value is built with so that the checks across options hold (a threshold needs a
# pool that fits four of its blocks, an arena four pools, a purged pool a page, ...).
COMPANIONS = {
    "threshold": lambda v: "alignment=8,pool_size=256K",
    "alignment": lambda v: "threshold=256",
    "pool_size": lambda v: "threshold=256,arena_size=64M",
    "arena_size": lambda v: "pool_size=4K,threshold=256",
    "arena_alignment": lambda v: "",
    "arena_hugepages": lambda v: "",
    "arena_source": lambda v: "arena_alignment=cpython",
}


def build(name: str, value: str) -> allocbench.Allocator:
    extra = COMPANIONS.get(name, lambda v: "")(value)
    return allocbench.Allocator(f"pymalloc:{name}={value}" + (f",{extra}" if extra else ""))


def all_values(option: dict) -> list[str]:
    if option["kind"] == "word or keep:N":
        return allocbench.option_values(option["name"], None, option["max"])
    return allocbench.option_values(option["name"])


def test_every_option_has_a_kind_a_range_and_a_default_inside_it():
    for option in OPTIONS.values():
        assert option["kind"] in ("power-of-two bytes", "bytes in steps", "word", "word or keep:N")
        assert option["default"] in all_values(option)
        assert _core.check_option_value(option["name"], option["default"]) == option["default"]


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_every_allowed_value_builds_an_allocator(name):
    option = OPTIONS[name]
    values = all_values(option)
    if option["kind"] == "word or keep:N":
        # keep:N has a million values: all of them enumerate, every word and N up to 1000
        # and a seeded sample of the rest build.
        assert len(values) == len(option["words"]) + 1_000_000
        rng = random.Random(1)
        values = values[: len(option["words"]) + 1000] + rng.sample(values[1003:], 2000) + [values[-1]]
    for value in values:
        allocator = build(name, value)
        assert allocator.config[name] == value, (name, value)
        assert allocator.is_valid() == ""


JUST_OUTSIDE = {
    "threshold": ["0", "4100", "4104", "12", "8K"],
    "alignment": ["4", "32", "12", "0"],
    "pool_size": ["2K", "512K", "24K", "0"],
    "arena_size": ["8K", "128M", "3M", "0"],
    "arena_release": ["keep:0", "keep:1000001", "keep:", "keep:-1", "keep-two", ""],
    "pool_purge": ["never", "DONTNEED", ""],
    "arena_order": ["most-used", "fifo", ""],
    "arena_alignment": ["unaligned", ""],
    "arena_hugepages": ["always", "hugetlb", ""],
    "arena_source": ["sbrk", "calloc", ""],
}


def test_every_option_has_values_just_outside_it():
    assert set(JUST_OUTSIDE) == set(OPTIONS)


@pytest.mark.parametrize("name, value", [(n, v) for n, vs in sorted(JUST_OUTSIDE.items()) for v in vs])
def test_values_just_outside_each_range_are_one_line_errors(name, value):
    with pytest.raises(allocbench.ConfigError) as caught:
        build(name, value)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{name}={value}: ")
    with pytest.raises(allocbench.ConfigError):
        _core.check_option_value(name, value)


@pytest.mark.parametrize(
    "name, low, high, expected",
    [
        ("arena_size", "256K", "4M", ["256K", "512K", "1M", "2M", "4M"]),
        ("pool_size", "4K", "16K", ["4K", "8K", "16K"]),
        ("threshold", "480", "512", ["480", "488", "496", "504", "512"]),
        ("arena_release", "immediate", "keep:2", ["immediate", "keep-one", "keep:1", "keep:2"]),
        ("arena_order", None, None, ["most-used-first", "lifo", "address"]),
        ("alignment", "8", "8", ["8"]),
    ],
)
def test_ranges_enumerate_in_the_options_order(name, low, high, expected):
    assert allocbench.option_values(name, low, high) == expected


@pytest.mark.parametrize(
    "name, low, high, message",
    [
        ("arena_size", "4M", "256K", "the first value comes after the last"),
        ("arena_size", "3M", "4M", "arena_size=3M: a power of two"),
        ("arena_release", None, None, "keep:N takes up to 1000000 values"),
        ("nope", None, None, "pymalloc option 'nope': unknown"),
    ],
)
def test_bad_ranges_are_one_line_errors(name, low, high, message):
    with pytest.raises(allocbench.ConfigError, match=re.escape(message)):
        allocbench.option_values(name, low, high)


def test_combinations_across_options_are_refused_by_validate():
    for spec, message in [
        ("pymalloc:arena_source=malloc,arena_alignment=aligned", "needs arena_source=mmap"),
        ("pymalloc:arena_source=malloc,arena_hugepages=madvise", "needs arena_source=mmap"),
        ("pymalloc:alignment=16,threshold=504", "a multiple of alignment (16)"),
        ("pymalloc:pool_size=64K,arena_size=128K", "at least 4 pools (256K)"),
    ]:
        with pytest.raises(allocbench.ConfigError, match=re.escape(message)):
            allocbench.parse_spec(spec)


def test_list_options_prints_each_kind_and_range_from_the_table():
    done = subprocess.run([sys.executable, "-m", "allocbench", "list", "options"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(OPTIONS)
    assert "bytes: powers of two, 16K..64M" in lines[list(OPTIONS).index("arena_size")]
    assert "word: never | immediate | keep-one | keep:N (keep:1..keep:1000000)" in lines[list(OPTIONS).index("arena_release")]


def test_the_readme_table_is_the_tables_own():
    assert options_markdown(allocbench.options()) in README.read_text()


def test_huge_page_advice_is_given_once_per_arena():
    a = allocbench.Allocator("pymalloc:arena_hugepages=madvise,arena_size=2M,arena_alignment=aligned")
    handles = [a.malloc(512) for _ in range(5000)]
    stats = a.stats()
    assert stats["madvise_calls"] == stats["arenas_allocated_total"] >= 2
    for h in handles:
        a.free(h)
    assert a.is_valid() == ""


def test_arenas_from_malloc_come_from_the_lower_allocator_and_go_back_to_it():
    a = allocbench.Allocator("pymalloc:arena_source=malloc,arena_release=immediate,arena_size=256K")
    handles = [a.malloc(256) for _ in range(3000)]
    stats = a.stats()
    assert stats["mmap_calls"] == 0 and stats["arena_malloc_calls"] == stats["arenas_allocated_total"] >= 3
    assert stats["arena_alignment_bytes"] == stats["arenas_current"] * 16 * KiB  # malloc gives no pool alignment
    for h in handles:
        a.free(h)
    stats = a.stats()
    assert stats["arena_free_calls"] == stats["arena_malloc_calls"] and stats["arenas_current"] == 0
    assert a.is_valid() == ""
