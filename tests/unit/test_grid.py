"""A sweep's grid: knobs and their values (lists and ranges from the typed option table),
the product, seeded samples, points checked whole with the reasons of those skipped; the
Pareto front; the sweep file."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import allocbench
from allocbench.errors import UsageError
from allocbench.grid import Grid, Knob, make_grid, parse_knob, resolve
from allocbench.pareto import front
from allocbench.sweep import SweepRequest, make_plan, read_sweep_file


@pytest.mark.parametrize("text, name, values", [
    ("pool_size=4K,16K,64K", "pool_size", ("4K", "16K", "64K")),
    ("pool_size=4096, 16384", "pool_size", ("4K", "16K")),
    ("arena_size=256K..4M", "arena_size", ("256K", "512K", "1M", "2M", "4M")),
    ("arena_release=never,keep:2,keep-one", "arena_release", ("never", "keep:2", "keep-one")),
    ("arena_release=keep-one..keep:3", "arena_release", ("keep-one", "keep:1", "keep:2", "keep:3")),
    ("threshold=496..512", "threshold", ("496", "504", "512")),
    ("arena_source=mmap,malloc", "arena_source", ("mmap", "malloc")),
    ("arena_hugepages=none..madvise", "arena_hugepages", ("none", "madvise")),
])
def test_knobs_take_lists_and_ranges_in_canonical_form(text, name, values):
    assert parse_knob(text) == Knob(name, values)


@pytest.mark.parametrize("text, error, fragment", [
    ("pool_size", UsageError, "expected KNOB=V1,V2,... or KNOB=A..B"),
    ("=4K", UsageError, "expected KNOB"),
    ("pool_size=", UsageError, "expected KNOB"),
    ("pool_sizes=4K", allocbench.ConfigError, "pymalloc option 'pool_sizes': unknown"),
    ("pool_size=3K", allocbench.ConfigError, "pool_size=3K: a power of two"),
    ("pool_size=4K,,16K", allocbench.ConfigError, "pool_size=: "),
    ("pool_size=4K,4096", UsageError, "a value is given twice"),
    ("pool_size=64K..4K", allocbench.ConfigError, "the first value comes after the last"),
    ("arena_release=never..keep:2000000", allocbench.ConfigError, "keep:2000000"),
    ("preset=cpython-3.8", UsageError, "give presets with --base or -a"),
])
def test_bad_knobs_are_one_line_errors(text, error, fragment):
    with pytest.raises(error) as caught:
        parse_knob(text)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_the_grid_checks_its_knobs_as_a_whole():
    with pytest.raises(UsageError, match="the grid is empty"):
        make_grid([])
    with pytest.raises(UsageError, match="--grid pool_size is given twice"):
        make_grid([parse_knob("pool_size=4K"), parse_knob("pool_size=16K")])
    with pytest.raises(UsageError, match="--sample 0"):
        make_grid([parse_knob("pool_size=4K")], sample=0)
    with pytest.raises(UsageError, match="more than 100,000"):
        make_grid([parse_knob("threshold=16..4K"), parse_knob("arena_release=never..keep:400")]).indices()


def test_points_enumerate_the_product_last_knob_fastest():
    grid = make_grid([parse_knob("pool_size=4K,16K"), parse_knob("arena_release=never,immediate,keep-one")])
    labels = [grid.point(i).label for i in grid.indices()]
    assert grid.size == 6 and len(set(labels)) == 6
    assert labels[:3] == ["pool_size=4K,arena_release=never", "pool_size=4K,arena_release=immediate",
                          "pool_size=4K,arena_release=keep-one"]


@given(sizes=st.lists(st.integers(1, 6), min_size=1, max_size=4), sample=st.integers(1, 50), seed=st.integers(0, 2**32))
def test_samples_are_distinct_points_and_repeat_with_their_seed(sizes, sample, seed):
    knobs = [Knob(f"k{i}", tuple(f"v{j}" for j in range(n))) for i, n in enumerate(sizes)]
    grid = Grid(tuple(knobs), sample, seed)
    indices = grid.indices()
    assert indices == sorted(set(indices)) and len(indices) == min(sample, grid.size)
    assert all(0 <= i < grid.size for i in indices)
    assert Grid(tuple(knobs), sample, seed).indices() == indices
    points = {grid.point(i) for i in indices}
    assert len(points) == len(indices)


def test_sampling_a_huge_grid_never_builds_the_product():
    grid = make_grid([parse_knob("threshold=16..4K"), parse_knob("arena_release=never..keep:100000")], sample=5, seed=1)
    assert grid.size > 50_000_000 and len(grid.indices()) == 5


def test_invalid_combinations_are_skipped_with_their_reason():
    grid = make_grid([parse_knob("pool_size=16K,64K"), parse_knob("arena_size=128K,256K")])
    resolved = resolve(grid, "pymalloc:preset=cpython-3.11")
    assert [p.label for p in resolved.points] == ["pool_size=16K,arena_size=128K", "pool_size=16K,arena_size=256K",
                                                  "pool_size=64K,arena_size=256K"]
    ((point, reason),) = resolved.skipped
    assert point.label == "pool_size=64K,arena_size=128K" and "at least 4 pools (256K)" in reason
    assert resolved.specs["pool_size=16K,arena_size=128K"] == allocbench.parse_spec(
        "pymalloc:pool_size=16K,arena_size=128K")["spec"]


def test_knobs_override_the_base_and_a_wholly_invalid_grid_is_refused():
    resolved = resolve(make_grid([parse_knob("pool_size=16K")]), "pymalloc:preset=cpython-3.9,arena_size=1M")
    assert "pool_size=16K" in resolved.specs["pool_size=16K"] and "arena_size=1M" in resolved.specs["pool_size=16K"]
    with pytest.raises(UsageError, match="no point of the grid is valid"):
        resolve(make_grid([parse_knob("arena_size=16K,32K")]), "pymalloc:pool_size=16K")
    with pytest.raises(UsageError, match="a sweep varies pymalloc options"):
        resolve(make_grid([parse_knob("pool_size=16K")]), "system")


MEASURE = st.one_of(st.floats(0, 10), st.sampled_from([0.5, 1.0, 2.0]), st.just(math.nan))


@given(st.lists(st.tuples(MEASURE, MEASURE), max_size=30))
def test_the_front_is_exactly_the_undominated_points(values):
    points = list(enumerate(values))
    on = set(front(points))

    def dominates(a, b):
        return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))

    measured = [(k, v) for k, v in points if not any(math.isnan(x) for x in v)]
    for key, value in measured:
        assert (key in on) == (not any(dominates(other, value) for _, other in measured))
    assert all(not any(math.isnan(x) for x in values[k]) for k in on)


def test_a_sweep_file_gives_the_same_request_as_the_command_line(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text('suite = "small-objects"\nbase = "pymalloc:preset=cpython-3.11"\ntime = "none"\nmode = "fast"\n'
                    'references = ["cpython"]\n[grid]\npool_size = ["4K", "16K"]\narena_size = "256K..1M"\n'
                    '[sample]\npoints = 3\nseed = 7\n')
    request = read_sweep_file(path)
    assert request.grid == ["pool_size=4K,16K", "arena_size=256K..1M"]
    assert (request.time, request.mode, request.references, request.sample, request.seed) == ("none", "fast", ["cpython"], 3, 7)
    assert request.file["grid"]["pool_size"] == ["4K", "16K"]


@pytest.mark.parametrize("text, fragment", [
    ("suite = 3\n[grid]\npool_size = ['4K']\n", "suite must be a string"),
    ("[grid]\npool_size = 4\n", "grid.pool_size must be a list of values"),
    ("[grid]\npool_size = []\n", "grid.pool_size must be a list of values"),
    ("colour = 'red'\n", "unknown key(s) colour"),
    ("[sample]\npoints = 'many'\n", "sample.points must be a whole number"),
    ("references = 'cpython'\n", "references must be a list"),
    ("[grid\n", "not valid TOML"),
])
def test_bad_sweep_files_are_one_line_errors(tmp_path, text, fragment):
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        read_sweep_file(path)
    assert fragment in str(caught.value)


def test_the_plan_puts_the_base_among_the_points_when_it_is_one(tmp_path):
    request = SweepRequest(suite="small-objects", grid=["pool_size=4K,16K", "arena_release=never,keep-one"],
                           references=["system"], output=tmp_path / "out")
    plan = make_plan(request)
    labels = [a.label for a in plan.allocators()]
    assert plan.base.label == "pool_size=16K,arena_release=keep-one" and labels.count(plan.base.label) == 1
    assert labels[-1] == "system" and len(labels) == 5
    plan = make_plan(SweepRequest(suite="small-objects", grid=["pool_size=4K,64K"], references=[], output=tmp_path / "o2"))
    assert [a.label for a in plan.allocators()] == ["pymalloc:preset=cpython-3.11", "pool_size=4K", "pool_size=64K"]
    assert not (tmp_path / "out").exists() and not (tmp_path / "o2").exists()
