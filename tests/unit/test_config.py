"""Specs, presets and the option table: what is accepted, what is refused and how."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

import allocbench

DEFAULT = (
    "pymalloc:threshold=512,alignment=16,pool_size=16K,arena_size=1M,arena_release=keep-one,"
    "pool_purge=none,arena_order=most-used-first,arena_alignment=cpython,arena_hugepages=none,arena_source=mmap"
)


def test_cpython_311_preset_is_the_fact_sheet_row() -> None:
    assert allocbench.parse_spec("pymalloc")["spec"] == DEFAULT
    assert allocbench.parse_spec("pymalloc:preset=cpython-3.11")["spec"] == DEFAULT


@pytest.mark.parametrize(
    "preset, expected",
    [
        ("cpython-3.9", dict(threshold="512", alignment="16", pool_size="4K", arena_size="256K", arena_release="keep-one")),
        ("cpython-3.8", dict(threshold="512", alignment="16", pool_size="4K", arena_size="256K", arena_release="immediate")),
        ("cpython-3.7", dict(threshold="512", alignment="8", pool_size="4K", arena_size="256K", arena_release="immediate")),
        ("cpython-2.5", dict(threshold="256", alignment="8", pool_size="4K", arena_size="256K", arena_release="immediate")),
        ("cpython-2.4", dict(threshold="256", alignment="8", pool_size="4K", arena_size="256K", arena_release="never")),
    ],
)
def test_era_presets(preset: str, expected: dict) -> None:
    config = allocbench.parse_spec(f"pymalloc:preset={preset}")
    assert config["preset"] == preset
    assert {k: config[k] for k in expected} == expected
    assert config["arena_alignment"] == "cpython"


def test_every_preset_cites_the_fact_sheet() -> None:
    for preset in allocbench.presets():
        assert "pymalloc-facts.md" in preset["description"], preset["name"]
        assert allocbench.parse_spec(preset["spec"])["spec"] == preset["spec"]


def test_overrides_apply_after_the_preset_whatever_their_order() -> None:
    a = allocbench.parse_spec("pymalloc:pool_size=64K,preset=cpython-3.9,arena_release=never")
    b = allocbench.parse_spec("pymalloc:preset=cpython-3.9,pool_size=64K,arena_release=never")
    assert a == b
    assert a["pool_size"] == "64K" and a["arena_size"] == "256K" and a["arena_release"] == "never"


def test_sizes_take_k_and_m_suffixes() -> None:
    assert allocbench.parse_spec("pymalloc:arena_size=4M,pool_size=65536")["spec"].count("pool_size=64K,arena_size=4M") == 1


def test_option_table_declares_every_option_once() -> None:
    names = [o["name"] for o in allocbench.options()]
    assert len(names) == len(set(names))
    assert set(names) == {k for k in allocbench.parse_spec("pymalloc") if k not in ("allocator", "preset", "spec")}
    assert all(o["unit"] and o["allowed"] and o["help"] for o in allocbench.options())


@pytest.mark.parametrize("kind", ["system", "cpython", "floor"])
def test_other_kinds(kind: str) -> None:
    assert allocbench.parse_spec(kind) == {"allocator": kind, "spec": kind}


@pytest.mark.parametrize(
    "spec, names",
    [
        ("pymalloc:pool_size=3000", ["pool_size=3000", "power of two"]),
        ("pymalloc:pool_size=2K", ["pool_size=2K", "4K to 256K"]),
        ("pymalloc:arena_size=32K", ["arena_size=32K", "at least 4 pools"]),
        ("pymalloc:arena_size=128M", ["arena_size=128M", "to 64M"]),
        ("pymalloc:threshold=4096", ["threshold=4096", "at least 4 blocks"]),
        ("pymalloc:threshold=8192,pool_size=256K", ["threshold=8192", "to 4K"]),
        ("pymalloc:threshold=100", ["threshold=100", "multiple of alignment"]),
        ("pymalloc:alignment=32", ["alignment=32", "from 8 to 16"]),
        ("pymalloc:preset=cpython-9.9", ["preset=cpython-9.9", "cpython-3.11"]),
        ("pymalloc:poolsize=16K", ["'poolsize'", "unknown", "pool_size"]),
        ("pymalloc:pool_size=-4K", ["pool_size=-4K"]),
        ("pymalloc:arena_size=-1", ["arena_size=-1"]),
        ("pymalloc:threshold=", ["threshold="]),
        ("pymalloc:arena_release=sometimes", ["arena_release=sometimes", "keep-one"]),
        ("pymalloc:arena_release=keep:0", ["arena_release=keep:0", "keep:N"]),
        ("pymalloc:pool_purge=yes", ["pool_purge=yes", "dontneed"]),
        ("pymalloc:arena_order=random", ["arena_order=random", "most-used-first"]),
        ("pymalloc:arena_alignment=page", ["arena_alignment=page", "aligned"]),
        ("pymalloc:pool_size", ["'pool_size'", "key=value"]),
        ("pymalloc:pool_size=16K,pool_size=32K", ["pool_size=32K", "twice"]),
        ("jemalloc", ["'jemalloc'", "unknown"]),
        ("system:arena_size=1M", ["'system'", "no options"]),
    ],
)
def test_invalid_specs_are_refused_with_one_line_naming_field_and_value(spec: str, names: list[str]) -> None:
    with pytest.raises(allocbench.ConfigError) as caught:
        allocbench.Allocator(spec)
    message = str(caught.value)
    assert "\n" not in message
    for name in names:
        assert name in message, message
    with pytest.raises(ValueError):  # ConfigError is a ValueError for callers that catch those
        allocbench.parse_spec(spec)


@given(st.text(max_size=80))
def test_no_text_crashes_the_parser(text: str) -> None:
    try:
        spec = allocbench.parse_spec(text)
    except allocbench.ConfigError as error:
        assert "\n" not in str(error)
    else:
        assert allocbench.parse_spec(spec["spec"]) == spec


@pytest.mark.integration
def test_cli_reports_a_bad_spec_in_one_line_with_status_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "allocbench", "spec", "pymalloc:pool_size=3000"],
        capture_output=True, text=True, cwd="/",
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "pool_size=3000" in done.stderr and "Traceback" not in done.stderr
