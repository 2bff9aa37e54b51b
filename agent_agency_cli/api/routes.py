"""The /api/v1 endpoints: each one a facade call, nothing more."""

from __future__ import annotations

import itertools
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from agent_agency_cli.api.app import facade
from agent_agency_cli.api.release import release_message
from agent_agency_cli.api.schemas import (
    ActionResult,
    ApproveBody,
    EventView,
    LogLine,
    LogPage,
    ModifyBody,
    OverrideBody,
    Problem,
    ReasonBody,
    RejectBody,
    RequiredReason,
    ResultView,
    TaskCreate,
    TaskPage,
    TaskView,
)
from agent_agency_cli.errors import BadInputError
from agent_agency_cli.models import HELD_OWNER, TaskStatus

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {"application/problem+json": {}}, "description": text}
    for code, text in ((401, "No or a wrong bearer token"), (404, "No such task or step"),
                       (409, "The task's state does not allow it"), (422, "Bad input"))
}
router = APIRouter(prefix="/api/v1", responses=ERRORS)
SSE = {200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"}}


# Read bodies are the facade's dicts, key for key: a model field the dict lacks (a model step's
# `model`, `--verbose`'s `attempts`) is left out rather than added as null, as in `--json`.
AS_CLI: dict[str, Any] = {"response_model_exclude_unset": True}


@router.post("/tasks", status_code=201, response_model=TaskView, **AS_CLI, tags=["tasks"])
async def create_task(body: TaskCreate, request: Request) -> Any:
    """Validate and queue a task (the seed's body, with a plan inline or without one for the planner);
    returns its status. `hold: true` stores it held until `POST /tasks/{id}/release`."""
    start = request.app.state.start_engine

    def submit(orch: Any) -> dict[str, Any]:
        tid = orch.submit_task(body.request(), start_daemon=start and not body.hold,
                               reserve=HELD_OWNER if body.hold else None)
        return orch.get_status(tid)

    status = await facade(request, submit)
    return JSONResponse(TaskView.model_validate(status).model_dump(mode="json"), status_code=201,
                        headers={"Location": f"/api/v1/tasks/{status['id']}"})


@router.get("/tasks", response_model=TaskPage, **AS_CLI, tags=["tasks"])
async def list_tasks(
    request: Request,
    status: Annotated[list[TaskStatus] | None, Query(description="Only these statuses (repeatable).")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Any:
    """Tasks, newest first (`task list --json` rows), a page at a time."""
    statuses = [s.value for s in status] if status else None
    rows = await facade(request, lambda o: o.list_tasks(statuses, offset + limit + 1))
    page = rows[offset:offset + limit]
    return {"tasks": page, "limit": limit, "offset": offset,
            "next_offset": offset + limit if len(rows) > offset + limit else None}


@router.get("/tasks/{task_id}", response_model=TaskView, **AS_CLI, tags=["tasks"])
async def task_status(task_id: str, request: Request) -> Any:
    """The task's status, every step and the audit trail (`task status --json`)."""
    return await facade(request, lambda o: o.get_status(task_id, interventions=True))


@router.get("/tasks/{task_id}/result", response_model=ResultView, **AS_CLI, tags=["tasks"])
async def task_result(task_id: str, request: Request) -> Any:
    """The TaskResult (`task result --json`); `finished` says whether it is final."""
    return await facade(request, lambda o: o.result(task_id))


@router.get("/tasks/{task_id}/logs", response_model=LogPage, tags=["tasks"])
async def task_logs(
    task_id: str, request: Request,
    step: Annotated[str | None, Query(max_length=200)] = None,
    offset: Annotated[int, Query(ge=0, le=100_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Any:
    """Step log lines merged by time (`task logs --json`); pass next_offset back for newer ones."""

    def read(orch: Any) -> dict[str, Any]:
        lines = itertools.islice(orch.log_lines(task_id, step), offset, offset + limit)
        out = [LogLine(ts=ts, step=name, stream=stream, text=text) for ts, name, stream, text in lines]
        return {"lines": out, "next_offset": offset + len(out)}

    return await facade(request, read)


@router.get("/tasks/{task_id}/events", response_model=list[EventView], **AS_CLI, tags=["tasks"])
async def task_events(
    task_id: str, request: Request,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Any:
    """Stored events with an id above `after` (`task events --json`)."""
    return await facade(request, lambda o: o.events(task_id, after, limit))


def _after(last_event_id: str | None, after: int | None) -> int | None:
    if last_event_id is not None and last_event_id.strip():
        if not last_event_id.strip().isdigit():
            raise BadInputError(f"Last-Event-ID must be an event id (a number), not {last_event_id[:20]!r}")
        return int(last_event_id)
    return after


async def _sse(request: Request, task_id: str | None, after: int | None) -> StreamingResponse:
    from agent_agency_cli.api.sse import stream  # lazy: keeps start-up light

    async def call(fn: Any) -> Any:
        return await facade(request, fn)

    return StreamingResponse(stream(request.app.state.hub, call, task_id, after), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/tasks/{task_id}/progress", tags=["stream"], responses=SSE, response_class=StreamingResponse)
async def task_progress(
    task_id: str, request: Request,
    last_event_id: Annotated[str | None, Header(max_length=24)] = None,
    after: Annotated[int | None, Query(ge=0, le=2**62, description="Like Last-Event-ID")] = None,
) -> StreamingResponse:
    """Server-sent events: every stored event (`id:` = its id, `event:` = its kind), then
    `event: progress` ({task_id, progress, current_step, status, eta, ...}); ends with `event: end`."""
    tid = await facade(request, lambda o: o.resolve(task_id))
    return await _sse(request, tid, _after(last_event_id, after))


@router.get("/progress", tags=["stream"], responses=SSE, response_class=StreamingResponse)
async def all_progress(
    request: Request,
    last_event_id: Annotated[str | None, Header(max_length=24)] = None,
    after: Annotated[int | None, Query(ge=0, le=2**62, description="Like Last-Event-ID")] = None,
) -> StreamingResponse:
    """Server-sent events of every task (the dashboard's feed): new events and progress; never ends."""
    return await _sse(request, None, _after(last_event_id, after))


# -- interventions ------------------------------------------------------------------------------


async def _act(request: Request, task_id: str, fn: Any) -> ActionResult:
    def run(orch: Any) -> ActionResult:
        tid = orch.resolve(task_id)
        return ActionResult(task_id=tid, message=fn(orch, tid))

    return await facade(request, run)


@router.post("/tasks/{task_id}/pause", response_model=ActionResult, tags=["control"])
async def pause(task_id: str, request: Request) -> Any:
    """No new step starts; running steps are stopped (SIGSTOP) until resumed."""
    return await _act(request, task_id, lambda o, t: o.pause(t))


@router.post("/tasks/{task_id}/resume", response_model=ActionResult, tags=["control"])
async def resume(task_id: str, request: Request) -> Any:
    """Continue a paused or escalated task."""
    return await _act(request, task_id, lambda o, t: o.resume(t))


@router.post("/tasks/{task_id}/cancel", response_model=ActionResult, tags=["control"])
async def cancel(task_id: str, request: Request, body: ReasonBody | None = None) -> Any:
    """Stop the task: SIGTERM, then SIGKILL after the grace period."""
    reason = (body.reason if body else None) or "cancelled by user"
    return await _act(request, task_id, lambda o, t: o.cancel(t, reason))


@router.post("/tasks/{task_id}/escalate", response_model=ActionResult, tags=["control"])
async def escalate(task_id: str, body: RequiredReason, request: Request) -> Any:
    """Hand the task to a human: it stops scheduling until resumed."""
    return await _act(request, task_id, lambda o, t: o.escalate(t, body.reason))


@router.post("/tasks/{task_id}/override", response_model=ActionResult, tags=["control"])
async def override(task_id: str, body: OverrideBody, request: Request) -> Any:
    """Skip, succeed or retry one step."""
    return await _act(request, task_id, lambda o, t: o.override(t, body.step, body.action, body.reason))


@router.post("/tasks/{task_id}/modify", response_model=ActionResult, tags=["control"])
async def modify(task_id: str, body: ModifyBody, request: Request) -> Any:
    """Change priority, deadline, requirements, mode, resource limits or models (hot-swap)."""
    return await _act(request, task_id, lambda o, t: o.modify(
        t, priority=body.priority.value if body.priority else None, deadline=body.deadline,
        requirements=body.requirements, mode=body.mode.value if body.mode else None,
        max_cpu=body.max_cpu, max_memory=body.max_memory, models=body.models))


@router.post("/tasks/{task_id}/approve", response_model=ActionResult, tags=["control"])
async def approve(task_id: str, request: Request, body: ApproveBody | None = None) -> Any:
    """Approve the step awaiting approval (strict mode), or a blocking review; `group: true` approves the
    other steps of its parallel group too."""
    body = body or ApproveBody()
    return await _act(request, task_id, lambda o, t: o.approve(t, body.step, body.all_remaining, group=body.group))


@router.post("/tasks/{task_id}/release", response_model=ActionResult, tags=["control"])
async def release(task_id: str, request: Request) -> Any:
    """Release a task created with `hold: true`: the engine may run it now (a held dry run is
    simulated at once). 409 when the task is not held."""
    start = request.app.state.start_engine
    return await _act(request, task_id, lambda o, t: release_message(o, o.release_task(t, start_daemon=start)))


@router.post("/tasks/{task_id}/reject", response_model=ActionResult, tags=["control"])
async def reject(task_id: str, body: RejectBody, request: Request) -> Any:
    """Reject the step awaiting approval: it fails, and with it the task."""
    return await _act(request, task_id, lambda o, t: o.reject(t, body.reason, body.step))


@router.post("/tasks/{task_id}/retry", response_model=ActionResult, tags=["control"])
async def retry(task_id: str, request: Request) -> Any:
    """Queue a failed or cancelled task again; finished steps are kept."""
    start = request.app.state.start_engine
    return await _act(request, task_id, lambda o, t: o.retry(t, start_daemon=start))
