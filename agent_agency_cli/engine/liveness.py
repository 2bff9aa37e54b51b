"""Noticing a dead engine from a read command: a task still marked as run by an engine
whose process is gone (killed, crashed) reads `running` with its elapsed ticking until
some engine recovers it. `task status` and `task list` say so and start that recovery."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agent_agency_cli.engine.process import identity_alive
from agent_agency_cli.models import ACTIVE_TASK_STATUSES


def orphaned(store: Any, task_ids: Iterable[str]) -> list[str]:
    """The tasks among `task_ids` held by an engine that no longer runs."""
    active = {s.value for s in ACTIVE_TASK_STATUSES}
    out = []
    for tid in task_ids:
        task = store.get_task(tid)
        if task["status"] in active and task["owner"] and not identity_alive(task["owner"]):
            out.append(tid)
    return out
