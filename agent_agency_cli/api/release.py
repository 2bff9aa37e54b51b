"""The one line that says what `release` did, shared by the HTTP API and the MCP server
(the facade's release_task returns only the id)."""

from __future__ import annotations

from typing import Any


def release_message(orch: Any, task_id: str) -> str:
    """What releasing a held task did: queued for the engine, or (a dry run) simulated now."""
    if orch.get_status(task_id)["mode"] == "dry-run":
        return f"released task {task_id}: simulated (dry run), nothing ran"
    return f"released task {task_id} (queued for the engine)"
