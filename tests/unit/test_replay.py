"""The replay engine: every generator's trace on every kind of allocator, results that agree
across allocators, the timeline, touch modes, foreign ops, loops, and the one-line error
(with the op index) for each bad trace, after which the allocator holds nothing."""

from __future__ import annotations

import resource

import pytest

import allocbench
from allocbench.replay import time_harness_only, time_replay
from allocbench.trace import TraceError, summarise, write_trace
from test_generators import SMALL

ALLOCATORS = ["pymalloc:preset=cpython-3.11", "system", "floor", "cpython"]
META = {"made_by": "test_replay"}


def holds_nothing(allocator: allocbench.Allocator) -> bool:
    """No block live, by every count the allocator keeps (pymalloc counts blocks, not calls)."""
    stats = allocator.stats()
    counts = ("live_bytes", "live_objects", "live_block_bytes", "passthrough_live_objects")
    return all(stats.get(name, 0) == 0 for name in counts) and allocator.is_valid() == ""


@pytest.fixture(scope="module")
def traces(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("traces")
    out = {}
    for kind, params in SMALL.items():
        out[kind] = str(folder / f"{kind}.abt")
        allocbench.generate(kind, out[kind], seed=3, **params)
    return out


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_each_generator_replays_cleanly_and_consistently_everywhere(kind, traces):
    stats = summarise(traces[kind])
    results = []
    for spec in ALLOCATORS:
        allocator = allocbench.Allocator(spec)
        result = allocbench.replay(traces[kind], allocator)
        results.append(result)
        assert result.retained_live_bytes == 0
        assert result.figures["live_bytes"] == 0  # at the end of the trace
        assert holds_nothing(allocator)
        assert result.elapsed_seconds > 0
    for result in results:
        assert result.ops == results[0].ops
        assert result.ops.total == stats.op_count
        assert result.peak_live_bytes == stats.peak_live_bytes
        assert result.peak_live_objects == stats.peak_live_objects


def test_survivors_left_live_by_the_trace_are_reported_then_freed(tmp_path):
    path = tmp_path / "t.abt"
    allocbench.generate("survivors", path, blocks=4000, keep=0.05, sizes="fixed:64", free_survivors=False)
    allocator = allocbench.Allocator("pymalloc:preset=cpython-3.11")
    result = allocbench.replay(path, allocator)
    assert result.retained_live_objects == 200
    assert result.retained_live_bytes == 200 * 64
    assert result.figures["live_bytes"] == 200 * 64
    # Scattered survivors keep every pool they sit in: nothing could be given back.
    assert result.retained_footprint_bytes == result.peak_footprint_bytes
    assert holds_nothing(allocator)


def test_a_fresh_allocator_per_replay_unless_one_is_passed(traces):
    spec = "pymalloc:preset=cpython-3.11,arena_release=never"
    first = allocbench.replay(traces["sawtooth"], spec)
    second = allocbench.replay(traces["sawtooth"], spec)
    assert first.figures["arenas_allocated_total"] == second.figures["arenas_allocated_total"]
    allocator = allocbench.Allocator(spec)
    allocbench.replay(traces["sawtooth"], allocator)
    again = allocbench.replay(traces["sawtooth"], allocator)
    assert again.figures["arenas_allocated_total"] == first.figures["arenas_allocated_total"]  # reused
    assert allocator.stats()["mmap_calls"] == first.figures["mmap_calls"]


def test_pymalloc_peak_footprint_is_its_own_exact_figure(traces):
    result = allocbench.replay(traces["sawtooth"], "pymalloc:preset=cpython-3.11")
    assert result.peak_footprint_exact
    assert result.peak_footprint_bytes == result.figures["peak_footprint_bytes"]
    assert result.peak_footprint_bytes == result.figures["peak_arena_footprint_bytes"]  # nothing passed through
    assert result.peak_footprint_bytes > result.retained_footprint_bytes  # sawtooth drops to nothing
    passthrough = allocbench.replay(traces["size-ramp"], "pymalloc:preset=cpython-3.11", timeline_every=50)
    assert passthrough.peak_footprint_exact  # arenas and pass-through blocks, noted together
    assert passthrough.peak_footprint_bytes == passthrough.figures["peak_footprint_bytes"]
    assert passthrough.peak_footprint_bytes > passthrough.figures["peak_arena_footprint_bytes"]  # sizes up to 600
    assert passthrough.peak_footprint_bytes >= max(s.footprint_bytes for s in passthrough.timeline)


@pytest.mark.parametrize("spec", ["pymalloc:preset=cpython-3.11", "floor", "system", "cpython"])
def test_timeline_every_k_ops(spec, traces):
    stats = summarise(traces["sawtooth"])
    every = 997
    result = allocbench.replay(traces["sawtooth"], spec, timeline_every=every)
    timeline = result.timeline
    assert len(timeline) == stats.op_count // every
    assert [s.op_index for s in timeline] == [every * (i + 1) for i in range(len(timeline))]
    assert max(s.live_bytes for s in timeline) <= result.peak_live_bytes
    assert all(s.rss_bytes > 0 for s in timeline)
    # System malloc tells its footprint only when it is glibc's (not under ASan or a preload);
    # the interpreter's allocator only while its pymalloc is in use (not with a variant live).
    if spec == "system":
        knows = allocbench.Allocator("system").stats()["footprint_source"] == "mallinfo2"
    else:
        knows = spec != "cpython" or allocbench.Allocator("cpython").debugmallocstats() != ""
    if knows:
        assert all(s.footprint_bytes is not None for s in timeline)
        assert result.peak_footprint_bytes >= max(s.footprint_bytes for s in timeline)
    else:
        assert all(s.footprint_bytes is None for s in timeline)
        assert result.peak_footprint_bytes is None
    assert allocbench.replay(traces["sawtooth"], spec).timeline == []


def test_timeline_live_bytes_follow_the_trace(tmp_path):
    path = tmp_path / "t.abt"
    records = [("alloc", "obj", i, 10, 0) for i in range(6)] + [("free", "obj", i, 0, 0) for i in range(6)]
    write_trace(path, records, META)
    timeline = allocbench.replay(path, "floor", timeline_every=2).timeline
    assert [s.live_bytes for s in timeline] == [20, 40, 60, 40, 20, 0]


def minor_faults_of(path, touch: str) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    allocbench.replay(path, "floor", touch=touch)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_touch_modes_write_what_they_say(tmp_path):
    # 200 blocks of 60 KiB from the floor's fresh region: untouched pages cost no fault and the
    # floor writes nothing into its blocks, so the page faults count what the replay wrote.
    path = tmp_path / "t.abt"
    records = [("alloc", "obj", i, 60 * 1024, 0) for i in range(200)] + [("free", "obj", i, 0, 0) for i in range(200)]
    write_trace(path, records, META)
    none, first, whole = (minor_faults_of(path, touch) for touch in ("none", "first", "all"))
    assert 180 <= first - none < 200 * 3  # a page for each block's first byte, give or take the process's own faults
    assert whole - first > 200 * 12  # 15 pages a block, all written


def test_touch_modes_agree_on_everything_but_time(traces):
    results = [allocbench.replay(traces["list-growth"], "pymalloc:preset=cpython-3.11", touch=t) for t in ("none", "first", "all")]
    for result in results[1:]:
        assert result.ops == results[0].ops
        assert result.peak_footprint_bytes == results[0].peak_footprint_bytes


def test_foreign_ops_calloc_and_realloc_to_a_new_id(tmp_path):
    path = tmp_path / "t.abt"
    records = [
        ("foreign_free", "obj", 0, 0, 0),
        ("foreign_realloc", "obj", 0, 100, 0),  # the new block is id 0
        ("calloc", "mem", 1, 10, 8),
        ("realloc", "obj", 0, 700, 2),  # id 0 moves to id 2, past the threshold
        ("free", "mem", 1, 0, 0),
        ("free", "obj", 2, 0, 0),
    ]
    write_trace(path, records, META)
    for spec in ALLOCATORS:
        allocator = allocbench.Allocator(spec)
        result = allocbench.replay(path, allocator, touch="all")
        assert result.ops.as_dict() == {"alloc": 0, "calloc": 1, "realloc": 1, "free": 2, "foreign_realloc": 1, "foreign_free": 1}
        assert result.ops.by_domain == {"raw": 0, "mem": 2, "obj": 4}
        assert result.ops.foreign_free == 1
        assert result.ops.played == 5
        assert result.peak_live_bytes == 780
        assert result.peak_live_objects == 2
        assert holds_nothing(allocator)


def test_loops_sum_the_op_loop_time(traces):
    once = allocbench.replay(traces["churn"], "floor")
    thrice = allocbench.replay(traces["churn"], "floor", loops=3)
    assert thrice.loops == 3
    assert thrice.ops == once.ops
    assert thrice.elapsed_seconds > 0
    assert thrice.ns_per_op == pytest.approx(thrice.elapsed_seconds * 1e9 / (3 * once.ops.played))
    assert time_replay(3, traces["churn"], "pymalloc:preset=cpython-3.11", "first") > 0


def test_footprint_fragmentation_is_peak_footprint_over_peak_live_bytes(traces):
    result = allocbench.replay(traces["churn"], "pymalloc:preset=cpython-3.11")
    assert result.footprint_fragmentation == result.peak_footprint_bytes / result.peak_live_bytes


# Bad traces, built with the writer (which checks only what the format itself requires).
BAD = {
    "free of never allocated id": ([("alloc", "obj", 0, 16, 0), ("free", "obj", 1, 0, 0)], 1, "free of id 1, which is not live"),
    "double free": (
        [("alloc", "obj", 0, 16, 0), ("alloc", "obj", 1, 16, 0), ("free", "obj", 0, 0, 0), ("free", "obj", 0, 0, 0)],
        3,
        "free of id 0, which is not live (freed already)",
    ),
    "free of an id a realloc moved": (
        [("alloc", "obj", 0, 16, 0), ("realloc", "obj", 0, 32, 1), ("free", "obj", 0, 0, 0)],
        2,
        "free of id 0, which is not live (a realloc moved it to another id)",
    ),
    "alloc of a live id": ([("alloc", "obj", 0, 16, 0), ("alloc", "obj", 0, 32, 0)], 1, "alloc gives id 0, which is already live"),
    "realloc of a dead id": (
        [("alloc", "obj", 0, 16, 0), ("free", "obj", 0, 0, 0), ("realloc", "obj", 0, 32, 0)],
        2,
        "realloc of id 0, which is not live (freed already)",
    ),
    "realloc onto a live id": (
        [("alloc", "obj", 0, 16, 0), ("alloc", "obj", 1, 16, 0), ("realloc", "obj", 0, 32, 1)],
        2,
        "realloc gives id 1, which is already live",
    ),
    "absurd alloc": (
        [("alloc", "obj", 0, 16, 0), ("alloc", "obj", 1, (1 << 30) + 1, 0)],
        1,
        "alloc of id 1: absurd size 1073741825 bytes (more than 1073741824)",
    ),
    "absurd calloc": (
        [("alloc", "obj", 0, 16, 0), ("calloc", "obj", 1, 1 << 16, 1 << 15)],
        1,
        "calloc of id 1: absurd size 2147483648 bytes (more than 1073741824)",
    ),
    "absurd realloc": (
        [("alloc", "obj", 0, 16, 0), ("realloc", "obj", 0, 3 << 30, 0)],
        1,
        "realloc of id 0: absurd size 3221225472 bytes (more than 1073741824)",
    ),
}


@pytest.mark.parametrize("spec", ALLOCATORS)
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_trace_is_one_line_with_the_op_index_and_leaves_the_allocator_clean(case, spec, tmp_path):
    records, op_index, message = BAD[case]
    path = tmp_path / "bad.abt"
    # Many good ops first, so the error comes in a later chunk and with live blocks around.
    prefix = [("alloc", "obj", 2 + i, 24, 0) for i in range(70_000)]
    write_trace(path, prefix + records, META)
    allocator = allocbench.Allocator(spec)
    with pytest.raises(TraceError) as caught:
        allocbench.replay(path, allocator, touch="first")
    assert str(caught.value) == f"{path}: op {70_000 + op_index}: {message}"
    assert holds_nothing(allocator)


def test_bad_spec_and_options_are_config_errors(traces):
    with pytest.raises(allocbench.ConfigError, match="bogus"):
        allocbench.replay(traces["churn"], "bogus")
    with pytest.raises(allocbench.ConfigError, match="touch=most: one of none, first, all"):
        allocbench.replay(traces["churn"], "floor", touch="most")
    with pytest.raises(allocbench.ConfigError, match="loops=0"):
        allocbench.replay(traces["churn"], "floor", loops=0)
    with pytest.raises(allocbench.ConfigError, match="touch=most"):
        time_replay(1, traces["churn"], "floor", "most")


def test_the_harness_alone_plays_the_trace_and_checks_it(traces, tmp_path):
    assert time_harness_only(2, traces["list-growth"], "all") > 0
    path = tmp_path / "bad.abt"
    write_trace(path, [("alloc", "obj", 0, 16, 0), ("free", "obj", 0, 0, 0), ("free", "obj", 0, 0, 0)], META)
    with pytest.raises(TraceError, match=r": op 2: free of id 0, which is not live \(freed already\)$"):
        time_harness_only(1, path)
