"""TaskOrchestrator: the one facade the CLI, the TUI, the SDK and the API call.

A facade of a few hundred lines over its parts: intake (validation, council and planning
at submit, orchestration/intake.py), views (status, result and read models,
orchestration/views.py) and control (interventions, review, retry,
orchestration/control.py, over the handlers of engine/control.py).

It never imports typer, rich or textual. Heavy parts (pydantic for intake, the engine,
anyio, psutil) are imported only by the calls that need them, so read commands start fast.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_agency_cli.errors import AgencyError, BadInputError, ConflictError, NotFoundError
from agent_agency_cli.models import ExecutionMode, TaskStatus
from agent_agency_cli.orchestration import views
from agent_agency_cli.orchestration.actor import acting_as, who
from agent_agency_cli.orchestration.follow import follow_events
from agent_agency_cli.orchestration.local_hooks import notify_here
from agent_agency_cli.orchestration.views import build_status, event_json, summary
from agent_agency_cli.paths import HomePaths, data_home
from agent_agency_cli.store import Store, connect
from agent_agency_cli.timeutil import iso
from agent_agency_cli.units import parse_duration, parse_size_mb

if TYPE_CHECKING:
    from agent_agency_cli.config import Settings
    from agent_agency_cli.orchestration.control import Control
    from agent_agency_cli.request import TaskRequest


def __getattr__(name: str) -> Any:
    # Names that load pydantic resolve on demand, so read-only commands skip them.
    if name == "TaskRequest":
        from agent_agency_cli.request import TaskRequest  # lazy: keeps start-up light

        return TaskRequest
    if name in ("command_text", "step_signature"):
        from agent_agency_cli.orchestration import intake  # lazy: keeps start-up light

        return getattr(intake, name)
    raise AttributeError(name)


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
            from agent_agency_cli.config import load_settings  # lazy: keeps start-up light

            self._settings = load_settings(self.config_path, home=self.home)
        return self._settings

    @property
    def store(self) -> Store:
        if self._conn is None:
            self._conn = connect(self.paths.db)
        if self._vault is None:
            from agent_agency_cli.security.vault import Vault  # lazy: keeps CLI startup light

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

    @property
    def _control(self) -> Control:
        # engine.process (psutil) loads only for commands that steer a task.
        from agent_agency_cli.orchestration.control import Control

        return Control(self.store, ensure_daemon=self.ensure_daemon, notify=self._notify,
                       settings=lambda: self.settings)

    # -- submission -----------------------------------------------------------

    def prepare(self, request: TaskRequest | dict[str, Any]) -> tuple[dict[str, Any], list[dict]]:
        """Validate a request fully and build the rows to store. Writes nothing."""
        # pydantic, the plan parser, validation and the council load only at submit.
        from agent_agency_cli.orchestration.intake import Intake

        return Intake(self.settings, self.store if self.paths.db.exists() else None).prepare(request)

    def submit_task(
        self, request: TaskRequest | dict[str, Any], *, start_daemon: bool = True, reserve: str | None = None,
        request_id: str | None = None,
    ) -> str:
        """Validate and store a task as queued; start the daemon unless told not to. `reserve`
        (models.HELD_OWNER, FOREGROUND_OWNER) keeps it from any daemon's claim. `request_id`,
        the caller's id of this submission: a retry with the same one returns the task stored
        by the first instead of storing another (orchestration/submission.py)."""
        from agent_agency_cli.orchestration.submission import submit  # lazy: keeps start-up light

        return submit(self, request, start_daemon=start_daemon, reserve=reserve, request_id=request_id)

    def submit_tasks(
        self, requests: Sequence[TaskRequest | dict[str, Any]], *, start_daemon: bool = True,
        request_ids: Sequence[str] | None = None,
    ) -> list[str | AgencyError]:
        """Submit a batch: per request, in order, its task id or the error that refused it.
        One transaction per task (each durable once stored); a bad request stores nothing of
        itself and does not stop the others; the daemon starts once, after the last.
        `request_ids`, one per request, as submit_task's."""
        from agent_agency_cli.orchestration.submission import submit_many  # lazy: keeps start-up light

        return submit_many(self, requests, start_daemon=start_daemon, request_ids=request_ids)

    def _notify(self, kind: str, task_id: str) -> None:
        """Notification hooks for a change made in this process (delivered before it exits)."""
        notify_here(self, kind, task_id)

    def dry_run(self, task_id: str) -> dict[str, Any]:
        """Simulate a queued dry-run task in this process: nothing runs, nothing is written."""
        from agent_agency_cli.engine.dryrun import simulate  # lazy: keeps CLI startup light
        from agent_agency_cli.engine.process import engine_identity  # lazy: keeps CLI startup light

        return simulate(self.store, self.resolve(task_id), engine_identity())

    def impact_report(self, task_id: str) -> dict[str, Any]:
        """The dry-run impact report of any task (from its stored plan)."""
        from agent_agency_cli.engine.dryrun import impact_report  # lazy: keeps CLI startup light

        tid = self.resolve(task_id)
        return impact_report(self.store.get_task(tid), self.store.get_steps(tid))

    # -- daemon ---------------------------------------------------------------

    def daemon_status(self) -> dict[str, Any] | None:
        """Info about the running daemon (pid, uptime, running tasks), or None."""
        from agent_agency_cli.engine import daemon  # lazy: keeps CLI startup light

        info = daemon.read_info(self.paths)
        if info is None:
            return None
        return {
            **info,
            "started_at": iso(info["started_at"]),
            "uptime": time.time() - info["started_at"],
            "running_tasks": self.store.tasks_owned_by(info["identity"]),
        }

    def ensure_daemon(self) -> dict[str, Any]:
        from agent_agency_cli.engine import daemon  # lazy: keeps CLI startup light

        return daemon.spawn(self.paths, self.config_path)

    def stop_daemon(self, timeout: float | None = None) -> dict[str, Any] | None:
        from agent_agency_cli.engine import daemon  # lazy: keeps CLI startup light

        return daemon.stop(self.paths, timeout or self.settings.daemon.stop_timeout + 30)

    def release_task(self, task_id: str, *, start_daemon: bool = True) -> str:
        """`task release`: a held queued task becomes claimable (and the daemon starts)."""

        tid = self.resolve(task_id)
        if not self.store.release_task(tid):
            raise ConflictError(f"task {tid} is not held; only a task created with --hold can be released")
        if self.store.get_task(tid)["mode"] == ExecutionMode.DRY_RUN.value:
            self.dry_run(tid)  # no daemon claims a dry run: it is simulated here, as at submit
        elif start_daemon:
            self.ensure_daemon()
        return tid

    def run_foreground(self, task_id: str) -> TaskStatus:
        """Run a queued task in this process (no daemon); returns its final status."""
        import anyio  # lazy: keeps CLI startup light

        from agent_agency_cli.engine.engine import Engine  # lazy: keeps CLI startup light

        tid = self.resolve(task_id)
        engine = Engine(self.home, self.settings)
        try:
            return anyio.run(engine.run_task, tid)
        finally:
            engine.conn.close()

    # -- reading --------------------------------------------------------------

    def resolve(self, prefix: str) -> str:
        return self.store.resolve_id(prefix)

    def data_version(self) -> int:
        """Changes whenever another process commits: a near-free "anything new?" check."""
        return self.store.data_version()

    def last_event_id(self) -> int:
        """The id of the newest event of any task (0 when there is none): where a stream starts."""
        return self.store.last_event_id()

    def step_log_path(self, task_id: str, step: str) -> Path:
        """The log file of a step (it may not exist yet); NotFoundError for an unknown step."""
        tid = self.resolve(task_id)
        self.store.get_step(tid, step)
        return self.paths.step_log(tid, step)

    def get_status(self, task_id: str, *, interventions: bool = False, steps: str = "all", offset: int = 0,
                   limit: int | None = None) -> dict[str, Any]:
        """The task's status as a JSON-ready dict (see README: status JSON); `steps` "all" (from
        `offset`, at most `limit`), "summary" (the notable ones) or "auto" (orchestration/step_selection.py)."""
        return views.task_status(self.store, self.paths, task_id, interventions=interventions, steps=steps,
                                 offset=offset, limit=limit)

    def list_tasks(
        self, status: str | list[str] | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Tasks, newest first, each with progress counts."""
        return views.task_list(self.store, status, limit)

    def iter_tasks(self, statuses: list[str] | None = None) -> Iterator[dict[str, Any]]:
        """Every task (newest first) as `list_tasks` shows it, read page by page: for a list
        of any length in bounded memory."""
        from agent_agency_cli.store.task_pages import iter_tasks  # lazy: only `task list --json` streams

        now = time.time()
        for row, counts in iter_tasks(self.store, statuses or []):
            yield summary(row, counts, now)

    def events(self, task_id: str | None, after: int = 0, limit: int = 1000) -> list[dict]:
        tid = self.resolve(task_id) if task_id else None
        return [event_json(r) for r in self.store.events_after(tid, after, limit)]

    def event_lines(self, task_id: str, after: int = 0) -> Iterator[str]:
        """Every event of the task after id `after` as a compact JSON line (the shape of `events`),
        read page by page (orchestration/event_lines.py)."""
        from agent_agency_cli.orchestration.event_lines import event_lines  # lazy: keeps start-up light

        return event_lines(self.store, self.resolve(task_id), after)

    def follow(
        self, task_id: str, after: int = 0, poll: float = 0.05, until_done: bool = True,
        heartbeat: float | None = None,
    ) -> Iterator[dict[str, Any] | None]:
        """Yield the task's events as they are committed; stop once it has finished.

        With `heartbeat`, also yield None after that many idle seconds (for redraws).
        """
        return follow_events(self.store, task_id, after, poll, until_done, heartbeat)

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
        return views.task_result(self.store, self.paths, task_id)

    def log_lines(
        self, task_id: str, step: str | None = None
    ) -> Iterator[tuple[str, str, str, str]]:
        """(timestamp, step, stream, text) of the task's logs, in time order."""
        return views.log_lines(self.store, self.paths, task_id, step)

    def readable_log_lines(
        self, task_id: str, step: str | None = None
    ) -> Iterator[tuple[str, str, str, str]]:
        """`log_lines` as people read them (`task logs`): every step also shows its command,
        start, end and exit, from its row (engine/step_logs.py)."""
        from agent_agency_cli.engine.step_logs import log_lines  # lazy: keeps start-up light

        return log_lines(self.store, self.paths, self.store.resolve_id(task_id), step)

    def archived_logs(self, task_id: str) -> str | None:
        """The archive holding the task's logs, when they are packed away (else None)."""
        tid = self.store.resolve_id(task_id)
        archive = self.store.get_task(tid)["archive_path"]
        return archive if archive and not self.paths.logs_dir(tid).exists() else None

    def validation_warnings(self, task_id: str) -> list[str]:
        """The stored validation report's warnings (a deadline the estimate does not fit, ...)."""

        from agent_agency_cli.validation import warnings_of  # lazy: keeps start-up light

        raw = self.store.get_task(self.store.resolve_id(task_id))["validation"]
        return warnings_of(json.loads(raw) if raw else None)

    def orphaned(self, task_ids: list[str]) -> list[str]:
        """The tasks among `task_ids` still held by an engine whose process is gone."""
        from agent_agency_cli.engine.liveness import orphaned  # lazy: keeps start-up light

        return orphaned(self.store, task_ids)

    def step_metrics(self, task_id: str, step: str | None = None) -> dict[str, Any]:
        """Per step: the metric summary and the sampled series (ts, cpu, rss, io, threads, gpu)."""
        return views.step_metrics(self.store, self.paths, task_id, step)

    def workers(self) -> list[dict[str, Any]]:
        """Configured (or detected) workers with their usage by the steps running now."""
        return views.workers(self.store, self.settings)

    def tools(self, server: str | None = None) -> list[dict[str, Any]]:
        """Each configured MCP server's tools (or one server's): see executors/mcp_session.py."""
        from agent_agency_cli.executors.mcp_session import catalog  # lazy: the ai extra

        return catalog(self.settings.mcp_servers, server)

    def learning(self) -> list[dict[str, Any]]:
        """What has been learnt: per step class and executor, runs, success rate and means."""
        from agent_agency_cli.learning.aggregate import all_stats, summary  # lazy: keeps CLI startup light

        return [summary(a) for a in all_stats(self.store.conn)]

    def learning_export(self, out: str | os.PathLike[str]) -> int:
        """Write this machine's learning aggregates as JSONL (no text, paths or hosts)."""
        from agent_agency_cli.learning.aggregate import write_export  # lazy: keeps CLI startup light

        return write_export(self.store.conn, Path(out))

    def learning_import(self, path: str | os.PathLike[str]) -> dict[str, int]:
        """Merge another machine's `learning export` file, weighted by its counts."""
        from agent_agency_cli.learning.aggregate import import_file  # lazy: keeps CLI startup light

        return import_file(self.store.conn, Path(path))

    def breakers(self) -> list[dict[str, Any]]:
        from agent_agency_cli.store.breakers import BreakerStore  # lazy: keeps CLI startup light

        return BreakerStore(self.store.conn).list(self.settings.recovery.breakers)

    def reset_breaker(self, name: str) -> str:
        from agent_agency_cli.store.breakers import BreakerStore  # lazy: keeps CLI startup light

        if not BreakerStore(self.store.conn).reset(name):
            names = [b["name"] for b in self.breakers()]
            raise NotFoundError(f"no circuit breaker named {name!r}"
                                + (f" (known: {', '.join(names[:10])})" if names else " (none yet)"))
        return f"circuit {name} reset (closed)"

    def archive(self, task_id: str) -> dict[str, Any]:
        """Pack a finished task's workspace and logs into archive/<id>.tar.gz."""
        from agent_agency_cli.engine.task_archive import archive_task  # lazy: keeps CLI startup light

        tid = self.resolve(task_id)
        return archive_task(self.store, self.paths, tid, self.get_status(tid, interventions=True))

    def restore(self, task_id: str) -> dict[str, Any]:
        """Unpack an archived task back into its task directory."""
        from agent_agency_cli.engine.task_archive import restore_task  # lazy: keeps CLI startup light

        return restore_task(self.store, self.paths, self.resolve(task_id))

    def purge(self, older_than: str | float) -> tuple[list[str], list[str]]:
        """Archive every finished task older than the given age ("30d"): (archived, errors)."""
        from agent_agency_cli.engine.task_archive import purge  # lazy: keeps CLI startup light

        age = parse_duration(older_than, "--older-than")
        if age <= 0:
            raise BadInputError("--older-than must be more than 0")
        return purge(self.store, self.paths, age)

    # -- control --------------------------------------------------------------

    def pause(self, task_id: str) -> str:
        return self._control.intervene(task_id, "pause")

    def resume(self, task_id: str) -> str:
        return self._control.intervene(task_id, "resume")

    def cancel(self, task_id: str, reason: str = "cancelled by user") -> str:
        return self._control.intervene(task_id, "cancel", reason=reason)

    def escalate(self, task_id: str, reason: str) -> str:
        return self._control.intervene(task_id, "escalate", reason=reason)

    def override(self, task_id: str, step: str, action: str, reason: str) -> str:
        if action not in ("skip", "succeed", "retry"):
            raise BadInputError(f"unknown override action {action!r} (use skip, succeed or retry)")
        tid = self.resolve(task_id)
        self.store.get_step(tid, step)  # NotFoundError for an unknown step
        return self._control.intervene(tid, "override", {"step": step, "action": action}, reason=reason)

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
        from agent_agency_cli.orchestration.control import modify_changes  # lazy: keeps start-up light

        swap = None
        if models:
            from agent_agency_cli.engine.hot_swap import parse_model_changes  # lazy: CLI startup

            swap = {"steps": parse_model_changes(self.store, self.resolve(task_id), models, self.settings),
                    "who": who()}
        changes = modify_changes(priority=priority, deadline=deadline, requirements=requirements,
                                 mode=mode, max_cpu=max_cpu, max_memory=max_memory, models=swap)
        return self._control.intervene(task_id, "modify", {"changes": changes})

    def approve(self, task_id: str, step: str | None = None, all_remaining: bool = False, *,
                group: bool = False) -> str:
        """Approve the step awaiting approval (strict mode, a gate decision or a manual review);
        `group`: and the other steps of its parallel group (they start without asking)."""
        tid = self.resolve(task_id)
        if step is not None:
            self.store.get_step(tid, step)
        if TaskStatus(self.store.get_task(tid)["status"]) is TaskStatus.AWAITING_REVIEW:
            return self.review(tid, approve=True, reason="approved")
        args: dict[str, Any] = {"step": step, "all_remaining": all_remaining}
        if group:
            args["group"] = True
        return self._control.intervene(tid, "approve", args)

    def reject(self, task_id: str, reason: str, step: str | None = None) -> str:
        """Reject the step awaiting approval: it fails, and with it the task."""
        tid = self.resolve(task_id)
        if step is not None:
            self.store.get_step(tid, step)
        if TaskStatus(self.store.get_task(tid)["status"]) is TaskStatus.AWAITING_REVIEW:
            return self.review(tid, approve=False, reason=reason)
        return self._control.intervene(tid, "reject", {"step": step}, reason=reason)

    def review(self, task_id: str, *, approve: bool, reason: str) -> str:
        """Decide a blocking council review (awaiting_review): approve queues the task,
        reject fails it. On a task awaiting a manual_review gate it approves/rejects that."""
        tid = self.resolve(task_id)
        reviewers: list[str] = []
        if TaskStatus(self.store.get_task(tid)["status"]) is TaskStatus.AWAITING_REVIEW:
            reviewers = list(self.settings.council.reviewers)
        return self._control.review(tid, approve=approve, reason=reason, reviewers=reviewers)

    def retry(self, task_id: str, *, start_daemon: bool = True) -> str:
        """Re-queue a failed or cancelled task; finished steps are kept, the rest run again."""
        tid, reset = self._control.retry(task_id)
        if start_daemon:
            self.ensure_daemon()
        return f"task {tid} queued again ({reset} step(s) will run)"


__all__ = ["TaskOrchestrator", "TaskRequest", "acting_as", "build_status", "event_json", "parse_duration",
           "parse_size_mb", "summary"]
