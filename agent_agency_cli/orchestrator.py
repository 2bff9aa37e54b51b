"""TaskOrchestrator: the one facade the CLI, the TUI, the SDK and the API call.

It never imports typer, rich or textual. Heavy parts (the engine, anyio) are
imported only by the calls that run tasks, so read commands start fast.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_agency_cli.errors import (
    BadInputError,
    ConflictError,
    DaemonError,
    InvalidTransition,
    NotFoundError,
    StoredNotStartedError,
)
from agent_agency_cli.executors.registry import step_command
from agent_agency_cli.models import (
    ACTIVE_TASK_STATUSES,
    ExecutionMode,
    Priority,
    StepStatus,
    TaskStatus,
    override_target,
)
from agent_agency_cli.paths import HomePaths, data_home
from agent_agency_cli.store import Store, connect
from agent_agency_cli.timeutil import iso, parse_deadline
from agent_agency_cli.units import parse_duration, parse_size_mb

if TYPE_CHECKING:
    from agent_agency_cli.config import Settings
    from agent_agency_cli.request import TaskRequest


def __getattr__(name: str) -> Any:
    # TaskRequest (pydantic) loads on demand so read-only commands skip pydantic.
    if name == "TaskRequest":
        from agent_agency_cli.request import TaskRequest

        return TaskRequest
    raise AttributeError(name)

MAX_DESCRIPTION = 2000
MAX_REQUIREMENT = 200
INTERVENTION_TIMEOUT = 15.0


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
        from agent_agency_cli.executors.tool import scan_text

        parts.append(scan_text(step.tool, step.arguments))
    return "\n".join(parts)


def step_signature(step: Any) -> str:
    """Identifies "the same step" across runs: name, kind and command (for learned durations)."""
    import hashlib

    what = json.dumps([step.name, step.kind, step.run, step.python], default=str)
    return hashlib.sha1(what.encode()).hexdigest()[:16]


# Who acts, when a face knows better than the OS user (the API: its token's name and the
# client's address). Set with `acting_as`; read by every audit record through _who().
_ACTOR: ContextVar[str | None] = ContextVar("agent_agency_actor", default=None)


@contextmanager
def acting_as(who: str) -> Iterator[None]:
    """Record interventions and reviews made inside this block as `who` (e.g. "api:ci@10.0.0.5")."""
    token = _ACTOR.set(who)
    try:
        yield
    finally:
        _ACTOR.reset(token)


def _who() -> str:
    actor = _ACTOR.get()
    if actor:
        return actor
    try:
        user = getpass.getuser()
    except Exception:
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


class TaskOrchestrator:
    """Submit, inspect, follow and steer tasks in one data home."""

    def __init__(
        self,
        home: str | os.PathLike[str] | None = None,
        config: str | os.PathLike[str] | None = None,
        settings: Settings | None = None,
    ):
        self.home = data_home(home)
        self.paths = HomePaths(self.home)
        self.config_path = str(config) if config is not None else None
        self._settings = settings
        self._conn: sqlite3.Connection | None = None
        self._vault: Any = None  # security.vault.Vault, made with the first store

    @property
    def settings(self) -> Settings:
        """The validated config, loaded on first use (read-only commands never need it)."""
        if self._settings is None:
            from agent_agency_cli.config import load_settings

            self._settings = load_settings(self.config_path, home=self.home)
        return self._settings

    @property
    def store(self) -> Store:
        if self._conn is None:
            self._conn = connect(self.paths.db)
        if self._vault is None:
            from agent_agency_cli.security.vault import Vault

            self._vault = Vault(self.paths)
        return Store(self._conn, vault=self._vault)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> TaskOrchestrator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- submission -----------------------------------------------------------

    def prepare(self, request: TaskRequest | dict[str, Any]) -> tuple[dict[str, Any], list[dict]]:
        """Validate a request fully and build the rows to store. Writes nothing."""
        from agent_agency_cli.executors.python import check_python_ref
        from agent_agency_cli.planning.plan_file import Plan, load_plan, parse_plan
        from agent_agency_cli.request import TaskRequest

        if isinstance(request, dict):
            from pydantic import ValidationError

            try:
                request = TaskRequest.model_validate(request)
            except ValidationError as exc:
                err = exc.errors()[0]
                key = ".".join(str(p) for p in err["loc"])
                raise BadInputError(f"bad task request: {key}: {err['msg']}") from None
        plan: Plan
        planned = None
        if request.plan is None:  # the planner writes one (planning/planner.py)
            from agent_agency_cli.planning.planner import plan_task

            wd = Path(request.workdir).expanduser() if request.workdir is not None else None
            if wd is not None and not wd.is_dir():
                raise BadInputError(f"workdir {wd} does not exist or is not a directory")
            planned = plan_task(request.description or "", [r.strip() for r in request.requirements],
                                wd.resolve() if wd else None, self.settings)
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
        workdir = None
        if request.workdir is not None:
            wd = Path(os.path.expanduser(request.workdir))  # '~nosuchuser' stays as typed
            if not wd.is_dir():
                raise BadInputError(f"workdir {str(wd)!r} does not exist or is not a directory")
            workdir = str(wd.resolve())
        search = [Path(p) for p in (plan.base_dir, workdir) if p]
        for s in plan.steps:
            if s.python:
                check_python_ref(s.python, search)
            if s.fallback is not None and s.fallback.python:
                check_python_ref(s.fallback.python, search)
            if s.tool:
                from agent_agency_cli.executors.tool import check_server

                check_server(s.name, s.tool, self.settings.mcp_servers)
            for ref in s.tools:
                if ref != "workspace":
                    from agent_agency_cli.executors.tool import check_server

                    check_server(s.name, ref, self.settings.mcp_servers)
        mode = request.mode or self.settings.task_execution.default_mode
        self._check_workers(plan.steps, request.complexity)
        execution, learned, learned_from = self._learned_plan(plan)
        now = time.time()
        review = self._phase_one(plan, execution, description, requirements, deadline, mode, request,
                                 now)
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
        from agent_agency_cli.planning.selection import selections_for

        chosen = selections_for(plan.steps, requirements, self.settings.models)
        for row in steps:  # each model step's model chain and why (shown in status, hot-swappable)
            if row["name"] in chosen:
                row["spec"]["selection"] = chosen[row["name"]]
        if planned is not None and mode is ExecutionMode.STRICT:
            # Strict mode approves a planner's plan as a whole before the first step (`task plan ID`).
            task["status"], task["review_mode"] = TaskStatus.AWAITING_REVIEW.value, "blocking"
        task["planned"] = planned
        return task, steps

    def _phase_one(self, plan: Any, execution: Any, description: str, requirements: list[str],
                   deadline: float | None, mode: ExecutionMode, request: Any, now: float) -> dict[str, Any]:
        """Input validation, the security scan, risk and the council's initial review.

        A failed validation is bad input (exit 2, nothing stored). High and critical
        risk (per council.review_policy), or findings that require review, make the
        task wait in awaiting_review for `task review`.
        """
        from agent_agency_cli.council import assess_risk, initial_review, review_mode
        from agent_agency_cli.engine.gating import gate_types_of
        from agent_agency_cli.validation import Status, validate_task

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

    def _check_workers(self, steps: list[Any], complexity: str | None) -> None:
        """A step no configured worker could ever run is bad input (exit 2)."""
        from agent_agency_cli.backends import check_available

        check_available(self.settings)  # the ray backend without the ray extra: exit 2, nothing stored
        if not any(s.requires or s.resources.model_fields_set for s in steps) and not complexity:
            return
        from agent_agency_cli.backends import worker_pool
        from agent_agency_cli.workers import needs_for

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

    def _learned_plan(self, plan: Any) -> tuple[Any, dict[str, int], dict[str, str]]:
        """Estimates from previous runs of the same steps, else of similar steps (learning/)."""
        from agent_agency_cli.learning.estimates import learned_estimates
        from agent_agency_cli.planning.dag import analyze

        if not self.paths.db.exists():
            return plan.execution, {}, {}
        sigs = {s.name: step_signature(s) for s in plan.steps}
        estimates, runs, source = learned_estimates(self.store, plan.steps, sigs)
        if not runs:
            return plan.execution, {}, {}
        return analyze([s.name for s in plan.steps], [s.needs for s in plan.steps], estimates), runs, source

    def submit_task(
        self, request: TaskRequest | dict[str, Any], *, start_daemon: bool = True
    ) -> str:
        """Validate and store a task as queued; start the daemon unless told not to."""
        task, steps = self.prepare(request)
        council = task.pop("initial_review")
        planned = task.pop("planned", None)
        from agent_agency_cli.security.vault import seal_task

        # Secrets go to the task's vault file; the rows hold placeholders or masks.
        sealed, write_secrets = seal_task(task, steps)
        shown = task["description"]
        store = self.store
        for _ in range(20):
            task["id"] = secrets.token_hex(3)
            write_secrets(self.paths.task_dir(task["id"]))
            try:
                store.insert_task(task, steps, review=council, shown_description=shown)
                break
            except sqlite3.IntegrityError:
                continue  # id collision: draw another
        else:  # pragma: no cover - 16M ids
            raise ConflictError("could not allocate a task id")
        try:  # the task exists from here on: whatever fails must still name its id
            from agent_agency_cli.planning.task_record import record_plan

            record_plan(store, task["id"], planned, steps, sealed)
            if task["status"] == TaskStatus.AWAITING_REVIEW.value:
                self._notify("awaiting_review", task["id"])
            if task["mode"] == ExecutionMode.DRY_RUN.value:
                self.dry_run(task["id"])
            elif start_daemon and task["status"] == TaskStatus.QUEUED.value:
                self.ensure_daemon()
        except Exception as exc:
            raise StoredNotStartedError(task["id"], exc) from exc
        return task["id"]

    def _notify(self, kind: str, task_id: str) -> None:
        hooks = self.settings.notifications.hooks
        if not hooks:
            return
        from agent_agency_cli.notify import deliver

        status = self.get_status(task_id)
        payload = {k: status[k] for k in ("id", "description", "status", "priority", "mode", "reason",
                                          "risk", "requirements")}
        # The CLI process exits soon: deliver now (bounded by the hooks' timeouts).
        deliver(list(hooks), kind, payload, log=lambda msg: None)

    def dry_run(self, task_id: str) -> dict[str, Any]:
        """Simulate a queued dry-run task in this process: nothing runs, nothing is written."""
        from agent_agency_cli.engine.dryrun import simulate
        from agent_agency_cli.engine.process import engine_identity

        return simulate(self.store, self.resolve(task_id), engine_identity())

    def impact_report(self, task_id: str) -> dict[str, Any]:
        """The dry-run impact report of any task (from its stored plan)."""
        from agent_agency_cli.engine.dryrun import impact_report

        tid = self.resolve(task_id)
        return impact_report(self.store.get_task(tid), self.store.get_steps(tid))

    # -- daemon ---------------------------------------------------------------

    def daemon_status(self) -> dict[str, Any] | None:
        """Info about the running daemon (pid, uptime, running tasks), or None."""
        from agent_agency_cli.engine import daemon

        info = daemon.read_info(self.paths)
        if info is None:
            return None
        running = self.store.conn.execute(
            "SELECT id FROM tasks WHERE owner = ? ORDER BY started_at", (info["identity"],)
        ).fetchall()
        return {
            **info,
            "started_at": iso(info["started_at"]),
            "uptime": time.time() - info["started_at"],
            "running_tasks": [r["id"] for r in running],
        }

    def ensure_daemon(self) -> dict[str, Any]:
        from agent_agency_cli.engine import daemon

        return daemon.spawn(self.paths, self.config_path)

    def stop_daemon(self, timeout: float | None = None) -> dict[str, Any] | None:
        from agent_agency_cli.engine import daemon

        return daemon.stop(self.paths, timeout or self.settings.daemon.stop_timeout + 30)

    def run_foreground(self, task_id: str) -> TaskStatus:
        """Run a queued task in this process (no daemon); returns its final status."""
        import anyio

        from agent_agency_cli.engine.scheduler import Engine

        tid = self.resolve(task_id)
        engine = Engine(self.home, self.settings)
        try:
            return anyio.run(engine.run_task, tid)
        finally:
            engine.conn.close()

    # -- reading --------------------------------------------------------------

    def resolve(self, prefix: str) -> str:
        return self.store.resolve_id(prefix)

    def get_status(self, task_id: str, *, interventions: bool = False) -> dict[str, Any]:
        """The task's full status as a JSON-ready dict (see README: status JSON)."""
        store = self.store
        tid = store.resolve_id(task_id)
        task = store.get_task(tid)
        steps = store.get_steps(tid)
        data = build_status(task, steps, self.paths)
        gates_by_step: dict[str, list[dict[str, Any]]] = {}
        for g in store.gate_results(tid):
            gates_by_step.setdefault(g["step"], []).append(
                {k: g[k] for k in ("gate", "name", "required", "status", "score", "violations", "attempt")})
        approval = None
        if data["status"] in ("awaiting_approval", "paused"):
            waiting = [s for s in data["steps"] if s["status"] == "awaiting_approval"]
            if not waiting and data["status"] == "awaiting_approval":  # a tool call of a running agent step
                row = store.conn.execute(
                    "SELECT step FROM events WHERE task_id = ? AND kind = 'approval_requested' "
                    "ORDER BY id DESC LIMIT 1", (tid,)).fetchone()
                waiting = [s for s in data["steps"] if row and s["name"] == row["step"]]
            if waiting:
                row = store.conn.execute(
                    "SELECT payload FROM events WHERE task_id = ? AND step = ? AND kind = "
                    "'approval_requested' ORDER BY id DESC LIMIT 1", (tid, waiting[0]["name"])).fetchone()
                approval = json.loads(row["payload"]) if row else {"step": waiting[0]["name"]}
        data["approval"] = approval
        for s in data["steps"]:
            s["gates"] = gates_by_step.get(s["name"], [])
        from agent_agency_cli.planning.model_status import add_model_info

        add_model_info(data, store, tid, steps)
        data["risk"] = json.loads(task["risk"]) if task["risk"] else None
        data["review_mode"] = task["review_mode"]
        data["completion"] = json.loads(task["completion"]) if task["completion"] else None
        if interventions:
            data["attempts"] = [
                {"step": r["step"], "attempt": r["attempt"], "status": r["status"], "worker": r["worker"],
                 "started_at": iso(r["started_at"]), "finished_at": iso(r["finished_at"]),
                 "duration": r["duration"], "exit_code": r["exit_code"], "reason": r["reason"]}
                for r in store.attempts(tid)
            ]
            data["interventions"] = [
                {
                    "id": r["id"], "kind": r["kind"], "args": json.loads(r["args"]),
                    "reason": r["reason"], "who": r["who"], "pid": r["pid"],
                    "created_at": iso(r["created_at"]), "applied_at": iso(r["applied_at"]),
                    "outcome": r["outcome"], "message": r["message"],
                }
                for r in store.interventions_for(tid)
            ]
        return data

    def list_tasks(
        self, status: str | list[str] | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Tasks, newest first, each with progress counts."""
        statuses = [status] if isinstance(status, str) else (status or [])
        for s in statuses:
            try:
                TaskStatus(s)
            except ValueError:
                raise BadInputError(
                    f"unknown status {s!r} (one of: {', '.join(t.value for t in TaskStatus)})"
                ) from None
        store = self.store
        rows = store.list_tasks(statuses, limit)
        counts = store.step_counts([r["id"] for r in rows])
        now = time.time()
        return [summary(r, counts[r["id"]], now) for r in rows]

    def events(self, task_id: str | None, after: int = 0, limit: int = 1000) -> list[dict]:
        tid = self.resolve(task_id) if task_id else None
        return [event_json(r) for r in self.store.events_after(tid, after, limit)]

    def follow(
        self, task_id: str, after: int = 0, poll: float = 0.05, until_done: bool = True,
        heartbeat: float | None = None,
    ) -> Iterator[dict[str, Any] | None]:
        """Yield the task's events as they are committed; stop once it has finished.

        With `heartbeat`, also yield None after that many idle seconds (for redraws).
        """
        store = self.store
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

    def wait(
        self, task_id: str, timeout: float | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Block until the task finishes (or `timeout` passes); returns its status."""
        tid = self.resolve(task_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        for ev in self.follow(tid):
            if on_event and ev is not None:
                on_event(ev)
            if deadline and time.monotonic() > deadline:
                break
        return self.get_status(tid)

    def result(self, task_id: str) -> dict[str, Any]:
        """The TaskResult: status, outputs (sizes, hashes), gate results, council reviews,
        final scores, metrics and duration."""
        store = self.store
        status = self.get_status(task_id)
        tid = status["id"]
        task = store.get_task(tid)
        results = {
            r["step"]: json.loads(r["payload"]).get("result")
            for r in store.conn.execute(
                "SELECT step, payload FROM events WHERE task_id = ? AND kind = 'step_completed' "
                "ORDER BY id", (tid,))
        }
        completion = json.loads(task["completion"]) if task["completion"] else {}
        gates = store.gate_results(tid)
        step_rows = {r["name"]: r for r in store.get_steps(tid)}
        steps_out = []
        for s in status["steps"]:
            s["result"] = results.get(s["name"]) if s["status"] == "completed" else None
            steps_out.append({k: s[k] for k in ("name", "status", "attempt", "duration", "exit_code",
                                                "reason", "result")}
                             | {"metrics": s.get("metrics"), "model": s.get("model")})
        return {
            "task_id": tid,
            "status": status["status"],
            "finished": status["finished"],
            "exit_code": status["exit_code"],
            "reason": status["reason"],
            "failed_step": status["failed_step"],
            "recoverable": completion.get("recoverable"),
            "gaps": completion.get("gaps", []),
            "completion_time": status["finished_at"],
            "duration": status["elapsed"],
            "workspace": status["workspace"],
            "archive": task["archive_path"],
            "outputs": self._outputs(tid, step_rows),
            "steps": steps_out,
            "gates": gates,
            "validation": json.loads(task["validation"]) if task["validation"] else None,
            "risk": json.loads(task["risk"]) if task["risk"] else None,
            "reviews": store.reviews(tid),
            "scores": {k: completion.get(k) for k in ("compliance_score", "quality_score",
                                                      "requires_followup")},
            "dry_run_report": completion.get("report"),
            "metrics": self._task_metrics(status, gates),
            "model_calls": {k: v for k, v in status["model_calls"].items() if k != "calls_list"},
            "plan": {k: status["plan"][k] for k in ("source", "planner_model", "not_planned")},
        }

    def _outputs(self, tid: str, step_rows: dict[str, sqlite3.Row]) -> list[dict[str, Any]]:
        """Declared output files of every step, with size and sha256 (missing ones flagged)."""
        import hashlib

        task = self.store.get_task(tid)
        base = Path(task["workdir"]) if task["workdir"] else self.paths.workspace(tid)
        out = []
        for name, row in step_rows.items():
            spec = json.loads(row["spec"])
            cwd = base / spec["workdir"] if spec.get("workdir") else base
            for rel in spec.get("outputs", []):
                path = cwd / rel
                entry: dict[str, Any] = {"step": name, "path": str(path), "exists": path.is_file()}
                if path.is_file():
                    h = hashlib.sha256()
                    with open(path, "rb") as fh:
                        for chunk in iter(lambda: fh.read(1 << 20), b""):
                            h.update(chunk)
                    entry.update(size=path.stat().st_size, sha256=h.hexdigest())
                out.append(entry)
        return out

    def _task_metrics(self, status: dict[str, Any], gates: list[dict[str, Any]]) -> dict[str, Any]:
        """The seed's TaskMetrics, aggregated from the steps' metric summaries."""
        from agent_agency_cli.engine.metrics import aggregate

        scores = [g["score"] for g in gates if g.get("score") is not None]
        summaries = [dict(s["metrics"], duration=s["duration"]) for s in status["steps"] if s.get("metrics")]
        return aggregate(
            summaries,
            duration=status["elapsed"] or 0.0,
            retries=sum(max(0, (s["attempt"] or 0) - 1) for s in status["steps"]),
            errors=sum(1 for s in status["steps"] if s["status"] == "failed"),
            quality_score=sum(scores) / len(scores) if scores else None,
        ) | {"steps_total": status["progress"]["total"], "steps_completed": status["progress"]["done"],
             "model_calls": (status.get("model_calls") or {}).get("calls", 0),
             "model_cost": (status.get("model_calls") or {}).get("cost", 0.0)}

    def log_lines(
        self, task_id: str, step: str | None = None
    ) -> Iterator[tuple[str, str, str, str]]:
        """(timestamp, step, stream, text) of the task's logs, in time order."""
        import heapq

        from agent_agency_cli.executors.base import parse_log_line

        tid = self.resolve(task_id)
        names = [r["name"] for r in self.store.get_steps(tid)]
        if step is not None and step not in names:
            raise NotFoundError(f"task {tid} has no step named {step!r} "
                                f"(steps: {', '.join(names[:10])})")
        chosen = [step] if step else names

        def read(name: str) -> Iterator[tuple[str, str, str, str]]:
            path = self.paths.step_log(tid, name)
            if not path.exists():
                return
            with open(path, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    ts, stream, text = parse_log_line(line)
                    yield ts, name, stream, text

        yield from heapq.merge(*(read(n) for n in chosen), key=lambda t: t[0])

    # -- control --------------------------------------------------------------

    def pause(self, task_id: str) -> str:
        return self._intervene(task_id, "pause")

    def resume(self, task_id: str) -> str:
        return self._intervene(task_id, "resume")

    def cancel(self, task_id: str, reason: str = "cancelled by user") -> str:
        return self._intervene(task_id, "cancel", reason=reason)

    def escalate(self, task_id: str, reason: str) -> str:
        return self._intervene(task_id, "escalate", reason=reason)

    def override(self, task_id: str, step: str, action: str, reason: str) -> str:
        if action not in ("skip", "succeed", "retry"):
            raise BadInputError(f"unknown override action {action!r} (use skip, succeed or retry)")
        tid = self.resolve(task_id)
        self.store.get_step(tid, step)  # NotFoundError for an unknown step
        return self._intervene(tid, "override", {"step": step, "action": action}, reason=reason)

    def modify(
        self,
        task_id: str,
        *,
        priority: str | None = None,
        deadline: str | None = None,
        requirements: list[str] | str | None = None,
        mode: str | None = None,
        max_cpu: int | None = None,
        max_memory: str | int | None = None,
        models: list[str] | None = None,
    ) -> str:
        """Change priority, deadline, requirements, mode, resource limits or the model of
        model steps not yet started (`models`: NAME for all of them, or STEP=NAME)."""
        changes: dict[str, Any] = {}
        if models:
            from agent_agency_cli.engine.hot_swap import parse_model_changes

            changes["models"] = {"steps": parse_model_changes(self.store, self.resolve(task_id), models,
                                                              self.settings),
                                 "who": _who()}
        if priority is not None:
            try:
                p = Priority(priority)
            except ValueError:
                raise BadInputError(f"unknown priority {priority!r} "
                                    "(low, normal, high, urgent)") from None
            changes.update(priority=p.value, priority_rank=p.rank)
        if deadline is not None:
            changes["deadline"] = parse_deadline(deadline)
        if requirements is not None:
            from agent_agency_cli.request import TaskRequest

            req = TaskRequest(requirements=requirements).requirements  # type: ignore[arg-type]
            if any(not r for r in req):
                raise BadInputError("requirements: empty item")
            changes["requirements"] = req
        if mode is not None:
            try:
                changes["mode"] = ExecutionMode(mode).value
            except ValueError:
                raise BadInputError(f"unknown mode {mode!r} (auto, strict, dry-run)") from None
        limits: dict[str, Any] = {}
        if max_cpu is not None:
            if max_cpu < 1:
                raise BadInputError("--max-cpu must be at least 1")
            limits["max_cpu"] = max_cpu
        if max_memory is not None:
            limits["max_memory_mb"] = parse_size_mb(max_memory, minimum=1)
        if limits:
            changes["limits"] = limits
        if not changes:
            raise BadInputError("nothing to modify: give --priority, --deadline, --requirements, "
                                "--mode, --max-cpu, --max-memory or --model")
        return self._intervene(task_id, "modify", {"changes": changes})

    # -- workers, breakers, metrics --------------------------------------------

    def workers(self) -> list[dict[str, Any]]:
        """Configured (or detected) workers with their usage by the steps running now."""
        from agent_agency_cli.backends import annotate, worker_pool
        from agent_agency_cli.planning.plan_file import StepResources
        from agent_agency_cli.workers import needs_for

        pool = worker_pool(self.settings)  # the configured workers, or the Ray cluster's nodes
        rows = self.store.conn.execute(
            "SELECT s.task_id, s.name, s.spec, s.worker, t.complexity FROM steps s JOIN tasks t "
            "ON t.id = s.task_id WHERE s.status IN ('running', 'paused') AND s.worker IS NOT NULL"
        ).fetchall()
        by_id = {w.id: w for w in pool.workers}
        for r in rows:
            w = by_id.get(r["worker"])
            if w is None:
                continue
            spec = json.loads(r["spec"])
            default = self.settings.resource_allocation.get(r["complexity"]) if r["complexity"] else None
            needs = needs_for(spec.get("requires", []), StepResources.model_validate(spec.get("resources", {})),
                              default)
            cpu, mem, gpus, gmem = needs.for_worker(w)
            w.used_cpu += cpu
            w.used_memory_mb += mem
            w.used_gpus += gpus
            w.used_gpu_memory_mb += gmem
            w.running.add(f"{r['task_id']}/{r['name']}")
        return annotate(self.settings, pool, pool.snapshot())

    def breakers(self) -> list[dict[str, Any]]:
        from agent_agency_cli.store.breakers import BreakerStore

        return BreakerStore(self.store.conn).list(self.settings.recovery.breakers)

    def tools(self, server: str | None = None) -> list[dict[str, Any]]:
        """Each configured MCP server's tools (or one server's): see executors/mcp_session.py."""
        from agent_agency_cli.executors.mcp_session import catalog

        return catalog(self.settings.mcp_servers, server)

    def learning(self) -> list[dict[str, Any]]:
        """What has been learnt: per step class and executor, runs, success rate and means."""
        from agent_agency_cli.learning.aggregate import all_stats, summary

        return [summary(a) for a in all_stats(self.store.conn)]

    def learning_export(self, out: str | os.PathLike[str]) -> int:
        """Write this machine's learning aggregates as JSONL (no text, paths or hosts)."""
        from agent_agency_cli.learning.aggregate import write_export

        return write_export(self.store.conn, Path(out))

    def learning_import(self, path: str | os.PathLike[str]) -> dict[str, int]:
        """Merge another machine's `learning export` file, weighted by its counts."""
        from agent_agency_cli.learning.aggregate import import_file

        return import_file(self.store.conn, Path(path))

    def reset_breaker(self, name: str) -> str:
        from agent_agency_cli.store.breakers import BreakerStore

        if not BreakerStore(self.store.conn).reset(name):
            names = [b["name"] for b in self.breakers()]
            raise NotFoundError(f"no circuit breaker named {name!r}"
                                + (f" (known: {', '.join(names[:10])})" if names else " (none yet)"))
        return f"circuit {name} reset (closed)"

    def step_metrics(self, task_id: str, step: str | None = None) -> dict[str, Any]:
        """Per step: the metric summary and the sampled series (ts, cpu, rss, io, threads, gpu)."""
        store = self.store
        tid = store.resolve_id(task_id)
        if step is not None:
            store.get_step(tid, step)
        samples: dict[str, list[dict[str, Any]]] = {}
        for r in store.metric_samples(tid, step):
            samples.setdefault(r["step"], []).append(
                {k: r[k] for k in ("attempt", "ts", "cpu_percent", "rss_bytes", "read_bytes",
                                   "write_bytes", "threads", "gpu_memory_bytes", "gpu_util_percent")})
        status = self.get_status(tid)
        steps = [s for s in status["steps"] if step is None or s["name"] == step]
        out = {
            "task_id": tid,
            "steps": [{"name": s["name"], "status": s["status"], "duration": s["duration"],
                       "attempt": s["attempt"], "worker": s["worker"], "summary": s["metrics"],
                       "samples": samples.get(s["name"], []), "model": s.get("model")} for s in steps],
            "task": self._task_metrics(status, store.gate_results(tid)),
        }
        if step is not None:
            out.update(samples=out["steps"][0]["samples"], summary=out["steps"][0]["summary"])
        return out

    def archive(self, task_id: str) -> dict[str, Any]:
        """Pack a finished task's workspace and logs into archive/<id>.tar.gz."""
        from agent_agency_cli.engine.archival import archive_task

        tid = self.resolve(task_id)
        return archive_task(self.store, self.paths, tid, self.get_status(tid, interventions=True))

    def restore(self, task_id: str) -> dict[str, Any]:
        """Unpack an archived task back into its task directory."""
        from agent_agency_cli.engine.archival import restore_task

        return restore_task(self.store, self.paths, self.resolve(task_id))

    def purge(self, older_than: str | float) -> tuple[list[str], list[str]]:
        """Archive every finished task older than the given age ("30d"): (archived, errors)."""
        from agent_agency_cli.engine.archival import purge

        age = parse_duration(older_than, "--older-than")
        if age <= 0:
            raise BadInputError("--older-than must be more than 0")
        return purge(self.store, self.paths, age)

    def approve(self, task_id: str, step: str | None = None, all_remaining: bool = False) -> str:
        """Approve the step awaiting approval (strict mode, a gate decision or a manual review)."""
        tid = self.resolve(task_id)
        if step is not None:
            self.store.get_step(tid, step)
        task = self.store.get_task(tid)
        if TaskStatus(task["status"]) is TaskStatus.AWAITING_REVIEW:
            return self.review(tid, approve=True, reason="approved")
        return self._intervene(tid, "approve", {"step": step, "all_remaining": all_remaining})

    def reject(self, task_id: str, reason: str, step: str | None = None) -> str:
        """Reject the step awaiting approval: it fails, and with it the task."""
        tid = self.resolve(task_id)
        if step is not None:
            self.store.get_step(tid, step)
        task = self.store.get_task(tid)
        if TaskStatus(task["status"]) is TaskStatus.AWAITING_REVIEW:
            return self.review(tid, approve=False, reason=reason)
        return self._intervene(tid, "reject", {"step": step}, reason=reason)

    def review(self, task_id: str, *, approve: bool, reason: str) -> str:
        """Decide a blocking council review (awaiting_review): approve queues the task,
        reject fails it. On a task awaiting a manual_review gate it approves/rejects that."""
        store = self.store
        tid = store.resolve_id(task_id)
        task = store.get_task(tid)
        status = TaskStatus(task["status"])
        if status is TaskStatus.AWAITING_APPROVAL:
            return (self._intervene(tid, "approve", {"step": None, "all_remaining": False})
                    if approve else self._intervene(tid, "reject", {"step": None}, reason=reason))
        if status is not TaskStatus.AWAITING_REVIEW:
            raise ConflictError(f"task {tid} is {status}; nothing awaits review")
        who = _who()
        allowed = self.settings.council.reviewers
        if allowed and who not in allowed and who.split("@")[0] not in allowed:
            raise ConflictError(f"{who} is not a reviewer (council.reviewers: {', '.join(allowed)})")
        store.add_review(tid, phase="initial", kind="human", verdict="approve" if approve else "reject",
                         data={}, reviewer=who, reason=reason)
        if approve:
            store.set_task_status(tid, status, TaskStatus.QUEUED, event="task_review_approved",
                                  payload={"who": who, "reason": reason})
            self.ensure_daemon()
            return f"review approved: task {tid} is queued"
        store.set_task_status(tid, status, TaskStatus.FAILED, event="task_failed",
                              payload={"reason": f"rejected in review: {reason}", "who": who},
                              reason=f"rejected in review: {reason}", finished_at=time.time(),
                              exit_code=TaskStatus.FAILED.exit_code,
                              completion=json.dumps({"status": "failed", "recoverable": False,
                                                     "reason": f"rejected in review: {reason}"}))
        return f"review rejected: task {tid} failed"

    def retry(self, task_id: str, *, start_daemon: bool = True) -> str:
        """Re-queue a failed or cancelled task; finished steps are kept, the rest run again."""
        store = self.store
        tid = store.resolve_id(task_id)
        task = store.get_task(tid)
        status = TaskStatus(task["status"])
        if status not in (TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.PARTIALLY_COMPLETED):
            raise ConflictError(f"task {tid} is {status}; only failed or cancelled tasks "
                                "can be retried")
        now = time.time()
        with store.tx() as conn:
            cur = conn.execute(
                "UPDATE tasks SET status = 'queued', finished_at = NULL, exit_code = NULL, "
                "reason = NULL, failed_step = NULL, owner = NULL, updated_at = ? "
                "WHERE id = ? AND status = ?", (now, tid, status.value))
            if cur.rowcount != 1:
                raise ConflictError(f"task {tid} changed state; try again")
            reset = conn.execute(
                "UPDATE steps SET status = 'pending', max_attempts = MAX(max_attempts, attempt + 1), "
                "finished_at = NULL WHERE task_id = ? AND status IN "
                "('failed', 'cancelled', 'interrupted', 'skipped') AND overridden = 0",
                (tid,)).rowcount
            conn.execute(
                "INSERT INTO events (task_id, kind, payload, ts) VALUES (?, 'task_retried', ?, ?)",
                (tid, json.dumps({"status": "queued", "steps_reset": reset, "who": _who()}), now))
        if start_daemon:
            self.ensure_daemon()
        return f"task {tid} queued again ({reset} step(s) will run)"

    def _intervene(
        self, task_id: str, kind: str, args: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> str:
        args = args or {}
        store = self.store
        tid = store.resolve_id(task_id)
        for _ in range(3):
            task = store.get_task(tid)
            status = TaskStatus(task["status"])
            if status.is_terminal and not (kind == "override"):
                raise ConflictError(f"task {tid} is {status}; nothing to {kind}")
            from agent_agency_cli.engine.process import identity_alive

            owned = status in ACTIVE_TASK_STATUSES and task["owner"] is not None
            if owned and identity_alive(task["owner"]):
                return self._send(tid, kind, args, reason)
            if owned:
                # Its engine died: the daemon recovers the task first, then we retry.
                self.ensure_daemon()
                self._wait_recovered(tid, task["owner"])
                continue
            try:
                return self._apply_direct(task, kind, args, reason)
            except InvalidTransition:
                continue  # an engine claimed it meanwhile: go through the engine
        raise ConflictError(f"task {tid} kept changing state; try again")

    def _wait_recovered(self, tid: str, dead_owner: str) -> None:
        deadline = time.monotonic() + INTERVENTION_TIMEOUT
        while time.monotonic() < deadline:
            if self.store.get_task(tid)["owner"] != dead_owner:
                return
            time.sleep(0.05)
        raise DaemonError(f"task {tid}'s engine died and the daemon did not recover it; "
                          "see `agent-agency-cli daemon status`")

    def _send(self, tid: str, kind: str, args: dict[str, Any], reason: str | None) -> str:
        store = self.store
        iid = store.add_intervention(tid, kind, args, reason, _who(), os.getpid())
        deadline = time.monotonic() + INTERVENTION_TIMEOUT
        while time.monotonic() < deadline:
            row = store.get_intervention(iid)
            if row["applied_at"] is not None:
                if row["outcome"] != "applied":
                    raise ConflictError(row["message"])
                return str(row["message"])
            time.sleep(0.01)
        raise DaemonError(
            f"the engine running task {tid} did not apply the {kind} within "
            f"{INTERVENTION_TIMEOUT:g}s; the request stays queued (check `daemon status`)"
        )

    def _apply_direct(
        self, task: sqlite3.Row, kind: str, args: dict[str, Any], reason: str | None
    ) -> str:
        """Interventions on a task no engine holds (queued, paused, escalated, finished)."""
        store = self.store
        tid = task["id"]
        status = TaskStatus(task["status"])
        who = _who()
        iid = store.add_intervention(tid, kind, args, reason, who, os.getpid())
        T = TaskStatus
        if kind == "pause":
            if status is T.PAUSED:
                raise self._reject(iid, tid, f"task {tid} is already paused")
            if status is not T.QUEUED:
                raise self._reject(iid, tid, f"task {tid} is {status}; nothing to pause")
            store.set_task_status(tid, status, T.PAUSED, event="task_paused",
                                  paused_at=time.time())
            msg = f"paused task {tid} (it will not start until resumed)"
        elif kind == "resume":
            if status not in (T.PAUSED, T.ESCALATED):
                raise self._reject(iid, tid, f"task {tid} is {status}; nothing to resume")
            extra = {}
            if task["paused_at"]:
                extra["paused_total"] = task["paused_total"] + time.time() - task["paused_at"]
            store.set_task_status(tid, status, T.QUEUED, event="task_resumed", paused_at=None,
                                  **extra)
            self.ensure_daemon()
            msg = f"resumed task {tid} (queued for the daemon)"
        elif kind == "cancel":
            steps = store.get_steps(tid)
            open_steps = [s["name"] for s in steps if not StepStatus(s["status"]).is_finished]
            store.set_steps_status(
                tid, open_steps, {s["name"]: StepStatus(s["status"]) for s in steps},
                StepStatus.CANCELLED, event="step_cancelled", payload={"reason": reason})
            store.set_task_status(tid, status, T.CANCELLED, event="task_cancelled",
                                  payload={"reason": reason}, reason=reason,
                                  finished_at=time.time(), exit_code=T.CANCELLED.exit_code)
            msg = f"cancelled task {tid}"
        elif kind == "modify":
            changes = dict(args["changes"])
            swapped = None
            if "models" in changes:  # hot-swap (engine/hot_swap.py); task columns below
                from agent_agency_cli.engine.hot_swap import swap_models

                try:
                    swapped = swap_models(store, tid, changes.pop("models"), self.settings)
                except ConflictError as exc:
                    raise self._reject(iid, tid, str(exc)) from None
            if "limits" in changes:
                changes["limits"] = {**json.loads(task["limits"] or "{}"), **changes["limits"]}
            old = {k: task[k] for k in changes if k in task.keys()}
            if changes:
                store.update_task_fields(tid, event="task_modified",
                                         payload={"old": old, "new": changes}, **changes)
            msg = f"modified task {tid}: " + ", ".join([*sorted(changes), *([swapped] if swapped else [])])
        elif kind == "override":
            step = store.get_step(tid, args["step"])
            old_s = StepStatus(step["status"])
            try:
                new_s = override_target(old_s, args["action"], args["step"])
            except ConflictError as exc:
                raise self._reject(iid, tid, str(exc)) from None
            fields: dict[str, Any] = {"overridden": int(new_s is not StepStatus.PENDING),
                                      "reason": f"override: {reason}"}
            if new_s is StepStatus.PENDING:
                fields["max_attempts"] = max(step["max_attempts"], step["attempt"] + 1)
            store.set_step_status(tid, args["step"], old_s, new_s, event="step_overridden",
                                  payload={"action": args["action"], "reason": reason}, **fields)
            msg = f"step {args['step']}: {args['action']} ({reason})"
            if status.is_terminal:
                msg += f"; run `agent-agency-cli task retry {tid}` to continue the task"
        else:
            raise self._reject(iid, tid, f"task {tid} is {status}; nothing to {kind}")
        store.finish_intervention(iid, tid, "applied", msg)
        return msg

    def _reject(self, iid: int, tid: str, message: str) -> ConflictError:
        self.store.finish_intervention(iid, tid, "rejected", message)
        return ConflictError(message)


# -- JSON views ---------------------------------------------------------------


def event_json(r: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": r["id"],
        "task_id": r["task_id"],
        "step": r["step"],
        "kind": r["kind"],
        "ts": iso(r["ts"]),
        "payload": json.loads(r["payload"]),
    }


def _elapsed(task: sqlite3.Row, now: float) -> float | None:
    if task["started_at"] is None:
        return None
    end = task["finished_at"] or now
    paused = task["paused_total"] or 0.0
    if task["paused_at"] and not task["finished_at"]:
        paused += now - task["paused_at"]
    return max(0.0, end - task["started_at"] - paused)


def summary(task: sqlite3.Row, counts: dict[str, int], now: float) -> dict[str, Any]:
    total = sum(counts.values())
    done = counts.get("completed", 0)
    return {
        "id": task["id"],
        "description": task["description"],
        "status": task["status"],
        "priority": task["priority"],
        "mode": task["mode"],
        "created_at": iso(task["created_at"]),
        "age": now - task["created_at"],
        "elapsed": _elapsed(task, now),
        "deadline": iso(task["deadline"]),
        "deadline_passed": _deadline_passed(task, now),
        "progress": {"done": done, "total": total,
                     "percent": round(100.0 * done / total, 1) if total else 0.0},
        "exit_code": task["exit_code"],
    }


def _deadline_passed(task: sqlite3.Row, now: float) -> bool:
    if not task["deadline"]:
        return False
    return (task["finished_at"] or now) > task["deadline"]


def _remaining(steps: list[sqlite3.Row], now: float) -> float | None:
    """Remaining time along the critical path of the unfinished steps (None if unknown)."""
    from agent_agency_cli.planning.dag import longest_path, topological_levels

    if not any(s["estimate"] for s in steps):
        return None
    names = [s["name"] for s in steps]
    index = {n: i for i, n in enumerate(names)}
    preds = [[index[d] for d in json.loads(s["needs"])] for s in steps]
    weights = []
    for s in steps:
        st = StepStatus(s["status"])
        est = s["estimate"] or 0.0
        if st.is_finished:
            weights.append(0.0)
        elif st.is_active and s["started_at"]:
            active = now - s["started_at"] - (s["paused_total"] or 0.0)
            if s["paused_at"]:
                active -= now - s["paused_at"]
            weights.append(max(est - active, 0.0))
        else:
            weights.append(est)
    _, order = topological_levels(names, preds)
    total, _ = longest_path(order, preds, weights)
    return total


def build_status(task: sqlite3.Row, steps: list[sqlite3.Row], paths: HomePaths) -> dict[str, Any]:
    """The status JSON object of one task (documented in the README)."""
    now = time.time()
    status = TaskStatus(task["status"])
    counts: dict[str, int] = {}
    for s in steps:
        counts[s["status"]] = counts.get(s["status"], 0) + 1
    total = len(steps)
    done = counts.get("completed", 0)
    plan = json.loads(task["plan"])
    step_list = []
    # Linear and lean per row: this runs over every step (100,000 in a big plan).
    active = {st.value for st in StepStatus if st.is_active}
    loads = json.loads
    for s in steps:
        spec = loads(s["spec"])
        is_active = s["status"] in active
        duration = s["duration"]
        if duration is None and is_active and s["started_at"]:
            duration = now - s["started_at"] - (s["paused_total"] or 0.0) - (
                (now - s["paused_at"]) if s["paused_at"] else 0.0)
        started, finished, retry_at = s["started_at"], s["finished_at"], s["next_retry_at"]
        metrics = s["metrics"]
        step_list.append({
            "name": s["name"],
            "status": s["status"],
            "kind": s["kind"],
            "command": step_command(s["kind"], spec),
            "description": spec.get("description"),
            "needs": [] if s["needs"] == "[]" else loads(s["needs"]),
            "attempt": s["attempt"],
            "max_attempts": s["max_attempts"],
            "started_at": None if started is None else iso(started),
            "finished_at": None if finished is None else iso(finished),
            "duration": duration,
            "estimate": s["estimate"],
            "timeout": s["timeout"],
            "exit_code": s["exit_code"],
            "reason": s["reason"],
            "progress": s["progress"],
            "progress_message": s["progress_message"],
            "pid": s["pid"] if is_active else None,
            "overridden": bool(s["overridden"]),
            "worker": s["worker"],
            "next_retry_at": None if retry_at is None else iso(retry_at),
            "metrics": loads(metrics) if metrics else None,
            "result": None,
        })
    eta = None if status.is_terminal else _remaining(steps, now)
    return {
        "id": task["id"],
        "description": task["description"],
        "mode": task["mode"],
        "priority": task["priority"],
        "status": status.value,
        "finished": status.is_terminal,
        "requirements": json.loads(task["requirements"]),
        "deadline": iso(task["deadline"]),
        "deadline_passed": _deadline_passed(task, now),
        "created_at": iso(task["created_at"]),
        "started_at": iso(task["started_at"]),
        "finished_at": iso(task["finished_at"]),
        "paused_at": iso(task["paused_at"]),
        "elapsed": _elapsed(task, now),
        "eta": eta,
        "progress": {
            "done": done,
            "total": total,
            "percent": round(100.0 * done / total, 1) if total else 0.0,
            "by_status": counts,
        },
        "exit_code": task["exit_code"],
        "reason": task["reason"],
        "failed_step": task["failed_step"],
        "workdir": task["workdir"],
        "workspace": str(paths.workspace(task["id"])),
        "plan_path": task["plan_path"],
        "limits": json.loads(task["limits"] or "{}"),
        "plan": {
            "parallel_groups": plan.get("parallel_groups", []),
            "critical_path": plan.get("critical_path", []),
            "estimated_duration": plan.get("estimated_duration"),
            "concurrency": task["concurrency"],
            "learned": plan.get("learned", {}),
            "learned_from": plan.get("learned_from", {}),
        },
        "complexity": task["complexity"],
        "steps": step_list,
    }


__all__ = ["TaskOrchestrator", "TaskRequest", "acting_as", "build_status", "parse_duration"]
