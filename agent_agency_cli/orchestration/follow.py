"""Following a task's events as they are committed (the facade's `follow`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from agent_agency_cli.models import TaskStatus
from agent_agency_cli.orchestration.views import event_json
from agent_agency_cli.store import Store


def follow_events(
    store: Store, task_id: str, after: int = 0, poll: float = 0.05, until_done: bool = True,
    heartbeat: float | None = None,
) -> Iterator[dict[str, Any] | None]:
    """Yield the task's events as they are committed; stop once it has finished.

    Wakes when SQLite's `data_version` changes (another connection committed), so an idle
    follow costs one pragma per poll. With `heartbeat`, also yield None after that many
    idle seconds (for redraws).
    """
    tid = store.resolve_id(task_id)
    last_version = -1
    last_yield = time.monotonic()
    while True:
        if heartbeat is not None and time.monotonic() - last_yield >= heartbeat:
            last_yield = time.monotonic()
            yield None
        version = store.data_version()
        if version != last_version:
            last_version = version
            while True:
                rows = store.events_after(tid, after, 500)
                for r in rows:
                    after = r["id"]
                    last_yield = time.monotonic()
                    yield event_json(r)
                if len(rows) < 500:
                    break
            if until_done:
                status = TaskStatus(store.get_task(tid)["status"])
                if status.is_terminal and not store.events_after(tid, after, 1):
                    return
        time.sleep(poll)

