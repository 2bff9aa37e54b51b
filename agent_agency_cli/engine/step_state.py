"""StepState: the runner's in-memory mirror of one step row, plus its scheduling bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anyio

from agent_agency_cli.executors.base import StepHandle
from agent_agency_cli.models import StepStatus
from agent_agency_cli.rows import StepSpec

S = StepStatus



@dataclass
class StepState:
    """In-memory mirror of one step row, plus the scheduling bookkeeping."""

    name: str
    idx: int
    status: StepStatus
    kind: str
    spec: StepSpec
    needs: list[str]
    timeout: float | None
    idempotent: bool
    attempt: int
    max_attempts: int
    overridden: bool
    dependents: list[str] = field(default_factory=list)
    waiting: int = 0
    handle: StepHandle | None = None
    started_at: float | None = None
    paused_at: float | None = None
    paused_total: float = 0.0
    changed: anyio.Event = field(default_factory=anyio.Event)
    stop_reason: str | None = None
    last_progress: float = 0.0
    decision: tuple[bool, str] | None = None
    deadline: float | None = None
    scope: Any = None
    worker: str | None = None
    signature: str | None = None
    ended_at: float | None = None
    pending_pid: int | None = None  # spawned, pid not yet written (see StepLifecycle._run_attempt)
    starting: bool = False  # begun, not yet at its first attempt (see GroupCommit.durable)

    @property
    def satisfied(self) -> bool:
        """Dependents may start: it completed, or a person skipped it on purpose."""
        return self.status is S.COMPLETED or (self.status is S.SKIPPED and self.overridden)

    def active_elapsed(self, now: float) -> float:
        if self.started_at is None:
            return 0.0
        paused = self.paused_total + ((now - self.paused_at) if self.paused_at else 0.0)
        return now - self.started_at - paused

    def poke(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()

