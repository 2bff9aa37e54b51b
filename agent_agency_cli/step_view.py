"""What a step row shows (CLI tables and the TUI alike): only what belongs to the step's
current state. A row keeps the exit code and reason of its last finished attempt in the
database; a step that runs again, waits for approval or is pending once more must not
show them (`awaiting_approval 1/2 … exit -15 "cancelled: testing cancel"`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FINISHED = frozenset({"completed", "failed", "skipped", "cancelled", "interrupted"})


def shown_exit(step: Mapping[str, Any]) -> int | None:
    """The exit code, for a finished step only."""
    return step.get("exit_code") if step.get("status") in FINISHED else None


def shown_reason(step: Mapping[str, Any]) -> str | None:
    """The reason, for a finished step, or a pending one waiting to retry (why it failed)."""
    status = step.get("status")
    if status in FINISHED or (status == "pending" and step.get("next_retry_at")):
        return step.get("reason")
    return None


def shown_tries(step: Mapping[str, Any]) -> tuple[int, int]:
    """(attempt, of how many): a re-run after a crash is an attempt too, never `2/1`."""
    attempt = int(step.get("attempt") or 0)
    return attempt, max(int(step.get("max_attempts") or 1), attempt)
