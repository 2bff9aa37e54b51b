"""`task plan`: plan without creating a task; show, approve, reject or edit a task's plan.

A planner's plan in strict mode waits (awaiting_review) to be approved as a whole before
the first step; an edit replaces the steps (validated like a plan file) and approves it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from agent_agency_cli.errors import BadInputError, ConflictError, PlanError
from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.models import StepStatus, TaskStatus

NOT_PLAN_KEYS = ("selection",)  # stored in a step's spec by the engine, not written by people


def _yaml(data: Any) -> str:
    import yaml  # lazy: keeps start-up light

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def plan_only(orch: Any, description: str | None, requirements: str | None, workdir: str | None) -> dict[str, Any]:
    """Plan a description (nothing stored); the plan is validated like a plan file."""
    from agent_agency_cli.planning.plan_file import parse_plan  # lazy: keeps start-up light
    from agent_agency_cli.planning.planner import plan_task  # lazy: keeps start-up light
    from agent_agency_cli.planning.selection import selections_for  # lazy: keeps start-up light

    wd = None
    if workdir is not None:
        wd = Path(workdir).expanduser()
        if not wd.is_dir():
            raise BadInputError(f"workdir {wd} does not exist or is not a directory")
        wd = wd.resolve()
    reqs = [r.strip() for r in (requirements or "").split(",") if r.strip()]
    planned = plan_task(description or "", reqs, wd, orch.settings)
    plan = parse_plan(planned.data)
    selections_for(plan.steps, reqs, orch.settings.models)  # every model it names is configured
    return {**planned.to_json(), "yaml": planned.yaml(), "steps": len(plan.steps),
            "critical_path": plan.execution.critical_path}


def _steps_as_plan(rows: list[Any]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        spec = {k: v for k, v in json.loads(r["spec"]).items() if k not in NOT_PLAN_KEYS}
        out.append({"name": r["name"], **{k: v for k, v in spec.items() if k != "name"}})
    return out


def task_plan(orch: Any, task_id: str) -> dict[str, Any]:
    """A task's plan as it will run (its steps now), how it was made, and its approval."""
    from agent_agency_cli.store.model_calls import get_plan  # lazy: keeps start-up light

    store = orch.store
    tid = store.resolve_id(task_id)
    task = store.get_task(tid)
    stored = get_plan(store, tid) or {"source": "file", "notes": [], "model": None, "approved_at": None,
                                      "approved_by": None}
    data = {"description": task["description"], "steps": _steps_as_plan(store.get_steps(tid))}
    waiting = TaskStatus(task["status"]) is TaskStatus.AWAITING_REVIEW
    return {"task_id": tid, "status": task["status"], "source": stored["source"], "model": stored["model"],
            "notes": stored["notes"], "approved_by": stored["approved_by"], "awaiting_approval": waiting,
            "plan": data, "yaml": _yaml(data)}


def _who() -> str:
    import getpass  # lazy: keeps start-up light
    import socket  # lazy: keeps start-up light

    try:
        user = getpass.getuser()
    except Exception:
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def _mark(orch: Any, tid: str, who: str) -> None:
    from agent_agency_cli.store.model_calls import mark_plan_approved  # lazy: keeps start-up light

    mark_plan_approved(orch.store, tid, who)


def decide(orch: Any, task_id: str, *, approve: bool, reason: str) -> str:
    """Approve (the task is queued) or reject (it fails) a plan waiting for approval."""
    tid = orch.store.resolve_id(task_id)
    if TaskStatus(orch.store.get_task(tid)["status"]) is not TaskStatus.AWAITING_REVIEW:
        raise ConflictError(f"task {tid} is {orch.store.get_task(tid)['status']}; its plan awaits no approval")
    message = orch.review(tid, approve=approve, reason=reason)
    if approve:
        _mark(orch, tid, _who())
    return message.replace("review approved", "plan approved").replace("review rejected", "plan rejected")


def _run_editor(path: Path) -> None:
    import shlex  # lazy: keeps start-up light
    import subprocess  # lazy: keeps start-up light

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    try:
        rc = subprocess.call([*shlex.split(editor), str(path)])
    except OSError as exc:
        raise BadInputError(f"cannot run the editor {editor!r}: {exc.strerror} (set $EDITOR)") from None
    if rc != 0:
        raise BadInputError(f"the editor {editor!r} exited {rc}; the plan is unchanged")


def edit_plan(orch: Any, task_id: str) -> str:
    """Open the plan in $EDITOR; a valid edit replaces the steps and approves the plan."""
    import tempfile  # lazy: keeps start-up light

    from agent_agency_cli.planning.plan_file import load_plan  # lazy: keeps start-up light
    from agent_agency_cli.request import TaskRequest  # lazy: keeps start-up light

    store = orch.store
    tid = store.resolve_id(task_id)
    task = store.get_task(tid)
    if TaskStatus(task["status"]) is not TaskStatus.AWAITING_REVIEW:
        raise ConflictError(f"task {tid} is {task['status']}; only a plan awaiting approval can be edited")
    if any(StepStatus(r["status"]) is not StepStatus.PENDING for r in store.get_steps(tid)):
        raise ConflictError(f"task {tid} has started steps; its plan can no longer be edited")
    shown = task_plan(orch, tid)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"plan-{tid}.yaml"
        path.write_text(shown["yaml"], encoding="utf-8")
        _run_editor(path)
        try:
            plan = load_plan(path)
        except PlanError as exc:
            raise BadInputError(f"edited plan is invalid, nothing changed: {str(exc).split(': ', 1)[-1]}") from None
        request = TaskRequest(description=task["description"], plan=str(path), mode=task["mode"],
                              priority=task["priority"], requirements=json.loads(task["requirements"]),
                              workdir=task["workdir"], concurrency=task["concurrency"],
                              complexity=task["complexity"])
        new_task, steps = orch.prepare(request)
    from agent_agency_cli.security.vault import seal_task  # lazy: keeps start-up light

    _, write_secrets = seal_task(dict(new_task), steps)  # the edited steps' secrets go to the vault too
    write_secrets(orch.paths.task_dir(tid))
    store.replace_steps(tid, new_task["plan"], steps)
    from agent_agency_cli.store.model_calls import save_plan  # lazy: keeps start-up light

    save_plan(store, tid, "edited", _yaml({"description": task["description"], "steps": _steps_as_plan(
        store.get_steps(tid))}), shown["notes"], shown["model"])
    store.add_event(tid, EventKind.PLAN_EDITED, {"steps": len(plan.steps)})
    return decide(orch, tid, approve=True, reason="plan edited and approved")

