"""Which finished tasks an age-based purge archives (`task purge`, the daemon's sweep)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from agent_agency_cli.models import TERMINAL_TASK_VALUES

# The statuses of a finished task that may be archived.
PURGEABLE_STATUSES = TERMINAL_TASK_VALUES


def select_for_purge(rows: Iterable[dict[str, Any]], older_than: float, now: float) -> list[str]:
    """Ids of the finished tasks to archive, oldest first.

    A row qualifies when its `status` is completed / partially_completed / failed /
    cancelled, its `finished_at` (epoch seconds, or an ISO-8601 string) is more than
    `older_than` seconds before `now`, and it is not archived yet (`archived_at` empty,
    if the row has that key). `older_than <= 0` means "never archive": [] is returned.
    """
    if older_than <= 0:
        return []
    cutoff = now - older_than
    picked: list[tuple[float, str]] = []
    for row in rows:
        if str(row.get("status") or "") not in PURGEABLE_STATUSES:
            continue
        if row.get("archived_at") is not None:
            continue
        finished = _epoch(row.get("finished_at"))
        if finished is None or finished >= cutoff:
            continue
        picked.append((finished, str(row["id"])))
    picked.sort()
    return [task_id for _, task_id in picked]


def _epoch(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.timestamp()
    return None
