"""The garbage collector while an engine runs.

An engine allocates a few hundred short-lived objects per step (rows, events, payloads,
handles) on top of a large heap of long-lived ones (settings, models, modules). With the
default first-generation threshold (700 allocations) CPython collects about 70 times per
1,000 steps and walks the survivors each time: about 30 us of a no-op step's ~330 us.
A threshold of 5,000 leaves about 8 collections per 1,000 steps (7-10 us a step); what is
garbage is still collected, a little later (bench/RESULTS.md, "Python step throughput")."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

ENGINE_GEN0_THRESHOLD = 5000


@contextlib.contextmanager
def engine_gc() -> Iterator[None]:
    """Raise the first generation's threshold while the block runs (never lower it), then
    put back what it was (a foreground run inside a longer-lived process)."""
    before = gc.get_threshold()
    if before[0] < ENGINE_GEN0_THRESHOLD and before[0] > 0:  # 0: collection disabled, leave it
        gc.set_threshold(ENGINE_GEN0_THRESHOLD, *before[1:])
    try:
        yield
    finally:
        if gc.get_threshold()[0] == ENGINE_GEN0_THRESHOLD and before[0] != ENGINE_GEN0_THRESHOLD:
            gc.set_threshold(*before)
