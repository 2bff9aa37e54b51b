"""Read models: the JSON a person or a program sees of tasks, steps, events and results.

Every face renders these (status --json, result --json, list, the TUI, the API); they are
documented in the README. Nothing here writes.
"""

from __future__ import annotations

import heapq
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agent_agency_cli.errors import BadInputError, NotFoundError
from agent_agency_cli.event_kinds import EventKind, public_payload
from agent_agency_cli.models import HELD_OWNER, StepStatus, TaskStatus, count_statuses, progress
from agent_agency_cli.paths import HomePaths
from agent_agency_cli.store import Store
from agent_agency_cli.timeutil import iso


def event_json(r: sqlite3.Row) -> dict[str, Any]:
    """An events row as JSON (the shape of `task events --json` and the streams)."""
    return {
        "id": r["id"],
        "task_id": r["task_id"],
        "step": r["step"],
        "kind": r["kind"],
        "ts": iso(r["ts"]),
        "payload": public_payload(json.loads(r["payload"])),  # times as ISO, no internal fields
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
    """One row of `task list` (100,000 of them for a whole listing: each value read once,
    progress as `models.progress` counts it without building its by_status copy)."""
    total = sum(counts.values())
    done = counts.get("completed", 0)
    created, deadline, status = task["created_at"], task["deadline"], task["status"]
    return {
        "id": task["id"],
        "description": task["description"],
        "status": status,
        "held": status == "queued" and task["owner"] == HELD_OWNER,
        "priority": task["priority"],
        "mode": task["mode"],
        "created_at": iso(created),
        "age": now - created,
        "elapsed": _elapsed(task, now),
        "deadline": None if deadline is None else iso(deadline),
        "deadline_passed": _deadline_passed(task, now) if deadline else False,
        "progress": {"done": done, "total": total, "percent": round(100.0 * done / total, 1) if total else 0.0},
        "exit_code": task["exit_code"],
    }


def is_held(task: sqlite3.Row) -> bool:
    """Created with --hold and not released yet: queued, but no engine takes it."""
    return task["status"] == "queued" and task["owner"] == HELD_OWNER


def _deadline_passed(task: sqlite3.Row, now: float) -> bool:
    if not task["deadline"]:
        return False
    return (task["finished_at"] or now) > task["deadline"]


def _remaining(steps: list[sqlite3.Row], now: float) -> float | None:
    """Remaining time along the critical path of the unfinished steps (None if unknown)."""
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
    # Here, not at import: the DAG module's dataclasses (inspect, dis) cost list/pause/cancel.
    from agent_agency_cli.planning.dag import longest_path, topological_levels

    _, order = topological_levels(names, preds)
    total, _ = longest_path(order, preds, weights)
    return total


def build_status(task: sqlite3.Row, steps: list[sqlite3.Row], paths: HomePaths, *,
                 counts: dict[str, int] | None = None, timing: list[sqlite3.Row] | None = None) -> dict[str, Any]:
    """The status JSON object of one task (documented in the README). `steps` are the rows
    shown; when they are a part of the task, `counts` (per status) and `timing` (the ETA's
    columns of every step) describe the whole."""
    # Here, not at import: list, pause, resume and cancel never load the executor registry.
    from agent_agency_cli.executors.registry import step_command

    now = time.time()
    status = TaskStatus(task["status"])
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
            "metrics": public_payload(loads(metrics)) if metrics else None,  # first_ts/last_ts as ISO
            "result": None,
        })
    eta = None if status.is_terminal else _remaining(steps if timing is None else timing, now)
    return {
        "id": task["id"],
        "description": task["description"],
        "mode": task["mode"],
        "priority": task["priority"],
        "status": status.value,
        "held": is_held(task),
        "finished": status.is_terminal,
        "requirements": json.loads(task["requirements"]),
        "stakeholders": json.loads(task["stakeholders"] or "[]"),
        "deadline": iso(task["deadline"]),
        "deadline_passed": _deadline_passed(task, now),
        "created_at": iso(task["created_at"]),
        "started_at": iso(task["started_at"]),
        "finished_at": iso(task["finished_at"]),
        "paused_at": iso(task["paused_at"]),
        "elapsed": _elapsed(task, now),
        "eta": eta,
        "progress": progress(count_statuses(s["status"] for s in steps) if counts is None else counts),
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


def task_status(store: Store, paths: HomePaths, task_id: str, *, interventions: bool = False,
                steps: str = "all", offset: int = 0, limit: int | None = None) -> dict[str, Any]:
    """The task's status (see README: status JSON) with the steps `steps` selects: "all"
    (from `offset`, at most `limit`), "summary" (the notable ones) or "auto" (all of a
    small task, else the summary); `steps_shown` says which."""
    from agent_agency_cli.orchestration.step_selection import select_steps  # lazy: keeps start-up light
    from agent_agency_cli.store.step_pages import first_awaiting  # lazy: keeps start-up light

    tid = store.resolve_id(task_id)
    task = store.get_task(tid)
    chosen = select_steps(store, tid, steps, offset, limit)
    data = build_status(task, chosen.rows, paths, counts=chosen.counts, timing=chosen.timing)
    data["steps_shown"] = chosen.shown
    gates_by_step: dict[str, list[dict[str, Any]]] = {}
    for g in store.gate_results(tid):
        gates_by_step.setdefault(g["step"], []).append(
            {k: g[k] for k in ("gate", "name", "required", "status", "score", "violations", "attempt",
                                 "evidence")})
    approval = None
    if data["status"] in ("awaiting_approval", "paused"):
        # Read from the table, not the steps shown: a page may hold none of them.
        waiting = first_awaiting(store, tid)
        if waiting is None and data["status"] == "awaiting_approval":  # a tool call of a running agent step
            waiting = store.last_event_step(tid, EventKind.APPROVAL_REQUESTED)
        if waiting:
            approval = (public_payload(store.last_event_payload(tid, waiting, EventKind.APPROVAL_REQUESTED))
                        or {"step": waiting})
    data["approval"] = approval
    for s in data["steps"]:
        s["gates"] = gates_by_step.get(s["name"], [])
    from agent_agency_cli.planning.model_status import add_model_info  # model steps' calls and costs

    add_model_info(data, store, tid, chosen.rows)
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


def task_list(store: Store, status: str | list[str] | None = None, limit: int | None = None
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
    rows = store.list_tasks(statuses, limit)
    counts = store.step_counts([r["id"] for r in rows])
    now = time.time()
    return [summary(r, counts[r["id"]], now) for r in rows]


def task_result(store: Store, paths: HomePaths, task_id: str) -> dict[str, Any]:
    """The TaskResult: status, outputs (sizes, hashes), gate results, council reviews,
    final scores, metrics and duration."""
    status = task_status(store, paths, task_id)
    tid = status["id"]
    task = store.get_task(tid)
    results = store.step_results(tid)
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
        "outputs": _outputs(task, paths, step_rows),
        "steps": steps_out,
        "gates": [public_payload(g) for g in gates],  # started_at/finished_at as ISO
        "validation": json.loads(task["validation"]) if task["validation"] else None,
        "risk": json.loads(task["risk"]) if task["risk"] else None,
        "reviews": [public_payload(r) for r in store.reviews(tid)],
        "scores": {k: completion.get(k) for k in ("compliance_score", "quality_score",
                                                  "requires_followup")},
        "dry_run_report": completion.get("report"),
        "metrics": task_metrics(status, gates),
        "model_calls": {k: v for k, v in status["model_calls"].items() if k != "calls_list"},
        "plan": {k: status["plan"][k] for k in ("source", "planner_model", "not_planned")},
    }


def _outputs(task: sqlite3.Row, paths: HomePaths, step_rows: dict[str, sqlite3.Row]) -> list[dict[str, Any]]:
    """Declared output files of every step, with size and sha256 (missing ones flagged)."""
    import hashlib  # here: `task status` and `task list` start without it

    from agent_agency_cli.rows import StepSpec  # pydantic: `task result` only, not the fast status path

    base = Path(task["workdir"]) if task["workdir"] else paths.workspace(task["id"])
    out = []
    for name, row in step_rows.items():
        spec = StepSpec.from_json(row["spec"], f"task {task['id']} step {name!r}")
        cwd = base / spec.workdir if spec.workdir else base
        for rel in spec.outputs:
            path = cwd / rel
            entry: dict[str, Any] = {"step": name, "path": str(path), "exists": path.is_file()}
            if path.is_file():
                import hashlib  # here: OpenSSL's start costs every command that imports this module

                h = hashlib.sha256()
                with open(path, "rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        h.update(chunk)
                entry.update(size=path.stat().st_size, sha256=h.hexdigest())
            out.append(entry)
    return out


def task_metrics(status: dict[str, Any], gates: list[dict[str, Any]]) -> dict[str, Any]:
    """The seed's TaskMetrics, aggregated from the steps' metric summaries."""
    # engine.metrics loads psutil: only the commands that show metrics pay for it.
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


def step_metrics(store: Store, paths: HomePaths, task_id: str, step: str | None = None) -> dict[str, Any]:
    """Per step: the metric summary and the sampled series (ts, cpu, rss, io, threads, gpu)."""
    tid = store.resolve_id(task_id)
    if step is not None:
        store.get_step(tid, step)
    samples: dict[str, list[dict[str, Any]]] = {}
    for r in store.metric_samples(tid, step):
        samples.setdefault(r["step"], []).append(
            {k: iso(r[k]) if k == "ts" else r[k]
             for k in ("attempt", "ts", "cpu_percent", "rss_bytes", "read_bytes",
                       "write_bytes", "threads", "gpu_memory_bytes", "gpu_util_percent")})
    status = task_status(store, paths, tid)
    steps = [s for s in status["steps"] if step is None or s["name"] == step]
    out = {
        "task_id": tid,
        "steps": [{"name": s["name"], "status": s["status"], "duration": s["duration"],
                   "attempt": s["attempt"], "worker": s["worker"], "summary": s["metrics"],
                   "samples": samples.get(s["name"], []), "model": s.get("model")} for s in steps],
        "task": task_metrics(status, store.gate_results(tid)),
    }
    if step is not None:
        out.update(samples=out["steps"][0]["samples"], summary=out["steps"][0]["summary"])
    return out


def log_lines(store: Store, paths: HomePaths, task_id: str, step: str | None = None
              ) -> Iterator[tuple[str, str, str, str]]:
    """(timestamp, step, stream, text) of the task's logs, in time order."""
    tid = store.resolve_id(task_id)
    names = [r["name"] for r in store.get_steps(tid)]
    if step is not None and step not in names:
        raise NotFoundError(f"task {tid} has no step named {step!r} "
                            f"(steps: {', '.join(names[:10])})")
    chosen = [step] if step else names

    from agent_agency_cli.executors.base import parse_log_line  # only the log readers need it

    def read(name: str) -> Iterator[tuple[str, str, str, str]]:
        path = paths.step_log(tid, name)
        if not path.exists():
            return
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                ts, stream, text = parse_log_line(line)
                yield ts, name, stream, text

    yield from heapq.merge(*(read(n) for n in chosen), key=lambda t: t[0])


def workers(store: Store, settings: Any) -> list[dict[str, Any]]:
    """Configured (or detected) workers with their usage by the steps running now."""
    # pydantic (plan_file) and the worker detection load only for `resources`.
    from agent_agency_cli.backends import annotate, worker_pool
    from agent_agency_cli.planning.plan_file import StepResources  # lazy: keeps start-up light
    from agent_agency_cli.rows import StepSpec  # lazy: keeps start-up light
    from agent_agency_cli.workers import needs_for  # lazy: keeps start-up light

    pool = worker_pool(settings)  # the configured workers, or the Ray cluster's nodes
    by_id = {w.id: w for w in pool.workers}
    for r in store.active_steps_with_workers():
        w = by_id.get(r["worker"])
        if w is None:
            continue
        spec = StepSpec.from_json(r["spec"], f"task {r['task_id']} step {r['name']!r}")
        default = settings.resource_allocation.get(r["complexity"]) if r["complexity"] else None
        needs = needs_for(spec.requires, StepResources.model_validate(spec.resources), default)
        cpu, mem, gpus, gmem = needs.for_worker(w)
        w.used_cpu += cpu
        w.used_memory_mb += mem
        w.used_gpus += gpus
        w.used_gpu_memory_mb += gmem
        w.running.add(f"{r['task_id']}/{r['name']}")
    return annotate(settings, pool, pool.snapshot())
