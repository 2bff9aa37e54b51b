"""Noticing a dead engine from a read command: a task still marked as run by an engine
whose process is gone (killed, crashed) reads `running` with its elapsed ticking until
some engine recovers it. `task status` and `task list` say so and start that recovery."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# models.ACTIVE_TASK_STATUSES as plain words (tests/unit/test_liveness.py keeps them equal).
ENGINE_HELD = frozenset({"running", "paused", "awaiting_approval", "escalated"})


def orphaned(store: Any, task_ids: Iterable[str]) -> list[str]:
    """The tasks among `task_ids` held by an engine that no longer runs."""
    # From procgroup (reads /proc) and without the models (pydantic): `task status` and `task
    # list` run this on the fast path, which imports neither psutil nor pydantic; imported
    # here, only once a shown task is engine-held (procgroup pulls subprocess).
    from agent_agency_cli.procgroup import identity_alive

    out = []
    for tid in task_ids:
        task = store.get_task(tid)
        if task["status"] in ENGINE_HELD and task["owner"] and not identity_alive(task["owner"]):
            out.append(tid)
    return out
