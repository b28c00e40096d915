"""How allocbench runs a pyperformance benchmark in-process, once, to record it.

Loaded by the recording child (allocbench/_record_bootstrap.py, kind `call`) as a file, so it
imports the standard library only; the library reads RECIPES from it to know which
benchmarks the suite can hold (allocbench/pyperformance_suite.py).

    prepare(NAME, LOOPS, BENCHMARKS_FOLDER) -> a function of no arguments

prepare loads the benchmark's run_benchmark.py from pyperformance's own folder as a module (not
as __main__, so its pyperf.Runner never starts) and builds the inputs pyperformance builds
before it times anything; the function it returns runs the timed work LOOPS times, and only
that is recorded. Each recipe below is one iteration of what pyperformance times for that
benchmark, called as its Runner would call it.
"""

import importlib.util
import os
import sys


class Recipe:
    """A benchmark: its name in pyperformance's MANIFEST (where one name may time several
    steps: xml_etree is parse, iterparse, generate and process), the folder of its
    run_benchmark.py, and setup(module, folder), which returns one iteration of the timed work."""

    def __init__(self, manifest_name, folder, setup):
        self.manifest_name = manifest_name
        self.folder = folder
        self.setup = setup


def _richards(module, folder):
    richards = module.Richards()
    return lambda: richards.run(1)


def _json_dumps(module, folder):
    cases = [(getattr(module, case)[0], range(getattr(module, case)[1])) for case in module.CASES]
    return lambda: module.bench_json_dumps(cases)


def _json_loads(module, folder):
    import json

    texts = (json.dumps(module.DICT), json.dumps(module.TUPLE), json.dumps(module.DICT_GROUP))
    return lambda: module.bench_json_loads(texts)


def _pickle_pure_python(module, folder):
    import pickle
    import types

    if getattr(pickle.Pickler, "__module__", "") != "pickle":
        raise RuntimeError("the pure-Python pickle was asked for, but the C accelerator is loaded")
    function, _inner_loops = module.BENCHMARKS["pickle"]
    options = types.SimpleNamespace(protocol=pickle.HIGHEST_PROTOCOL)
    return lambda: function(1, pickle, options)


def _xml_etree(step_name):
    def setup(module, folder):
        import atexit
        import tempfile
        import xml.etree.ElementTree as etree

        root = module.build_xml_tree(etree)
        data = etree.tostring(root)
        descriptor, path = tempfile.mkstemp(suffix=".xml")
        os.close(descriptor)
        atexit.register(os.unlink, path)  # after the recording has stopped
        etree.ElementTree(root).write(path)
        step = getattr(module, step_name)
        return lambda: step(etree, path, data, root)

    return setup


def _logging_format(module, folder):
    import io
    import logging

    stream = io.StringIO()
    logger = logging.getLogger("allocbench-pyperformance")
    logger.propagate = False
    logger.addHandler(logging.StreamHandler(stream=stream))
    logger.setLevel(logging.WARNING)
    return lambda: module.BENCHMARKS["format"](1, logger, stream)


def _async_generators(module, folder):
    import asyncio

    return lambda: asyncio.run(module.bench_async_generators())


RECIPES = {
    "async_generators": Recipe("async_generators", "bm_async_generators", _async_generators),
    "coroutines": Recipe("coroutines", "bm_coroutines", lambda m, folder: lambda: m.bench_coroutines(1)),
    "deepcopy": Recipe("deepcopy", "bm_deepcopy", lambda m, folder: lambda: m.benchmark(1)),
    "deltablue": Recipe("deltablue", "bm_deltablue", lambda m, folder: lambda: m.delta_blue(100)),
    "float": Recipe("float", "bm_float", lambda m, folder: lambda: m.benchmark(m.POINTS)),
    "gc_collect": Recipe("gc_collect", "bm_gc_collect", lambda m, folder: lambda: m.benchamark_collection(1, m.CYCLES, m.LINKS)),
    "generators": Recipe("generators", "bm_generators", lambda m, folder: lambda: m.bench_generators(1)),
    "go": Recipe("go", "bm_go", lambda m, folder: m.versus_cpu),
    "hexiom": Recipe("hexiom", "bm_hexiom", lambda m, folder: lambda: m.main(1, m.DEFAULT_LEVEL)),
    "json_dumps": Recipe("json_dumps", "bm_json_dumps", _json_dumps),
    "json_loads": Recipe("json_loads", "bm_json_loads", _json_loads),
    "logging_format": Recipe("logging", "bm_logging", _logging_format),
    "nqueens": Recipe("nqueens", "bm_nqueens", lambda m, folder: lambda: m.bench_n_queens(8)),
    "pickle_pure_python": Recipe("pickle_pure_python", "bm_pickle", _pickle_pure_python),
    "pyflate": Recipe("pyflate", "bm_pyflate", lambda m, folder: lambda: m.bench_pyflake(
        1, os.path.join(folder, "data", "interpreter.tar.bz2"))),
    "raytrace": Recipe("raytrace", "bm_raytrace", lambda m, folder: lambda: m.bench_raytrace(
        1, m.DEFAULT_WIDTH, m.DEFAULT_HEIGHT, None)),
    "regex_v8": Recipe("regex_v8", "bm_regex_v8", lambda m, folder: lambda: m.bench_regex_v8(1)),
    "richards": Recipe("richards", "bm_richards", _richards),
    "xml_etree_generate": Recipe("xml_etree", "bm_xml_etree", _xml_etree("bench_generate")),
    "xml_etree_parse": Recipe("xml_etree", "bm_xml_etree", _xml_etree("bench_parse")),
}
# Benchmarks that must import a module as pure Python: the accelerator is blocked before the
# benchmark is loaded, as pyperformance's --pure-python does.
BLOCKED_ACCELERATORS = {"pickle_pure_python": ["_pickle"]}


def load_benchmark(folder):
    """run_benchmark.py of `folder` as a module (never as __main__)."""
    name = "allocbench_pyperformance_" + os.path.basename(folder)
    spec = importlib.util.spec_from_file_location(name, os.path.join(folder, "run_benchmark.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def prepare(name, loops, benchmarks):
    recipe = RECIPES[name]
    folder = os.path.join(benchmarks, recipe.folder)
    sys.path.insert(0, folder)  # some benchmarks import files beside them
    for accelerator in BLOCKED_ACCELERATORS.get(name, []):
        sys.modules[accelerator] = None
    once = recipe.setup(load_benchmark(folder), folder)
    count = int(loops)

    def timed_work():
        for _ in range(count):
            once()

    return timed_work
