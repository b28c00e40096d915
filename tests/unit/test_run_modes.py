"""`run --mode`: which workloads a plan runs live, the naming rule of live workloads, and the
agreement of live and replayed times (rank correlations, overlapping intervals)."""

from __future__ import annotations


import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from allocbench.errors import UsageError
from allocbench.plan import RunRequest, make_plan
from allocbench.report.aggregate import Run, _agreement
from allocbench.run_modes import live_name, live_unavailable, replayed_name, replays, runs_live


@given(st.text(min_size=1).filter(lambda name: not name.endswith("@live")))
def test_a_live_name_leads_back_to_its_workload(name):
    assert replayed_name(live_name(name)) == name and live_name(name) != name


def test_modes():
    assert (replays("replay"), runs_live("replay")) == (True, False)
    assert (replays("live"), runs_live("live")) == (False, True)
    assert (replays("both"), runs_live("both")) == (True, True)
    assert live_unavailable("program") is None
    assert "no program" in live_unavailable("generator")


def test_the_plan_runs_the_programs_live_and_replays_every_workload(tmp_path):
    plan = make_plan(RunRequest(suite="small-objects", allocators=["cpython", "system"], run_mode="both",
                                output=tmp_path / "out"))
    programs = [w.name for w in plan.suite.workloads if w.kind == "program"]
    assert programs and [w.name for w in plan.live] == programs
    assert [w.name for w in plan.replayed] == [w.name for w in plan.suite.workloads]
    assert plan.workload_names()[-len(programs):] == [f"{p}@live" for p in programs]
    assert {name for name, _ in plan.not_live} == {w.name for w in plan.suite.workloads if w.kind != "program"}
    assert len(plan.cells()) == 2 * len(plan.workload_names())
    live_only = make_plan(RunRequest(suite="small-objects", allocators=["cpython"], run_mode="live", output=tmp_path / "o"))
    assert live_only.replayed == [] and live_only.workload_names() == [f"{p}@live" for p in programs]


def test_a_plan_refuses_an_unknown_mode_and_an_allocator_that_cannot_run_live(tmp_path):
    with pytest.raises(UsageError, match="--mode 'sideways'"):
        make_plan(RunRequest(run_mode="sideways", output=tmp_path / "out"))
    with pytest.raises(UsageError, match="-a floor: cannot run live"):
        make_plan(RunRequest(allocators=["cpython", "floor"], run_mode="live", output=tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def _cells(times: dict[tuple[str, str], float], baseline: str) -> pd.DataFrame:
    """A report's cells from (allocator, workload) -> mean time: 10 values each, 1% stdev."""
    rows = []
    for (allocator, workload), mean in times.items():
        base = times[(baseline, workload)]
        rows.append({"run": "r", "allocator": allocator, "workload": workload,
                     "mode": "live" if workload.endswith("@live") else "replay",
                     "time_mean": mean, "time_stdev": mean / 100, "time_values": 10,
                     "time_mean_base": base, "time_stdev_base": base / 100, "time_values_base": 10})
    return pd.DataFrame(rows)


def _run(workloads: list[str]) -> Run:
    return Run("r", None, {"workloads": [{"name": w, "mode": "live" if w.endswith("@live") else "replay"} for w in workloads]})


@given(st.lists(st.floats(0.5, 2.0), min_size=3, max_size=6, unique=True), st.floats(0.5, 2.0))
def test_live_and_replay_agree_when_their_ratios_are_proportional(ratios, scale):
    """Live times that are replayed times scaled by one factor rank the allocators alike."""
    allocators = ["base"] + [f"a{i}" for i in range(len(ratios))]
    times = {}
    for allocator, ratio in zip(allocators, [1.0] + ratios):
        times[(allocator, "p")] = ratio
        times[(allocator, "p@live")] = 10 * (1 + (ratio - 1) * scale) if 1 + (ratio - 1) * scale > 0 else 1e-3
    cells = _cells(times, "base")
    agreement, ranks = _agreement(cells, [_run(["p", "p@live"])], allocators, "base")
    assert list(agreement["allocator"]) == allocators and (agreement["programs"] == 1).all()
    assert agreement.loc[0, "live"] == 1.0 and bool(agreement.loc[0, "agree"])
    for row, ratio in zip(agreement.iloc[1:].itertuples(), ratios):
        assert row.replay == pytest.approx(ratio, rel=1e-9)
    rank = ranks.iloc[0]
    assert rank["allocators"] == len(allocators)
    assert rank["kendall_tau"] == pytest.approx(1.0) and rank["same_order"]


def test_live_and_replay_that_disagree_are_flagged():
    times = {("base", "p"): 1.0, ("a", "p"): 0.5, ("b", "p"): 2.0,
             ("base", "p@live"): 10.0, ("a", "p@live"): 20.0, ("b", "p@live"): 5.0}
    agreement, ranks = _agreement(_cells(times, "base"), [_run(["p", "p@live"])], ["base", "a", "b"], "base")
    assert list(agreement["agree"]) == [True, False, False]
    assert ranks.iloc[0]["kendall_tau"] == pytest.approx(-1.0) and not ranks.iloc[0]["same_order"]
    assert ranks.iloc[0]["live_order"] == ["b", "base", "a"]


def test_a_run_without_both_modes_has_no_agreement():
    times = {("base", "p"): 1.0, ("a", "p"): 0.5}
    agreement, ranks = _agreement(_cells(times, "base"), [_run(["p"])], ["base", "a"], "base")
    assert agreement.empty and ranks.empty
