"""Server-sent event streams of one task or of every task, from the events table.

Each stored event goes out with `id: <events.id>` and `event: <kind>`; after each batch a
task's `event: progress` (the seed's payload, no id) follows. A client that reconnects with
`Last-Event-ID` (or `?after=`) gets everything after that id from the database first, then
the live feed; ids only grow, so none is missed or repeated. A task's stream ends with
`event: end` once the task has finished and its last event has gone out.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from agent_agency_cli.api.hub import EventHub

KEEPALIVE_SECONDS = 15.0
BACKFILL_BATCH = 1000

# Runs a facade call (orch -> value) in a worker thread with a fresh orchestrator.
FacadeCall = Callable[[Callable[[Any], Any]], Any]


def frame(event: str, data: Any, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n".encode()


def event_frame(ev: dict[str, Any]) -> bytes:
    return frame(ev["kind"], ev, ev["id"])


async def stream(hub: EventHub, call: FacadeCall, task_id: str | None, after: int | None) -> AsyncIterator[bytes]:
    """The SSE byte stream. `after`: the last id the client has (None: only new events for the
    all-tasks stream, everything for a task's stream)."""
    from agent_agency_cli.api.schemas import progress_data  # lazy: keeps start-up light

    sub = hub.subscribe(task_id)
    try:
        if after is None:
            after = hub.last_id if task_id is None else 0
        cur = Cursor(after)
        # Subscribed first, then read the backlog: nothing committed in between is lost.
        async for chunk in _backfill(call, task_id, cur):
            yield chunk
        if task_id is not None:
            status = await call(lambda o: o.get_status(task_id))
            last = frame("progress", progress_data(status).model_dump(mode="json"))
            yield last
            if status["finished"]:
                async for chunk in _backfill(call, task_id, cur):
                    yield chunk + last  # events committed since: the final progress again after them
                yield frame("end", {"task_id": task_id, "status": status["status"],
                                    "exit_code": status["exit_code"]})
                return
        while True:
            if not sub.pending and not sub.lagged:
                try:
                    await asyncio.wait_for(sub.wake.wait(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield b": keepalive\n\n"
                    continue
            sub.wake.clear()
            if sub.lagged:
                sub.lagged = False
                async for chunk in _backfill(call, task_id, cur):
                    yield chunk
                continue
            out: list[bytes] = []
            finished: dict[str, Any] | None = None
            while sub.pending:
                kind, data = sub.pending.popleft()
                if kind == "event":
                    if data["id"] <= cur.last:
                        continue
                    cur.last = data["id"]
                    out.append(event_frame(data))
                else:
                    out.append(frame("progress", data))
                    if task_id is not None and data["finished"]:
                        finished = data
            if out:
                yield b"".join(out)
            if finished is not None:
                async for chunk in _backfill(call, task_id, cur):
                    # events committed after the hub's read (its progress already saw the end):
                    # the final progress follows them, so a stream always ends progress, end
                    yield chunk + frame("progress", finished)
                yield frame("end", {"task_id": task_id, "status": finished["status"],
                                    "exit_code": await call(lambda o: o.get_status(task_id)["exit_code"])})
                return
    finally:
        hub.unsubscribe(sub)


class Cursor:
    """The id of the last event a stream has sent."""

    def __init__(self, last: int):
        self.last = last


async def _backfill(call: FacadeCall, task_id: str | None, cur: Cursor) -> AsyncIterator[bytes]:
    """Every stored event after the cursor, from the database, in batches."""
    while True:
        after = cur.last
        events = await call(lambda o, after=after: o.events(task_id, after, BACKFILL_BATCH))
        if events:
            cur.last = events[-1]["id"]
            yield b"".join(event_frame(e) for e in events)
        if len(events) < BACKFILL_BATCH:
            return
