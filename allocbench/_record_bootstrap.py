"""The child process of `allocbench record`: starts recording, runs the program, stops.

    python .../allocbench/_record_bootstrap.py TRACE METADATA_JSON script PATH [ARGS...]
    python .../allocbench/_record_bootstrap.py TRACE METADATA_JSON module NAME [ARGS...]

Run as a file, not with -m, so that the allocbench package (numpy and all) is never imported
into the recorded program: only the small _core extension is loaded, by path. sys.path[0] is
set as `python SCRIPT` or `python -m MODULE` would set it, before anything else is imported.
The trace's metadata is completed with the recorder's counts when the program ends, however
it ends (return, exception, sys.exit); in a forked child of the program nothing is written.
"""

import os
import sys

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# Room left in the trace header for the counts added when recording stops (a few hundred bytes).
METADATA_HEADROOM = 1024


def _program_path_entry(kind: str, target: str) -> str:
    return os.path.dirname(os.path.abspath(target)) if kind == "script" else os.getcwd()


def load_core(path: str | None = None):
    """allocbench._core, loaded from `path`, or else from this folder, without running the
    package's __init__."""
    import importlib.machinery
    import importlib.util

    if "allocbench._core" in sys.modules:
        return sys.modules["allocbench._core"]
    candidates = [path] if path else [os.path.join(_PACKAGE_DIR, "_core" + suffix)
                                      for suffix in importlib.machinery.EXTENSION_SUFFIXES]
    for candidate in candidates:
        if os.path.exists(candidate):
            spec = importlib.util.spec_from_file_location("allocbench._core", candidate)
            core = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(core)
            sys.modules["allocbench._core"] = core
            return core
    raise ImportError(f"allocbench._core not found in {_PACKAGE_DIR}")


def start_recording(core, trace_path: str, metadata: dict) -> None:
    import json

    text = json.dumps(metadata)
    core.start_recording(trace_path, text, len(text.encode()) + METADATA_HEADROOM)


def stop_recording(core, metadata: dict, exit_status: int = 0) -> dict | None:
    """Stops and closes the trace; returns its final metadata (None in a forked child, where
    nothing is written). A program that failed gives a trace marked with its exit status."""
    import json

    final = dict(metadata, program_exit_status=exit_status)

    def complete(counts: dict) -> str:
        final["ops_skipped"] = {
            "foreign_free": counts["foreign_frees"],
            "foreign_realloc": counts["foreign_reallocs"],
            "oversize": counts["oversize_skipped"],
        }
        final["recorder"] = {key: counts[key] for key in ("ops_recorded", "peak_live", "id_space")}
        return json.dumps(final)

    return final if core.stop_recording(complete) else None


def main() -> None:
    trace_path, metadata_json, kind, target, *program_args = sys.argv[1:]
    sys.path[0] = _program_path_entry(kind, target)

    import json
    import runpy

    core = load_core()
    metadata = json.loads(metadata_json)
    sys.argv = [target, *program_args]
    start_recording(core, trace_path, metadata)
    if kind == "module" and not _module_exists(target):
        # As `python -m` would refuse it: nothing ran, so no trace is left.
        core.stop_recording(lambda counts: json.dumps(metadata))
        os.unlink(trace_path)
        print(f"allocbench record: no module named {target!r}", file=sys.stderr)
        raise SystemExit(2)
    exit_status = 1
    try:
        if kind == "script":
            runpy.run_path(target, run_name="__main__")
        else:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
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
