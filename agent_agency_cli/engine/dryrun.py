"""Dry-run mode: walk the plan in order, commit simulated transitions, run nothing,
write nothing in the workspace, and produce the impact report."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.executors.registry import step_command
from agent_agency_cli.models import StepStatus, TaskStatus
from agent_agency_cli.rows import StepRow, TaskRow
from agent_agency_cli.security.masking import mask_value
from agent_agency_cli.store import Store
from agent_agency_cli.units import parse_size_mb


def impact_report(task: TaskRow | Any, steps: list[StepRow] | list[Any]) -> dict[str, Any]:
    """What the task would do: steps in order, commands, paths, resources, approvals, risk.
    `task` and `steps` are typed rows, or the plain rows they are made from."""
    task = task if isinstance(task, TaskRow) else TaskRow.from_row(task)
    plan = task.plan
    group_of = {name: i + 1 for i, group in enumerate(plan.get("parallel_groups", [])) for name in group}
    order = [n for group in plan.get("parallel_groups", []) for n in group]
    by_name = {s.name: s for s in (s if isinstance(s, StepRow) else StepRow.from_row(s) for s in steps)}
    base = Path(task.workdir) if task.workdir else None
    out_steps = []
    cpu = memory = 0.0
    for i, name in enumerate(order):
        row = by_name[name]
        spec = row.spec
        res = spec.resources
        cpu = max(cpu, float(res.get("cpu") or 0))
        workdir = spec.workdir or (str(base) if base else "<task workspace>")
        out_steps.append({
            "order": i + 1,
            "name": name,
            "group": group_of.get(name),
            "kind": row.kind,
            # The report is made to be shared: secrets in commands are masked (as in logs).
            "command": mask_value(step_command(row.kind, spec)),
            "workdir": workdir,
            "needs": row.needs,
            "estimate": row.estimate,
            "timeout": row.timeout,
            "touches": spec.touches,
            "outputs": spec.outputs,
            "gates": [g.get("type") if isinstance(g, dict) else g for g in spec.gates],
            "requires": spec.requires,
            "resources": res,
            "retries": spec.retries.get("attempts", 0),
            "fallback": spec.fallback,
            "on_failure": spec.on_failure,
        })
        if res.get("memory"):

            memory = max(memory, float(parse_size_mb(res["memory"]) or 0))
    return {
        "task_id": task.id,
        "description": task.description,
        "steps": out_steps,
        "parallel_groups": plan.get("parallel_groups", []),
        "critical_path": plan.get("critical_path", []),
        "estimated_duration": plan.get("estimated_duration"),
        "resources": {"max_step_cpu": cpu, "max_step_memory_mb": memory,
                      "parallel_steps": max((len(g) for g in plan.get("parallel_groups", [])), default=0),
                      "concurrency": task.concurrency},
        "commands": [s["command"] for s in out_steps],
        "paths": sorted({p for s in out_steps for p in (*s["touches"], *s["outputs"])}),
        "approvals_in_strict_mode": [s["name"] for s in out_steps],
        "manual_reviews": [s["name"] for s in out_steps if "manual_review" in s["gates"]],
        "risk": task.risk,
        "validation": task.validation,
    }


def simulate(store: Store, task_id: str, owner: str) -> dict[str, Any]:
    """Commit the simulated run (every step 'completed' as simulated) and return the report."""
    task = store.claim_task(task_id, owner)
    report = impact_report(task, store.step_rows(task_id))
    for s in report["steps"]:
        store.set_step_status(task_id, s["name"], StepStatus.PENDING, StepStatus.RUNNING,
                              event=EventKind.STEP_STARTED, payload={"attempt": 1, "max_attempts": 1,
                                                             "simulated": True},
                              started_at=time.time(), attempt=1)
        store.set_step_status(task_id, s["name"], StepStatus.RUNNING, StepStatus.COMPLETED,
                              event=EventKind.STEP_COMPLETED, payload={"simulated": True, "duration": 0.0},
                              finished_at=time.time(), duration=0.0, reason="simulated (dry-run)")
    store.set_task_status(task_id, TaskStatus.RUNNING, TaskStatus.COMPLETED, event=EventKind.TASK_COMPLETED,
                          payload={"dry_run": True}, finished_at=time.time(), exit_code=0, owner=None,
                          completion=json.dumps({"status": "completed", "dry_run": True,
                                                 "report": report}))
    return report
