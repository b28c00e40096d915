"""The allocator kinds behind the one interface, and the handle table's refusals."""

from __future__ import annotations

import pytest

import allocbench

KINDS = ["pymalloc", "pymalloc:preset=cpython-2.4", "system", "cpython", "floor"]


@pytest.mark.parametrize("spec", KINDS)
def test_malloc_realloc_calloc_free_round_trip(spec: str) -> None:
    a = allocbench.Allocator(spec)
    sizes = [0, 1, 8, 15, 16, 17, 100, 256, 511, 512, 513, 4000, 100_000]
    handles = [a.malloc(n) for n in sizes]
    assert len(set(handles)) == len(handles), "distinct pointers, even for 0 bytes"
    for seed, h in enumerate(handles):
        a.fill(h, seed)
    grown = [a.realloc(h, n + 40) for h, n in zip(handles, sizes)]
    for seed, (h, n) in enumerate(zip(grown, sizes)):
        assert a.read(h, n) == bytes((seed + i * 131) % 256 for i in range(n))
    zeroed = a.calloc(7, 9)
    assert a.read(zeroed, 63) == bytes(63)
    stats = a.stats()
    assert stats["live_bytes"] == sum(n + 40 for n in sizes) + 63
    assert stats["spec"] == a.spec and stats["allocator"] == a.kind
    for h in grown + [zeroed]:
        a.free(h)
    assert a.stats()["live_bytes"] == 0
    assert a.is_valid() == ""
    assert a.live == 0


@pytest.mark.parametrize("spec", KINDS)
def test_handles_that_are_not_live_are_refused(spec: str) -> None:
    a = allocbench.Allocator(spec)
    h = a.malloc(32)
    a.free(h)
    for misuse in (lambda: a.free(h), lambda: a.realloc(h, 8), lambda: a.read(h, 1), lambda: a.free(12345)):
        with pytest.raises(ValueError, match="not live"):
            misuse()
    h = a.malloc(32)
    with pytest.raises(ValueError, match="outside the block"):
        a.write(h, b"x" * 33)
    with pytest.raises(ValueError, match="outside the block"):
        a.read(h, 8, offset=30)
    a.free(h)


def test_ownership_is_exact_where_the_allocator_can_tell() -> None:
    pymalloc = allocbench.Allocator("pymalloc")
    small, large = pymalloc.malloc(64), pymalloc.malloc(1024)
    assert pymalloc.owns(small) is True and pymalloc.owns(large) is False
    floor = allocbench.Allocator("floor")
    assert floor.owns(floor.malloc(64)) is True
    assert allocbench.Allocator("system").owns(small) is None
    assert allocbench.Allocator("cpython").owns(small) is None


def test_pass_through_is_counted() -> None:
    a = allocbench.Allocator("pymalloc")
    handles = [a.malloc(0), a.malloc(513), a.malloc(10_000)]
    stats = a.stats()
    assert stats["passthrough_live_objects"] == 3
    assert stats["passthrough_live_bytes"] == 10_513
    assert stats["passthrough_calls"] == 3
    for h in handles:
        a.free(h)
    assert a.stats()["passthrough_peak_bytes"] == 10_513


def test_system_footprint_comes_from_mallinfo2_only_under_glibc() -> None:
    stats = allocbench.Allocator("system").stats()
    if "libc.so" in stats["malloc_library"]:
        assert stats["footprint_source"] == "mallinfo2"
        assert stats["footprint_bytes"] > 0
    else:  # an interposed malloc (LD_PRELOAD, or AddressSanitizer's): glibc's zeros would lie
        assert stats["footprint_source"].startswith("unavailable")
        assert "footprint_bytes" not in stats


# The interpreter's own pymalloc reports itself only while it is the object allocator: not
# under PYTHONMALLOC=malloc, nor with a variant installed live (ALLOCBENCH_TEST_LIVE).
PYMALLOC_IN_USE = allocbench.Allocator("cpython").debugmallocstats() != ""


@pytest.mark.skipif(not PYMALLOC_IN_USE, reason="the interpreter's pymalloc is not its object allocator")
def test_cpython_reports_the_interpreters_own_arenas() -> None:
    a = allocbench.Allocator("cpython")
    stats = a.stats()
    assert stats["arenas_current"] >= 1 and stats["arena_size"] == 1 << 20
    assert a.debugmallocstats().startswith("Small block threshold = 512, in 32 size classes.")


def test_debugmallocstats_has_cpythons_layout() -> None:
    a = allocbench.Allocator("pymalloc")
    handles = [a.malloc(48) for _ in range(1000)]
    text = a.debugmallocstats()
    lines = text.splitlines()
    assert lines[0] == "Small block threshold = 512, in 32 size classes."
    assert "class   size   num pools   blocks in use  avail blocks" in lines
    # 48-byte blocks: (16384 - 48) // 48 = 340 a pool, so 1000 take 3 pools and leave 20.
    assert "    2     48           3            1000            20" in lines
    assert any(line.startswith("1 arenas * 1048576 bytes/arena     =            1,048,576") for line in lines)
    total = [line for line in lines if line.startswith("Total")]
    assert total == ["Total                              =            1,048,576"]
    for h in handles:
        a.free(h)
