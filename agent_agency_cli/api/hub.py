"""EventHub: one reader of the events table for every open stream.

A single thread watches `PRAGMA data_version` (a near-free "did anyone commit?" check) and,
when it moves, reads the new event rows once and computes each touched task's progress
once, then hands both to every subscriber on the event loop. A hundred open streams cost one
poll, not a hundred. Subscribers that fall far behind are told to catch up from the
database instead of growing an unbounded queue.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent_agency_cli.errors import NotFoundError

log = logging.getLogger(__name__)
POLL_SECONDS = 0.02
BATCH = 1000
MAX_PENDING = 5000


@dataclass(eq=False)
class Subscriber:
    """One open stream: its task filter and what the hub has handed it."""

    task_id: str | None
    pending: deque[tuple[str, dict[str, Any]]] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    lagged: bool = False

    def push(self, item: tuple[str, dict[str, Any]]) -> None:
        if self.lagged:
            return
        if len(self.pending) >= MAX_PENDING:
            # Too slow a reader: drop the queue; the stream re-reads from the database.
            self.pending.clear()
            self.lagged = True
        else:
            self.pending.append(item)
        self.wake.set()


class EventHub:
    """Polls the store in one thread and fans new events out to subscribers."""

    def __init__(self, open_orchestrator: Callable[[], Any], poll: float = POLL_SECONDS):
        self._open = open_orchestrator
        self._poll = poll
        self._subs: set[Subscriber] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_id = 0
        # Which tasks' progress any stream wants (None in it: every task's). Rebuilt on the
        # loop at (un)subscribe and read by the poller thread: progress costs a status read,
        # so it is computed only for tasks someone watches.
        self._wanted: frozenset[str | None] = frozenset()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        orch = self._open()
        self.last_id = orch.last_event_id()
        self._thread = threading.Thread(target=self._run, args=(orch,), name="event-hub", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def subscribe(self, task_id: str | None) -> Subscriber:
        sub = Subscriber(task_id)
        self._subs.add(sub)
        self._wanted = frozenset(s.task_id for s in self._subs)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subs.discard(sub)
        self._wanted = frozenset(s.task_id for s in self._subs)

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def _run(self, orch: Any) -> None:
        version = -1
        try:
            while not self._stop.wait(self._poll):
                try:
                    v = orch.data_version()
                    if v == version:
                        continue
                    self._read_new(orch)
                    version = v
                except sqlite3.Error as exc:
                    # A busy or briefly unreadable database: keep the streams, try again next poll.
                    log.warning("event hub: %s (retrying)", exc)
        finally:
            orch.close()

    def _read_new(self, orch: Any) -> None:
        from agent_agency_cli.api.schemas import progress_data  # lazy: keeps start-up light

        while True:
            events = orch.events(None, self.last_id, BATCH)
            if not events:
                return
            self.last_id = events[-1]["id"]
            progress: dict[str, dict[str, Any]] = {}
            wanted = self._wanted
            for tid in dict.fromkeys(e["task_id"] for e in events):
                if None not in wanted and tid not in wanted:
                    continue
                try:
                    progress[tid] = progress_data(orch.get_status(tid)).model_dump(mode="json")
                except NotFoundError:  # purged meanwhile
                    continue
            try:
                if self._loop is not None:
                    self._loop.call_soon_threadsafe(self._dispatch, events, progress)
            except RuntimeError:  # the loop closed while the server shuts down
                return
            if len(events) < BATCH:
                return

    def _dispatch(self, events: list[dict[str, Any]], progress: dict[str, dict[str, Any]]) -> None:
        for sub in list(self._subs):
            touched: list[str] = []
            for ev in events:
                if sub.task_id is None or ev["task_id"] == sub.task_id:
                    sub.push(("event", ev))
                    if ev["task_id"] not in touched:
                        touched.append(ev["task_id"])
            for tid in touched:
                if tid in progress:
                    sub.push(("progress", progress[tid]))
