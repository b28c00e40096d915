"""Child processes with a fixed address layout: address space randomisation (ASLR) off.

Why it matters: where mmap puts an arena decides whether its start is pool aligned, and an
arena that is not loses a pool (docs/pymalloc-facts.md, "Layers"), so with ASLR a pymalloc
variant's arena count and footprint can differ by an arena from one process to the next.
Sets of objects hash by address too, so a recorded program's trace varies with ASLR. With
the layout fixed, the same trace gives the same figures in every process, and the same
program the same trace.

The personality flag is inherited through fork and exec, so it is set on this process for
as long as children are being started (and restored after, where the process is not ours
alone: a library call).
"""

from __future__ import annotations

import contextlib
import ctypes

ADDR_NO_RANDOMIZE = 0x0040000  # <sys/personality.h>
QUERY_PERSONALITY = 0xFFFFFFFF


def _personality():
    try:
        return ctypes.CDLL(None, use_errno=True).personality
    except (OSError, AttributeError):
        return None


def fix_for_children() -> bool:
    """Turns ASLR off for every process this one starts from now on. Returns whether it is
    off: not outside Linux, nor where a seccomp policy forbids it."""
    personality = _personality()
    if personality is None:
        return False
    current = personality(QUERY_PERSONALITY)
    if current != -1 and not current & ADDR_NO_RANDOMIZE:
        personality(current | ADDR_NO_RANDOMIZE)
    return personality(QUERY_PERSONALITY) & ADDR_NO_RANDOMIZE != 0


@contextlib.contextmanager
def without_address_randomization():
    """While inside, programs this process starts run with ASLR off; after, as before.
    Yields whether that could be arranged."""
    personality = _personality()
    previous = personality(QUERY_PERSONALITY) if personality is not None else -1
    try:
        yield fix_for_children()
    finally:
        if previous != -1:
            personality(previous)
