"""What every executor shares: the outcome type, the step log writer, the handle protocol."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from agent_agency_cli.executors.step_log import StepLog, log_timestamp

__all__ = ["StepHandle", "StepLog", "StepOutcome", "log_timestamp", "parse_log_line"]


@dataclass
class StepOutcome:
    """How one attempt ended. `reason` is None on success."""

    ok: bool
    exit_code: int | None = None
    reason: str | None = None
    result: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


class StepHandle(Protocol):
    """One running attempt. The runner drives it: run, pause/resume, stop."""

    pid: int | None

    async def run(self) -> StepOutcome: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    async def stop(self, grace: float) -> None: ...


def parse_log_line(line: str) -> tuple[str, str, str]:
    """(timestamp, stream, text) of one log line; tolerant of foreign lines."""
    ts, _, rest = line.partition(" ")
    stream, sep, text = rest.partition("| ")
    if not sep:
        return "", "", line.rstrip("\n")
    return ts, stream, text.rstrip("\n")
