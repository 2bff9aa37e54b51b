"""The TUI's live model: what changed since the last look. No Textual in here.

Everything goes through the orchestrator facade: `store.data_version()` is the
cheap "anything committed by someone else?" check (a PRAGMA, a few µs), new
events come from `events(task_id, after)`, and the full picture from
`get_status()` / `list_tasks()`. Events are applied to the cached status at
once (so a step's new status is on screen within one poll), and the full
status is re-read at most every `full_interval` seconds — adaptively longer
for big tasks, so 1,000 steps cost a few % of a core, not a busy loop.

Step logs are tailed straight from the files the facade names
(`orch.step_log_path`), from the last offset, never re-read whole.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_agency_cli.event_kinds import EventKind
from agent_agency_cli.executors.base import parse_log_line
from agent_agency_cli.models import TERMINAL_TASK_VALUES, count_statuses, progress

if TYPE_CHECKING:
    from agent_agency_cli.orchestrator import TaskOrchestrator

FINAL = TERMINAL_TASK_VALUES


@dataclass
class TaskUpdate:
    """What one poll found: new events (all kinds) and whether `status` was re-read."""

    events: list[dict[str, Any]] = field(default_factory=list)
    refreshed: bool = False
    changed_steps: set[str] = field(default_factory=set)


def recount(status: dict[str, Any], steps: dict[str, dict[str, Any]]) -> None:
    """The progress counts from the (event-updated) steps, derived as get_status does."""
    status["progress"] = progress(count_statuses(st["status"] for st in steps.values()))


def apply_event(status: dict[str, Any], steps: dict[str, dict[str, Any]], ev: dict[str, Any]) -> str | None:
    """Fold one event into a cached status; returns the step it touched (if any)."""
    p = ev.get("payload") or {}
    kind = ev["kind"]
    name = ev.get("step")
    if kind == EventKind.APPROVAL_REQUESTED:  # its payload is what get_status()["approval"] shows
        status["approval"] = {"step": name, **p}
    elif kind in (EventKind.STEP_APPROVED, EventKind.STEP_REJECTED):
        status["approval"] = None
    if kind == EventKind.APPROVAL_REQUESTED and name in steps:
        steps[name]["status"] = p.get("status") or "awaiting_approval"
        return name
    if name and name in steps and kind.startswith("step_"):
        st = steps[name]
        if kind == EventKind.STEP_PROGRESS:
            st["progress"] = p.get("progress")
            st["progress_message"] = p.get("message")
            return name
        if p.get("status"):
            st["status"] = p["status"]
        if kind == EventKind.STEP_STARTED:
            st["attempt"] = p.get("attempt", st.get("attempt"))
            st["started_at"] = ev.get("ts")
            st["duration"] = 0.0
            st["exit_code"] = None
            st["progress"] = None
        elif kind in (EventKind.STEP_COMPLETED, EventKind.STEP_FAILED):
            if p.get("duration") is not None:
                st["duration"] = p["duration"]
            if "exit_code" in p:
                st["exit_code"] = p["exit_code"]
            if kind == EventKind.STEP_COMPLETED:
                st["progress"] = 1.0
        if p.get("reason"):
            st["reason"] = p["reason"]
        return name
    if kind.startswith("task_") and p.get("status"):
        status["status"] = p["status"]
        status["finished"] = p["status"] in FINAL
        if p.get("reason"):
            status["reason"] = p["reason"]
    return None


class TaskFeed:
    """Polls one task. Call `poll()` often (every 50 ms is cheap when nothing changes)."""

    def __init__(
        self, orch: TaskOrchestrator, task_id: str, *, min_full: float = 0.1,
        max_full: float = 2.0, stale_after: float = 5.0,
        clock: Callable[[], float] = time.monotonic, background: bool = True,
    ):
        self.orch = orch
        self.tid = orch.resolve(task_id)
        self.after = 0
        self.min_full = min_full
        self.max_full = max_full
        self.stale_after = stale_after
        self.clock = clock
        self.status: dict[str, Any] = {}
        self.steps: dict[str, dict[str, Any]] = {}
        self.fetched_at = 0.0  # wall clock of the last full read (to extrapolate durations)
        self._thread_orchs: list[TaskOrchestrator] = []
        self._version: int | None = None
        self._last_full = -1e9
        self._cost = 0.0
        self._dirty = False  # our events arrived since the last full read
        self._stale = False  # someone committed something since the last full read
        # Full reads (tens of ms for 1,000 steps) run on a helper thread with its own
        # connection, so the UI thread only ever does the cheap checks.
        self.background = background
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._pending: Future[tuple[dict[str, Any], float, float]] | None = None
        self._since_request: list[dict[str, Any]] = []
        self.metrics_cache: dict[str, Any] = {}
        self._metrics_pending: Future[tuple[str, dict[str, Any] | None]] | None = None

    # -- reading ------------------------------------------------------------

    def _thread_orch(self) -> TaskOrchestrator:
        orch = getattr(self._local, "orch", None)
        if orch is None:
            from agent_agency_cli.orchestrator import TaskOrchestrator  # lazy: keeps start-up light

            orch = TaskOrchestrator(home=self.orch.home, config=self.orch.config_path,
                                    settings=self.orch.settings)
            self._local.orch = orch
            self._thread_orchs.append(orch)
        return orch

    def _fetch(self) -> tuple[dict[str, Any], float, float]:
        t0 = time.perf_counter()
        status = self._thread_orch().get_status(self.tid, interventions=False)
        return status, time.time(), time.perf_counter() - t0

    def _use(self, status: dict[str, Any], fetched_at: float, cost: float) -> None:
        self.status = status
        self.steps = {s["name"]: s for s in status["steps"]}
        self.fetched_at = fetched_at
        self._cost = cost

    def _read_status(self) -> None:
        """A full read now, on this thread (the first one, and `refresh_now`)."""
        t0 = time.perf_counter()
        self._use(self.orch.get_status(self.tid, interventions=False), time.time(),
                  time.perf_counter() - t0)
        self._last_full = self.clock()
        self._dirty = self._stale = False

    def _request_status(self) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="tui-read")
        self._since_request = []
        self._last_full = self.clock()
        self._dirty = self._stale = False
        self._pending = self._pool.submit(self._fetch)

    def _collect_status(self) -> bool:
        """Take a finished background read; events newer than it are folded in again."""
        fut = self._pending
        if fut is None or not fut.done():
            return False
        self._pending = None
        try:
            status, fetched_at, cost = fut.result()
        except Exception:
            self._dirty = True  # try again later
            return False
        self._use(status, fetched_at, cost)
        for ev in self._since_request:
            apply_event(self.status, self.steps, ev)
        if self._since_request:
            recount(self.status, self.steps)
        self._since_request = []
        return True

    def close(self) -> None:
        if self._pool is not None:
            # Wait for a read in flight: closing its connection under it crashes the process
            # (SQLite freed mid-query: a segfault seen at TUI exit); queued reads are dropped.
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        for orch in self._thread_orchs:
            orch.close()

    @property
    def full_interval(self) -> float:
        """Re-read the full status at most this often (≈2.5% of a core at worst).

        Events are folded into the cached status at once, so this only bounds how
        stale the fields without events (pid, ETA, gates) may get."""
        return max(self.min_full, min(self.max_full, self._cost * 40))

    def load(self, history: int = 300) -> list[dict[str, Any]]:
        """First read: the status and the last `history` non-progress events."""
        self._version = self.orch.data_version()
        self._read_status()
        kept: list[dict[str, Any]] = []
        while True:
            batch = self.orch.events(self.tid, self.after, 2000)
            if not batch:
                break
            self.after = batch[-1]["id"]
            kept.extend(e for e in batch if e["kind"] != EventKind.STEP_PROGRESS)
            if len(kept) > history * 2:
                kept = kept[-history:]
            if len(batch) < 2000:
                break
        return kept[-history:]

    def poll(self, max_events: int = 5000) -> TaskUpdate | None:
        version = self.orch.data_version()
        update = TaskUpdate()
        if version != self._version:
            self._version = version
            self._stale = True
            while len(update.events) < max_events:
                batch = self.orch.events(self.tid, self.after, 1000)
                if not batch:
                    break
                self.after = batch[-1]["id"]
                update.events.extend(batch)
                if len(batch) < 1000:
                    break
            if len(update.events) >= max_events:
                self._version = None  # more to read: look again next poll
            final_before = self.status.get("finished")
            for ev in update.events:
                touched = apply_event(self.status, self.steps, ev)
                if touched:
                    update.changed_steps.add(touched)
            if update.changed_steps:
                recount(self.status, self.steps)
            if update.events:
                self._dirty = True
                if self.status.get("finished") and not final_before:
                    self._last_full = -1e9  # it just ended: the final numbers now
                if self._pending is not None:
                    self._since_request.extend(update.events)
        if self._collect_status():
            update.refreshed = True
        since = self.clock() - self._last_full
        due = (self._dirty and since >= self.full_interval) or (self._stale and since >= self.stale_after)
        if due and self._pending is None:
            if self.background:
                self._request_status()
            else:
                self._read_status()
                update.refreshed = True
        if update.events or update.refreshed:
            return update
        return None

    def refresh_now(self) -> None:
        self._read_status()

    def interventions(self) -> list[dict[str, Any]]:
        return self.orch.get_status(self.tid, interventions=True).get("interventions", [])

    def metrics(self, step: str, request: bool = True) -> dict[str, Any] | None:
        """Samples of a step's CPU/memory, if this version of the engine records them.

        Returns what is known now and asks for fresh samples in the background (the
        facade's `step_metrics` reads the whole status); None until there are some."""
        if getattr(self.orch, "step_metrics", None) is None:
            return None
        fut = self._metrics_pending
        if fut is not None and fut.done():
            self._metrics_pending = None
            try:
                name, got = fut.result()
                self.metrics_cache[name] = got
            except Exception:
                pass
        if request and self._metrics_pending is None:
            if not self.background:
                self.metrics_cache[step] = self._read_metrics(step)[1]
            else:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(1, thread_name_prefix="tui-read")
                self._metrics_pending = self._pool.submit(self._read_metrics, step)
        return self.metrics_cache.get(step)

    def _read_metrics(self, step: str) -> tuple[str, dict[str, Any] | None]:
        orch = self._thread_orch() if self.background else self.orch
        try:
            return step, orch.step_metrics(self.tid, step)  # type: ignore[attr-defined]
        except Exception:
            return step, None


class TasksFeed:
    """Polls the task list for the overview screen."""

    def __init__(self, orch: TaskOrchestrator, *, limit: int = 500, min_interval: float = 0.2,
                 clock: Callable[[], float] = time.monotonic):
        self.orch = orch
        self.limit = limit
        self.min_interval = min_interval
        self.clock = clock
        self.tasks: list[dict[str, Any]] = []
        self._version: int | None = None
        self._last = -1e9
        self._pending = False

    def poll(self, force: bool = False) -> bool:
        version = self.orch.data_version()
        if version != self._version:
            self._version = version
            self._pending = True
        if force or (self._pending and self.clock() - self._last >= self.min_interval):
            self.tasks = self.orch.list_tasks(limit=self.limit)
            self._last = self.clock()
            self._pending = False
            return True
        return False


@dataclass
class LogChunk:
    lines: list[tuple[str, str, str]]  # (ts, stream, text)
    skipped: int = 0  # bytes jumped over to stay near the end
    reset: bool = False  # the file was replaced or truncated


class LogTail:
    """Reads what was appended to a step log since the last call (bounded per call)."""

    def __init__(self, path: Path, *, initial: int = 128 * 1024, max_chunk: int = 256 * 1024):
        self.path = path
        self.initial = initial
        self.max_chunk = max_chunk
        self.offset: int | None = None
        self._partial = b""

    def read(self, max_bytes: int | None = None) -> LogChunk | None:
        """New complete lines; at most `max_bytes` (default `max_chunk`) of the newest."""
        limit = max_bytes or self.max_chunk
        try:
            size = os.stat(self.path).st_size
        except FileNotFoundError:
            return None
        chunk = LogChunk([])
        if self.offset is None:
            self.offset = max(0, size - self.initial)
            chunk.skipped = self.offset
            skip_to_line = self.offset > 0
        else:
            skip_to_line = False
            if size < self.offset:
                self.offset, self._partial, chunk.reset = 0, b"", True
            if size - self.offset > limit:
                chunk.skipped = size - limit - self.offset
                self.offset = size - limit
                self._partial = b""
                skip_to_line = True
        if size == self.offset:
            return chunk if chunk.skipped or chunk.reset else None
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read(size - self.offset)
        self.offset += len(data)
        if skip_to_line:
            nl = data.find(b"\n")
            data = data[nl + 1:] if nl >= 0 else b""
        data = self._partial + data
        *complete, self._partial = data.split(b"\n")
        chunk.lines = [parse_log_line(ln.decode("utf-8", "replace")) for ln in complete]
        return chunk
