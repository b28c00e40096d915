"""The fallback path of the live mode (allocbench/live.py): installs the allocator the
environment names as a wrapping hook, then runs the program.

    python .../allocbench/_live_bootstrap.py script PATH [ARGS...]
    python .../allocbench/_live_bootstrap.py module NAME [ARGS...]

Run as a file, as the record bootstrap is and with its helpers, so that only the small _core
extension is loaded into the program (by path, without the package). The hook goes in before
sys.path is set for the program and before anything of it runs; the blocks the interpreter
made at start-up stay with its allocator, which gets them back when they are freed. A module
runs as `python -m` runs it (its errors included); a script as the record bootstrap runs one
(run_script).
"""

import os
import sys

from _record_bootstrap import _program_path_entry, load_core, run_script

# cpp/live_preload.h's kLiveCoreVariable (the core's LIVE_VARIABLES["core"]): read before the
# core, which knows the names, is loaded.
CORE_VARIABLE = "ALLOCBENCH_LIVE_CORE"


def main() -> None:
    kind, target, *program_args = sys.argv[1:]
    core = load_core(os.environ.get(CORE_VARIABLE))
    try:
        core.start_live_fallback(sys.getallocatedblocks())
    except core.ConfigError as error:
        print(f"allocbench exec: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    # The core took the report target out of the C library's environment; os.environ was
    # copied before: the processes the program starts with it must not report either.
    os.environ.pop(core.LIVE_VARIABLES["report"], None)
    sys.path[0] = _program_path_entry(kind, target)

    sys.argv = [target, *program_args]
    if kind == "module":
        import runpy

        runpy._run_module_as_main(target, alter_argv=True)
    else:
        run_script(target)


if __name__ == "__main__":
    main()
