"""What every executor shares: the outcome type, the step log writer, the handle protocol."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from agent_agency_cli.paths import open_private


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


def log_timestamp(ts: float | None = None) -> str:
    dt = datetime.fromtimestamp(time.time() if ts is None else ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class StepLog:
    """A step's log file: one line per output line, `<UTC time> <stream>| <text>`.

    Streams: out (stdout), err (stderr), log (the step context logger), sys
    (the engine: command, exit, signals). Both pipes go to one file so the order
    a reader sees is the order lines arrived. The file is created lazily: the
    engine's own `sys` lines wait in memory until the step prints something or
    is closed with `keep=True` (it failed), so a silent successful step costs no
    file at all — its start, end and exit code are in the events anyway.
    """

    def __init__(self, path: Path, mask: Callable[[str], str] | None = None):
        self.path = path
        # Applied to every output line: the task's masking (security.vault), as a per-stream
        # line masker where it has one (a private key printed over several lines).
        self.mask = mask
        self._masks: dict[str, Callable[[str], str]] = {}
        self._fh: Any = None
        self._pending: list[tuple[float, str]] = []
        self._partial: dict[str, str] = {}

    def _open(self) -> Any:
        if self._fh is None:
            try:
                self._fh = open_private(self.path, "a")  # 0600, never through a symlink
            except FileNotFoundError:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = open_private(self.path, "a")
            if self._pending:
                self._fh.write("".join(f"{log_timestamp(ts)} sys| {text}\n" for ts, text in self._pending))
                self._pending.clear()
        return self._fh

    def line(self, stream: str, text: str) -> None:
        if self.mask is not None:
            text = self._mask_for(stream)(text)
        if stream == "sys" and self._fh is None:
            self._pending.append((time.time(), text))  # formatted only if ever written
            return
        fh = self._open()
        fh.write(f"{log_timestamp()} {stream}| {text}\n")
        fh.flush()

    def _mask_for(self, stream: str) -> Callable[[str], str]:
        mask = self._masks.get(stream)
        if mask is None:
            stream_mask = getattr(self.mask, "stream", None)
            mask = self._masks[stream] = stream_mask() if stream_mask is not None else self.mask  # type: ignore[assignment]
        return mask

    def feed(self, stream: str, chunk: str) -> None:
        """Append raw text; complete lines are written, a trailing fragment waits."""
        data = self._partial.pop(stream, "") + chunk
        *lines, rest = data.split("\n")
        if lines:
            ts = log_timestamp()
            if self.mask is not None:
                mask = self._mask_for(stream)
                lines = [mask(ln) for ln in lines]
            fh = self._open()
            fh.write("".join(f"{ts} {stream}| {ln.rstrip(chr(13))}\n" for ln in lines))
            fh.flush()
        if rest:
            self._partial[stream] = rest

    def close(self, keep: bool = True) -> None:
        """Flush fragments; with keep=False a step that printed nothing leaves no file."""
        for stream, rest in list(self._partial.items()):
            self.line(stream, rest.rstrip("\r"))
        self._partial.clear()
        if self._fh is None and keep and self._pending:
            self._open()
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self._pending.clear()


def parse_log_line(line: str) -> tuple[str, str, str]:
    """(timestamp, stream, text) of one log line; tolerant of foreign lines."""
    ts, _, rest = line.partition(" ")
    stream, sep, text = rest.partition("| ")
    if not sep:
        return "", "", line.rstrip("\n")
    return ts, stream, text.rstrip("\n")
