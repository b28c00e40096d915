"""Synthetic generators: deterministic bytes, the recorded parameters, the patterns they claim
(CPython's list over-allocation, threshold crossings, scattered survivors), and one-line
errors for bad input."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import allocbench
from allocbench.generate import generators
from allocbench.trace import OPS, Trace

# Small instances of every generator (a few thousand ops each).
SMALL = {
    "churn": {"live": 200, "pairs": 2000},
    "size-ramp": {"max_size": 600, "per_size": 2, "rounds": 2},
    "survivors": {"blocks": 5000, "keep": 0.01, "free_survivors": True},
    "sawtooth": {"peak": 8000, "cycles": 3},
    "list-growth": {"lists": 10, "appends": 3000, "max_items": 200},
    "string-growth": {"strings": 10, "appends": 3000, "max_length": 700},
}


def records_of(path) -> np.ndarray:
    return np.concatenate([records for _, records in Trace(path).chunks()])


def test_every_generator_has_a_small_instance_here():
    assert sorted(g["name"] for g in generators()) == sorted(SMALL)


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_same_seed_same_bytes_other_seed_other_bytes(kind, tmp_path):
    paths = [tmp_path / f"{name}.abt" for name in ("a", "b", "c")]
    for path, seed in zip(paths, (7, 7, 8)):
        allocbench.generate(kind, path, seed=seed, **SMALL[kind])
    a, b, c = (p.read_bytes() for p in paths)
    assert a == b
    assert a != c


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_metadata_records_generator_every_parameter_and_seed(kind, tmp_path):
    path = tmp_path / "t.abt"
    allocbench.generate(kind, path, seed=12345, **SMALL[kind])
    metadata = Trace(path).metadata
    assert metadata["source"] == "allocbench generate"
    assert metadata["generator"] == kind
    assert metadata["seed"] == 12345
    declared = next(g for g in generators() if g["name"] == kind)["params"]
    assert list(metadata["parameters"]) == [p["name"] for p in declared]
    for name, value in SMALL[kind].items():
        recorded = metadata["parameters"][name]
        assert recorded == (("yes" if value else "no") if isinstance(value, bool) else value)


def test_ids_are_recycled_so_the_id_space_is_the_live_set(tmp_path):
    summary = allocbench.generate("churn", tmp_path / "t.abt", live=300, pairs=5000, lifetime="random")
    assert summary["id_space"] == 300


@pytest.mark.parametrize("lifetime", ["lifo", "fifo", "random"])
def test_churn_lifetimes(lifetime, tmp_path):
    path = tmp_path / "t.abt"
    allocbench.generate("churn", path, live=50, pairs=500, lifetime=lifetime)
    records = records_of(path)
    frees = records[records["op"] == OPS["free"]]["id"][:500]
    allocs = records[records["op"] == OPS["alloc"]]["id"]
    if lifetime == "lifo":  # the block just allocated dies next: always the last id
        assert set(frees.tolist()) == {49}
    elif lifetime == "fifo":  # the oldest dies: ids cycle through the whole live set in order
        assert frees[:100].tolist() == list(range(50)) * 2
    else:
        assert len(set(frees.tolist())) > 40
    assert len(allocs) == 550


def test_list_growth_follows_cpython_list_over_allocation(tmp_path):
    path = tmp_path / "t.abt"
    allocbench.generate("list-growth", path, lists=1, appends=300, max_items=1000, item_size=0)
    records = records_of(path)
    array_ops = records[(records["domain"] == 1) & np.isin(records["op"], [OPS["alloc"], OPS["realloc"]])]
    # What the interpreter itself does: sys.getsizeof(list) = 56 + 8 * capacity.
    expected, grown, previous = [], [], sys.getsizeof([])
    for _ in range(300):
        grown.append(None)
        size = sys.getsizeof(grown)
        if size != previous:
            expected.append(size - sys.getsizeof([]))
            previous = size
    assert array_ops["size"].tolist() == expected
    assert array_ops["size"].max() > 512 >= array_ops["size"].min()  # crosses the threshold


def test_string_growth_resizes_in_place_across_the_threshold(tmp_path):
    path = tmp_path / "t.abt"
    allocbench.generate("string-growth", path, strings=1, appends=200, max_length=100_000, piece=8)
    records = records_of(path)
    reallocs = records[records["op"] == OPS["realloc"]]
    assert (reallocs["id"] == reallocs["arg"]).all()
    assert (np.diff(reallocs["size"].astype(np.int64)) > 0).all()
    assert reallocs["size"].min() < 512 < reallocs["size"].max()


@pytest.mark.parametrize("free_survivors", [True, False])
def test_survivors_leave_the_asked_fraction_live(free_survivors, tmp_path):
    path = tmp_path / "t.abt"
    allocbench.generate("survivors", path, blocks=10_000, keep=0.02, free_survivors=free_survivors)
    stats = allocbench.trace.summarise(path)
    assert stats.peak_live_objects == 10_000
    assert stats.final_live_objects == (0 if free_survivors else 200)


def test_size_table_draws_only_its_sizes_and_is_recorded(tmp_path):
    table = tmp_path / "mix.csv"
    table.write_text("size,weight\n# a comment\n24,3\n64,1\n100,0\n")
    path = tmp_path / "t.abt"
    allocbench.generate("churn", path, live=100, pairs=2000, sizes=f"table:{table}")
    records = records_of(path)
    sizes = records[records["op"] == OPS["alloc"]]["size"]
    assert set(sizes.tolist()) == {24, 64}
    assert 0.65 < np.mean(sizes == 24) < 0.85
    assert Trace(path).metadata["parameters"]["sizes"] == {"table": "mix.csv", "rows": [[24, 3], [64, 1]]}


@pytest.mark.parametrize(
    "kind, params, message",
    [
        ("nope", {}, "unknown generator 'nope' (one of churn, size-ramp, survivors, sawtooth, list-growth, string-growth)"),
        ("churn", {"bogus": 1}, "churn: unknown parameter 'bogus' (parameters: live, pairs, lifetime, sizes, free_at_end)"),
        ("churn", {"live": 0}, "churn: live=0: a whole number in [1, 100000000]"),
        ("churn", {"lifetime": "oldest"}, "churn: lifetime=oldest: one of lifo, fifo, random"),
        ("survivors", {"keep": 1.5}, "survivors: keep=1.5: a number in [0, 1]"),
        ("churn", {"free_at_end": "maybe"}, "churn: free_at_end=maybe: yes or no"),
        ("churn", {"sizes": "uniform:9-3"}, "churn: sizes=uniform:9-3: uniform:LOW-HIGH, fixed:N or table:PATH"),
        ("churn", {"sizes": "fixed:2000000000"}, "churn: sizes=fixed:2000000000: uniform:LOW-HIGH"),
    ],
)
def test_bad_input_is_one_line_naming_it(kind, params, message, tmp_path):
    path = tmp_path / "t.abt"
    with pytest.raises(allocbench.ConfigError) as caught:
        allocbench.generate(kind, path, **params)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)
    assert not path.exists()  # refused before anything is written


def test_bad_table_line_is_named(tmp_path):
    table = tmp_path / "mix.csv"
    table.write_text("size,weight\n16,1\n32;2\n")
    with pytest.raises(allocbench.ConfigError, match=r"sizes=table:.*: line 3: expected SIZE,WEIGHT"):
        allocbench.generate("churn", tmp_path / "t.abt", sizes=f"table:{table}")


def test_the_shipped_mix_is_the_default_table_for_sizes_mix(tmp_path):
    path = tmp_path / "t.abt"
    allocbench.generate("churn", path, live=100, pairs=3000, sizes="mix")
    table = Trace(path).metadata["parameters"]["sizes"]
    assert table["table"] == "size-mix.csv"
    weights = dict(table["rows"])
    drawn = records_of(path)["size"]
    assert set(drawn.tolist()) <= set(weights)
    # Mostly small objects, as recorded: the bulk of the weight is at most 512 bytes.
    assert sum(w for s, w in weights.items() if 0 < s <= 512) > 0.9 * sum(weights.values())
    assert np.mean(drawn <= 512) > 0.9
