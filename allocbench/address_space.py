"""Child processes with a fixed address layout: address space randomisation (ASLR) off.

Why it matters: where mmap puts an arena decides whether its start is pool aligned, and an
arena that is not loses a pool (docs/pymalloc-facts.md, "Layers"), so with ASLR a pymalloc
variant's arena count and footprint can differ by an arena from one process to the next.
Sets of objects hash by address too, so a recorded program's trace varies with ASLR. With
the layout fixed, the same trace gives the same figures in every process, and the same
program the same trace.

The personality flag is inherited through fork and exec, so it is set on this process for
as long as children are being started, and restored after.
"""

from __future__ import annotations

import contextlib
import ctypes

ADDR_NO_RANDOMIZE = 0x0040000  # <sys/personality.h>
QUERY_PERSONALITY = 0xFFFFFFFF


@contextlib.contextmanager
def without_address_randomization():
    """While inside, programs this process starts run with ASLR off. Yields whether that
    could be arranged: not outside Linux, nor where a seccomp policy forbids it."""
    try:
        personality = ctypes.CDLL(None, use_errno=True).personality
    except (OSError, AttributeError):
        yield False
        return
    previous = personality(QUERY_PERSONALITY)
    changed = previous != -1 and not previous & ADDR_NO_RANDOMIZE and personality(previous | ADDR_NO_RANDOMIZE) != -1
    try:
        yield personality(QUERY_PERSONALITY) & ADDR_NO_RANDOMIZE != 0
    finally:
        if changed:
            personality(previous)
