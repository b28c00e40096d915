"""Hostile sweeps: bad grids, bad sweep files, bad executors and settings. Each is one line
and exit status 2, and leaves no results folder behind."""

from __future__ import annotations

import pytest
from conftest import cli, refused

GRIDS = [
    (["--grid", "pool_sizes=4K"], "pymalloc option 'pool_sizes': unknown"),
    (["--grid", "pool_size=3K"], "pool_size=3K: a power of two"),
    (["--grid", "pool_size=4K..3M"], "pool_size=3M"),
    (["--grid", "pool_size=64K..4K"], "the first value comes after the last"),
    (["--grid", "pool_size"], "expected KNOB=V1,V2,... or KNOB=A..B"),
    (["--grid", "pool_size="], "expected KNOB"),
    (["--grid", "pool_size=4K,4K"], "a value is given twice"),
    (["--grid", "pool_size=4K", "--grid", "pool_size=16K"], "--grid pool_size is given twice"),
    (["--grid", "preset=cpython-3.8"], "give presets with --base or -a"),
    (["--grid", "arena_size=16K,32K", "--base", "pymalloc:pool_size=16K"], "no point of the grid is valid"),
    (["--grid", "threshold=8..4K", "--grid", "arena_release=never..keep:500"], "narrow it, or draw some with --sample N"),
    (["--grid", "pool_size=4K", "--sample", "0"], "--sample 0: at least 1"),
    (["--grid", "pool_size=4K", "--seed", "-1", "--sample", "1"], "--seed -1"),
    ([], "the grid is empty"),
    (["--grid", "pool_size=4K", "--base", "system"], "a sweep varies pymalloc options"),
    (["--grid", "pool_size=4K", "--base", "pymalloc:pool_size=5K"], "pool_size=5K"),
    (["--grid", "pool_size=4K", "-a", "nosuch"], "allocator 'nosuch': unknown"),
    (["--grid", "pool_size=4K", "-a", "cpython", "-a", "cpython"], "given twice"),
    (["--grid", "pool_size=4K", "-a", "pymalloc:pool_size=4K"], "is also a point or the base"),
    (["--grid", "pool_size=4K", "--time", "sometimes"], "invalid choice"),
    (["--grid", "pool_size=4K", "--jobs", "0"], "--jobs 0: at least 1"),
    (["--grid", "pool_size=4K", "--scheduler", "tcp://127.0.0.1:9"], "--scheduler goes with --executor dask"),
    (["--grid", "pool_size=4K", "--executor", "dask", "--scheduler", "tcp://127.0.0.1:9"], "cannot reach the Dask scheduler"),
    (["--grid", "pool_size=4K", "--cell-timeout=nan"], "--cell-timeout nan"),
    (["--grid", "pool_size=4K", "-o", "/proc/sweep"], "/proc/sweep"),
    (["--suite", "nosuch", "--grid", "pool_size=4K"], "unknown suite 'nosuch'"),
    (["--file", "nosuch.toml"], "no such sweep file"),
    (["--file", "sweep.toml", "--grid", "pool_size=4K"], "--file holds the sweep's settings"),
    (["--resume", "nosuch"], "no such folder"),
]


@pytest.mark.parametrize("args, fragment", GRIDS, ids=[" ".join(a) or "no grid" for a, _ in GRIDS])
def test_bad_sweeps_are_one_line_and_leave_no_folder(args, fragment, tmp_path, run_env):
    (tmp_path / "sweep.toml").write_text('[grid]\npool_size = ["4K"]\n')
    before = set(tmp_path.rglob("*"))
    suite = [] if "--file" in args or "--resume" in args or "--suite" in args else ["--suite", "tiny"]
    refused(cli("sweep", *suite, *args, cwd=tmp_path, env=run_env, timeout=120), fragment)
    assert set(tmp_path.rglob("*")) == before, "something was left behind"


FILES = [
    ("suite = 3\n", "suite must be a string"),
    ("[grid]\npool_size = 4\n", "grid.pool_size must be a list of values"),
    ("[grid]\npool_size = [true]\n", "grid.pool_size must be a list of values"),
    ("grid = 'pool_size=4K'\n", "[grid] must be a table"),
    ("colour = 'red'\n[grid]\npool_size = ['4K']\n", "unknown key(s) colour"),
    ("[grid]\npool_size = ['4K']\n[sample]\npoints = 'many'\n", "sample.points must be a whole number"),
    ("[grid]\npool_size = ['4K']\n[sample]\nevery = 2\n", "[sample] takes points and seed"),
    ("references = 'cpython'\n[grid]\npool_size = ['4K']\n", "references must be a list"),
    ("cell_timeout = 'soon'\n[grid]\npool_size = ['4K']\n", "cell_timeout must be a number"),
    ("[grid\n", "not valid TOML"),
    ("\xff\xfe", "not valid TOML"),
    ("suite = 'tiny'\n[grid]\npool_size = ['16K']\narena_size = '16K..32K'\n", "no point of the grid is valid"),
    ("suite = 'tiny'\n[grid]\npool_size = ['3K']\n", "pool_size=3K"),
    ("time = 'sometimes'\n[grid]\npool_size = ['4K']\n", "--time 'sometimes'"),
    ("mode = 'quick'\n[grid]\npool_size = ['4K']\n", "mode 'quick'"),
]


@pytest.mark.parametrize("text, fragment", FILES, ids=[f[1] for f in FILES])
def test_bad_sweep_files_are_one_line(text, fragment, tmp_path, run_env):
    (tmp_path / "sweep.toml").write_bytes(text.encode("latin-1"))
    before = set(tmp_path.rglob("*"))
    refused(cli("sweep", "--file", "sweep.toml", cwd=tmp_path, env=run_env), fragment)
    assert set(tmp_path.rglob("*")) == before


def test_a_sweep_file_that_is_a_fifo_or_a_folder(tmp_path, run_env):
    import os

    os.mkfifo(tmp_path / "fifo.toml")
    (tmp_path / "folder.toml").mkdir()
    for name in ("fifo.toml", "folder.toml"):
        refused(cli("sweep", "--file", name, cwd=tmp_path, env=run_env, timeout=30), name)


def test_resuming_a_run_as_a_sweep_and_a_sweep_as_a_run(complete_run, tmp_path, run_env):
    refused(cli("sweep", "--resume", complete_run, cwd=tmp_path, env=run_env), "not a sweep's results folder")
