"""A step's log file: one line per output line, `<UTC time> <stream>| <text>`, with a size
cap that keeps the head and the tail, and linear-time handling of output without newlines."""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent_agency_cli.paths import open_private

# A line longer than this is written in pieces of this size: output without newlines
# (100 MB of it) costs linear time and never more than one piece of memory.
MAX_LINE_CHARS = 64 * 1024


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

    With `max_bytes`, the file (all attempts of the step together) holds at most about
    that much: the first half is written as it comes; past it, only the latest half is
    kept (in memory, bounded) and written at close after one `sys` line saying how many
    lines and bytes were dropped from the middle.
    """

    def __init__(self, path: Path, mask: Callable[[str], str] | None = None, max_bytes: int | None = None):
        self.path = path
        # Applied to every output line: the task's masking (security.vault), as a per-stream
        # line masker where it has one (a private key printed over several lines).
        self.mask = mask
        self._masks: dict[str, Callable[[str], str]] = {}
        self.max_bytes = max_bytes or None
        self._fh: Any = None
        self._pending: list[tuple[float, str]] = []
        self._partial: dict[str, list[str]] = {}
        self._partial_len: dict[str, int] = {}
        self._written = 0  # characters in the file (all attempts)
        self._tail: deque[str] | None = None  # once the head is full: the latest lines
        self._tail_chars = 0
        self._dropped_lines = 0
        self._dropped_chars = 0

    def _open(self) -> Any:
        if self._fh is None:
            try:
                self._fh = open_private(self.path, "a")  # 0600, never through a symlink
            except FileNotFoundError:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = open_private(self.path, "a")
            self._written = os.fstat(self._fh.fileno()).st_size
            if self._pending:
                pending, self._pending = self._pending, []
                self._write([f"{log_timestamp(ts)} sys| {text}\n" for ts, text in pending])
        return self._fh

    def _write(self, lines: list[str]) -> None:
        """Append formatted lines, within the cap (head as it comes, then a bounded tail)."""
        fh = self._fh
        if self.max_bytes is None:
            fh.write("".join(lines))
            fh.flush()
            return
        head = self.max_bytes // 2
        i = 0
        if self._tail is None:
            out = []
            while i < len(lines) and self._written + len(lines[i]) <= head:
                out.append(lines[i])
                self._written += len(lines[i])
                i += 1
            if out:
                fh.write("".join(out))
                fh.flush()
            if i == len(lines):
                return
            self._tail = deque()
        tail = self._tail
        for ln in lines[i:]:
            tail.append(ln)
            self._tail_chars += len(ln)
        while self._tail_chars > head and len(tail) > 1:
            gone = tail.popleft()
            self._tail_chars -= len(gone)
            self._dropped_lines += 1
            self._dropped_chars += len(gone)

    def line(self, stream: str, text: str) -> None:
        if self.mask is not None:
            text = self._mask_for(stream)(text)
        if stream == "sys" and self._fh is None:
            self._pending.append((time.time(), text))  # formatted only if ever written
            return
        self._open()
        self._write([f"{log_timestamp()} {stream}| {text}\n"])

    def _mask_for(self, stream: str) -> Callable[[str], str]:
        mask = self._masks.get(stream)
        if mask is None:
            stream_mask = getattr(self.mask, "stream", None)
            mask = self._masks[stream] = stream_mask() if stream_mask is not None else self.mask  # type: ignore[assignment]
        return mask

    def feed(self, stream: str, chunk: str) -> None:
        """Append raw text; complete lines are written, a trailing fragment waits (up to
        MAX_LINE_CHARS: a longer line is written in pieces)."""
        parts = self._partial.setdefault(stream, [])
        if "\n" not in chunk:
            parts.append(chunk)
            self._partial_len[stream] = self._partial_len.get(stream, 0) + len(chunk)
            if self._partial_len[stream] >= MAX_LINE_CHARS:
                self._flush_partial(stream)
            return
        pieces = chunk.split("\n")
        first = "".join([*parts, pieces[0]])
        parts.clear()
        lines = [first, *pieces[1:-1]]
        rest = pieces[-1]
        ts = log_timestamp()
        if self.mask is not None:
            mask = self._mask_for(stream)
            lines = [mask(ln) for ln in lines]
        self._open()
        self._write([f"{ts} {stream}| {ln.rstrip(chr(13))}\n" for ln in lines])
        self._partial_len[stream] = len(rest)
        if rest:
            parts.append(rest)
            if len(rest) >= MAX_LINE_CHARS:
                self._flush_partial(stream)

    def _flush_partial(self, stream: str) -> None:
        text = "".join(self._partial.pop(stream, []))
        self._partial_len[stream] = 0
        if text:
            self.line(stream, text.rstrip("\r"))

    def close(self, keep: bool = True) -> None:
        """Flush fragments and the kept tail; with keep=False a step that printed nothing
        leaves no file."""
        for stream in list(self._partial):
            self._flush_partial(stream)
        self._partial.clear()
        if self._fh is None and keep and self._pending:
            self._open()
        if self._fh is not None:
            if self._tail is not None:
                if self._dropped_lines:
                    self._fh.write(
                        f"{log_timestamp()} sys| … {self._dropped_lines} line(s), "
                        f"{self._dropped_chars / 1048576:.1f} MiB dropped from the middle: the step log "
                        f"is capped at {self.max_bytes / 1048576:.1f} MiB "
                        "(task_execution.monitoring.step_log_max); the first and the last half follow …\n")
                self._fh.write("".join(self._tail))
                self._written += self._tail_chars
                self._tail = None
                self._tail_chars = self._dropped_lines = self._dropped_chars = 0
            self._fh.close()
            self._fh = None
        self._pending.clear()
