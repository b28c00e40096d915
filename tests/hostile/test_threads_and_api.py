"""Hostile use of the Python API: one allocator shared by threads, handles that are not
live, values of the wrong type or range. Each ends in a documented exception (ValueError
subclasses: ConfigError, TraceError, HandleError; TypeError for a wrong type), never in a
crash or a corrupted model. The thread cases run in a child process, so that a crash shows
as a failed test rather than taking the test run down."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import allocbench

THREADS = textwrap.dedent("""
    import sys, threading
    import allocbench
    trace = sys.argv[1]
    a = allocbench.Allocator("pymalloc:preset=cpython-3.11")
    errors = []

    def replaying():
        try:
            for _ in range(4):
                allocbench.replay(trace, a, touch="first")
        except BaseException as error:
            errors.append(repr(error))

    def handling():
        try:
            for _ in range(3000):
                handles = [a.malloc(n) for n in (16, 48, 200, 513)]
                handles = [a.realloc(h, 64) for h in handles]
                for h in handles:
                    a.free(h)
        except BaseException as error:
            errors.append(repr(error))

    workers = [threading.Thread(target=replaying) for _ in range(2)] + [threading.Thread(target=handling) for _ in range(2)]
    for w in workers: w.start()
    for w in workers: w.join()
    problem = a.is_valid()
    print("errors", errors, "problem", repr(problem), "live", a.live)
    sys.exit(0 if not errors and problem == "" and a.live == 0 else 1)
""")


@pytest.fixture(scope="module")
def churn(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("threads") / "churn.abt"
    allocbench.generate("churn", path, seed=1, live=5000, pairs=100_000)
    return str(path)


@pytest.mark.parametrize("spec", ["pymalloc:preset=cpython-3.11", "floor", "system"])
def test_item_01_threads_share_one_allocator_without_harm(churn, spec):
    program = THREADS.replace('"pymalloc:preset=cpython-3.11"', repr(spec))
    done = subprocess.run([sys.executable, "-c", program, churn], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr[-2000:])


def test_item_01_two_threads_replaying_into_one_allocator(churn):
    program = textwrap.dedent("""
        import sys, threading, allocbench
        a = allocbench.Allocator("pymalloc")
        results = []
        def play():
            results.append(allocbench.replay(sys.argv[1], a).peak_live_bytes)
        threads = [threading.Thread(target=play) for _ in range(2)]
        for t in threads: t.start()
        for t in threads: t.join()
        assert len(set(results)) == 1 and len(results) == 2, results
        assert a.is_valid() == "" and a.live == 0 and a.stats()["live_bytes"] == 0
    """)
    done = subprocess.run([sys.executable, "-c", program, churn], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])


@pytest.mark.parametrize("action, error", [
    (lambda a, h: a.free(h + 16), ValueError),
    (lambda a, h: a.free(0), ValueError),
    (lambda a, h: a.realloc(12345, 8), ValueError),
    (lambda a, h: a.read(h, 100), ValueError),
    (lambda a, h: a.read(h, 9, 40), ValueError),
    (lambda a, h: a.write(h, b"x" * 49), ValueError),
    (lambda a, h: a.write(h, b"x", 2**63), ValueError),
    (lambda a, h: a.fill(h + 1, 0), ValueError),
    (lambda a, h: a.malloc(-1), TypeError),
    (lambda a, h: a.malloc("8"), TypeError),
    (lambda a, h: a.calloc(2**62, 2**10), MemoryError),
    (lambda a, h: a.probe([(3, 0, 8)]), ValueError),
    (lambda a, h: a.probe([(1, 0, 8)]), ValueError),
    (lambda a, h: a.probe([(0, 0, 8), (0, 0, 8)]), ValueError),
], ids=["free a non-handle", "free NULL", "realloc a non-handle", "read past the block", "read at an offset past",
        "write past the block", "write at an absurd offset", "fill a non-handle", "malloc -1", "malloc a string",
        "calloc that overflows", "probe an unknown op", "probe a free of nothing", "probe an alloc of a live slot"])
def test_handle_misuse_is_refused_and_leaves_the_model_whole(action, error):
    a = allocbench.Allocator("pymalloc")
    h = a.malloc(48)
    with pytest.raises(error):
        action(a, h)
    assert a.is_valid() == "" and a.live == 1 and a.size_of(h) == 48
    a.free(h)
    assert a.stats()["live_bytes"] == 0


@pytest.mark.parametrize("call, error", [
    (lambda t: allocbench.replay(t, "pymalloc", loops=0), ValueError),
    (lambda t: allocbench.replay(t, "pymalloc", loops=-3), ValueError),
    (lambda t: allocbench.replay(t, "pymalloc", timeline_every=-1), ValueError),
    (lambda t: allocbench.replay(t, "pymalloc", touch="some"), ValueError),
    (lambda t: allocbench.replay(t, "jemalloc"), ValueError),
    (lambda t: allocbench.replay(t, 42), TypeError),
    (lambda t: allocbench.replay(None, "pymalloc"), TypeError),
    (lambda t: allocbench.replay(t + ".missing", "pymalloc"), ValueError),
    (lambda t: allocbench.generate("churn", t + ".new", seed=-1), ValueError),
    (lambda t: allocbench.generate("churn", t + ".new", live="many"), ValueError),
    (lambda t: allocbench.generate("nosuch", t + ".new"), ValueError),
    (lambda t: allocbench.option_values("arena_size", "4M", "256K"), ValueError),
    (lambda t: allocbench.option_values("nosuch"), ValueError),
    (lambda t: allocbench.load(t), ValueError),
    (lambda t: allocbench.Allocator("pymalloc:pool_size=" + "9" * 400), ValueError),
], ids=["loops 0", "loops negative", "timeline negative", "unknown touch", "a preload in process", "spec not text",
        "path None", "missing trace", "negative seed", "parameter not a number", "unknown generator",
        "range backwards", "unknown option", "load a trace as a folder", "overflowing size"])
def test_api_misuse_is_a_documented_exception(churn, call, error):
    with pytest.raises(error):
        call(churn)
