"""Property tests of the pymalloc model over random valid configs and random op sequences.

A Python model of what must happen (which blocks are live, their sizes, who owns them, what
realloc must do) runs beside the C++ allocator; after every step every live block still
holds its pattern (no overlap), the allocator's own invariant check passes (lists, counts,
arena map, and the accounting identity of sys._debugmallocstats), and the routing and
statistics agree with the model.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import allocbench

KiB = 1024
MiB = 1024 * KiB


def block_size(n: int, alignment: int) -> int:
    return ((n - 1) // alignment + 1) * alignment


@st.composite
def configs(draw) -> dict:
    alignment = draw(st.sampled_from([8, 16]))
    pool_size = draw(st.sampled_from([4 * KiB, 8 * KiB, 16 * KiB, 64 * KiB, 256 * KiB]))
    largest = min(4096, (pool_size - 48) // 4 // alignment * alignment)
    threshold = draw(st.integers(1, largest // alignment)) * alignment
    # Small arenas (4 to 16 pools) so that short sequences create and release many of them.
    arena_size = pool_size * draw(st.sampled_from([4, 8, 16]))
    release = draw(st.sampled_from(["never", "immediate", "keep-one", "keep:1", "keep:2", "keep:3"]))
    # Arenas from the lower allocator's malloc come at its alignment, so they combine with
    # neither aligned arenas nor huge-page advice (validate() refuses both).
    source = draw(st.sampled_from(["mmap", "mmap", "malloc"]))
    return {
        "threshold": threshold,
        "alignment": alignment,
        "pool_size": pool_size,
        "arena_size": arena_size,
        "arena_release": release,
        "pool_purge": draw(st.sampled_from(["none", "dontneed", "free"])),
        "arena_order": draw(st.sampled_from(["most-used-first", "lifo", "address"])),
        "arena_alignment": "cpython" if source == "malloc" else draw(st.sampled_from(["cpython", "aligned"])),
        "arena_hugepages": "none" if source == "malloc" else draw(st.sampled_from(["none", "madvise"])),
        "arena_source": source,
    }


def spec_of(config: dict) -> str:
    return "pymalloc:" + ",".join(f"{k}={v}" for k, v in config.items())


def request_sizes(threshold: int):
    return st.one_of(
        st.integers(1, threshold),
        st.integers(max(1, threshold - 64), threshold),  # the largest classes fill arenas fast
        st.just(0),
        st.integers(threshold + 1, threshold + 3000),
    )


class Model:
    """What the allocator must look like from outside."""

    def __init__(self, allocator: allocbench.Allocator, config: dict):
        self.a = allocator
        self.threshold = config["threshold"]
        self.alignment = config["alignment"]
        self.source = config["arena_source"]
        self.aligned = config["arena_alignment"] == "aligned"
        self.live: dict[int, tuple[int, int]] = {}  # handle -> (size, pattern seed)
        self.blocks: dict[int, int] = {}  # handle -> block size, for blocks pymalloc owns
        self.serial = 0

    def served_by_pymalloc(self, n: int) -> bool:
        return 1 <= n <= self.threshold

    def add(self, handle: int, size: int, block: int | None = None) -> None:
        assert handle not in self.live, "a live block was handed out twice"
        if self.a.owns(handle):
            assert handle % self.alignment == 0, f"block {handle:#x} not {self.alignment}-aligned"
            self.blocks[handle] = block or block_size(size, self.alignment)
        self.serial += 1
        seed = self.serial % 251
        self.a.fill(handle, seed)
        self.live[handle] = (size, seed)

    def malloc(self, n: int) -> None:
        handle = self.a.malloc(n)
        assert bool(self.a.owns(handle)) == self.served_by_pymalloc(n)
        self.add(handle, n)

    def calloc(self, count: int, size: int) -> None:
        handle = self.a.calloc(count, size)
        assert self.a.read(handle, count * size) == bytes(count * size)
        assert bool(self.a.owns(handle)) == self.served_by_pymalloc(count * size)
        self.add(handle, count * size)

    def free(self, handle: int) -> None:
        size, seed = self.live.pop(handle)
        self.blocks.pop(handle, None)
        assert self.a.check(handle, seed), "a live block was overwritten"
        self.a.free(handle)

    def realloc(self, handle: int, n: int) -> None:
        old_size, seed = self.live.pop(handle)
        block = self.blocks.pop(handle, None)
        prefix = self.a.read(handle, min(old_size, n))
        new = self.a.realloc(handle, n)
        assert self.a.read(new, min(old_size, n)) == prefix, "realloc lost the prefix"
        stays = block is not None and n <= block and 4 * n > 3 * block
        if block is not None:
            assert (new == handle) == stays, "realloc did not follow CPython's 3/4 rule"
            assert bool(self.a.owns(new)) == self.served_by_pymalloc(n)
        else:
            assert not self.a.owns(new), "a foreign block moved into pymalloc on realloc"
        self.add(new, n, block if stays else None)

    def check(self) -> None:
        problem = self.a.is_valid()
        assert problem == "", problem
        for handle, (_, seed) in self.live.items():
            assert self.a.check(handle, seed), "a live block was overwritten"
        stats = self.a.stats()
        assert stats["live_bytes"] == sum(s for s, _ in self.live.values())
        assert all(bool(self.a.owns(h)) == (h in self.blocks) for h in self.live)
        assert stats["live_block_bytes"] == sum(self.blocks.values())
        assert stats["passthrough_live_objects"] == len(self.live) - len(self.blocks)
        assert stats["peak_live_bytes"] >= stats["live_bytes"]
        assert stats["bytes_mapped"] == stats["arena_bytes"]
        # Each arena comes from the one source the config names, and goes back to it.
        arena_calls = ("arena_malloc_calls", "arena_free_calls") if self.source == "malloc" else ("mmap_calls", "munmap_calls")
        other = ("mmap_calls",) if self.source == "malloc" else ("arena_malloc_calls", "arena_free_calls")
        assert stats[arena_calls[0]] >= stats["arenas_allocated_total"]
        if not self.aligned:
            assert stats[arena_calls[0]] - stats[arena_calls[1]] == stats["arenas_current"]
        assert all(stats[name] == 0 for name in other)


@settings(max_examples=max(150, settings.default.max_examples))
@given(config=configs(), data=st.data())
def test_random_operations_keep_every_invariant(config: dict, data: st.DataObject) -> None:
    allocator = allocbench.Allocator(spec_of(config))
    model = Model(allocator, config)
    sizes = request_sizes(config["threshold"])
    for _ in range(data.draw(st.integers(1, 150), label="steps")):
        action = data.draw(
            st.sampled_from(["malloc", "malloc", "burst", "calloc", "free", "free", "drain", "realloc"])
        )
        handles = sorted(model.live)
        if action == "malloc" or (action in ("free", "drain", "realloc") and not handles):
            model.malloc(data.draw(sizes))
        elif action == "burst":  # many blocks of one size: fills pools and arenas
            size = data.draw(sizes)
            for _ in range(data.draw(st.integers(2, 80))):
                model.malloc(size)
                model.check()
        elif action == "drain":  # free a random share: empties pools and arenas
            for handle in handles:
                if data.draw(st.booleans()):
                    model.free(handle)
                    model.check()
        elif action == "calloc":
            model.calloc(data.draw(st.integers(0, 16)), data.draw(st.integers(0, 64)))
        elif action == "free":
            model.free(data.draw(st.sampled_from(handles)))
        else:
            model.realloc(data.draw(st.sampled_from(handles)), data.draw(sizes))
        model.check()

    for handle in data.draw(st.permutations(sorted(model.live))):
        model.free(handle)
    model.check()
    stats = allocator.stats()
    assert stats["live_bytes"] == 0 and stats["passthrough_live_bytes"] == 0
    kept = stats["arenas_current"]
    release = config["arena_release"]
    if release == "immediate":
        assert kept == 0
    elif release == "keep-one":
        assert kept <= 1
    elif release.startswith("keep:"):
        assert kept <= int(release[5:])
    else:
        assert kept == stats["arenas_allocated_total"], "arena_release=never returned an arena"


@pytest.mark.parametrize("release, expected_left", [("immediate", 0), ("keep-one", 1), ("keep:3", 3), ("never", 8)])
def test_release_policy_after_filling_eight_arenas(release: str, expected_left: int) -> None:
    """Eight arenas of 512-byte blocks, freed in allocation order: what each policy keeps."""
    a = allocbench.Allocator(
        f"pymalloc:pool_size=4K,arena_size=16K,threshold=512,arena_alignment=aligned,arena_release={release}"
    )
    blocks_per_arena = 4 * ((4096 - 48) // 512)
    handles = [a.malloc(512) for _ in range(8 * blocks_per_arena)]
    assert a.stats()["arenas_current"] == 8
    for h in handles:
        a.free(h)
    stats = a.stats()
    assert stats["arenas_current"] == expected_left
    assert stats["arenas_reclaimed"] == 8 - expected_left
    assert stats["munmap_calls"] >= 8 - expected_left
    assert a.is_valid() == ""


def test_most_used_first_prefers_the_fullest_arena() -> None:
    """After freeing most of arena A and a little of arena B, new pools come from B (fewer
    free pools), as CPython's sorted usable_arenas list does."""
    a = allocbench.Allocator("pymalloc:pool_size=4K,arena_size=64K,arena_alignment=aligned")
    per_pool = (4096 - 48) // 512
    per_arena = 16 * per_pool
    first = [a.malloc(512) for _ in range(per_arena)]
    second = [a.malloc(512) for _ in range(per_arena)]
    for h in first[: 12 * per_pool]:  # arena A: 12 free pools
        a.free(h)
    for h in second[: 2 * per_pool]:  # arena B: 2 free pools
        a.free(h)
    arena_b = {h & ~(64 * KiB - 1) for h in second}
    new = a.malloc(512)
    assert new & ~(64 * KiB - 1) in arena_b
    assert a.is_valid() == ""


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.parametrize("purge", ["none", "dontneed"])
def test_purge_gives_pages_back_and_counts_them(purge: str) -> None:
    """40,000 blocks of 256 B written whole (about 10 MiB), then all freed, arenas kept: the
    pages stay resident without purging and go back to the OS with it."""
    a = allocbench.Allocator(f"pymalloc:pool_purge={purge},arena_release=never")
    before = resident_bytes()
    handles = [a.malloc(256) for _ in range(40_000)]
    for h in handles:
        a.fill(h, 7)
    written = resident_bytes()
    for h in handles:
        a.free(h)
    after = resident_bytes()
    stats = a.stats()
    assert written - before > 8 * MiB and a.is_valid() == ""
    assert stats["arenas_current"] == stats["arenas_allocated_total"] >= 10
    if purge == "none":
        assert after - before > 8 * MiB, "freed pools stay resident without purging"
        assert stats["madvise_calls"] == 0 and stats["bytes_purged_current"] == 0
    else:
        assert after < written - 8 * MiB, "purged pools were not given back"
        assert stats["bytes_purged_current"] == stats["madvise_calls"] * 16 * KiB >= 10 * MiB - 16 * KiB * 10
        again = [a.malloc(256) for _ in range((16 * KiB - 48) // 256)]  # one purged pool, taken again
        assert a.stats()["bytes_purged_current"] == stats["bytes_purged_current"] - 16 * KiB
        for h in again:
            a.free(h)
    assert a.is_valid() == ""
