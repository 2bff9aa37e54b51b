"""Intake: what happens to a task request before it is stored (the seed's phase one).

The plan is loaded and checked, the input validated and scanned, the council judges the
risk and picks the review policy, learned durations refine the estimates, and the rows
to store are built. Bad input raises BadInputError (exit 2) and writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agent_agency_cli.backends import check_available, worker_pool
from agent_agency_cli.config import Settings
from agent_agency_cli.council import assess_risk, initial_review, review_mode
from agent_agency_cli.engine.gating import gate_types_of
from agent_agency_cli.errors import BadInputError, ConflictError
from agent_agency_cli.learning.aggregate import model_records
from agent_agency_cli.learning.estimates import learned_estimates
from agent_agency_cli.models import ExecutionMode, TaskStatus
from agent_agency_cli.paths import HomePaths
from agent_agency_cli.planning.dag import analyze
from agent_agency_cli.planning.plan_file import Plan, load_plan, parse_plan
from agent_agency_cli.planning.selection import auto_types, selections_for
from agent_agency_cli.request import TaskRequest
from agent_agency_cli.security.step_text import model_step_text
from agent_agency_cli.security.vault import seal_task
from agent_agency_cli.store import Store
from agent_agency_cli.timeutil import iso, parse_deadline
from agent_agency_cli.units import parse_size_mb
from agent_agency_cli.validation import Status, validate_task
from agent_agency_cli.workers import needs_for

MAX_DESCRIPTION = 2000
MAX_REQUIREMENT = 200
MAX_STAKEHOLDERS = 50
MAX_STAKEHOLDER = 100


def command_text(step: Any) -> str:
    """Everything a step (and its fallback) would execute, as text for the scanner."""
    parts = []
    for run, py in ((step.run, step.python),
                    (step.fallback.run, step.fallback.python) if step.fallback else (None, None)):
        if run is not None:
            parts.append(run if isinstance(run, str) else " ".join(run))
        if py is not None:
            parts.append(py)
    if getattr(step, "tool", None):
        from agent_agency_cli.executors.tool import scan_text  # only plans with tool steps

        parts.append(scan_text(step.tool, step.arguments))
    parts.extend(model_step_text(step))  # a prompt that asks an agent to run a command
    return "\n".join(parts)


def stakeholders_of(names: list[str]) -> list[str]:
    """The seed's stakeholders, checked: names without blanks, duplicates dropped in order."""
    out: list[str] = []
    for raw in names:
        name = raw.strip()
        if not name:
            raise BadInputError("stakeholders: empty name (use a comma-separated list, e.g. 'security_team,ops')")
        if len(name) > MAX_STAKEHOLDER or any(c in name for c in "\n\r\t"):
            raise BadInputError(f"stakeholders: {name[:40]!r} is not a name (one line, at most "
                                f"{MAX_STAKEHOLDER} characters)")
        if name not in out:
            out.append(name)
    if len(out) > MAX_STAKEHOLDERS:
        raise BadInputError(f"stakeholders: {len(out)} names, at most {MAX_STAKEHOLDERS}")
    return out


def step_signature(step: Any) -> str:
    """Identifies "the same step" across runs: name, kind and command (for learned durations)."""
    what = json.dumps([step.name, step.kind, step.run, step.python], default=str)
    return hashlib.sha1(what.encode()).hexdigest()[:16]


class Intake:
    """Validates, reviews and plans task requests under one configuration."""

    def __init__(self, settings: Settings, store: Store | None):
        self.settings = settings
        self.store = store  # None while there is no database (nothing learned yet)

    def prepare(self, request: TaskRequest | dict[str, Any]) -> tuple[dict[str, Any], list[dict]]:
        """Validate a request fully and build the rows to store. Writes nothing."""
        if isinstance(request, dict):
            try:
                request = TaskRequest.model_validate(request)
            except ValidationError as exc:
                err = exc.errors()[0]
                key = ".".join(str(p) for p in err["loc"])
                raise BadInputError(f"bad task request: {key}: {err['msg']}") from None
        stakeholders = stakeholders_of(request.stakeholders)
        plan: Plan
        planned = None
        if request.plan is None:  # the planner writes one (planning/planner.py)
            from agent_agency_cli.planning.planner import plan_task  # only when there is no plan

            wd = checked_workdir(request.workdir)
            planned = plan_task(request.description or "", [r.strip() for r in request.requirements],
                                Path(wd) if wd else None, self.settings)
            plan = parse_plan(planned.data, source=None, base_dir=os.getcwd())
        elif isinstance(request.plan, str | Path):
            plan = load_plan(request.plan)
        else:
            plan = parse_plan(request.plan, source=None, base_dir=os.getcwd())
        description = ((request.description or "").strip() or (plan.description or "").strip()
                       or (plan.name or "").strip())
        if not description:
            description = f"plan {Path(plan.source).name}" if plan.source else "task"
        if len(description) > MAX_DESCRIPTION:
            raise BadInputError(f"description is {len(description)} characters; "
                                f"keep it under {MAX_DESCRIPTION}")
        requirements = [r.strip() for r in request.requirements]
        if any(not r for r in requirements):
            raise BadInputError("requirements: empty item (use a comma-separated list, "
                                "e.g. 'tests pass,no lint errors')")
        for r in requirements:
            if len(r) > MAX_REQUIREMENT:
                raise BadInputError(f"requirement too long ({len(r)} characters, max "
                                    f"{MAX_REQUIREMENT}): {r[:40]!r}…")
        deadline: float | None = None
        if isinstance(request.deadline, datetime):
            deadline = request.deadline.timestamp()
            if deadline <= time.time():
                raise BadInputError(f"deadline {request.deadline.isoformat()} is in the past")
        elif isinstance(request.deadline, int | float):
            deadline = float(request.deadline)
            if deadline <= time.time():
                raise BadInputError(f"deadline {iso(deadline)} is in the past")
        elif request.deadline:
            deadline = parse_deadline(request.deadline)
        workdir = checked_workdir(request.workdir)
        search = [Path(p) for p in (plan.base_dir, workdir) if p]
        if any(s.python or (s.fallback is not None and s.fallback.python) for s in plan.steps):
            # executors.python loads anyio: only plans with Python steps need the check.
            from agent_agency_cli.executors.python import check_python_ref
        for s in plan.steps:
            if s.python:
                check_python_ref(s.python, search)
            if s.fallback is not None and s.fallback.python:
                check_python_ref(s.fallback.python, search)
            if s.tool:
                from agent_agency_cli.executors.tool import check_server  # only plans with tool steps

                check_server(s.name, s.tool, self.settings.mcp_servers)
            for ref in s.tools:
                if ref != "workspace":
                    from agent_agency_cli.executors.tool import check_server  # lazy: keeps start-up light

                    check_server(s.name, ref, self.settings.mcp_servers)
        mode = request.mode or self.settings.task_execution.default_mode
        self.check_workers(plan.steps, request.complexity)
        execution, learned, learned_from = self.learned_plan(plan)
        now = time.time()
        review = self.screen(plan, execution, description, requirements, deadline, mode, request, now)
        task = {
            "id": "",
            "description": description,
            "mode": mode.value,
            "priority": request.priority.value,
            "priority_rank": request.priority.rank,
            "status": review["status"],
            "validation": review["validation"],
            "risk": review["risk"],
            "review_mode": review["review_mode"],
            "initial_review": review["council"],
            "requirements": requirements,
            "stakeholders": stakeholders,
            "deadline": deadline,
            "workdir": workdir,
            "plan_path": plan.source,
            "plan_dir": plan.base_dir,
            "plan": {**execution.to_json(), "name": plan.name, "learned": learned,
                     "learned_from": learned_from},
            "concurrency": request.concurrency or plan.concurrency,
            "complexity": request.complexity,
            "created_at": now,
            "updated_at": now,
        }
        default_timeout = self.settings.task_execution.default_timeout
        if request.complexity:
            default_timeout = self.settings.resource_allocation[request.complexity].execution_timeout
        default_retries = self.settings.recovery.retries.attempts
        estimates = dict(zip(execution.steps, execution.estimates, strict=True))
        steps = [
            {
                "name": s.name,
                "kind": s.kind,
                "spec": s.model_dump(exclude_defaults=True),
                "needs": s.needs,
                "estimate": estimates[s.name],
                "timeout": s.timeout or default_timeout,
                "idempotent": s.idempotent,
                "max_attempts": 1 + (s.retries.attempts if "retries" in s.model_fields_set
                                     else default_retries),
                "signature": step_signature(s),
            }
            for s in plan.steps
        ]
        chosen = selections_for(plan.steps, requirements, self.settings.models, self.learnt_models(plan.steps))
        for row in steps:  # each model step's model chain and why (shown in status, hot-swappable)
            if row["name"] in chosen:
                row["spec"]["selection"] = chosen[row["name"]]
        if planned is not None and mode is ExecutionMode.STRICT:
            # Strict mode approves a planner's plan as a whole before the first step (`task plan ID`).
            task["status"], task["review_mode"] = TaskStatus.AWAITING_REVIEW.value, "blocking"
        task["planned"] = planned
        return task, steps

    def screen(self, plan: Any, execution: Any, description: str, requirements: list[str],
                   deadline: float | None, mode: ExecutionMode, request: Any, now: float) -> dict[str, Any]:
        """Input validation, the security scan, risk and the council's initial review.

        A failed validation is bad input (exit 2, nothing stored). High and critical
        risk (per council.review_policy), or findings that require review, make the
        task wait in awaiting_review for `task review`.
        """
        commands = [(s.name, command_text(s)) for s in plan.steps]
        cpu = max((s.resources.cpu or 0.0 for s in plan.steps), default=0.0)
        memory = max((parse_size_mb(s.resources.memory, "memory size") or 0 for s in plan.steps), default=0)
        resources = {"cpu_cores": cpu, "memory_mb": float(memory), "storage_gb": 0.0}
        lim = self.settings.task_execution.resource_limits
        limits = {"cpu_cores": float(lim.max_cpu_cores), "memory_mb": float(lim.max_memory_mb),
                  "storage_gb": float(lim.max_storage_gb)}
        vs = self.settings.validation
        validation = validate_task(
            description, requirements, commands, estimated_duration=execution.estimated_duration or None,
            deadline=deadline, now=now, resources=resources, limits=limits,
            max_description_length=vs.max_description_length,
            min_description_length=vs.min_description_length, max_requirements=vs.max_requirements,
        )
        if validation.overall is Status.FAILED:
            errors = validation.errors()
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise BadInputError(f"validation failed: {errors[0]}{more}")
        risk = assess_risk(validation, commands=[c for _, c in commands], mode=mode.value,
                           requirements=requirements, resources=resources, priority=request.priority.value,
                           description=description)
        gates_by_step = {s.name: gate_types_of(s.gates) + gate_types_of(
            self.settings.gates.defaults.get(mode, [])) for s in plan.steps}  # type: ignore[call-overload]
        council = initial_review(validation, risk, resources=resources, limits=limits,
                                 estimated_duration=execution.estimated_duration or None, deadline=deadline,
                                 now=now, requirements=requirements, gates_by_step=gates_by_step)
        how = review_mode(risk.level, dict(self.settings.council.review_policy))
        if validation.overall is Status.REQUIRES_REVIEW:
            how = "blocking"
        blocking = how == "blocking" and mode is not ExecutionMode.DRY_RUN
        return {
            "status": (TaskStatus.AWAITING_REVIEW if blocking else TaskStatus.QUEUED).value,
            "validation": json.dumps(validation.to_json()),
            "risk": json.dumps(risk.to_json()),
            "review_mode": how,
            "council": council.to_json(),
        }

    def check_workers(self, steps: list[Any], complexity: str | None) -> None:
        """A step no configured worker could ever run is bad input (exit 2)."""
        check_available(self.settings)  # the ray backend without the ray extra: exit 2, nothing stored
        if not any(s.requires or s.resources.model_fields_set for s in steps) and not complexity:
            return
        pool = worker_pool(self.settings)  # the configured workers, or the Ray cluster's nodes
        default = self.settings.resource_allocation[complexity] if complexity else None  # type: ignore[index]
        for s in steps:
            try:
                needs = needs_for(s.requires, s.resources, default)
            except BadInputError as exc:
                raise BadInputError(f"step {s.name!r}: {exc}") from None
            why = pool.can_ever_run(needs)
            if why:
                raise BadInputError(f"step {s.name!r} can never run: {why}")

    def learned_plan(self, plan: Any) -> tuple[Any, dict[str, int], dict[str, str]]:
        """Estimates from previous runs of the same steps, else of similar steps (learning/)."""
        if self.store is None:  # no database yet: nothing learned
            return plan.execution, {}, {}
        sigs = {s.name: step_signature(s) for s in plan.steps}
        estimates, runs, source = learned_estimates(self.store, plan.steps, sigs)
        if not runs:
            return plan.execution, {}, {}
        return analyze([s.name for s in plan.steps], [s.needs for s in plan.steps], estimates), runs, source

    def learnt_models(self, steps: list[Any]) -> dict[str | None, list[dict[str, Any]]] | None:
        """Per step type of the `model: auto` steps, each model's learnt runs (for selection);
        None when selection is told not to learn (models.selection.learning_min_runs: null)."""
        if self.settings.models.selection.learning_min_runs is None:
            return None
        types = auto_types(steps)
        if self.store is None or not types:  # no database yet: nothing learnt
            return {t: [] for t in types}

        return model_records(self.store.conn, types)

    def store_task(self, store: Store, paths: HomePaths, task: dict[str, Any], steps: list[dict[str, Any]],
                   request_id: str | None = None) -> tuple[str, Any, Any]:
        """Store a prepared task under a fresh id: (id, the planner's plan or None, the sealed
        secrets). Its secrets go to the task's vault file; the rows hold placeholders or masks.
        A `request_id` already stored raises sqlite3.IntegrityError (orchestration/submission.py)."""
        council = task.pop("initial_review")
        planned = task.pop("planned", None)
        sealed, write_secrets = seal_task(task, steps)
        shown = task["description"]
        for _ in range(20):
            task["id"] = secrets.token_hex(3)
            write_secrets(paths.task_dir(task["id"]))
            try:
                store.insert_task(task, steps, review=council, shown_description=shown, request_id=request_id)
                return task["id"], planned, sealed
            except sqlite3.IntegrityError:
                if request_id is not None and store.task_for_request(request_id) is not None:
                    raise  # the same submission was stored meanwhile: not an id collision
                continue  # id collision: draw another
        raise ConflictError("could not allocate a task id")  # pragma: no cover - 16M ids


def checked_workdir(value: str | None) -> str | None:
    """--workdir as an absolute path to an existing directory; BadInputError (one line) otherwise."""
    if value is None:
        return None
    wd = Path(os.path.expanduser(value))  # '~nosuchuser' stays as typed
    try:
        if wd.is_dir():
            return str(wd.resolve())
        problem = "does not exist or is not a directory"
    except OSError as exc:  # a name too long, a loop of links, ...
        problem = f"cannot be used: {exc.strerror or exc}"
    shown = str(wd) if len(str(wd)) <= 200 else str(wd)[:200] + "…"
    raise BadInputError(f"workdir {shown!r} {problem}")
