"""The child process of `allocbench record`: starts recording, runs the program, stops.

    python .../allocbench/_record_bootstrap.py FD script PATH [ARGS...]
    python .../allocbench/_record_bootstrap.py FD module NAME [ARGS...]
    python .../allocbench/_record_bootstrap.py FD call FILE [ARGS...]

FD is an inherited pipe (its number written with a fixed width) on which the parent sends the
recording's settings as marshal data (allocbench.recording.settings_bytes): the trace's path,
its metadata as JSON text, and whether to install an empty profile function. They travel
there, not on the command line or in the environment, and they arrive in a fixed number of
bytes (the path padded with slashes, the whole with zero bytes), and this process imports
neither json nor runpy for a script: whatever this process holds before the hook goes in shapes
the heap the program starts from, and with it when the garbage collector runs and which
blocks the trace sees freed, so an output path of another length must not change it.

`call`: FILE defines `prepare(*ARGS)`, which returns a function of no arguments. prepare runs
before the hook goes in (imports, inputs), then the garbage collector, then the function
alone is recorded: the trace holds the call, as a benchmark times it (allocbench's
pyperformance driver is such a FILE).

Run as a file, not with -m, so that the allocbench package (numpy and all) is never imported
into the recorded program: only the small _core extension is loaded, by path. sys.path[0] is
set as `python SCRIPT` or `python -m MODULE` would set it, before anything else is imported
(for `call` it is removed: FILE puts on sys.path what it needs). The trace's metadata is
completed with the recorder's counts when the program ends, however it ends (return,
exception, sys.exit); in a forked child of the program nothing is written.
"""

import os
import sys

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# Room left in the trace header for the counts added when recording stops (a few hundred bytes).
METADATA_HEADROOM = 1024


def _program_path_entry(kind: str, target: str) -> str | None:
    if kind == "script":
        return os.path.dirname(os.path.abspath(target))
    return os.getcwd() if kind == "module" else None


def load_core(path: str | None = None):
    """allocbench._core, loaded from `path`, or else from this folder, without running the
    package's __init__. Through the import system's own frozen modules, which every
    interpreter has loaded at start-up: importlib.util would import contextlib, collections and
    functools first (~7 ms, in every recording and every live run)."""
    import _frozen_importlib
    import _frozen_importlib_external
    import _imp

    if "allocbench._core" in sys.modules:
        return sys.modules["allocbench._core"]
    candidates = [path] if path else [os.path.join(_PACKAGE_DIR, "_core" + suffix)
                                      for suffix in _imp.extension_suffixes()]
    for candidate in candidates:
        if os.path.exists(candidate):
            spec = _frozen_importlib_external.spec_from_file_location("allocbench._core", candidate)
            core = _frozen_importlib.module_from_spec(spec)
            spec.loader.exec_module(core)
            sys.modules["allocbench._core"] = core
            return core
    raise ImportError(f"allocbench._core not found in {_PACKAGE_DIR}")


def read_settings(descriptor: int) -> dict:
    """The settings the parent sent on the pipe (marshal: built in, so reading them imports
    nothing), which is closed after."""
    import marshal

    chunks = []
    while chunk := os.read(descriptor, 1 << 16):
        chunks.append(chunk)
    os.close(descriptor)
    return marshal.loads(b"".join(chunks))  # the padding after the settings is ignored


def start_recording(core, trace_path: str, metadata_json: str) -> None:
    core.start_recording(os.fsencode(trace_path), metadata_json, len(metadata_json.encode()) + METADATA_HEADROOM)


def stop_recording(core, metadata_json: str, exit_status: int = 0) -> str | None:
    """Stops and closes the trace; returns its final metadata, as JSON text (None in a forked
    child, where nothing is written). A program that failed gives a trace marked with its exit
    status."""
    final = []

    def complete(counts: dict) -> str:
        final.append(completed_metadata(metadata_json, exit_status, counts))
        return final[0]

    return final[0] if core.stop_recording(complete) else None


def completed_metadata(metadata_json: str, exit_status: int, counts: dict) -> str:
    """The metadata (a JSON object) with the program's exit status and the recorder's counts
    added: program_exit_status, ops_skipped and recorder are the recorder's keys, which the
    metadata `record` sends never holds. Written out here rather than with the json module,
    which the recording process does not import: a program that does not use it would pay for
    its import (and re's) in every recording, and one that does would find it already
    imported."""
    skipped = (counts["foreign_frees"], counts["foreign_reallocs"], counts["oversize_skipped"])
    recorder = (counts["ops_recorded"], counts["peak_live"], counts["id_space"])
    added = (f'"program_exit_status": {int(exit_status)}, '
             '"ops_skipped": {"foreign_free": %d, "foreign_realloc": %d, "oversize": %d}, ' % skipped +
             '"recorder": {"ops_recorded": %d, "peak_live": %d, "id_space": %d}' % recorder)
    body = metadata_json.rstrip()
    if not body.endswith("}"):
        raise ValueError("the recording's metadata is not a JSON object")
    body = body[:-1].rstrip()
    return body + (", " if body != "{" else "") + added + "}"


def runs_from_source(path: str) -> bool:
    """Whether `python PATH` compiles PATH as Python source: not a zip archive (a .pyz, whose
    __main__.py runs) nor compiled bytecode, which run_script leaves to runpy. zipimport is
    loaded at start-up (a path hook): asking it costs no import."""
    import _frozen_importlib_external
    import zipimport

    try:
        zipimport.zipimporter(path)
        return False
    except zipimport.ZipImportError:
        pass
    with open(path, "rb") as file:
        return file.read(len(_frozen_importlib_external.MAGIC_NUMBER)) != _frozen_importlib_external.MAGIC_NUMBER


def run_script(path: str, from_source: bool | None = None) -> None:
    """Runs the script as the module __main__, as `python SCRIPT` does. Source is compiled and
    run here rather than by runpy.run_path, whose imports (pkgutil, typing: ~10 ms) every
    recording would pay; archives and bytecode go to runpy. Like runpy, the caller's own
    __main__ is put back when the script ends. `from_source`: runs_from_source(path), when the
    caller asked it already (the recording asks before the hook goes in)."""
    if not (runs_from_source(path) if from_source is None else from_source):
        import runpy

        runpy.run_path(path, run_name="__main__")
        return
    import builtins

    with open(path, "rb") as source:
        code = compile(source.read(), path, "exec", dont_inherit=True)
    script = type(sys)("__main__")
    script.__file__ = path
    script.__cached__ = None
    script.__builtins__ = builtins  # the module, as in any __main__
    caller = sys.modules["__main__"]
    sys.modules["__main__"] = script
    try:
        exec(code, script.__dict__)
    finally:
        sys.modules["__main__"] = caller


def main() -> None:
    settings_descriptor, kind, target, *program_args = sys.argv[1:]
    entry = _program_path_entry(kind, target)
    if entry is None:
        del sys.path[0]
    else:
        sys.path[0] = entry

    settings = read_settings(int(settings_descriptor))
    trace_path, metadata = settings["trace"], settings["metadata"]
    core = load_core()
    sys.argv = [target, *program_args]
    recorded_call = None
    from_source = kind == "script" and runs_from_source(target)
    if not from_source:
        import runpy  # modules, calls, archives: imported before the hook, as `python -m` has it
    if kind == "call":
        import gc

        recorded_call = runpy.run_path(target, run_name="__allocbench_call__")["prepare"](*program_args)
        gc.collect()

    if settings["empty_profile_function"]:
        core.install_empty_profile_function()
    start_recording(core, trace_path, metadata)
    if kind == "module" and not _module_exists(target):
        # As `python -m` would refuse it: nothing ran, so no trace is left.
        core.stop_recording(lambda counts: metadata)
        os.unlink(os.fsencode(trace_path))
        print(f"allocbench record: no module named {target!r}", file=sys.stderr)
        raise SystemExit(2)
    exit_status = 1
    try:
        if kind == "script":
            run_script(target, from_source)
        elif kind == "module":
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            recorded_call()
        exit_status = 0
    except SystemExit as stop:
        exit_status = _status_of(stop.code)
        raise
    finally:
        try:
            stop_recording(core, metadata, exit_status)
        except core.TraceError as error:
            print(f"allocbench record: {error}", file=sys.stderr)
            raise SystemExit(2) from None


def _module_exists(name: str) -> bool:
    """Whether `python -m name` would find the module (finding a submodule imports its
    parent package, as running it would)."""
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _status_of(code) -> int:
    """The exit status sys.exit(code) gives."""
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


if __name__ == "__main__":
    main()
