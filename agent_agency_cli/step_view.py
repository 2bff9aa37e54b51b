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


GATE_OK = frozenset({"passed", "skipped"})


def gate_failed(step: Mapping[str, Any]) -> bool:
    """A gate of this step did not pass (advisory ones included): the step is not a plain ✓."""
    return any(g.get("status") not in GATE_OK for g in step.get("gates") or [])


def shown_status(step: Mapping[str, Any]) -> str:
    """The step's status in words: a completed step whose gate failed says so."""
    status = str(step.get("status") or "pending")
    return "completed, gate failed" if status == "completed" and gate_failed(step) else status


def gaps_note(status: str, completion: Mapping[str, Any] | None) -> tuple[str, list[str]] | None:
    """Why a task is partially_completed (or what its final review found): a headline and
    the gaps against its requirements; None when there are none."""
    gaps = [str(g) for g in (completion or {}).get("gaps") or []]
    if not gaps:
        return None
    head = ("partially completed: every step ran, but the final review found gaps"
            if status == "partially_completed" else "gaps found by the final review")
    return head, gaps
