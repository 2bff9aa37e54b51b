"""The built-in planner's first step: write TASK.md (the task, its requirements, the
planned steps and what was left unplanned) into the step's working directory."""

from __future__ import annotations

from typing import Any


def write_brief(ctx: Any) -> dict[str, Any]:
    """Python step `agent_agency_cli.planning.brief:write_brief`; the text comes in $AGENCY_BRIEF."""
    text = ctx.env.get("AGENCY_BRIEF") or "# (no brief)\n"
    path = ctx.workspace / "TASK.md"
    path.write_text(text, encoding="utf-8")
    ctx.log.info("wrote %s", path)
    not_planned = [line[2:] for line in text.split("Not planned:", 1)[-1].splitlines() if line.startswith("- ")]
    return {"brief": str(path), "not_planned": not_planned}
