"""Shared pieces of the `task` commands: the control-command runner (message or --json
document), validation warnings at create, the dead-engine notice of read commands, and
the archived-logs refusal."""

from __future__ import annotations

import sys

from agent_agency_cli.cli.common import orchestrator, print_json


def run_control(task_id: str, as_json: bool, call) -> None:  # type: ignore[no-untyped-def]
    """Run one control call; its message to stderr, or with --json one document on stdout:
    the task, the message, the task's status now and the intervention this call applied."""
    orch = orchestrator()
    if not as_json:
        print(call(orch), file=sys.stderr)
        return
    tid = orch.resolve(task_id)
    before = {iv["id"] for iv in orch.get_status(tid, interventions=True).get("interventions", [])}
    message = call(orch)
    status = orch.get_status(tid, interventions=True)
    mine = [iv for iv in status.get("interventions", []) if iv["id"] not in before]
    print_json({"task_id": tid, "message": message, "status": status["status"],
                "intervention": mine[-1] if mine else None})


def notice_dead_engine(orch, task_ids: list[str], no_start: bool) -> None:  # type: ignore[no-untyped-def]
    """A task still marked as run by an engine that is gone: say so (stderr) and, unless
    --no-start, start a daemon, which recovers it (as `task create` starts one)."""
    if not task_ids:
        return
    dead = orch.orphaned(task_ids)
    if not dead:
        return
    which = f"task{'s' if len(dead) > 1 else ''} {', '.join(dead)}"
    if no_start:
        print(f"warning: the engine running {which} is gone (killed or crashed); "
              "agent-agency-cli daemon start recovers it", file=sys.stderr)
        return
    orch.ensure_daemon()
    print(f"warning: the engine running {which} is gone (killed or crashed); started a daemon, "
          "which recovers it", file=sys.stderr)


def refuse_archived_logs(orch, tid: str) -> None:  # type: ignore[no-untyped-def]
    """An archived task's logs are packed away: say so and how to get them back (exit 3)."""
    from agent_agency_cli.errors import NotFoundError  # lazy: keeps start-up light

    archive = orch.archived_logs(tid)
    if archive:
        raise NotFoundError(f"task {tid} is archived ({archive}); its logs come back with: "
                            f"agent-agency-cli task restore {tid}")
